"""Input pipeline alone, img/s: mribench's one-pass augmentation on images decoded once, against
ImageDataGenerator.flow_from_directory and against the five Keras augmentation layers, with the
study's augmentation, on the same generated 512 px JPEGs. Targets: >= 4x and >= 3x.

Each pipeline delivers the batches of one training stage (`--epochs`, the study's 10) from a fresh
iterator, and the pipelines take turns over ROUNDS such runs, so a change of load falls on all of
them alike; the one-time decode counts once per run for the pipelines that decode once. mribench's
stream is read through the data adapter that `fit` uses on the running backend (TensorFlow: a
tf.data dataset around the PyDataset's worker threads), so it is timed as training reads it. The
comparisons need TensorFlow (tf.data, ImageDataGenerator): run it on the TensorFlow backend.

Usage: python bench/bench_pipeline.py [--per-class 80] [--size 224] [--batch 32] [--epochs 10]
"""

import keras
import numpy as np
import tensorflow as tf
from common import Run, Stopwatch, image_benchmark, print_table
from keras.src.trainers.data_adapters import get_data_adapter
from tensorflow.keras.preprocessing.image import ImageDataGenerator

from mribench import images, pipeline

ROUNDS = 2


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


ADAPTERS = []  # of the PyDatasets being read: their worker threads stop at the end of each turn


def as_fit_reads_it(stream):
    """The tf.data dataset Keras' `fit` makes of a PyDataset on the TensorFlow backend."""
    ADAPTERS.append(get_data_adapter(stream))
    return ADAPTERS[-1].get_tf_dataset()


def interleaved(pipelines, n_batches, rounds):
    """Seconds and images per pipeline, `n_batches` each per round, taking turns in a rotating
    order; a tf.data pipeline gets a fresh iterator each round, so no work it prefetched during
    another's turn is counted in its favour."""
    seconds, seen = dict.fromkeys(pipelines, 0.0), dict.fromkeys(pipelines, 0)
    names = list(pipelines)
    for round_index in range(rounds):
        for name in names[round_index % len(names) :] + names[: round_index % len(names)]:
            batches = pipelines[name]()
            with Stopwatch() as watch:
                if isinstance(batches, tf.data.Dataset):
                    for x, _ in batches.take(n_batches):
                        seen[name] += len(x)
                else:
                    for _ in range(n_batches):
                        seen[name] += len(next(batches)[0])
            seconds[name] += watch.seconds
            while ADAPTERS:  # as fit() does at the end of an epoch
                ADAPTERS.pop().on_epoch_end()
    return seconds, seen


def main():
    args, settings, root, rows = image_benchmark(size=224, epochs=10)
    paths = [p for p, _ in rows]
    classes = sorted({label for _, label in rows})
    y = np.array([classes.index(label) for _, label in rows])
    n_batches = args.epochs * -(-len(rows) // args.batch)

    run = Run("pipeline")
    with Stopwatch() as decode:
        pixels = images.load_images(root, paths, args.size, threads=2)
    layers = keras_layers(settings, 0)

    def ours():
        return as_fit_reads_it(pipeline.TrainingBatches(pixels, y, len(classes), args.batch, 0, settings))

    def keras_pipeline():
        plain = as_fit_reads_it(pipeline.TrainingBatches(pixels, y, len(classes), args.batch, 0))
        return plain.map(
            lambda x, t: (layers(tf.cast(x, tf.float32), training=True), t),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).prefetch(tf.data.AUTOTUNE)

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
    pipelines = {
        "mribench one-pass (decoded once)": ours,
        "Keras augmentation layers (decoded once)": keras_pipeline,
        "ImageDataGenerator.flow_from_directory": lambda: generator,
    }
    interleaved(pipelines, 2, 1)  # trace the graphs
    seconds, seen = interleaved(pipelines, n_batches, ROUNDS)
    seconds = {
        name: time + (ROUNDS * decode.seconds if "decoded once" in name else 0.0)
        for name, time in seconds.items()
    }
    ours, keras_row, legacy = (
        {"pipeline": name, "images": seen[name], "seconds": seconds[name]} for name in pipelines
    )
    results = [ours, keras_row, legacy]
    for row in results:
        row["img/s"] = row["images"] / row["seconds"]
    for row in results:
        row["mribench speed-up"] = ours["img/s"] / row["img/s"]
    print(
        f"{len(rows)} JPEGs, {args.size} px, batch {args.batch}; {ROUNDS} rounds of {args.epochs} epochs "
        f"each, taking turns; mribench and Keras layers include the one-time decode "
        f"({decode.seconds:.1f} s) once per round"
    )
    print_table(results)
    run.save(
        results,
        vars(args)
        | {
            "images": len(rows),
            "decode_seconds": decode.seconds,
            "rounds": ROUNDS,
            "augmentation": settings,
            "targets": {"vs ImageDataGenerator": 4, "vs Keras layers": 3},
        },
    )


if __name__ == "__main__":
    main()
