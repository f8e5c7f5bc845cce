from pathlib import Path

from mribench import registry, strategies, targets
from mribench.config import baseline_job_settings, training_job_settings, validate_config
from mribench.targets import BASELINE_RUN_DIR, JOB_NAME, RUN_DIR, Target

# Also imports the config's plugins, which may register strategies.
validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")


wildcard_constraints:
    model="|".join(config["models"]),
    strategy="|".join(strategies.STRATEGIES),
    baseline="file_metadata|intensity_histogram",
    seed=r"\d+",
    external_set="|".join(config["external_test_sets"]) or "(?!)",  # (?!) matches nothing


def every_target():
    """Every target the config asks for: model x strategy x seed."""
    return targets.every_target(config["models"], config["strategies"], config["seeds"])


def every_baseline():
    """Every shortcut baseline the config asks for, once per seed."""
    return targets.baselines(config["baselines"], config["seeds"])


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
    """A model card describes the exports too, once they exist."""
    run = Target.from_wildcards(wildcards).run_dir
    inputs = {
        "train": f"{run}/train.json",
        "metrics": f"{run}/metrics.json",
        "split": "results/data/split.csv",
        "stats": "results/stats/stats.json",
        "audit": "results/data/audit.json",
    }
    if config["export"]["enabled"]:
        inputs["export"] = f"{run}/export.json"
    names = list(config["external_test_sets"])
    inputs["external_metrics"] = [f"{run}/external/{name}/metrics.json" for name in names]
    inputs["external_stats"] = [f"results/stats/external/{name}/stats.json" for name in names]
    inputs["external_audit"] = [f"results/external/{name}/audit.json" for name in names]
    inputs["counterfactual_metrics"] = f"{run}/counterfactual/metrics.json"
    inputs["counterfactual_stats"] = "results/stats/counterfactual/stats.json"
    return inputs


def start_run(target):
    """The run a continuing strategy (fine-tuning) starts from: the target of the strategy it
    continues, or a run of its own where that target trains a stage of another length
    (training.feature_extraction.equal_budget lengthens the feature-extraction target)."""
    continued = strategies.get_strategy(target.strategy).continues
    start = Target(target.model, continued, target.seed)
    training = config["training"]
    stage = strategies.get_strategy(continued).stage_settings
    if stage(training) != stage(training, as_start=True):
        return f"{target.run_dir}/start/{continued}"
    return start.run_dir


def training_inputs(wildcards):
    """A new model starts from the base's weights file (none for a random base), a continuing
    strategy from the run it continues."""
    target = Target.from_wildcards(wildcards)
    strategy = strategies.get_strategy(target.strategy)
    inputs = {"split": "results/data/split.csv", "dataset": "results/data/dataset"}
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
    """What the training job of one target reads (mribench.config.training_job_settings)."""
    return training_job_settings(config, Target.from_wildcards(wildcards))


def start_run_settings(wildcards):
    """The settings of the run a continuing strategy starts from, when it is a run of its own."""
    return training_job_settings(config, Target.from_wildcards(wildcards), as_start=True)


def baseline_inputs(wildcards):
    """The metadata baseline reads the audit's per-file records; the histogram baseline the images and
    the reference histogram of their counterfactual view."""
    inputs = {"split": "results/data/split.csv"}
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


def tracked_targets():
    """Each target's run folder -> its MLflow run: name, seed, tags and the settings its training read."""
    return {
        target.run_dir: {
            "name": target.name,
            "seed": target.seed,
            "tags": {
                "model": target.model,
                "strategy": target.strategy,
                "seed": str(target.seed),
                "backend": config["training"]["backend"],
            },
            "params": training_job_settings(config, target),
        }
        for target in every_target()
    }


def tracked_baselines():
    """Each shortcut baseline's run folder -> its MLflow run, as tracked_targets."""
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
