"""Feed decoded images to Keras on any backend: shuffled, augmented training batches and plain
evaluation batches, as `keras.utils.PyDataset`s of NumPy arrays.

Augmentation is one resampling pass: rotation, zoom, shift and flip are composed into a single
affine matrix per image and applied with one `keras.ops.image.affine_transform` per batch, then
brightness. The study's five Keras augmentation layers resample each image three times
(bench/README.md has the speeds). The same `augment` runs in the input pipeline (CPU training) and
inside the model (`model.Augmentation`, on the GPU); only where its random draws come from differs.
"""

import math

import keras
import numpy as np
from keras import ops

# Batches made ahead of the one being trained on, by this many threads; the resampling op and
# NumPy's copies release the GIL, so two threads keep a two-core machine's training fed.
WORKERS = 2
QUEUE = 8


def augmentation_is_identity(settings):
    return not (
        settings["rotation_degrees"]
        or settings["zoom"]
        or settings["shift"]
        or settings["horizontal_flip"]
        or settings["brightness"]
    )


def augment(images, draws, settings):
    """Augment a batch of 0-255 RGB images in one resampling pass, then shift brightness.

    `draws` (N, 6) are uniform in [-1, 1], one row per image: angle, zoom, x shift, y shift, flip,
    brightness. Ranges follow the Keras layers: RandomRotation(±degrees), RandomZoom(±zoom: scale
    1 ± zoom of the sampled area), RandomTranslation(±shift of width and height),
    RandomFlip("horizontal"), RandomBrightness(±brightness of the 0-255 range).
    """
    height, width = images.shape[1], images.shape[2]
    angle = draws[:, 0] * settings["rotation_degrees"] * math.pi / 180
    zoom = 1.0 + draws[:, 1] * settings["zoom"]
    shift_x = draws[:, 2] * settings["shift"] * width
    shift_y = draws[:, 3] * settings["shift"] * height
    flip = ops.cast(ops.logical_and(draws[:, 4] < 0, settings["horizontal_flip"]), "float32")
    moved = resample(images, affine_transforms(angle, zoom, shift_x, shift_y, flip, height, width))
    brightness = ops.cast(draws[:, 5] * settings["brightness"] * 255.0, images.dtype)
    return ops.clip(moved + brightness[:, None, None, None], 0.0, 255.0)


def affine_transforms(angle, zoom, shift_x, shift_y, flip, height, width):
    """Flattened 3x3 matrices (N, 8) mapping output pixel coordinates to input coordinates.

    Output to input: undo the shift (in pixels), rotate and scale about the image centre, mirror x
    if `flip` is 1.
    """
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = ops.cos(angle) * zoom, ops.sin(angle) * zoom
    # x_in = cos*(x - dx - cx) - sin*(y - dy - cy) + cx, and likewise for y.
    a0, a1 = cos, -sin
    a2 = cx - cos * (cx + shift_x) + sin * (cy + shift_y)
    b0, b1 = sin, cos
    b2 = cy - sin * (cx + shift_x) - cos * (cy + shift_y)
    sign = 1.0 - 2.0 * flip  # a horizontal flip maps x_in to (width - 1) - x_in
    a0, a1, a2 = sign * a0, sign * a1, sign * a2 + flip * (width - 1)
    zeros = ops.zeros_like(a0)
    return ops.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


def resample(images, transforms):
    """Apply one affine transform per image (bilinear, zeros outside).

    The op interpolates every channel separately, so a batch of grayscale slices stored as RGB
    (nearly all MRI) is resampled as one channel and copied to three: the same pixels, a third of
    the work.
    """

    def transform(channels):
        return ops.image.affine_transform(
            channels, transforms, interpolation="bilinear", fill_mode="constant", fill_value=0
        )

    return ops.cond(
        ops.all(images[..., :1] == images),
        lambda: ops.broadcast_to(transform(images[..., :1]), ops.shape(images)),
        lambda: transform(images),
    )


def augmentation_draws(seed, step, batch_size):
    """The draws `augment` takes for batch `step` of a training stream: the same for the same seed."""
    return np.random.default_rng([seed, step]).uniform(-1.0, 1.0, (batch_size, 6)).astype("float32")


class TrainingBatches(keras.utils.PyDataset):
    """An endless stream of shuffled (and augmented) batches; fit it with steps_per_epoch.

    Epoch e is a permutation keyed by (seed, e) and batch b of the stream is augmented with draws
    keyed by (seed, b), so every batch is a function of its position alone: worker threads may make
    them in any order, two runs with the same seed see the same batches, and a resumed run that
    starts at `first_epoch` sees the batches an uninterrupted run would.
    """

    def __init__(self, images, labels, n_classes, batch_size, seed, augmentation=None, first_epoch=0):
        super().__init__(workers=WORKERS, max_queue_size=QUEUE)
        self.images, self.labels, self.n_classes = images, labels, n_classes
        self.batch_size, self.seed = batch_size, seed
        self.augmentation = (
            None if augmentation is None or augmentation_is_identity(augmentation) else augmentation
        )
        self.steps_per_epoch = math.ceil(len(images) / batch_size)
        self.first_step = first_epoch * self.steps_per_epoch

    @property
    def num_batches(self):
        return None  # endless: fit() counts steps_per_epoch

    def __getitem__(self, index):
        step = self.first_step + index
        epoch, batch = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
        x, y = read_batch(
            self.images, self.labels, self.n_classes, order[batch * self.batch_size :][: self.batch_size]
        )
        if self.augmentation is not None:
            draws = augmentation_draws(self.seed, step, len(x))
            x = ops.convert_to_numpy(augment(x.astype("float32"), draws, self.augmentation))
        return x, y


class EvaluationBatches(keras.utils.PyDataset):
    """Batches of images (and one-hot labels, when given) in file order, once."""

    def __init__(self, images, labels=None, n_classes=None, batch_size=32):
        super().__init__(workers=WORKERS, max_queue_size=QUEUE)
        self.images, self.labels, self.n_classes, self.batch_size = images, labels, n_classes, batch_size

    @property
    def num_batches(self):
        return math.ceil(len(self.images) / self.batch_size)

    def __getitem__(self, index):
        indices = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, len(self.images)))
        if self.labels is None:
            return (self.images[indices],)
        return read_batch(self.images, self.labels, self.n_classes, indices)


def read_batch(images, labels, n_classes, indices):
    """One batch from the in-memory or memmapped array: uint8 images and one-hot labels.

    Images stay uint8, a quarter of float32's bytes to copy and move to the GPU; the model takes
    0-255 values of any dtype and casts them to float32 itself, on the device. Read in index order
    (sequential reads from a memmap): the batch is shuffled anyway.
    """
    indices = np.sort(indices)
    return images[indices], np.eye(n_classes, dtype="float32")[labels[indices]]
