"""Rebuild precision: after one complete tiny run, a dry run per key of config.yaml with that key changed
plans exactly the jobs that read the key and the jobs after them, as REBUILDS says.

A key added to config.yaml without a row in REBUILDS fails here, by name: add its row (another valid
value, the jobs a change must re-run, and why).
"""

import copy
import json
import os
import re
import shutil
from typing import NamedTuple

import pytest
import yaml
from conftest import REPO, TINY, run_in_snakemake_server, run_snakemake, snakemake_command, write_yaml
from snakemake.utils import update_config

from mribench import registry, tuning
from mribench.targets import Target


def tiny_config():
    """config.yaml merged with the tiny profile, as Snakemake merges them."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load(TINY.read_text()))
    return config


def leaf_keys(section, prefix=""):
    """The dotted name of every value of the config that is not itself a section (lists are values)."""
    for key, value in section.items():
        if isinstance(value, dict):
            yield from leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def nested(key, value):
    """{"a": {"b": value}} for "a.b"."""
    for part in reversed(key.split(".")):
        value = {part: value}
    return value


def value_at(config, key):
    for part in key.split("."):
        config = config[part]
    return config


CONFIG = tiny_config()
TARGETS = [f"{model}_{strategy}" for model in CONFIG["models"] for strategy in CONFIG["strategies"]]
(SEED,) = CONFIG["seeds"]


def jobs(rule, targets, seed=SEED):
    return {f"{rule} {target}/seed{seed}" for target in targets}


def point_jobs(target, config=CONFIG):
    """train_point of each point of `target`'s tuning grid (its wildcards: model, strategy, seed, point)."""
    return {
        f"train_point {p.model}/{p.strategy}/{p.seed}/{p.point.id}" for p in tuning.points(config, target)
    }


def trainings(targets, seed=SEED, config=CONFIG):
    """The training jobs of `targets`: a target's own, or each point of its tuning grid and the selection."""
    planned_jobs = set()
    for name in targets:
        target = Target(*name.split("_", 1), seed)
        if tuning.points(config, target):
            planned_jobs |= point_jobs(target, config) | jobs("select", [name], seed)
        else:
            planned_jobs |= jobs("train", [name], seed)
    return planned_jobs


def one_model(model):
    return [f"{model}_{strategy}" for strategy in CONFIG["strategies"]]


def one_strategy(strategy):
    return [f"{model}_{strategy}" for model in CONFIG["models"]]


def fetched_weights(model):
    return {f"fetch_weights {registry.imagenet_weights_file(model, CONFIG['image_size'])}"}


(EXTERNAL_SET,) = CONFIG["external_test_sets"]  # the tiny profile's external test set


def external_evaluations(targets, seed=SEED):
    """evaluate_external of `targets` on the external set (its wildcards: model, strategy, seed, set)."""
    return {f"evaluate_external {target.replace('_', '/', 1)}/{seed}/{EXTERNAL_SET}" for target in targets}


# The report shows the whole config as run, so every change re-runs it (a localrule of seconds).
REPORT = {"report", "all"}
# The statistics of the counterfactual view (both views of every run) of the internal and the external set.
COUNTERFACTUAL_STATS = {"stats_counterfactual", f"stats_counterfactual_external {EXTERNAL_SET}"}
# New statistics re-run every model card: each shows its confidence intervals from stats.json
# (and from the external set's stats.json and the counterfactual view's).
STATS = (
    {"stats", f"stats_external {EXTERNAL_SET}"} | COUNTERFACTUAL_STATS | jobs("model_card", TARGETS) | REPORT
)


def retrained(targets, seed=SEED, config=CONFIG):
    """New models of `targets` (their tuning points and selections, for a target with a grid), their
    evaluations and Grad-CAMs, and everything after the statistics."""
    return (
        trainings(targets, seed, config)
        | jobs("evaluate", targets, seed)
        | external_evaluations(targets, seed)
        | jobs("gradcam", targets, seed)
        | jobs("model_card", targets, seed)
        | STATS
    )


def baselines(kinds=tuple(CONFIG["baselines"]), seed=SEED):
    """Shortcut baseline jobs; they join the statistics (STATS), not the model cards."""
    return {f"baseline {kind}/{seed}" for kind in kinds}


EVERY_TARGET = retrained(TARGETS)
# The metadata baseline reads the split and the audit's records, the histogram baseline the split,
# the images and image_size; the reference histogram of the counterfactual view, the training images.
FROM_SPLIT = {"split_dataset", "intensity_reference"} | EVERY_TARGET | baselines()
# The external set's audit compares it with the dataset's audit.csv.
FROM_AUDIT = {"audit", f"audit_external_set {EXTERNAL_SET}"} | FROM_SPLIT
EVERYTHING = {"obtain_dataset"} | FROM_AUDIT
# The external set itself: its images, their audit, every target's evaluation on it, its statistics,
# and the model cards that list it.
EXTERNAL = (
    {
        f"obtain_external_set {EXTERNAL_SET}",
        f"audit_external_set {EXTERNAL_SET}",
        f"stats_external {EXTERNAL_SET}",
        f"stats_counterfactual_external {EXTERNAL_SET}",
    }
    | external_evaluations(TARGETS)
    | jobs("model_card", TARGETS)
    | REPORT
)


def cross_validated(n_folds):
    """Every fold job of 1 repeat of `n_folds` folds: the folds, every target's and baseline's fold
    runs (a target with a grid: each point on each fold, selected per fold), the fold ensembles (on
    Testing and the external set) and the fold statistics."""
    folds = [f"0/{fold}" for fold in range(n_folds)]
    fold_runs = set()
    for name in TARGETS:
        target = Target(*name.split("_", 1), SEED)
        where = f"{target.model}/{target.strategy}/{SEED}"
        for fold in folds:
            fold_runs |= {f"{rule} {where}/{fold}" for rule in ("evaluate_fold", "evaluate_fold_testing")}
            fold_runs.add(f"evaluate_fold_external {where}/{fold}/{EXTERNAL_SET}")
            points = tuning.points(CONFIG, target)
            fold_runs |= {f"train_fold_point {where}/{fold}/{p.point.id}" for p in points}
            fold_runs.add(f"select_fold {where}/{fold}" if points else f"train_fold {where}/{fold}")
    return (
        {"cross_validation_folds 0", "fold_stats"}
        | fold_runs
        | {f"baseline_fold {kind}/{SEED}/{fold}" for kind in CONFIG["baselines"] for fold in folds}
        | jobs("fold_ensemble", TARGETS)
        | {f"fold_ensemble_external {t.replace('_', '/', 1)}/{SEED}/{EXTERNAL_SET}" for t in TARGETS}
    )


class Rebuild(NamedTuple):
    value: object  # another valid value of the key
    jobs: set  # the jobs a dry run must plan after the key changed to `value`
    why: str
    also: dict = {}  # other keys the change needs to be valid, nested as in the config


# The tiny profile's tuning grid: feature extraction's learning rates (README, "Tuning grids").
GRID_KEY = "training.feature_extraction.learning_rate"
GRID = value_at(CONFIG, GRID_KEY)
# A dry run cannot know a new pick before the new point has trained: the jobs after a re-run selection
# (the checkpoint) are planned as waiting on it; a real run re-runs them only where the pick changed
# (test_a_selection_with_the_same_pick_reruns_only_what_shows_the_grid).
GRID_POINTS = set().union(
    *(point_jobs(Target(model, "feature_extraction", SEED)) for model in CONFIG["models"])
)
AFTER_SELECTION = EVERY_TARGET - GRID_POINTS


TRAINING = "both strategies read it (fine-tuning also through its start model, the feature-extraction model)"
FEATURE_EXTRACTION = "feature extraction reads it, fine-tuning starts from feature extraction's model"
FINE_TUNING_ONLY = "only fine-tuning reads it"
NOT_IN_MODELS = "the model is not in models"

# One row per key of config.yaml (with the tiny profile); every row also re-runs the report (REPORT),
# but for the tracking keys: where results are logged is not a result.
REBUILDS = {
    "dataset.source": Rebuild("kaggle", EVERYTHING, "another source is other images"),
    "dataset.kaggle_slug": Rebuild("someone/other", REPORT, "only source kaggle reads it"),
    "dataset.path": Rebuild("elsewhere.zip", REPORT, "only source path reads it"),
    "dataset.root": Rebuild("brain-mri-v2", REPORT, "only source path reads it"),
    "obtain.follow_links_out": Rebuild(
        True, REPORT, "only a copied folder reads it (the tiny profile's dataset and set are phantoms)"
    ),
    "obtain.max_left_out_share": Rebuild(
        0.2, REPORT, "only a copied folder or zip reads it (the tiny profile's are phantoms)"
    ),
    "obtain.max_archive_gigabytes": Rebuild(
        2, REPORT, "only a zip reads it (the tiny profile's dataset and set are phantoms)"
    ),
    "dataset.classes": Rebuild(
        ["glioma", "notumor", "pituitary"],
        EVERYTHING,
        "the phantoms are drawn in them (the external set's too)",
    ),
    "dataset.demo.train_per_class": Rebuild(6, EVERYTHING, "source demo generates the images from it"),
    "dataset.demo.test_per_class": Rebuild(3, EVERYTHING, "source demo generates the images from it"),
    "dataset.demo.image_size": Rebuild(40, EVERYTHING, "source demo generates the images from it"),
    "dataset.demo.seed": Rebuild(1, EVERYTHING, "source demo generates the images from it"),
    "dataset.val_fraction": Rebuild(0.375, FROM_SPLIT, "the split reads it"),
    "dataset.split_seed": Rebuild(7, FROM_SPLIT, "the split reads it"),
    "audit.on_invalid": Rebuild("skip", FROM_AUDIT, "the audit reads it"),
    "audit.near_duplicate_distance": Rebuild(2, FROM_AUDIT, "the audit reads it"),
    "audit.max_image_pixels": Rebuild(8_000_000, FROM_AUDIT, "the audit reads it"),
    "dedup.test_overlap": Rebuild("drop", FROM_SPLIT, "the split reads it"),
    "seeds": Rebuild(
        [SEED, 7], retrained(TARGETS, seed=7) | baselines(seed=7), "a new seed adds its targets and baselines"
    ),
    "image_size": Rebuild(
        40,
        {"intensity_reference"} | EVERY_TARGET | baselines(["intensity_histogram"]),
        TRAINING + "; the histogram baseline and the counterfactual view's reference too",
    ),
    "preprocessing.intensity": Rebuild(
        "matched",
        EVERY_TARGET | baselines(["intensity_histogram"]),
        "every image a target or the histogram baseline reads is matched (the reference exists already)",
    ),
    "baselines": Rebuild(
        ["file_metadata"],
        {"stats", "stats_counterfactual"} | jobs("model_card", TARGETS) | REPORT,
        "the internal statistics (both views) take one baseline fewer (the baselines score no external set)",
    ),
    "training.feature_extraction.equal_budget": Rebuild(
        True,
        EVERY_TARGET - trainings(one_strategy("feature_extraction"))
        | jobs("train", one_strategy("feature_extraction"))
        | jobs("train_fine_tuning_start", one_strategy("feature_extraction")),
        "feature extraction trains FE + FT epochs; fine-tuning starts from a feature-extraction run "
        "of the usual length of its own (without a grid of feature extraction's keys, which it refuses)",
        also=nested(GRID_KEY, GRID[0]),
    ),
    "training.from_scratch.epochs": Rebuild(5, REPORT, "from_scratch is not in strategies"),
    "training.from_scratch.learning_rate": Rebuild(1.0e-4, REPORT, "from_scratch is not in strategies"),
    "augmentation.rotation_degrees": Rebuild(10, EVERY_TARGET, TRAINING),
    "augmentation.zoom": Rebuild(0.2, EVERY_TARGET, TRAINING),
    "augmentation.shift": Rebuild(0.2, EVERY_TARGET, TRAINING),
    "augmentation.horizontal_flip": Rebuild(False, EVERY_TARGET, TRAINING),
    "augmentation.brightness": Rebuild(0.2, EVERY_TARGET, TRAINING),
    "training.backend": Rebuild(
        "jax",
        EVERY_TARGET,
        TRAINING + "; evaluation, Grad-CAM and export run on it (export: without TensorFlow)",
    ),
    "training.batch_size": Rebuild(4, EVERY_TARGET, TRAINING + "; evaluation reads it too"),
    "training.dense_units": Rebuild(128, EVERY_TARGET, FEATURE_EXTRACTION),
    "training.dropout": Rebuild(0.3, EVERY_TARGET, FEATURE_EXTRACTION),
    "training.early_stopping_patience": Rebuild(2, EVERY_TARGET, TRAINING),
    "training.reduce_lr_patience": Rebuild(1, EVERY_TARGET, TRAINING),
    "training.reduce_lr_factor": Rebuild(0.5, EVERY_TARGET, TRAINING),
    "training.batch_norm_batches": Rebuild(0, EVERY_TARGET, TRAINING),
    "training.deterministic": Rebuild(False, EVERY_TARGET, TRAINING),
    "training.augment_on": Rebuild("model", EVERY_TARGET, FEATURE_EXTRACTION),
    "training.mixed_precision": Rebuild(False, EVERY_TARGET, TRAINING),
    "training.jit_compile": Rebuild(True, EVERY_TARGET, TRAINING),
    "training.feature_extraction.epochs": Rebuild(2, EVERY_TARGET, FEATURE_EXTRACTION),
    GRID_KEY: Rebuild(
        GRID + [1.0e-2],
        {f"train_point {model}/feature_extraction/{SEED}/learning_rate-0.01" for model in CONFIG["models"]}
        | AFTER_SELECTION,
        "a value added to a grid trains its point only, and selects again (" + FEATURE_EXTRACTION + ")",
    ),
    "tuning.select_on": Rebuild(
        "val_accuracy",
        AFTER_SELECTION,
        "the grids' targets select again; what follows waits on the pick (" + FEATURE_EXTRACTION + ")",
    ),
    "training.feature_extraction.cache_features": Rebuild(True, EVERY_TARGET, FEATURE_EXTRACTION),
    "training.fine_tuning.epochs": Rebuild(2, retrained(one_strategy("fine_tuning")), FINE_TUNING_ONLY),
    "training.fine_tuning.learning_rate": Rebuild(
        1.0e-4, retrained(one_strategy("fine_tuning")), FINE_TUNING_ONLY
    ),
    "strategies": Rebuild(
        ["feature_extraction"],
        {"stats", f"stats_external {EXTERNAL_SET}"}
        | COUNTERFACTUAL_STATS
        | jobs("model_card", one_strategy("feature_extraction"))
        | REPORT,
        "fewer targets: the statistics, the remaining cards and the report drop the others",
    ),
    "exclude_targets": Rebuild(
        ["vgg16_fine_tuning"],
        {"stats", f"stats_external {EXTERNAL_SET}"}
        | COUNTERFACTUAL_STATS
        | jobs("model_card", set(TARGETS) - {"vgg16_fine_tuning"})
        | REPORT,
        "one target fewer, as for `strategies`; the feature extraction it continued is still scored",
    ),
    "models": Rebuild(
        CONFIG["models"] + ["efficientnetb0"],
        fetched_weights("efficientnetb0") | retrained(one_model("efficientnetb0")),
        "a new model adds its targets (and fetches its ImageNet weights), nothing else",
    ),
    "model_settings.vgg16.weights": Rebuild(
        "imagenet", fetched_weights("vgg16") | retrained(one_model("vgg16")), FEATURE_EXTRACTION
    ),
    "model_settings.vgg16.unfreeze_layers": Rebuild(2, retrained(["vgg16_fine_tuning"]), FINE_TUNING_ONLY),
    "model_settings.resnet50v2.weights": Rebuild("none", REPORT, NOT_IN_MODELS),
    "model_settings.resnet50v2.unfreeze_layers": Rebuild(10, REPORT, NOT_IN_MODELS),
    "model_settings.mobilenetv2.weights": Rebuild(
        "imagenet", fetched_weights("mobilenetv2") | retrained(one_model("mobilenetv2")), FEATURE_EXTRACTION
    ),
    "model_settings.mobilenetv2.unfreeze_layers": Rebuild(
        2, retrained(["mobilenetv2_fine_tuning"]), FINE_TUNING_ONLY
    ),
    "model_settings.efficientnetb0.weights": Rebuild("none", REPORT, NOT_IN_MODELS),
    "model_settings.efficientnetb0.unfreeze_layers": Rebuild(10, REPORT, NOT_IN_MODELS),
    "model_settings.convnexttiny.weights": Rebuild("none", REPORT, NOT_IN_MODELS),
    "model_settings.convnexttiny.unfreeze_layers": Rebuild(10, REPORT, NOT_IN_MODELS),
    "model_settings.efficientnetv2b0.weights": Rebuild("none", REPORT, NOT_IN_MODELS),
    "model_settings.efficientnetv2b0.unfreeze_layers": Rebuild(10, REPORT, NOT_IN_MODELS),
    "report.bootstrap_resamples": Rebuild(2000, STATS, "the statistics read it"),
    "report.seed": Rebuild(
        1, STATS | jobs("gradcam", TARGETS), "it seeds the bootstrap and the choice of Grad-CAM images"
    ),
    "report.gradcam": Rebuild(False, REPORT, "the report leaves out the galleries"),
    "report.gradcam_images_per_class": Rebuild(2, jobs("gradcam", TARGETS) | REPORT, "Grad-CAM reads it"),
    "export.enabled": Rebuild(
        True,
        jobs("export", TARGETS) | jobs("model_card", TARGETS) | REPORT,
        "adds an export per target; cards show it",
    ),
    "export.formats": Rebuild(["tflite"], REPORT, "export.enabled is false"),
    "export.latency_runs": Rebuild(10, REPORT, "export.enabled is false"),
    f"external_test_sets.{EXTERNAL_SET}.classes": Rebuild(
        ["glioma", "notumor"], EXTERNAL, "the set is generated in its classes and scored on them"
    ),
    f"external_test_sets.{EXTERNAL_SET}.demo.per_class": Rebuild(2, EXTERNAL, "the set's phantoms"),
    f"external_test_sets.{EXTERNAL_SET}.demo.image_size": Rebuild(40, EXTERNAL, "the set's phantoms"),
    f"external_test_sets.{EXTERNAL_SET}.demo.seed": Rebuild(1, EXTERNAL, "the set's phantoms"),
    f"external_test_sets.{EXTERNAL_SET}.demo.contrast_gamma": Rebuild(0.9, EXTERNAL, "the set's scanner"),
    f"external_test_sets.{EXTERNAL_SET}.demo.noise_factor": Rebuild(1.2, EXTERNAL, "the set's scanner"),
    f"external_test_sets.{EXTERNAL_SET}.demo.resolution_factor": Rebuild(0.75, EXTERNAL, "the set's scanner"),
    "plugins": Rebuild(
        [str(REPO / "tests" / "plugins" / "linear_probe.py")],
        REPORT,
        "a plugin registers strategies; none trains until `strategies` names it",
    ),
    "tracking.mlflow.enabled": Rebuild(
        True, {"track", "all"}, "adds the track job after every result; the report leaves tracking out"
    ),
    "tracking.mlflow.uri": Rebuild("http://127.0.0.1:5000", set(), "tracking.mlflow.enabled is false"),
    "tracking.mlflow.experiment": Rebuild("other", set(), "tracking.mlflow.enabled is false"),
    "cross_validation": Rebuild(
        {"folds": 2, "repeats": 1},
        cross_validated(2) | REPORT,
        "adds the fold jobs beside the single split, which never re-runs (tests/test_cross_validation.py "
        "changes folds and repeats of a cross-validated run)",
    ),
    "container": Rebuild(
        "docker://example.org/mribench:other",
        REPORT,
        "only the report shows it; with --software-deployment-method apptainer every job re-runs",
    ),
}


def changed_config(changes):
    """The tiny config with `changes` merged in."""
    config = copy.deepcopy(CONFIG)
    update_config(config, changes)
    return config


FINE_TUNING_GRID = nested("training.fine_tuning.learning_rate", [3.0e-4, 1.0e-4])
FEATURE_EXTRACTION_SINGLE = nested(GRID_KEY, GRID[0])
FINE_TUNING_AUGMENTATION = nested(
    "training.fine_tuning.augmentation",
    {"rotation_degrees": 5, "zoom": 0, "shift": 0, "horizontal_flip": False, "brightness": 0},
)
# Changes on a finished run beyond one key of config.yaml (grids that appear or go, a key config.yaml
# leaves out) -> the jobs a dry run must plan, and why.
OTHER_CHANGES = {
    "a strategy gets augmentation of its own": Rebuild(
        FINE_TUNING_AUGMENTATION,
        retrained(one_strategy("fine_tuning")),
        "only fine-tuning reads training.fine_tuning.augmentation (in place of the top-level one)",
    ),
    "a single value becomes a list": Rebuild(
        FINE_TUNING_GRID,
        retrained(one_strategy("fine_tuning"), config=changed_config(FINE_TUNING_GRID)),
        "every point of the new grid trains (from the chosen feature-extraction point), the selection "
        "picks one, and the fine-tuning targets' results come from it",
    ),
    "a list becomes a single value": Rebuild(
        FEATURE_EXTRACTION_SINGLE,
        retrained(TARGETS, config=changed_config(FEATURE_EXTRACTION_SINGLE)),
        "feature extraction trains as the target itself again, and fine-tuning from it",
    ),
}

RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def planned(result):
    """The jobs of a dry run: the rule, and the target and seed (or the other wildcards) of each job."""
    planned_jobs = []
    for line in (result.stdout + result.stderr).splitlines():
        if match := RULE.match(line):
            planned_jobs.append(match[1])
        elif line.startswith("    wildcards: "):
            wildcards = dict(item.split("=", 1) for item in line.split(": ", 1)[1].split(", "))
            if wildcards.keys() == {"model", "strategy", "seed"}:
                where = "{model}_{strategy}/seed{seed}".format(**wildcards)
            else:
                where = "/".join(wildcards.values())
            planned_jobs[-1] += f" {where}"
    assert len(set(planned_jobs)) == len(planned_jobs), planned_jobs
    return set(planned_jobs)


def test_nothing_changed_plans_nothing(tiny_run):
    assert planned(run_snakemake(tiny_run, "-n")) == set()


def test_the_same_settings_merged_in_another_order_plan_nothing(tiny_run, tmp_path):
    """The profiles' way, config.yaml read by the Snakefile's `configfile:` alone (`make demo`), merges
    each section's keys in another order than a command line naming config.yaml first (the demo with
    an overlay, README "Cross-validation"); the settings are the same, so nothing re-runs. On a copy of
    the tiny run (hard links) holding config.yaml, where the Snakefile looks for it."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, copy_function=os.link)
    (workdir / "config.yaml").symlink_to(REPO / "config.yaml")
    command = snakemake_command(workdir, "-n")
    command.remove(str(REPO / "config.yaml"))
    result = run_in_snakemake_server(command)
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned(result) == set()


@pytest.mark.parametrize("key", sorted(set(leaf_keys(CONFIG)) | set(REBUILDS)))
def test_changing_a_key_reruns_the_jobs_that_read_it(key, tiny_run, tmp_path):
    if key not in REBUILDS:
        pytest.fail(
            f"config key `{key}` has no row in REBUILDS (tests/test_rebuild.py): add one with another "
            "valid value, the jobs a change must re-run, and why"
        )
    if key not in set(leaf_keys(CONFIG)):
        pytest.fail(f"REBUILDS has a row for `{key}`, which config.yaml (with the tiny profile) lacks")
    row = REBUILDS[key]
    assert row.value != value_at(CONFIG, key), f"the row for `{key}` must change its value"
    changes = nested(key, row.value)
    update_config(changes, row.also)
    changed = write_yaml(tmp_path / "changed.yaml", changes)
    plan = planned(run_snakemake(tiny_run, "-n", configfiles=(TINY, changed)))
    assert plan == row.jobs, (
        f"changing `{key}` to {row.value!r} ({row.why}) should plan {len(row.jobs)} jobs;\n"
        f"planned but not expected: {sorted(plan - row.jobs)}\n"
        f"expected but not planned: {sorted(row.jobs - plan)}"
    )


@pytest.mark.parametrize("change", sorted(OTHER_CHANGES))
def test_a_grid_or_an_optional_key_that_appears_or_goes_plans_what_reads_it(change, tiny_run, tmp_path):
    row = OTHER_CHANGES[change]
    changed = write_yaml(tmp_path / "changed.yaml", row.value)
    plan = planned(run_snakemake(tiny_run, "-n", configfiles=(TINY, changed)))
    assert plan == row.jobs, (
        f"{change} ({row.why}) should plan {len(row.jobs)} jobs;\n"
        f"planned but not expected: {sorted(plan - row.jobs)}\n"
        f"expected but not planned: {sorted(row.jobs - plan)}"
    )


def test_a_selection_with_the_same_pick_reruns_only_what_shows_the_grid(tiny_run, tmp_path):
    """The jobs after a selection read the chosen point's files, not selection.json: a selection written
    again with the same pick (as after adding a value that does not win) re-runs the model cards and the
    report, which show the grid, and nothing else. On a copy of the tiny run (hard links)."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, copy_function=os.link)
    selections = list(workdir.glob("results/runs/*/seed*/selection.json"))
    assert len(selections) == len(CONFIG["models"])
    for selection in selections:
        record = json.loads(selection.read_text())
        selection.unlink()  # a new file, newer than everything after it; the tiny run's stays as it was
        selection.write_text(json.dumps(record))  # other bytes (Snakemake compares checksums), same pick
    plan = planned(run_snakemake(workdir, "-n"))
    assert plan == jobs("model_card", one_strategy("feature_extraction")) | REPORT
