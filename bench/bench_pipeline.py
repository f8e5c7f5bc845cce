"""Input pipeline alone, img/s: mribench's one-pass augmentation on images decoded once, against
ImageDataGenerator.flow_from_directory and against the five Keras augmentation layers, with the
study's augmentation, on the same generated 512 px JPEGs. Targets: >= 4x and >= 3x.

Usage: python bench/bench_pipeline.py [--per-class 80] [--size 224] [--batch 32] [--epochs 3]
"""

import argparse

import keras
import numpy as np
import tensorflow as tf
import yaml
from common import REPO, Run, Stopwatch, bench_images, print_table
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from mribench import images


def keras_layers(settings, seed):
    """The study's augmentation as Keras preprocessing layers (mribench's earlier pipeline)."""
    steps = [
        keras.layers.RandomFlip("horizontal", seed=seed),
        keras.layers.RandomRotation(settings["rotation_degrees"] / 360, fill_mode="constant", seed=seed),
        keras.layers.RandomZoom(settings["zoom"], fill_mode="constant", seed=seed),
        keras.layers.RandomTranslation(settings["shift"], settings["shift"], fill_mode="constant", seed=seed),
        keras.layers.RandomBrightness(settings["brightness"], value_range=(0, 255), seed=seed),
    ]
    return keras.Sequential(steps)


def consume(batches, n_batches):
    seen = 0
    with Stopwatch() as watch:
        for x, _ in batches.take(n_batches) if isinstance(batches, tf.data.Dataset) else batches:
            seen += len(x)
            n_batches -= 1
            if n_batches == 0:
                break
    return seen, watch.seconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-class", type=int, default=80)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    settings = yaml.safe_load((REPO / "config.yaml").read_text())["augmentation"]
    root, rows = bench_images(args.per_class)
    paths, labels = [p for p, _ in rows], np.array([images_label for _, images_label in rows])
    classes = sorted(set(labels))
    y = np.array([classes.index(label) for label in labels])
    n_batches = args.epochs * -(-len(rows) // args.batch)
    run = Run("pipeline")

    with Stopwatch() as decode:
        pixels = images.load_images(root, paths, args.size, threads=2)
    stream = images.training_dataset(pixels, y, len(classes), args.batch, 0, settings)
    consume(stream, 2)  # trace the graph
    seen, seconds = consume(stream, n_batches)
    ours = {
        "pipeline": "mribench one-pass (decoded once)",
        "images": seen,
        "seconds": seconds + decode.seconds,
    }

    layers = keras_layers(settings, 0)
    plain = images.training_dataset(pixels, y, len(classes), args.batch, 0, augmentation=None)
    augmented = plain.map(lambda x, t: (layers(x, training=True), t), num_parallel_calls=tf.data.AUTOTUNE)
    consume(augmented, 2)
    seen, seconds = consume(augmented, n_batches)
    keras_row = {
        "pipeline": "Keras augmentation layers (decoded once)",
        "images": seen,
        "seconds": seconds + decode.seconds,
    }

    generator = ImageDataGenerator(
        rotation_range=settings["rotation_degrees"],
        zoom_range=settings["zoom"],
        width_shift_range=settings["shift"],
        height_shift_range=settings["shift"],
        horizontal_flip=settings["horizontal_flip"],
        # multiplicative, the nearest the legacy generator has to an additive +-10 % of 0-255
        brightness_range=(1 - settings["brightness"], 1 + settings["brightness"]),
        fill_mode="constant",
    ).flow_from_directory(
        root, target_size=(args.size, args.size), batch_size=args.batch, class_mode="categorical", seed=0
    )
    seen, seconds = consume(generator, n_batches)
    legacy = {"pipeline": "ImageDataGenerator.flow_from_directory", "images": seen, "seconds": seconds}

    results = [ours, keras_row, legacy]
    for row in results:
        row["img/s"] = row["images"] / row["seconds"]
    for row in results:
        row["mribench speed-up"] = ours["img/s"] / row["img/s"]
    print(
        f"{len(rows)} JPEGs, {args.epochs} epochs, {args.size} px, batch {args.batch}; "
        f"mribench and Keras layers include the one-time decode ({decode.seconds:.1f} s)"
    )
    print_table(results)
    run.save(
        results,
        vars(args)
        | {
            "images": len(rows),
            "decode_seconds": decode.seconds,
            "augmentation": settings,
            "targets": {"vs ImageDataGenerator": 4, "vs Keras layers": 3},
        },
    )


if __name__ == "__main__":
    main()
