"""Render every target's results into summary.csv and one self-contained HTML report: sections, figures,
thumbnails and Jinja. The runs' records come from mribench.records, the metrics from mribench.metrics."""

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
from mribench import counterfactual, metrics, plots, provenance
from mribench.decoding import decode
from mribench.records import collect_runs, strategy_label, target_label, target_labels
from mribench.strategies import epoch_budget, get_strategy
from mribench.targets import BASELINE_MODEL, Fold, Target

SAMPLES_PER_CLASS = 4
WORST_ERRORS = 6
THUMBNAIL_PX = 96
# Source signatures per class in the data section: this many of the commonest image sizes, the rest as one.
COMMON_SIZES = 6


def summarise(runs, external_names=()):
    """One row per model x strategy x seed: the study's comparison table, and the shortcut baselines'
    rows (model "baseline"), which have no parameters, epochs, model file or external results (empty there).

    Every metric of mribench.metrics read from the runs' records, summary.csv's or not; `write_summary`
    keeps summary.csv's."""
    rows = []
    for run in runs:
        row = {
            "model": run.model,
            "strategy": run.strategy,
            "seed": run.seed,
            "workflow": run.train["workflow"],
            # a target with a tuning grid: the chosen point's values ("learning_rate=0.001")
            "tuned": " ".join(f"{key}={value}" for key, value in run.chosen_values.items()),
        }
        row |= {metric.name: metric.read(run) for metric in metrics.from_runs()}
        row["run_dir"] = run.run_dir.as_posix()
        for name in external_names:
            row |= {metric.column(name): metric.read(run, name) for metric in metrics.EXTERNAL_METRICS}
        rows.append(row)
    return pd.DataFrame(rows)


def write_summary(summary, external_names, path):
    """summary.csv: the metrics marked for it, counts as whole numbers (empty for the shortcut baselines)."""
    external = [metric for metric in metrics.EXTERNAL_METRICS if metric.integer]
    counts = [metric.name for metric in metrics.METRICS if metric.integer]
    counts += [metric.column(name) for name in external_names for metric in external]
    left_out = [metric.name for metric in metrics.from_runs() if not metric.summary]
    summary.drop(columns=left_out).astype(dict.fromkeys(counts, "Int64")).to_csv(
        path, index=False, float_format="%.6g"
    )


def overview(summary, statistics):
    """One row per target: mean and sd over seeds, and the bootstrap CI when there is a single seed."""
    intervals, from_statistics = metrics.intervals(), [m.name for m in metrics.from_statistics()]
    cis = pd.DataFrame(
        [
            {"target": t["target"], "seed": t["seed"]} | {key: t[key] for key in intervals + from_statistics}
            for t in statistics["targets"]
        ]
    )
    targets = [Target(*run).name for run in zip(summary.model, summary.strategy, summary.seed, strict=True)]
    per_seed = summary.assign(target=targets).merge(cis, on=["target", "seed"])
    grouped = per_seed.groupby(["model", "strategy"], sort=False)
    averaged = [metric.name for metric in metrics.in_overview()]
    table = grouped[averaged].mean()
    spread = grouped[averaged].std(ddof=1).add_suffix("_sd").fillna(0.0)
    table = table.join(spread).join(grouped.seed.count().rename("n_seeds"))
    table = table.join(grouped[intervals].first()).reset_index()
    table["best"] = [set() for _ in range(len(table))]
    targets = table.model != BASELINE_MODEL  # a shortcut baseline is a yardstick, never the best target
    for metric in metrics.METRICS:
        if metric.best:
            extreme = getattr(table.loc[targets, metric.name], metric.best.direction)()
            ties = targets & np.isclose(table[metric.name], extreme, rtol=0, atol=1e-9)
            for index in table.index[ties]:  # a mean of equal accuracies may differ in the last bit
                table.loc[index, "best"].add(metric.best.criterion)
    return table, per_seed


def shown_columns(per_seed):
    """The overview's metrics that some run has a value of (no de-duplicated column without twins)."""
    return [metric for metric in metrics.in_overview() if per_seed[metric.name].notna().any()]


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
    cross_validation_json=None,
    selection_jsons=(),
    counterfactual_stats=None,
):
    """summary.csv and report.html; `run_dirs` holds the targets' and the shortcut baselines' run folders.
    `audit_json` is the data audit's summary and `audit_csv` its per-file table, shown when given;
    `export_jsons` are the targets' export.json files, when config export.enabled; `external_sets`
    maps each external test set's name to its classes, audit.json and stats.json (and the counterfactual
    view's, `counterfactual_stats`, as `counterfactual_stats` is the internal test set's: the section
    "Without the intensity shortcut", mribench.counterfactual); `selection_jsons` are the selection.json
    files of the targets with a tuning grid; `cross_validation_json` the fold statistics
    (stats.write_fold_statistics), with cross_validation on."""
    external_sets = external_sets or {}
    runs = collect_runs(run_dirs, list(external_sets), selection_jsons)
    summary = summarise(runs, list(external_sets))
    statistics = json.loads(Path(stats_json).read_text())
    folds = json.loads(Path(cross_validation_json).read_text()) if cross_validation_json else None
    write_summary(with_cross_validation(summary, folds), list(external_sets), out_summary)
    table, per_seed = overview(summary, statistics)
    baselines = table[table.model == BASELINE_MODEL]
    table = table[table.model != BASELINE_MODEL]
    split_rows = pd.read_csv(split_csv)
    stats_dir = Path(stats_json).parent
    targets = [run for run in runs if not run.is_baseline]
    by_dir = {run.run_dir.as_posix(): run for run in targets}
    by_run = {(t["target"], t["seed"]): t for t in statistics["targets"]}
    sections = []
    for row in per_seed[per_seed.model != BASELINE_MODEL].itertuples():
        stem = Target(row.model, row.strategy, row.seed).job_name
        gallery = Path(row.run_dir, "gradcam", "gallery.png")
        sections.append(
            {
                "row": row,
                "anchor": stem,
                "metrics": by_dir[row.run_dir].metrics,
                "stats": by_run[row.target, row.seed],
                "confusion": data_uri(Path(row.run_dir, "confusion.png")),
                "curves": data_uri(Path(row.run_dir, "curves.png")),
                "roc": data_uri(stats_dir / "figures" / f"{stem}_roc.png"),
                "calibration": data_uri(stats_dir / "figures" / f"{stem}_calibration.png"),
                "gradcam": data_uri(gallery) if config["report"]["gradcam"] else None,
                "worst": worst_errors(Path(row.run_dir, "predictions.csv"), dataset_dir),
                "selection": by_dir[row.run_dir].selection,
                "grid_curves": grid_curves(by_dir[row.run_dir].selection),
            }
        )
    costs = provenance.job_costs(benchmark_dir)
    html = render(
        "report.html.j2",
        table=table,
        baselines=baseline_rows(baselines, runs, split_rows, config["dataset"]["classes"]),
        untrained=not_imagenet(targets),
        budget={s: epoch_budget(config["training"], s) for s in config["strategies"]},
        excluded=[target_label(Target.named(name, None)) for name in config["exclude_targets"]],
        signatures=source_signatures(audit_csv, split_rows) if audit_csv else None,
        per_seed=per_seed,
        several_seeds=len(config["seeds"]) > 1,
        columns=shown_columns(per_seed),
        statistics=statistics,
        mcnemar=mcnemar_matrices(statistics["mcnemar"]),
        target_labels=target_labels(runs),
        cost_figure=figure_uri(plots.cost_accuracy_figure, table),
        runs=sections,
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
        external=external_sections(targets, external_sets),
        cross_validation=cross_validation_section(
            folds, statistics, runs, config["cross_validation"], list(external_sets)
        ),
        counterfactual=counterfactual_sections(counterfactual_stats, external_sets, runs),
        config_yaml=yaml.safe_dump(config, sort_keys=False),
        provenance={
            "mribench": mribench.__version__,
            "commit": provenance.git_commit(workflow_dir) or "not a git checkout",
            "versions": {k: v for k, v in targets[0].train["versions"].items() if k != "mribench"}
            | {"snakemake": snakemake_version()},
            "report_python": platform.python_version(),
            "hardware": training_hardware(targets),
            "dataset_checksum": provenance.dataset_checksum(split_csv),
            "split_sha256": provenance.file_sha256(split_csv),
            "n_images": len(split_rows),
            "costs": costs,
            "started": costs.started.min() if len(costs) else None,
            "ended": datetime.now(timezone.utc),
        },
    )
    Path(out_html).write_text(html)


def with_cross_validation(summary, folds):
    """summary.csv's rows with the cross-validation figures of their target and seed (none when off):
    mean and SD over folds x repeats, each fold's value (cv_<metric>_r<repeat>f<fold>), the fold
    models' mean and the fold ensemble's figures on Testing."""
    if folds is None:
        return summary
    table = pd.DataFrame(folds["targets"])
    per_fold = pd.DataFrame(folds["folds"]).assign(
        name=lambda t: [Fold(r, f).name for r, f in zip(t.repeat, t.fold, strict=True)]
    )
    wide = per_fold.pivot_table(index=["target", "seed"], columns="name", values=["accuracy", "macro_f1"])
    wide.columns = [f"cv_{metric}_{name}" for metric, name in wide.columns]
    table = table.merge(wide.reset_index(), on=["target", "seed"])
    names = [Target(*run).name for run in zip(summary.model, summary.strategy, summary.seed, strict=True)]
    merged = summary.assign(target=names).merge(table, on=["target", "seed"], how="left")
    return merged.drop(columns="target")


def cross_validation_section(folds, statistics, runs, settings, external_names=()):
    """The report's cross-validation section: per target the fold figures, the fold ensembles on Testing
    and the external sets, and the corrected t-tests beside the single split's McNemar test of the same
    two targets; None without cross-validation."""
    if folds is None:
        return None
    mcnemar = {(t["seed"], t["a"], t["b"]): t for t in statistics["mcnemar"]}
    tests = [test | {"mcnemar": mcnemar.get((test["seed"], test["a"], test["b"]))} for test in folds["tests"]]
    labels = target_labels(runs)
    fold_names = [Fold(r["repeat"], r["fold"]).name for r in folds["folds"]]
    return {
        "settings": settings,
        "ratio": folds["test_train_ratio"],
        "targets": folds["targets"],
        "fold_names": list(dict.fromkeys(fold_names)),
        "scores": {
            (r["target"], r["seed"], name): r for r, name in zip(folds["folds"], fold_names, strict=True)
        },
        "tests": tests,
        "external": list(external_names),
        "labels": labels,
        "alpha": folds["alpha"],
    }


def baseline_rows(baselines, runs, split_rows, classes):
    """The overview rows of the shortcut baselines, with chance (the largest class's share of the test
    set) and the features the forest relied on most (from the baseline's train.json)."""
    test = split_rows[split_rows.split == "test"]
    chance = test.label.value_counts().reindex(classes, fill_value=0).max() / max(len(test), 1)
    records = {}
    for run in runs:
        if run.is_baseline:
            records.setdefault(run.strategy, run.train)  # the features of the first seed
    return [
        row | {"chance": chance, "workflow": records[row["strategy"]]["workflow"],
               "top_features": records[row["strategy"]]["top_features"]}
        for row in baselines.to_dict("records")
    ]  # fmt: skip


def not_imagenet(runs):
    """The transfer-learning targets whose base did not start from ImageNet weights, as (target, weights).

    A from-scratch target starts from random weights by design and is not listed."""
    found = {}
    for run in runs:
        if not get_strategy(run.strategy).random_base and run.train["weights"] != "imagenet":
            found[target_label(run.target)] = run.train["weights"]
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


def external_sections(runs, external_sets):
    """One report section per external test set: every target beside its internal test, and the overlap.

    `runs` are the runs' records, the targets' with their metrics on every external set."""
    sections = []
    for name, test_set in external_sets.items():
        statistics = json.loads(Path(test_set["stats"]).read_text())
        by_run = {(t["target"], t["seed"]): t for t in statistics["targets"]}
        rows = [
            {
                "model": run.model,
                "strategy": run.strategy,
                "seed": run.seed,
                "internal_accuracy": metrics.by_name("test_accuracy").read(run),
                "internal_macro_f1": metrics.by_name("test_macro_f1").read(run),
                "metrics": run.external[name],
                "stats": by_run[run.target.name, run.seed],
            }
            for run in runs
            if not run.is_baseline
        ]
        sections.append(
            {
                "name": name,
                "classes": test_set["classes"],
                "audit": json.loads(Path(test_set["audit"]).read_text()),
                "rows": rows,
                "mcnemar": statistics["mcnemar"],
                "labels": target_labels(runs),
                "alpha": statistics["alpha"],
            }
        )
    return sections


def counterfactual_sections(stats_json, external_sets, runs):
    """The views of the internal test set and of every external set, when the counterfactual statistics
    are given."""
    if stats_json is None:
        return []
    stats_jsons = {"Internal test set": stats_json} | {
        f"External test set {name}": test_set["counterfactual_stats"]
        for name, test_set in external_sets.items()
    }
    return counterfactual.report_sections(stats_jsons, target_labels(runs))


def render(template_name, **context):
    """Autoescaped Jinja2: class names, file names and config values are shown as text, never as markup."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["percent"] = lambda value: metrics.formatted(value, metrics.PERCENT)
    environment.filters["formatted"] = metrics.formatted
    environment.filters["strategy_label"] = strategy_label
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


def training_hardware(runs):
    """The distinct machines the targets were trained on (host, CPU and GPU models)."""
    machines = set()
    for run in runs:
        hardware = run.train["hardware"]
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


def grid_curves(selection):
    """The validation curves of a tuned target's points; None for a target without a grid."""
    return figure_uri(plots.grid_curves_figure, selection) if selection else None


def figure_uri(draw, *args):
    buffer = io.BytesIO()
    draw(*args, buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def data_uri(png_path):
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")
