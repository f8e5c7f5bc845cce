"""Precise BatchNormalization statistics: the moving mean and variance that a layer normalises with
at inference, set to the exact population mean and variance of its inputs over training batches.

Keras keeps those statistics as an exponential moving average during training (momentum 0.99 in
most bases, 0.999 in MobileNetV2). After a few hundred steps the average still holds much of the
initial statistics (0.99 ** 84 = 43 % after 84 steps) and of the activations of earlier weights, so a
model trained briefly (from scratch, or on a small dataset) is validated, early-stopped and tested
with the statistics of another network.

Here batches run through the network as in training: augmented, every layer in training mode, so
each BatchNormalization layer normalises with its own batch's statistics and the layers after it see
what they saw in training. Each layer's batch mean and variance (Keras' own, read back from its
moving statistics with momentum 0) are combined into the exact mean and variance of the layer's
inputs over all the batches, the variance of the batch means included: fvcore's precise BN
(`update_bn_stats`) without its averaging of batch variances. A layer's statistics do not change
its output in training mode, so one pass serves every layer, however deep.
"""

import time

import keras
import numpy as np
from keras import layers, ops

from mribench.resume import random_state


def batch_norm_layers(layer):
    """The BatchNormalization layers of `layer` and of the models nested in it, in build order."""
    found = []
    for sublayer in getattr(layer, "layers", []):
        if isinstance(sublayer, layers.BatchNormalization):
            found.append(sublayer)
        found += batch_norm_layers(sublayer)
    return found


def in_training_mode(model):
    """The BatchNormalization layers that fit() runs in training mode: the trainable ones.

    Keras runs a frozen BatchNormalization layer in inference mode whatever the training flag (a
    functional model passes its own flag to every layer, also to a base called with training=False),
    so this is the head's layer in every strategy and, from scratch, the base's layers too.
    """
    return [layer for layer in batch_norm_layers(model) if layer.trainable]


class BatchMoments(keras.Model):
    """One compiled pass per batch through `stages` (layers applied in turn, in training mode), giving
    the batch's size and, for each of `batch_norms`, its inputs' mean and variance over the batch.

    Build it once and call `set_population_statistics` as often as needed: the pass compiles once.
    """

    def __init__(self, stages, batch_norms):
        super().__init__(dtype="float32")
        self.stages = list(stages)
        self.batch_norms = list(batch_norms)
        # Its layers are built; unbuilt, predict() would first build it on a batch of the stream, and
        # on JAX the stream would then continue from the second batch.
        self.built = True

    def call(self, inputs):
        x = inputs
        for stage in self.stages:
            x = stage(x, training=True)
        size = ops.expand_dims(ops.cast(ops.shape(inputs)[0], "float32"), 0)

        def per_batch(statistic):
            return ops.expand_dims(ops.convert_to_tensor(statistic), 0)

        means = [per_batch(layer.moving_mean) for layer in self.batch_norms]
        variances = [per_batch(layer.moving_variance) for layer in self.batch_norms]
        return size, means, variances

    def set_population_statistics(self, batches, steps=None):
        """Set each layer's moving mean and variance to its inputs' mean and variance over the first
        `steps` batches of `batches` (a `keras.utils.PyDataset`; all of them if None).

        Leaves everything else as it was: the weights, the layers' momentum, and the random state of
        Dropout and in-model augmentation, so that training goes on as if nothing had run.
        """
        momenta = [layer.momentum for layer in self.batch_norms]
        randomness = [(variable, variable.numpy()) for variable in random_state(self)]
        for layer in self.batch_norms:
            layer.momentum = 0.0  # the moving statistics become those of the batch just seen
        try:
            sizes, means, variances = self.predict(batches, steps=steps, verbose=0)
        finally:
            for layer, momentum in zip(self.batch_norms, momenta, strict=True):
                layer.momentum = momentum
            for variable, value in randomness:
                variable.assign(value)
        for layer, batch_means, batch_variances in zip(self.batch_norms, means, variances, strict=True):
            mean, variance = population_moments(sizes, batch_means, batch_variances)
            layer.moving_mean.assign(mean.astype("float32"))
            layer.moving_variance.assign(variance.astype("float32"))


def population_moments(sizes, batch_means, batch_variances):
    """The mean and variance over the union of batches from each batch's size, per-channel mean and
    variance: E[x] and E[(x - E[x])^2] = sum of size * (variance + (batch mean - E[x])^2) / sizes.
    Every batch's inputs have the same shape but the batch axis, so sizes weight them."""
    weights = np.asarray(sizes, "float64") / np.sum(sizes)
    batch_means = np.asarray(batch_means, "float64")
    mean = weights @ batch_means
    variance = weights @ (np.asarray(batch_variances, "float64") + (batch_means - mean) ** 2)
    return mean, variance


def batches_to_use(batch_norm_batches, steps_per_epoch):
    """How many batches the statistics are computed over: the config's number, at most one epoch's
    (every training image once)."""
    return min(batch_norm_batches, steps_per_epoch)


class PreciseBatchNorm(keras.callbacks.Callback):
    """Recompute the statistics of the layers in training mode before every validation of fit(), over
    the first `steps` batches of `batches` (the same ones each time).

    EarlyStopping and ReduceLROnPlateau thus read validation figures of the model as it would be
    saved, and the weights EarlyStopping keeps carry the statistics computed for them, so the model
    it restores at the end needs no further recomputation. Keras validates after the epoch's last
    training step and before any callback's on_epoch_end; its on_test_begin comes in between.
    """

    def __init__(self, batches, steps):
        super().__init__()
        self.batches, self.steps = batches, steps
        self.moments = None

    def on_train_begin(self, logs=None):
        self.moments = BatchMoments([self.model], in_training_mode(self.model))
        self.moments.jit_compile = self.model.jit_compile

    def on_test_begin(self, logs=None):
        if not self.moments.batch_norms:
            return
        started = time.perf_counter()
        self.moments.set_population_statistics(self.batches, self.steps)
        print(
            f"BatchNormalization statistics of {len(self.moments.batch_norms)} layer(s) recomputed over "
            f"{self.steps} training batches in {time.perf_counter() - started:.1f} s",
            flush=True,
        )


def precise_batch_norm(batches, steps_per_epoch, batch_norm_batches):
    """The callbacks for fit(): PreciseBatchNorm over the first `batch_norm_batches` of `batches`
    (at most an epoch's), or none when training.batch_norm_batches is 0."""
    if not batch_norm_batches:
        return []
    return [PreciseBatchNorm(batches, batches_to_use(batch_norm_batches, steps_per_epoch))]


def record(model, batch_norm_batches, batch_size, n_images):
    """What train.json says was done: the batches and images the statistics were computed over and the
    layers they were computed for; None when off or when no layer trained in training mode."""
    steps_per_epoch = -(-n_images // batch_size)
    steps = batches_to_use(batch_norm_batches, steps_per_epoch)
    layer_names = [layer.name for layer in in_training_mode(model)]
    if not steps or not layer_names:
        return None
    return {
        "batches": steps,
        "images": min(steps * batch_size, n_images),
        "layers": layer_names,
        "when": "before every validation, over the same training batches",
    }
