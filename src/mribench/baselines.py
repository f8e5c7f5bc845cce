"""Shortcut baselines: how much of the class the files give away without any anatomy.

The Kaggle set merges three public sets whose classes were not drawn alike from them, so image size,
colour mode, file size and intensity range differ by class, and a model can learn the source instead
of the tumour (shortcut learning; Zech et al. 2018, DeGrave et al. 2021). Two classifiers measure it,
trained on the train split and scored on the same test set as the CNN targets:

* file_metadata: what the audit records per file (width, height, aspect, file bytes, bytes per
  pixel, format, colour mode), no pixels;
* intensity_histogram: the grey-level histogram of each image as the models receive it (decoded
  and resized by mribench.images.load_image), no spatial information and so no anatomy.

Each is a seeded random forest: no scaling, no tuning, and it finds thresholds on sizes by itself.
Each writes metrics.json, predictions.csv and a train.json in the form of a CNN target's, so the
statistics and the report treat it as one more target (model "baseline", strategy its kind).
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import mribench
from mribench import images, plots, provenance, split
from mribench.evaluation import write_test_results
from mribench.targets import BASELINE_MODEL

BASELINES = {
    "file_metadata": "file metadata only (width, height, aspect, file bytes, bytes per pixel, format, "
    "colour mode), no pixels",
    "intensity_histogram": "grey-level histogram only, of the image as the models receive it, "
    "no spatial information",
}
# The baseline the counterfactual view must bring to chance (mribench.counterfactual).
HISTOGRAM_BASELINE = "intensity_histogram"
CATEGORICAL = ["format", "mode"]
HISTOGRAM_BINS = 32  # of 8 grey levels each
TREES = 300
TOP_FEATURES = 5


def metadata_features(rows, audit):
    """Per row of split.csv, the file's metadata from the audit table (columns read by name)."""
    files = audit.set_index("path")
    missing = sorted(set(rows.path) - set(files.index))
    if missing:
        raise ValueError(
            f"{len(missing)} image(s) of split.csv are not in audit.csv, e.g. {missing[0]}: "
            "the two come from different runs; delete results/data/ and run the workflow again"
        )
    files = files.loc[rows.path]
    width, height, size = (files[c].astype(float).to_numpy() for c in ("width", "height", "bytes"))
    return pd.DataFrame(
        {
            "width": width,
            "height": height,
            "aspect": width / height,
            "bytes": size,
            "bytes_per_pixel": size / (width * height),
            "format": files.format.astype(str).to_numpy(),
            "mode": files["mode"].astype(str).to_numpy(),
        }
    )


def intensity_histogram(pixels, bins=HISTOGRAM_BINS):
    """Share of the image's values (all three channels) in each of `bins` equal grey-level bins."""
    counts = np.bincount(pixels.ravel() // (256 // bins), minlength=bins)
    return counts / pixels.size


def histogram_features(dataset_dir, paths, image_size, threads, reference=None):
    """The grey-level histogram of every image as the models receive it, one row per path; with a
    `reference` histogram, of the image matched to it (mribench.intensity)."""

    def histogram(path):
        return intensity_histogram(images.load_image(Path(dataset_dir, path), image_size, reference))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        rows = list(pool.map(histogram, paths))
    step = 256 // HISTOGRAM_BINS
    names = [f"grey {i * step}-{(i + 1) * step - 1}" for i in range(HISTOGRAM_BINS)]
    return pd.DataFrame(rows, columns=names)


def make_classifier(kind, seed, threads):
    """A seeded random forest; format and colour mode are one-hot encoded (unknown ones: all zero)."""
    forest = RandomForestClassifier(n_estimators=TREES, random_state=seed, n_jobs=threads)
    if kind == HISTOGRAM_BASELINE:
        return forest
    categories = ColumnTransformer(
        [("category", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL)],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    return make_pipeline(categories, forest)


def train_baseline(
    kind,
    seed,
    classes,
    split_csv,
    out_metrics,
    out_predictions,
    out_train,
    out_confusion,
    threads=1,
    audit_csv=None,
    dataset_dir=None,
    image_size=None,
    counterfactual=None,
    intensity="none",
):
    """Fit baseline `kind` on the train split and write its test results like a CNN target's.

    file_metadata needs `audit_csv`; intensity_histogram needs `dataset_dir` and `image_size`.
    `counterfactual` (a CounterfactualView) also scores the test images with their histograms
    matched to its reference; `intensity` "matched" (config preprocessing.intensity) matches every
    image, training ones included, as the targets' training then does.
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; known: {', '.join(BASELINES)}")
    started = time.perf_counter()
    parts = {part: split.read_split(split_csv, part) for part in ("train", "val", "test")}
    if intensity == "matched" and counterfactual is None:
        raise ValueError("intensity matched needs the reference histogram: give the counterfactual view")
    matched_to = counterfactual.reference if intensity == "matched" else None
    features = baseline_features(kind, parts, audit_csv, dataset_dir, image_size, threads, matched_to)
    labels = {part: rows.label.map(classes.index).to_numpy() for part, rows in parts.items()}
    classifier = make_classifier(kind, seed, threads).fit(features["train"], labels["train"])
    probabilities = class_probabilities(classifier, features["test"], len(classes))
    seconds = time.perf_counter() - started

    metrics = write_test_results(parts["test"], probabilities, classes, out_metrics, out_predictions)
    if counterfactual is not None:
        # the metadata baseline reads no pixels: the counterfactual view changes none of its features
        matched = features["test"] if kind == "file_metadata" else histogram_features(
            dataset_dir, parts["test"].path, image_size, threads, counterfactual.reference
        )  # fmt: skip
        write_test_results(
            parts["test"], class_probabilities(classifier, matched, len(classes)), classes,
            counterfactual.metrics, counterfactual.predictions,
        )  # fmt: skip
    plots.confusion_figure(np.array(metrics["test"]["confusion_matrix"]), classes, out_confusion)
    accuracy = {part: float(classifier.score(features[part], labels[part])) for part in ("train", "val")}
    record = {
        "model": BASELINE_MODEL,
        "strategy": kind,
        "seed": seed,
        "classes": list(classes),
        "image_size": image_size,
        "intensity": intensity,
        "images": {part: len(rows) for part, rows in parts.items()},
        "workflow": BASELINES[kind],
        "classifier": f"scikit-learn RandomForestClassifier, {TREES} trees, random_state {seed}",
        "features": list(features["train"].columns),
        "top_features": top_features(classifier),
        "stages": [
            {
                "stage": kind,
                "seconds": round(seconds, 3),
                "train_accuracy": accuracy["train"],
                "val_accuracy": accuracy["val"],
            }
        ],
        "seconds": round(seconds, 3),
        "versions": {
            "mribench": mribench.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
        },
        "hardware": provenance.hardware(gpus=[]),  # the forest fits on the CPU
    }
    Path(out_train).write_text(json.dumps(record, indent=2) + "\n")


def baseline_features(kind, parts, audit_csv, dataset_dir, image_size, threads, reference=None):
    """The features of every part of the split: the audit's file records, or the images' histograms
    (matched to `reference` where given)."""
    if kind == "file_metadata":
        audit = pd.read_csv(audit_csv)
        return {part: metadata_features(rows, audit) for part, rows in parts.items()}
    return {
        part: histogram_features(dataset_dir, rows.path, image_size, threads, reference)
        for part, rows in parts.items()
    }


def class_probabilities(classifier, features, n_classes):
    """The forest's probabilities over every class, zero for a class the train split lacked."""
    probabilities = np.zeros((len(features), n_classes))
    probabilities[:, classifier.classes_] = classifier.predict_proba(features)
    return probabilities


def top_features(classifier, n=TOP_FEATURES):
    """The forest's most important inputs (mean decrease in impurity), after one-hot encoding."""
    if hasattr(classifier, "steps"):  # the metadata pipeline: one-hot encoding, then the forest
        forest, names = classifier[-1], classifier[:-1].get_feature_names_out()
    else:
        forest, names = classifier, classifier.feature_names_in_
    order = np.argsort(forest.feature_importances_)[::-1][:n]
    return [{"feature": str(names[i]), "importance": float(forest.feature_importances_[i])} for i in order]
