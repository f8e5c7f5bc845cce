"""What every benchmark shares: generated images, the machine's description, result files."""

import argparse
import json
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from mribench.phantoms import generate_dataset

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def bench_images(per_class, size=512):
    """Phantom JPEGs like the Kaggle set's: `size` px with about 1 in 6 non-square, 3 in 4 grayscale.

    Returns the Training folder and its (relative path, label) rows; generated once per size and count.
    """
    root = BENCH / "data" / f"phantoms-{per_class}x{size}"
    if not (root / "Training").is_dir():
        generate_dataset(root, CLASSES, per_class, 1, image_size=size, seed=0)
    training = root / "Training"
    rows = [
        (f"{label}/{p.name}", label) for label in CLASSES for p in sorted((training / label).glob("*.jpg"))
    ]
    return training, rows


def image_benchmark(size, epochs):
    """The image benchmarks' arguments, config.yaml's augmentation and the generated images."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--size", type=int, default=size)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=epochs)
    args = parser.parse_args()
    augmentation = yaml.safe_load((REPO / "config.yaml").read_text())["augmentation"]
    root, rows = bench_images(args.per_class)
    return args, augmentation, root, rows


def load_average():
    return Path("/proc/loadavg").read_text().split()[:3]


def machine():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    import keras
    import tensorflow as tf

    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


class Run:
    """Records date, machine, command and the load average before and after one benchmark."""

    def __init__(self, name):
        self.name = name
        self.record = {
            "benchmark": name,
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "command": shlex.join(["python", *sys.argv]),
            "load_before": load_average(),
        }

    def save(self, results, settings):
        self.record |= {"load_after": load_average(), "machine": machine(), "settings": settings}
        self.record["results"] = results
        path = BENCH / "results" / f"{self.name}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps(self.record, indent=2) + "\n")
        print(f"load average before {self.record['load_before']}, after {self.record['load_after']}")
        print(f"wrote {path.relative_to(REPO)}")


def print_table(rows):
    """rows: list of dicts with the same keys."""
    columns = list(rows[0])
    cells = [[format_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))


def format_cell(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class Stopwatch:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
