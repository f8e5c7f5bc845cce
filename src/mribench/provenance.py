"""How the numbers were made: code version, hardware, data checksum and per-job cost."""

import hashlib
import os
import platform
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd


def git_commit(directory):
    """The commit of the workflow's checkout, with "+ local changes" when it is dirty; None outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + (" + local changes" if dirty else "")


def cpu_model():
    """The CPU's marketing name where the OS tells it (Linux /proc/cpuinfo), else platform's guess."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def hardware(gpus):
    """The machine a job runs on: node, CPU, the `gpus` its work ran on, and the SLURM job and visible
    GPUs, so a cluster run can be traced back to its job. The job names its GPUs (a Keras job those its
    backend sees, `backend.gpus()`; a scikit-learn baseline none): one that runs no model would import
    TensorFlow or JAX only to ask (~3 s of CPU per baseline job, bench/README.md "Job start-up")."""
    return {
        "host": platform.node(),
        "cpu": cpu_model(),
        "gpus": list(gpus),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }


def dataset_checksum(split_csv):
    """sha256 over the sorted per-image sha256 values of split.csv: names the exact set of images used."""
    digests = sorted(pd.read_csv(split_csv).sha256)
    return hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


def job_costs(benchmark_dir):
    """Wall time and peak memory of every finished job, from Snakemake's benchmark: files."""
    rows = []
    for tsv in sorted(Path(benchmark_dir).glob("*/*.tsv")):
        # The last line is the latest run; "NA" or "-" where Snakemake could not measure.
        measured = pd.read_csv(tsv, sep="\t").iloc[-1].apply(pd.to_numeric, errors="coerce")
        ended = datetime.fromtimestamp(tsv.stat().st_mtime, timezone.utc)
        rows.append(
            {
                "rule": tsv.parent.name,
                "job": tsv.stem,
                "seconds": measured["s"],
                "max_rss_mb": measured["max_rss"],
                "cpu_seconds": measured["cpu_time"],
                "started": ended - timedelta(seconds=measured["s"]),
                "ended": ended,
            }
        )
    return pd.DataFrame(
        rows, columns=["rule", "job", "seconds", "max_rss_mb", "cpu_seconds", "started", "ended"]
    )


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
