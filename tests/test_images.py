import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from mribench import images
from mribench.model import Augmentation, build_model

STUDY = {"rotation_degrees": 15, "zoom": 0.1, "shift": 0.1, "horizontal_flip": True, "brightness": 0.1}
NONE = {"rotation_degrees": 0, "zoom": 0, "shift": 0, "horizontal_flip": False, "brightness": 0}
SEED = tf.constant([7, 3])


def batch(n=6, size=24, seed=0):
    return tf.constant(np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)), tf.float32)


def test_all_ranges_zero_is_the_identity():
    x = batch()
    np.testing.assert_allclose(images.augment(x, NONE, SEED), x, atol=1e-4)


def test_flip_only_mirrors_the_images_it_flips():
    x = batch(n=16)
    flipped = images.random_parameters(16, NONE | {"horizontal_flip": True}, SEED)["flip"].numpy()
    assert 0 < flipped.sum() < 16
    out = images.augment(x, NONE | {"horizontal_flip": True}, SEED).numpy()
    expected = np.where(flipped[:, None, None, None], x.numpy()[:, :, ::-1], x.numpy())
    np.testing.assert_allclose(out, expected, atol=1e-3)


def test_a_pure_shift_moves_a_bright_dot_by_the_expected_pixels():
    image = np.zeros((1, 40, 40, 3), np.float32)
    image[0, 10, 12] = 255
    parameters = {
        "angle": tf.zeros(1),
        "zoom": tf.ones(1),
        "shift_x": tf.constant([0.1]),  # 4 px right
        "shift_y": tf.constant([-0.25]),  # 10 px up
        "flip": tf.constant([False]),
    }
    out = images.resample(image, images.affine_transforms(parameters, 40.0, 40.0)).numpy()
    assert np.unravel_index(out[0, :, :, 0].argmax(), (40, 40)) == (0, 16)
    assert out[0, 0, 16, 0] == pytest.approx(255)


@pytest.mark.parametrize("channels", ["grayscale", "colour"])
def test_resampling_gives_the_kernels_pixels_for_grayscale_and_colour_batches(channels):
    x = batch()
    if channels == "grayscale":  # resampled as one channel
        x = tf.repeat(x[..., :1], 3, axis=-1)
    transforms = images.affine_transforms(images.random_parameters(6, STUDY, SEED), 24.0, 24.0)
    expected = tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transforms,
        output_shape=[24, 24],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    np.testing.assert_array_equal(images.resample(x, transforms), expected)


def test_random_parameters_stay_within_the_configured_ranges():
    p = {k: v.numpy() for k, v in images.random_parameters(4000, STUDY, SEED).items()}
    assert np.abs(p["angle"]).max() <= np.radians(15) + 1e-6
    assert np.abs(p["angle"]).max() > np.radians(14)
    assert 0.9 - 1e-6 <= p["zoom"].min() and p["zoom"].max() <= 1.1 + 1e-6
    for key in ("shift_x", "shift_y"):
        assert np.abs(p[key]).max() <= 0.1 + 1e-6
    assert np.abs(p["brightness"]).max() <= 25.5 + 1e-4
    assert 0.45 < p["flip"].mean() < 0.55
    # independent draws: rotation and zoom are uncorrelated
    assert abs(np.corrcoef(p["angle"], p["zoom"])[0, 1]) < 0.1


def test_augmented_values_stay_in_the_0_255_range():
    out = images.augment(batch(), STUDY, SEED).numpy()
    assert out.min() >= 0 and out.max() <= 255


def test_the_training_stream_is_determined_by_the_seed():
    x = np.random.default_rng(0).integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    y = np.arange(20) % 4

    def first_batches(seed):
        stream = images.training_dataset(x, y, 4, 8, seed, STUDY).take(6)
        return [(a.numpy(), b.numpy()) for a, b in stream]

    one, again, other = first_batches(1), first_batches(1), first_batches(2)
    for (a, b), (c, d) in zip(one, again, strict=True):
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(b, d)
    assert not np.array_equal(one[0][0], other[0][0])
    # one epoch is 3 batches (8 + 8 + 4) holding every image once; the next epoch reshuffles
    assert [len(b) for _, b in one] == [8, 8, 4, 8, 8, 4]
    assert sorted(np.concatenate([b.argmax(1) for _, b in one[:3]])) == sorted(y)


def test_the_evaluation_pipeline_keeps_file_order_and_pixels():
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    y = np.arange(10) % 3
    batches = list(images.evaluation_dataset(x, y, 3, 4))
    np.testing.assert_array_equal(np.concatenate([a for a, _ in batches]), x.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b for _, b in batches]).argmax(1), y)


def test_datasets_larger_than_the_memory_share_go_to_a_file_cache(tmp_path, monkeypatch):
    for i, mode in enumerate(["RGB", "L", "RGB"]):
        Image.new(mode, (30, 20), color=(i * 50, 0, 0) if mode == "RGB" else 200).save(tmp_path / f"{i}.jpg")
    paths = [f"{i}.jpg" for i in range(3)]
    in_memory = images.load_images(tmp_path, paths, 16, cache_dir=tmp_path / "cache")
    assert type(in_memory) is np.ndarray and in_memory.shape == (3, 16, 16, 3)
    monkeypatch.setattr(images, "MEMORY_SHARE", 0)
    cached = images.load_images(tmp_path, paths, 16, cache_dir=tmp_path / "cache")
    assert isinstance(cached, np.memmap)
    np.testing.assert_array_equal(cached, in_memory)
    assert list((tmp_path / "cache").iterdir()) == []  # nothing left behind on disk


def test_augmentation_in_the_model_trains_and_is_inactive_at_inference(tmp_path):
    model = build_model(
        "mobilenetv2", 3, 32, None, dense_units=8, augmentation={"settings": STUDY, "seed": 1}
    )
    x = batch(n=4, size=32)
    layer = model.get_layer("augmentation")
    assert not np.allclose(layer(x, training=True), x)
    np.testing.assert_array_equal(layer(x, training=False), x)
    model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
    model.fit(x, np.eye(3)[[0, 1, 2, 0]], epochs=1, verbose=0)  # the layer runs inside the train step
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    assert isinstance(loaded.get_layer("augmentation"), Augmentation)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_augmentation_works_in_float16_for_mixed_precision():
    out = images.augment(tf.cast(batch(), tf.float16), STUDY, SEED)
    assert out.dtype == tf.float16
    np.testing.assert_allclose(out, images.augment(batch(), STUDY, SEED), atol=1.0)
