"""The input pipeline and the one-pass augmentation, on the Keras backend the tests run on
(`make test` runs these on TensorFlow and on JAX)."""

import keras
import numpy as np
import pytest
from keras import ops

from mribench import pipeline
from mribench.model import Augmentation, build_model

pytestmark = pytest.mark.backends

STUDY = {"rotation_degrees": 15, "zoom": 0.1, "shift": 0.1, "horizontal_flip": True, "brightness": 0.1}
NONE = {"rotation_degrees": 0, "zoom": 0, "shift": 0, "horizontal_flip": False, "brightness": 0}


def batch(n=6, size=24, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def draws(n, seed=7):
    return pipeline.augmentation_draws(seed, 3, n)


def augment(x, settings, d):
    return ops.convert_to_numpy(pipeline.augment(x, d, settings))


def test_all_ranges_zero_is_the_identity():
    x = batch()
    np.testing.assert_allclose(augment(x, NONE, draws(6)), x, atol=1e-3)


def test_flip_only_mirrors_the_images_it_flips():
    x, d = batch(n=16), draws(16)
    flipped = d[:, 4] < 0
    assert 0 < flipped.sum() < 16
    expected = np.where(flipped[:, None, None, None], x[:, :, ::-1], x)
    np.testing.assert_allclose(augment(x, NONE | {"horizontal_flip": True}, d), expected, atol=1e-3)


def test_a_pure_shift_moves_a_bright_dot_by_the_expected_pixels():
    image = np.zeros((1, 40, 40, 3), np.float32)
    image[0, 10, 12] = 255
    d = np.array([[0.0, 0.0, 1.0, -1.0, 1.0, 0.0]], "float32")  # shift x by +0.1, y by -0.25 below
    out = augment(image, NONE | {"shift": 0.1}, d)
    assert np.unravel_index(out[0, :, :, 0].argmax(), (40, 40)) == (6, 16)  # 4 px right and 4 px up
    assert out[0, 6, 16, 0] == pytest.approx(255, abs=1e-3)


@pytest.mark.parametrize("channels", ["grayscale", "colour"])
def test_grayscale_batches_resample_as_one_channel_and_give_the_ops_pixels(channels):
    x = batch()
    if channels == "grayscale":
        x = np.repeat(x[..., :1], 3, axis=-1)
    d = draws(6)
    transforms = pipeline.affine_transforms(
        d[:, 0] * np.pi / 12, 1 + d[:, 1] * 0.1, d[:, 2] * 2.4, d[:, 3] * 2.4, np.zeros(6, "float32"), 24, 24
    )
    expected = ops.image.affine_transform(x, transforms, interpolation="bilinear", fill_mode="constant")
    np.testing.assert_allclose(
        ops.convert_to_numpy(pipeline.resample(x, transforms)), ops.convert_to_numpy(expected), atol=1e-3
    )


def test_draws_stay_within_the_configured_ranges_and_are_independent():
    d = pipeline.augmentation_draws(0, 0, 4000)
    assert d.min() >= -1 and d.max() <= 1 and d.min() < -0.99 and d.max() > 0.99
    assert 0.45 < (d[:, 4] < 0).mean() < 0.55
    assert abs(np.corrcoef(d[:, 0], d[:, 1])[0, 1]) < 0.1


def test_augmented_values_stay_in_the_0_255_range():
    out = augment(batch(), STUDY, draws(6))
    assert out.min() >= 0 and out.max() <= 255
    assert not np.allclose(out, batch())


def stream_batches(seed, n_batches, first_epoch=0):
    x = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    y = np.arange(20) % 4
    stream = pipeline.TrainingBatches(x, y, 4, 8, seed, STUDY, first_epoch=first_epoch)
    return [stream[i] for i in range(n_batches)], y


def test_the_training_stream_is_determined_by_the_seed_and_its_position():
    one, y = stream_batches(1, 6)
    again, other = stream_batches(1, 6)[0], stream_batches(2, 6)[0]
    for (a, b), (c, d) in zip(one, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert not np.array_equal(one[0][0], other[0][0])
    # one epoch is 3 batches (8 + 8 + 4) holding every image once; the next epoch reshuffles
    assert [len(b) for _, b in one] == [8, 8, 4, 8, 8, 4]
    assert sorted(np.concatenate([b.argmax(1) for _, b in one[:3]])) == sorted(y)
    # a resumed stream starting at epoch 1 gives what the uninterrupted one gave from batch 3 on
    resumed = stream_batches(1, 3, first_epoch=1)[0]
    for (a, b), (c, d) in zip(one[3:], resumed, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)


def test_the_evaluation_batches_keep_file_order_and_pixels():
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    y = np.arange(10) % 3
    batches = pipeline.EvaluationBatches(x, y, 3, 4)
    assert batches.num_batches == 3
    parts = [batches[i] for i in range(3)]
    np.testing.assert_array_equal(np.concatenate([a for a, _ in parts]), x)
    np.testing.assert_array_equal(np.concatenate([b for _, b in parts]).argmax(1), y)
    unlabelled = pipeline.EvaluationBatches(x, batch_size=4)
    np.testing.assert_array_equal(unlabelled[2][0], x[8:])


def test_augmentation_in_the_model_trains_and_is_inactive_at_inference(tmp_path):
    model = build_model(
        "mobilenetv2", 3, 32, None, dense_units=8, augmentation={"settings": STUDY, "seed": 1}
    )
    x = batch(n=4, size=32)
    layer = model.get_layer("augmentation")
    assert not np.allclose(ops.convert_to_numpy(layer(x, training=True)), x)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x, training=False)), x)
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    model.fit(x, np.eye(3)[[0, 1, 2, 0]], epochs=1, verbose=0)  # the layer runs inside the train step
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("augmentation"), Augmentation)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_augmentation_works_in_float16_for_mixed_precision():
    x, d = batch(), draws(6)
    out = pipeline.augment(ops.cast(x, "float16"), d, STUDY)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(ops.convert_to_numpy(out).astype("float32"), augment(x, STUDY, d), atol=1.0)
