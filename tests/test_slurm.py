"""The tiny workflow submitted to a real SLURM cluster through the slurm profile, its compute jobs
training from ImageNet weights the login node fetched (here: a stand-in file, no internet), then 2
folds of cross-validation added in the same run folder.

CI starts a one-node cluster with a fake GPU (.ci/slurm-up, from .ci/run); without a cluster the
test is skipped. The slurm profile is used as shipped, with only what a site sets itself:
partitions, small resources for the CI node, and squeue for status (the CI cluster has no
accounting database).
"""

import re
import shutil
import signal
import subprocess

import keras
import pandas as pd
import pytest
import yaml
from conftest import (
    REPO,
    SNAKEMAKE,
    TINY,
    TINY_THREADS,
    assert_same_weights,
    chosen_run,
    imagenet_weights_standin,
    read_json,
    write_yaml,
)

import mribench.model  # noqa: F401  (registers the Preprocess layer that model.keras holds)
from mribench import registry, targets
from mribench.folds import FOLD_SPLIT
from mribench.provenance import file_sha256
from mribench.targets import Target

pytestmark = pytest.mark.slow
# Each run took 7 to 9 minutes alone on CI's 2 cores; `make test` runs other tests beside it.
TIMEOUT = 1800
STRATEGIES = ("feature_extraction", "fine_tuning")
TRAIN_RULES = REPO / "rules/train.smk"


def default_partition():
    """The cluster's default partition, or None when no SLURM controller answers."""
    if shutil.which("sinfo") is None:
        return None
    try:
        listing = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        return None
    defaults = [p.rstrip("*") for p in listing.stdout.split() if p.endswith("*")]
    return defaults[0] if listing.returncode == 0 and defaults else None


@pytest.fixture(scope="module")
def partition():
    """The cluster's default partition; without a cluster the test is skipped. Asked when a test
    runs, not when the tests are collected: where SLURM's commands are installed but no controller
    runs, `sinfo` takes 9 s to give up, in every pytest process."""
    found = default_partition()
    if found is None:
        pytest.skip("no SLURM cluster answers `sinfo` (CI starts one with .ci/slurm-up)")
    return found


def site_profile(directory, partition):
    """profiles/slurm with what a site edits: partitions, resources that fit the CI node, squeue."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"] |= {"slurm_partition": partition, "mem_mb": 1000, "runtime": 10}
    profile["set-resources"]["train"] |= {"slurm_partition": partition, "mem_mb": 3000, "runtime": 15}
    assert profile["set-resources"]["train_point"] is profile["set-resources"]["train"]  # a YAML alias
    profile["set-resources"]["evaluate"] = {"mem_mb": 2000, "runtime": 10}
    # the test node has 2 CPUs: no job may ask for more (a job that does stays pending, reason
    # PartitionConfig), including the rules `use rule train/evaluate ... with:` derives (tuning points, folds)
    profile["set-threads"] = TINY_THREADS
    profile["set-resources"]["evaluate_external"] = {"mem_mb": 2000, "runtime": 10}
    profile["set-resources"]["gradcam"] = {"mem_mb": 2000, "runtime": 10}
    profile |= {
        "jobs": 2,
        "latency-wait": 5,
        "slurm-status-command": "squeue",
        "slurm-init-seconds-before-status-checks": 5,
        "slurm-keep-successful-logs": True,
    }
    directory.mkdir()
    write_yaml(directory / "config.yaml", profile)
    return directory


def submitted_job_ids(workdir, rule):
    """SLURM job ids of a rule's jobs, from the executor's per-job logs (<job id>.log)."""
    logs = workdir / ".snakemake/slurm_logs" / f"rule_{rule}"
    return sorted(log.stem for log in logs.rglob("*.log")) if logs.is_dir() else []


def show_job(job_id):
    return subprocess.run(
        ["scontrol", "-d", "show", "job", job_id], capture_output=True, text=True, check=True
    ).stdout


def run_on_slurm(workdir, profile, *configfiles):
    """The workflow in `workdir` through the site profile, with config.yaml and `configfiles`; fails
    the test, with the end of Snakemake's output, unless it finishes within TIMEOUT."""
    command = [
        "nice", str(SNAKEMAKE),
        "--profile", str(profile),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(REPO / "config.yaml"), *map(str, configfiles),
    ]  # fmt: skip
    # Snakemake cancels its SLURM jobs on SIGINT, so a hung run cleans up after itself.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
        pytest.fail(f"the SLURM run took over {TIMEOUT} s:\n{output[-5000:]}")
    assert process.returncode == 0, output[-8000:]


def test_tiny_workflow_on_slurm(partition, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    one_model = write_yaml(
        tmp_path / "one_model.yaml",
        {"models": ["mobilenetv2"], "model_settings": {"mobilenetv2": {"weights": "imagenet"}}},
    )
    # What fetch_weights leaves on the login node; the test runs offline, like compute nodes.
    fetched = imagenet_weights_standin(
        workdir / "resources/weights" / registry.imagenet_weights_file("mobilenetv2", 32),
        "mobilenetv2",
        32,
        7,
    )
    run_on_slurm(workdir, site_profile(tmp_path / "profile", partition), TINY, one_model)

    summary = pd.read_csv(workdir / "results/summary.csv")
    assert sorted(summary[summary.model == "mobilenetv2"].strategy) == ["feature_extraction", "fine_tuning"]
    assert sorted(summary[summary.model == "baseline"].strategy) == ["file_metadata", "intensity_histogram"]
    assert (workdir / "results/report.html").stat().st_size > 0
    # the tiny profile's tuning grid: feature extraction's two learning rates, each a SLURM job
    trained = {strategy: chosen_run(workdir, Target("mobilenetv2", strategy, 42)) for strategy in STRATEGIES}
    assert trained["feature_extraction"].parent.name == "tuning"
    for strategy in STRATEGIES:
        run = workdir / f"results/runs/mobilenetv2_{strategy}/seed42"
        for name in ("metrics.json", "predictions.csv"):
            assert (run / name).stat().st_size > 0, f"{strategy}/{name}"
        for name in ("model.keras", "history.csv", "train.json"):
            assert (trained[strategy] / name).stat().st_size > 0, f"{strategy}/{name}"

    # Feature extraction trained on the frozen base: its weights are still exactly the fetched file's.
    assert not (workdir / "logs/fetch_weights").exists()
    feature_extraction = trained["feature_extraction"]
    assert read_json(feature_extraction / "train.json")["weights"] == "imagenet"
    model = keras.models.load_model(feature_extraction / "model.keras", safe_mode=True)
    assert_same_weights(model.get_layer("base"), fetched)

    # Local rules ran in this process (the login node); everything else was an sbatch job.
    assert submitted_job_ids(workdir, "obtain_dataset") == submitted_job_ids(workdir, "report") == []
    assert submitted_job_ids(workdir, "select") == []
    assert len(submitted_job_ids(workdir, "split_dataset")) == 1
    train_jobs = submitted_job_ids(workdir, "train") + submitted_job_ids(workdir, "train_point")
    assert len(train_jobs) == 3 and len(submitted_job_ids(workdir, "evaluate")) == 2

    for strategy in STRATEGIES:
        machine = read_json(trained[strategy] / "train.json")["hardware"]
        assert machine["slurm_job_id"] in train_jobs
        assert machine["cuda_visible_devices"] == "0"  # the GPU SLURM allocated to the job
        job = show_job(machine["slurm_job_id"])
        assert "JobState=COMPLETED" in job and "JOB_GRES=gpu" in job, job
    for job_id in submitted_job_ids(workdir, "evaluate"):
        assert "JOB_GRES=(null)" in show_job(job_id)  # evaluation asks for no GPU

    two_folds_of_feature_extraction(workdir, tmp_path, one_model)


def two_folds_of_feature_extraction(workdir, tmp_path, one_model):
    """Then cross-validation in the same run folder: 2 folds of feature extraction, nested (each point
    of its grid on each fold a GPU job, trained on that fold's split; each fold's pick on the login
    node), each fold model scored by jobs of its own, a baseline cross-validated too (one: the other
    runs the same code, and every SLURM job costs CI seconds)."""
    two_folds = write_yaml(
        tmp_path / "two_folds.yaml",
        {
            "cross_validation": {"folds": 2, "repeats": 1},
            "strategies": ["feature_extraction"],
            "baselines": ["intensity_histogram"],
        },
    )
    run_on_slurm(workdir, tmp_path / "profile", TINY, one_model, two_folds)

    point_jobs = submitted_job_ids(workdir, "train_fold_point")
    assert len(point_jobs) == 4  # 2 learning rates x 2 folds
    for job_id in point_jobs:
        job = show_job(job_id)
        assert "JobState=COMPLETED" in job and "JOB_GRES=gpu" in job, job
    target = Target("mobilenetv2", "feature_extraction", 42)
    for fold in targets.folds(2, 1):
        train = read_json(chosen_run(workdir, target.with_fold(fold)) / "train.json")
        assert train["split_sha256"] == file_sha256(workdir / FOLD_SPLIT.format(**fold._asdict()))
        assert train["hardware"]["slurm_job_id"] in point_jobs
    assert submitted_job_ids(workdir, "select_fold") == []
    for rule in ("evaluate_fold", "evaluate_fold_testing", "evaluate_fold_external", "baseline_fold"):
        assert submitted_job_ids(workdir, rule), f"no {rule} job went to SLURM"
    summary = pd.read_csv(workdir / "results/summary.csv")
    row = summary[(summary.model == "mobilenetv2") & (summary.strategy == "feature_extraction")].iloc[0]
    assert row.cv_folds == 2 and 0 <= row.cv_accuracy_mean <= 1 and 0 <= row.ensemble_accuracy <= 1


def test_slurm_profile_sets_what_a_site_must_edit():
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert profile["executor"] == "slurm"
    assert profile["apptainer-args"] == "--nv"
    assert "SET-YOUR" in profile["default-resources"]["slurm_partition"]
    train = profile["set-resources"]["train"]
    assert "SET-YOUR" in train["slurm_partition"] and train["gpu"] == 1 and "gpus" not in train
    # every rule the workflow derives from train (tuning points, folds, their points, equal budget's
    # start run) trains on the GPU partition too: one missing would be sent to the CPU partition
    derived = re.findall(r"^use rule train as (\w+) with:", TRAIN_RULES.read_text(), flags=re.MULTILINE)
    assert "train_fold_point" in derived
    assert {rule: profile["set-resources"].get(rule) for rule in derived} == dict.fromkeys(derived, train)


@pytest.mark.usefixtures("partition")
def test_the_partition_placeholder_is_named_when_left_unset(tmp_path):
    (tmp_path / "results/data/dataset").mkdir(parents=True)  # so that the first job is a SLURM job
    result = subprocess.run(
        [
            str(SNAKEMAKE),
            "--profile", str(REPO / "profiles/slurm"),
            "--slurm-status-command", "squeue",
            "--slurm-init-seconds-before-status-checks", "1",
            "--snakefile", str(REPO / "Snakefile"),
            "--directory", str(tmp_path),
            "results/data/split.csv",
            "--configfile", str(REPO / "config.yaml"), str(TINY),
        ],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert (
        "invalid partition specified: SET-YOUR-CPU-PARTITION-in-profiles/slurm/config.yaml" in result.stderr
    )
