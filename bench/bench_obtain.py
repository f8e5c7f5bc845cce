"""Time obtaining a local folder (`source: path`): copying 7,023 small JPEGs the size of Kaggle's
(the real sample's 68 files repeated, about 23 KB each), against auditing the same copy.

Usage: PYTHONPATH=src python bench/bench_obtain.py [--data results/bench/obtain] [--threads 2]
"""

import argparse
import shutil
import time
from pathlib import Path

from mribench.audit import audit_dataset
from mribench.sources import obtain_dataset

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri-sample"
KAGGLE_FILES = 7023
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def make_source(folder, sample):
    files = sorted(sample.rglob("*.jpg"))
    for i in range(KAGGLE_FILES):
        relative = files[i % len(files)].relative_to(sample)
        dest = folder / relative.parent / f"{i:05d}-{relative.name}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(files[i % len(files)], dest)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("results/bench/obtain"))
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    source = args.data / "source"
    if not source.is_dir():
        make_source(source, args.sample)
    files = list(source.rglob("*.jpg"))
    print(f"{len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB")
    dest = args.data / "results" / "dataset"
    for _ in range(3):
        shutil.rmtree(dest, ignore_errors=True)
        started = time.perf_counter()
        obtain_dataset(dest, {"source": "path", "path": str(source)})
        print(f"obtain_dataset (copy): {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    audit_dataset(dest, CLASSES, "error", near_distance=4, threads=args.threads)
    print(f"audit of the copy ({args.threads} threads): {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
