"""Repeated k-fold cross-validation folds (mribench.folds): grouped by the audit's duplicate groups,
stratified, seeded per repeat, and the held-out fold outside training and inner validation."""

import pandas as pd
import pytest
from test_audit import jpeg_bytes, phantom, png_bytes, write

from mribench.audit import audit_dataset
from mribench.folds import assign_folds, fold_split, repeat_seed, write_folds
from mribench.sources import DatasetError

CLASSES = ["glioma", "meningioma"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    """A real audit of phantoms with an exact copy, a PNG pixel copy and a resized near twin planted."""
    root = tmp_path_factory.mktemp("folds")
    for label in CLASSES:
        for i in range(12):
            write(
                root,
                f"Training/{label}/{label}_{i:02d}.jpg",
                jpeg_bytes(phantom(label, 100 * (label == "glioma") + i)),
            )
        write(root, f"Testing/{label}/{label}_t.jpg", jpeg_bytes(phantom(label, 999)))
    original = (root / "Training/glioma/glioma_00.jpg").read_bytes()
    write(root, "Training/glioma/exact_copy.jpg", original)
    write(root, "Training/glioma/pixel_copy.png", png_bytes(phantom("glioma", 100)))
    write(root, "Training/meningioma/near_twin.jpg", jpeg_bytes(phantom("meningioma", 3).resize((90, 90))))
    files, _ = audit_dataset(root, CLASSES, "error", near_distance=4, threads=1)
    return files[files.status == "ok"].reset_index(drop=True)


def same_fold_within_groups(assignment, files):
    """No exact, pixel or near group of the audit has members in two folds."""
    merged = files.merge(assignment[["path", "fold"]], on="path")
    for column in ("exact_group", "pixel_group", "near_group"):
        grouped = merged[merged[column] >= 0]
        assert (grouped.groupby(column).fold.nunique() == 1).all(), column


def test_no_duplicate_group_spans_two_folds(audited):
    groups = audited.set_index("path")
    near = groups.loc["Training/meningioma/near_twin.jpg", "near_group"]
    assert near >= 0 and groups.loc["Training/meningioma/meningioma_03.jpg", "near_group"] == near
    assert groups.loc["Training/glioma/exact_copy.jpg", "pixel_group"] >= 0
    for seed in range(5):
        assignment = assign_folds(audited, folds=3, val_fraction=0.25, seed=seed)
        same_fold_within_groups(assignment, audited)
        for fold in range(3):  # the inner validation keeps groups whole too
            inner = assignment[assignment[f"f{fold}"] == "val"]
            outside = assignment[assignment[f"f{fold}"] == "train"]
            assert not set(inner.group) & set(outside.group)
            assert (assignment[f"f{fold}"] == "test").equals(assignment.fold == fold)


def synthetic(counts):
    """Audit rows without duplicates: `counts` Training images per class (and one Testing image)."""
    rows = [
        {"path": f"{folder}/{label}/{i:03d}.jpg", "folder": folder, "label": label, "sha256": f"{label}{i}",
         "exact_group": -1, "pixel_group": -1, "near_group": -1, "train_twin": ""}  # fmt: skip
        for label, n in counts.items()
        for folder, i in [("Training", i) for i in range(n)] + [("Testing", 0)]
    ]
    return pd.DataFrame(rows)


def test_folds_are_stratified_within_one_image():
    counts = {"glioma": 23, "meningioma": 17, "notumor": 10, "pituitary": 31}
    assignment = assign_folds(synthetic(counts), folds=4, val_fraction=0.2, seed=3)
    per_class = pd.crosstab(assignment.label, assignment.fold)
    for label, n in counts.items():
        assert (abs(per_class.loc[label] - n / 4) < 1).all(), per_class
    sizes = assignment.fold.value_counts()
    assert (abs(sizes - sum(counts.values()) / 4) < 1).all(), sizes


def test_the_held_out_fold_is_neither_trained_on_nor_validated_on():
    images = synthetic({"glioma": 20, "meningioma": 20})
    assignment = assign_folds(images, folds=4, val_fraction=0.2, seed=1)
    for fold in range(4):
        split = fold_split(assignment, images, fold)
        held_out = set(assignment.path[assignment.fold == fold])
        assert set(split.path[split.split == "test"]) == held_out
        assert not held_out & set(split.path[split.split.isin(["train", "val"])])
        assert pd.crosstab(split.label, split.split)["val"].tolist() == [3, 3]  # 0.2 of 15 per class
        assert not split.path.str.startswith("Testing/").any()


def test_repeats_differ_by_seed_and_are_reproducible(tmp_path):
    synthetic({"glioma": 20, "meningioma": 20}).assign(status="ok").to_csv(
        tmp_path / "audit.csv", index=False
    )
    outputs = {}
    for name, repeat in (("a", 0), ("b", 0), ("c", 1)):
        splits = [tmp_path / f"{name}{fold}.csv" for fold in range(2)]
        write_folds(tmp_path / "audit.csv", tmp_path / f"{name}.csv", splits, 2, repeat, 0.2, split_seed=42)
        outputs[name] = [(tmp_path / f"{name}.csv").read_bytes()] + [s.read_bytes() for s in splits]
    assert outputs["a"] == outputs["b"]
    assert outputs["a"][0] != outputs["c"][0]
    assert repeat_seed(42, 0) != repeat_seed(42, 1) != repeat_seed(43, 1)


def test_more_folds_than_the_smallest_class_has_groups_is_refused():
    images = synthetic({"glioma": 20, "meningioma": 4})
    copies = images.path.isin(["Training/meningioma/000.jpg", "Training/meningioma/001.jpg"])
    images.loc[copies, "pixel_group"] = 7  # two copies of one image: 3 distinct meningioma images
    with pytest.raises(DatasetError, match=r"`cross_validation.folds`: 4 folds.*'meningioma' has only 3"):
        assign_folds(images, folds=4, val_fraction=0.2, seed=0)
    with pytest.raises(DatasetError, match=r"too few distinct images per class .*'meningioma': 2"):
        assign_folds(images, folds=3, val_fraction=0.2, seed=0)  # no inner validation image left
    assert assign_folds(images, folds=3, val_fraction=0.5, seed=0).fold.nunique() == 3
