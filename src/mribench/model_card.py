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
    confidence_intervals=None,
):
    """Render the card; `export_json` and `confidence_intervals` ({metric: (low, high)}) when available."""
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
        confidence_intervals=confidence_intervals or {},
    )
    Path(out_md).write_text(card)
