from pathlib import Path

from mribench.config import validate_config

validate_config(config, Path(workflow.basedir) / "schemas" / "config.schema.yaml")


wildcard_constraints:
    model="|".join(config["models"]),
    strategy="feature_extraction|fine_tuning",
    seed=r"\d+",


def run_dirs():
    """Every target the config asks for: model x strategy x seed."""
    return expand(
        "results/runs/{model}_{strategy}/seed{seed}",
        model=config["models"],
        strategy=config["strategies"],
        seed=config["seeds"],
    )


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
    }
    if config["export"]["enabled"]:
        inputs["export"] = f"{run}/export.json"
    return inputs


def training_inputs(wildcards):
    """Fine-tuning starts from the feature-extraction run of the same base and seed."""
    inputs = {"split": "results/data/split.csv", "dataset": "results/data/dataset"}
    if wildcards.strategy == "fine_tuning":
        start = f"results/runs/{wildcards.model}_feature_extraction/seed{wildcards.seed}"
        inputs |= {
            "start_model": f"{start}/model.keras",
            "start_history": f"{start}/history.csv",
            "start_train": f"{start}/train.json",
        }
    return inputs


def training_settings(wildcards):
    """The config sections a training job depends on; as params they trigger its rerun."""
    training = {k: v for k, v in config["training"].items() if k not in ("feature_extraction", "fine_tuning")}
    return {
        "classes": config["dataset"]["classes"],
        "image_size": config["image_size"],
        "augmentation": config["augmentation"],
        "training": training | {wildcards.strategy: config["training"][wildcards.strategy]},
        "model": config["model_settings"][wildcards.model],
    }
