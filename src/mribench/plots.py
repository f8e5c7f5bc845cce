"""The figures of one target: confusion matrix and training curves."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay  # noqa: E402


def confusion_figure(matrix, classes, path):
    fig, ax = plt.subplots(figsize=(4.8, 4.2), layout="constrained")
    ConfusionMatrixDisplay(matrix, display_labels=classes).plot(ax=ax, cmap="Blues", colorbar=False)
    ax.set_title("Test set confusion matrix")
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
