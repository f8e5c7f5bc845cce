"""The runs' records: what each run folder's train.json, metrics.json and external metrics.json hold,
read once, for summary.csv, the report and the model cards to share.

A run's target is a targets.Target; how the report names strategies and targets is `strategy_label`
and `target_label`, from the strategy registry."""

import json
from dataclasses import dataclass, field
from pathlib import Path

from mribench.strategies import STRATEGIES
from mribench.targets import BASELINE_MODEL, POINT_RUN_DIR, Target


@dataclass(frozen=True)
class RunRecord:
    """One run (a target or a shortcut baseline, one seed): its folder and the JSON files it wrote.

    `external` maps each external test set's name to the run's metrics.json on it; empty for the
    shortcut baselines, which score the internal test set only. `selection`: a target with a tuning
    grid's selection.json (mribench.tuning), whose chosen point's train.json is `train`; else None.
    `counterfactual` is the run's metrics.json on the counterfactual view of the internal test set
    (mribench.intensity) and `external_counterfactual` its metrics.json on that view of each external set."""

    run_dir: Path
    train: dict
    metrics: dict
    external: dict = field(default_factory=dict)
    selection: dict = None

    @property
    def chosen_values(self):
        """The tuned keys' values of the chosen point ({} for a target without a grid)."""
        if self.selection is None:
            return {}
        (chosen,) = [point for point in self.selection["points"] if point["id"] == self.selection["pick"]]
        return chosen["values"]

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


def load_record(train_json, metrics_json, external_jsons=None, selection_json=None, counterfactual_json=None):
    """The record of the run whose train.json and metrics.json are given (train.json: the chosen point's,
    for a target with a tuning grid, whose `selection_json` is given); `external_jsons` maps an
    external test set's name to the run's metrics.json on it; `counterfactual_json` is its metrics.json
    on the counterfactual view of the internal test set."""
    return RunRecord(
        run_dir=Path(metrics_json).parent,
        train=read_json(train_json),
        metrics=read_json(metrics_json),
        external={name: read_json(path) for name, path in (external_jsons or {}).items()},
        selection=read_json(selection_json) if selection_json else None,
        counterfactual=read_json(counterfactual_json) if counterfactual_json else {},
    )


def read_run(run_dir, external_names=(), selection_json=None):
    """The record of one run folder, with the target's metrics on every named external test set; for a
    target with a tuning grid, its `selection_json` says whose train.json is the target's."""
    run_dir = Path(run_dir)
    selection = read_json(selection_json) if selection_json else None
    trained = run_dir if selection is None else run_dir / POINT_RUN_DIR.format(point=selection["pick"])
    train = read_json(trained / "train.json")
    names = () if train["model"] == BASELINE_MODEL else external_names
    return RunRecord(
        run_dir=run_dir,
        train=train,
        metrics=read_json(run_dir / "metrics.json"),
        external={name: read_json(run_dir / "external" / name / "metrics.json") for name in names},
        selection=selection,
        counterfactual=read_json(run_dir / "counterfactual" / "metrics.json"),
        external_counterfactual={
            name: read_json(run_dir / "external" / name / "counterfactual" / "metrics.json") for name in names
        },
    )


def collect_runs(run_dirs, external_names=(), selection_jsons=()):
    """The records of every run folder, in the order given; `selection_jsons`: the selection.json of
    every target with a tuning grid (in its run folder), as the workflow lists them (a selection.json
    left from an earlier config's grid is not read)."""
    selections = {Path(path).parent: path for path in selection_jsons}
    return [read_run(run_dir, external_names, selections.get(Path(run_dir))) for run_dir in run_dirs]


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
