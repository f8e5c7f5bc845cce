"""Decode images once into memory and feed them to Keras as tf.data pipelines."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image


def load_image(path, image_size):
    """Any image Pillow reads, whatever its extension, as RGB uint8 of image_size x image_size."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR))


def load_images(root, paths, image_size, threads=2):
    """Stack the decoded images of `paths` (relative to `root`) into an (N, size, size, 3) uint8 array."""
    root = Path(root)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        images = list(pool.map(lambda p: load_image(root / p, image_size), paths))
    return np.stack(images)


def augmentation_layers(settings, seed):
    """The study's training-time augmentation, as Keras preprocessing layers on 0-255 images."""
    import keras

    layers = keras.layers
    steps = [
        layers.RandomRotation(settings["rotation_degrees"] / 360, fill_mode="constant", seed=seed),
        layers.RandomZoom(settings["zoom"], fill_mode="constant", seed=seed + 1),
        layers.RandomTranslation(settings["shift"], settings["shift"], fill_mode="constant", seed=seed + 2),
        layers.RandomBrightness(settings["brightness"], value_range=(0, 255), seed=seed + 3),
    ]
    if settings["horizontal_flip"]:
        steps.insert(0, layers.RandomFlip("horizontal", seed=seed + 4))
    return keras.Sequential(steps, name="augmentation")


def make_dataset(images, labels, n_classes, batch_size, shuffle_seed=None, augment=None):
    """Batches of (float32 images, one-hot labels); shuffled and augmented only for training."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((images, tf.one_hot(labels, n_classes)))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None:
        dataset = dataset.map(
            lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
