"""End-to-end frozen-base MobileNetV2 training throughput: images from mribench's pipeline with the
study's augmentation, as a fraction of the same model fed pre-made tensors without augmentation.
Target: >= 0.8. Weights are random (no ImageNet download here); the cost per step is the same.

Usage: python bench/bench_training.py [--per-class 80] [--size 224] [--batch 32] [--epochs 3]
"""

import keras
import numpy as np
import tensorflow as tf
from common import Run, Stopwatch, image_benchmark, print_table

from mribench import images, pipeline
from mribench.model import build_model


def interleaved_throughput(fits, steps, rounds, n_images):
    """img/s of each (model, dataset), training one epoch each in turn (rotating order) so that the
    load of a shared machine falls on both alike; a first untimed epoch traces the graphs."""
    seconds = dict.fromkeys(fits, 0.0)
    for model, dataset in fits.values():
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=False
        )
        model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
    names = list(fits)
    for round_index in range(rounds):
        for name in names[round_index % 2 :] + names[: round_index % 2]:
            model, dataset = fits[name]
            with Stopwatch() as watch:
                model.fit(dataset, steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0)
            seconds[name] += watch.seconds
    return {name: n_images * rounds / time for name, time in seconds.items()}


def main():
    args, settings, root, rows = image_benchmark(size=224, epochs=3)
    classes = sorted({label for _, label in rows})
    y = np.array([classes.index(label) for _, label in rows])
    pixels = images.load_images(root, [p for p, _ in rows], args.size, threads=2)
    steps = len(rows) // args.batch
    n_images = steps * args.batch
    tf.config.threading.set_inter_op_parallelism_threads(2)
    run = Run("training")

    keras.utils.set_random_seed(0)
    tensors = tf.data.Dataset.from_tensor_slices(
        (pixels[:n_images].astype("float32"), keras.utils.to_categorical(y[:n_images], len(classes)))
    )
    fits = {
        "tensors": (
            build_model("mobilenetv2", len(classes), args.size, None),
            tensors.batch(args.batch).cache().repeat(),
        ),
        "mribench": (
            build_model("mobilenetv2", len(classes), args.size, None),
            pipeline.TrainingBatches(pixels, y, len(classes), args.batch, 0, settings),
        ),
    }
    speed = interleaved_throughput(fits, steps, args.epochs, n_images)
    baseline, ours = speed["tensors"], speed["mribench"]
    results = [
        {"input": "pre-made tensors, no augmentation", "img/s": baseline, "fraction": 1.0},
        {"input": "mribench pipeline, study augmentation", "img/s": ours, "fraction": ours / baseline},
    ]
    print(
        f"MobileNetV2 frozen base, {args.size} px, batch {args.batch}, {n_images} images per epoch, "
        f"{args.epochs} epochs each timed, taking turns"
    )
    print_table(results)
    run.save(
        results, vars(args) | {"images_per_epoch": n_images, "augmentation": settings, "target_fraction": 0.8}
    )


if __name__ == "__main__":
    main()
