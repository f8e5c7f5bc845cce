"""The real Snakemake workflow, end to end on the tiny preset (its re-runs: tests/test_rebuild.py)."""

import base64
import json

import numpy as np
import pandas as pd
import pytest
from conftest import (
    BACKEND,
    NO_GRID,
    SAMPLE,
    TINY,
    TINY_RUN_PROFILES,
    chosen_run,
    merged_config,
    planned_jobs,
    read_json,
    run_snakemake,
    write_yaml,
)
from PIL import Image

from mribench import tuning
from mribench.model_file import read_metadata
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.targets import Target, TuningPoint

# The bases of the tiny run: vgg16 and mobilenetv2 on TensorFlow, mobilenetv2 on JAX.
MODELS = merged_config(*TINY_RUN_PROFILES)["models"]
TARGETS = [f"{m}_{s}" for m in MODELS for s in ("feature_extraction", "fine_tuning")]
# in the run folder that trained the model: the target's, or its chosen tuning point's (chosen_run)
TRAINED_FILES = ["model.keras", "history.csv", "train.json", "tensorboard"]
RUN_FILES = [
    "metrics.json",
    "predictions.csv",
    "confusion.png",
    "curves.png",
    "gradcam/gallery.png",
    "MODEL_CARD.md",
]


def test_default_config_plans_the_study(tmp_path):
    result = run_snakemake(tmp_path, "-n", configfiles=())
    assert planned_jobs(result) == {
        "obtain_dataset": 1,
        "audit": 1,
        "fetch_weights": 3,  # one ImageNet weights file per model, downloaded before training
        "split_dataset": 1,
        "intensity_reference": 1,  # the counterfactual view's reference histogram, from training images
        "baseline": 2,  # the shortcut baselines: file metadata, intensity histogram
        "train": 6,
        "evaluate": 6,
        "gradcam": 6,
        "stats": 1,
        "stats_counterfactual": 1,
        "report": 1,
        "model_card": 6,
        "all": 1,
    }


def test_gradcam_can_be_skipped(tmp_path):
    no_gradcam = write_yaml(tmp_path / "no_gradcam.yaml", {"report": {"gradcam": False}})
    result = run_snakemake(tmp_path, "-n", configfiles=(no_gradcam,))
    assert "gradcam" not in planned_jobs(result)
    assert planned_jobs(result)["stats"] == 1


def test_single_target_plans_only_what_it_needs(tmp_path):
    target = "results/runs/mobilenetv2_fine_tuning/seed42/metrics.json"
    result = run_snakemake(tmp_path, "-n", target, configfiles=())
    assert planned_jobs(result) == {
        "obtain_dataset": 1,
        "audit": 1,
        "fetch_weights": 1,
        "split_dataset": 1,
        "intensity_reference": 1,  # evaluation scores the counterfactual view too
        "train": 2,
        "evaluate": 1,
    }


def test_excluded_targets_are_not_planned_but_a_start_run_still_trains(tmp_path):
    """The default study less vgg16's feature extraction and mobilenetv2's fine-tuning: 4 targets
    scored; vgg16's feature extraction still trains, as the run its fine-tuning continues, and
    mobilenetv2's does not train twice."""
    excluded = write_yaml(
        tmp_path / "excluded.yaml",
        {"exclude_targets": ["vgg16_feature_extraction", "mobilenetv2_fine_tuning"]},
    )
    result = run_snakemake(tmp_path, "-n", configfiles=(excluded,))
    jobs = planned_jobs(result)
    assert jobs["train"] == 5 and jobs["evaluate"] == jobs["gradcam"] == jobs["model_card"] == 4
    assert "results/runs/vgg16_feature_extraction/seed42/model.keras" in result.stdout
    assert "results/runs/vgg16_feature_extraction/seed42/metrics.json" not in result.stdout
    assert "mobilenetv2_fine_tuning" not in result.stdout


@pytest.mark.backends
def test_every_output_exists_and_is_consistent(tiny_run):
    split = pd.read_csv(tiny_run / "results/data/split.csv")
    assert list(split.columns[:4]) == ["path", "label", "split", "sha256"]
    assert set(split.split) == {"train", "val", "test"}
    assert all((tiny_run / "results/data/dataset" / p).is_file() for p in split.path)
    n_test = (split.split == "test").sum()
    n_test_dedup = (~split[split.split == "test"].train_twin.isin(["exact", "pixel"])).sum()
    audit = read_json(tiny_run / "results/data/audit.json")
    assert audit["files"]["valid"] == len(split) == len(pd.read_csv(tiny_run / "results/data/audit.csv"))

    summary = pd.read_csv(tiny_run / "results/summary.csv")
    assert len(summary) == len(TARGETS) + 2
    baselines = ["baseline_file_metadata", "baseline_intensity_histogram"]
    assert sorted(summary.model + "_" + summary.strategy) == sorted(TARGETS + baselines)
    for column in ("train_accuracy", "val_accuracy", "test_accuracy", "test_macro_f1"):
        assert summary[column].between(0, 1).all(), column

    for target in TARGETS:
        run = tiny_run / "results/runs" / target / "seed42"
        trained = chosen_run(tiny_run, Target(*target.split("_", 1), 42))
        for name in RUN_FILES:
            assert (run / name).stat().st_size > 0, f"{target}/{name}"
        for name in TRAINED_FILES:
            assert (trained / name).stat().st_size > 0, f"{target}/{name}"
        metrics = read_json(run / "metrics.json")["test"]
        assert 0 <= metrics["accuracy"] <= 1
        assert read_json(run / "metrics.json")["test_dedup"]["n_images"] == n_test_dedup
        assert np.sum(metrics["confusion_matrix"]) == n_test
        predictions = pd.read_csv(run / "predictions.csv")
        assert len(predictions) == n_test
        probabilities = predictions.filter(like="p_").to_numpy()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-4)
        assert metrics["accuracy"] == pytest.approx((predictions.true == predictions.predicted).mean())
        train = read_json(trained / "train.json")
        assert train["model_bytes"] == (trained / "model.keras").stat().st_size
        assert train["seed"] == 42 and train["deterministic"] is True
        assert train["backend"]["name"] == read_json(run / "metrics.json")["backend"]["name"] == BACKEND
        assert train["versions"]["keras backend"] == BACKEND and BACKEND in train["versions"]
        history = pd.read_csv(trained / "history.csv")
        expected_stages = ["feature_extraction"] + (["fine_tuning"] if "fine_tuning" in target else [])
        assert list(history.stage.unique()) == expected_stages
        assert [s["stage"] for s in train["stages"]] == expected_stages

    for rule in ("obtain_dataset", "audit", "split_dataset", "stats", "report"):
        assert (tiny_run / "logs" / rule / f"{rule}.log").exists()
        assert (tiny_run / "benchmarks" / rule / f"{rule}.tsv").exists()
    train_log = (tiny_run / f"logs/train/{MODELS[0]}_fine_tuning_seed42.log").read_text()
    assert "val_accuracy" in train_log  # Keras' once-per-epoch line

    assert_counterfactual_view(tiny_run, summary)

    html = (tiny_run / "results/report.html").read_text()
    assert '<img src="data:image/png;base64,' in html
    assert 'id="audit"' in html and "test acc (dedup)" in html
    assert "http://" not in html and "https://" not in html.replace("https://json-schema.org", "")
    for model in MODELS:
        for strategy in ("feature_extraction", "fine_tuning"):
            anchor = Target(model, strategy, 42).job_name  # each target's section, linked from the contents
            assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html


def assert_counterfactual_view(tiny_run, summary):
    """Every run scored on the counterfactual view (mribench.intensity) of the internal test set, every
    target on that of the external set, the statistics of both views, and the report's section."""
    reference = read_json(tiny_run / "results/data/intensity_reference.json")
    split = pd.read_csv(tiny_run / "results/data/split.csv")
    assert reference["n_images"] == (split.split == "train").sum() and len(reference["reference"]) == 256
    (external_set,) = merged_config(*TINY_RUN_PROFILES)["external_test_sets"]
    runs = tiny_run / "results/runs"
    for run in [runs / target / "seed42" for target in TARGETS] + list(runs.glob("baseline_*/seed42")):
        views = [run] + ([run / "external" / external_set] if "baseline_" not in run.parent.name else [])
        for view in views:
            original = pd.read_csv(view / "predictions.csv")
            matched = pd.read_csv(view / "counterfactual/predictions.csv")
            assert matched.file.tolist() == original.file.tolist(), view
    stats = read_json(tiny_run / "results/stats/counterfactual/stats.json")
    assert len(stats["targets"]) == len(TARGETS) + 2
    histogram = next(row for row in stats["targets"] if row["target"] == "baseline_intensity_histogram")
    # every matched test image has the same histogram, so the forest answers one class for all
    assert histogram["counterfactual"]["accuracy"] <= stats["chance"] + 1e-9
    metadata = next(row for row in stats["targets"] if row["target"] == "baseline_file_metadata")
    assert metadata["accuracy_drop"] == 0  # it reads no pixels
    assert len(
        read_json(tiny_run / f"results/stats/external/{external_set}/counterfactual/stats.json")["targets"]
    ) == len(TARGETS)
    np.testing.assert_allclose(
        summary.counterfactual_accuracy_drop, summary.test_accuracy - summary.counterfactual_accuracy
    )
    assert summary[f"external_{external_set}_counterfactual_accuracy"].notna().sum() == len(TARGETS)
    html = (tiny_run / "results/report.html").read_text()
    assert 'id="intensity-shortcut"' in html and 'href="#intensity-shortcut"' in html
    assert html.count("on the counterfactual view (") == 2 * 2  # per strategy, internal and external set
    card = (runs / TARGETS[0] / "seed42/MODEL_CARD.md").read_text()
    assert "### Without the intensity shortcut" in card and "`preprocessing.intensity: none`" in card


@pytest.mark.backends
def test_fine_tuning_starts_from_feature_extraction(tiny_run):
    """From the chosen point of feature extraction's tuning grid (the tiny profile's)."""
    fe = read_json(chosen_run(tiny_run, Target("mobilenetv2", "feature_extraction", 42)) / "train.json")
    ft = read_json(tiny_run / "results/runs/mobilenetv2_fine_tuning/seed42/train.json")
    assert ft["stages"][0] == fe["stages"][0]
    assert ft["trainable_params"] > fe["trainable_params"]
    assert ft["seconds"] == pytest.approx(fe["seconds"] + ft["stages"][1]["seconds"], abs=0.01)


def recorded_inputs(workdir, output):
    """The input files Snakemake recorded for the job that wrote `output` (its metadata record)."""
    name = base64.urlsafe_b64encode(output.encode()).decode()
    return read_json(workdir / ".snakemake/metadata" / name)["input"]


@pytest.mark.backends
def test_a_grid_trains_every_point_and_only_the_chosen_one_is_scored(tiny_run):
    """The tiny profile's feature-extraction learning rates: every point trained, the best on validation
    picked from the points' records alone, and only the pick evaluated, on both backends."""
    config = merged_config(*TINY_RUN_PROFILES)
    summary = pd.read_csv(tiny_run / "results/summary.csv").set_index(["model", "strategy"])
    for model in MODELS:
        target = Target(model, "feature_extraction", 42)
        points = tuning.points(config, target)
        assert len(points) == 2
        selection = read_json(tiny_run / target.run_dir / "selection.json")
        losses = {
            p.point.id: read_json(tiny_run / p.run_dir / "train.json")["stages"][-1]["val_loss"]
            for p in points
        }
        assert selection["pick"] == min(losses, key=losses.get) and selection["select_on"] == "val_loss"
        for point in points:  # trained, never scored: no predictions, metrics or Grad-CAM of a point
            assert sorted(f.name for f in (tiny_run / point.run_dir).iterdir()) == sorted(TRAINED_FILES)
        # the selection's inputs: the points' validation records, no test-set file (split, predictions)
        assert sorted(recorded_inputs(tiny_run, f"{target.run_dir}/selection.json")) == sorted(
            f"{p.run_dir}/{name}" for p in points for name in ("train.json", "history.csv")
        )
        chosen = f"{target.run_dir}/tuning/{selection['pick']}"
        assert f"{chosen}/model.keras" in recorded_inputs(tiny_run, f"{target.run_dir}/metrics.json")
        assert f"{chosen}/model.keras" in recorded_inputs(tiny_run, f"{target.run_dir}/gradcam/gallery.png")
        picked = TuningPoint.parse(selection["pick"]).as_dict()["learning_rate"]
        assert summary.loc[(model, "feature_extraction"), "tuned"] == f"learning_rate={picked}"
        assert pd.isna(summary.loc[(model, "fine_tuning"), "tuned"])
        card = (tiny_run / target.run_dir / "MODEL_CARD.md").read_text()
        assert "Hyperparameters chosen on validation (val_loss, lowest) from a grid of\n2 points" in card
    html = (tiny_run / "results/report.html").read_text()
    assert html.count('<table class="grid">') == len(MODELS)
    assert html.count("validation curves of every tuning point") == len(MODELS)


# The bases beyond the study's three, with what sets each apart: ConvNeXtTiny has LayerNormalization
# and no BatchNormalization, and both normalise their input themselves (include_preprocessing).
MODERN_BASES = {"convnexttiny": "ConvNeXtTiny", "efficientnetv2b0": "EfficientNetV2B0"}


# TensorFlow only: on JAX, ConvNeXtTiny's Grad-CAM is test_gradcam.py's and their training is the same
# Keras code the JAX pass's tiny workflow runs with MobileNetV2 (this run costs ~6 minutes of CI).
@pytest.mark.slow
def test_the_modern_bases_train_evaluate_and_explain_in_the_tiny_workflow(tmp_path):
    """Both strategies (fine-tuning starts from feature extraction and unfreezes the configured
    depth) and evaluation of each, asking for their fine-tuning targets' files only; Grad-CAM of
    ConvNeXtTiny, whose layer is the base's output (both bases' Grad-CAM: tests/test_gradcam.py)."""
    overlay = write_yaml(
        tmp_path / "modern.yaml",
        {
            "models": list(MODERN_BASES),
            "model_settings": {"convnexttiny": {"weights": "none"}, "efficientnetv2b0": {"weights": "none"}},
        }
        | NO_GRID,
    )
    runs = {name: tmp_path / f"results/runs/{name}_fine_tuning/seed42" for name in MODERN_BASES}
    wanted = [run / "metrics.json" for run in runs.values()] + [runs["convnexttiny"] / "gradcam/gallery.png"]
    run_snakemake(
        tmp_path, *(str(path.relative_to(tmp_path)) for path in wanted), configfiles=(TINY, overlay)
    )

    for name, constructor in MODERN_BASES.items():
        run = runs[name]
        fine_tuning = read_json(run / "train.json")
        start = read_json(tmp_path / f"results/runs/{name}_feature_extraction/seed42/train.json")
        assert [stage["stage"] for stage in fine_tuning["stages"]] == ["feature_extraction", "fine_tuning"]
        assert fine_tuning["trainable_params"] > start["trainable_params"], name
        assert fine_tuning["backend"]["name"] == BACKEND
        metrics = read_json(run / "metrics.json")["test"]
        assert 0 <= metrics["accuracy"] <= 1 and np.sum(metrics["confusion_matrix"]) > 0
        assert read_metadata(run / "model.keras")["preprocessing"] == (
            f"the normalisation layers of keras.applications.{constructor} (inside the model)"
        )
    # ConvNeXt's Grad-CAM layer is the base's output, a LayerNormalization Keras names itself
    assert (runs["convnexttiny"] / "gradcam/gallery.png").stat().st_size > 0
    assert read_json(runs["convnexttiny"] / "gradcam/gradcam.json")["layer"].startswith("layer_normalization")


def test_an_invalid_image_stops_the_workflow_unless_skipped(tmp_path):
    dataset = tmp_path / "dataset"
    generate_dataset(dataset, KNOWN_CLASSES, train_per_class=5, test_per_class=2, image_size=32)
    (dataset / "Testing/glioma/broken.jpg").write_bytes(b"")
    (dataset / "Training/.DS_Store").write_bytes(b"\0")
    Image.new("L", (64, 64)).save(dataset / "Training/glioma/large.png")  # 4,096 pixels
    (dataset / "Training/glioma/loop").symlink_to("..")
    source = {"dataset": {"source": "path", "path": str(dataset)}}
    failed = run_snakemake(
        tmp_path,
        "results/data/split.csv",
        configfiles=(TINY, write_yaml(tmp_path / "a.yaml", source)),
        check=False,
    )
    assert failed.returncode != 0
    assert (
        f"  {dataset}/Testing/glioma/broken.jpg: empty file"
        in (tmp_path / "logs/audit/audit.log").read_text()
    )
    log = (tmp_path / "logs/obtain_dataset/obtain_dataset.log").read_text()
    assert f"left out link {dataset}/Training/glioma/loop -> ..: a link loop" in log
    assert read_json(tmp_path / "results/data/obtained.json")["links"][0]["path"] == "Training/glioma/loop"
    console = failed.stdout + failed.stderr  # what was left out is summarised there, not only in the log
    assert f"obtain_dataset: 30 files from {dataset}\n" in console
    assert (
        "    1 system or hidden file: Training/.DS_Store\n    1 a link loop: Training/glioma/loop\n"
        in console
    )

    skip = {"audit": {"on_invalid": "skip", "max_image_pixels": 4000}}  # the phantoms have 1,024
    run_snakemake(
        tmp_path, "results/data/split.csv", configfiles=(TINY, write_yaml(tmp_path / "b.yaml", source | skip))
    )
    assert "Testing/glioma/broken.jpg" not in set(pd.read_csv(tmp_path / "results/data/split.csv").path)
    audit = read_json(tmp_path / "results/data/audit.json")
    assert audit["files"] == {"scanned": 30, "valid": 28, "invalid": 2, "ignored": 0}  # .DS_Store: not copied
    assert audit["left_out"]["by_reason"]["system or hidden file"]["count"] == 1
    assert audit["invalid"]["by_reason"] == {"empty file": 1, "too large": 1}
    assert audit["links"]["left_out"][0]["reason"] == "a link loop: it points to a folder that contains it"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"the real-data sample is not at {SAMPLE}")
@pytest.mark.slow
def test_real_sample_through_source_path(tmp_path):
    sample = write_yaml(
        tmp_path / "sample.yaml",
        {
            "dataset": {"source": "path", "path": str(SAMPLE)},
            "models": ["mobilenetv2"],
            "strategies": [
                "feature_extraction"
            ],  # real JPEGs are what this proves, through every kind of job
        }
        | NO_GRID,
    )
    workdir = tmp_path / "run"
    workdir.mkdir()
    run_snakemake(workdir, configfiles=(TINY, sample))
    split = pd.read_csv(workdir / "results/data/split.csv")
    assert (split.split == "test").sum() == 20 and len(split) == 68
    summary = pd.read_csv(workdir / "results/summary.csv")
    assert len(summary) == 3  # the target and the two shortcut baselines
    metrics = json.loads(
        (workdir / "results/runs/mobilenetv2_feature_extraction/seed42/metrics.json").read_text()
    )
    assert np.sum(metrics["test"]["confusion_matrix"]) == 20
    assert metrics["test_dedup"]["n_images"] == 20  # the sample was chosen without cross-split twins
    audit = json.loads((workdir / "results/data/audit.json").read_text())
    assert audit["files"] == {"scanned": 68, "valid": 68, "invalid": 0, "ignored": 0}
