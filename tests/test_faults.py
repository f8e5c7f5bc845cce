"""Faults a cluster job meets: killed training jobs resume, a second snakemake is refused, two
fresh runs of the same config give bit-identical results, and bad data, wrong model files and a full
disk are refused with a message naming the file."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import psutil
import pytest
from conftest import SNAKEMAKE_ENV, TINY, read_json, run_snakemake, snakemake_command, write_yaml
from PIL import Image

from mribench.audit import AuditError, audit_dataset
from mribench.evaluation import evaluate_target
from mribench.model import build_model, save_model
from mribench.model_file import ModelMetadataError
from mribench.sources import DatasetError, obtain_dataset
from mribench.split import split_dataset
from mribench.targets import Target

# Epochs long enough to kill a job between two of them; patiences short enough that EarlyStopping
# and ReduceLROnPlateau act during the run, so their restored state matters.
RESUMABLE = {
    "models": ["mobilenetv2"],
    "strategies": ["fine_tuning"],
    "dataset": {"demo": {"train_per_class": 24, "test_per_class": 4, "image_size": 48, "seed": 0}},
    "training": {
        "early_stopping_patience": 2,
        "reduce_lr_patience": 1,
        "feature_extraction": {"epochs": 4, "learning_rate": 1.0e-3},
        "fine_tuning": {"epochs": 3, "learning_rate": 3.0e-4},
    },
}
RUNS = "results/runs/{}_{}/seed42"
COMPARED = [
    "results/data/split.csv",
    f"{RUNS.format('mobilenetv2', 'fine_tuning')}/history.csv",
    f"{RUNS.format('mobilenetv2', 'fine_tuning')}/metrics.json",
    f"{RUNS.format('mobilenetv2', 'fine_tuning')}/predictions.csv",
]
# The runs stop at what is compared: the data, both trainings and the fine-tuned target's evaluation
# (6 jobs); the external set, the baselines, Grad-CAM, statistics and the report (the other ~12
# jobs of the tiny profile, each a process importing TensorFlow or JAX) prove nothing here.
TARGET = f"{RUNS.format('mobilenetv2', 'fine_tuning')}/metrics.json"


def finished_epochs(backup_dir):
    try:
        return json.loads((backup_dir / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def interrupt_after_first_epoch(workdir, configfiles, strategy, how):
    """Start the workflow, wait until the training job of `strategy` has backed up an epoch, then
    SIGKILL that training process ("kill") or SIGTERM every process of the run, as SLURM does at
    a time limit ("time_limit"). The run is frozen in between, so it cannot move on meanwhile."""
    backup_dir = workdir / RUNS.format("mobilenetv2", strategy) / "_resume"
    with start_snakemake(workdir, configfiles) as workflow:
        wait_for(lambda: finished_epochs(backup_dir) >= 1, workflow, f"a backed-up epoch of {strategy}")
        with frozen(workflow):
            if how == "kill":
                trainers = [
                    p
                    for p in psutil.Process(workflow.pid).children(recursive=True)
                    if any(part.endswith("train.py") for part in p.cmdline())
                ]
                assert len(trainers) == 1, trainers
                trainers[0].send_signal(signal.SIGKILL)
            else:
                os.killpg(workflow.pid, signal.SIGTERM)  # delivered when the run continues
        assert workflow.wait(timeout=120) != 0
    assert finished_epochs(backup_dir) >= 1, "the backup did not survive the failed job"


def wait_for(condition, workflow, what):
    deadline = time.monotonic() + 600
    while not condition():
        assert workflow.poll() is None, f"the workflow ended before {what}"
        assert time.monotonic() < deadline, f"no {what} after 10 minutes"
        time.sleep(0.05)


@contextlib.contextmanager
def frozen(workflow):
    """Stop every process of a run started by start_snakemake (its own process group), continue it after."""
    os.killpg(workflow.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(workflow.pid, signal.SIGCONT)


def start_snakemake(workdir, configfiles):
    command = snakemake_command(workdir, TARGET, configfiles=configfiles)
    return subprocess.Popen(
        command,
        env=SNAKEMAKE_ENV,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# TensorFlow only: what a kill leaves and Snakemake's restart are the backends' same code; restoring a
# backup on JAX is test_resume.py's (marked `backends`), without the ~8 minutes this costs on JAX.
@pytest.mark.slow
def test_killed_training_resumes_and_matches_an_uninterrupted_run(tmp_path):
    resumable = write_yaml(tmp_path / "resumable.yaml", RESUMABLE)
    configfiles = (TINY, resumable)
    uninterrupted, interrupted = tmp_path / "uninterrupted", tmp_path / "interrupted"
    uninterrupted.mkdir()
    interrupted.mkdir()

    with start_snakemake(uninterrupted, configfiles) as workflow:
        wait_for(lambda: any((uninterrupted / ".snakemake" / "locks").glob("*")), workflow, "its lock")
        # Frozen, the first run holds its lock however long the second takes to start (~10 s each
        # where SLURM's scontrol is installed but no controller answers). It may be frozen with a
        # job's outputs written but not yet recorded as complete, which a second snakemake refuses
        # as "Incomplete files" before it even tries the lock: --rerun-incomplete gets it there.
        with frozen(workflow):
            second = run_snakemake(
                uninterrupted, TARGET, "--rerun-incomplete", configfiles=configfiles, check=False
            )
            assert workflow.poll() is None, "the first workflow must still hold the lock"
        assert workflow.wait() == 0
    assert second.returncode != 0
    assert "cannot be locked" in second.stderr and "--unlock" in second.stderr

    interrupt_after_first_epoch(interrupted, configfiles, "feature_extraction", "kill")
    interrupt_after_first_epoch(interrupted, configfiles, "fine_tuning", "time_limit")
    run_snakemake(interrupted, TARGET, configfiles=configfiles)

    for strategy in ("feature_extraction", "fine_tuning"):
        log = (interrupted / f"logs/train/mobilenetv2_{strategy}_seed42.log").read_text()
        assert "Resuming from the backup" in log, strategy
        assert not (interrupted / RUNS.format("mobilenetv2", strategy) / "_resume").exists()
    stages = read_json(interrupted / RUNS.format("mobilenetv2", "fine_tuning") / "train.json")["stages"]
    assert [s["resumed_from_epoch"] >= 1 for s in stages] == [True, True]
    # Two fresh runs of one config, one of them killed twice, agree to the last bit.
    for name in COMPARED:
        assert (interrupted / name).read_bytes() == (uninterrupted / name).read_bytes(), name


# --- Bad data, wrong models, full disks: each refused with a message naming the file. ---


def image_folder(root, layout):
    """Write tiny PNGs: layout is {"Training": {class: n_images}, "Testing": {...}}."""
    for split_name, classes in layout.items():
        for label, n_images in classes.items():
            folder = root / split_name / label
            folder.mkdir(parents=True)
            for i in range(n_images):
                Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)).save(folder / f"{i}.png")
    return root


def test_dataset_without_testing_folder_is_refused(tmp_path):
    source = image_folder(tmp_path / "download", {"Training": {"a": 2, "b": 2}})
    dest = tmp_path / "results" / "dataset"
    with pytest.raises(
        DatasetError, match="not in the Kaggle layout: expected Training/<class>/ and Testing"
    ):
        obtain_dataset(dest, {"source": "path", "path": str(source)})
    assert list(dest.parent.iterdir()) == []


@pytest.mark.parametrize(
    "testing, message",
    [
        ({"a": 2}, r"class folder .*Testing/b is missing"),
        ({"a": 2, "b": 2, "c": 2}, r"Testing/c/0.png: unknown class folder \('c' is not in dataset.classes"),
    ],
)
def test_class_sets_that_differ_are_refused(tmp_path, testing, message):
    root = image_folder(tmp_path / "dataset", {"Training": {"a": 4, "b": 4}, "Testing": testing})
    with pytest.raises(AuditError, match=message):
        audit_dataset(root, ["a", "b"], on_invalid="error", near_distance=4)


def test_class_too_small_for_a_stratified_split_is_refused(tmp_path):
    root = image_folder(tmp_path / "dataset", {"Training": {"a": 6}, "Testing": {"a": 1, "b": 1}})
    (root / "Training" / "b").mkdir()
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(root / "Training" / "b" / "0.png")  # unlike any a
    files, _ = audit_dataset(root, ["a", "b"], on_invalid="error", near_distance=4)
    with pytest.raises(DatasetError, match=r"Training classes \{'b': 1\} have too few distinct images"):
        split_dataset(files[files.status == "ok"], 0.2, seed=0)


def test_interrupted_extraction_leaves_no_dataset(tmp_path):
    source = image_folder(tmp_path / "download", {"Training": {"a": 2}, "Testing": {"a": 2}})
    archive = tmp_path / "dataset.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(source.rglob("*.png")):
            zf.write(path, path.relative_to(source).as_posix())
    data = bytearray(archive.read_bytes())
    data[200:240] = bytes(40)  # damage the compressed bytes of an entry: extraction fails midway
    archive.write_bytes(bytes(data))
    results = tmp_path / "results"
    killed_attempt = results / ".dataset.partial-killed" / "dataset" / "Training"
    killed_attempt.mkdir(parents=True)  # what a SIGKILLed earlier attempt leaves

    with pytest.raises(zipfile.BadZipFile):
        obtain_dataset(results / "dataset", {"source": "path", "path": str(archive)})
    assert list(results.iterdir()) == []

    obtain_dataset(results / "dataset", {"source": "path", "path": str(source)})
    assert [p.name for p in results.iterdir()] == ["dataset"]
    assert len(list((results / "dataset").rglob("*.png"))) == 4


@pytest.fixture(scope="module")
def small_model():
    return build_model("mobilenetv2", n_classes=2, image_size=32, weights=None, dense_units=8)


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_file_of_another_architecture_is_refused(tmp_path, small_model):
    weights = tmp_path / "mobilenetv2_notop.weights.h5"
    small_model.get_layer("base").save_weights(weights)
    with pytest.raises(ValueError, match=f"weights file {weights} does not fit model vgg16"):
        build_model("vgg16", n_classes=2, image_size=32, weights=str(weights))


@pytest.mark.backends
def test_evaluation_refuses_a_model_from_another_run(tmp_path, small_model):
    run = tmp_path / "runs" / "vgg16_feature_extraction" / "seed42"
    run.mkdir(parents=True)
    metadata = {"model": "mobilenetv2", "strategy": "feature_extraction", "seed": 42, "classes": ["a", "b"]}
    save_model(small_model, run / "model.keras", metadata)
    with zipfile.ZipFile(run / "model.keras") as archive:
        assert "Lambda" not in archive.read("config.json").decode()
    outputs = {
        f"out_{name}": run / f"{name}.out" for name in ("metrics", "predictions", "confusion", "curves")
    }
    with pytest.raises(
        ModelMetadataError,
        match=r"model.keras does not belong here: model is 'mobilenetv2', expected 'vgg16'",
    ):
        evaluate_target(
            Target("vgg16", "feature_extraction", 42),
            run / "model.keras",
            history_csv=None,
            split_csv=None,
            dataset_dir=None,
            classes=["a", "b"],
            batch_size=8,
            threads=1,
            **outputs,
        )
    assert not any(path.exists() for path in outputs.values())


FULL_DISK = """
import resource, signal, sys
from mribench.model import build_model, save_model
model = build_model("mobilenetv2", n_classes=2, image_size=32, weights=None, dense_units=8)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG, like ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))
save_model(model, sys.argv[1], {"model": "mobilenetv2"})
"""


def test_full_disk_while_saving_leaves_no_model(tmp_path):
    """The model (about 10 MB) cannot be written past a 1 MB file-size limit: saving fails and
    neither model.keras nor a partial file remains."""
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path / "model.keras")], capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "File too large" in result.stderr
    assert list(tmp_path.iterdir()) == []
