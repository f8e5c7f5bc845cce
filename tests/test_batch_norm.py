"""Precise BatchNormalization statistics: exact population statistics of each layer's inputs, over the
training batches as the model sees them in training, and what they are worth when the moving
averages lag behind the weights."""

import keras
import numpy as np
import pytest

from mribench import pipeline
from mribench.batch_norm import BatchMoments, PreciseBatchNorm, in_training_mode, record
from mribench.model import build_model, unfreeze_top_layers

SIZE = 32


def training_batches(n_images=10, batch_size=4, seed=0):
    """Ten 0-255 images in batches of 4, 4 and 2 (an unequal last batch), shuffled as in training."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_images, SIZE, SIZE, 3), dtype=np.uint8)
    return pipeline.TrainingBatches(images, np.arange(n_images) % 4, 4, batch_size, seed)


def population_statistics(probe, batches, steps):
    """The reference: every input of each layer gathered with `probe` (training mode), then NumPy's
    mean and variance over all of them but the channel axis."""
    per_batch = [probe(batches[step][0]) for step in range(steps)]
    statistics = []
    for parts in zip(*per_batch, strict=True):  # one layer's inputs, batch by batch
        inputs = np.concatenate([keras.ops.convert_to_numpy(x).astype("float64") for x in parts])
        inputs = inputs.reshape(-1, inputs.shape[-1])
        statistics.append((inputs.mean(axis=0), inputs.var(axis=0)))
    return statistics


def statistics_of(layer):
    return keras.ops.convert_to_numpy(layer.moving_mean), keras.ops.convert_to_numpy(layer.moving_variance)


def nested_model():
    """The shape of mribench's models: a base model (two BatchNormalization layers, the second
    deeper than the first) inside a model with a head that has one more."""
    image = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv1")(image)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn1")(x))
    x = keras.layers.Conv2D(16, 3, strides=2, name="conv2")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="bn2")(x))
    base = keras.Model(image, x, name="base")
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(base(x))
    x = keras.layers.BatchNormalization(name="batch_norm")(keras.layers.Dense(8, name="dense")(x))
    outputs = keras.layers.Dense(4, activation="softmax", name="predictions")(keras.layers.Dropout(0.5)(x))
    return keras.Model(inputs, outputs)


@pytest.mark.backends
def test_statistics_are_the_population_statistics_of_each_layers_inputs_over_the_training_batches():
    keras.utils.set_random_seed(0)
    model = nested_model()
    base, head = model.get_layer("base"), model.get_layer("batch_norm")
    layers = in_training_mode(model)
    assert [layer.name for layer in layers] == ["bn1", "bn2", "batch_norm"]

    batches, steps = training_batches(), 3
    # every layer's inputs as fit() makes them: the layers before it normalising with batch statistics
    base_probe = keras.Model(base.input, [layer.input for layer in layers[:-1]])
    head_probe = keras.Model(model.input, head.input)

    def probe(images):
        images = keras.ops.cast(images, "float32")
        return [*base_probe(images / 255, training=True), head_probe(images, training=True)]

    expected = population_statistics(probe, batches, steps)
    BatchMoments([model], layers).set_population_statistics(batches, steps)
    for layer, (mean, variance) in zip(layers, expected, strict=True):
        found_mean, found_variance = statistics_of(layer)
        np.testing.assert_allclose(found_mean, mean, rtol=1e-5, atol=1e-6, err_msg=layer.name)
        np.testing.assert_allclose(found_variance, variance, rtol=1e-4, err_msg=layer.name)
        assert layer.momentum == 0.99  # as it was


def test_only_layers_that_train_in_training_mode_are_recomputed():
    extraction = build_model("mobilenetv2", 4, SIZE, None, dense_units=8)
    assert [layer.name for layer in in_training_mode(extraction)] == ["batch_norm"]
    unfreeze_top_layers(extraction, 30)  # fine-tuning keeps the base's BatchNormalization frozen
    assert [layer.name for layer in in_training_mode(extraction)] == ["batch_norm"]
    vgg = build_model("vgg16", 4, SIZE, None, dense_units=8, from_scratch=True)
    assert [layer.name for layer in in_training_mode(vgg)] == ["batch_norm"]  # VGG16 has none of its own

    assert record(vgg, batch_norm_batches=20, batch_size=32, n_images=100) == {
        "batches": 4,  # at most one epoch: every training image once
        "images": 100,
        "layers": ["batch_norm"],
        "when": "before every validation, over the same training batches",
    }
    assert record(vgg, 2, 32, 100)["images"] == 64
    assert record(vgg, 0, 32, 100) is None


def lagging_model():
    """Conv, BatchNormalization (momentum 0.99), a linear classifier: the classes differ in brightness,
    far from the initial moving mean of 0."""
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.99, name="batch_norm")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def bright_and_dark(n, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    images = rng.normal(100 + 20 * labels[:, None, None, None], 5, (n, 8, 8, 1)).astype("float32")
    return images, keras.utils.to_categorical(labels, 2)


@pytest.mark.backends
def test_recomputed_statistics_recover_the_accuracy_that_lagging_moving_averages_lose():
    keras.utils.set_random_seed(0)
    model = lagging_model()
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy", metrics=["accuracy"])
    train, val = bright_and_dark(64, seed=0), bright_and_dark(64, seed=1)
    model.fit(*train, batch_size=16, epochs=3, shuffle=False, verbose=0)  # 12 steps: 0.99^12 = 89 % initial
    _, lagging = model.evaluate(*val, verbose=0)

    batches = pipeline.EvaluationBatches(train[0], batch_size=16)
    BatchMoments([model], in_training_mode(model)).set_population_statistics(batches)
    _, precise = model.evaluate(*val, verbose=0)
    assert lagging <= 0.6 and precise >= 0.95, (lagging, precise)


@pytest.mark.backends
def test_fit_validates_with_statistics_recomputed_before_each_validation():
    """What EarlyStopping reads: the validation figures of the model with precise statistics, the
    same as evaluating the model fit() leaves; the training itself goes on untouched."""
    train, val = bright_and_dark(64, seed=0), bright_and_dark(64, seed=1)
    batches = pipeline.EvaluationBatches(train[0], batch_size=16)
    fits = {}
    for precise in (False, True):
        keras.utils.set_random_seed(0)
        model = lagging_model()
        model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy", metrics=["accuracy"])
        callbacks = [PreciseBatchNorm(batches, steps=4)] if precise else []
        history = model.fit(
            *train,
            batch_size=16,
            epochs=3,
            shuffle=False,
            validation_data=val,
            callbacks=callbacks,
            verbose=0,
        )
        fits[precise] = model, history.history
    model, history = fits[True]
    assert history["val_accuracy"][-1] >= 0.95 and fits[False][1]["val_accuracy"][-1] <= 0.6
    np.testing.assert_allclose(model.evaluate(*val, verbose=0)[0], history["val_loss"][-1], rtol=1e-5)
    # the same weights: recomputing the statistics changed neither the gradients nor the random state
    for with_recomputation, without in zip(
        model.trainable_weights, fits[False][0].trainable_weights, strict=True
    ):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(with_recomputation), keras.ops.convert_to_numpy(without)
        )
