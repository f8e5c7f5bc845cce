"""Test-set metrics from predicted probabilities."""

import numpy as np
import pytest

from mribench.evaluation import test_metrics as compute_test_metrics

CLASSES = ["glioma", "meningioma", "notumor"]


def test_metrics_of_a_hand_built_case():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.2, 0.7, 0.1],  # glioma called meningioma
            [0.1, 0.8, 0.1],
            [0.1, 0.6, 0.3],
            [0.1, 0.1, 0.8],
            [0.2, 0.2, 0.6],
        ]
    )
    test = compute_test_metrics(y_true, probabilities, CLASSES)
    assert test["n_images"] == 6
    assert test["accuracy"] == pytest.approx(5 / 6)
    expected_loss = -np.mean(np.log([0.8, 0.2, 0.8, 0.6, 0.8, 0.6]))
    assert test["loss"] == pytest.approx(expected_loss)
    assert test["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    report = test["classification_report"]
    assert report["glioma"]["recall"] == pytest.approx(0.5)
    assert report["meningioma"]["precision"] == pytest.approx(2 / 3)
    assert report["macro avg"]["f1-score"] == pytest.approx(np.mean([2 / 3, 0.8, 1.0]))


def test_a_class_never_predicted_scores_zero_not_an_error():
    y_true = np.array([0, 1, 2])
    probabilities = np.array([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.1, 0.1, 0.8]])
    report = compute_test_metrics(y_true, probabilities, CLASSES)["classification_report"]
    assert report["meningioma"]["precision"] == 0 and report["meningioma"]["recall"] == 0


def test_an_empty_set_has_no_metrics_rather_than_an_error():
    empty = compute_test_metrics(np.array([], dtype=int), np.empty((0, 3)), CLASSES)
    assert empty == {
        "n_images": 0,
        "loss": None,
        "accuracy": None,
        "classification_report": None,
        "confusion_matrix": None,
    }
