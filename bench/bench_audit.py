"""Time the data audit on a generated dataset the size of the Kaggle one (7,023 images).

The dataset is phantoms.generate_dataset at 512 px (about 1 in 6 resized to a non-square size near
512, about 1 in 4 stored as RGB, the rest grayscale JPEGs), Kaggle's 5,712 Training and 1,311 Testing
images; it is generated once into --data and reused. Usage:

    PYTHONPATH=src python bench/bench_audit.py --threads 2
"""

import argparse
import json
import os
import platform
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from mribench.audit import audit_dataset
from mribench.phantoms import KNOWN_CLASSES, generate_dataset

TRAIN_PER_CLASS, TEST_PER_CLASS, TEST_TOTAL = 1428, 328, 1311


def generate_class(dest, class_index):
    label = KNOWN_CLASSES[class_index]
    generate_dataset(dest, [label], TRAIN_PER_CLASS, TEST_PER_CLASS, image_size=512, seed=class_index)


def make_dataset(dest, threads):
    """Write the dataset unless it is already complete."""
    if dest.is_dir() and len(list(dest.rglob("*.jpg"))) == 4 * TRAIN_PER_CLASS + TEST_TOTAL:
        return
    with ProcessPoolExecutor(max_workers=threads) as pool:
        list(pool.map(generate_class, [dest] * len(KNOWN_CLASSES), range(len(KNOWN_CLASSES))))
    extra = 4 * TEST_PER_CLASS - TEST_TOTAL  # 4 x 328 is one more than Kaggle's 1,311
    for path in sorted((dest / "Testing" / KNOWN_CLASSES[-1]).glob("*.jpg"))[-extra:]:
        path.unlink()


def cpu_seconds():
    """User + system CPU time of this process and of its finished worker processes."""
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("results/bench/audit-dataset"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    make_dataset(args.data, args.threads)
    load_before = os.getloadavg()
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    files, summary = audit_dataset(args.data, list(KNOWN_CLASSES), "error", 4, threads=args.threads)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    result = {
        "images": summary["files"]["valid"],
        "megabytes": round(int(files.bytes.sum()) / 1e6, 1),
        "threads": args.threads,
        "seconds": round(seconds, 1),
        "images_per_second": round(summary["files"]["valid"] / seconds, 1),
        "cpu_seconds": round(cpu, 1),  # this process and its workers: the time on idle cores x threads
        "idle_estimate_seconds": round(cpu / min(args.threads, os.cpu_count()), 1),
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "near_duplicate_groups_among_distinct_phantoms": summary["duplicates"]["near"],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
