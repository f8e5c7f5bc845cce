"""Evaluate a trained model on the held-out test set and on external test sets (scikit-learn metrics).

Keras is imported by the functions that load a model only: the shortcut baselines write their
results with the same functions and need no Keras backend.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, log_loss

from mribench import backend, images, plots, split
from mribench.intensity import matched_copy, model_reference


def evaluate_target(
    target,
    model_path,
    history_csv,
    split_csv,
    dataset_dir,
    classes,
    batch_size,
    threads,
    out_metrics,
    out_predictions,
    out_confusion,
    out_curves,
    counterfactual=None,
):
    """Test-set metrics, predictions and figures of `target`'s model (refused unless it is that target's).

    Every metric is computed twice: on the whole test set (`test`) and on `test_dedup`, the test images
    without an exact or pixel twin in Training, which no model can have memorised. `counterfactual`
    (intensity.CounterfactualView): the same on the test images with their histograms matched to its
    reference, from the pixels decoded once.
    """
    from mribench.model import load_checked_model  # here: the baselines use this module without Keras

    model, metadata = load_checked_model(model_path, target, classes)
    image_size = metadata["image_size"]
    test = split.read_split(split_csv, "test")
    pixels = images.load_images(
        dataset_dir, test.path, image_size, threads, reference=model_reference(metadata)
    )
    probabilities = predict(model, pixels, batch_size)

    made_by = {"backend": backend.version()}
    metrics = write_test_results(test, probabilities, classes, out_metrics, out_predictions, made_by)
    if counterfactual is not None:
        matched = predict(model, matched_copy(pixels, counterfactual.reference, threads), batch_size)
        write_test_results(
            test, matched, classes, counterfactual.metrics, counterfactual.predictions, made_by
        )
    plots.confusion_figure(np.array(metrics["test"]["confusion_matrix"]), classes, out_confusion)
    plots.curves_figure(pd.read_csv(history_csv), out_curves)


def predict(model, pixels, batch_size):
    """Class probabilities of decoded images, batch by batch."""
    from mribench import pipeline

    return model.predict(pipeline.EvaluationBatches(pixels, batch_size=batch_size), verbose=0)


def write_test_results(test, probabilities, classes, out_metrics, out_predictions, made_by=None):
    """metrics.json (`test` and `test_dedup`, and `made_by`: what computed the probabilities) and
    predictions.csv of the `test` rows of split.csv, from the class probabilities of any classifier;
    returns the metrics."""
    y_true = test.label.map(classes.index).to_numpy()
    dedup = split.dedup_mask(test).to_numpy()
    metrics = {
        "test": test_metrics(y_true, probabilities, classes),
        "test_dedup": test_metrics(y_true[dedup], probabilities[dedup], classes),
        "classes": list(classes),
        **(made_by or {}),
    }
    Path(out_metrics).write_text(json.dumps(metrics, indent=2) + "\n")

    predictions = pd.DataFrame(
        {
            "file": test.path,
            "true": test.label,
            "predicted": [classes[i] for i in probabilities.argmax(axis=1)],
            "train_twin": test.train_twin,
        }
    )
    for i, name in enumerate(classes):
        predictions[f"p_{name}"] = probabilities[:, i]
    predictions.to_csv(out_predictions, index=False, float_format="%.6f")
    return metrics


def test_metrics(y_true, probabilities, classes):
    """Loss, accuracy, the classification report and the confusion matrix (rows: true class)."""
    labels = list(range(len(classes)))
    y_pred = probabilities.argmax(axis=1)
    if not len(y_true):  # every test image leaked: nothing left to measure
        return {"n_images": 0, "loss": None, "accuracy": None, "classification_report": None,
                "confusion_matrix": None}  # fmt: skip
    return {
        "n_images": int(len(y_true)),
        "loss": float(log_loss(y_true, probabilities, labels=labels)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "classification_report": classification_report(
            y_true, y_pred, labels=labels, target_names=classes, output_dict=True, zero_division=0
        ),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def evaluate_external(
    target, model_path, audit_csv, dataset_dir, classes, set_classes, batch_size, threads, out_metrics,
    out_predictions, out_probabilities=None, counterfactual=None,
):  # fmt: skip
    """Metrics and predictions of `target`'s model on an external test set (see write_external_results);
    `out_probabilities`: also its probabilities over every class (a fold model's, for the fold ensemble);
    and on the set's counterfactual view when `counterfactual` (intensity.CounterfactualView) is given."""
    from mribench.model import load_checked_model  # here: the baselines use this module without Keras

    model, metadata = load_checked_model(model_path, target, classes)
    rows = read_external_set(audit_csv)
    pixels = images.load_images(
        dataset_dir, rows.path, metadata["image_size"], threads, reference=model_reference(metadata)
    )
    probabilities = predict(model, pixels, batch_size)
    write_external_results(rows, probabilities, classes, set_classes, out_metrics, out_predictions)
    if out_probabilities:
        table = pd.DataFrame(probabilities, columns=[f"p_{name}" for name in classes])
        table.insert(0, "file", rows.path)
        table.to_csv(out_probabilities, index=False, float_format="%.6f")
    if counterfactual is not None:
        matched = predict(model, matched_copy(pixels, counterfactual.reference, threads), batch_size)
        write_external_results(
            rows, matched, classes, set_classes, counterfactual.metrics, counterfactual.predictions
        )


def read_external_set(audit_csv):
    """The images of an external test set: the valid rows of its audit.csv."""
    rows = pd.read_csv(audit_csv, keep_default_na=False)
    return rows[rows.status == "ok"].reset_index(drop=True)


def write_external_results(rows, probabilities, classes, set_classes, out_metrics, out_predictions):
    """metrics.json and predictions.csv of any classifier's `probabilities` (over `classes`) on a set.

    The probabilities are restricted to the set's classes and renormalised to sum to one: the
    prediction is the argmax among those classes (a set without `notumor` cannot count a `notumor`
    answer as any of its classes), and loss and the one-vs-rest AUCs (stats) are of the renormalised
    probabilities. How much the classifier put on the classes the set lacks is recorded beside them.
    `external_dedup` leaves out the images with an exact or pixel twin in Training.
    """
    restricted = restrict_probabilities(probabilities, classes, set_classes)
    among_all = [classes[i] for i in probabilities.argmax(axis=1)]
    y_true = rows.label.map(list(set_classes).index).to_numpy()
    dedup = ~rows.twin_in_training.isin(split.LEAKED).to_numpy()
    metrics = {
        "external": test_metrics(y_true, restricted, set_classes),
        "external_dedup": test_metrics(y_true[dedup], restricted[dedup], set_classes),
        "classes": list(set_classes),
        "model_classes": list(classes),
        "outside_set": {
            "mean_probability": float(
                1 - probabilities[:, class_columns(classes, set_classes)].sum(axis=1).mean()
            ),
            "argmax_share": float(np.mean([label not in set_classes for label in among_all])),
        },
    }
    Path(out_metrics).write_text(json.dumps(metrics, indent=2) + "\n")
    predictions = pd.DataFrame(
        {
            "file": rows.path,
            "true": rows.label,
            "predicted": [set_classes[i] for i in restricted.argmax(axis=1)],
            "predicted_among_all": among_all,
            "twin_in_training": rows.twin_in_training,
            "twin_in_testing": rows.twin_in_testing,
        }
    )
    for i, name in enumerate(set_classes):
        predictions[f"p_{name}"] = restricted[:, i]
    predictions.to_csv(out_predictions, index=False, float_format="%.6f")


def class_columns(classes, set_classes):
    return [list(classes).index(label) for label in set_classes]


def restrict_probabilities(probabilities, classes, set_classes):
    """The model's probabilities of `set_classes` only, renormalised to sum to one per image."""
    kept = probabilities[:, class_columns(classes, set_classes)].astype("float64")
    return kept / np.maximum(kept.sum(axis=1, keepdims=True), np.finfo("float64").tiny)


def mean_probabilities(tables_csvs, files, classes):
    """The mean of the fold models' probabilities over `classes`, each file checked to be on `files`."""
    probabilities = []
    for path in tables_csvs:
        table = pd.read_csv(path)
        if table.file.tolist() != list(files):
            raise ValueError(f"{path} is not on the images the other fold models scored; re-run its job")
        probabilities.append(table[[f"p_{name}" for name in classes]].to_numpy())
    return np.mean(probabilities, axis=0)


def write_ensemble(predictions_csvs, split_csv, classes, out_metrics, out_predictions):
    """metrics.json and predictions.csv of the fold ensemble: the mean of the fold models'
    probabilities on the test rows of split.csv (cross-validation, mribench.folds)."""
    test = split.read_split(split_csv, "test")
    probabilities = mean_probabilities(predictions_csvs, test.path, classes)
    made_by = {"ensemble_of": [str(path) for path in predictions_csvs]}
    write_test_results(test, probabilities, classes, out_metrics, out_predictions, made_by)


def write_external_ensemble(
    probabilities_csvs, audit_csv, classes, set_classes, out_metrics, out_predictions
):
    """The fold ensemble on an external set: the mean of the fold models' probabilities over every
    class, then restricted to the set's classes as a single model's (write_external_results)."""
    rows = read_external_set(audit_csv)
    probabilities = mean_probabilities(probabilities_csvs, rows.path, classes)
    write_external_results(rows, probabilities, classes, set_classes, out_metrics, out_predictions)
