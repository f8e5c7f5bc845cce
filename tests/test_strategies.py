"""The from-scratch control and equal epoch budgets: how the model is built, how many epochs each
target gets, and which jobs the workflow plans for them."""

import keras
import numpy as np
import yaml
from conftest import REPO, planned_jobs, read_json, run_snakemake, write_yaml

from mribench.audit import write_audit
from mribench.config import TRAINING_STRATEGIES, epoch_budget, stage_settings
from mribench.model import build_model, read_metadata
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.split import write_split
from mribench.training import train_target

DEFAULT_TRAINING = yaml.safe_load((REPO / "config.yaml").read_text())["training"]


def batch_norm_means(model):
    base = model.get_layer("base")
    return [
        layer.moving_mean.numpy().copy()
        for layer in base.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def batch_norm_statistics(model):
    """How many moving means and variances the BatchNormalization layers of base and head hold."""
    layers = model.get_layer("base").layers + [model.get_layer("batch_norm")]
    return sum(
        2 * layer.moving_mean.shape[0]
        for layer in layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_from_scratch_trains_every_layer_with_batch_norm_in_training_mode():
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3)).astype("float32")
    scratch = build_model("mobilenetv2", 4, 32, None, dense_units=8, from_scratch=True)
    assert all(layer.trainable for layer in scratch.get_layer("base").layers)
    frozen = build_model("mobilenetv2", 4, 32, None, dense_units=8)
    assert frozen.get_layer("base").trainable is False
    # every weight trains but the BatchNormalization statistics, which training mode updates instead
    assert sum(int(np.prod(w.shape)) for w in scratch.non_trainable_weights) == batch_norm_statistics(scratch)
    for model, updated in ((scratch, True), (frozen, False)):
        before = batch_norm_means(model)
        model(images, training=True)  # momentum 0.999: some statistics move by only 1e-10
        changed = [np.any(a != b) for a, b in zip(before, batch_norm_means(model), strict=True)]
        assert all(changed) if updated else not any(changed)


def test_epochs_of_each_strategy():
    training = DEFAULT_TRAINING
    assert stage_settings(training, "from_scratch")["epochs"] == 20  # null: 10 + 10
    assert stage_settings(training, "feature_extraction") == {
        "epochs": 10, "learning_rate": 3.0e-4, "cache_features": False,
    }  # fmt: skip
    assert [epoch_budget(training, s) for s in ("feature_extraction", "fine_tuning", "from_scratch")] == [
        10,
        20,
        20,
    ]
    explicit = training | {"from_scratch": {"epochs": 7, "learning_rate": 1e-3}}
    assert stage_settings(explicit, "from_scratch") == {"epochs": 7, "learning_rate": 1e-3}

    equal = training | {"feature_extraction": training["feature_extraction"] | {"equal_budget": True}}
    assert stage_settings(equal, "feature_extraction")["epochs"] == 20
    assert stage_settings(equal, "feature_extraction", fine_tuning_start=True)["epochs"] == 10
    assert [epoch_budget(equal, s) for s in ("feature_extraction", "fine_tuning")] == [20, 20]


def test_from_scratch_needs_no_weights_and_equal_budget_gives_fine_tuning_its_own_start(tmp_path):
    scratch = write_yaml(tmp_path / "scratch.yaml", {"strategies": ["from_scratch"], "models": ["vgg16"]})
    jobs = planned_jobs(run_snakemake(tmp_path, "-n", configfiles=(scratch,)))
    assert jobs["train"] == 1 and "fetch_weights" not in jobs  # the default weights are imagenet

    equal = write_yaml(
        tmp_path / "equal.yaml",
        {"models": ["vgg16"], "training": {"feature_extraction": {"equal_budget": True}}},
    )
    result = run_snakemake(tmp_path, "-n", configfiles=(equal,))
    jobs = planned_jobs(result)
    assert jobs["train"] == 2 and jobs["train_fine_tuning_start"] == 1
    lines = result.stdout.splitlines()
    [fine_tuning_inputs] = [
        lines[i - 1]  # a job's input line comes just before its output line
        for i, line in enumerate(lines)
        if line.strip().startswith("output: results/runs/vgg16_fine_tuning/seed42/model.keras")
    ]
    assert "results/runs/vgg16_fine_tuning/seed42/start/feature_extraction/model.keras" in fine_tuning_inputs
    assert "vgg16_feature_extraction" not in fine_tuning_inputs


def test_from_scratch_training_run(tmp_path):
    """The real training code: random MobileNetV2 (it has BatchNormalization), every layer trained."""
    classes = list(KNOWN_CLASSES)
    generate_dataset(tmp_path / "dataset", classes, train_per_class=8, test_per_class=2, image_size=48)
    write_audit(tmp_path / "dataset", tmp_path / "audit.json", tmp_path / "audit.csv", classes, "error", 4, 1)
    write_split(
        tmp_path / "audit.csv", tmp_path / "split.csv", val_fraction=0.25, seed=0, test_overlap="keep"
    )
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    training = config["training"] | {
        "batch_size": 8,
        "dense_units": 16,
        "feature_extraction": config["training"]["feature_extraction"] | {"epochs": 1},
        "fine_tuning": config["training"]["fine_tuning"] | {"epochs": 1},
    }
    general = {key: value for key, value in training.items() if key not in TRAINING_STRATEGIES}
    settings = {
        "classes": classes,
        "image_size": 32,
        "augmentation": config["augmentation"],
        "training": general | {"from_scratch": stage_settings(training, "from_scratch")},
        "model": {"weights": "none"},
    }
    run = tmp_path / "run"
    run.mkdir()
    train_target(
        "from_scratch", "mobilenetv2", 42, settings, tmp_path / "split.csv", tmp_path / "dataset",
        run / "model.keras", run / "history.csv", run / "train.json", run / "tensorboard", threads=2,
    )  # fmt: skip
    train = read_json(run / "train.json")
    assert train["weights"] == "none" and train["strategy"] == "from_scratch"
    assert [(s["stage"], s["epochs_run"]) for s in train["stages"]] == [("from_scratch", 2)]  # 1 + 1
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert train["trainable_params"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert train["total_params"] - train["trainable_params"] == batch_norm_statistics(model)
    # trained in training mode: the base's BatchNormalization statistics moved from their initial zeros
    assert all(np.abs(mean).max() > 0 for mean in batch_norm_means(model))
    assert read_metadata(run / "model.keras")["strategy"] == "from_scratch"
