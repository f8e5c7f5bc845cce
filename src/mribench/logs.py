"""Send a job's output, including TensorFlow's C++ messages, to its Snakemake log, without the
start-up chatter of TensorFlow's native libraries; keep the console for progress lines."""

import atexit
import os
import subprocess
import sys

# Set to 1 to keep TensorFlow's start-up notices (absl, oneDNN, cpu_feature_guard, INFO lines) in
# the job logs. Not a config key: it changes no result, so it must not re-run any job.
VERBOSE = "MRIBENCH_VERBOSE"

# Lines TensorFlow's native libraries print at start-up on every run, whatever the job does. Some
# come before absl's logging starts, so TF_CPP_MIN_LOG_LEVEL cannot hide them.
CHATTER = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions:",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
)

# The filter runs in a process of its own, so it drains the pipe even when the job dies (a crash
# of native code included): the log loses nothing the job wrote.
FILTER = """
import sys
chatter = sys.argv[1:]
for line in sys.stdin.buffer:
    if not any(part.encode() in line for part in chatter):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""

_console_fd = None
_console = None


def send_output_to(log_path):
    """Point file descriptors 1 and 2 at `log_path` for the rest of the process; native start-up
    chatter is left out unless MRIBENCH_VERBOSE=1. What was stderr stays reachable as `console()`."""
    global _console_fd
    log = open(log_path, "a", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    if _console_fd is None:
        _console_fd = os.dup(2)
    if os.environ.get(VERBOSE) == "1":
        native = log.fileno()
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TensorFlow's INFO lines; warnings stay
        native = chatter_filter(log)
    os.dup2(native, 1)
    os.dup2(native, 2)
    sys.stdout = sys.stderr = log


def chatter_filter(log):
    """The write end of a pipe whose lines reach `log` without CHATTER."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        [sys.executable, "-c", FILTER, *CHATTER], stdin=read_end, stdout=log, stderr=log, close_fds=True
    )
    os.close(read_end)
    atexit.register(drain_filter, process, write_end, log)
    return write_end


def drain_filter(process, write_end, log):
    """At exit (after Python wrote any traceback): close the pipe, so the filter reads to its end,
    and wait until it wrote the last lines; what is written later goes to the log directly."""
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.close(write_end)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # a child process of the job still holds the pipe open
        pass


def console():
    """The stream that was stderr before send_output_to (the terminal Snakemake runs in, or a
    cluster job's output file); stderr itself where the output was not redirected."""
    global _console
    if _console_fd is None:
        return sys.stderr
    if _console is None:
        _console = open(_console_fd, "w", buffering=1, closefd=False)
    return _console
