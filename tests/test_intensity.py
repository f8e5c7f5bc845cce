"""The intensity transform on its own (mribench.intensity): matched images have the reference histogram,
keep the order of their pixels, and every input goes through the one decode function first; and on
phantoms with a planted class-wise intensity shift, it takes that shortcut away from the histogram
baseline, while on the ordinary phantoms a CNN that learned their lesions keeps most of its accuracy."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import read_json
from PIL import Image
from scipy.ndimage import gaussian_filter

from mribench import baselines, images, intensity
from mribench.audit import write_audit
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.split import write_split

SIZE = 48


def smooth_image(seed, low=20, high=200):
    """A grey image with structure (smoothed noise) stored as RGB, as load_image gives MRI slices."""
    noise = gaussian_filter(np.random.default_rng(seed).random((SIZE, SIZE)), 3)
    grey = low + (noise - noise.min()) / np.ptp(noise) * (high - low)
    return np.repeat(np.rint(grey).astype(np.uint8)[..., None], 3, axis=-1)


def a_reference(seed=0):
    """A reference unlike the images': most mass dark, a tail of bright levels, some levels empty."""
    shares = np.random.default_rng(seed).gamma(0.5, size=intensity.LEVELS) * np.exp(-np.arange(256) / 60)
    shares[100:110] = 0
    return shares / shares.sum()


def assert_has_reference_histogram(pixels, reference):
    """Within the binning of exact specification: each level off by less than one pixel of a channel."""
    one_pixel = 1 / (pixels.shape[0] * pixels.shape[1])
    histogram = intensity.grey_level_histogram(pixels)
    np.testing.assert_allclose(histogram, reference, rtol=0, atol=one_pixel + 1e-12)
    binned = histogram.reshape(baselines.HISTOGRAM_BINS, -1).sum(axis=1)  # what the baseline reads
    np.testing.assert_allclose(binned, reference.reshape(baselines.HISTOGRAM_BINS, -1).sum(axis=1), atol=0.01)


def assert_order_kept(original, matched):
    """A pixel darker than another is never brighter after matching (in every channel)."""
    for channel in range(original.shape[-1]):
        before, after = original[..., channel].ravel(), matched[..., channel].ravel()
        order = np.lexsort((after, before))  # by the original value; equal ones may be split, in any order
        assert np.all(np.diff(after[order].astype(int)) >= 0)


def test_a_matched_image_has_the_reference_histogram_and_keeps_its_order():
    reference, image = a_reference(), smooth_image(1)
    matched = intensity.match(image, reference)
    assert matched.dtype == np.uint8 and matched.shape == image.shape
    assert_has_reference_histogram(matched, reference)
    assert_order_kept(image, matched)
    assert (matched == matched[..., :1]).all()  # a grey image stays grey
    # the structure stays: the matched image is a monotone function of the original, so the two
    # are rank-correlated almost perfectly (only levels the reference lacks are merged)
    assert pd.Series(image[..., 0].ravel()).corr(pd.Series(matched[..., 0].ravel()), method="spearman") > 0.99
    np.testing.assert_array_equal(intensity.match(matched, reference), matched)  # matching twice: the same


def test_a_background_level_is_split_to_fit_the_reference():
    """Classic matching maps a grey level to one level, so 60 % black stays 60 % in the darkest bin;
    exact specification splits it by the neighbourhood mean (darkest far from the head)."""
    image = smooth_image(2)
    image[:, : int(0.6 * SIZE)] = 0
    reference = np.full(intensity.LEVELS, 1 / intensity.LEVELS)  # flat: 0.4 % per level
    matched = intensity.match(image, reference)
    assert_has_reference_histogram(matched, reference)
    assert matched[:, 0].max() < matched[:, int(0.6 * SIZE) - 1].min()  # far background darker than near


def test_the_reference_weighs_every_class_alike():
    histograms = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(intensity.reference_histogram(histograms, ["a", "a", "a", "b"]), [0.5, 0.5])


def test_16_bit_and_colour_inputs_are_decoded_before_matching(tmp_path):
    """Through images.load_image: a 16-bit slice is scaled from its own range by mribench.decoding,
    then matched; a colour image's three channels are matched together, each keeping its order."""
    reference = a_reference(3)
    grey = smooth_image(4)[..., 0].astype(np.uint16) * 16 + 1000  # 12-bit-like values, 1320..4200
    path16 = tmp_path / "slice16.png"
    Image.fromarray(grey).save(path16)
    assert Image.open(path16).mode == "I;16"
    decoded = images.load_image(path16, SIZE)
    matched = images.load_image(path16, SIZE, reference)
    np.testing.assert_array_equal(matched, intensity.match(decoded, reference))
    assert_has_reference_histogram(matched, reference)
    assert_order_kept(decoded, matched)

    colour = np.stack([smooth_image(seed)[..., 0] for seed in (5, 6, 7)], axis=-1)
    path_rgb = tmp_path / "colour.png"
    Image.fromarray(colour, "RGB").save(path_rgb)
    matched = images.load_image(path_rgb, SIZE, reference)
    one_pixel_of_three = 1 / (3 * SIZE * SIZE)  # the channels share one order: the pooled histogram fits
    np.testing.assert_allclose(intensity.grey_level_histogram(matched), reference, atol=one_pixel_of_three)
    assert_order_kept(colour, matched)


CLASSES = list(KNOWN_CLASSES)
PER_CLASS = 50
N_TEST = PER_CLASS * len(CLASSES)
CHANCE = 1 / len(CLASSES)
CHANCE_SD = math.sqrt(CHANCE * (1 - CHANCE) / N_TEST)  # a guesser's spread on N_TEST images: 3.1 points
GAMMA = dict(zip(CLASSES, (0.5, 0.8, 1.25, 2.0), strict=True))  # a strong intensity shift per class


def phantom_study(root, gamma=None):
    """Phantoms (PER_CLASS train and test images a class), their audit, split and reference histogram;
    `gamma`: class -> the gamma each of that class's images goes through."""
    generate_dataset(
        root / "dataset",
        CLASSES,
        train_per_class=PER_CLASS,
        test_per_class=PER_CLASS,
        image_size=SIZE,
        seed=0,
    )
    for path in sorted((root / "dataset").rglob("*.jpg")) if gamma else ():
        grey = np.asarray(Image.open(path).convert("L"), float) / 255
        Image.fromarray(np.rint(255 * grey ** gamma[path.parent.name]).astype(np.uint8)).save(
            path, quality=95
        )
    write_audit(root / "dataset", root / "audit.json", root / "audit.csv", CLASSES, "error", 4, 2)
    write_split(root / "audit.csv", root / "split.csv", val_fraction=0.2, seed=0, test_overlap="keep")
    intensity.write_reference(root / "split.csv", root / "dataset", 32, root / "reference.json", threads=2)
    return root


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    """Phantoms whose classes also differ in grey-level distribution, as the real set's sources do:
    each class's images through its own gamma."""
    return phantom_study(tmp_path_factory.mktemp("shifted"), GAMMA)


def histogram_baseline(root, name, **options):
    out = root / name
    out.mkdir()
    (out / "counterfactual").mkdir()
    view = intensity.CounterfactualView.of(
        root / "reference.json", out / "counterfactual/metrics.json", out / "counterfactual/predictions.csv"
    )
    baselines.train_baseline(
        "intensity_histogram", 42, CLASSES, root / "split.csv", out / "metrics.json", out / "predictions.csv",
        out / "train.json", out / "confusion.png", threads=2, dataset_dir=root / "dataset", image_size=32,
        counterfactual=view, **options,
    )  # fmt: skip
    return read_json(out / "metrics.json")["test"], read_json(out / "counterfactual/metrics.json")["test"]


def test_the_reference_is_pooled_over_the_training_images_only(shifted):
    record = json.loads((shifted / "reference.json").read_text())
    split = pd.read_csv(shifted / "split.csv")
    assert record["n_images"] == (split.split == "train").sum() < len(split)
    assert record["classes"] == sorted(CLASSES) and sum(record["reference"]) == pytest.approx(1)


def test_the_histogram_baseline_falls_to_chance_on_the_counterfactual_view(shifted):
    original, counterfactual = histogram_baseline(shifted, "original")
    assert original["accuracy"] > 0.9  # the planted shift gives the class away
    assert counterfactual["n_images"] == original["n_images"] == N_TEST
    # within 4 binomial sd of chance: a guesser fails this one time in 16,000
    assert abs(counterfactual["accuracy"] - CHANCE) < 4 * CHANCE_SD


def test_trained_on_matched_images_the_histogram_baseline_is_at_chance_on_both_views(shifted):
    original, counterfactual = histogram_baseline(shifted, "matched", intensity="matched")
    for view in (original, counterfactual):
        assert abs(view["accuracy"] - CHANCE) < 4 * CHANCE_SD
    assert read_json(shifted / "matched/train.json")["intensity"] == "matched"


def test_training_with_matched_intensity_reads_matched_images_and_records_the_reference(shifted):
    """preprocessing.intensity matched: the training job's images are matched to the reference, and the
    model's metadata carries it, so every later reader of images for that model matches them too."""
    from mribench.targets import Target
    from mribench.training import TrainingJob, load_split, model_metadata

    settings = {"classes": CLASSES, "image_size": 32, "preprocessing": {"intensity": "matched"}}
    job = TrainingJob(
        Target("vgg16", "feature_extraction", 42), settings, shifted / "split.csv", shifted / "dataset",
        intensity_reference=shifted / "reference.json",
    )  # fmt: skip
    reference = intensity.read_reference(shifted / "reference.json")
    for pixels, _ in load_split(job, threads=2, cache_dir=None).values():
        for image in pixels[:: len(pixels) // 5]:
            assert_has_reference_histogram(image, reference)
    np.testing.assert_array_equal(intensity.model_reference(model_metadata(job)), reference)
    assert intensity.model_reference({"classes": CLASSES}) is None  # a model trained on decoded images


@pytest.fixture(scope="module")
def lesions_only(tmp_path_factory):
    """The phantoms as the demo makes them: the class is the lesion (the histogram baseline still
    scores about 53 % on them, from the bright lesions' pixels, but no class has a grey-level shift)."""
    return phantom_study(tmp_path_factory.mktemp("lesions_only"))


def test_a_model_that_learned_the_lesions_keeps_most_of_its_accuracy_on_the_counterfactual_view(lesions_only):
    """A small CNN trained on the ordinary phantoms, scored like evaluation scores a target: on the
    test images as decoded and on their counterfactual view (evaluation.predict of
    intensity.matched_copy). Matching keeps every image's pixel order, so the lesions' shapes and
    places survive it, and so does most of what the CNN learned from them."""
    import keras

    from mribench.evaluation import predict

    split = pd.read_csv(lesions_only / "split.csv")
    index = {name: i for i, name in enumerate(CLASSES)}

    def part(name):
        rows = split[split.split == name]
        return images.load_images(lesions_only / "dataset", rows.path, 32), rows.label.map(index).to_numpy()

    (x_train, y_train), (x_test, y_test) = part("train"), part("test")
    keras.utils.set_random_seed(0)
    cnn = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
            keras.layers.GlobalMaxPooling2D(),
            keras.layers.Dense(len(CLASSES), activation="softmax"),
        ]
    )
    cnn.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    cnn.fit(x_train.astype("float32"), y_train.astype("int64"), epochs=30, batch_size=16, verbose=0)

    reference = intensity.read_reference(lesions_only / "reference.json")
    original = (predict(cnn, x_test, 16).argmax(axis=1) == y_test).mean()
    counterfactual = (
        predict(cnn, intensity.matched_copy(x_test, reference, 2), 16).argmax(axis=1) == y_test
    ).mean()
    assert original > CHANCE + 4 * CHANCE_SD, original  # it learned the classes
    # measured on TensorFlow: 77.5 % and 70.5 %; three quarters of what it scores above chance survive
    assert counterfactual - CHANCE >= 0.75 * (original - CHANCE), (original, counterfactual)
