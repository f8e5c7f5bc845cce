"""Collect every target's results into summary.csv and one self-contained HTML report."""

import base64
import json
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pandas as pd
import yaml

import mribench


def summarise(run_dirs):
    """One row per model x strategy x seed: the study's comparison table."""
    rows = []
    for run_dir in map(Path, run_dirs):
        train = json.loads((run_dir / "train.json").read_text())
        test = json.loads((run_dir / "metrics.json").read_text())["test"]
        final = train["stages"][-1]
        rows.append(
            {
                "model": train["model"],
                "strategy": train["strategy"],
                "seed": train["seed"],
                "train_accuracy": final["train_accuracy"],
                "val_accuracy": final["val_accuracy"],
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "test_macro_f1": test["classification_report"]["macro avg"]["f1-score"],
                "test_weighted_f1": test["classification_report"]["weighted avg"]["f1-score"],
                "stage_seconds": final["seconds"],
                "total_seconds": train["seconds"],
                "model_bytes": train["model_bytes"],
                "total_params": train["total_params"],
                "trainable_params": train["trainable_params"],
                "epochs_run": final["epochs_run"],
                "run_dir": run_dir.as_posix(),
            }
        )
    return pd.DataFrame(rows)


def write_report(run_dirs, split_csv, config, out_summary, out_html, export_jsons=()):
    """`export_jsons`: the export.json files of the targets, when config export.enabled."""
    summary = summarise(run_dirs)
    summary.to_csv(out_summary, index=False, float_format="%.6g")
    split = pd.read_csv(split_csv)
    runs = [
        {
            "row": row,
            "metrics": json.loads(Path(row.run_dir, "metrics.json").read_text()),
            "confusion": data_uri(Path(row.run_dir, "confusion.png")),
            "curves": data_uri(Path(row.run_dir, "curves.png")),
        }
        for row in summary.itertuples()
    ]
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    ).get_template("report.html.j2")
    html = template.render(
        summary=summary,
        runs=runs,
        counts=pd.crosstab(split.label, split.split).reindex(columns=["train", "val", "test"], fill_value=0),
        exports=[json.loads(Path(path).read_text()) for path in export_jsons],
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        config_source=config["dataset"]["source"],
        version=mribench.__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )
    Path(out_html).write_text(html)


def data_uri(png_path):
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
