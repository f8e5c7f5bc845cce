"""MODEL_CARD.md per target (Mitchell et al. 2019): what the model is for, what it is not for, how it was
made and how well it did, from the run's own records."""

import json
from pathlib import Path

import jinja2
import pandas as pd

from mribench import NOTICE, registry
from mribench.strategies import get_strategy
from mribench.targets import Target


def write_model_card(
    train_json,
    metrics_json,
    split_csv,
    dataset,
    training,
    augmentation,
    out_md,
    export_json=None,
    stats_json=None,
    audit_json=None,
    external=(),
):
    """Render the card; the exports, the statistics' confidence intervals and the data audit when given.

    `external` lists (name, metrics.json, stats.json, audit.json) of each external test set."""
    train = json.loads(Path(train_json).read_text())
    metrics = json.loads(Path(metrics_json).read_text())
    split = pd.read_csv(split_csv)
    counts = pd.crosstab(split.label, split.split).reindex(
        index=metrics["classes"], columns=["train", "val", "test"], fill_value=0
    )
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    ).get_template("MODEL_CARD.md.j2")
    card = template.render(
        notice=NOTICE,
        train=train,
        base=registry.get_base(train["model"]),
        strategy=get_strategy(train["strategy"]),
        metrics=metrics,
        counts=counts,
        dataset=dataset,
        training=training,
        augmentation=augmentation,
        export=json.loads(Path(export_json).read_text()) if export_json else None,
        confidence_intervals=confidence_intervals(stats_json, train) if stats_json else {},
        audit=json.loads(Path(audit_json).read_text()) if audit_json else None,
        external=[external_result(*paths, train) for paths in external],
    )
    Path(out_md).write_text(card)


def confidence_intervals(stats_json, train):
    """{"test.accuracy": (low, high), "test.macro_f1": ...} of this target and seed, from the stats rule."""
    row = target_statistics(stats_json, train)
    return {"test.accuracy": row["accuracy_ci"], "test.macro_f1": row["macro_f1_ci"]} if row else {}


def target_statistics(stats_json, train):
    """This target's and seed's row of a stats.json, or None."""
    target = Target(train["model"], train["strategy"], train["seed"])
    for row in json.loads(Path(stats_json).read_text())["targets"]:
        if row["target"] == target.name and row["seed"] == target.seed:
            return row
    return None


def external_result(name, metrics_json, stats_json, audit_json, train):
    """What the card says about one external test set: the metrics with intervals, and its overlap."""
    audit = json.loads(Path(audit_json).read_text())
    return {
        "name": name,
        "metrics": json.loads(Path(metrics_json).read_text()),
        "stats": target_statistics(stats_json, train),
        "twins": {folder: kinds["any"]["total"] for folder, kinds in audit["overlap"].items()},
        "overlaps": audit["overlaps"],
    }
