"""MODEL_CARD.md per target (Mitchell et al. 2019): what the model is for, what it is not for, how it was
made and how well it did, from the run's own records."""

import json
from pathlib import Path

import jinja2
import pandas as pd

from mribench import NOTICE, registry
from mribench.baselines import HISTOGRAM_BASELINE
from mribench.metrics import METRICS, formatted, on_card
from mribench.records import load_record, strategy_label
from mribench.strategies import get_strategy
from mribench.targets import BASELINE_MODEL


def write_model_card(
    train_json,
    metrics_json,
    split_csv,
    dataset,
    training,
    out_md,
    export_json=None,
    stats_json=None,
    audit_json=None,
    external=(),
    selection_json=None,
    counterfactual=None,
):
    """Render the card; the exports, the statistics' confidence intervals, the data audit and a tuned
    target's grid (`selection_json`, whose chosen point's train.json is `train_json`) when given.

    `external` lists (name, metrics.json, stats.json, audit.json) of each external test set;
    `counterfactual` is (metrics.json, stats.json) of the counterfactual view of the test set
    (mribench.intensity); every metric of mribench.metrics with a card label is read from this run's
    records."""
    metrics_of_view, stats_of_view = counterfactual or (None, None)
    run = load_record(
        train_json,
        metrics_json,
        {name: path for name, path, *_ in external},
        selection_json=selection_json,
        counterfactual_json=metrics_of_view,
    )
    train = run.train
    split = pd.read_csv(split_csv)
    counts = pd.crosstab(split.label, split.split).reindex(
        index=run.metrics["classes"], columns=["train", "val", "test"], fill_value=0
    )
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["formatted"] = formatted
    environment.filters["strategy_label"] = strategy_label
    environment.filters["augmentation_words"] = augmentation_words
    card = environment.get_template("MODEL_CARD.md.j2").render(
        notice=NOTICE,
        train=train,
        base=registry.get_base(train["model"]),
        strategy=get_strategy(run.strategy),
        preprocessing=registry.preprocessing(train["model"]),
        metrics=run.metrics,
        card_metrics=on_card(),
        values={metric.name: metric.read(run) for metric in on_card() if metric.part in run.metrics},
        counts=counts,
        dataset=dataset,
        training=training | {key: value for key, value in run.chosen_values.items() if key in training},
        selection=run.selection,
        export=json.loads(Path(export_json).read_text()) if export_json else None,
        confidence_intervals=confidence_intervals(stats_json, run) if stats_json else {},
        audit=json.loads(Path(audit_json).read_text()) if audit_json else None,
        external=[external_result(name, stats, audit, run) for name, _, stats, audit in external],
        counterfactual=counterfactual_result(stats_of_view, run) if stats_of_view else None,
    )
    Path(out_md).write_text(card)


def augmentation_words(stage):
    """How a stage of train.json augmented its training images, in the card's words."""
    if "augmentation" not in stage:
        return "not recorded"  # a run trained before train.json recorded it
    settings = stage["augmentation"]
    if settings is None:
        return "none (cached base features)"
    ranges = [
        f"rotation ±{settings['rotation_degrees']}°" if settings["rotation_degrees"] else "",
        f"zoom ±{settings['zoom']}" if settings["zoom"] else "",
        f"shift ±{settings['shift']}" if settings["shift"] else "",
        f"brightness ±{settings['brightness']}" if settings["brightness"] else "",
        "horizontal flip" if settings["horizontal_flip"] else "",
    ]
    return ", ".join(filter(None, ranges)) or "none"


def confidence_intervals(stats_json, run):
    """{"test_accuracy": (low, high), "test_macro_f1": ...}: the bootstrap interval of each metric that has
    one, for this target and seed, from the stats rule."""
    row = target_statistics(stats_json, run)
    return {metric.name: row[metric.interval] for metric in METRICS if metric.interval} if row else {}


def target_statistics(stats_json, run):
    """This target's and seed's row of a stats.json, or None."""
    for row in json.loads(Path(stats_json).read_text())["targets"]:
        if row["target"] == run.target.name and row["seed"] == run.seed:
            return row
    return None


def external_result(name, stats_json, audit_json, run):
    """What the card says about one external test set: the metrics with intervals, and its overlap."""
    audit = json.loads(Path(audit_json).read_text())
    return {
        "name": name,
        "metrics": run.external[name],
        "stats": target_statistics(stats_json, run),
        "twins": {folder: kinds["any"]["total"] for folder, kinds in audit["overlap"].items()},
        "overlaps": audit["overlaps"],
    }


def counterfactual_result(stats_json, run):
    """What the card says about the intensity shortcut: this run's two views, and the histogram baseline's."""
    rows = json.loads(Path(stats_json).read_text())["targets"]
    own = target_statistics(stats_json, run)
    histogram = [
        row for row in rows if row["model"] == BASELINE_MODEL and row["strategy"] == HISTOGRAM_BASELINE
        and row["seed"] == run.seed
    ]  # fmt: skip
    return {"run": own, "histogram": histogram[0] if histogram else None}
