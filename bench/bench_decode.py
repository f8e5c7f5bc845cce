"""Decode time per image of images.load_image against the decode it replaced (convert to RGB, then
resize), in alternating rounds over the real sample's JPEGs, at --size px; checks the pixels agree.

Usage: PYTHONPATH=src python bench/bench_decode.py [--size 224] [--rounds 15]
"""

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from mribench import images

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "brain-tumor-mri-sample"


def previous_load_image(path, image_size):
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sample", type=Path, default=SAMPLE)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    paths = sorted(args.sample.rglob("*.jpg"))
    for path in paths:
        assert np.array_equal(images.load_image(path, args.size), previous_load_image(path, args.size)), path
    times = {"previous": [], "load_image": []}
    for _ in range(args.rounds):
        for name, decode in (("previous", previous_load_image), ("load_image", images.load_image)):
            started = time.perf_counter()
            for path in paths:
                decode(path, args.size)
            times[name].append((time.perf_counter() - started) / len(paths) * 1e3)
    print(f"{len(paths)} JPEGs, identical pixels")
    for name, values in times.items():
        print(f"{name}: median {np.median(values):.2f} ms/image, best {min(values):.2f}")


if __name__ == "__main__":
    main()
