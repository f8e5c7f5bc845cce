from pathlib import Path

from mribench import folds, registry, strategies, targets, tuning
from mribench.config import (
    baseline_job_settings,
    sort_keys,
    training_job_settings,
    validate_config,
)
from mribench.tracking import FOLD_SCORES
from mribench.targets import (
    BASELINE_RUN_DIR,
    ENSEMBLE_DIR,
    FOLD_BASELINE_RUN_DIR,
    FOLD_JOB_NAME,
    FOLD_RUN_DIR,
    JOB_NAME,
    POINT_PATTERN,
    RUN_DIR,
    Target,
    TuningPoint,
)

# Also imports the config's plugins, which may register strategies.
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")
sort_keys(config)


wildcard_constraints:
    model="|".join(config["models"]),
    strategy="|".join(strategies.STRATEGIES),
    baseline="file_metadata|intensity_histogram",
    seed=r"\d+",
    repeat=r"\d+",
    fold=r"\d+",
    point=POINT_PATTERN,
    external_set="|".join(config["external_test_sets"]) or "(?!)",  # (?!) matches nothing


def every_target():
    """Every target the config asks for: model x strategy x seed, less exclude_targets."""
    return targets.every_target(config)


def every_baseline():
    """Every shortcut baseline the config asks for, once per seed."""
    return targets.baselines(config["baselines"], config["seeds"])


def n_folds():
    """cross_validation.folds; 0 when cross-validation is off."""
    return config["cross_validation"]["folds"] if config["cross_validation"] else 0


def every_fold():
    """The folds of cross-validation, repeat by repeat; none when cross_validation is null."""
    section = config["cross_validation"]
    return targets.folds(section["folds"], section["repeats"]) if section else []


def fold_targets():
    """Every target trained on every fold (none without cross-validation)."""
    return [target.with_fold(fold) for target in every_target() for fold in every_fold()]


def fold_baselines():
    """Every shortcut baseline fitted on every fold."""
    return [baseline.with_fold(fold) for baseline in every_baseline() for fold in every_fold()]


def fold_split(target):
    """The split.csv a target trains and is scored on: its fold's, or the single split."""
    if target.fold is None:
        return "results/data/split.csv"
    return folds.FOLD_SPLIT.format(**target.fold._asdict())


def fold_split_files():
    """The split.csv of every fold of every repeat."""
    return [folds.FOLD_SPLIT.format(**fold._asdict()) for fold in every_fold()]


def fold_files(wildcards, name):
    """A file of every fold run of the target a job is about (the fold ensemble's inputs)."""
    target = Target.from_wildcards(wildcards)
    return [f"{target.with_fold(fold).run_dir}/{name}" for fold in every_fold()]


def run_dirs():
    return [target.run_dir for target in every_target()]


def baseline_dirs():
    return [baseline.run_dir for baseline in every_baseline()]


def imagenet_weights_path(model):
    """Where fetch_weights puts the base's ImageNet weights: the file name Keras would download."""
    return f"resources/weights/{registry.imagenet_weights_file(model, config['image_size'])}"


def imagenet_weights():
    """Weights path -> model, for the configured models that use ImageNet weights."""
    return {
        imagenet_weights_path(model): model
        for model in config["models"]
        if config["model_settings"][model]["weights"] == "imagenet"
    }


def weights_model(wildcards, output):
    """The configured model whose ImageNet weights fetch_weights is asked for."""
    models = imagenet_weights()
    if output[0] not in models:
        raise ValueError(
            f"{output[0]} is not the ImageNet weights file of a configured model with weights: imagenet "
            f"at image_size {config['image_size']}; those are: {', '.join(models) or 'none'}"
        )
    return models[output[0]]


def weights_input(model):
    """The weights file a feature-extraction job starts from; none for weights: none."""
    weights = config["model_settings"][model]["weights"]
    if weights == "none":
        return {}
    if weights == "imagenet":
        weights = imagenet_weights_path(model)
    return {"weights": weights}


def export_files():
    """export.json of every target when config export.enabled; the report shows them."""
    return expand("{run}/export.json", run=run_dirs()) if config["export"]["enabled"] else []


def model_card_inputs(wildcards):
    """A model card describes the exports too, once they exist, and a tuned target's grid and pick."""
    target = Target.from_wildcards(wildcards)
    run = target.run_dir
    inputs = {
        "train": f"{chosen_run(target)}/train.json",
        "metrics": f"{run}/metrics.json",
        "split": "results/data/split.csv",
        "stats": "results/stats/stats.json",
        "audit": "results/data/audit.json",
    }
    if config["export"]["enabled"]:
        inputs["export"] = f"{run}/export.json"
    if tuning_points(target):
        inputs["selection"] = f"{run}/selection.json"
    names = list(config["external_test_sets"])
    inputs["external_metrics"] = [f"{run}/external/{name}/metrics.json" for name in names]
    inputs["external_stats"] = [f"results/stats/external/{name}/stats.json" for name in names]
    inputs["external_audit"] = [f"results/external/{name}/audit.json" for name in names]
    inputs["counterfactual_metrics"] = f"{run}/counterfactual/metrics.json"
    inputs["counterfactual_stats"] = "results/stats/counterfactual/stats.json"
    return inputs


def tuning_points(target):
    """The tuning points of `target`'s grid (mribench.tuning); empty for a target without lists."""
    return tuning.points(config, target)


def every_tuning_point():
    """Every point of every target's tuning grid (none without a grid)."""
    return [point for target in every_target() for point in tuning_points(target)]


def chosen_run(target):
    """The run folder of `target`'s model and training records: its own, or for a target with a tuning
    grid the point its selection picked. The selection is a checkpoint, so the jobs after it depend on
    the chosen point's files alone: a new pick re-runs them, a re-selection with the same pick does not."""
    if not tuning_points(target):
        return target.run_dir
    wildcards = {"model": target.model, "strategy": target.strategy, "seed": target.seed}
    if target.fold is None:
        selection = checkpoints.select.get(**wildcards).output.selection
    else:  # nested: a fold's points are selected on the fold's inner validation
        selection = checkpoints.select_fold.get(**wildcards, **target.fold._asdict()).output.selection
    return target.at(TuningPoint.parse(tuning.read_pick(selection))).run_dir


def chosen_files(**files):
    """An input function: name -> the file of that name in the job's target's chosen run (chosen_run)."""

    def inputs(wildcards):
        run = chosen_run(Target.from_wildcards(wildcards))
        return {name: f"{run}/{file}" for name, file in files.items()}

    return inputs


def selection_inputs(wildcards):
    """The validation records of every tuning point of one target, the selection's only inputs."""
    points = tuning_points(Target.from_wildcards(wildcards))
    return {
        "train": [f"{point.run_dir}/train.json" for point in points],
        "history": [f"{point.run_dir}/history.csv" for point in points],
    }


def selection_points(wildcards):
    """The ids of one target's tuning points, in the order of selection_inputs."""
    return [point.point.id for point in tuning_points(Target.from_wildcards(wildcards))]


def selections():
    """selection.json of every target with a tuning grid (the report and the model cards show them)."""
    return [f"{target.run_dir}/selection.json" for target in every_target() if tuning_points(target)]


def chosen_train_jsons(wildcards):
    """train.json of every target's chosen run (chosen_run)."""
    return {"train": [f"{chosen_run(target)}/train.json" for target in every_target()]}


def start_run(target):
    """The run a continuing strategy (fine-tuning) starts from: the (chosen) run of the strategy it
    continues, or a run of its own where that target trains a stage of another length
    (training.feature_extraction.equal_budget lengthens the feature-extraction target)."""
    continued = strategies.get_strategy(target.strategy).continues
    start = Target(target.model, continued, target.seed, fold=target.fold)
    training = config["training"]
    stage = strategies.get_strategy(continued).stage_settings
    if stage(training) != stage(training, as_start=True):
        return f"{target.chosen_from.run_dir}/start/{continued}"
    return chosen_run(start)


def training_inputs(wildcards):
    """A new model starts from the base's weights file (none for a random base), a continuing
    strategy from the run it continues."""
    target = Target.from_wildcards(wildcards)
    strategy = strategies.get_strategy(target.strategy)
    inputs = {"split": fold_split(target), "dataset": "results/data/dataset"}
    inputs |= intensity_inputs()
    if strategy.continues:
        start = start_run(target)
        return inputs | {
            "start_model": f"{start}/model.keras",
            "start_history": f"{start}/history.csv",
            "start_train": f"{start}/train.json",
        }
    if strategy.random_base:
        return inputs
    return inputs | weights_input(target.model)


def pick(section, *keys):
    """The given keys of a config section, in the section's order."""
    return {key: value for key, value in section.items() if key in keys}


def dataset_source_settings():
    """What obtain_dataset reads: dataset.source and that source's own keys, and the classes (the
    phantom generator draws them; a copied or downloaded dataset must have a folder for each)."""
    dataset = config["dataset"]
    keys = {
        "kaggle": ["kaggle_slug", "classes"],
        "path": ["path", "root", "classes"],
        "demo": ["classes", "demo"],
    }[dataset["source"]]
    return pick(dataset, "source", *keys)


def obtain_settings(reads_files):
    """Config `obtain` for a job that reads a folder or zip (`reads_files`); none for phantoms, so that
    changing it does not regenerate them."""
    return config["obtain"] if reads_files else {}


def training_settings(wildcards):
    """What the training job of one target (or tuning point) reads (mribench.config.training_job_settings).
    A target with a tuning grid trains as its points only: its model is its chosen point's."""
    target = Target.from_wildcards(wildcards)
    if target.point is None and tuning_points(target):
        raise ValueError(
            f"{target.run_dir} has a tuning grid: its points train in {target.run_dir}/tuning/ and its "
            "model is the chosen point's (selection.json); ask for the target's metrics.json, or a point's files"
        )
    return training_job_settings(config, target)


def start_run_settings(wildcards):
    """The settings of the run a continuing strategy starts from, when it is a run of its own."""
    return training_job_settings(config, Target.from_wildcards(wildcards), as_start=True)


def baseline_inputs(wildcards):
    """The metadata baseline reads the audit's per-file records; the histogram baseline the images and
    the reference histogram of their counterfactual view; a fold's baseline fits and is scored on its
    fold's split.csv."""
    fold = targets.Fold(int(wildcards.repeat), int(wildcards.fold)) if "fold" in wildcards.keys() else None
    inputs = {"split": fold_split(Target(targets.BASELINE_MODEL, wildcards.baseline, 0, fold=fold))}
    if wildcards.baseline == "file_metadata":
        return inputs | {"audit": "results/data/audit.csv"}
    return inputs | {"dataset": "results/data/dataset", "intensity_reference": INTENSITY_REFERENCE}


def baseline_settings(wildcards):
    return baseline_job_settings(config, wildcards.baseline)


def stats_runs(predictions="predictions.csv"):
    """(model, strategy, seed, predictions file) of every target, and on the internal test set of
    every shortcut baseline, for the statistics across targets; `predictions` is the file's path in
    the run folder (external/<set>/predictions.csv for an external test set, which the baselines do
    not score)."""
    runs = every_target()
    if predictions == "predictions.csv":
        runs += every_baseline()
    return [[run.model, run.strategy, run.seed, f"{run.run_dir}/{predictions}"] for run in runs]


def fold_stats_runs():
    """[model, strategy, seed, repeat, fold, held-out predictions, Testing predictions ("" for a
    baseline)] of every fold run, for the cross-validation statistics."""
    return [
        [run.model, run.strategy, run.seed, run.fold.repeat, run.fold.fold, f"{run.run_dir}/predictions.csv"]
        + ["" if run.is_baseline else f"{run.run_dir}/testing/predictions.csv"]
        for run in fold_targets() + fold_baselines()
    ]


def external_ensembles():
    """[model, strategy, seed, set, its classes, predictions.csv] of every target's fold ensemble on
    every external test set (none without cross-validation)."""
    if not config["cross_validation"]:
        return []
    return [
        [
            t.model,
            t.strategy,
            t.seed,
            name,
            test_set["classes"],
            f"{t.ensemble_dir}/external/{name}/predictions.csv",
        ]
        for t in every_target()
        for name, test_set in config["external_test_sets"].items()
    ]


def cross_validation_report_inputs():
    """The cross-validation statistics, for the report, when cross_validation is on."""
    return ["results/stats/cross_validation.json"] if config["cross_validation"] else []


def gradcam_galleries():
    """The Grad-CAM gallery of every target, or none when report.gradcam is false."""
    if not config["report"]["gradcam"]:
        return []
    return expand("{run}/gradcam/gallery.png", run=run_dirs())


def external_set(wildcards):
    """The config entry of the external test set a job is about."""
    return config["external_test_sets"][wildcards.external_set]


def external_classes(wildcards):
    return external_set(wildcards)["classes"]


def external_run_files(external_set, name):
    """A file of every target's results on one external test set."""
    return [f"{run}/external/{external_set}/{name}" for run in run_dirs()]


def external_stats_runs(wildcards):
    """(target, seed, predictions.csv) of every target on one external test set, for its statistics."""
    return stats_runs(f"external/{wildcards.external_set}/predictions.csv")


def external_report_inputs():
    """Audit, statistics and every target's metrics of every external test set, for the report."""
    return [
        path
        for name in config["external_test_sets"]
        for path in [f"results/external/{name}/audit.json", f"results/stats/external/{name}/stats.json"]
        + external_run_files(name, "metrics.json")
    ]


def external_report_sets():
    """name -> classes, audit.json and stats.json of every external test set (report and model cards)."""
    return {
        name: {
            "classes": test_set["classes"],
            "audit": f"results/external/{name}/audit.json",
            "stats": f"results/stats/external/{name}/stats.json",
            "counterfactual_stats": f"results/stats/external/{name}/counterfactual/stats.json",
        }
        for name, test_set in config["external_test_sets"].items()
    }


def tracking_outputs():
    """The tracking job's record, when tracking.mlflow.enabled asks for one."""
    return ["results/mlflow/tracked.json"] if config["tracking"]["mlflow"]["enabled"] else []


def tracked_run(target):
    """The MLflow run of a target, a tuning point or a cross-validation fold: name, seed, tags and the
    settings its training read; a point's also carries its id, a fold's its name (and tags them)."""
    run = {"name": target.name, "seed": target.seed, "params": training_job_settings(config, target)}
    tags = {
        "model": target.model,
        "strategy": target.strategy,
        "seed": str(target.seed),
        "backend": config["training"]["backend"],
    }
    if target.point is not None:
        run["point"] = tags["tuning_point"] = target.point.id
    if target.fold is not None:
        run["fold"] = tags["fold"] = target.fold.name
    return run | {"tags": tags}


def tracked_runs(targets):
    """Each of `targets`' run folder -> its MLflow run (tracked_run)."""
    return {target.run_dir: tracked_run(target) for target in targets}


def tracked_fold_files(wildcards):
    """What a fold's MLflow run holds: train.json of its chosen run (history.csv beside it), its scores on
    its held-out fold and on the official Testing folder."""
    return {
        "fold_train": [f"{chosen_run(target)}/train.json" for target in fold_targets()],
        "fold_metrics": [
            f"{target.run_dir}/{scores}" for target in fold_targets() for scores in FOLD_SCORES.values()
        ],
    }


def tracked_baselines():
    """Each shortcut baseline's run folder -> its MLflow run, made like tracked_run's."""
    return {
        baseline.run_dir: {
            "name": baseline.name,
            "seed": baseline.seed,
            "tags": {"model": baseline.name, "strategy": "shortcut baseline", "seed": str(baseline.seed)},
            "params": baseline_job_settings(config, baseline.strategy),
        }
        for baseline in every_baseline()
    }


INTENSITY_REFERENCE = "results/data/intensity_reference.json"


def intensity_inputs():
    """The reference histogram a training job matches every image to, with preprocessing.intensity
    matched; none otherwise (its images are as decoded)."""
    if config["preprocessing"]["intensity"] == "matched":
        return {"intensity_reference": INTENSITY_REFERENCE}
    return {}


def counterfactual_runs(wildcards):
    """The runs scored on the counterfactual view of a test set: every target and, on the internal
    test set, every shortcut baseline, each with the folder its predictions.csv of the set is in."""
    if "external_set" in wildcards.keys():
        return [(run, f"{run.run_dir}/external/{wildcards.external_set}") for run in every_target()]
    return [(run, run.run_dir) for run in every_target() + every_baseline()]


def counterfactual_stats_runs(wildcards):
    """(model, strategy, seed, original predictions.csv, counterfactual predictions.csv) of every run
    on one test set (counterfactual_runs), for the statistics of the two views."""
    return [
        [
            run.model,
            run.strategy,
            run.seed,
            f"{folder}/predictions.csv",
            f"{folder}/counterfactual/predictions.csv",
        ]
        for run, folder in counterfactual_runs(wildcards)
    ]


def counterfactual_stats_inputs(wildcards):
    return [path for row in counterfactual_stats_runs(wildcards) for path in row[3:]]


def counterfactual_report_inputs():
    """The statistics of both views of the internal test set (first) and of every external set, and every
    target's metrics on the counterfactual view of each external set, for the report."""
    return ["results/stats/counterfactual/stats.json"] + [
        path
        for name in config["external_test_sets"]
        for path in [f"results/stats/external/{name}/counterfactual/stats.json"]
        + external_run_files(name, "counterfactual/metrics.json")
    ]
