"""Tuning grids: a tunable key given as a list trains every combination of its values (a tuning point)
as a job of its own, and the point with the best validation score becomes the target.

The tunable keys are declared here once (TUNABLE); the config schema lets only them be lists, and
`list_problems` and `grid_problems` refuse lists elsewhere and grids no target reads. A point is a
target of its own (targets.Target with a `point`): its run folder is <target run_dir>/tuning/<point
id>/. Selection reads the points' train.json and history.csv, never a test-set file. Imports no
Keras: the workflow and the selection job use it.
"""

import copy
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from mribench import strategies
from mribench.targets import TuningPoint, every_target


@dataclass(frozen=True)
class Tunable:
    """A key that may be a list: `name` in point ids and tables; `where` how a target's settings hold it
    (stage: its strategy's section of `training`; training: `training`; model: model_settings.<model>)."""

    name: str
    where: str

    def config_key(self, model, strategy):
        """The dotted config key a target of `model` and `strategy` reads it from."""
        return {
            "stage": f"training.{strategy.section}.{self.name}",
            "training": f"training.{self.name}",
            "model": f"model_settings.{model}.{self.name}",
        }[self.where]

    def reads(self, strategy):
        """Whether a target of `strategy` reads this key (not in its ignores_*)."""
        ignored = {"stage": (), "training": strategy.ignores_training, "model": strategy.ignores_model}
        return self.name not in ignored[self.where]


TUNABLE = (
    Tunable("learning_rate", "stage"),
    Tunable("dropout", "training"),
    Tunable("unfreeze_layers", "model"),
)


def value_at(config, key):
    for part in key.split("."):
        config = config[part]
    return config


def _set(config, key, value):
    *sections, last = key.split(".")
    for part in sections:
        config = config[part]
    config[last] = value


def read_keys(config, target):
    """Tunable -> the config key `target` reads it from."""
    strategy = strategies.get_strategy(target.strategy)
    return {t: t.config_key(target.model, strategy) for t in TUNABLE if t.reads(strategy)}


def grid(config, target):
    """Tunable name -> the values of each key `target` reads that is a list; empty: no grid."""
    keys = read_keys(config, target)
    return {
        t.name: value_at(config, key) for t, key in keys.items() if isinstance(value_at(config, key), list)
    }


def points(config, target):
    """The tuning points of `target`'s grid, every combination in the lists' order; empty: no grid."""
    values = grid(config, target)
    if not values:
        return []
    return [
        target.at(TuningPoint(tuple(zip(values, combination, strict=True))))
        for combination in itertools.product(*values.values())
    ]


def resolve(config, target):
    """The config as `target`'s point trains it: each list it reads replaced by the point's value (for a
    target without a point, the config itself)."""
    if target.point is None:
        return config
    keys = {t.name: key for t, key in read_keys(config, target).items()}
    resolved = copy.deepcopy({section: config[section] for section in ("training", "model_settings")})
    for name, value in target.point.values:
        _set(resolved, keys[name], value)
    return config | resolved


def point_record(point, train_json, history_csv):
    """A point's validation record: the kept epoch's val_loss and val_accuracy (train.json's last stage)
    and its curves (history.csv's last stage)."""
    stage = json.loads(Path(train_json).read_text())["stages"][-1]
    history = pd.read_csv(history_csv)
    history = history[history.stage == stage["stage"]]
    return {
        "id": point.id,
        "values": point.as_dict(),
        "val_loss": stage["val_loss"],
        "val_accuracy": stage["val_accuracy"],
        "history": history.drop(columns="stage").to_dict(orient="list"),
    }


def select(records, select_on):
    """The id of the best record: the lowest val_loss or the highest val_accuracy (`select_on`). Ties go
    to the better score of the other one, then to the point listed first (the grid's order)."""

    def rank(item):
        order, record = item
        loss, accuracy = record["val_loss"], -record["val_accuracy"]
        return (loss, accuracy, order) if select_on == "val_loss" else (accuracy, loss, order)

    return min(enumerate(records), key=rank)[1]["id"]


def write_selection(point_ids, train_jsons, history_csvs, select_on, out_json):
    """selection.json: every point's validation record, the pick and what it was picked on."""
    records = [
        point_record(TuningPoint.parse(point_id), train, history)
        for point_id, train, history in zip(point_ids, train_jsons, history_csvs, strict=True)
    ]
    selection = {"select_on": select_on, "points": records, "pick": select(records, select_on)}
    Path(out_json).write_text(json.dumps(selection, indent=2) + "\n")


def read_pick(selection_json):
    """The id of the point a selection.json picked."""
    return json.loads(Path(selection_json).read_text())["pick"]


def tunable_keys(models):
    """Every config key that may be a list (a grid) for `models`: each strategy section's learning
    rate, the head's dropout, each model's unfreeze_layers."""
    return {
        tunable.config_key(model, strategy)
        for tunable in TUNABLE
        for strategy in strategies.STRATEGIES.values()
        for model in models
    }


def _leaves(section, prefix):
    for key, value in section.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def as_list(value):
    """A key's values: the list of a grid, or the single value."""
    return value if isinstance(value, list) else [value]


def list_problems(config):
    """Key -> problem, for lists in `training` and `model_settings` where a single value is needed, and
    empty lists and repeated values in a grid."""
    allowed = tunable_keys(config.get("model_settings", {}))
    lists = {
        key: value
        for section in ("training", "model_settings")
        for key, value in _leaves(config.get(section, {}), f"{section}.")
        if isinstance(value, list)
    }
    problems = {}
    for key, value in lists.items():
        if key not in allowed:
            problems[key] = (
                f"config key `{key}`: a list where a single value is needed; only these keys may be lists "
                "(tuning grids): each strategy's learning_rate, training.dropout, "
                "model_settings.<model>.unfreeze_layers"
            )
        elif not value:
            problems[key] = f"config key `{key}`: an empty list; give one value, or several to select from"
    return problems


def trained_targets(config):
    """Every target a config trains, on its first seed: its targets and the runs its continuing
    strategies start from (unknown strategies left out: validation names them)."""
    known = [
        target
        for target in every_target(config)
        if target.strategy in strategies.STRATEGIES and target.seed == config["seeds"][0]
    ]
    starts = [
        replace(target, strategy=continued)
        for target in known
        if (continued := strategies.get_strategy(target.strategy).continues)
    ]
    return list(dict.fromkeys(known + starts))


def grid_problems(config):
    """Grid keys no trained target reads, and grids the equal-budget start run cannot follow."""
    read = {key for target in trained_targets(config) for key in read_keys(config, target).values()}
    problems = [
        f"config key `{key}`: a list (a tuning grid) that no configured target reads (see `strategies` "
        "and `models`); give a single value"
        for key in sorted(tunable_keys(config["model_settings"]))
        if isinstance(value_at(config, key), list) and key not in read
    ]
    extraction = [
        t for t in trained_targets(config) if t.strategy == "feature_extraction" and grid(config, t)
    ]
    if extraction and config["training"]["feature_extraction"]["equal_budget"]:
        problems.append(
            "config key `training.feature_extraction.equal_budget`: true cannot be combined with a grid of "
            "feature extraction's keys (fine-tuning's start run would need one of its own); set it false "
            "or give single values"
        )
    return problems
