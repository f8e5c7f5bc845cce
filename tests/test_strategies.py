"""The from-scratch control and equal epoch budgets: how the model is built, how many epochs each
target gets, and which jobs the workflow plans for them."""

import dataclasses
import shutil

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    REPO,
    TINY,
    chosen_run,
    merged_config,
    planned_jobs,
    read_json,
    run_snakemake,
    training_settings,
    write_yaml,
)

from mribench.audit import write_audit
from mribench.batch_norm import batch_norm_layers
from mribench.config import training_job_settings
from mribench.model import build_model
from mribench.model_file import read_metadata
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.split import write_split
from mribench.strategies import epoch_budget, get_strategy
from mribench.targets import Target
from mribench.training import StartRun, TrainingJob, TrainingOutputs, train_target

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


def stage_settings(training, strategy, as_start=False):
    return get_strategy(strategy).stage_settings(training, as_start)


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
    assert stage_settings(equal, "feature_extraction", as_start=True)["epochs"] == 10
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


def phantom_split(folder, train_per_class, image_size):
    """Phantoms of every class in `folder`/dataset, audited and split into `folder`/split.csv (a
    quarter of Training validates); returns the classes."""
    classes = list(KNOWN_CLASSES)
    generate_dataset(folder / "dataset", classes, train_per_class, test_per_class=1, image_size=image_size)
    write_audit(folder / "dataset", folder / "audit.json", folder / "audit.csv", classes, "error", 4, 1)
    write_split(folder / "audit.csv", folder / "split.csv", val_fraction=0.25, seed=0, test_overlap="keep")
    return classes


def training_outputs(run):
    return TrainingOutputs(run / "model.keras", run / "history.csv", run / "train.json", run / "tensorboard")


def test_from_scratch_training_run(tmp_path):
    """The real training code: random MobileNetV2 (it has BatchNormalization), every layer trained."""
    classes = phantom_split(tmp_path, train_per_class=8, image_size=48)
    tiny = {
        "batch_size": 8,
        "dense_units": 16,
        "feature_extraction": {"epochs": 1},
        "fine_tuning": {"epochs": 1},
    }
    target = Target("mobilenetv2", "from_scratch", 42)
    run = tmp_path / "run"
    run.mkdir()
    train_target(
        TrainingJob(
            target, training_settings(target, classes, tiny), tmp_path / "split.csv", tmp_path / "dataset"
        ),
        training_outputs(run),
        threads=2,
    )
    train = read_json(run / "train.json")
    assert train["weights"] == "none" and train["strategy"] == "from_scratch"
    assert [(s["stage"], s["epochs_run"]) for s in train["stages"]] == [("from_scratch", 2)]  # 1 + 1
    model = keras.models.load_model(run / "model.keras", safe_mode=True)
    assert train["trainable_params"] == sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert train["total_params"] - train["trainable_params"] == batch_norm_statistics(model)
    # trained in training mode: the base's BatchNormalization statistics moved from their initial zeros
    assert all(np.abs(mean).max() > 0 for mean in batch_norm_means(model))
    # and were recomputed, the head's too, over every training image (3 batches of 8)
    recomputed = train["stages"][0]["batch_norm"]
    assert recomputed["layers"] == [layer.name for layer in batch_norm_layers(model)]
    assert len(recomputed["layers"]) == 53 and recomputed["layers"][-1] == "batch_norm"
    assert (recomputed["batches"], recomputed["images"]) == (3, train["images"]["train"]) == (3, 24)
    assert read_metadata(run / "model.keras")["strategy"] == "from_scratch"


FLIP_ONLY = {"rotation_degrees": 0, "zoom": 0, "shift": 0, "horizontal_flip": True, "brightness": 0}


def test_a_strategy_with_its_own_augmentation_gets_it_and_the_others_the_top_level_one():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["training"]["from_scratch"]["augmentation"] = FLIP_ONLY
    settings = {
        strategy: training_job_settings(config, Target("vgg16", strategy, 42))
        for strategy in ("feature_extraction", "fine_tuning", "from_scratch")
    }
    assert settings["from_scratch"]["augmentation"] == FLIP_ONLY
    assert settings["feature_extraction"]["augmentation"] == config["augmentation"]
    assert settings["fine_tuning"]["augmentation"] == config["augmentation"]
    # the job reads it in one place: not again inside its stage
    assert "augmentation" not in settings["from_scratch"]["training"]["from_scratch"]


def test_fine_tuning_with_its_own_augmentation_changes_the_augmentation_layer_it_continues(tmp_path):
    """On a GPU the feature-extraction model holds the augmentation (training.augment_on: model);
    fine-tuning continues that model and must augment with its own settings, and say so."""
    classes = phantom_split(tmp_path, train_per_class=4, image_size=32)
    training = {
        "batch_size": 4,
        "dense_units": 8,
        "augment_on": "model",
        "feature_extraction": {"epochs": 1},
        "fine_tuning": {"epochs": 1, "augmentation": FLIP_ONLY},
    }
    runs = {}
    for strategy in ("feature_extraction", "fine_tuning"):
        target = Target("mobilenetv2", strategy, 42)
        run = runs[strategy] = tmp_path / strategy
        run.mkdir()
        start = runs["feature_extraction"]
        train_target(
            TrainingJob(
                target,
                training_settings(target, classes, training),
                tmp_path / "split.csv",
                tmp_path / "dataset",
                start=(
                    StartRun(start / "model.keras", start / "history.csv", start / "train.json")
                    if strategy == "fine_tuning"
                    else None
                ),
            ),
            training_outputs(run),
            threads=2,
        )
    study = yaml.safe_load((REPO / "config.yaml").read_text())["augmentation"]
    layer_settings = {
        strategy: keras.models.load_model(run / "model.keras").get_layer("augmentation").settings
        for strategy, run in runs.items()
    }
    assert layer_settings == {"feature_extraction": study, "fine_tuning": FLIP_ONLY}
    stages = read_json(runs["fine_tuning"] / "train.json")["stages"]
    assert [stage["augmentation"] for stage in stages] == [study, FLIP_ONLY]


LINEAR_PROBE = REPO / "tests" / "plugins" / "linear_probe.py"


def test_registering_a_strategy_refuses_a_taken_or_unusable_name():
    from mribench import strategies

    taken = get_strategy("fine_tuning")
    with pytest.raises(strategies.StrategyError, match="'fine_tuning' is registered already"):
        strategies.register(taken)
    for name in ("Linear", "linear-probe", "linear probe"):
        with pytest.raises(strategies.StrategyError, match="lower-case letters, digits and underscores"):
            strategies.register(dataclasses.replace(taken, name=name))
    assert "Linear" not in strategies.STRATEGIES


def test_a_strategy_a_plugin_registers_runs_through_the_whole_workflow(tiny_run, tmp_path):
    """The toy linear probe (tests/plugins/linear_probe.py) is declared in its own file only: added to
    a copy of the session's tiny run, as a user adds a strategy to a finished study, the workflow plans,
    tunes (on feature extraction's grid, the section it reads), trains, evaluates, explains, compares,
    draws, reports and describes it, and trains nothing it had trained already."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    toy = write_yaml(
        tmp_path / "toy.yaml",
        {
            "plugins": [str(LINEAR_PROBE)],
            "models": ["vgg16"],
            "strategies": ["feature_extraction", "linear_probe"],
        },
    )
    ran = planned_jobs(run_snakemake(workdir, configfiles=(TINY, toy)))
    grid = merged_config(TINY)["training"]["feature_extraction"]["learning_rate"]
    assert ran["train_point"] == len(grid) and "train" not in ran  # the probe's points, nothing else
    probe = Target("vgg16", "linear_probe", 42)
    trained = chosen_run(workdir, probe)
    model = keras.models.load_model(trained / "model.keras", safe_mode=True)
    assert [layer.name for layer in model.layers][-2:] == ["pool", "predictions"]  # no hidden layer
    train = read_json(trained / "train.json")
    assert [stage["stage"] for stage in train["stages"]] == ["linear_probe"]
    assert train["stages"][0]["learning_rate"] in grid
    summary = pd.read_csv(workdir / "results/summary.csv")
    assert set(summary.strategy) == {
        "feature_extraction",
        "linear_probe",
        "file_metadata",
        "intensity_histogram",
    }
    [comparison] = read_json(workdir / "results/stats/stats.json")["strategy_comparisons"]
    assert (comparison["first"], comparison["second"]) == ("feature_extraction", "linear_probe")
    assert "linear probing" in comparison["sentence"]
    assert (workdir / probe.run_dir / "gradcam/gallery.png").stat().st_size > 0
    assert "linear probing" in (workdir / "results/report.html").read_text()
    card = (workdir / probe.run_dir / "MODEL_CARD.md").read_text()
    assert card.startswith("# Model card: vgg16 · linear probing · seed 42")
