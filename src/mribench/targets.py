"""A target: one model trained with one strategy from one seed, the unit every job, file and table row
is about. Its name and run folder are spelled here only; rules use the same patterns as wildcards.

Names parse unambiguously because model (and baseline) names are letters and digits only
(`config.validate_config`, `registry.register_base`), so the first underscore ends the model.
"""

import re
from dataclasses import dataclass, replace
from typing import NamedTuple

# A target's name, and the wildcard pattern of every rule about one target.
NAME = "{model}_{strategy}"
RUN_DIR = f"results/runs/{NAME}/seed{{seed}}"
# The shortcut baselines are targets of this "model", their kind as the strategy.
BASELINE_MODEL = "baseline"
BASELINE_RUN_DIR = RUN_DIR.format(model=BASELINE_MODEL, strategy="{baseline}", seed="{seed}")
# Log and benchmark files of a target's jobs.
JOB_NAME = f"{NAME}_seed{{seed}}"
MODEL_NAME = re.compile(r"^[a-z0-9]+$")
# A cross-validation fold's run folder inside its target's, and the suffix of its job names.
FOLD = "r{repeat}f{fold}"
FOLD_RUN_DIR = f"{RUN_DIR}/folds/{FOLD}"
FOLD_BASELINE_RUN_DIR = f"{BASELINE_RUN_DIR}/folds/{FOLD}"
FOLD_JOB_NAME = f"{JOB_NAME}_{FOLD}"
# The fold ensemble's results (the mean of the fold models' probabilities) inside the target's run folder.
ENSEMBLE_DIR = f"{RUN_DIR}/folds/ensemble"


class Fold(NamedTuple):
    """One fold of one repeat of cross-validation (mribench.folds)."""

    repeat: int
    fold: int

    @property
    def name(self):
        return FOLD.format(repeat=self.repeat, fold=self.fold)


# A tuning point's run folder inside its target's, and the {point} wildcard (TuningPoint.id).
POINT_RUN_DIR = "tuning/{point}"
POINT_PATTERN = r"[a-z_]+-[0-9.e+-]+(?:_[a-z_]+-[0-9.e+-]+)*"


@dataclass(frozen=True, order=True)
class TuningPoint:
    """One combination of a target's grid: (tunable name, value) pairs in TUNABLE's order. Its id is
    built from the values, so that adding a value to a list never renames an existing point."""

    values: tuple

    @property
    def id(self):
        return "_".join(f"{name}-{value!r}" for name, value in self.values)

    @classmethod
    def parse(cls, point_id):
        """The point of an id (`id`'s inverse); names hold underscores, values none."""
        pairs = re.findall(r"([a-z_]+?)-([^_]+)(?:_|$)", point_id)
        point = cls(tuple((name, _number(value)) for name, value in pairs))
        if point.id != point_id:
            raise ValueError(f"{point_id!r} is not a tuning point id")
        return point

    def as_dict(self):
        return dict(self.values)


def _number(text):
    return int(text) if text.lstrip("-").isdigit() else float(text)


@dataclass(frozen=True, order=True)
class Target:
    """`point`: one point of the target's tuning grid (mribench.tuning), a target of its own with a run
    folder inside the target's; None: the target itself."""

    model: str
    strategy: str
    seed: int
    # None: the target itself; a TuningPoint: one point of its tuning grid (mribench.tuning), a target
    # of its own with a run folder inside the target's (inside its fold's, for a fold's point).
    point: TuningPoint = None
    # None: trained on the study's single split; a Fold: trained on that fold's training part.
    fold: Fold | None = None

    @classmethod
    def from_wildcards(cls, wildcards):
        """The target of a job from its {model}, {strategy} and {seed} wildcards, {point} if any, and
        {repeat} and {fold} for a fold's job."""
        point = TuningPoint.parse(wildcards.point) if "point" in wildcards.keys() else None
        fold = Fold(int(wildcards.repeat), int(wildcards.fold)) if "fold" in wildcards.keys() else None
        return cls(wildcards.model, wildcards.strategy, int(wildcards.seed), point, fold)

    @classmethod
    def named(cls, name, seed):
        """The target of a name (NAME, as exclude_targets lists it) and a seed (None: any)."""
        model, strategy = name.split("_", 1)
        return cls(model, strategy, seed)

    def at(self, point):
        """This target's tuning point `point` (on the same fold)."""
        return replace(self, point=point)

    @property
    def chosen_from(self):
        """The target a tuning point belongs to (the target itself when it is none), on the same fold."""
        return replace(self, point=None)

    def with_fold(self, fold):
        """The same target trained on `fold` (None: on the single split)."""
        return replace(self, fold=fold)

    @property
    def name(self):
        return NAME.format(model=self.model, strategy=self.strategy)

    @property
    def run_dir(self):
        pattern = RUN_DIR if self.fold is None else FOLD_RUN_DIR
        run_dir = pattern.format(model=self.model, strategy=self.strategy, seed=self.seed, **self._fold)
        return run_dir if self.point is None else f"{run_dir}/{POINT_RUN_DIR.format(point=self.point.id)}"

    @property
    def job_name(self):
        pattern = JOB_NAME if self.fold is None else FOLD_JOB_NAME
        job_name = pattern.format(model=self.model, strategy=self.strategy, seed=self.seed, **self._fold)
        return job_name if self.point is None else f"{job_name}_{self.point.id}"

    @property
    def ensemble_dir(self):
        """Where the fold ensemble of this target writes its results."""
        return ENSEMBLE_DIR.format(model=self.model, strategy=self.strategy, seed=self.seed)

    @property
    def _fold(self):
        return self.fold._asdict() if self.fold else {}

    @property
    def is_baseline(self):
        return self.model == BASELINE_MODEL

    def as_metadata(self):
        """The fields model.keras' metadata records, to check a model file against its run."""
        metadata = {"model": self.model, "strategy": self.strategy, "seed": self.seed}
        return metadata | ({"fold": self.fold.name} if self.fold else {})


def every_target(config):
    """model x strategy x seed, in the config's order, less the targets named in `exclude_targets`."""
    excluded = set(config["exclude_targets"])
    return [
        Target(model, strategy, seed)
        for model in config["models"]
        for strategy in config["strategies"]
        if NAME.format(model=model, strategy=strategy) not in excluded
        for seed in config["seeds"]
    ]


def baselines(kinds, seeds):
    """The shortcut baselines, once per seed."""
    return [Target(BASELINE_MODEL, kind, seed) for kind in kinds for seed in seeds]


def folds(n_folds, repeats):
    """Every fold of every repeat, repeat by repeat: the order of each target's fold scores."""
    return [Fold(repeat, fold) for repeat in range(repeats) for fold in range(n_folds)]
