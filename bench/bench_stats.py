"""Time the stats rule at the study's size: 6 targets on the 1,311 Kaggle test images.

Usage: PYTHONPATH=src python bench/bench_stats.py [resamples]
Predictions are synthetic (random, about 90 % correct); the statistics do not care where they come from.
"""

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mribench.stats import write_statistics
from mribench.targets import Target

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
N_TEST = 1311


def fake_predictions(path, rng, y_true):
    logits = rng.normal(size=(N_TEST, 4)) + 3.0 * np.eye(4)[y_true] * (rng.random(N_TEST) < 0.9)[:, None]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    table = pd.DataFrame(
        {
            "file": [f"Testing/{CLASSES[c]}/{i}.jpg" for i, c in enumerate(y_true)],
            "true": [CLASSES[c] for c in y_true],
            "predicted": [CLASSES[c] for c in probabilities.argmax(axis=1)],
        }
    )
    for i, name in enumerate(CLASSES):
        table[f"p_{name}"] = probabilities[:, i]
    table.to_csv(path, index=False)
    return str(path)


def main(resamples):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, N_TEST)
    with tempfile.TemporaryDirectory() as tmp:
        targets = [
            Target(model, strategy, 42)
            for model in ("vgg16", "resnet50v2", "mobilenetv2")
            for strategy in ("feature_extraction", "fine_tuning")
        ]
        runs = [
            [t.model, t.strategy, t.seed, fake_predictions(Path(tmp) / f"{t.name}.csv", rng, y_true)]
            for t in targets
        ]
        started = time.perf_counter()
        write_statistics(runs, CLASSES, resamples=resamples, seed=0, out_dir=Path(tmp) / "stats")
        seconds = time.perf_counter() - started
    print(f"stats: 6 targets x {N_TEST} test images, {resamples} resamples: {seconds:.1f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
