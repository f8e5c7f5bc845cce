"""Tests of the synthetic phantom dataset (mribench.phantoms)."""

from collections import Counter

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mribench.phantoms import KNOWN_CLASSES, generate_dataset, render_phantom

KAGGLE_PREFIX = {"glioma": "gl", "meningioma": "me", "notumor": "no", "pituitary": "pi"}
SMALL = dict(train_per_class=12, test_per_class=6, image_size=64)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    dest = tmp_path_factory.mktemp("phantoms")
    generate_dataset(dest, KNOWN_CLASSES, seed=0, **SMALL)
    return dest


def file_bytes(root):
    return {path.relative_to(root): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


# --- determinism -------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_files(small_dataset, tmp_path):
    generate_dataset(tmp_path, KNOWN_CLASSES, seed=0, **SMALL)
    assert file_bytes(tmp_path) == file_bytes(small_dataset)


def test_different_seed_gives_different_files(small_dataset, tmp_path):
    generate_dataset(tmp_path, KNOWN_CLASSES, seed=1, **SMALL)
    reference, other = file_bytes(small_dataset), file_bytes(tmp_path)
    assert other.keys() == reference.keys()
    assert all(other[name] != reference[name] for name in reference)


def test_rerun_overwrites_existing_files(small_dataset, tmp_path):
    generate_dataset(tmp_path, KNOWN_CLASSES, seed=1, **SMALL)
    generate_dataset(tmp_path, KNOWN_CLASSES, seed=0, **SMALL)
    assert file_bytes(tmp_path) == file_bytes(small_dataset)  # and no temporary files left


def test_an_image_does_not_depend_on_how_many_others_are_generated(small_dataset, tmp_path):
    generate_dataset(tmp_path, ["glioma"], train_per_class=1, test_per_class=0, image_size=64, seed=0)
    name = "Training/glioma/Tr-gl_0000.jpg"
    assert (tmp_path / name).read_bytes() == (small_dataset / name).read_bytes()


# --- layout and file formats ---------------------------------------------------------------


def test_layout_counts_and_kaggle_file_names(small_dataset):
    assert sorted(path.name for path in small_dataset.iterdir()) == ["Testing", "Training"]
    for split, prefix, count in (("Training", "Tr", 12), ("Testing", "Te", 6)):
        assert sorted(path.name for path in (small_dataset / split).iterdir()) == sorted(KNOWN_CLASSES)
        for label in KNOWN_CLASSES:
            names = sorted(path.name for path in (small_dataset / split / label).iterdir())
            assert names == [f"{prefix}-{KAGGLE_PREFIX[label]}_{i:04d}.jpg" for i in range(count)]


def test_images_decode_with_mixed_modes_and_sizes(small_dataset):
    modes, sizes = Counter(), set()
    for path in small_dataset.rglob("*.jpg"):
        with Image.open(path) as image:
            image.load()
            assert image.format == "JPEG"
            modes[image.mode] += 1
            sizes.add(image.size)
            if image.mode == "RGB":
                pixels = np.asarray(image, dtype=int)
                assert np.abs(pixels - pixels[..., :1]).max() <= 2  # grey stored as RGB
    assert set(modes) == {"L", "RGB"}
    assert modes["L"] > modes["RGB"]
    assert (64, 64) in sizes
    assert any(width != height for width, height in sizes)
    assert all(51 <= side <= 77 for size in sizes for side in size)


def test_older_kaggle_class_names_are_accepted(tmp_path):
    generate_dataset(tmp_path, ["glioma_tumor", "no_tumor"], 1, 0, image_size=32)
    assert (tmp_path / "Training" / "glioma_tumor" / "Tr-gl_0000.jpg").is_file()
    assert (tmp_path / "Training" / "no_tumor" / "Tr-no_0000.jpg").is_file()


def test_unknown_class_fails_before_writing_anything(tmp_path):
    with pytest.raises(ValueError, match="astrocytoma"):
        generate_dataset(tmp_path, ["glioma", "astrocytoma"], 1, 1, image_size=32)
    assert not any(tmp_path.iterdir())


# --- what the slices show --------------------------------------------------------------------


@pytest.mark.parametrize("label", KNOWN_CLASSES)
def test_render_phantom_is_a_head_on_a_dark_background(label):
    image = render_phantom(label, np.random.default_rng(3), size=96)
    assert image.shape == (96, 96) and image.dtype == np.uint8
    corners = np.concatenate([image[:8, :8], image[:8, -8:], image[-8:, :8], image[-8:, -8:]])
    assert corners.mean() < 30
    assert image[24:72, 24:72].mean() > 70


def head_frame(image):
    """Centre and semi-axes (pixels) of the head outline, found by thresholding."""
    head = ndimage.binary_fill_holes(ndimage.gaussian_filter(image.astype(float), 2) > 60)
    ys, xs = np.nonzero(head)
    return xs.mean(), ys.mean(), np.ptp(xs) / 2, np.ptp(ys) / 2


def lesion_change(label, seed, size=128):
    """Where `label`'s lesion changes the slice, relative to the same slice without one.

    render_phantom draws anatomy and scanner from their own generators, so a
    generator in the same state gives the same head for every class.
    Returns the smoothed difference image, the changed-pixel mask, and the changed
    pixels' coordinates in head units (centre 0, outline at radius ~1, y downwards).
    """
    plain = render_phantom("notumor", np.random.default_rng(seed), size).astype(float)
    lesion = render_phantom(label, np.random.default_rng(seed), size).astype(float)
    cx, cy, rx, ry = head_frame(plain)
    difference = ndimage.gaussian_filter(lesion - plain, 1)
    changed = np.abs(difference) > 12
    ys, xs = np.nonzero(changed)
    return difference, changed, (xs - cx) / rx, (ys - cy) / ry


SEEDS = range(30)


def test_notumor_has_no_lesion():
    for seed in SEEDS:
        _, changed, _, _ = lesion_change("notumor", seed)
        assert not changed.any()


def test_glioma_changes_the_brain_away_from_the_skull():
    for seed in SEEDS:
        _, changed, x, y = lesion_change("glioma", seed)
        assert changed.sum() > 100
        assert np.hypot(x.mean(), y.mean()) < 0.65  # centred well inside the head
        assert np.hypot(x, y).max() < 0.9  # never reaches the skull (inner edge ~0.89)


def test_meningioma_is_bright_and_against_the_skull():
    for seed in SEEDS:
        difference, changed, x, y = lesion_change("meningioma", seed)
        assert changed.sum() > 100
        assert difference[changed].mean() > 20
        assert np.hypot(x.mean(), y.mean()) > 0.55
        assert np.hypot(x, y).max() > 0.8


def test_pituitary_is_small_bright_and_at_the_bottom_midline():
    for seed in SEEDS:
        difference, changed, x, y = lesion_change("pituitary", seed)
        assert 20 < changed.sum() < 0.06 * changed.size
        assert difference[changed].mean() > 20
        assert abs(x.mean()) < 0.2
        assert y.mean() > 0.35


# --- learnable but not trivial ------------------------------------------------------------


def pixels_32(split_dir):
    """32x32 grey pixels (rows) and class indices of every image under `split_dir`."""
    features, labels = [], []
    for index, label in enumerate(KNOWN_CLASSES):
        for path in sorted((split_dir / label).glob("*.jpg")):
            with Image.open(path) as image:
                small = image.convert("L").resize((32, 32), Image.Resampling.BILINEAR)
            features.append(np.asarray(small, dtype=np.float32).ravel() / 255)
            labels.append(index)
    return np.array(features), np.array(labels)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_linear_model_on_pixels_learns_something_but_not_everything(tmp_path, seed):
    generate_dataset(
        tmp_path, KNOWN_CLASSES, train_per_class=60, test_per_class=30, image_size=128, seed=seed
    )
    x_train, y_train = pixels_32(tmp_path / "Training")
    x_test, y_test = pixels_32(tmp_path / "Testing")
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    accuracy = model.fit(x_train, y_train).score(x_test, y_test)
    assert 0.45 < accuracy < 0.95  # chance is 0.25; seeds 0-7 give 0.62-0.73


def test_generating_in_several_processes_writes_the_same_files(tmp_path):
    import hashlib

    def digests(root):
        return {
            str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.jpg")
        }

    generate_dataset(tmp_path / "one", ["glioma", "notumor"], 3, 2, image_size=48)
    generate_dataset(tmp_path / "two", ["glioma", "notumor"], 3, 2, image_size=48, processes=2)
    assert len(digests(tmp_path / "one")) == 10
    assert digests(tmp_path / "one") == digests(tmp_path / "two")
