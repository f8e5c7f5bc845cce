"""MODEL_CARD.md per target (Mitchell et al. 2019): what the model is for, what it is not for, how it was
made and how well it did, from the run's own records."""

import json
from pathlib import Path

import jinja2
import pandas as pd

from mribench import NOTICE, registry


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
):
    """Render the card; the exports, the statistics' confidence intervals and the data audit when given."""
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
        metrics=metrics,
        counts=counts,
        dataset=dataset,
        training=training,
        augmentation=augmentation,
        export=json.loads(Path(export_json).read_text()) if export_json else None,
        confidence_intervals=confidence_intervals(stats_json, train) if stats_json else {},
        audit=json.loads(Path(audit_json).read_text()) if audit_json else None,
    )
    Path(out_md).write_text(card)


def confidence_intervals(stats_json, train):
    """{"test.accuracy": (low, high), "test.macro_f1": ...} of this target and seed, from the stats rule."""
    target = f"{train['model']}_{train['strategy']}"
    for row in json.loads(Path(stats_json).read_text())["targets"]:
        if row["target"] == target and row["seed"] == train["seed"]:
            return {"test.accuracy": row["accuracy_ci"], "test.macro_f1": row["macro_f1_ci"]}
    return {}
