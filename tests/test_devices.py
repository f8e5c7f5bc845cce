"""The GPU slot allocator, with real processes holding real locks."""

import os
import subprocess
import sys
import time

from mribench.devices import use_own_gpu

CLAIM = """
import sys
from mribench.devices import use_own_gpu
index = use_own_gpu(lock_dir=sys.argv[1], n_gpus=2, wait_seconds=60)
import os
print("claimed", index, os.environ["CUDA_VISIBLE_DEVICES"], flush=True)
sys.stdin.read()  # hold the GPU until the test closes stdin
"""


def start_job(lock_dir):
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    return subprocess.Popen(
        [sys.executable, "-c", CLAIM, str(lock_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def claimed(job):
    """The GPU a job took (it first logs which one)."""
    for line in job.stdout:
        if line.startswith("claimed"):
            _, index, visible = line.split()
            assert index == visible
            return int(index)
    raise AssertionError("the job exited without taking a GPU")


def test_concurrent_jobs_get_their_own_gpu_and_a_freed_one_is_reused(tmp_path):
    first, second = start_job(tmp_path), start_job(tmp_path)
    third = None
    try:
        first_gpu, second_gpu = claimed(first), claimed(second)
        assert {first_gpu, second_gpu} == {0, 1}
        third = start_job(tmp_path)
        time.sleep(2)
        assert third.poll() is None  # both GPUs taken: it waits
        first.stdin.close()
        first.wait(timeout=30)
        assert claimed(third) == first_gpu
    finally:
        for job in (first, second, third):
            if job is not None and job.poll() is None:
                job.stdin.close()
                job.wait(timeout=30)


def test_a_killed_job_releases_its_gpu(tmp_path):
    holder = start_job(tmp_path)
    other = start_job(tmp_path)
    try:
        taken = claimed(holder)
        claimed(other)
        holder.kill()
        holder.wait(timeout=30)
        successor = start_job(tmp_path)
        assert claimed(successor) == taken
        successor.stdin.close()
        successor.wait(timeout=30)
    finally:
        for job in (holder, other):
            if job.poll() is None:
                job.stdin.close()
                job.wait(timeout=30)


def test_devices_chosen_by_slurm_are_left_alone(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert use_own_gpu(lock_dir=tmp_path, n_gpus=8) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"
    assert list(tmp_path.iterdir()) == []


def test_one_gpu_needs_no_lock(tmp_path, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert use_own_gpu(lock_dir=tmp_path, n_gpus=1) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
