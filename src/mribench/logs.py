"""Send a job's output, including TensorFlow's C++ messages, to its Snakemake log."""

import os
import sys


def send_output_to(log_path):
    """Point file descriptors 1 and 2 at `log_path` for the rest of the process; returns a stream to
    the former stderr (Snakemake's console), for the few lines a user must see without the log."""
    log = open(log_path, "a", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    console = os.fdopen(os.dup(2), "w", buffering=1)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = sys.stderr = log
    return console
