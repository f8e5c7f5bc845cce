"""Training throughput per Keras backend on this machine, so the README can say which to pick where:
img/s of `fit` on in-memory tensors (no augmentation), random weights, after one untimed epoch
(which compiles the step), for a frozen MobileNetV2 base, a fully trainable MobileNetV2 and a frozen
ResNet50V2. Each backend runs in its own process (Keras picks its backend once per process).

Usage: python bench/bench_backends.py [--size 224] [--batch 32] [--images 320] [--epochs 2]
"""

import argparse
import json
import os
import subprocess
import sys

from common import REPO, Run, print_table

CASES = [("mobilenetv2", "frozen"), ("mobilenetv2", "trainable"), ("resnet50v2", "frozen")]
BACKENDS = ["tensorflow", "jax"]

ONE_BACKEND = """
import json, sys, time
import keras, numpy as np
from mribench.model import build_model
size, batch, n, epochs, name, mode = json.loads(sys.argv[1])
keras.utils.set_random_seed(0)
model = build_model(name, 4, size, None)
model.get_layer("base").trainable = mode == "trainable"
model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy")
x = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
y = np.eye(4, dtype="float32")[np.arange(n) % 4]
model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compiles the step
started = time.perf_counter()
model.fit(x, y, batch_size=batch, epochs=epochs, verbose=0)
print(json.dumps(n * epochs / (time.perf_counter() - started)))
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=320)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    run = Run("backends")
    rows = []
    for name, mode in CASES:
        row = {"model": name, "base": mode}
        for backend in BACKENDS:
            settings = json.dumps([args.size, args.batch, args.images, args.epochs, name, mode])
            result = subprocess.run(
                [sys.executable, "-c", ONE_BACKEND, settings],
                capture_output=True,
                text=True,
                check=True,
                env=os.environ | {"KERAS_BACKEND": backend, "PYTHONPATH": str(REPO / "src")},
            )
            row[f"{backend} img/s"] = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        print_table([row])
    print_table(rows)
    run.save(rows, vars(args))


if __name__ == "__main__":
    main()
