"""One GPU per training job on a multi-GPU workstation.

`snakemake --resources gpu=N` lets N training jobs run at once but does not say which GPU each may
use, so without this every job would start on GPU 0. Each job instead takes the first free GPU by
locking a file per device and hides the others from TensorFlow with CUDA_VISIBLE_DEVICES. The lock
is held until the process exits (also when it is killed), so a crashed job never leaves a GPU taken.
Under SLURM the allocation has already set CUDA_VISIBLE_DEVICES, which is then left alone.
"""

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

_held_locks = []  # open lock files: closing one releases its GPU


def use_own_gpu(lock_dir=None, n_gpus=None, wait_seconds=600):
    """Set CUDA_VISIBLE_DEVICES to a GPU no other mribench job holds; call before importing TensorFlow.

    Returns the GPU index taken, or None when the devices are already chosen (SLURM, the user) or
    there is at most one GPU.
    """
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        print(f"GPUs chosen by the environment: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}")
        return None
    n_gpus = count_gpus() if n_gpus is None else n_gpus
    if n_gpus <= 1:
        return None
    lock_dir = Path(lock_dir or Path(tempfile.gettempdir()) / f"mribench-gpus-{os.getuid()}")
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        for index in range(n_gpus):
            lock = open(lock_dir / f"gpu{index}.lock", "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            _held_locks.append(lock)
            os.environ["CUDA_VISIBLE_DEVICES"] = str(index)
            print(f"Using GPU {index} of {n_gpus} (lock {lock.name})")
            return index
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"all {n_gpus} GPUs stayed taken by other jobs for {wait_seconds} s (locks in {lock_dir}); "
                f"run with --resources gpu=N where N is at most the number of GPUs"
            )
        time.sleep(1)


def count_gpus():
    """NVIDIA GPUs on this machine, from nvidia-smi (0 without it)."""
    if shutil.which("nvidia-smi") is None:
        return 0
    listing = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in listing.stdout.splitlines())
