"""Log a finished study to MLflow, where researchers compare runs across studies: one MLflow run per
target, tuning point, cross-validation fold and shortcut baseline, under a parent run of the whole
workflow that holds the report.

It runs as a job of its own after the results exist (rule track), so a tracking server that is down
fails that job only, and logging again needs no retraining.
"""

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from mribench import provenance
from mribench.metrics import macro_f1

# A tracking server that does not answer fails the job within about a minute, not after MLflow's
# default of seven retries with growing waits (set the variables to change it).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
TARGET_ARTIFACTS = ["MODEL_CARD.md", "curves.png", "confusion.png", "metrics.json"]
# in the run folder that trained the model: the target's, or its chosen tuning point's
TRAINING_ARTIFACTS = ["train.json", "history.csv"]
BASELINE_ARTIFACTS = ["train.json", "metrics.json"]
STUDY_ARTIFACTS = ["report.html", "summary.csv", "stats.json"]
# A fold's scores in its run folder: on its held-out fold (rule evaluate_fold) and on the official
# Testing folder (rule evaluate_fold_testing), logged as <name>_accuracy, <name>_macro_f1, <name>_loss.
FOLD_SCORES = {"heldout": "metrics.json", "testing": "testing/metrics.json"}


class TrackingError(RuntimeError):
    pass


def track_study(
    mlflow_settings,
    study,
    targets,
    baselines,
    stats_json,
    split_csv,
    report_files,
    workflow_dir,
    out_json,
    trained_dirs=None,
    points=None,
    selection_jsons=(),
    folds=None,
):
    """Log the study's parent run and one run per target, tuning point, fold and baseline; write out_json
    with their ids.

    `targets` and `baselines` map each run folder to what it was run as: {"name", "seed",
    "tags", "params"}; `study` is the config as run (the parent run's params); `trained_dirs` maps a
    tuned target's run folder to its chosen point's, whose history and train.json are the target's;
    `points` maps each tuning point's run folder to its run (as `targets`, with its "point" id), tagged
    chosen or not from the targets' `selection_jsons`; `folds` maps each cross-validation fold's run
    folder to its run (as `targets`, with its "fold" name), whose chosen run is in `trained_dirs` too.
    """
    trained_dirs = trained_dirs or {}
    uri, experiment_name = mlflow_settings["uri"], mlflow_settings["experiment"]
    client = connect(uri)
    experiment_id = find_or_create_experiment(client, experiment_name, uri)
    statistics = {
        (row["target"], row["seed"]): row for row in json.loads(Path(stats_json).read_text())["targets"]
    }
    common_tags = {
        "git_commit": provenance.git_commit(workflow_dir) or "not a git checkout",
        "data_fingerprint": provenance.dataset_checksum(split_csv),
    }
    parent = client.create_run(experiment_id, run_name="study", tags=common_tags | {"mribench.kind": "study"})
    parent_id = parent.info.run_id
    log_params(client, parent_id, flatten(study))
    for path in report_files:
        client.log_artifact(parent_id, str(path))
    run_ids = {}
    for kind, runs, artifacts in (
        ("target", targets, TARGET_ARTIFACTS),
        ("baseline", baselines, BASELINE_ARTIFACTS),
    ):
        for run_dir, run in runs.items():
            tags = common_tags | run["tags"] | {"mribench.kind": kind, "mlflow.parentRunId": parent_id}
            child = client.create_run(experiment_id, run_name=f"{run['name']}/seed{run['seed']}", tags=tags)
            trained = Path(trained_dirs.get(run_dir, run_dir))
            log_run(
                client, child.info.run_id, Path(run_dir), run, statistics[run["name"], run["seed"]], trained
            )
            for name in artifacts:
                client.log_artifact(child.info.run_id, str(Path(run_dir) / name))
            for name in TRAINING_ARTIFACTS if kind == "target" else []:
                client.log_artifact(child.info.run_id, str(trained / name))
            client.set_terminated(child.info.run_id)
            run_ids[run_dir] = child.info.run_id
    picks = {Path(path).parent: json.loads(Path(path).read_text())["pick"] for path in selection_jsons}
    for run_dir, run in (points or {}).items():
        chosen = picks[Path(run_dir).parent.parent] == run["point"]
        tags = run["tags"] | {"mribench.kind": "tuning point", "mribench.chosen": str(chosen).lower()}
        run_ids[run_dir] = log_point(client, experiment_id, common_tags | tags, parent_id, Path(run_dir), run)
    for run_dir, run in (folds or {}).items():
        tags = common_tags | run["tags"] | {"mribench.kind": "fold"}
        trained = Path(trained_dirs[run_dir])
        run_ids[run_dir] = log_fold(client, experiment_id, tags, parent_id, Path(run_dir), run, trained)
    client.set_terminated(parent_id)
    record = {
        "uri": uri,
        "experiment": experiment_name,
        "experiment_id": experiment_id,
        "parent_run_id": parent_id,
        "runs": run_ids,
    }
    Path(out_json).write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"Logged {len(run_ids)} runs under parent run {parent_id} to experiment {experiment_name!r} at {uri}"
    )


def connect(uri):
    """An MlflowClient for `uri` that has answered; a TrackingError naming the URI where it does not."""
    for variable, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(variable, value)
    scheme = urlparse(uri).scheme
    if scheme == "file":
        # MLflow 3 keeps the plain-file store in maintenance mode and refuses it unless asked.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    if scheme == "sqlite":
        sqlite_path(uri).parent.mkdir(parents=True, exist_ok=True)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as error:  # MLflow raises MlflowException, requests' and SQLAlchemy's errors
        raise TrackingError(
            f"the MLflow tracking store at {uri} (tracking.mlflow.uri) cannot be reached: "
            f"{type(error).__name__}: {first_line(error)}. The results are complete; start the tracking "
            "server (or correct tracking.mlflow.uri) and run snakemake again: only this job re-runs."
        ) from error
    return client


def find_or_create_experiment(client, name, uri):
    """The experiment's id; a new experiment in a local SQLite store keeps its artifacts beside the
    database (results/mlflow/artifacts by default), not in the working directory."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if urlparse(uri).scheme == "sqlite":
        location = (sqlite_path(uri).parent / "artifacts").resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def log_point(client, experiment_id, tags, parent_id, run_dir, run):
    """A tuning point's run: its params, per-epoch history, the kept epoch's validation scores (what the
    selection compared) and its training records; no test figure (only the chosen point is scored, as
    its target). Returns its run id."""
    from mlflow.entities import Metric

    name = f"{run['name']}/seed{run['seed']}/{run['point']}"
    run_id = client.create_run(experiment_id, run_name=name, tags=tags | {"mlflow.parentRunId": parent_id})
    run_id = run_id.info.run_id
    log_params(client, run_id, flatten(run["params"]))
    kept = json.loads((run_dir / "train.json").read_text())["stages"][-1]
    validation = [Metric(key, kept[key], 0, 0) for key in ("val_loss", "val_accuracy")]
    client.log_batch(run_id, metrics=history_metrics(run_dir / "history.csv") + validation)
    for artifact in TRAINING_ARTIFACTS:
        client.log_artifact(run_id, str(run_dir / artifact))
    client.set_terminated(run_id)
    return run_id


def log_fold(client, experiment_id, tags, parent_id, run_dir, run, trained_dir):
    """A cross-validation fold's run: its params, per-epoch history and training records (in
    `trained_dir`, its chosen tuning point's with a grid), and its scores on its held-out fold and on the
    Testing folder (FOLD_SCORES); the bootstrap CIs belong to the single split's runs. Returns its id."""
    from mlflow.entities import Metric

    name = f"{run['name']}/seed{run['seed']}/{run['fold']}"
    run_id = client.create_run(experiment_id, run_name=name, tags=tags | {"mlflow.parentRunId": parent_id})
    run_id = run_id.info.run_id
    log_params(client, run_id, flatten(run["params"]))
    scores = []
    for prefix, path in FOLD_SCORES.items():
        test = json.loads((run_dir / path).read_text())["test"]
        values = {"accuracy": test["accuracy"], "macro_f1": macro_f1(test), "loss": test["loss"]}
        scores += [Metric(f"{prefix}_{key}", float(value), 0, 0) for key, value in values.items()]
    client.log_batch(run_id, metrics=history_metrics(trained_dir / "history.csv") + scores)
    for artifact in TRAINING_ARTIFACTS:
        client.log_artifact(run_id, str(trained_dir / artifact))
    client.log_artifact(run_id, str(run_dir / FOLD_SCORES["heldout"]))
    client.set_terminated(run_id)
    return run_id


def history_metrics(history_csv):
    """One MLflow metric per column of history.csv per epoch, the epoch as its step (none if absent)."""
    from mlflow.entities import Metric

    if not history_csv.exists():
        return []
    epochs = pd.read_csv(history_csv).drop(columns=["stage", "epoch"])
    return [
        Metric(name, float(value), 0, step)
        for step, row in enumerate(epochs.to_dict("records"), start=1)
        for name, value in row.items()
        if pd.notna(value)
    ]


def log_run(client, run_id, run_dir, run, statistics, trained_dir):
    """A target's or baseline's params, per-epoch history (in `trained_dir`) and final metrics (with CIs)."""
    from mlflow.entities import Metric

    log_params(client, run_id, flatten(run["params"]))
    metrics = history_metrics(trained_dir / "history.csv")
    test = json.loads((run_dir / "metrics.json").read_text())
    final = final_metrics(statistics, test)
    metrics += [Metric(name, value, 0, 0) for name, value in final.items()]
    client.log_batch(run_id, metrics=metrics)


def final_metrics(statistics, test):
    """Test-set figures of one run: accuracy and macro F1 with their bootstrap CIs, macro AUC and
    ECE (stats.json), loss and the de-duplicated accuracy (metrics.json); None values left out."""
    final = {}
    for name in ("accuracy", "macro_f1"):
        final[f"test_{name}"] = statistics[name]
        final[f"test_{name}_ci_low"], final[f"test_{name}_ci_high"] = statistics[f"{name}_ci"]
    final["test_macro_auc"] = statistics["macro_auc"]
    final["test_ece"] = statistics["ece"]
    final["test_loss"] = test["test"]["loss"]
    final["test_dedup_accuracy"] = test["test_dedup"]["accuracy"]
    return {name: float(value) for name, value in final.items() if value is not None}


def log_params(client, run_id, params):
    from mlflow.entities import Param

    client.log_batch(run_id, params=[Param(key, value) for key, value in params.items()])


def flatten(section, prefix=""):
    """{"training": {"batch_size": 8}} as {"training.batch_size": "8"}; lists and values as text."""
    flat = {}
    for key, value in section.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, list | type(None)) else str(value)
    return flat


def sqlite_path(uri):
    """The database file of a sqlite:/// URI (relative to the working directory with three slashes)."""
    return Path(uri.removeprefix("sqlite:///"))


def first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else "no message"
