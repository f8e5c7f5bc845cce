"""Repeated k-fold cross-validation of the Training images: folds stratified by class and grouped.

One split gives one number per target, while the study ranks targets on differences of a few points.
With `cross_validation: {folds: k, repeats: r}` every target also trains k x r times, each time on
all Training images but one fold's, and is scored on that held-out fold.

Grouped: copies of one image must never sit on both sides, or a held-out image was trained on. Here
the groups are the connected components of the audit's exact, pixel AND near-duplicate groups
(stricter than the single split, which ignores near duplicates: a fold is a test set, and a near twin
in training inflates it). A group goes to one fold as a whole, under the label most of its images carry.

Stratified: per class, the groups are dealt largest first, each to the fold with the fewest images of
that class (ties: the fewest images in all, then a seeded shuffle), so with groups of one image every
fold's class counts and size are within one image of k equal shares.

Each fold's training part (the other folds) gives up an inner validation split, grouped and
stratified too, for EarlyStopping, ReduceLROnPlateau and selection: the held-out fold is never read by
training or by any choice. Every fold of a repeat is written as a split.csv of its own (train, val,
test = the held-out fold), so training, evaluation and the shortcut baselines read it like split.csv.
"""

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mribench.sources import DatasetError
from mribench.split import COLUMNS

# The outputs of one repeat's cross_validation_folds job: the assignment and each fold's split.csv.
ASSIGNMENT = "results/data/folds/r{repeat}/folds.csv"
FOLD_SPLIT = "results/data/folds/r{repeat}/f{fold}.csv"
ASSIGNMENT_COLUMNS = ["path", "label", "group", "fold"]  # then f0, f1, ...: each row's role in that fold


def check_groups(folds, groups):
    """Refuse more folds than the class with the fewest groups has: some fold would lack it."""
    counts = groups.label.value_counts()
    label, n = counts.idxmin(), int(counts.min())
    if folds > n:
        raise DatasetError(
            f"config key `cross_validation.folds`: {folds} folds, but Training class {label!r} has only {n} "
            f"distinct images (copies and near duplicates of one image count once, results/data/audit.csv "
            f"lists them); give at most {n} folds or add images"
        )


def duplicate_groups(training):
    """A group id per Training row: connected components of its exact, pixel and near groups."""
    n = len(training)
    edges = []
    for column in ("exact_group", "pixel_group", "near_group"):
        ids = training[column].to_numpy()
        for members in pd.Series(np.arange(n))[ids >= 0].groupby(ids[ids >= 0]):
            rows = members[1].to_numpy()
            edges.append(np.stack([rows[:-1], rows[1:]], axis=1))
    edges = np.concatenate(edges) if edges else np.empty((0, 2), dtype=int)
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def group_table(training):
    """One row per group: its label (the one most of its images carry) and its size."""
    by_group = training.groupby("group", sort=True)
    return pd.DataFrame(
        {"label": by_group.label.agg(lambda labels: labels.mode()[0]), "size": by_group.size()}
    )


def deal_folds(groups, folds, seed):
    """Fold index per group (groups: label and size), stratified by class (see the module)."""
    order = np.random.default_rng(seed).permutation(len(groups))
    shuffled = groups.iloc[order]
    fold_of = pd.Series(-1, index=groups.index)
    total = np.zeros(folds, int)
    for _, members in shuffled.groupby("label", sort=True):
        per_class = np.zeros(folds, int)
        for group, size in members["size"].sort_values(ascending=False, kind="stable").items():
            fold = min(range(folds), key=lambda f: (per_class[f], total[f]))
            fold_of[group] = fold
            per_class[fold] += size
            total[fold] += size
    return fold_of


def inner_validation(groups, val_fraction, seed, fold):
    """The groups of a fold's training part that validate it: a grouped, stratified val_fraction."""
    counts = groups.label.value_counts()
    if (counts * val_fraction < 1).any() or (counts * (1 - val_fraction) < 1).any():
        raise DatasetError(
            f"fold {fold}'s training part has too few distinct images per class "
            f"({counts.to_dict()}) to carve an inner validation split with dataset.val_fraction "
            f"{val_fraction}; use fewer cross_validation.folds, another val_fraction, or add images"
        )
    from sklearn.model_selection import train_test_split  # here, not atop: as in mribench.split

    _, val = train_test_split(groups.index, test_size=val_fraction, stratify=groups.label, random_state=seed)
    return set(val)


def assign_folds(images, folds, val_fraction, seed):
    """The fold assignment of the audit's valid Training images: ASSIGNMENT_COLUMNS (`fold`: the fold
    that holds the image out), then per fold f a column f<f> with the image's role in it: train, val
    (its inner validation) or test (held out)."""
    training = images[images.folder == "Training"].sort_values("path").reset_index(drop=True)
    training = training.assign(group=duplicate_groups(training))
    groups = group_table(training)
    check_groups(folds, groups)
    fold_of = deal_folds(groups, folds, seed)
    training["fold"] = training.group.map(fold_of)
    roles = {}
    for fold in range(folds):
        val = inner_validation(groups[fold_of != fold], val_fraction, seed + fold + 1, fold)
        held_out = training.fold == fold
        roles[f"f{fold}"] = np.where(held_out, "test", np.where(training.group.isin(val), "val", "train"))
    return training[ASSIGNMENT_COLUMNS].assign(**roles)


def fold_split(assignment, images, fold):
    """A split.csv (split.COLUMNS) for one fold of the audit's valid `images`: train, val (its inner
    validation) and test (the held-out fold). Training images have no train_twin: only Testing's do."""
    rows = images.set_index("path").loc[assignment.path].reset_index()
    role = assignment[f"f{fold}"].to_numpy()
    return rows.assign(split=role, duplicate_group=rows.pixel_group)[COLUMNS]


def repeat_seed(split_seed, repeat):
    """The seed of one repeat's folds: differs between repeats, the same on every run."""
    return int(np.random.SeedSequence([split_seed, repeat]).generate_state(1)[0] % 2**31)


def write_folds(audit_csv, out_assignment, out_splits, folds, repeat, val_fraction, split_seed):
    """One repeat's fold assignment and a split.csv per fold (`out_splits`, in fold order). Only the
    audit is read, not split.csv, so that the single split's settings do not re-run the folds."""
    audit = pd.read_csv(audit_csv, keep_default_na=False)
    images = audit[audit.status == "ok"]
    assignment = assign_folds(images, folds, val_fraction, repeat_seed(split_seed, repeat))
    assignment.insert(3, "repeat", repeat)
    assignment.to_csv(out_assignment, index=False)
    for fold, out in enumerate(out_splits):
        fold_split(assignment, images, fold).to_csv(out, index=False)
    print(pd.crosstab(assignment.fold, assignment.label).to_string())
