"""A target: one model trained with one strategy from one seed, the unit every job, file and table row
is about. Its name and run folder are spelled here only; rules use the same patterns as wildcards.

Names parse unambiguously because model (and baseline) names are letters and digits only
(`config.validate_config`, `registry.register_base`), so the first underscore ends the model.
"""

import re
from dataclasses import dataclass

# A target's name, and the wildcard pattern of every rule about one target.
NAME = "{model}_{strategy}"
RUN_DIR = f"results/runs/{NAME}/seed{{seed}}"
# The shortcut baselines are targets of this "model", their kind as the strategy.
BASELINE_MODEL = "baseline"
BASELINE_RUN_DIR = RUN_DIR.format(model=BASELINE_MODEL, strategy="{baseline}", seed="{seed}")
# Log and benchmark files of a target's jobs.
JOB_NAME = f"{NAME}_seed{{seed}}"
MODEL_NAME = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True, order=True)
class Target:
    model: str
    strategy: str
    seed: int

    @classmethod
    def from_wildcards(cls, wildcards):
        """The target of a job from its {model}, {strategy} and {seed} wildcards."""
        return cls(wildcards.model, wildcards.strategy, int(wildcards.seed))

    @property
    def name(self):
        return NAME.format(model=self.model, strategy=self.strategy)

    @property
    def run_dir(self):
        return RUN_DIR.format(model=self.model, strategy=self.strategy, seed=self.seed)

    @property
    def job_name(self):
        return JOB_NAME.format(model=self.model, strategy=self.strategy, seed=self.seed)

    @property
    def is_baseline(self):
        return self.model == BASELINE_MODEL

    def as_metadata(self):
        """The fields model.keras' metadata records, to check a model file against its run."""
        return {"model": self.model, "strategy": self.strategy, "seed": self.seed}


def every_target(models, strategies, seeds):
    """model x strategy x seed, in the config's order."""
    return [Target(model, strategy, seed) for model in models for strategy in strategies for seed in seeds]


def baselines(kinds, seeds):
    """The shortcut baselines, once per seed."""
    return [Target(BASELINE_MODEL, kind, seed) for kind in kinds for seed in seeds]
