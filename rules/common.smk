from pathlib import Path
from types import SimpleNamespace

from mribench import registry
from mribench.config import TRAINING_STRATEGIES, stage_settings, validate_config

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")


wildcard_constraints:
    model="|".join(config["models"]),
    strategy="|".join(TRAINING_STRATEGIES),
    baseline="file_metadata|intensity_histogram",
    seed=r"\d+",
    external_set="|".join(config["external_test_sets"]) or "(?!)",  # (?!) matches nothing


def run_dirs():
    """Every target the config asks for: model x strategy x seed."""
    return expand(
        "results/runs/{model}_{strategy}/seed{seed}",
        model=config["models"],
        strategy=config["strategies"],
        seed=config["seeds"],
    )


def baseline_dirs():
    """Every shortcut baseline the config asks for, once per seed: results/runs/baseline_<kind>/seed<seed>."""
    return expand(
        "results/runs/baseline_{baseline}/seed{seed}", baseline=config["baselines"], seed=config["seeds"]
    )


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
    run = f"results/runs/{wildcards.model}_{wildcards.strategy}/seed{wildcards.seed}"
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
    return inputs


def fine_tuning_start(model, seed):
    """The feature-extraction run that fine-tuning starts from: the feature-extraction target, or with
    training.feature_extraction.equal_budget (which lengthens that target) a run of its own."""
    if config["training"]["feature_extraction"]["equal_budget"]:
        return f"results/runs/{model}_fine_tuning/seed{seed}/start/feature_extraction"
    return f"results/runs/{model}_feature_extraction/seed{seed}"


def training_inputs(wildcards):
    """Feature extraction starts from the base's weights file; fine-tuning from a
    feature-extraction run of the same base and seed; from scratch from random weights."""
    inputs = {"split": "results/data/split.csv", "dataset": "results/data/dataset"}
    if wildcards.strategy == "feature_extraction":
        inputs |= weights_input(wildcards.model)
    elif wildcards.strategy == "fine_tuning":
        start = fine_tuning_start(wildcards.model, wildcards.seed)
        inputs |= {
            "start_model": f"{start}/model.keras",
            "start_history": f"{start}/history.csv",
            "start_train": f"{start}/train.json",
        }
    return inputs


def pick(section, *keys):
    """The given keys of a config section, in the section's order."""
    return {key: value for key, value in section.items() if key in keys}


def dataset_source_settings():
    """What obtain_dataset reads: dataset.source and that source's own keys (the phantom generator
    also draws the classes; a copied or downloaded dataset brings its own folders)."""
    dataset = config["dataset"]
    keys = {"kaggle": ["kaggle_slug"], "path": ["path"], "demo": ["classes", "demo"]}[dataset["source"]]
    return pick(dataset, "source", *keys)


# The settings a training strategy does not read, so that changing one does not retrain it.
# Every strategy reads its own stage only (with its epochs resolved, below). Fine-tuning continues
# the feature-extraction model (its start_model input), which already holds the head (dense_units,
# dropout) and the augmentation layer if augment_on put one there; a from-scratch base has no
# pretrained weights and nothing to unfreeze. Any other key reaches every strategy: a key added
# later re-runs too much until it is listed, never too little.
NOT_READ_BY = {
    "feature_extraction": {"training": set(), "model": {"unfreeze_layers"}},
    "fine_tuning": {"training": {"dense_units", "dropout", "augment_on"}, "model": set()},
    "from_scratch": {"training": set(), "model": {"weights", "unfreeze_layers"}},
}


def training_settings(wildcards, fine_tuning_start=False):
    """What the training job of one model and strategy reads (train_target's `settings`); as params,
    a change to any of them re-runs the job, and no other setting does.

    The job's own stage comes with its epochs resolved (equal_budget, from_scratch.epochs: null);
    a from-scratch job's base starts with random weights.
    """
    not_read = NOT_READ_BY[wildcards.strategy]
    training = {
        k: v
        for k, v in config["training"].items()
        if k not in TRAINING_STRATEGIES and k not in not_read["training"]
    }
    model = {k: v for k, v in config["model_settings"][wildcards.model].items() if k not in not_read["model"]}
    if wildcards.strategy == "from_scratch":
        model["weights"] = "none"
    return {
        "classes": config["dataset"]["classes"],
        "image_size": config["image_size"],
        "augmentation": config["augmentation"],
        "training": training
        | {wildcards.strategy: stage_settings(config["training"], wildcards.strategy, fine_tuning_start)},
        "model": model,
    }


def fine_tuning_start_settings(wildcards):
    """The settings of the feature-extraction run fine-tuning starts from under equal_budget."""
    return training_settings(wildcards, fine_tuning_start=True)


def baseline_inputs(wildcards):
    """The metadata baseline reads the audit's per-file records; the histogram baseline the images."""
    inputs = {"split": "results/data/split.csv"}
    if wildcards.baseline == "file_metadata":
        return inputs | {"audit": "results/data/audit.csv"}
    return inputs | {"dataset": "results/data/dataset"}


def baseline_settings(wildcards):
    """Exactly what a baseline job reads: the classes, and the image size the histogram is taken at."""
    settings = {"classes": config["dataset"]["classes"]}
    if wildcards.baseline == "intensity_histogram":
        settings["image_size"] = config["image_size"]
    return settings


def stats_runs(predictions="predictions.csv"):
    """(target, seed, predictions file) of every target, and on the internal test set of every
    shortcut baseline, for the statistics across targets; `predictions` is the file's path in the run
    folder (external/<set>/predictions.csv for an external test set, which the baselines do not score)."""
    runs = [
        [f"{model}_{strategy}", seed, f"results/runs/{model}_{strategy}/seed{seed}/{predictions}"]
        for model in config["models"]
        for strategy in config["strategies"]
        for seed in config["seeds"]
    ]
    if predictions != "predictions.csv":
        return runs
    return runs + [
        [f"baseline_{kind}", seed, f"results/runs/baseline_{kind}/seed{seed}/predictions.csv"]
        for kind in config["baselines"]
        for seed in config["seeds"]
    ]


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
        }
        for name, test_set in config["external_test_sets"].items()
    }


def tracking_outputs():
    """The tracking job's record, when tracking.mlflow.enabled asks for one."""
    return ["results/mlflow/tracked.json"] if config["tracking"]["mlflow"]["enabled"] else []


def tracked_targets():
    """Each target's run folder -> its MLflow run: name, seed, tags and the settings its training read."""
    return {
        f"results/runs/{model}_{strategy}/seed{seed}": {
            "name": f"{model}_{strategy}",
            "seed": seed,
            "tags": {
                "model": model,
                "strategy": strategy,
                "seed": str(seed),
                "backend": config["training"]["backend"],
            },
            "params": training_settings(SimpleNamespace(model=model, strategy=strategy)),
        }
        for model in config["models"]
        for strategy in config["strategies"]
        for seed in config["seeds"]
    }


def tracked_baselines():
    """Each shortcut baseline's run folder -> its MLflow run, as tracked_targets."""
    return {
        f"results/runs/baseline_{kind}/seed{seed}": {
            "name": f"baseline_{kind}",
            "seed": seed,
            "tags": {"model": f"baseline_{kind}", "strategy": "shortcut baseline", "seed": str(seed)},
            "params": baseline_settings(SimpleNamespace(baseline=kind)),
        }
        for kind in config["baselines"]
        for seed in config["seeds"]
    }
