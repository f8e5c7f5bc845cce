"""The metrics of a run that summary.csv, the report's overview and per-seed tables and the model cards
show, each declared once.

Adding a metric is one entry in METRICS (or EXTERNAL_METRICS, for a figure per external test set) plus
the function that reads it from a run's records (`mribench.records.RunRecord`); the CSV, the tables and
the card iterate over these lists. METRICS is in summary.csv's column order, which the report's tables
and the card's sentences follow."""

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

PERCENT = "percent"  # the report's accuracies: per cent with one decimal
MISSING = "–"  # what a table shows where a run has no value (the shortcut baselines' parameters, ...)


class Best(NamedTuple):
    """The overview highlights, for this criterion, the target(s) with the extreme mean."""

    criterion: str  # the word the overview's `best` sets hold ("accuracy", "speed", "size")
    direction: str  # "max" or "min"


@dataclass(frozen=True)
class Metric:
    """One figure of a run.

    name: its column in summary.csv and in the report's tables.
    read: its value from a run's RunRecord; None for a figure the stats rule computes, read from the
        run's row of stats.json under `name` (never in summary.csv, which is written before).
    label: its column header in the report's overview (a mean over seeds there) and per-seed tables;
        None keeps it out of the report's tables.
    format: how the report shows it: PERCENT, or a str.format spec such as "{:.3f}".
    summary: whether summary.csv has it as a column.
    integer: a whole number in summary.csv, left empty where a run has none (the shortcut baselines).
    spread: the overview shows its standard deviation over seeds when there are several.
    interval: the stats.json key of its 95 % bootstrap interval, shown beside it with a single seed.
    best: the overview highlights the best target by it.
    per_seed: the report's per-seed table shows it too.
    card: its name in the model card's sentence on the metrics.json part `part`; None: not on the card.
    card_format: how the model card shows it.
    """

    name: str
    read: Callable | None
    label: str | None = None
    format: str = PERCENT
    summary: bool = True
    integer: bool = False
    spread: bool = False
    interval: str | None = None
    best: Best | None = None
    per_seed: bool = False
    card: str | None = None
    part: str = "test"
    card_format: str = "{:.4f}"

    def __post_init__(self):
        if self.read is None and (self.summary or self.card):
            raise ValueError(
                f"metric {self.name!r}: a figure of stats.json (read=None) can be in neither summary.csv "
                "nor the model card, which are written from the run's own records; set summary=False "
                "and card=None, or give it a read function"
            )
        if self.label is None and (self.spread or self.interval or self.best or self.per_seed):
            raise ValueError(f"metric {self.name!r}: spread, interval, best and per_seed need a label")


@dataclass(frozen=True)
class ExternalMetric:
    """One figure of a target on each external test set: column `external_<set>_<name>` of summary.csv,
    empty for the shortcut baselines. `read(run, set_name)` gets a target's record."""

    name: str
    read: Callable
    integer: bool = False

    def column(self, set_name):
        return f"external_{set_name}_{self.name}"


def final_stage(run):
    """The last training stage, whose kept weights are the model's."""
    return run.train["stages"][-1]


def total_epochs(run):
    """The epochs all stages ran; NaN when a stage does not count epochs (the shortcut baselines)."""
    epochs = [stage.get("epochs_run") for stage in run.train["stages"]]
    return math.nan if None in epochs else sum(epochs)


def macro_f1(part):
    """The macro-F1 of a metrics.json part; None when the set is empty (a de-duplicated test set can be)."""
    report = part["classification_report"]
    return report["macro avg"]["f1-score"] if report else None


def dedup_accuracy(run):
    """Accuracy without the test images that have an exact or pixel twin in Training; NaN if none is left."""
    accuracy = run.metrics["test_dedup"]["accuracy"]
    return math.nan if accuracy is None else accuracy


def test_accuracy(run):
    return run.metrics["test"]["accuracy"]


def counterfactual_accuracy(run):
    """Accuracy on the counterfactual view of the test set: every image's grey-level histogram matched
    to the training images' reference (mribench.intensity); NaN for a run without it."""
    return run.counterfactual["test"]["accuracy"] if run.counterfactual else math.nan


def counterfactual_accuracy_drop(run):
    """Test accuracy minus the counterfactual view's: the share of it that rode on the grey-level shortcut."""
    return test_accuracy(run) - counterfactual_accuracy(run)


def model_bytes(run):
    return run.train.get("model_bytes", math.nan)


METRICS = [
    Metric("train_accuracy", lambda run: final_stage(run)["train_accuracy"], "train acc", spread=True),
    Metric("val_accuracy", lambda run: final_stage(run)["val_accuracy"], "val acc", spread=True),
    Metric(
        "test_accuracy",
        test_accuracy,
        "test acc",
        spread=True,
        interval="accuracy_ci",
        best=Best("accuracy", "max"),
        per_seed=True,
        card="accuracy",
    ),
    Metric(
        "test_loss",
        lambda run: run.metrics["test"]["loss"],
        "test loss",
        format="{:.3f}",
        spread=True,
        per_seed=True,
        card="loss",
    ),
    Metric(
        "test_macro_f1",
        lambda run: macro_f1(run.metrics["test"]),
        "test macro-F1",
        spread=True,
        interval="macro_f1_ci",
        per_seed=True,
        card="macro-F1",
    ),
    Metric(
        "test_weighted_f1",
        lambda run: run.metrics["test"]["classification_report"]["weighted avg"]["f1-score"],
    ),
    Metric(
        "test_dedup_accuracy",
        dedup_accuracy,
        "test acc, de-duplicated",
        spread=True,
        per_seed=True,
        card="accuracy",
        part="test_dedup",
    ),
    Metric(
        "test_dedup_macro_f1",
        lambda run: macro_f1(run.metrics["test_dedup"]),
        card="macro-F1",
        part="test_dedup",
    ),
    Metric(
        "test_dedup_loss",
        lambda run: run.metrics["test_dedup"]["loss"],
        summary=False,
        card="loss",
        part="test_dedup",
    ),
    # the counterfactual view (mribench.intensity): the report's and the card's own sections show them
    Metric("counterfactual_accuracy", counterfactual_accuracy),
    Metric("counterfactual_accuracy_drop", counterfactual_accuracy_drop),
    Metric("macro_auc", None, "macro AUC", format="{:.3f}", summary=False),
    Metric("ece", None, "ECE", format="{:.3f}", summary=False),
    Metric("n_test", lambda run: run.metrics["test"]["n_images"]),
    Metric("n_test_dedup", lambda run: run.metrics["test_dedup"]["n_images"]),
    Metric("stage_seconds", lambda run: final_stage(run)["seconds"]),
    Metric(
        "total_seconds",
        lambda run: run.train["seconds"],
        "training time (s)",
        format="{:.1f}",
        spread=True,
        best=Best("speed", "min"),
        per_seed=True,
    ),
    Metric("model_bytes", model_bytes, integer=True),
    Metric(
        "model_megabytes",
        lambda run: model_bytes(run) / 1e6,
        "model size (MB)",
        format="{:.1f}",
        summary=False,
        best=Best("size", "min"),
    ),
    Metric(
        "total_params",
        lambda run: run.train.get("total_params", math.nan),
        "parameters",
        format="{:,.0f}",
        integer=True,
    ),
    Metric(
        "trainable_params",
        lambda run: run.train.get("trainable_params", math.nan),
        "trainable",
        format="{:,.0f}",
        integer=True,
    ),
    Metric("epochs_run", lambda run: final_stage(run).get("epochs_run", math.nan), integer=True),
    # the training budget all stages used: epochs, and epochs x training images
    Metric("total_epochs", total_epochs, "epochs", format="{:.3g}", integer=True),
    Metric(
        "image_passes",
        lambda run: total_epochs(run) * run.train["images"]["train"],
        "image passes",
        format="{:,.0f}",
        integer=True,
    ),
]


def external_part(run, set_name):
    """A target's metrics on the whole external set; None for a shortcut baseline."""
    return run.external[set_name]["external"] if set_name in run.external else None


def external_figure(read):
    """`read` of an external set's metrics part, NaN for a shortcut baseline."""

    def figure(run, set_name):
        part = external_part(run, set_name)
        return math.nan if part is None else read(part)

    return figure


external_accuracy = external_figure(lambda part: part["accuracy"])


def external_accuracy_drop(run, set_name):
    """Internal test accuracy minus the external set's: positive where a target does worse off the dataset."""
    return test_accuracy(run) - external_accuracy(run, set_name)


def external_counterfactual_accuracy(run, set_name):
    """Accuracy on the counterfactual view of an external set; NaN for a shortcut baseline."""
    part = run.external_counterfactual.get(set_name)
    return math.nan if part is None else part["external"]["accuracy"]


EXTERNAL_METRICS = [
    ExternalMetric("accuracy", external_accuracy),
    ExternalMetric("macro_f1", external_figure(macro_f1)),
    ExternalMetric("n_images", external_figure(lambda part: part["n_images"]), integer=True),
    ExternalMetric("accuracy_drop", external_accuracy_drop),
    ExternalMetric("counterfactual_accuracy", external_counterfactual_accuracy),
]


def from_runs():
    """The metrics read from a run's records, in summary.csv's order."""
    return [metric for metric in METRICS if metric.read is not None]


def from_statistics():
    """The metrics the stats rule computes, merged in from stats.json."""
    return [metric for metric in METRICS if metric.read is None]


def in_overview():
    """The metrics of the report's overview, each a mean over seeds there."""
    return [metric for metric in METRICS if metric.label is not None]


def on_card():
    return [metric for metric in METRICS if metric.card is not None]


def intervals():
    """The stats.json keys of the bootstrap intervals the tables show."""
    return [metric.interval for metric in METRICS if metric.interval]


def by_name(name):
    for metric in METRICS:
        if metric.name == name:
            return metric
    raise KeyError(f"no metric {name!r} in mribench.metrics.METRICS")


def formatted(value, spec):
    """A metric's value as a table or the card shows it; MISSING for a run without it (None or NaN)."""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return MISSING
    if spec == PERCENT:
        return f"{100 * value:.1f}"
    return spec.format(value)
