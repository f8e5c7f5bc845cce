"""Listing the dataset and the stratified, seeded train/val split."""

import hashlib

import pandas as pd
import pytest

from mribench.sources import DatasetError
from mribench.split import list_dataset, split_dataset, write_split

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "dataset"
    for folder, n in (("Training", 20), ("Testing", 5)):
        for label in CLASSES:
            (root / folder / label).mkdir(parents=True)
            for i in range(n):
                (root / folder / label / f"{label}_{i:03d}.jpg").write_bytes(f"{folder}{label}{i}".encode())
    return root


def test_lists_every_file_with_its_hash(dataset):
    (dataset / "Training" / "glioma" / ".DS_Store").write_bytes(b"hidden")
    files = list_dataset(dataset, CLASSES)
    assert len(files) == 4 * 25
    row = files[files.path == "Training/glioma/glioma_003.jpg"].iloc[0]
    assert row.label == "glioma" and row.folder == "Training"
    assert row.sha256 == hashlib.sha256(b"Trainingglioma3").hexdigest()


def test_split_is_stratified_and_keeps_testing_whole(dataset):
    split = split_dataset(list_dataset(dataset, CLASSES), val_fraction=0.2, seed=42)
    assert list(split.columns) == ["path", "label", "split", "sha256"]
    counts = pd.crosstab(split.label, split.split)
    assert (counts["val"] == 4).all() and (counts["train"] == 16).all() and (counts["test"] == 5).all()
    assert split[split.split == "test"].path.str.startswith("Testing/").all()


def test_same_seed_gives_a_byte_identical_split(dataset, tmp_path):
    write_split(dataset, tmp_path / "a.csv", CLASSES, 0.2, seed=7)
    write_split(dataset, tmp_path / "b.csv", CLASSES, 0.2, seed=7)
    write_split(dataset, tmp_path / "c.csv", CLASSES, 0.2, seed=8)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_unknown_class_folder_is_named(dataset):
    (dataset / "Testing" / "astrocytoma").mkdir()
    with pytest.raises(DatasetError, match=r"Testing has class folders \['astrocytoma'\] that are not in"):
        list_dataset(dataset, CLASSES)


def test_empty_class_folder_is_named(dataset):
    for f in (dataset / "Testing" / "pituitary").iterdir():
        f.unlink()
    with pytest.raises(DatasetError, match="Testing/pituitary is missing or holds no images"):
        list_dataset(dataset, CLASSES)


def test_too_few_images_for_a_stratified_split(dataset):
    for f in list((dataset / "Training" / "notumor").iterdir())[2:]:
        f.unlink()
    with pytest.raises(DatasetError, match="notumor.*too few images"):
        split_dataset(list_dataset(dataset, CLASSES), val_fraction=0.2, seed=1)
