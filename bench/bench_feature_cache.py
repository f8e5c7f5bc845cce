"""Feature extraction, 10 epochs, VGG16: the head trained on cached base features (the keras.io
guide's fast workflow) against the frozen base in the training loop (mribench's default: images
augmented in the pipeline), on the same images; time and final validation accuracy of both.
Target: >= 8x. At the study's 224 px; weights are random (no ImageNet here).

Usage: python bench/bench_feature_cache.py [--per-class 80] [--size 224] [--batch 32] [--epochs 10]
"""

import keras
import numpy as np
from common import Run, Stopwatch, image_benchmark, print_table

from mribench import images, pipeline
from mribench.model import build_model
from mribench.training import fit_on_cached_features


def main():
    args, settings, root, rows = image_benchmark(size=224, epochs=10)
    classes = sorted({label for _, label in rows})
    pixels = images.load_images(root, [p for p, _ in rows], args.size, threads=2)
    y = np.array([classes.index(label) for _, label in rows])
    order = np.random.default_rng(0).permutation(len(rows))
    n_val = len(rows) // 5
    data = {
        "val": (pixels[order[:n_val]], y[order[:n_val]]),
        "train": (pixels[order[n_val:]], y[order[n_val:]]),
    }
    run = Run("feature_cache")

    def compile_settings():
        return {
            "optimizer": keras.optimizers.Adam(1e-3),
            "loss": "categorical_crossentropy",
            "metrics": ["accuracy"],
            "jit_compile": False,
        }

    fit_settings = {"epochs": args.epochs, "verbose": 0}
    results = []
    keras.utils.set_random_seed(0)
    model = build_model("vgg16", len(classes), args.size, None)
    with Stopwatch() as watch:
        fit = fit_on_cached_features(model, data, len(classes), args.batch, compile_settings(), fit_settings)
    results.append(
        {
            "workflow": "cached features",
            "seconds": watch.seconds,
            "val_accuracy": fit.history["val_accuracy"][-1],
        }
    )

    keras.utils.set_random_seed(0)
    model = build_model("vgg16", len(classes), args.size, None)
    model.compile(**compile_settings())
    train = pipeline.TrainingBatches(*data["train"], len(classes), args.batch, 0, settings)
    val = pipeline.EvaluationBatches(*data["val"], len(classes), args.batch)
    with Stopwatch() as watch:
        fit = model.fit(
            train, validation_data=val, steps_per_epoch=train.steps_per_epoch, shuffle=False, **fit_settings
        )
    results.append(
        {
            "workflow": "frozen base in the loop, augmented",
            "seconds": watch.seconds,
            "val_accuracy": fit.history["val_accuracy"][-1],
        }
    )
    for row in results:
        row["speed-up of cached"] = row["seconds"] / results[0]["seconds"]
    print(
        f"VGG16 (random weights), {args.size} px, {len(data['train'][1])} train / {n_val} val images, "
        f"batch {args.batch}, {args.epochs} epochs"
    )
    print_table(results)
    run.save(
        results,
        vars(args) | {"train_images": len(data["train"][1]), "val_images": n_val, "target_speedup": 8},
    )


if __name__ == "__main__":
    main()
