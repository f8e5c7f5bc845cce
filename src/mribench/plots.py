"""The report's figures: confusion matrices, training curves, ROC, reliability, cost/accuracy, Grad-CAM."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402

from mribench.strategies import get_strategy  # noqa: E402


def confusion_figure(matrix, classes, path):
    """Counts beside the row-normalised matrix (recall per true class on the diagonal)."""
    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.2), layout="constrained")
    for ax, values, title, fmt in (
        (axes[0], matrix, "counts", "d"),
        (axes[1], normalised, "row-normalised", ".2f"),
    ):
        ConfusionMatrixDisplay(values, display_labels=classes).plot(
            ax=ax, cmap="Blues", colorbar=False, values_format=fmt
        )
        ax.set_title(f"Test set confusion matrix ({title})")
        ax.tick_params(axis="x", labelrotation=30)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def curves_figure(history, path):
    """Train/val accuracy and loss over all stages, with each stage boundary marked."""
    history = history.reset_index(drop=True)
    step = history.index + 1
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for ax, metric in zip(axes, ("accuracy", "loss"), strict=True):
        ax.plot(step, history[metric], marker="o", label=f"train {metric}")
        ax.plot(step, history[f"val_{metric}"], marker="o", label=f"val {metric}")
        for boundary in step[history.stage.ne(history.stage.shift()) & (step > 1)]:
            ax.axvline(boundary - 0.5, color="grey", linestyle="--", linewidth=1)
            ax.annotate(
                history.stage[boundary - 1].replace("_", " "),
                (boundary - 0.4, 0.98),
                xycoords=("data", "axes fraction"),
                va="top",
                fontsize=8,
                color="grey",
            )
        ax.set_xlabel("epoch (all stages)")
        ax.set_title(metric)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def grid_curves_figure(selection, path):
    """Validation accuracy and loss of every tuning point of one target (selection.json), the pick bold."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
    for point in selection["points"]:
        chosen = point["id"] == selection["pick"]
        label = ", ".join(f"{key} {value}" for key, value in point["values"].items())
        for ax, metric in zip(axes, ("val_accuracy", "val_loss"), strict=True):
            values = point["history"][metric]
            ax.plot(
                range(1, len(values) + 1),
                values,
                marker="o",
                linewidth=2.5 if chosen else 1,
                label=label + (" (chosen)" if chosen else ""),
            )
    for ax, metric in zip(axes, ("val_accuracy", "val_loss"), strict=True):
        ax.set_xlabel("epoch (this stage)")
        ax.set_title(metric.replace("_", " "))
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def roc_figure(roc, path):
    """One-vs-rest ROC curve of every class, AUC in the legend."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    for name, curve in roc.items():
        if curve["auc"] is not None:
            ax.plot(curve["fpr"], curve["tpr"], label=f"{name} (AUC {curve['auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, one class vs rest")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def reliability_figure(bins, ece, path):
    """Accuracy against mean confidence per confidence bin; the diagonal is perfect calibration."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2), layout="constrained")
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="perfect calibration")
    ax.bar(
        [b["low"] for b in bins],
        [b["accuracy"] for b in bins],
        width=[b["high"] - b["low"] for b in bins],
        align="edge",
        edgecolor="black",
        alpha=0.7,
        label="accuracy in bin",
    )
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="black", ms=3)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence of the predicted class", ylabel="accuracy")
    ax.set_title(f"Reliability (ECE {ece:.3f})")
    ax.legend(fontsize=8, loc="upper left")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cost_accuracy_figure(summary, path):
    """Mean test accuracy of each target against training time and model size, seed spread as bars."""
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 3.8), layout="constrained")
    for ax, column, label in (
        (axes[0], "total_seconds", "training time (s)"),
        (axes[1], "model_megabytes", "model size (MB)"),
    ):
        for row in summary.itertuples():
            strategy = get_strategy(row.strategy)
            ax.errorbar(
                getattr(row, column),
                row.test_accuracy,
                yerr=row.test_accuracy_sd,
                fmt=strategy.marker,
                capsize=3,
                label=f"{row.model} {strategy.label}",
            )
        ax.set(xlabel=label, ylabel="test accuracy")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="best")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def gradcam_gallery(grid, path, shape):
    """Heatmap overlays on a grid; `grid` maps (row, column) to (rgb image, heatmap in 0-1, title, correct).

    Misclassified images have red titles; empty cells stay blank.
    """
    rows, columns = shape
    fig, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.1 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for (row, column), (image, heatmap, title, correct) in grid.items():
        ax = axes[row, column]
        ax.imshow(image)
        ax.imshow(
            heatmap,
            cmap="jet",
            alpha=0.4,
            extent=(0, image.shape[1], image.shape[0], 0),
            vmin=0,
            vmax=1,
            interpolation="bilinear",
        )
        ax.set_title(title, fontsize=7, color="black" if correct else "firebrick")
    fig.suptitle("left half: correctly classified · right half: misclassified (red)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
