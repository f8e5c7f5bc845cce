import shutil

import keras
import numpy as np
import pytest
from conftest import TINY, planned_jobs, read_json, run_snakemake, write_yaml

from mribench import pipeline
from mribench.model import build_model, save_model
from mribench.training import AUGMENTATION_PLACES, fit_on_cached_features, head_model


@pytest.mark.backends
def test_cached_feature_training_leaves_a_complete_model_that_takes_images(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = {
        part: (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % 3)
        for part, n in (("train", 12), ("val", 6))
    }
    model = build_model("mobilenetv2", 3, 32, None, dense_units=8)
    before = model.get_layer("predictions").get_weights()[0].copy()
    fit = fit_on_cached_features(
        model,
        data,
        3,
        4,
        {
            "optimizer": keras.optimizers.Adam(1e-2),
            "loss": "categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        {"epochs": 2, "verbose": 0},
        batch_norm_batches=2,  # of the 3 batches of training features
    )
    assert len(fit.history["val_loss"]) == 2
    # the head's statistics are those of the first two batches of training features (in file order)
    pooled = keras.Model(model.input, model.get_layer("pool").output).predict(data["train"][0][:8], verbose=0)
    head_inputs = keras.ops.convert_to_numpy(model.get_layer("dense")(pooled))
    np.testing.assert_allclose(
        model.get_layer("batch_norm").moving_mean.numpy(), head_inputs.mean(axis=0), rtol=1e-4, atol=1e-6
    )
    # the head trained the layers of the complete model
    assert not np.allclose(model.get_layer("predictions").get_weights()[0], before)

    save_model(model, tmp_path / "model.keras", {})
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    pooled = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    features = keras.Model(model.input, pooled.output).predict(data["val"][0].astype("float32"), verbose=0)
    on_features = head_model(model, pooled).predict(features, verbose=0)
    on_images = loaded.predict(pipeline.EvaluationBatches(data["val"][0], batch_size=4), verbose=0)
    np.testing.assert_allclose(on_images, on_features, atol=1e-5)


def test_the_workflow_trains_on_cached_features_when_asked(tiny_run, tmp_path):
    """Asked in a copy of the session's tiny run: only the target's own jobs, the statistics and the
    report run again."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    overlay = write_yaml(
        tmp_path / "cached.yaml",
        {
            "models": ["mobilenetv2"],
            "strategies": ["feature_extraction"],
            "training": {"feature_extraction": {"cache_features": True, "learning_rate": 1.0e-3}},
        },
    )
    ran = planned_jobs(run_snakemake(workdir, configfiles=(TINY, overlay)))
    assert ran["train"] == 1 and not {"baseline", "split_dataset", "audit"} & set(ran)
    run = workdir / "results/runs/mobilenetv2_feature_extraction/seed42"
    train = read_json(run / "train.json")
    assert train["workflow"] == AUGMENTATION_PLACES["cached_features"]
    assert train["jit_compile"] is False and train["mixed_precision"] == "float32"
    assert train["backend"]["name"] == "tensorflow"
    assert AUGMENTATION_PLACES["cached_features"] in (workdir / "results/report.html").read_text()
    assert read_json(run / "metrics.json")["test"]["n_images"] > 0
    assert not list(run.glob(".images-*"))
