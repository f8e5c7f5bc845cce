"""The HTML report of the tiny run: its statistics, its safety with hostile names, and how it behaves in a
real browser; and Snakemake's own report of the same run."""

import json
import shutil
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from browser import CHROMIUM, Chromium
from conftest import REPO, TINY, read_json, run_snakemake
from snakemake.utils import update_config

from mribench import metrics, provenance
from mribench.report import overview, write_report

ARTIFACTS = REPO / "test-artifacts"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).is_file(), reason=f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium)"
)


def tiny_config():
    """config.yaml under the tiny profile, merged as Snakemake merges config files."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load(TINY.read_text()))
    return config


def test_overview_averages_seeds_and_marks_every_best_target():
    rows = []
    for model, strategy, accuracies, seconds, megabytes in (
        ("vgg16", "fine_tuning", (0.90, 0.80), 100.0, 120.0),
        ("mobilenetv2", "fine_tuning", (0.85, 0.85), 30.0, 20.0),
        ("mobilenetv2", "feature_extraction", (0.80, 0.90), 30.0, 15.0),
    ):
        for seed, test_accuracy in zip((1, 2), accuracies, strict=True):
            rows.append(
                {metric.name: 0.5 for metric in metrics.from_runs()}
                | {
                    "model": model,
                    "strategy": strategy,
                    "seed": seed,
                    "test_accuracy": test_accuracy,
                    "total_seconds": seconds,
                    "model_megabytes": megabytes,
                }
            )
    statistics = {
        "targets": [
            {
                "target": f"{r['model']}_{r['strategy']}",
                "seed": r["seed"],
                "accuracy_ci": [0.7, 0.95],
                "macro_f1_ci": [0.6, 0.9],
                "macro_auc": 0.9,
                "ece": 0.05,
            }
            for r in rows
        ]
    }
    table, per_seed = overview(pd.DataFrame(rows), statistics)
    assert len(per_seed) == 6 and table.n_seeds.tolist() == [2, 2, 2]
    assert table.test_accuracy.tolist() == pytest.approx([0.85, 0.85, 0.85])
    assert table.test_accuracy_sd.tolist() == pytest.approx([0.0707107, 0.0, 0.0707107])
    assert [sorted(best) for best in table.best] == [
        ["accuracy"],
        ["accuracy", "speed"],
        ["accuracy", "size", "speed"],
    ]


def test_statistics_of_the_tiny_run(tiny_run):
    stats = read_json(tiny_run / "results/stats/stats.json")
    assert stats["bootstrap"]["resamples"] == 1000
    assert len(stats["targets"]) == 6  # 4 targets and 2 shortcut baselines
    assert len(stats["mcnemar"]) == 15  # every two of them
    assert [c["model"] for c in stats["strategy_comparisons"]] == ["mobilenetv2", "vgg16"]
    for target in stats["targets"]:
        low, high = target["accuracy_ci"]
        assert low <= target["accuracy"] <= high
        assert 0 <= target["ece"] <= 1
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    targets = pd.read_csv(tiny_run / "results/stats/targets.csv")
    merged = summary.assign(target=summary.model + "_" + summary.strategy).merge(
        targets, on=["target", "seed"]
    )
    assert (merged.test_accuracy - merged.accuracy).abs().max() < 1e-6
    for target in summary.model + "_" + summary.strategy:
        for figure in ("roc", "calibration"):
            assert (tiny_run / f"results/stats/figures/{target}_seed42_{figure}.png").stat().st_size > 0


def test_gradcam_gallery_of_every_target(tiny_run):
    for gallery in (tiny_run / "results/runs").glob("*/seed42/gradcam/gallery.png"):
        selection = pd.read_csv(gallery.with_name("selection.csv"))
        assert set(selection.true) <= {"glioma", "meningioma", "notumor", "pituitary"}
        assert selection.groupby(["true", "correct"]).size().max() == 1  # gradcam_images_per_class: 1
        assert read_json(gallery.with_name("gradcam.json"))["layer"]
    assert len(list((tiny_run / "results/runs").glob("*/seed42/gradcam/gallery.png"))) == 4  # every target


def test_report_shows_statistics_and_provenance(tiny_run):
    html = (tiny_run / "results/report.html").read_text()
    for anchor in (
        "overview",
        "strategies",
        "significance",
        "cost",
        "targets",
        "data",
        "audit",
        "provenance",
    ):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html
    assert "feature extraction for VGG16" in html
    assert provenance.dataset_checksum(tiny_run / "results/data/split.csv") in html
    assert provenance.cpu_model() in html
    assert "snakemake" in html and "tensorflow" in html
    assert html.count('alt="Grad-CAM gallery') == 4  # the tiny run's 4 targets
    assert "benchmark files" in html and "train</td>" in html


def test_report_says_when_bases_are_not_pretrained_on_imagenet(tiny_run, tmp_path):
    """The tiny run's bases are random (weights: none): the report says so at the top; with ImageNet
    weights it does not."""
    html = (tiny_run / "results/report.html").read_text()
    banner = html.index('id="not-imagenet"')
    assert banner < html.index('id="overview"') and "Not a transfer-learning result" in html
    assert "vgg16 fine-tuning: <code>weights: none</code>" in html

    results = tmp_path / "results"
    shutil.copytree(tiny_run / "results", results, ignore=shutil.ignore_patterns("*.keras", "dataset"))
    for train_json in results.glob("runs/**/train.json"):  # the targets' and the tuning points'
        train = read_json(train_json)
        if train["model"] != "baseline":
            train_json.write_text(json.dumps(train | {"weights": "imagenet"}))
    out = tmp_path / "report.html"
    write_report(
        run_dirs=sorted(str(p) for p in results.glob("runs/*/seed42")),
        split_csv=results / "data/split.csv",
        dataset_dir=tiny_run / "results/data/dataset",
        stats_json=results / "stats/stats.json",
        config=tiny_config(),
        workflow_dir=REPO,
        benchmark_dir=tiny_run / "benchmarks",
        out_summary=tmp_path / "summary.csv",
        out_html=out,
        selection_jsons=results.glob("runs/*/seed42/selection.json"),
    )
    assert "not-imagenet" not in out.read_text()
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert (summary.model == "baseline").sum() == 2  # the baselines' rows, found among the run folders


def test_script_in_class_and_file_names_renders_as_text(tiny_run, tmp_path):
    """A class called "<script>glioma" (and so every file under it) must show as text, not run."""
    hostile = "<script>glioma"
    results = tmp_path / "results"
    shutil.copytree(tiny_run / "results", results, ignore=shutil.ignore_patterns("*.keras"))
    for split in ("Training", "Testing"):
        (results / "data/dataset" / split / "glioma").rename(results / "data/dataset" / split / hostile)
    runs = [*results.glob("runs/*/*/*.*"), *results.glob("runs/*/*/tuning/*/*.*")]
    for path in [results / "data/split.csv", results / "stats/stats.json", *runs]:
        if path.suffix in (".csv", ".json"):
            path.write_text(path.read_text().replace("glioma", hostile))
    config = tiny_config()
    config["dataset"]["classes"] = [hostile if c == "glioma" else c for c in config["dataset"]["classes"]]

    out = tmp_path / "report.html"
    write_report(
        run_dirs=sorted(str(p) for p in results.glob("runs/*/seed42")),
        split_csv=results / "data/split.csv",
        dataset_dir=results / "data/dataset",
        stats_json=results / "stats/stats.json",
        config=config,
        workflow_dir=REPO,
        benchmark_dir=tiny_run / "benchmarks",
        out_summary=tmp_path / "summary.csv",
        out_html=out,
        selection_jsons=results.glob("runs/*/seed42/selection.json"),
    )
    html = out.read_text()
    assert "<script" not in html
    assert "&lt;script&gt;glioma</td>" in html  # per-class tables
    assert "Training/&lt;script&gt;glioma/" in html  # file names of the sample images


@needs_chromium
def test_report_loads_in_a_browser_without_errors(tiny_run):
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    with Chromium() as browser:
        page = browser.check_page((tiny_run / "results/report.html").as_uri(), screenshot=screenshot)
    assert page["title"] == "mribench report"
    assert page["console_errors"] == []
    assert page["broken_images"] == []
    assert page["remote_requests"] == []
    assert screenshot.stat().st_size > 10_000


@needs_chromium
def test_browser_check_catches_what_it_must(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<img src="http://example.invalid/x.png" alt="remote"><img src="missing.png" alt="missing">'
        '<script>console.error("boom")</script>'
    )
    with Chromium() as browser:
        found = browser.check_page(page.as_uri())
    assert "boom" in found["console_errors"]
    assert found["broken_images"] == ["remote", "missing"]
    assert found["remote_requests"] == ["http://example.invalid/x.png"]


def test_snakemake_report_zip(tiny_run, tmp_path):
    run_snakemake(tiny_run, "--report", str(tmp_path / "report.zip"))
    with zipfile.ZipFile(tmp_path / "report.zip") as archive:
        names = archive.namelist()
    assert any(n.endswith("report.html") for n in names)
    for output in ("gallery.png", "targets.csv", "mcnemar.csv", "_roc.png", "confusion.png"):
        assert any(n.endswith(output) for n in names), output
    assert json.dumps(names).count("gallery.png") == 4  # the tiny run's 4 targets
