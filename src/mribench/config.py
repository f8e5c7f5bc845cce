"""Config validation that runs when Snakemake parses the workflow, before any job starts.

The JSON schema catches wrong types, ranges and mistyped keys; the checks below catch what a
schema cannot know: which models the registry has and which files exist.
"""

import difflib
import zipfile
from pathlib import Path

import jsonschema
import yaml

from mribench import registry


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
    problems = [
        f"config key `{_key(error.absolute_path)}`: {error.message}"
        + _did_you_mean(error)
        + _whole_number(error)
        for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if not problems:
        problems = _semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


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


def _semantic_problems(config):
    problems = []
    for name in config["models"]:
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
        if "fine_tuning" in config["strategies"] and settings["unfreeze_layers"] > n_layers:
            problems.append(
                f"config key `model_settings.{name}.unfreeze_layers`: {settings['unfreeze_layers']} "
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
    return problems


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


TRAINING_STRATEGIES = ("feature_extraction", "fine_tuning", "from_scratch")


def stage_settings(training, strategy, fine_tuning_start=False):
    """The settings of the one stage a training job of `strategy` runs, its epochs resolved.

    `training.feature_extraction.equal_budget: true` gives the feature-extraction target as many
    epochs as the fine-tuned target trains in all (feature extraction + fine-tuning); the
    feature-extraction stage that fine-tuning starts from (`fine_tuning_start`) keeps its own epochs.
    `training.from_scratch.epochs: null` means that same sum.
    """
    extraction, fine_tuning = training["feature_extraction"], training["fine_tuning"]
    both = extraction["epochs"] + fine_tuning["epochs"]
    if strategy == "feature_extraction":
        stage = {key: value for key, value in extraction.items() if key != "equal_budget"}
        if extraction["equal_budget"] and not fine_tuning_start:
            stage["epochs"] = both
        return stage
    if strategy == "from_scratch":
        scratch = training["from_scratch"]
        return scratch | {"epochs": scratch["epochs"] or both}
    return dict(fine_tuning)


def epoch_budget(training, strategy):
    """The most epochs a target of `strategy` trains in all its stages (EarlyStopping may stop it sooner)."""
    if strategy == "fine_tuning":
        start = stage_settings(training, "feature_extraction", fine_tuning_start=True)
        return start["epochs"] + training["fine_tuning"]["epochs"]
    return stage_settings(training, strategy)["epochs"]
