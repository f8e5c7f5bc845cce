"""Tuning grids (mribench.tuning): points, their ids, their settings, the selection, and the config
refusals; the tiny workflow runs a grid end to end (tests/test_workflow.py)."""

import copy
import json

import pandas as pd
import pytest
import yaml
from conftest import REPO

from mribench import tuning
from mribench.config import ConfigError, training_job_settings, validate_config
from mribench.records import collect_runs
from mribench.targets import Target, TuningPoint, every_target

SCHEMA = REPO / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
FE, FT = Target("vgg16", "feature_extraction", 42), Target("vgg16", "fine_tuning", 42)


def config_with(**changes):
    """config.yaml with `changes`, given as dotted key -> value."""
    config = copy.deepcopy(DEFAULT)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        section = tuning.value_at(config, ".".join(parents)) if parents else config
        section[last] = value
    return config


GRID = config_with(
    **{
        "training.feature_extraction.learning_rate": [1.0e-3, 3.0e-4],
        "training.dropout": [0.5, 0.2],
        "model_settings.vgg16.unfreeze_layers": [4, 8],
    }
)


def test_a_target_has_a_point_for_every_combination_of_the_lists_it_reads():
    assert tuning.grid(GRID, FE) == {"learning_rate": [1.0e-3, 3.0e-4], "dropout": [0.5, 0.2]}
    assert [p.point.id for p in tuning.points(GRID, FE)] == [
        "learning_rate-0.001_dropout-0.5",
        "learning_rate-0.001_dropout-0.2",
        "learning_rate-0.0003_dropout-0.5",
        "learning_rate-0.0003_dropout-0.2",
    ]
    # fine-tuning reads its own learning rate (a single value) and unfreeze_layers, not the head's dropout
    assert [p.point.id for p in tuning.points(GRID, FT)] == ["unfreeze_layers-4", "unfreeze_layers-8"]
    assert tuning.points(DEFAULT, FE) == []
    assert tuning.points(GRID, Target("resnet50v2", "fine_tuning", 42)) == []


def test_point_ids_come_from_the_values_and_parse_back():
    wider = config_with(**{"training.feature_extraction.learning_rate": [1.0e-3, 3.0e-4, 1.0e-5]})
    narrow = config_with(**{"training.feature_extraction.learning_rate": [1.0e-3, 3.0e-4]})
    ids = [p.point.id for p in tuning.points(wider, FE)]
    assert ids[:2] == [p.point.id for p in tuning.points(narrow, FE)]  # a new value renames nothing
    assert ids[2] == "learning_rate-1e-05"
    for point_id in ids + ["learning_rate-0.001_dropout-0.5_unfreeze_layers-30"]:
        assert TuningPoint.parse(point_id).id == point_id
    assert TuningPoint.parse("unfreeze_layers-30").as_dict() == {"unfreeze_layers": 30}
    for bad in ("learning_rate-0.001_", "nothing", "learning_rate-1.0e-3"):
        with pytest.raises(ValueError, match="not a tuning point id"):
            TuningPoint.parse(bad)


def test_a_point_trains_with_its_values_and_lives_inside_its_target():
    point = tuning.points(GRID, FE)[2]
    single = config_with(**{"training.feature_extraction.learning_rate": 3.0e-4, "training.dropout": 0.5})
    assert training_job_settings(GRID, point) == training_job_settings(single, FE)
    assert point.run_dir == f"{FE.run_dir}/tuning/learning_rate-0.0003_dropout-0.5"
    assert point.job_name == f"{FE.job_name}_learning_rate-0.0003_dropout-0.5"
    assert point.as_metadata() == FE.as_metadata() and point.chosen_from == FE
    assert GRID["training"]["dropout"] == [0.5, 0.2]  # resolving copies, the config stays as given


def record(point_id, val_loss, val_accuracy):
    return {"id": point_id, "val_loss": val_loss, "val_accuracy": val_accuracy}


def test_selection_takes_the_best_validation_score_and_breaks_ties_in_a_documented_order():
    records = [record("a", 0.9, 0.6), record("b", 0.7, 0.5), record("c", 0.8, 0.7)]
    assert tuning.select(records, "val_loss") == "b"
    assert tuning.select(records, "val_accuracy") == "c"
    # ties: the better other score, then the point listed first
    tied = [record("a", 0.7, 0.5), record("b", 0.7, 0.6), record("c", 0.7, 0.6)]
    assert tuning.select(tied, "val_loss") == "b"
    tied = [record("a", 0.9, 0.6), record("b", 0.8, 0.6), record("c", 0.8, 0.6)]
    assert tuning.select(tied, "val_accuracy") == "b"


def test_selection_reads_only_the_points_validation_records(tmp_path):
    """write_selection gets the points' train.json and history.csv and nothing else: no split, no
    predictions, so no test label can reach the pick."""
    points = tuning.points(config_with(**{"training.feature_extraction.learning_rate": [1e-3, 3e-3]}), FE)
    trains, histories = [], []
    for point, (loss, accuracy) in zip(points, [(0.9, 0.5), (0.6, 0.4)], strict=True):
        folder = tmp_path / point.point.id
        folder.mkdir()
        stage = {"stage": "feature_extraction", "val_loss": loss, "val_accuracy": accuracy}
        (folder / "train.json").write_text(json.dumps({"stages": [stage]}))
        pd.DataFrame(
            {"stage": ["feature_extraction"], "epoch": [1], "val_loss": [loss], "val_accuracy": [accuracy]}
        ).to_csv(folder / "history.csv", index=False)
        trains.append(folder / "train.json")
        histories.append(folder / "history.csv")
    ids = [point.point.id for point in points]
    for select_on, pick in (("val_loss", ids[1]), ("val_accuracy", ids[0])):
        tuning.write_selection(ids, trains, histories, select_on, tmp_path / "selection.json")
        selection = json.loads((tmp_path / "selection.json").read_text())
        assert selection["pick"] == pick and selection["select_on"] == select_on
        assert selection["points"][0]["values"] == {"learning_rate": 1e-3}
        assert selection["points"][1]["history"]["val_loss"] == [0.6]


def refusal(config):
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    return str(error.value)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"training.batch_size": [8, 16]}, "`training.batch_size`: a list where a single value is needed"),
        ({"model_settings.vgg16.weights": ["none"]}, "`model_settings.vgg16.weights`: a list where a single"),
        ({"training.dropout": []}, "`training.dropout`: an empty list"),
        (
            {"training.fine_tuning.learning_rate": [1e-3, 1e-3]},
            "`training.fine_tuning.learning_rate`: [0.001",
        ),
        ({"training.dropout": [0.5, 1.5]}, "`training.dropout.1`"),
        (
            {"training.from_scratch.learning_rate": [1e-3, 3e-3]},
            "`training.from_scratch.learning_rate`: a list (a tuning grid) that no configured target reads",
        ),
        (
            {"strategies": ["feature_extraction"], "model_settings.vgg16.unfreeze_layers": [4, 8]},
            "`model_settings.vgg16.unfreeze_layers`: a list (a tuning grid) that no configured target reads",
        ),
        (
            {"model_settings.efficientnetb0.unfreeze_layers": [4, 8]},
            "`model_settings.efficientnetb0.unfreeze_layers`: a list (a tuning grid) that no configured",
        ),
        (
            {"training.feature_extraction.equal_budget": True, "training.dropout": [0.5, 0.2]},
            "`training.feature_extraction.equal_budget`: true cannot be combined with a grid",
        ),
        (
            {
                "strategies": ["feature_extraction", "from_scratch"],
                "exclude_targets": [
                    "vgg16_from_scratch",
                    "resnet50v2_from_scratch",
                    "mobilenetv2_from_scratch",
                ],
                "training.from_scratch.learning_rate": [1e-3, 3e-3],
            },
            "`training.from_scratch.learning_rate`: a list (a tuning grid) that no configured target reads",
        ),
        ({"model_settings.vgg16.unfreeze_layers": [4, 99]}, "exceeds the 19 layers"),
        ({"tuning.select_on": "test_accuracy"}, "`tuning.select_on`: 'test_accuracy' is not one of"),
    ],
)
def test_a_bad_grid_is_refused_naming_its_key(changes, expected):
    assert expected in refusal(config_with(**changes))


def test_the_grids_fine_tuning_continues_are_read():
    """A fine-tuning-only study still trains the feature-extraction runs it starts from: their grid counts."""
    validate_config(
        config_with(
            strategies=["fine_tuning"], **{"training.feature_extraction.learning_rate": [1e-3, 3e-4]}
        ),
        SCHEMA,
    )


def test_an_excluded_target_is_still_trained_where_a_configured_one_continues_from_it():
    """exclude_targets leaves vgg16's feature extraction unscored, not untrained: fine-tuning starts
    from it, so its grid is read; resnet50v2's fine-tuning, left out, starts nothing."""
    config = config_with(
        exclude_targets=["vgg16_feature_extraction", "resnet50v2_fine_tuning"],
        **{"training.feature_extraction.learning_rate": [1e-3, 3e-4]},
    )
    validate_config(config, SCHEMA)
    assert FE not in every_target(config) and FT in every_target(config)
    assert Target("resnet50v2", "fine_tuning", 42) not in every_target(config)
    assert set(tuning.trained_targets(config)) == set(every_target(config)) | {FE}


def test_a_tuned_targets_record_is_its_chosen_points_and_a_stale_selection_is_not_read(tmp_path):
    run = tmp_path / FE.run_dir
    picked = run / "tuning" / "learning_rate-0.003"
    picked.mkdir(parents=True)
    (picked / "train.json").write_text(json.dumps({"model": "vgg16", "stages": ["the pick's"]}))
    (run / "train.json").write_text(json.dumps({"model": "vgg16", "stages": ["the target's own"]}))
    (run / "metrics.json").write_text("{}")
    (run / "counterfactual").mkdir()
    (run / "counterfactual" / "metrics.json").write_text("{}")
    selection = {"pick": "learning_rate-0.003", "points": [{"id": "learning_rate-0.003", "values": {"x": 1}}]}
    (run / "selection.json").write_text(json.dumps(selection))
    [tuned] = collect_runs([run], selection_jsons=[run / "selection.json"])
    assert tuned.train["stages"] == ["the pick's"] and tuned.chosen_values == {"x": 1}
    assert tuned.run_dir == run  # the target's results stay in its own folder
    # the grid gone from the config, the workflow lists no selection.json: the one left is not read
    [single] = collect_runs([run])
    assert single.train["stages"] == ["the target's own"] and single.chosen_values == {}
