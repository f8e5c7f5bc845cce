from pathlib import Path

from mribench import registry
from mribench.config import validate_config

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")


wildcard_constraints:
    model="|".join(config["models"]),
    strategy="feature_extraction|fine_tuning",
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


def training_inputs(wildcards):
    """Feature extraction starts from the base's weights file; fine-tuning from the
    feature-extraction run of the same base and seed."""
    inputs = {"split": "results/data/split.csv", "dataset": "results/data/dataset"}
    if wildcards.strategy == "feature_extraction":
        inputs |= weights_input(wildcards.model)
    else:
        start = f"results/runs/{wildcards.model}_feature_extraction/seed{wildcards.seed}"
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
# Fine-tuning continues the feature-extraction model (its start_model input), which already holds
# the head (dense_units, dropout) and the augmentation layer if augment_on put one there. Any other
# key reaches both strategies: a key added later re-runs too much until it is listed, never too little.
NOT_READ_BY = {
    "feature_extraction": {"training": {"fine_tuning"}, "model": {"unfreeze_layers"}},
    "fine_tuning": {
        "training": {"feature_extraction", "dense_units", "dropout", "augment_on"},
        "model": set(),
    },
}


def training_settings(wildcards):
    """What the training job of one model and strategy reads (train_target's `settings`); as params,
    a change to any of them re-runs the job, and no other setting does."""
    not_read = NOT_READ_BY[wildcards.strategy]
    return {
        "classes": config["dataset"]["classes"],
        "image_size": config["image_size"],
        "augmentation": config["augmentation"],
        "training": {k: v for k, v in config["training"].items() if k not in not_read["training"]},
        "model": {
            k: v for k, v in config["model_settings"][wildcards.model].items() if k not in not_read["model"]
        },
    }


def stats_runs(predictions="predictions.csv"):
    """(target, seed, predictions file) of every target, for the statistics across targets; `predictions`
    is the file's path in the run folder (external/<set>/predictions.csv for an external test set)."""
    return [
        [f"{model}_{strategy}", seed, f"results/runs/{model}_{strategy}/seed{seed}/{predictions}"]
        for model in config["models"]
        for strategy in config["strategies"]
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
