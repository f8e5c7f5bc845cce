"""The transfer-learning strategies mribench compares, each declared once.

A strategy says what its training job starts from, which settings it reads, how it builds (or loads)
its model, and how the report names and draws it. The workflow (rules/common.smk), config validation,
training, statistics, plots, templates and model cards all read it from here.

Adding a strategy is one `register(Strategy(...))` call with its build function: here, or in a Python
file of your own listed under `plugins:` in the config (README, "Adding a strategy"). The registry
imports no Keras, so the workflow can validate a config without TensorFlow; build functions import
what they need when a training job calls them.
"""

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def own_stage(strategy, training, as_start):
    """The strategy's section of `training` as it is (see Strategy.stage)."""
    return dict(training[strategy.section])


@dataclass(frozen=True)
class Strategy:
    name: str  # in `strategies:` and in target names: <model>_<name>
    label: str  # in sentences: "fine-tuning beats feature extraction"
    marker: str  # its matplotlib marker in the report's cost/accuracy figure
    # build(job, data, gpus) -> (model, where augmentation runs: a key of training.AUGMENTATION_PLACES).
    # `job` is a training.TrainingJob (target, settings, weights file, start run), `data` the decoded
    # train and val images, `gpus` the GPUs in use.
    build: Callable
    # The model card's words for how its base runs under the head.
    base_mode: str
    # The training.<section> of the config it reads its epochs and learning rate from (default: its name).
    section: str = None
    # stage(strategy, training, as_start) -> the settings of the one stage its job trains, epochs
    # resolved; as_start: the run another strategy continues from rather than the target itself.
    stage: Callable = own_stage
    # The strategy whose trained run it continues (fine-tuning: feature extraction); None: a new model.
    continues: str = None
    # Its base starts from random weights whatever model_settings.<model>.weights says.
    random_base: bool = False
    # Settings it never reads, so that changing one does not retrain it: keys of `training` and of
    # `model_settings.<model>`. Any other key reaches it: a key added later re-runs too much, never
    # too little.
    ignores_training: frozenset = field(default_factory=frozenset)
    ignores_model: frozenset = field(default_factory=frozenset)

    def __post_init__(self):
        if self.section is None:
            object.__setattr__(self, "section", self.name)

    def stage_settings(self, training, as_start=False):
        return self.stage(self, training, as_start)


class StrategyError(ValueError):
    pass


# In the order in which a comparison names two strategies: the more adapted one first.
STRATEGIES = {}


def register(strategy):
    """Add a strategy; its name must be new and usable in a target name (letters, digits, underscores)."""
    if strategy.name in STRATEGIES:
        raise StrategyError(f"a strategy named {strategy.name!r} is registered already")
    if not strategy.name.replace("_", "").isalnum() or not strategy.name.islower():
        raise StrategyError(
            f"strategy name {strategy.name!r}: use lower-case letters, digits and underscores"
        )
    STRATEGIES[strategy.name] = strategy
    return strategy


def get_strategy(name):
    try:
        return STRATEGIES[name]
    except KeyError:
        raise StrategyError(
            f"unknown strategy {name!r}; known strategies: {', '.join(STRATEGIES)} (add one with "
            "mribench.strategies.register, in a file listed under `plugins:`)"
        ) from None


def settings_sections():
    """The sections of `training` that hold one strategy's stage, not settings every strategy shares."""
    return {strategy.section for strategy in STRATEGIES.values()}


def epoch_budget(training, name):
    """The most epochs a target of strategy `name` trains in all its stages (EarlyStopping may stop
    it sooner): its own stage's, plus those of the run it continues from."""
    strategy = get_strategy(name)
    epochs = strategy.stage_settings(training)["epochs"]
    if strategy.continues:
        epochs += get_strategy(strategy.continues).stage_settings(training, as_start=True)["epochs"]
    return epochs


def load_plugins(paths):
    """Import the Python files listed under `plugins:` (each registers strategies or bases when
    imported), once per process, so the workflow and every job know the same strategies."""
    for path in map(Path, paths):
        module_name = f"mribench_plugin_{path.stem}"
        if module_name in sys.modules:
            continue
        if not path.is_file():
            raise StrategyError(f"config key `plugins`: {str(path)!r} is not a file; give a Python file")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)


# The study's two strategies and the from-scratch control. Their build functions are in
# mribench.training (imported when called: it imports Keras).


def feature_extraction_stage(strategy, training, as_start):
    """`training.feature_extraction.equal_budget` gives the target as many epochs as the fine-tuned
    target trains in all; the run fine-tuning starts from (`as_start`) keeps its own epochs."""
    extraction = training["feature_extraction"]
    stage = {key: value for key, value in extraction.items() if key != "equal_budget"}
    if extraction["equal_budget"] and not as_start:
        stage["epochs"] = extraction["epochs"] + training["fine_tuning"]["epochs"]
    return stage


def from_scratch_stage(strategy, training, as_start):
    """`training.from_scratch.epochs: null` means feature extraction's + fine-tuning's epochs."""
    scratch = training["from_scratch"]
    both = training["feature_extraction"]["epochs"] + training["fine_tuning"]["epochs"]
    return scratch | {"epochs": scratch["epochs"] or both}


def build_feature_extraction(job, data, gpus):
    from mribench.training import new_model

    return new_model(job, data, gpus, from_scratch=False)


def build_fine_tuning(job, data, gpus):
    from mribench.training import continued_model

    return continued_model(job)


def build_from_scratch(job, data, gpus):
    from mribench.training import new_model

    return new_model(job, data, gpus, from_scratch=True)


register(
    Strategy(
        "fine_tuning",
        label="fine-tuning",
        marker="o",
        build=build_fine_tuning,
        base_mode="inference mode",
        continues="feature_extraction",
        # the feature-extraction model it continues already holds the head and the augmentation layer
        ignores_training=frozenset({"dense_units", "dropout", "augment_on"}),
    )
)
register(
    Strategy(
        "feature_extraction",
        label="feature extraction",
        marker="s",
        build=build_feature_extraction,
        base_mode="inference mode",
        stage=feature_extraction_stage,
        ignores_model=frozenset({"unfreeze_layers"}),
    )
)
register(
    Strategy(
        "from_scratch",
        label="training from scratch",
        marker="^",
        build=build_from_scratch,
        base_mode="training mode, every layer trained from random initialisation (from scratch)",
        stage=from_scratch_stage,
        random_base=True,
        # random weights and nothing to unfreeze
        ignores_model=frozenset({"weights", "unfreeze_layers"}),
    )
)
