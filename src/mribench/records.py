"""The runs' records: what each run folder's train.json, metrics.json and external metrics.json hold,
read once, for summary.csv, the report and the model cards to share.

A run's target is a targets.Target; how the report names strategies and targets is `strategy_label`
and `target_label`, from the strategy registry."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from mribench.strategies import STRATEGIES
from mribench.targets import BASELINE_MODEL, Target


@dataclass(frozen=True)
class RunRecord:
    """One run (a target or a shortcut baseline, one seed): its folder and the JSON files it wrote.

    `external` maps each external test set's name to the run's metrics.json on it; empty for the
    shortcut baselines, which score the internal test set only. `counterfactual` is the run's
    metrics.json on the counterfactual view of the internal test set (mribench.intensity) and
    `external_counterfactual` its metrics.json on that view of each external set."""

    run_dir: Path
    train: dict
    metrics: dict
    external: dict = field(default_factory=dict)
    counterfactual: dict = field(default_factory=dict)
    external_counterfactual: dict = field(default_factory=dict)

    @property
    def model(self):
        return self.train["model"]

    @property
    def strategy(self):
        return self.train["strategy"]

    @property
    def seed(self):
        return self.train["seed"]

    @property
    def target(self):
        return Target(self.model, self.strategy, self.seed)

    @property
    def is_baseline(self):
        return self.model == BASELINE_MODEL


def load_record(train_json, metrics_json, external_jsons=None, counterfactual_json=None):
    """The record of the run whose train.json and metrics.json are given; `external_jsons` maps an
    external test set's name to the run's metrics.json on it; `counterfactual_json` is its metrics.json
    on the counterfactual view of the internal test set."""
    return RunRecord(
        run_dir=Path(train_json).parent,
        train=read_json(train_json),
        metrics=read_json(metrics_json),
        external={name: read_json(path) for name, path in (external_jsons or {}).items()},
        counterfactual=read_json(counterfactual_json) if counterfactual_json else {},
    )


def read_run(run_dir, external_names=()):
    """The record of one run folder, with the target's metrics on every named external test set."""
    run_dir = Path(run_dir)
    train = read_json(run_dir / "train.json")
    names = () if train["model"] == BASELINE_MODEL else external_names
    return RunRecord(
        run_dir=run_dir,
        train=train,
        metrics=read_json(run_dir / "metrics.json"),
        external={name: read_json(run_dir / "external" / name / "metrics.json") for name in names},
        counterfactual=read_json(run_dir / "counterfactual" / "metrics.json"),
        external_counterfactual={
            name: read_json(run_dir / "external" / name / "counterfactual" / "metrics.json") for name in names
        },
    )


def collect_runs(run_dirs, external_names=()):
    """The records of every run folder, in the order given."""
    return [read_run(run_dir, external_names) for run_dir in run_dirs]


def read_json(path):
    return json.loads(Path(path).read_text())


def target_label(target):
    """A target as the report's tables show it ("vgg16 fine-tuning")."""
    return f"{target.model} {strategy_label(target.strategy)}"


def target_labels(runs):
    """Target name -> label of every run, for tables of results keyed by name (stats.json)."""
    return {run.target.name: target_label(run.target) for run in runs}


def strategy_label(strategy):
    """A strategy as the report and the model card show it (its registered label, "fine-tuning"), or a
    shortcut baseline's kind ("intensity histogram")."""
    if strategy in STRATEGIES:
        return STRATEGIES[strategy].label
    return strategy.replace("_", " ")
