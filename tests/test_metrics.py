"""The list of metrics (mribench.metrics) and the runs' records (mribench.records): summary.csv, the
report's overview and the model card built from small hand-written run folders, without Snakemake."""

import json
import math

import pandas as pd
import pytest
import yaml
from conftest import REPO

from mribench import metrics
from mribench.metrics import Metric
from mribench.model_card import write_model_card
from mribench.records import collect_runs, read_run
from mribench.report import overview, render, shown_columns, summarise, write_summary

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
# summary.csv's columns on main before the metric list (a run with one external test set, "ext"),
# `tuned` (issue 22: the chosen values of a target with a tuning grid) and the counterfactual view's
# (issue 26).
SUMMARY_COLUMNS = [
    "model", "strategy", "seed", "workflow", "tuned", "train_accuracy", "val_accuracy", "test_accuracy",
    "test_loss", "test_macro_f1", "test_weighted_f1", "test_dedup_accuracy", "test_dedup_macro_f1",
    "counterfactual_accuracy", "counterfactual_accuracy_drop", "n_test",
    "n_test_dedup", "stage_seconds", "total_seconds", "model_bytes", "total_params", "trainable_params",
    "epochs_run", "total_epochs", "image_passes", "run_dir", "external_ext_accuracy", "external_ext_macro_f1",
    "external_ext_n_images", "external_ext_accuracy_drop", "external_ext_counterfactual_accuracy",
]  # fmt: skip


def part(accuracy, n_images=8, loss=0.9):
    """A metrics.json part (test, test_dedup, external) with a classification report."""
    scores = {"precision": accuracy, "recall": accuracy, "f1-score": accuracy, "support": n_images / 4}
    report = {name: scores for name in CLASSES + ["macro avg", "weighted avg"]}
    return {"accuracy": accuracy, "loss": loss, "n_images": n_images, "classification_report": report}


def write_run(folder, model, strategy, seed, accuracy, external=None):
    """A target's run folder as train and evaluate write it: two stages, one external set when given."""
    stage = {"learning_rate": 1e-3, "best_epoch": 1, "train_accuracy": 0.6, "val_accuracy": 0.55}
    train = {
        "model": model,
        "strategy": strategy,
        "seed": seed,
        "workflow": "tf.data",
        "weights": "none",
        "classes": CLASSES,
        "image_size": 32,
        "deterministic": True,
        "total_params": 1234567,
        "trainable_params": 4321,
        "model_bytes": 2_500_000,
        "seconds": 30.0 + seed,
        "images": {"train": 24, "val": 8, "test": 8},
        "versions": {"mribench": "0", "tensorflow": "2"},
        "stages": [
            stage | {"stage": "feature_extraction", "epochs_run": 2, "val_loss": 1.1, "seconds": 10.0},
            stage | {"stage": "fine_tuning", "epochs_run": 3, "val_loss": 1.0, "seconds": 20.0 + seed},
        ],
    }
    write_json(folder / "train.json", train)
    write_json(
        folder / "metrics.json", {"classes": CLASSES, "test": part(accuracy), "test_dedup": part(0.5, 4)}
    )
    write_json(folder / "counterfactual/metrics.json", {"classes": CLASSES, "test": part(accuracy - 0.25)})
    if external is not None:
        write_json(folder / "external/ext/metrics.json", {"classes": CLASSES, "external": part(external, 6)})
        write_json(
            folder / "external/ext/counterfactual/metrics.json",
            {"classes": CLASSES, "external": part(0.25, 6)},
        )
    return folder


def write_baseline(folder, seed):
    """A shortcut baseline's run folder: one stage without epochs, no model file or parameters."""
    stage = {"stage": "file_metadata", "seconds": 0.5, "train_accuracy": 0.9, "val_accuracy": 0.4}
    train = {
        "model": "baseline",
        "strategy": "file_metadata",
        "seed": seed,
        "workflow": "scikit-learn",
        "images": {"train": 24, "val": 8, "test": 8},
        "top_features": [{"feature": "width", "importance": 0.5}],
        "stages": [stage],
        "seconds": 0.5,
        "versions": {"mribench": "0"},
    }
    write_json(folder / "train.json", train)
    write_json(
        folder / "metrics.json", {"classes": CLASSES, "test": part(0.375), "test_dedup": part(0.25, 4)}
    )
    write_json(folder / "counterfactual/metrics.json", {"classes": CLASSES, "test": part(0.375)})
    return folder


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def statistics(runs):
    """stats.json's per-target rows for the given records."""
    targets = [
        {
            "target": run.target.name,
            "seed": run.seed,
            "accuracy_ci": [0.25, 0.75],
            "macro_f1_ci": [0.2, 0.7],
            "macro_auc": 0.8,
            "ece": 0.1,
        }
        for run in runs
    ]
    return {"targets": targets, "bootstrap": {"resamples": 100}}


@pytest.fixture
def run_dirs(tmp_path):
    """One target with an external set and a shortcut baseline, one seed each."""
    return [
        write_run(tmp_path / "runs/vgg16_fine_tuning/seed1", "vgg16", "fine_tuning", 1, 0.625, external=0.5),
        write_baseline(tmp_path / "runs/baseline_file_metadata/seed1", 1),
    ]


def test_summary_csv_keeps_its_columns_and_values(run_dirs, tmp_path):
    summary = summarise(collect_runs(run_dirs, ["ext"]), ["ext"])
    write_summary(summary, ["ext"], tmp_path / "summary.csv")
    text = (tmp_path / "summary.csv").read_text().splitlines()
    assert text[0].split(",") == SUMMARY_COLUMNS
    csv = pd.read_csv(tmp_path / "summary.csv")
    target, baseline = csv.iloc[0], csv.iloc[1]
    assert target.test_accuracy == 0.625 and target.train_accuracy == 0.6 and target.stage_seconds == 21.0
    assert (target.total_epochs, target.image_passes, target.epochs_run) == (5, 120, 3)
    assert target.external_ext_accuracy_drop == 0.125 and target.external_ext_n_images == 6
    assert (target.counterfactual_accuracy, target.counterfactual_accuracy_drop) == (0.375, 0.25)
    assert target.external_ext_counterfactual_accuracy == 0.25
    assert baseline.counterfactual_accuracy_drop == 0 and pd.isna(
        baseline.external_ext_counterfactual_accuracy
    )
    assert "1234567," in text[1] and "tf.data," in text[1]  # a count, not 1.23457e+06
    for column in ("model_bytes", "total_params", "total_epochs", "image_passes", "external_ext_n_images"):
        assert pd.isna(baseline[column]), column  # the baselines have none: empty
    assert ",,,," in text[2] and baseline.test_accuracy == 0.375


def test_every_file_of_a_run_is_read_into_its_record(run_dirs):
    target, baseline = collect_runs(run_dirs, ["ext"])
    assert (target.target.name, target.is_baseline, list(target.external)) == (
        "vgg16_fine_tuning",
        False,
        ["ext"],
    )
    assert baseline.is_baseline and baseline.external == {}  # the baselines score the internal test only
    with pytest.raises(FileNotFoundError, match="external/other/metrics.json"):
        read_run(run_dirs[0], ["other"])


def test_overview_follows_the_metric_list(run_dirs):
    runs = collect_runs(run_dirs)
    table, per_seed = overview(summarise(runs), statistics(runs))
    columns = shown_columns(per_seed)
    assert [m.name for m in columns] == [m.name for m in metrics.METRICS if m.label]
    html = overview_html(table, per_seed, columns)
    assert html.count("<th>test acc</th>") == 2  # the overview and the per-seed table
    assert (
        "<td>1,234,567</td>" in html and '<td class="best">62.5<span class="ci">CI 25.0–75.0</span>' in html
    )
    assert '<tr class="baseline">' in html and "<td>–</td>" in html  # the baseline has no parameters


def test_a_column_no_run_has_is_left_out_of_the_overview(run_dirs):
    runs = collect_runs(run_dirs)
    for run in runs:
        run.metrics["test_dedup"]["accuracy"] = None  # no test image without a twin in Training
    _, per_seed = overview(summarise(runs), statistics(runs))
    assert "test_dedup_accuracy" not in [m.name for m in shown_columns(per_seed)]


def test_a_metric_added_to_the_list_reaches_summary_overview_and_card(run_dirs, tmp_path, monkeypatch):
    """Adding a metric is one entry: summary.csv, both report tables and the card show it."""
    balanced = Metric(
        "test_balanced_accuracy",
        lambda run: run.metrics["test"]["classification_report"]["macro avg"]["recall"],
        "balanced acc",
        spread=True,
        per_seed=True,
        card="balanced accuracy",
    )
    monkeypatch.setattr(metrics, "METRICS", [*metrics.METRICS, balanced])
    runs = collect_runs(run_dirs)
    summary = summarise(runs)
    write_summary(summary, [], tmp_path / "summary.csv")
    assert pd.read_csv(tmp_path / "summary.csv").columns[-2:].tolist() == [
        "test_balanced_accuracy",
        "run_dir",
    ]

    table, per_seed = overview(summary, statistics(runs))
    html = overview_html(table, per_seed, shown_columns(per_seed))
    assert html.count("<th>balanced acc</th>") == 2 and "<td>62.5</td></tr>" in html

    card = write_card(run_dirs[0], tmp_path)
    assert "loss 0.9000,\nmacro-F1 0.6250 (95 % CI 0.2000–0.7000),\nbalanced accuracy 0.6250." in card


def test_the_card_reads_its_figures_from_the_metric_list(run_dirs, tmp_path):
    card = write_card(run_dirs[0], tmp_path)
    assert "All 8 test images: accuracy 0.6250 (95 % CI 0.2500–0.7500),\nloss 0.9000,\n" in card
    assert "4 test images: accuracy 0.5000,\nmacro-F1 0.5000,\nloss 0.9000.\n" in card
    assert "# Model card: vgg16 · fine-tuning · seed 1" in card


def test_a_stats_figure_cannot_be_a_summary_column():
    with pytest.raises(ValueError, match="metric 'auc_pr'.*summary=False"):
        Metric("auc_pr", None, "AUC-PR")
    with pytest.raises(ValueError, match="metric 'x': spread, interval, best and per_seed need a label"):
        Metric("x", lambda run: 1.0, spread=True)


def test_values_are_formatted_as_each_metric_says():
    assert metrics.formatted(0.12345, metrics.PERCENT) == "12.3"
    assert metrics.formatted(1234567.0, "{:,.0f}") == "1,234,567"
    assert metrics.formatted(math.nan, "{:.3f}") == metrics.formatted(None, metrics.PERCENT) == "–"


def overview_html(table, per_seed, columns):
    baselines = table[table.model == "baseline"].to_dict("records")
    return render(
        "overview.html.j2",
        table=table[table.model != "baseline"],
        baselines=[row | {"chance": 0.25, "top_features": []} for row in baselines],
        per_seed=per_seed,
        columns=columns,
        several_seeds=False,
        statistics={"bootstrap": {"resamples": 100}},
        config={"seeds": [1]},
    )


def write_card(run_dir, tmp_path):
    """The model card of a hand-written run, with the intervals of a hand-written stats.json."""
    run = read_run(run_dir)
    write_json(tmp_path / "stats.json", statistics([run]))
    pd.DataFrame({"label": CLASSES, "split": ["train", "val", "test", "test"]}).to_csv(
        tmp_path / "split.csv", index=False
    )
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    out = tmp_path / "MODEL_CARD.md"
    write_model_card(
        run_dir / "train.json", run_dir / "metrics.json", tmp_path / "split.csv", config["dataset"],
        config["training"], out, stats_json=tmp_path / "stats.json",
    )  # fmt: skip
    return out.read_text()
