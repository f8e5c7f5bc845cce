"""Exports (rule export), model cards and TensorBoard logs of trained models."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO, TINY, chosen_run, made_once, planned_jobs, read_json, run_snakemake, write_yaml

from mribench.config import ConfigError, validate_config
from mribench.export import ONNX_TOLERANCE, ExportError, check_onnx_agrees, export_target, tflite_runner
from mribench.images import load_images
from mribench.targets import Target

TARGET = Target("vgg16", "feature_extraction", 42)


@pytest.fixture(scope="module")
def exported(trained_model, tmp_path_factory):
    """The SavedModel and TFLite exports of trained_model, made once a session (tests only read them)."""

    def export(out):
        out.mkdir()
        export_target(
            TARGET, trained_model / "run" / "model.keras", trained_model / "split.csv",
            trained_model / "dataset", formats=["saved_model", "tflite"], latency_runs=5, threads=2,
            out_dir=out / "export", out_json=out / "export.json",
        )  # fmt: skip

    return made_once(tmp_path_factory, "exported", export)


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


@pytest.fixture(scope="module")
def exported_onnx(trained_model, tmp_path_factory):
    """The ONNX export of the model trained on the tests' backend, converted where the workflow
    converts it: in a process on Keras' TensorFlow backend (scripts/export.py chooses it). Made once a
    session (tests only read it)."""

    def export(out):
        out.mkdir()
        code = f"""
from mribench import backend
backend.select("tensorflow")
from mribench.export import export_target
from mribench.targets import Target
export_target({TARGET!r}, {str(trained_model / "run" / "model.keras")!r},
              {str(trained_model / "split.csv")!r}, {str(trained_model / "dataset")!r}, ["onnx"], 5, 2,
              {str(out / "export")!r}, {str(out / "export.json")!r})
"""
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        assert result.returncode == 0, result.stderr[-5000:]

    return made_once(tmp_path_factory, "exported_onnx", export)


def keras_test_probabilities(trained_model):
    """The trained model.keras's probabilities on the test images, on the tests' backend."""
    import keras

    test = pd.read_csv(trained_model / "split.csv").query("split == 'test'")
    pixels = load_images(trained_model / "dataset", test.path, 32).astype("float32")
    model = keras.models.load_model(trained_model / "run" / "model.keras")
    return test, model.predict(pixels, verbose=0)


@pytest.mark.backends
def test_onnx_export_is_rescored_with_onnx_runtime_and_timed(trained_model, exported_onnx):
    record = read_json(exported_onnx / "export.json")
    keras_format, onnx_format = record["formats"]
    assert (keras_format["format"], onnx_format["format"]) == ("keras", "onnx")
    assert onnx_format["path"] == "model.onnx" and (exported_onnx / "export" / "model.onnx").is_file()
    assert onnx_format["agreement_with_keras"] == 1.0
    assert onnx_format["max_probability_difference"] <= ONNX_TOLERANCE
    assert onnx_format["test_accuracy"] == keras_format["test_accuracy"]
    assert onnx_format["latency_ms"]["runs"] == 5 and onnx_format["latency_ms"]["median"] > 0
    assert 0.5 * keras_format["bytes"] < onnx_format["bytes"] < 2 * keras_format["bytes"]


@pytest.mark.backends
def test_mribench_predict_runs_the_onnx_export_like_the_keras_model(trained_model, exported_onnx):
    test, keras_probabilities = keras_test_probabilities(trained_model)
    assert keras_probabilities.std(axis=0).max() > 1e-4, "the model gives the same answer for every image"
    result = subprocess.run(
        [sys.executable, "-m", "mribench", "predict", "--format", "json",
         "--model", str(exported_onnx / "export" / "model.onnx"),
         *(str(trained_model / "dataset" / path) for path in test.path)],
        capture_output=True, text=True, cwd=REPO,
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads(result.stdout)["predictions"]
    classes = json.loads(result.stdout)["classes"]
    onnx_probabilities = np.array([[p["probabilities"][name] for name in classes] for p in predictions])
    np.testing.assert_allclose(onnx_probabilities, keras_probabilities, atol=ONNX_TOLERANCE)


def test_onnx_conversion_keeps_constants_the_model_captures_inside_the_graph(tmp_path):
    """EfficientNet's Normalization layer holds its mean and variance as constants, which
    `model.export(format="onnx")` turns into extra ONNX inputs; mribench's conversion must not."""
    import keras
    import onnxruntime

    from mribench.export import convert_to_onnx, onnx_runner

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Normalization(mean=[100.0, 120.0, 90.0], variance=[900.0, 1600.0, 400.0]),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )
    pixels = np.random.default_rng(0).uniform(0, 255, (5, 8, 8, 3)).astype("float32")
    convert_to_onnx(model, tmp_path / "model.onnx", {"model": "tiny", "image_size": 8})
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    np.testing.assert_allclose(
        onnx_runner(tmp_path / "model.onnx", threads=1)(pixels), model.predict(pixels, verbose=0), atol=1e-6
    )


def test_onnx_export_that_disagrees_with_keras_fails_naming_the_largest_difference(trained_model):
    test, keras_probabilities = keras_test_probabilities(trained_model)
    converted = keras_probabilities.copy()
    converted[3, 1] += 3e-4
    converted[5, 2] -= 2e-4
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    with pytest.raises(ExportError, match=rf"meningioma for test image {test.path.iloc[3]} .* by 3\.0\de-04"):
        check_onnx_agrees("model.onnx", converted, keras_probabilities, list(test.path), classes)
    converted[3, 1] -= 2.5e-4  # within the tolerance
    converted[5, 2] += 1.5e-4
    check_onnx_agrees("model.onnx", converted, keras_probabilities, list(test.path), classes)


def test_training_writes_tensorboard_logs(trained_model):
    for part in ("train", "validation"):
        assert list((trained_model / "run" / "tensorboard" / part).glob("events.out.tfevents.*"))


def test_export_is_off_by_default_and_planned_when_enabled(tmp_path):
    assert "export" not in planned_jobs(run_snakemake(tmp_path, "-n", configfiles=()))
    enabled = write_yaml(tmp_path / "export.yaml", {"export": {"enabled": True, "formats": ["tflite"]}})
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", configfiles=(TINY, enabled)))
    assert jobs["export"] == 4 and jobs["model_card"] == 4  # the tiny profile's 2 bases x 2 strategies


def test_unknown_export_format_is_refused():
    import yaml
    from conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["export"]["formats"] = ["torchscript"]
    with pytest.raises(ConfigError, match=r"config key `export.formats.0`: 'torchscript' is not one of"):
        validate_config(config, REPO / "schemas" / "config.schema.yaml")


def test_model_card_describes_the_run(tiny_run):
    card = (tiny_run / "results/runs/vgg16_fine_tuning/seed42/MODEL_CARD.md").read_text()
    metrics = read_json(tiny_run / "results/runs/vgg16_fine_tuning/seed42/metrics.json")["test"]
    assert card.startswith("# Model card: vgg16 · fine-tuning · seed 42")
    assert "not a medical device" in card and "## Not intended use" in card
    assert "Synthetic phantom slices" in card
    assert "normalised by\n  keras.applications.vgg16.preprocess_input (inside the model);" in card
    assert f"accuracy {metrics['accuracy']:.4f}" in card
    assert "| feature extraction |" in card and "| fine-tuning |" in card
    assert "BatchNormalization statistics of fine-tuning (1\nlayer(s) in training mode)" in card
    assert "- tensorflow 2.21.0" in card


def test_model_card_shows_intervals_and_deduplicated_metrics(tiny_run, tmp_path):
    import json

    import yaml
    from conftest import REPO

    from mribench.model_card import write_model_card

    run = tiny_run / "results/runs/mobilenetv2_feature_extraction/seed42"
    trained = chosen_run(tiny_run, Target("mobilenetv2", "feature_extraction", 42))  # the tiny grid's pick
    metrics = read_json(run / "metrics.json")
    (tmp_path / "metrics.json").write_text(json.dumps(metrics | {"test_dedup": metrics["test"]}))
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    write_model_card(
        trained / "train.json", tmp_path / "metrics.json", tiny_run / "results/data/split.csv",
        config["dataset"], config["training"], tmp_path / "MODEL_CARD.md",
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


def test_predict_refuses_an_onnx_file_mribench_did_not_write(tmp_path):
    import onnx
    from PIL import Image

    image = tmp_path / "scan.png"
    Image.new("RGB", (32, 32)).save(image)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    foreign = tmp_path / "foreign.onnx"
    identity = onnx.helper.make_node("Identity", ["image"], ["probabilities"])
    tensor = onnx.helper.make_tensor_value_info
    graph = onnx.helper.make_graph(
        [identity], "foreign", [tensor("image", 1, [1, 4])], [tensor("probabilities", 1, [1, 4])]
    )
    onnx.save(onnx.helper.make_model(graph), str(foreign))
    refused, bad_arguments = 3, 2  # mribench predict's exit codes (README, "Using a trained model")
    for model, args, message, exit_code in [
        (garbage, [], f"{garbage} is not an ONNX model", refused),
        (foreign, [], f"{foreign} has no mribench metadata", refused),
        (
            foreign,
            ["--gradcam", str(tmp_path / "overlays")],
            "--gradcam needs the model.keras",
            bad_arguments,
        ),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "mribench", "predict", str(image), "--model", str(model), *args],
            capture_output=True, text=True, cwd=REPO, env=os.environ | {"PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        assert result.returncode == exit_code and message in result.stderr, result.stderr[-2000:]
