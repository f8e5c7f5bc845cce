"""Keras backends: a model moves between them, a GPU the backend cannot use stops training, and
what needs TensorFlow is skipped with a reason where it is not installed."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import BACKEND, REPO, refusing_imports, train_trained_target, training_settings

from mribench import backend
from mribench.phantoms import KNOWN_CLASSES
from mribench.targets import Target

OTHER_BACKEND = {"tensorflow": "jax", "jax": "tensorflow"}[BACKEND]
# Runs Python as on a GPU machine that has JAX but no TensorFlow: `import tensorflow` fails.
WITHOUT_TENSORFLOW = refusing_imports("tensorflow")


def run_python(code, env=None, check=True):
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | (env or {}), cwd=REPO
    )
    if check:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.mark.backends
def test_training_a_target_again_gives_the_same_model_to_the_last_bit(trained_model, tmp_path):
    """What makes two fresh runs of one config agree, on each backend (on TensorFlow the workflow's
    kill-and-resume test also compares two whole runs)."""
    import keras

    root = trained_model
    run = tmp_path / "run"
    train_trained_target(root, run)
    assert (run / "history.csv").read_bytes() == (root / "run" / "history.csv").read_bytes()
    again, first = (keras.models.load_model(path / "model.keras") for path in (run, root / "run"))
    for a, b in zip(again.weights, first.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), a.path)


@pytest.mark.backends
def test_a_model_trained_on_one_backend_predicts_the_same_on_the_other(trained_model, tmp_path):
    import keras

    from mribench import images, split

    model_path = trained_model / "run/model.keras"
    val = split.read_split(trained_model / "split.csv", "val")
    pixels = images.load_images(trained_model / "dataset", val.path, 32).astype("float32")
    np.save(tmp_path / "pixels.npy", pixels)
    here = keras.models.load_model(model_path, safe_mode=True).predict(pixels, verbose=0)
    run_python(f"""
from mribench import backend
backend.select({OTHER_BACKEND!r})
import keras, numpy as np
import mribench.model  # registers its layers
assert keras.backend.backend() == {OTHER_BACKEND!r}
model = keras.models.load_model({str(model_path)!r}, safe_mode=True)
np.save({str(tmp_path / "there.npy")!r}, model.predict(np.load({str(tmp_path / "pixels.npy")!r}), verbose=0))
""")
    there = np.load(tmp_path / "there.npy")
    assert here.std(axis=0).max() > 1e-3, "the model gives every image the same output: nothing compared"
    np.testing.assert_array_equal(there.argmax(axis=1), here.argmax(axis=1))
    np.testing.assert_allclose(there, here, atol=1e-4)
    metadata = json.loads((trained_model / "run/train.json").read_text())
    assert metadata["backend"]["name"] == BACKEND


def fake_nvidia_smi(tmp_path):
    """An nvidia-smi that lists one GPU, as on a workstation whose TensorFlow or jaxlib is a CPU build."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-00000000-0000-0000-0000-000000000000)'\n"
    )
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.backends
def test_training_stops_when_nvidia_smi_lists_a_gpu_the_backend_cannot_use(tmp_path):
    code = f"""
from mribench import backend
backend.select({BACKEND!r})
from mribench.targets import Target
from mribench.training import TrainingJob, TrainingOutputs, train_target
training = {{"deterministic": True, "mixed_precision": False}}
settings = {{"training": training, "classes": ["a"], "image_size": 32}}
job = TrainingJob(Target("vgg16", "feature_extraction", 42), settings, "no-split.csv", "no-dataset")
train_target(job, TrainingOutputs("m.keras", "h.csv", "t.json", "tb"), threads=1)
"""
    env = fake_nvidia_smi(tmp_path)
    refused = run_python(code, env=env, check=False)
    assert refused.returncode != 0
    message = refused.stderr.strip().splitlines()[-1]
    assert message.startswith("mribench.backend.BackendError: nvidia-smi lists 1 GPU(s)")
    assert f"Keras' {BACKEND} backend sees none" in message
    assert "make setup GPU=1" in message and f"{backend.ALLOW_CPU}=1" in message
    # On purpose: the check lets it through, and the job fails later, at the missing split file.
    allowed = run_python(code, env=env | {backend.ALLOW_CPU: "1"}, check=False)
    assert "BackendError" not in allowed.stderr and "no-split.csv" in allowed.stderr


def test_the_backend_cannot_change_once_keras_runs():
    import keras

    backend.select(keras.backend.backend())  # the same one: fine
    with pytest.raises(
        backend.BackendError, match=f"already runs on {BACKEND}.*KERAS_BACKEND={OTHER_BACKEND}"
    ):
        backend.select(OTHER_BACKEND)
    with pytest.raises(backend.BackendError, match="unknown Keras backend 'torch'"):
        backend.select("torch")


def test_without_tensorflow_training_skips_tensorboard_and_export_says_why(trained_model, tmp_path):
    """On JAX where TensorFlow is not installed (the GPU machines): training writes no TensorBoard
    logs and export writes no SavedModel or TFLite, and both say so, instead of failing."""
    run = trained_model / "run"
    out = tmp_path / "jax-run"
    code = WITHOUT_TENSORFLOW + f"""
import json
from pathlib import Path
from mribench import backend
backend.select("jax")
assert not backend.tensorflow_available()
from mribench.export import export_target
from mribench.targets import Target
from mribench.training import StartRun, TrainingJob, TrainingOutputs, train_target
out = Path({str(out)!r}); out.mkdir()
target = Target("vgg16", "fine_tuning", 42)
job = TrainingJob(
    target, json.loads(Path({str(tmp_path / "settings.json")!r}).read_text()),
    {str(trained_model / "split.csv")!r}, {str(trained_model / "dataset")!r},
    start=StartRun({str(run / "model.keras")!r}, {str(run / "history.csv")!r}, {str(run / "train.json")!r}),
)
train_target(job, TrainingOutputs(out / "model.keras", out / "history.csv", out / "train.json",
             out / "tensorboard"), threads=2)
export_target(target, out / "model.keras", {str(trained_model / "split.csv")!r},
              {str(trained_model / "dataset")!r}, ["saved_model", "tflite"], 5, 2, out / "export",
              out / "export.json")
"""
    fine_tuning = {"backend": "jax", "batch_size": 8, "fine_tuning": {"epochs": 1, "learning_rate": 1e-4}}
    settings = training_settings(Target("vgg16", "fine_tuning", 42), KNOWN_CLASSES, fine_tuning)
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    result = run_python(code)
    assert "TensorBoard logs skipped" in result.stdout and "TensorFlow is not installed" in result.stdout
    assert "TensorFlow is not installed" in (out / "tensorboard/SKIPPED.txt").read_text()
    export = json.loads((out / "export.json").read_text())
    assert export["formats"] == [] and "needs TensorFlow, which is not installed" in export["skipped"]
    assert json.loads((out / "train.json").read_text())["backend"]["name"] == "jax"
    assert list(pd.read_csv(out / "history.csv").stage.unique()) == ["feature_extraction", "fine_tuning"]


@pytest.mark.parametrize("listed", [True, False])
def test_make_setup_installs_the_cuda_build_where_nvidia_smi_lists_a_gpu(tmp_path, listed):
    # MAKEFLAGS emptied: under `make test GPU=0` it would hand GPU=0 to these makes too
    env = (fake_nvidia_smi(tmp_path) if listed else {"PATH": "/usr/bin:/bin"}) | {"MAKEFLAGS": ""}
    plan = subprocess.run(
        ["make", "-n", "setup", f"VENV={tmp_path / 'venv'}"], capture_output=True, text=True, cwd=REPO,
        env=os.environ | env,
    ).stdout  # fmt: skip
    assert ("tensorflow[and-cuda]==2.21.0" in plan) is listed
    assert ("pip uninstall --quiet -y tensorflow-cpu" in plan) is listed
    forced = subprocess.run(
        ["make", "-n", "setup", f"VENV={tmp_path / 'venv'}", "GPU=1", "BACKEND=jax"],
        capture_output=True, text=True, cwd=REPO, env=os.environ | env,
    ).stdout  # fmt: skip
    assert '"jax[cuda12]==0.10.2"' in forced and "tensorflow-cpu" not in forced.split("requirements.lock")[1]
