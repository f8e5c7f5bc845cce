"""List the dataset and split Training into train/val, stratified and seeded; Testing is the test set."""

import hashlib
from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from mribench.sources import SPLITS, DatasetError

COLUMNS = ["path", "label", "split", "sha256"]


def list_dataset(root, classes):
    """One row per image file: path relative to `root`, label, Kaggle folder, sha256 of the bytes."""
    root = Path(root)
    rows = []
    for folder in SPLITS:
        present = {p.name for p in (root / folder).iterdir() if p.is_dir() and not p.name.startswith(".")}
        if unknown := present - set(classes):
            raise DatasetError(
                f"{root / folder} has class folders {sorted(unknown)} that are not in dataset.classes "
                f"{list(classes)}; rename them or add them to config.yaml"
            )
        for label in classes:
            files = sorted(
                p for p in (root / folder / label).glob("*") if p.is_file() and not p.name.startswith(".")
            )
            if not files:
                raise DatasetError(f"class folder {root / folder / label} is missing or holds no images")
            rows += [(f.relative_to(root).as_posix(), label, folder, sha256(f)) for f in files]
    return pd.DataFrame(rows, columns=["path", "label", "folder", "sha256"])


def split_dataset(files, val_fraction, seed):
    """Assign train/val by a stratified split of Training, and test to all of Testing."""
    training = files[files.folder == "Training"]
    counts = training.label.value_counts()
    too_small = counts[counts * min(val_fraction, 1 - val_fraction) < 1]
    if len(too_small):
        raise DatasetError(
            f"Training classes {({label: int(n) for label, n in too_small.items()})} have too few images "
            f"for a stratified split with val_fraction {val_fraction}: each class needs at least one image "
            "on both sides; add images or change dataset.val_fraction"
        )
    train, val = train_test_split(
        training, test_size=val_fraction, stratify=training.label, random_state=seed
    )
    split = pd.concat(
        [
            train.assign(split="train"),
            val.assign(split="val"),
            files[files.folder == "Testing"].assign(split="test"),
        ]
    )
    return split.sort_values("path")[COLUMNS].reset_index(drop=True)


def write_split(dataset_dir, split_csv, classes, val_fraction, seed):
    split_dataset(list_dataset(dataset_dir, classes), val_fraction, seed).to_csv(split_csv, index=False)


def read_split(split_csv, split):
    table = pd.read_csv(split_csv)
    return table[table.split == split].reset_index(drop=True)


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
