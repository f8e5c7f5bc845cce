"""Inference cost of every base in the config: ms per image at batch 1, img/s at batch 32,
model.keras size and parameter count, written to bench/results/inference.json for the report.
Models are built as training builds them (random weights: the cost is the same as ImageNet's).

Usage: python bench/bench_inference.py [--size 224] [--models vgg16 resnet50v2 mobilenetv2] [--repeats 10]
"""

import argparse
import tempfile
from pathlib import Path

import keras
import numpy as np
import yaml
from common import REPO, Run, Stopwatch, print_table

from mribench.model import build_model, save_model


def main():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=config["image_size"])
    parser.add_argument("--models", nargs="+", default=config["models"])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batches", type=int, default=3)
    args = parser.parse_args()
    classes = config["dataset"]["classes"]
    run = Run("inference")
    results = []
    for name in args.models:
        keras.utils.set_random_seed(0)
        built = build_model(name, len(classes), args.size, None)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model.keras"
            save_model(built, path, {"model": name})
            size_bytes = path.stat().st_size
            model = keras.models.load_model(path, safe_mode=True)
        one = np.random.default_rng(0).uniform(0, 255, (1, args.size, args.size, 3)).astype("float32")
        batch = np.repeat(one, 32, axis=0)
        model.predict_on_batch(one)  # trace
        with Stopwatch() as single:
            for _ in range(args.repeats):
                model.predict_on_batch(one)
        model.predict_on_batch(batch)
        with Stopwatch() as batched:
            for _ in range(args.batches):
                model.predict_on_batch(batch)
        results.append(
            {
                "model": name,
                "ms/image (batch 1)": 1000 * single.seconds / args.repeats,
                "img/s (batch 32)": 32 * args.batches / batched.seconds,
                "model.keras MB": size_bytes / 1e6,
                "params": model.count_params(),
            }
        )
        print_table(results[-1:])
    print(
        f"{args.size} px, float32, predict_on_batch, {args.repeats} single images, "
        f"{args.batches} batches of 32"
    )
    print_table(results)
    run.save(results, vars(args))


if __name__ == "__main__":
    main()
