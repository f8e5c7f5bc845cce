"""The stratified, seeded train/val split of the audited images (duplicate groups: tests/test_audit.py)."""

import hashlib

import pandas as pd
import pytest

from mribench.sources import DatasetError
from mribench.split import split_dataset, write_split

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def audited_images(train_per_class=20, test_per_class=5):
    """Rows as the audit writes them for a dataset without duplicates."""
    rows = []
    for folder, n in (("Training", train_per_class), ("Testing", test_per_class)):
        for label in CLASSES:
            for i in range(n):
                path = f"{folder}/{label}/{label}_{i:03d}.jpg"
                rows.append(
                    {
                        "path": path,
                        "folder": folder,
                        "label": label,
                        "status": "ok",
                        "sha256": hashlib.sha256(path.encode()).hexdigest(),
                        "pixel_group": -1,
                        "train_twin": "",
                    }
                )
    return pd.DataFrame(rows)


def test_split_is_stratified_and_keeps_testing_whole():
    split = split_dataset(audited_images(), val_fraction=0.2, seed=42)
    assert list(split.columns[:4]) == ["path", "label", "split", "sha256"]
    counts = pd.crosstab(split.label, split.split)
    assert (counts["val"] == 4).all() and (counts["train"] == 16).all() and (counts["test"] == 5).all()
    assert split[split.split == "test"].path.str.startswith("Testing/").all()


def test_same_seed_gives_a_byte_identical_split(tmp_path):
    audit_csv = tmp_path / "audit.csv"
    audited_images().to_csv(audit_csv, index=False)
    for name, seed in (("a.csv", 7), ("b.csv", 7), ("c.csv", 8)):
        write_split(audit_csv, tmp_path / name, 0.2, seed=seed, test_overlap="keep")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.csv").read_bytes() != (tmp_path / "c.csv").read_bytes()


def test_only_valid_images_are_split(tmp_path):
    images = audited_images()
    images.loc[0, "status"] = "invalid"
    images.to_csv(tmp_path / "audit.csv", index=False)
    write_split(tmp_path / "audit.csv", tmp_path / "split.csv", 0.2, seed=1, test_overlap="keep")
    assert images.path[0] not in set(pd.read_csv(tmp_path / "split.csv").path)


def test_too_few_images_for_a_stratified_split():
    images = audited_images()
    kept = ~images.path.str.startswith("Training/notumor/") | images.path.str.endswith(
        ("_000.jpg", "_001.jpg")
    )
    images = images[kept]
    with pytest.raises(DatasetError, match="notumor.*too few distinct images"):
        split_dataset(images, val_fraction=0.2, seed=1)


def test_a_class_made_only_of_copies_of_another_class_is_named():
    """Every notumor image is a pixel copy of a glioma image: no notumor group is left to stratify."""
    images = audited_images()
    training = images.folder == "Training"
    for i in range(20):
        glioma = training & (images.path == f"Training/glioma/glioma_{i:03d}.jpg")
        notumor = training & (images.path == f"Training/notumor/notumor_{i:03d}.jpg")
        images.loc[glioma | notumor, "pixel_group"] = i
    # two glioma copies against one notumor copy in each group: glioma is each group's label
    extra = images[training & images.label.eq("glioma")].assign(path=lambda t: t.path + ".copy.jpg")
    images = pd.concat([images, extra], ignore_index=True)
    with pytest.raises(DatasetError, match=r"'notumor': 0\}.*too few distinct images"):
        split_dataset(images, val_fraction=0.2, seed=1)
