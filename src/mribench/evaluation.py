"""Evaluate a trained model on the held-out test set, with scikit-learn's metrics."""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, log_loss

from mribench import backend, images, pipeline, plots, split
from mribench.model import check_metadata


def evaluate_target(
    model_path,
    expected,
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
):
    """Test-set metrics, predictions and figures of one model; `expected` is the run it must belong to.

    Every metric is computed twice: on the whole test set (`test`) and on `test_dedup`, the test images
    without an exact or pixel twin in Training, which no model can have memorised.
    """
    metadata = check_metadata(model_path, classes=list(classes), **expected)
    model = keras.models.load_model(model_path, safe_mode=True)
    image_size = metadata["image_size"]
    test = split.read_split(split_csv, "test")
    pixels = images.load_images(dataset_dir, test.path, image_size, threads)
    probabilities = model.predict(pipeline.EvaluationBatches(pixels, batch_size=batch_size), verbose=0)

    y_true = test.label.map(classes.index).to_numpy()
    dedup = split.dedup_mask(test).to_numpy()
    metrics = {
        "test": test_metrics(y_true, probabilities, classes),
        "test_dedup": test_metrics(y_true[dedup], probabilities[dedup], classes),
        "classes": list(classes),
        "backend": backend.version(),
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

    plots.confusion_figure(np.array(metrics["test"]["confusion_matrix"]), classes, out_confusion)
    plots.curves_figure(pd.read_csv(history_csv), out_curves)


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
