"""Collect every target's results into summary.csv and one self-contained HTML report."""

import base64
import io
import json
import platform
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
import yaml

import mribench
from mribench import plots, provenance
from mribench.decoding import decode
from mribench.strategies import epoch_budget
from mribench.targets import BASELINE_MODEL

SAMPLES_PER_CLASS = 4
WORST_ERRORS = 6
THUMBNAIL_PX = 96
# Columns of the overview that are averaged over seeds (mean and standard deviation).
AVERAGED = [
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "test_macro_f1",
    "test_dedup_accuracy",
    "test_loss",
    "total_seconds",
    "model_megabytes",
    "total_params",
    "trainable_params",
    "total_epochs",
    "image_passes",
]
# Counts in summary.csv, which the shortcut baselines leave empty.
INTEGER_COLUMNS = [
    "model_bytes", "total_params", "trainable_params", "epochs_run", "total_epochs", "image_passes",
]  # fmt: skip
# Source signatures per class in the data section: this many of the commonest image sizes, the rest as one.
COMMON_SIZES = 6


def summarise(run_dirs):
    """One row per model x strategy x seed: the study's comparison table, and the shortcut baselines'
    rows (model "baseline"), which have no parameters, epochs or model file (empty there)."""
    rows = []
    for run_dir in map(Path, run_dirs):
        train = json.loads((run_dir / "train.json").read_text())
        metrics = json.loads((run_dir / "metrics.json").read_text())
        test, dedup = metrics["test"], metrics["test_dedup"]
        final = train["stages"][-1]
        epochs = [stage.get("epochs_run") for stage in train["stages"]]
        total_epochs = np.nan if None in epochs else sum(epochs)
        model_bytes = train.get("model_bytes", np.nan)
        rows.append(
            {
                "model": train["model"],
                "strategy": train["strategy"],
                "seed": train["seed"],
                "workflow": train["workflow"],
                "train_accuracy": final["train_accuracy"],
                "val_accuracy": final["val_accuracy"],
                "test_accuracy": test["accuracy"],
                "test_loss": test["loss"],
                "test_macro_f1": macro_f1(test),
                "test_weighted_f1": test["classification_report"]["weighted avg"]["f1-score"],
                # without the test images that have an exact or pixel twin in Training (None if none left)
                "test_dedup_accuracy": np.nan if dedup["accuracy"] is None else dedup["accuracy"],
                "test_dedup_macro_f1": macro_f1(dedup),
                "n_test": test["n_images"],
                "n_test_dedup": dedup["n_images"],
                "stage_seconds": final["seconds"],
                "total_seconds": train["seconds"],
                "model_bytes": model_bytes,
                "model_megabytes": model_bytes / 1e6,
                "total_params": train.get("total_params", np.nan),
                "trainable_params": train.get("trainable_params", np.nan),
                "epochs_run": final.get("epochs_run", np.nan),
                # the training budget all stages used: epochs, and epochs x training images
                "total_epochs": total_epochs,
                "image_passes": total_epochs * train["images"]["train"],
                "run_dir": run_dir.as_posix(),
            }
        )
    return pd.DataFrame(rows)


def overview(summary, statistics):
    """One row per target: mean and sd over seeds, and the bootstrap CI when there is a single seed."""
    cis = pd.DataFrame(
        [
            {
                "target": t["target"],
                "seed": t["seed"],
                "accuracy_ci": t["accuracy_ci"],
                "macro_f1_ci": t["macro_f1_ci"],
                "macro_auc": t["macro_auc"],
                "ece": t["ece"],
            }
            for t in statistics["targets"]
        ]
    )
    per_seed = summary.assign(target=summary.model + "_" + summary.strategy).merge(cis, on=["target", "seed"])
    grouped = per_seed.groupby(["model", "strategy"], sort=False)
    table = grouped[AVERAGED + ["macro_auc", "ece"]].mean()
    spread = grouped[AVERAGED].std(ddof=1).add_suffix("_sd").fillna(0.0)
    table = table.join(spread).join(grouped.seed.count().rename("n_seeds"))
    table = table.join(grouped[["accuracy_ci", "macro_f1_ci"]].first()).reset_index()
    table["best"] = [set() for _ in range(len(table))]
    targets = table.model != BASELINE_MODEL  # a shortcut baseline is a yardstick, never the best target
    for criterion, column, best in (
        ("accuracy", "test_accuracy", "max"),
        ("speed", "total_seconds", "min"),
        ("size", "model_megabytes", "min"),
    ):
        extreme = getattr(table.loc[targets, column], best)()
        ties = targets & np.isclose(table[column], extreme, rtol=0, atol=1e-9)
        for index in table.index[ties]:  # a mean of equal accuracies may differ in the last bit
            table.loc[index, "best"].add(criterion)
    return table, per_seed


def write_report(
    run_dirs,
    split_csv,
    dataset_dir,
    stats_json,
    config,
    workflow_dir,
    benchmark_dir,
    out_summary,
    out_html,
    audit_json=None,
    export_jsons=(),
    audit_csv=None,
    external_sets=None,
):
    """summary.csv and report.html; `run_dirs` holds the targets' and the shortcut baselines' run folders.
    `audit_json` is the data audit's summary and `audit_csv` its per-file table, shown when given;
    `export_jsons` are the targets' export.json files, when config export.enabled; `external_sets`
    maps each external test set's name to its classes, audit.json and stats.json."""
    external_sets = external_sets or {}
    summary = add_external_columns(summarise(run_dirs), external_sets)
    counts = {  # whole numbers, empty for the baselines
        column: "Int64"
        for column in summary
        if column in INTEGER_COLUMNS or (column.startswith("external_") and column.endswith("_n_images"))
    }
    summary.drop(columns="model_megabytes").astype(counts).to_csv(
        out_summary, index=False, float_format="%.6g"
    )
    statistics = json.loads(Path(stats_json).read_text())
    table, per_seed = overview(summary, statistics)
    baselines = table[table.model == BASELINE_MODEL]
    table = table[table.model != BASELINE_MODEL]
    split_rows = pd.read_csv(split_csv)
    stats_dir = Path(stats_json).parent
    by_run = {(t["target"], t["seed"]): t for t in statistics["targets"]}
    target_dirs = per_seed.run_dir[per_seed.model != BASELINE_MODEL].tolist()
    runs = []
    for row in per_seed[per_seed.model != BASELINE_MODEL].itertuples():
        stem = f"{row.target}_seed{row.seed}"
        gallery = Path(row.run_dir, "gradcam", "gallery.png")
        runs.append(
            {
                "row": row,
                "anchor": f"{row.model}-{row.strategy}-{row.seed}",
                "metrics": json.loads(Path(row.run_dir, "metrics.json").read_text()),
                "stats": by_run[row.target, row.seed],
                "confusion": data_uri(Path(row.run_dir, "confusion.png")),
                "curves": data_uri(Path(row.run_dir, "curves.png")),
                "roc": data_uri(stats_dir / "figures" / f"{stem}_roc.png"),
                "calibration": data_uri(stats_dir / "figures" / f"{stem}_calibration.png"),
                "gradcam": data_uri(gallery) if config["report"]["gradcam"] else None,
                "worst": worst_errors(Path(row.run_dir, "predictions.csv"), dataset_dir),
            }
        )
    costs = provenance.job_costs(benchmark_dir)
    first_train = json.loads(Path(target_dirs[0], "train.json").read_text())
    html = render(
        "report.html.j2",
        table=table,
        baselines=baseline_rows(baselines, run_dirs, split_rows, config["dataset"]["classes"]),
        untrained=not_imagenet(target_dirs),
        budget={s: epoch_budget(config["training"], s) for s in config["strategies"]},
        signatures=source_signatures(audit_csv, split_rows) if audit_csv else None,
        per_seed=per_seed,
        several_seeds=len(config["seeds"]) > 1,
        show_dedup=bool(summary.test_dedup_accuracy.notna().any()),
        statistics=statistics,
        mcnemar=mcnemar_matrices(statistics["mcnemar"]),
        cost_figure=figure_uri(plots.cost_accuracy_figure, table),
        runs=runs,
        counts=pd.crosstab(split_rows.label, split_rows.split).reindex(
            columns=["train", "val", "test"], fill_value=0
        ),
        samples=sample_images(
            split_rows, dataset_dir, config["dataset"]["classes"], config["report"]["seed"]
        ),
        audit=json.loads(Path(audit_json).read_text()) if audit_json else None,
        config=config,
        test_overlap=config["dedup"]["test_overlap"],
        dropped=int((split_rows.split == "dropped").sum()),
        exports=[json.loads(Path(path).read_text()) for path in export_jsons],
        external=external_sections(summary, external_sets),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        provenance={
            "mribench": mribench.__version__,
            "commit": provenance.git_commit(workflow_dir) or "not a git checkout",
            "versions": {k: v for k, v in first_train["versions"].items() if k != "mribench"}
            | {"snakemake": snakemake_version()},
            "report_python": platform.python_version(),
            "hardware": training_hardware(target_dirs),
            "dataset_checksum": provenance.dataset_checksum(split_csv),
            "split_sha256": provenance.file_sha256(split_csv),
            "n_images": len(split_rows),
            "costs": costs,
            "started": costs.started.min() if len(costs) else None,
            "ended": datetime.now(timezone.utc),
        },
    )
    Path(out_html).write_text(html)


def baseline_rows(baselines, run_dirs, split_rows, classes):
    """The overview rows of the shortcut baselines, with chance (the largest class's share of the test
    set) and the features the forest relied on most (from the baseline's train.json)."""
    test = split_rows[split_rows.split == "test"]
    chance = test.label.value_counts().reindex(classes, fill_value=0).max() / max(len(test), 1)
    records = {}
    for run_dir in run_dirs:
        train = json.loads(Path(run_dir, "train.json").read_text())
        if train["model"] == BASELINE_MODEL:
            records.setdefault(train["strategy"], train)  # the features of the first seed
    return [
        row | {"chance": chance, "workflow": records[row["strategy"]]["workflow"],
               "top_features": records[row["strategy"]]["top_features"]}
        for row in baselines.to_dict("records")
    ]  # fmt: skip


def not_imagenet(run_dirs):
    """The transfer-learning targets whose base did not start from ImageNet weights, as (target, weights).

    A from-scratch target starts from random weights by design and is not listed."""
    found = {}
    for run_dir in run_dirs:
        train = json.loads(Path(run_dir, "train.json").read_text())
        if train["strategy"] != "from_scratch" and train["weights"] != "imagenet":
            found[f"{train['model']} {train['strategy'].replace('_', ' ')}"] = train["weights"]
    return sorted(found.items())


def source_signatures(audit_csv, split_rows):
    """Per class, how its images are stored: colour mode and format, and the commonest sizes.

    On merged datasets these differ by class because the sources do; a model can learn them."""
    audit = pd.read_csv(audit_csv, keep_default_na=False)
    stored = audit[["path", "format", "mode", "width", "height"]]
    files = split_rows[["path", "label"]].merge(stored, on="path")
    files["size"] = files.width.astype(str) + " × " + files.height.astype(str)
    common = files["size"].value_counts().index[:COMMON_SIZES]
    files["size"] = files["size"].where(files["size"].isin(common), "other sizes")
    tables = {}
    for title, column in (("colour mode and format", None), ("image size (width × height)", "size")):
        values = files["mode"] + " " + files.format if column is None else files[column]
        counts = pd.crosstab(files.label, values)
        ordered = [c for c in counts.sum().sort_values(ascending=False).index if c != "other sizes"]
        tables[title] = counts[ordered + (["other sizes"] if "other sizes" in counts else [])]
    return tables


def add_external_columns(summary, external_sets):
    """Per external test set: accuracy, macro-F1, image count and the accuracy drop from the internal
    test; empty for the shortcut baselines, which score the internal test set only."""
    targets = summary.model != BASELINE_MODEL
    for name in external_sets:
        metrics = [
            json.loads(Path(run_dir, "external", name, "metrics.json").read_text())["external"]
            for run_dir in summary.run_dir[targets]
        ]
        for column, values in (
            ("accuracy", [m["accuracy"] for m in metrics]),
            ("macro_f1", [macro_f1(m) for m in metrics]),
            ("n_images", [m["n_images"] for m in metrics]),
        ):
            summary.loc[targets, f"external_{name}_{column}"] = values
        summary[f"external_{name}_accuracy_drop"] = (
            summary.test_accuracy - summary[f"external_{name}_accuracy"]
        )
    return summary


def external_sections(summary, external_sets):
    """One report section per external test set: every target beside its internal test, and the overlap."""
    sections = []
    for name, test_set in external_sets.items():
        statistics = json.loads(Path(test_set["stats"]).read_text())
        by_run = {(t["target"], t["seed"]): t for t in statistics["targets"]}
        rows = []
        for row in summary[summary.model != BASELINE_MODEL].itertuples():
            metrics = json.loads(Path(row.run_dir, "external", name, "metrics.json").read_text())
            rows.append(
                {
                    "model": row.model,
                    "strategy": row.strategy,
                    "seed": row.seed,
                    "internal_accuracy": row.test_accuracy,
                    "internal_macro_f1": row.test_macro_f1,
                    "metrics": metrics,
                    "stats": by_run[f"{row.model}_{row.strategy}", row.seed],
                }
            )
        sections.append(
            {
                "name": name,
                "classes": test_set["classes"],
                "audit": json.loads(Path(test_set["audit"]).read_text()),
                "rows": rows,
                "mcnemar": statistics["mcnemar"],
                "alpha": statistics["alpha"],
            }
        )
    return sections


def macro_f1(metrics):
    """None when the set is empty (a de-duplicated test set can be)."""
    report = metrics["classification_report"]
    return report["macro avg"]["f1-score"] if report else None


def render(template_name, **context):
    """Autoescaped Jinja2: class names, file names and config values are shown as text, never as markup."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["percent"] = lambda value: "–" if pd.isna(value) else f"{100 * value:.1f}"
    environment.filters["points"] = lambda pair: f"{100 * pair[0]:.1f}–{100 * pair[1]:.1f}"
    environment.filters["when"] = lambda moment: (
        "–" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    )
    return environment.get_template(template_name).render(**context)


def mcnemar_matrices(tests):
    """Per seed, a target x target matrix of Holm-adjusted McNemar p-values (upper triangle)."""
    matrices = {}
    for test in tests:
        matrix = matrices.setdefault(test["seed"], {})
        matrix[test["a"], test["b"]] = test
    return {
        seed: {"targets": sorted({t for pair in matrix for t in pair}), "tests": matrix}
        for seed, matrix in matrices.items()
    }


def worst_errors(predictions_csv, dataset_dir, n=WORST_ERRORS):
    """The most confident wrong predictions of a target, with thumbnails."""
    predictions = pd.read_csv(predictions_csv)
    wrong = predictions[predictions.true != predictions.predicted].copy()
    wrong["confidence"] = [row[f"p_{row.predicted}"] for _, row in wrong.iterrows()]
    wrong = wrong.nlargest(n, "confidence")
    return [
        {
            "file": row.file,
            "true": row.true,
            "predicted": row.predicted,
            "confidence": row.confidence,
            "thumbnail": thumbnail_uri(Path(dataset_dir, row.file)),
        }
        for row in wrong.itertuples()
    ]


def sample_images(split_rows, dataset_dir, classes, seed):
    """A few seeded training images per class, as thumbnails."""
    train = split_rows[split_rows.split == "train"]
    samples = {}
    for name in classes:
        rows = train[train.label == name]
        rows = rows.sample(min(SAMPLES_PER_CLASS, len(rows)), random_state=seed)
        samples[name] = [{"file": p, "thumbnail": thumbnail_uri(Path(dataset_dir, p))} for p in rows.path]
    return samples


def training_hardware(run_dirs):
    """The distinct machines the targets were trained on (host, CPU and GPU models)."""
    machines = set()
    for run_dir in run_dirs:
        hardware = json.loads(Path(run_dir, "train.json").read_text())["hardware"]
        machines.add(json.dumps({key: hardware[key] for key in ("host", "cpu", "gpus")}))
    return [json.loads(m) for m in sorted(machines)]


def snakemake_version():
    try:
        import snakemake
    except ImportError:
        return "not installed"
    return snakemake.__version__


def thumbnail_uri(image_path, size=THUMBNAIL_PX):
    thumbnail = decode(image_path).picture.convert("RGB")
    thumbnail.thumbnail((size, size))
    buffer = io.BytesIO()
    thumbnail.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def figure_uri(draw, *args):
    buffer = io.BytesIO()
    draw(*args, buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def data_uri(png_path):
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
