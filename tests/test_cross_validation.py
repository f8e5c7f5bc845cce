"""Repeated k-fold cross-validation through the real workflow: 2 folds of one base and one strategy
(profiles/tiny/cross-validation.yaml) added to a copy of the session's tiny run, as a user adds folds
to a finished run; its units: tests/test_folds.py. The tiny profile's feature-extraction grid makes it
nested: each fold selects its point on its own inner validation.
TensorFlow only: a fold's jobs are the single split's rules (`use rule train/evaluate/evaluate_external
as ..._fold`) on another split file, which the JAX pass's tiny run trains, scores and explains on JAX;
the fold ensembles and statistics read CSV files. On JAX the folds cost 260 s of CPU (issue 21)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import (
    TINY,
    made_once,
    merged_config,
    planned_jobs,
    read_json,
    run_snakemake,
    write_yaml,
)

from mribench.provenance import file_sha256
from mribench.tuning import read_pick

OVERLAY = TINY.with_name("cross-validation.yaml")
PROFILES = (TINY, OVERLAY)
CONFIG = merged_config(*PROFILES)
(MODEL,), (STRATEGY,), (SEED,) = CONFIG["models"], CONFIG["strategies"], CONFIG["seeds"]
N_POINTS = len(CONFIG["training"][STRATEGY]["learning_rate"])  # the tiny profile's grid, tried on each fold
RUN = f"results/runs/{MODEL}_{STRATEGY}/seed{SEED}"
FOLDS = ["r0f0", "r0f1"]
(EXTERNAL_SET,) = CONFIG["external_test_sets"]


SINGLE_SPLIT_RULES = {
    "obtain_dataset",
    "audit",
    "split_dataset",
    "train",
    "train_point",
    "select",
    "evaluate",
}
RAN = "cross-validation-jobs.json"  # the jobs the fixture's run ran, per rule, in the run folder


@pytest.fixture(scope="module")
def cv_run(tiny_run, tmp_path_factory):
    """The tiny run, copied (its logs are rewritten in place), with the folds added."""

    def add_folds(workdir):
        shutil.copytree(tiny_run, workdir, symlinks=True)
        result = run_snakemake(workdir, configfiles=PROFILES)
        (workdir / RAN).write_text(json.dumps(planned_jobs(result)))

    return made_once(tmp_path_factory, "cv_run", add_folds)


def fold_jobs(plan):
    """The planned jobs that are about folds (every job but the report's and `all`)."""
    return {rule: n for rule, n in plan.items() if rule not in ("report", "all")}


def test_every_fold_trains_on_its_part_and_is_scored_on_its_held_out_fold(cv_run):
    assignment = pd.read_csv(cv_run / "results/data/folds/r0/folds.csv")
    audit = pd.read_csv(cv_run / "results/data/audit.csv")
    assert set(assignment.path) == set(audit.path[(audit.folder == "Training") & (audit.status == "ok")])
    for index, name in enumerate(FOLDS):
        split_csv = cv_run / f"results/data/folds/r0/f{index}.csv"
        split = pd.read_csv(split_csv)
        held_out = set(assignment.path[assignment.fold == index])
        assert set(split.path[split.split == "test"]) == held_out
        run = cv_run / RUN / "folds" / name
        points = sorted((run / "tuning").iterdir())
        assert len(points) == N_POINTS
        for point in points:  # every point trained and validated on this fold's split, never on the fold
            assert read_json(point / "train.json")["split_sha256"] == file_sha256(split_csv)
        assert (run / "tuning" / read_pick(run / "selection.json")).is_dir()
        assert not (run / "model.keras").exists()  # the fold's model is its chosen point's
        assert set(pd.read_csv(run / "predictions.csv").file) == held_out
        testing = pd.read_csv(run / "testing/predictions.csv")
        assert testing.file.str.startswith("Testing/").all()

    ensemble = pd.read_csv(cv_run / RUN / "folds/ensemble/predictions.csv")
    fold_probabilities = [
        pd.read_csv(cv_run / RUN / "folds" / name / "testing/predictions.csv").filter(like="p_")
        for name in FOLDS
    ]
    np.testing.assert_allclose(
        ensemble.filter(like="p_").to_numpy(), np.mean(fold_probabilities, axis=0), atol=2e-6
    )
    external = pd.read_csv(cv_run / RUN / f"folds/ensemble/external/{EXTERNAL_SET}/predictions.csv")
    assert set(external.true) <= set(CONFIG["external_test_sets"][EXTERNAL_SET]["classes"])


def test_the_fold_figures_reach_summary_and_report(cv_run):
    folds = pd.read_csv(cv_run / "results/stats/folds.csv")
    targets = {f"{MODEL}_{STRATEGY}"} | {f"baseline_{kind}" for kind in CONFIG["baselines"]}
    assert set(folds.target) == targets and len(folds) == len(targets) * len(FOLDS)
    summary = pd.read_csv(cv_run / "results/summary.csv")
    target = summary[(summary.model == MODEL) & (summary.strategy == STRATEGY)].iloc[0]
    scores = folds.accuracy[folds.target == f"{MODEL}_{STRATEGY}"]
    assert target.cv_accuracy_mean == pytest.approx(scores.mean(), abs=1e-5)
    assert target.cv_accuracy_sd == pytest.approx(scores.std(ddof=1), abs=1e-5)
    assert [target[f"cv_accuracy_{name}"] for name in FOLDS] == pytest.approx(scores.tolist(), abs=1e-5)
    ensemble = read_json(cv_run / RUN / "folds/ensemble/metrics.json")["test"]
    assert target.ensemble_accuracy == pytest.approx(ensemble["accuracy"], abs=1e-5)
    assert 0 <= target[f"ensemble_external_{EXTERNAL_SET}_accuracy"] <= 1
    tests = pd.read_csv(cv_run / "results/stats/fold_tests.csv")
    assert len(tests) == 2 * 3  # accuracy and macro-F1, three pairs of the three targets of seed 42
    assert tests.p_holm.between(0, 1).all() and (tests.folds == len(FOLDS)).all()
    html = (cv_run / "results/report.html").read_text()
    assert 'id="cross-validation"' in html and "corrected resampled t-test" in html
    assert "fold ensemble" in html and "r0f1" in html


def test_folds_added_to_a_finished_run_leave_its_single_split_as_it_was(cv_run):
    """Adding cross_validation to a finished run trains and scores the folds alone: no job of the single
    split ran again, only the statistics and the report, which read the folds' figures (and the
    overlay's narrower models and strategies)."""
    ran = read_json(cv_run / RAN)
    assert set(ran) & SINGLE_SPLIT_RULES == set(), ran
    assert {"cross_validation_folds", "train_fold_point", "select_fold", "fold_stats", "report"} <= set(ran)


def test_changing_folds_or_repeats_reruns_only_fold_jobs(cv_run, tmp_path):
    three = write_yaml(tmp_path / "three.yaml", {"cross_validation": {"folds": 3, "repeats": 1}})
    plan = planned_jobs(run_snakemake(cv_run, "-n", configfiles=(*PROFILES, three)))
    per_fold = {"select_fold", "evaluate_fold", "evaluate_fold_testing", "evaluate_fold_external"}
    assert fold_jobs(plan) == {rule: 3 for rule in per_fold} | {
        "cross_validation_folds": 1, "train_fold_point": 3 * N_POINTS, "baseline_fold": 6, "fold_ensemble": 1,
        "fold_ensemble_external": 1, "fold_stats": 1,
    }  # fmt: skip
    two_repeats = write_yaml(tmp_path / "repeats.yaml", {"cross_validation": {"folds": 2, "repeats": 2}})
    plan = planned_jobs(run_snakemake(cv_run, "-n", configfiles=(*PROFILES, two_repeats)))
    assert fold_jobs(plan) == {rule: 2 for rule in per_fold} | {
        "cross_validation_folds": 1, "train_fold_point": 2 * N_POINTS, "baseline_fold": 4, "fold_ensemble": 1,
        "fold_ensemble_external": 1, "fold_stats": 1,
    }  # fmt: skip


def test_every_fold_is_an_mlflow_run_with_its_scores(cv_run, tmp_path):
    """Tracking the finished run (only the track job runs) logs one MLflow run per fold under the study,
    tagged with its fold, with its chosen run's curves and its held-out and Testing scores."""
    from mlflow import MlflowClient

    tracking = write_yaml(tmp_path / "tracking.yaml", {"tracking": {"mlflow": {"enabled": True}}})
    assert planned_jobs(run_snakemake(cv_run, "-n", configfiles=(*PROFILES, tracking))) == {
        "track": 1,
        "all": 1,
    }
    run_snakemake(cv_run, configfiles=(*PROFILES, tracking))
    client = MlflowClient(f"sqlite:///{cv_run / 'results/mlflow/mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("mribench").experiment_id])
    (study,) = [run for run in runs if run.data.tags["mribench.kind"] == "study"]
    folds = [run for run in runs if run.data.tags["mribench.kind"] == "fold"]
    assert sorted(run.data.tags["fold"] for run in folds) == FOLDS
    for run in folds:
        assert run.data.tags["mlflow.parentRunId"] == study.info.run_id
        assert run.info.run_name == f"{MODEL}_{STRATEGY}/seed{SEED}/{run.data.tags['fold']}"
        fold_dir = cv_run / RUN / "folds" / run.data.tags["fold"]
        for prefix, scores in (("heldout", "metrics.json"), ("testing", "testing/metrics.json")):
            test = read_json(fold_dir / scores)["test"]
            assert run.data.metrics[f"{prefix}_accuracy"] == pytest.approx(test["accuracy"])
            assert run.data.metrics[f"{prefix}_loss"] == pytest.approx(test["loss"])
        assert "val_accuracy" in run.data.metrics  # the chosen point's per-epoch history
        assert {artifact.path for artifact in client.list_artifacts(run.info.run_id)} == {
            "train.json",
            "history.csv",
            "metrics.json",
        }
