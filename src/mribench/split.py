"""Split Training into train/val, stratified, seeded and duplicate-aware; Testing is the test set.

The rows come from the audit (results/data/audit.csv): only the images it found valid. Copies of one
image (exact or pixel duplicates) form a group that goes to train or to val as a whole, so a
validation image is never also trained on. Near duplicates are not grouped: a perceptual-hash
threshold pairs some distinct slices, and chaining such pairs could tie many images together.
"""

import numpy as np
import pandas as pd

from mribench.sources import DatasetError

COLUMNS = ["path", "label", "split", "sha256", "duplicate_group", "train_twin"]
LEAKED = ("exact", "pixel")  # test images with such a twin in Training are left out of test_dedup


def split_dataset(images, val_fraction, seed, test_overlap="keep"):
    """Assign train/val to Training images by groups, and test (or dropped) to Testing images.

    `images` has path, label, folder, sha256, pixel_group (-1: no duplicate) and train_twin.
    """
    training = images[images.folder == "Training"].sort_values("path")
    group = pd.Series(
        np.where(training.pixel_group >= 0, "group" + training.pixel_group.astype(str), training.path),
        index=training.index,
    )
    # A group of copies counts once, for the label most of its copies carry.
    group_labels = training.label.groupby(group, sort=False).agg(lambda labels: labels.mode()[0])
    counts = group_labels.value_counts().reindex(training.label.unique(), fill_value=0)
    too_small = counts[counts * min(val_fraction, 1 - val_fraction) < 1]
    if len(too_small):
        raise DatasetError(
            f"Training classes {({label: int(n) for label, n in too_small.items()})} have too few distinct "
            f"images for a stratified split with val_fraction {val_fraction}: each class needs at least one "
            "image on both sides (copies of one image count once, for the label most copies carry; "
            "results/data/audit.csv lists them); add images or change dataset.val_fraction"
        )
    # imported here: the Snakefile imports this module (through mribench.folds) for its paths, and
    # scikit-learn's model_selection took 0.6 s of every Snakemake start, dry run and cluster job
    from sklearn.model_selection import train_test_split

    _, val_groups = train_test_split(
        group_labels.index, test_size=val_fraction, stratify=group_labels, random_state=seed
    )
    training = training.assign(split=np.where(group.isin(val_groups), "val", "train"))
    testing = images[images.folder == "Testing"]
    leaked = testing.train_twin.isin(LEAKED)
    testing = testing.assign(split=np.where(leaked & (test_overlap == "drop"), "dropped", "test"))
    split = pd.concat([training, testing]).assign(duplicate_group=lambda t: t.pixel_group)
    return split.sort_values("path")[COLUMNS].reset_index(drop=True)


def write_split(audit_csv, split_csv, val_fraction, seed, test_overlap):
    audit = pd.read_csv(audit_csv, keep_default_na=False)
    images = audit[audit.status == "ok"]
    split = split_dataset(images, val_fraction, seed, test_overlap)
    split.to_csv(split_csv, index=False)
    print(split.groupby(["split", "label"]).size().unstack(fill_value=0).to_string())


def read_split(split_csv, split):
    table = pd.read_csv(split_csv, keep_default_na=False)
    return table[table.split == split].reset_index(drop=True)


def dedup_mask(rows):
    """Which test rows stay in the de-duplicated test set (no exact or pixel twin in Training)."""
    return ~rows.train_twin.isin(LEAKED)
