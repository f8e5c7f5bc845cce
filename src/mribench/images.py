"""Decode images once, cache them, and feed them to Keras as tf.data pipelines.

Augmentation is one resampling pass: rotation, zoom, shift and flip are composed into a single
affine matrix per image and applied with one projective-transform op per batch, then brightness.
The study's five Keras augmentation layers resample each image three times and ran at about half
the speed on two CPU cores (bench/README.md).
"""

import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from mribench.decoding import decode

# Decoded datasets above this share of physical memory go to a file cache instead of RAM.
MEMORY_SHARE = 0.25


def load_image(path, image_size):
    """Any image Pillow reads, whatever its extension, as the picture a viewer shows
    (mribench.decoding) in RGB uint8 of image_size x image_size; raises decoding.UnusableImage.

    A grayscale picture is resized before it becomes RGB: the same pixels, a third of the work."""
    picture = decode(path).picture
    return np.asarray(picture.resize((image_size, image_size), Image.Resampling.BILINEAR).convert("RGB"))


def load_images(root, paths, image_size, threads=2, cache_dir=None):
    """Decode `paths` (relative to `root`) into an (N, size, size, 3) uint8 array, each image once.

    The array lives in memory when it fits comfortably (MEMORY_SHARE of RAM), otherwise in a
    numpy memmap in `cache_dir` that the pipeline reads batch by batch.
    """
    root, paths = Path(root), list(paths)
    shape = (len(paths), image_size, image_size, 3)
    if cache_dir is not None and math.prod(shape) > MEMORY_SHARE * physical_memory():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".images-", suffix=".npy") as cache:
            # The mapping outlives the file's name, so no cache is left behind, even by a killed job.
            pixels = np.lib.format.open_memmap(cache.name, mode="w+", dtype=np.uint8, shape=shape)
    else:
        pixels = np.empty(shape, np.uint8)

    def decode(index):
        pixels[index] = load_image(root / paths[index], image_size)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(decode, range(len(paths))))
    return pixels


def physical_memory():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def augmentation_is_identity(settings):
    return not (
        settings["rotation_degrees"]
        or settings["zoom"]
        or settings["shift"]
        or settings["horizontal_flip"]
        or settings["brightness"]
    )


def random_parameters(batch_size, settings, seed):
    """Per image: angle (radians), zoom scale, shift (fractions of x and y), flip, brightness offset.

    `seed` is a stateless-random seed (two integers): the same seed always draws the same values.
    Ranges follow the Keras layers: RandomRotation(±degrees), RandomZoom(±zoom: scale 1 ± zoom of
    the sampled area), RandomTranslation(±shift of width and height), RandomFlip("horizontal"),
    RandomBrightness(±brightness of the 0-255 range).
    """
    import tensorflow as tf

    draws = tf.random.stateless_uniform([batch_size, 6], seed, minval=-1.0, maxval=1.0)
    return {
        "angle": draws[:, 0] * settings["rotation_degrees"] * math.pi / 180,
        "zoom": 1.0 + draws[:, 1] * settings["zoom"],
        "shift_x": draws[:, 2] * settings["shift"],
        "shift_y": draws[:, 3] * settings["shift"],
        "flip": tf.logical_and(draws[:, 4] < 0, settings["horizontal_flip"]),
        "brightness": draws[:, 5] * settings["brightness"] * 255.0,
    }


def affine_transforms(parameters, height, width):
    """Flattened 3x3 matrices (N, 8) mapping output pixel coordinates to input coordinates.

    Output to input: undo the shift, rotate and scale about the image centre, mirror x if flipped.
    """
    import tensorflow as tf

    angle, zoom = parameters["angle"], parameters["zoom"]
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    # x_in = cos*(x - dx - cx) - sin*(y - dy - cy) + cx, and likewise for y.
    dx, dy = parameters["shift_x"] * width, parameters["shift_y"] * height
    a0, a1 = cos, -sin
    a2 = cx - cos * (cx + dx) + sin * (cy + dy)
    b0, b1 = sin, cos
    b2 = cy - sin * (cx + dx) - cos * (cy + dy)
    flip = tf.cast(parameters["flip"], tf.float32)
    sign = 1.0 - 2.0 * flip  # a horizontal flip maps x_in to (width - 1) - x_in
    a0, a1, a2 = sign * a0, sign * a1, sign * a2 + flip * (width - 1)
    zeros = tf.zeros_like(a0)
    return tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def augment(images, settings, seed):
    """Augment a float32 batch of 0-255 RGB images in one resampling pass, then shift brightness."""
    import tensorflow as tf

    shape = tf.shape(images)
    parameters = random_parameters(shape[0], settings, seed)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    moved = resample(images, affine_transforms(parameters, height, width))
    brightness = tf.cast(parameters["brightness"], images.dtype)  # float16 under mixed precision
    return tf.clip_by_value(moved + brightness[:, None, None, None], 0.0, 255.0)


def resample(images, transforms):
    """Apply one affine transform per image (bilinear, zeros outside).

    The kernel interpolates every channel separately, so a batch of grayscale slices stored as RGB
    (nearly all MRI) is resampled as one channel and copied to three: the same pixels, a third of
    the work.
    """
    import tensorflow as tf

    def transform(channels):
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=channels,
            transforms=transforms,
            output_shape=tf.shape(images)[1:3],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )

    grayscale = tf.reduce_all(images[..., :1] == images)
    return tf.cond(
        grayscale,
        lambda: tf.broadcast_to(transform(images[..., :1]), tf.shape(images)),
        lambda: transform(images),
    )


def training_dataset(images, labels, n_classes, batch_size, seed, augmentation=None, first_epoch=0):
    """An endless stream of shuffled (and augmented) batches; fit it with steps_per_epoch.

    Epoch e is a stateless shuffle keyed by (seed, e) and batch b of the stream is augmented with
    the seed (seed, b), so two runs with the same seed see the same batches, and a resumed run
    that starts at `first_epoch` sees the batches an uninterrupted run would.
    """
    import tensorflow as tf

    n = len(images)

    def epoch_batches(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=[seed, epoch])
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    def load_batch(step, indices):
        x, y = gather(images, labels, n_classes, indices)
        if augmentation is not None and not augmentation_is_identity(augmentation):
            x = augment(x, augmentation, tf.stack([tf.cast(seed, tf.int64), step]))
        return x, y

    steps_per_epoch = math.ceil(n / batch_size)
    epochs = tf.data.Dataset.counter(start=first_epoch)
    batches = epochs.flat_map(epoch_batches).enumerate(start=first_epoch * steps_per_epoch)
    return batches.map(load_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def evaluation_dataset(images, labels, n_classes, batch_size):
    """Batches of (float32 images, one-hot labels) in file order, once."""
    import tensorflow as tf

    batches = tf.data.Dataset.range(len(images)).batch(batch_size)
    return batches.map(
        lambda indices: gather(images, labels, n_classes, indices), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)


def gather(images, labels, n_classes, indices):
    """Read one batch from the in-memory or memmapped array; the pipeline never embeds the array
    as a graph constant (which would hit TensorFlow's 2 GB limit on the full dataset)."""
    import tensorflow as tf

    def read(indices):
        order = np.sort(indices)  # sequential reads from a memmap; the batch is shuffled anyway
        return images[order], labels[order]

    x, y = tf.numpy_function(read, [indices], [tf.uint8, labels.dtype], stateful=False)
    x.set_shape([None, *images.shape[1:]])
    y.set_shape([None])
    return tf.cast(x, tf.float32), tf.one_hot(y, n_classes)
