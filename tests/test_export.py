"""Exports (rule export), model cards and TensorBoard logs of trained models."""

import pandas as pd
import pytest
from conftest import TINY, planned_jobs, read_json, run_snakemake, write_yaml

from mribench.config import ConfigError, validate_config
from mribench.export import export_target, tflite_runner
from mribench.images import load_images
from mribench.targets import Target

TARGET = Target("vgg16", "feature_extraction", 42)


@pytest.fixture(scope="module")
def exported(trained_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    export_target(
        TARGET, trained_model / "run" / "model.keras", trained_model / "split.csv", trained_model / "dataset",
        formats=["saved_model", "tflite"], latency_runs=5, threads=2,
        out_dir=out / "export", out_json=out / "export.json",
    )  # fmt: skip
    return out


def test_tflite_predictions_agree_with_keras(trained_model, exported):
    import keras

    test = pd.read_csv(trained_model / "split.csv").query("split == 'test'")
    pixels = load_images(trained_model / "dataset", test.path, 32).astype("float32")
    keras_probabilities = keras.models.load_model(trained_model / "run" / "model.keras").predict(
        pixels, verbose=0
    )
    run = tflite_runner(exported / "export" / "model_float32.tflite", threads=1)
    for image, expected in zip(pixels, keras_probabilities, strict=True):
        assert run(image[None])[0] == pytest.approx(expected, abs=1e-5)
    assert keras_probabilities.std(axis=0).max() > 1e-4, "the model gives the same answer for every image"


def test_export_json_measures_every_format(trained_model, exported):
    record = read_json(exported / "export.json")
    assert (record["model"], record["strategy"], record["seed"]) == ("vgg16", "feature_extraction", 42)
    assert record["n_test_images"] == 16
    formats = {f["format"]: f for f in record["formats"]}
    assert list(formats) == ["keras", "saved_model", "tflite_float32", "tflite_int8"]
    keras_accuracy = formats["keras"]["test_accuracy"]
    float32 = formats["tflite_float32"]
    assert float32["agreement_with_keras"] == 1.0 and float32["max_probability_difference"] < 1e-4
    assert float32["test_accuracy"] == keras_accuracy
    assert formats["saved_model"]["agreement_with_keras"] == 1.0
    assert 0 <= formats["tflite_int8"]["agreement_with_keras"] <= 1
    assert formats["tflite_int8"]["bytes"] < 0.4 * float32["bytes"]  # int8 weights: about a quarter
    for name, path in [("saved_model", "saved_model"), ("tflite_float32", "model_float32.tflite")]:
        assert formats[name]["path"] == path and (exported / "export" / path).exists()
    for f in record["formats"]:
        assert f["latency_ms"]["runs"] == 5 and 0 < f["latency_ms"]["median"] <= f["latency_ms"]["p90"]


def test_training_writes_tensorboard_logs(trained_model):
    for part in ("train", "validation"):
        assert list((trained_model / "run" / "tensorboard" / part).glob("events.out.tfevents.*"))


def test_export_is_off_by_default_and_planned_when_enabled(tmp_path):
    assert "export" not in planned_jobs(run_snakemake(tmp_path, "-n", configfiles=()))
    enabled = write_yaml(tmp_path / "export.yaml", {"export": {"enabled": True, "formats": ["tflite"]}})
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", configfiles=(TINY, enabled)))
    assert jobs["export"] == 6 and jobs["model_card"] == 6


def test_unknown_export_format_is_refused():
    import yaml
    from conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["export"]["formats"] = ["onnx"]
    with pytest.raises(ConfigError, match=r"config key `export.formats.0`: 'onnx' is not one of"):
        validate_config(config, REPO / "schemas" / "config.schema.yaml")


def test_model_card_describes_the_run(tiny_run):
    card = (tiny_run / "results/runs/vgg16_fine_tuning/seed42/MODEL_CARD.md").read_text()
    metrics = read_json(tiny_run / "results/runs/vgg16_fine_tuning/seed42/metrics.json")["test"]
    assert card.startswith("# Model card: vgg16 · fine-tuning · seed 42")
    assert "not a medical device" in card and "## Not intended use" in card
    assert "Synthetic phantom slices" in card
    assert f"accuracy {metrics['accuracy']:.4f}" in card
    assert "| feature extraction |" in card and "| fine tuning |" in card
    assert "- tensorflow 2.21.0" in card


def test_model_card_shows_intervals_and_deduplicated_metrics(tiny_run, tmp_path):
    import json

    import yaml
    from conftest import REPO

    from mribench.model_card import write_model_card

    run = tiny_run / "results/runs/mobilenetv2_feature_extraction/seed42"
    metrics = read_json(run / "metrics.json")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics | {"test_dedup": metrics["test"]}))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    write_model_card(
        run / "train.json", tmp_path / "metrics.json", tiny_run / "results/data/split.csv",
        config["dataset"], config["training"], config["augmentation"], tmp_path / "MODEL_CARD.md",
        stats_json=tiny_run / "results/stats/stats.json", audit_json=tiny_run / "results/data/audit.json",
    )  # fmt: skip
    card = (tmp_path / "MODEL_CARD.md").read_text()
    stats = read_json(tiny_run / "results/stats/stats.json")["targets"]
    row = next(t for t in stats if t["target"] == "mobilenetv2_feature_extraction" and t["seed"] == 42)
    low, high = row["accuracy_ci"]
    assert f"accuracy {metrics['test']['accuracy']:.4f} (95 % CI {low:.4f}–{high:.4f})" in card
    assert "files scanned" in card and "label conflicts" in card
    assert "De-duplicated (test images with a twin in Training removed)" in card
    assert "Kaggle dataset `masoudnickparvar/brain-tumor-mri-dataset`" in card
    assert "the de-duplicated figures above remove exact and pixel twins" in card
