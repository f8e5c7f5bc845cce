"""Config validation that runs when Snakemake parses the workflow, before any job starts.

The JSON schema catches wrong types, ranges and mistyped keys; the checks below catch what a
schema cannot know: which models the registry has and which files exist.
"""

import difflib
import zipfile
from pathlib import Path

import jsonschema
import yaml

from mribench import registry, sources, strategies, tuning
from mribench.targets import MODEL_NAME, NAME


class ConfigError(ValueError):
    pass


# JSON Schema counts 32.0 as an integer; Python does not (range(32.0), a Keras shape of 32.0 fail
# deep inside a job). An integer key takes whole numbers written without a decimal point only.
STRICT_INTEGERS = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda checker, instance: isinstance(instance, int) and not isinstance(instance, bool)
)
Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=STRICT_INTEGERS)


def validate_config(config, schema_path):
    """Raise ConfigError listing every problem, each naming its config key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = Validator(schema)
    # a list where a single value is needed, said so rather than as the schema's type error
    lists = tuning.list_problems(config)
    problems = list(lists.values()) + [
        f"config key `{_key(error.absolute_path)}`: {error.message}"
        + _did_you_mean(error)
        + _whole_number(error)
        for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
        if _key(error.absolute_path) not in lists
    ]
    if not problems:
        problems = _plugin_problems(config["plugins"]) or _semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def sort_keys(config):
    """Sort every mapping of `config` by key, in place, and return it.

    Snakemake re-runs a job whose params are written differently from its last run's, and a mapping's
    keys come in the order the config files were merged: the demo's profile loads config.yaml through
    the Snakefile, a command line with an overlay names it first (README, "Cross-validation"), and the
    same settings in another order would re-run every job that reads a section as a whole."""
    for key, value in sorted(config.items()):
        del config[key]
        config[key] = sort_keys(value) if isinstance(value, dict) else value
    return config


def _key(path):
    return ".".join(str(part) for part in path) or "(top level)"


def _did_you_mean(error):
    """For a mistyped key, the allowed keys it resembles."""
    if error.validator != "additionalProperties" or "properties" not in error.schema:
        return ""
    allowed = list(error.schema["properties"])
    hints = [
        f"{key!r} -> {matches[0]!r}"
        for key in error.instance
        if key not in allowed and (matches := difflib.get_close_matches(key, allowed, n=1))
    ]
    return f" (did you mean {', '.join(hints)}?)" if hints else f"; allowed keys: {', '.join(allowed)}"


def _whole_number(error):
    """For a whole-number float where an integer is expected, how to write it."""
    if error.validator == "type" and isinstance(error.instance, float) and error.instance.is_integer():
        return f"; write {int(error.instance)}, without a decimal point"
    return ""


def _source_problem(key, path):
    """A path that must be a folder or a .zip file: the problem, naming `key`, or None."""
    path = Path(path)
    if not path.exists():
        return f"config key `{key}`: {str(path)!r} does not exist"
    if not path.is_dir() and not zipfile.is_zipfile(path):
        return f"config key `{key}`: {str(path)!r} is neither a folder nor a .zip file; give one of them"
    return None


def _plugin_problems(paths):
    """Plugins register strategies and bases: imported before the checks that look them up."""
    try:
        strategies.load_plugins(paths)
    except strategies.StrategyError as error:
        return [str(error)]
    return []


def _semantic_problems(config):
    problems = [
        f"config key `strategies`: unknown strategy {name!r}; known strategies: "
        f"{', '.join(strategies.STRATEGIES)} (add one with mribench.strategies.register in a file "
        "listed under `plugins:`)"
        for name in config["strategies"]
        if name not in strategies.STRATEGIES
    ]
    for name in config["models"]:
        if not MODEL_NAME.match(name):
            problems.append(
                f"config key `models`: {name!r} is not a model name: use lower-case letters and digits only, "
                "so that target names (<model>_<strategy>) parse unambiguously"
            )
            continue
        if name not in registry.BASES:
            problems.append(
                f"config key `models`: unknown model {name!r}; known models: "
                f"{', '.join(registry.BASES)} (add a base with one line in mribench/registry.py)"
            )
            continue
        if name not in config["model_settings"]:
            problems.append(f"config key `model_settings.{name}`: missing; give weights and unfreeze_layers")
            continue
        settings = config["model_settings"][name]
        minimum = registry.BASES[name].min_image_size
        if config["image_size"] < minimum:
            problems.append(
                f"config key `image_size`: {name} needs at least {minimum} px, got {config['image_size']}"
            )
        weights = settings["weights"]
        if weights not in ("imagenet", "none") and not Path(weights).is_file():
            problems.append(
                f"config key `model_settings.{name}.weights`: {weights!r} is neither imagenet, none, "
                "nor an existing weights file; give the path of a .weights.h5 or .h5 file"
            )
        n_layers = registry.BASES[name].n_layers
        unfreeze = settings["unfreeze_layers"]
        if _reads(config, "unfreeze_layers") and max(tuning.as_list(unfreeze)) > n_layers:
            problems.append(
                f"config key `model_settings.{name}.unfreeze_layers`: {unfreeze} "
                f"exceeds the {n_layers} layers of {name}'s base; give at most {n_layers}"
            )
    dataset = config["dataset"]
    if dataset["source"] == "path":
        if not dataset["path"]:
            problems.append("config key `dataset.path`: required when dataset.source is path")
        elif problem := _source_problem("dataset.path", dataset["path"]):
            problems.append(problem)
    for name, test_set in config["external_test_sets"].items():
        problems += _external_set_problems(name, test_set, dataset["classes"])
    return problems + _exclusion_problems(config) + tuning.grid_problems(config) + _fold_problems(config)


def _exclusion_problems(config):
    """Names in exclude_targets that are no target of models x strategies (a typo would leave the
    target in without a word), or that leave no target to train."""
    named = [NAME.format(model=m, strategy=s) for m in config["models"] for s in config["strategies"]]
    problems = [
        f"config key `exclude_targets`: {name!r} is not a target of models x strategies; targets: "
        f"{', '.join(named)}"
        for name in config["exclude_targets"]
        if name not in named
    ]
    if not problems and set(named) <= set(config["exclude_targets"]):
        problems.append("config key `exclude_targets`: it leaves out every target; leave at least one")
    return problems


def _fold_problems(config):
    """More folds than the smallest Training class has images, refused before any job runs where the
    images can be counted then; the cross_validation_folds job counts distinct images after the audit
    (mribench.folds.check_groups), which a Kaggle download waits for."""
    cross_validation = config["cross_validation"]
    counts = sources.training_files_per_class(config["dataset"]) if cross_validation else None
    if not counts:
        return []
    label, n = min(counts.items(), key=lambda item: item[1])
    if cross_validation["folds"] <= n:
        return []
    where = (
        "the demo (dataset.demo.train_per_class)" if config["dataset"]["source"] == "demo" else "dataset.path"
    )
    return [
        f"config key `cross_validation.folds`: {cross_validation['folds']} folds, but Training class "
        f"{label!r} of {where} has only {n} images; give at most {n} folds or add images"
    ]


def _reads(config, model_key):
    """Whether a configured strategy reads `model_settings.<model>.<model_key>`."""
    return any(
        model_key not in strategies.get_strategy(name).ignores_model
        for name in config["strategies"]
        if name in strategies.STRATEGIES
    )


def _external_set_problems(name, test_set, classes):
    key = f"external_test_sets.{name}"
    problems = [
        f"config key `{key}.classes`: class {label!r} is unknown to the models, which are trained on "
        f"dataset.classes {list(classes)}; rename it to one of them or leave that class out of the set"
        for label in test_set["classes"]
        if label not in classes
    ]
    if ("path" in test_set) == ("demo" in test_set):
        problems.append(f"config key `{key}`: give exactly one of path (your images) or demo (phantoms)")
    elif "path" in test_set and (problem := _source_problem(f"{key}.path", test_set["path"])):
        problems.append(problem)
    return problems


def training_job_settings(config, target, as_start=False):
    """What the training job of `target` reads (train_target's `settings`); as the rule's params, a
    change to any of them re-runs the job, and no other setting does.

    The strategy's own stage comes with its epochs resolved (Strategy.stage), under the strategy's
    name; the settings it ignores (Strategy.ignores_*) are left out; a strategy with a random base
    gets weights none; `augmentation` is the strategy's own (training.<section>.augmentation) where it
    has one. `as_start`: the run another strategy continues from (equal_budget). A tuning point's
    settings hold its values where the config has lists (mribench.tuning).
    """
    config = tuning.resolve(config, target)
    strategy = strategies.get_strategy(target.strategy)
    stage_sections = strategies.settings_sections()
    training = {
        key: value
        for key, value in config["training"].items()
        if key not in stage_sections and key not in strategy.ignores_training
    }
    model = {
        key: value
        for key, value in config["model_settings"][target.model].items()
        if key not in strategy.ignores_model
    }
    if strategy.random_base:
        model["weights"] = "none"
    stage = strategy.stage_settings(config["training"], as_start)
    return {
        "classes": config["dataset"]["classes"],
        "image_size": config["image_size"],
        "augmentation": stage.get("augmentation", config["augmentation"]),
        "preprocessing": config["preprocessing"],
        "training": training
        | {strategy.name: {key: value for key, value in stage.items() if key != "augmentation"}},
        "model": model,
    }


def baseline_job_settings(config, kind):
    """Exactly what a baseline job of `kind` reads: the classes, and the image size the histogram is
    taken at and whether the images are matched (preprocessing.intensity)."""
    settings = {"classes": config["dataset"]["classes"]}
    if kind == "intensity_histogram":
        settings["image_size"] = config["image_size"]
        settings["intensity"] = config["preprocessing"]["intensity"]
    return settings
