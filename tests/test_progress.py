"""Training progress on the console (one line per epoch per job) and job logs without TensorFlow's
start-up chatter."""

import os
import subprocess
import sys

import pytest
from conftest import CONSOLE, REPO, tiny_run_trainings

from mribench.logs import CHATTER, VERBOSE
from mribench.progress import epoch_line, format_seconds
from mribench.training import progress_label


def test_an_epoch_line_names_the_target_its_accuracy_and_the_time_left():
    line = epoch_line("train vgg16 fine_tuning seed42", 3, 10, {"val_accuracy": 0.8125, "loss": 1.0}, [4, 5])
    assert (
        line
        == "train vgg16 fine_tuning seed42: epoch 3/10, val_accuracy 0.8125, 4.5 s/epoch, at most 32 s left"
    )
    assert (
        epoch_line("t", 2, 2, {"val_loss": 0.5}, [2.0, 2.0])
        == "t: epoch 2/2, val_loss 0.5000, 2.0 s/epoch, last epoch"
    )
    assert [format_seconds(s) for s in (42.4, 185, 7620)] == ["42 s", "3 min 05 s", "2 h 07 min"]


@pytest.mark.backends
def test_the_console_shows_every_training_epoch_and_the_logs_keep_the_detail(tiny_run):
    console = (tiny_run / CONSOLE).read_text().splitlines()
    epoch_lines = [line for line in console if line.startswith("train ") and ": epoch " in line]
    trainings = sorted((tiny_run / "logs" / "train").glob("*.log"))
    trained = tiny_run_trainings()  # the JAX pass's tiny run trains one base; tuning points train too
    assert len(trainings) == len(trained)
    # the tiny profile trains one epoch per stage: one line per training job, no more
    assert len(epoch_lines) == len(trainings), epoch_lines
    for target in trained:
        (line,) = [line for line in epoch_lines if line.startswith(f"{progress_label(target)}:")]
        assert ": epoch 1/1, val_accuracy 0." in line and line.endswith("s/epoch, last epoch")
    for log in trainings:
        assert " - val_accuracy: " in log.read_text()  # Keras' own per-epoch line stays in the log


def test_every_job_log_is_free_of_tensorflow_start_up_chatter(tiny_run):
    logs = sorted((tiny_run / "logs").rglob("*.log"))
    assert len(logs) > 20
    for log in logs:
        text = log.read_text()
        assert not [part for part in CHATTER if part in text], f"{log} has TensorFlow's start-up chatter"


def job_start(log, env):
    """A job's start-up (send_output_to, then TensorFlow), a line from native code, a progress line
    on the console, and a failure; returns what reached the console."""
    code = f"""
import os
from mribench.logs import console, send_output_to
send_output_to({str(log)!r})
import tensorflow as tf
tf.constant(1.0) + 1
os.write(2, b"a line from native code\\n")
print("progress line", file=console())
raise RuntimeError("the job failed")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
        env={k: v for k, v in os.environ.items() if k not in (VERBOSE, "TF_CPP_MIN_LOG_LEVEL")} | env,
    )  # fmt: skip
    assert result.returncode == 1
    return result.stderr


def test_start_up_chatter_stays_out_of_a_log_unless_verbose(tmp_path):
    quiet, verbose = tmp_path / "quiet.log", tmp_path / "verbose.log"
    assert job_start(quiet, {}) == "progress line\n"
    assert job_start(verbose, {VERBOSE: "1"}) == "progress line\n"
    for log in (quiet, verbose):
        text = log.read_text()
        assert "a line from native code" in text and "RuntimeError: the job failed" in text
    assert not [part for part in CHATTER if part in quiet.read_text()]
    # which lines TensorFlow prints depends on the CPU (oneDNN's notice only where it enables oneDNN,
    # e.g. with AVX-512 VNNI; cpu_feature_guard's where the build lacks some of its instructions)
    assert [part for part in CHATTER if part in verbose.read_text()], "the verbose log lost the chatter"
