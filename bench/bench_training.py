"""End-to-end frozen-base MobileNetV2 training throughput: images from mribench's pipeline with the
study's augmentation, as a fraction of the same model fed pre-made tensors without augmentation.
Target: >= 0.8. Weights are random (no ImageNet download here); the cost per step is the same.

Usage: python bench/bench_training.py [--per-class 64] [--size 224] [--batch 32] [--epochs 3]
"""

import argparse

import keras
import numpy as np
import tensorflow as tf
import yaml
from common import REPO, Run, Stopwatch, bench_images, print_table

from mribench import images
from mribench.model import build_model


class EpochTimes(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.watch = Stopwatch().__enter__()

    def on_epoch_end(self, epoch, logs=None):
        self.watch.__exit__()
        self.seconds.append(self.watch.seconds)

    def on_train_begin(self, logs=None):
        self.seconds = []


def throughput(model, dataset, steps, epochs, n_images):
    """img/s over the epochs after the first (which traces the graph)."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", jit_compile=False)
    times = EpochTimes()
    model.fit(dataset, steps_per_epoch=steps, epochs=epochs, callbacks=[times], verbose=0)
    return n_images * (epochs - 1) / sum(times.seconds[1:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    settings = yaml.safe_load((REPO / "config.yaml").read_text())["augmentation"]
    root, rows = bench_images(args.per_class)
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
    baseline = throughput(
        build_model("mobilenetv2", len(classes), args.size, None),
        tensors.batch(args.batch).cache().repeat(),
        steps,
        args.epochs,
        n_images,
    )
    keras.utils.set_random_seed(0)
    ours = throughput(
        build_model("mobilenetv2", len(classes), args.size, None),
        images.training_dataset(pixels, y, len(classes), args.batch, 0, settings),
        steps,
        args.epochs,
        n_images,
    )
    results = [
        {"input": "pre-made tensors, no augmentation", "img/s": baseline, "fraction": 1.0},
        {"input": "mribench pipeline, study augmentation", "img/s": ours, "fraction": ours / baseline},
    ]
    print(
        f"MobileNetV2 frozen base, {args.size} px, batch {args.batch}, {n_images} images per epoch, "
        f"epochs 2-{args.epochs} timed"
    )
    print_table(results)
    run.save(
        results, vars(args) | {"images_per_epoch": n_images, "augmentation": settings, "target_fraction": 0.8}
    )


if __name__ == "__main__":
    main()
