"""MLflow tracking (rule track): the tiny run logged to a real MLflow store and read back with MLflow's
own client; a tracking server that is down fails that job only, naming its URI."""

import json
import shutil
import socket

import pytest
from conftest import TINY, made_once, planned_jobs, read_json, run_snakemake, write_yaml

from mribench.tracking import flatten, sqlite_path

TRACKING_ON = {"tracking": {"mlflow": {"enabled": True}}}  # the default URI: SQLite under results/mlflow
MODELS = ("vgg16", "mobilenetv2")
STRATEGIES = ("feature_extraction", "fine_tuning")
RATES = ("0.001", "0.003")  # the tiny profile's feature-extraction learning rates


@pytest.fixture(scope="module")
def tracked(tiny_run, tmp_path_factory):
    """The tiny run, copied, tracked afterwards: only the track job runs."""

    def track(workdir):
        shutil.copytree(tiny_run, workdir, symlinks=True)
        config = write_yaml(workdir.with_name("tracking.yaml"), TRACKING_ON)
        plan = planned_jobs(run_snakemake(workdir, "-n", configfiles=(TINY, config)))
        assert plan == {"track": 1, "all": 1}, "tracking must not re-run any result"
        run_snakemake(workdir, configfiles=(TINY, config))

    return made_once(tmp_path_factory, "tracked", track)


def mlflow_client(workdir):
    from mlflow import MlflowClient

    record = read_json(workdir / "results/mlflow/tracked.json")
    assert record["uri"] == "sqlite:///results/mlflow/mlflow.db"
    return MlflowClient(f"sqlite:///{workdir / sqlite_path(record['uri'])}"), record


def test_every_target_and_baseline_is_an_mlflow_run_under_the_study(tracked):
    client, record = mlflow_client(tracked)
    experiment = client.get_experiment_by_name("mribench")
    assert experiment.experiment_id == record["experiment_id"]
    assert experiment.artifact_location == (tracked / "results/mlflow/artifacts").as_uri()
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [run for run in runs if run.data.tags["mribench.kind"] == "study"]
    children = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    names = sorted(run.info.run_name for run in children)
    points = [f"{model}_feature_extraction/seed42/learning_rate-{rate}" for model in MODELS for rate in RATES]
    assert names == sorted(
        [f"{model}_{strategy}/seed42" for model in MODELS for strategy in STRATEGIES]
        + ["baseline_file_metadata/seed42", "baseline_intensity_histogram/seed42"]
        + points  # the tiny profile's tuning grid: a run per point, tagged with its target
    )  # fmt: skip
    for model in MODELS:
        tuned = [run for run in children if run.data.tags.get("mribench.kind") == "tuning point"
                 and run.data.tags["model"] == model]  # fmt: skip
        assert sorted(run.data.tags["mribench.chosen"] for run in tuned) == ["false", "true"]
        for run in tuned:  # validation scores, never a test figure
            assert "val_loss" in run.data.metrics and "test_accuracy" not in run.data.metrics
    assert sorted(record["runs"].values()) == sorted(run.info.run_id for run in children)
    assert parent.data.params["image_size"] == "32" and parent.data.params["models"].startswith("[")
    assert "tracking.mlflow.uri" not in parent.data.params
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} == {
        "report.html",
        "summary.csv",
        "stats.json",
    }
    assert all(run.info.status == "FINISHED" for run in runs)


def test_a_target_run_holds_its_params_history_metrics_tags_and_files(tracked):
    client, record = mlflow_client(tracked)
    run_dir = tracked / "results/runs/vgg16_fine_tuning/seed42"
    run = client.get_run(record["runs"]["results/runs/vgg16_fine_tuning/seed42"])
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    assert params["training.batch_size"] == "8" and params["model.unfreeze_layers"] == "4"
    assert params["training.fine_tuning.learning_rate"] == "0.0003"
    assert json.loads(params["classes"]) == ["glioma", "meningioma", "notumor", "pituitary"]
    assert (tags["model"], tags["strategy"], tags["seed"], tags["backend"]) == (
        "vgg16",
        "fine_tuning",
        "42",
        read_json(run_dir / "train.json")["backend"]["name"],
    )
    assert len(tags["data_fingerprint"]) == 64 and tags["git_commit"]
    stats = next(
        t
        for t in read_json(tracked / "results/stats/stats.json")["targets"]
        if (t["target"], t["seed"]) == ("vgg16_fine_tuning", 42)
    )
    assert metrics["test_accuracy"] == pytest.approx(stats["accuracy"])
    low, high = stats["accuracy_ci"]
    assert (metrics["test_accuracy_ci_low"], metrics["test_accuracy_ci_high"]) == pytest.approx((low, high))
    assert "test_macro_f1_ci_high" in metrics and "test_loss" in metrics
    # one point per epoch of both stages (feature extraction, then fine-tuning), in order
    history = client.get_metric_history(run.info.run_id, "val_accuracy")
    assert [point.step for point in history] == [1, 2]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "MODEL_CARD.md",
        "curves.png",
        "confusion.png",
    }


def test_changing_only_tracking_settings_re_runs_only_the_track_job(tracked, tmp_path):
    other = write_yaml(
        tmp_path / "other.yaml", {"tracking": {"mlflow": {"enabled": True, "experiment": "another study"}}}
    )
    assert planned_jobs(run_snakemake(tracked, "-n", configfiles=(TINY, other))) == {"track": 1, "all": 1}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tracking_server_that_is_down_fails_the_track_job_only_naming_its_uri(tracked, tmp_path):
    """On a copy of the tracked run: the failed job leaves no tracked.json, which the other tests read,
    maybe at the same time in another process."""
    workdir = tmp_path / "run"
    shutil.copytree(tracked, workdir, symlinks=True)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    down = write_yaml(tmp_path / "down.yaml", {"tracking": {"mlflow": {"enabled": True, "uri": uri}}})
    result = run_snakemake(workdir, configfiles=(TINY, down), check=False)
    console = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"mribench track: the MLflow tracking store at {uri} (tracking.mlflow.uri) cannot be reached"
        in console
    )
    assert "Error in rule track" in console and console.count("Error in rule") == 1
    log = (workdir / "logs/track/track.log").read_text()
    assert f"TrackingError: the MLflow tracking store at {uri}" in log
    assert (workdir / "results/report.html").exists()  # the results are untouched


def test_config_values_become_flat_params():
    assert flatten({"training": {"batch_size": 8, "fine_tuning": {"epochs": None}}, "models": ["vgg16"]}) == {
        "training.batch_size": "8",
        "training.fine_tuning.epochs": "null",
        "models": '["vgg16"]',
    }
