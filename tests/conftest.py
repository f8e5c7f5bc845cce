import fcntl
import functools
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from mribench.targets import Target

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SAMPLE = REPO.parent / "shared" / "data" / "brain-tumor-mri-sample"
TINY = REPO / "profiles" / "tiny" / "mribench.yaml"
# An overlay of the tiny profile without its tuning grid, for runs that test something else.
NO_GRID = {"training": {"feature_extraction": {"learning_rate": 1.0e-3}}}
CONSOLE = "console.txt"  # the tiny run's console output (Snakemake's stdout and stderr), in its folder
# The Keras backend the tests run on: `make test` runs the suite on TensorFlow, then the tests
# marked `backends` again with KERAS_BACKEND=jax, workflows included.
BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
BACKEND_OVERLAY = REPO / "profiles" / "tiny" / f"backend-{BACKEND}.yaml"
# The session's tiny workflow run (tiny_run): every base on TensorFlow, one on JAX (the overlay says why).
ONE_BASE = REPO / "profiles" / "tiny" / "one-base.yaml"
TINY_RUN_PROFILES = (TINY,) if BACKEND == "tensorflow" else (TINY, ONE_BASE)
# The tiny profile's threads per rule (profiles/tiny/config.yaml says why), in every workflow run here.
TINY_THREADS = yaml.safe_load((REPO / "profiles" / "tiny" / "config.yaml").read_text())["set-threads"]


def tiny_run_trainings():
    """The training jobs of the tiny run: each target's, or each point of a target's tuning grid."""
    from mribench import targets, tuning

    config = merged_config(*TINY_RUN_PROFILES)
    every = targets.every_target(config)
    return [trained for target in every for trained in tuning.points(config, target) or [target]]


def chosen_run(workdir, target):
    """The run folder of `target`'s model in a finished run: its own, or its chosen tuning point's."""
    from mribench.targets import POINT_RUN_DIR

    selection = Path(workdir) / target.run_dir / "selection.json"
    if not selection.exists():
        return Path(workdir) / target.run_dir
    return selection.parent / POINT_RUN_DIR.format(point=read_json(selection)["pick"])


def snakemake_command(workdir, *args, configfiles=(TINY,)):
    """The command line that runs the real workflow of this repository in `workdir`, on the tests'
    Keras backend."""
    if BACKEND != "tensorflow":
        configfiles = (*configfiles, BACKEND_OVERLAY)
    return [
        str(SNAKEMAKE),
        # first: it takes every word up to the next option, which would include a target in `args`
        "--set-threads", *(f"{rule}={threads}" for rule, threads in TINY_THREADS.items()),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        *args,  # before --configfile, which would take a target for one more config file
        "--configfile", str(REPO / "config.yaml"), *map(str, configfiles),
    ]  # fmt: skip


# JAX compiles every training and inference step with XLA, and every operation it runs eagerly
# (building and calibrating a model); its persistent cache lets the tests' many processes reuse what an
# earlier one compiled, the small programs included (by default only those that took a second to
# compile are kept: a MobileNetV2 built, fitted and predicting took 18.6 s of CPU in the second process
# to run it that way, 7.2 s with every program kept).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(REPO / ".pytest_cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
SNAKEMAKE_ENV = os.environ | {"PYTHONUNBUFFERED": "1"}


@functools.cache
def snakemake_server():
    """The process that runs the tests' snakemake commands (tests/snakemake_server.py says why), started
    on first use; it ends when the tests close its stdin by ending."""
    return subprocess.Popen(
        [sys.executable, str(REPO / "tests" / "snakemake_server.py")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=SNAKEMAKE_ENV,
    )


def run_in_snakemake_server(command):
    """Run `command` (a snakemake command line) in the server; the result as subprocess.run gives it."""
    server = snakemake_server()
    with tempfile.TemporaryDirectory(prefix="mribench-dry-run-") as tmp:
        stdout, stderr = Path(tmp) / "stdout", Path(tmp) / "stderr"
        request = {"args": command[1:], "stdout": str(stdout), "stderr": str(stderr)}
        server.stdin.write(json.dumps(request) + "\n")
        server.stdin.flush()
        reply = server.stdout.readline()
        assert reply, f"the snakemake server ended (status {server.poll()}); try it directly: {command}"
        returncode = json.loads(reply)["returncode"]
        return subprocess.CompletedProcess(command, returncode, stdout.read_text(), stderr.read_text())


def run_snakemake(workdir, *args, configfiles=(TINY,), check=True):
    """Run the real workflow of this repository in `workdir`, with config.yaml under `configfiles`, in
    the snakemake server (the same command line, without Snakemake's start-up)."""
    result = run_in_snakemake_server(snakemake_command(workdir, *args, configfiles=configfiles))
    if check and result.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({result.returncode}):\n{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
    return result


def planned_jobs(result):
    """Job counts per rule from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("\n\n")[0].splitlines()[3:]
    return {rule: int(count) for rule, count in (line.split() for line in table) if rule != "total"}


def training_settings(target, classes, training=(), image_size=32):
    """What the workflow's training job of `target` would read (config.training_job_settings) from
    config.yaml with `training` merged into its training section, on the tests' backend, every base
    with random weights."""
    from snakemake.utils import update_config

    from mribench.config import training_job_settings

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config["training"], {"backend": BACKEND, **dict(training)})
    config["dataset"]["classes"], config["image_size"] = list(classes), image_size
    for settings in config["model_settings"].values():
        settings["weights"] = "none"
    return training_job_settings(config, target)


def merged_config(*configfiles):
    """config.yaml merged with `configfiles`, as Snakemake merges them."""
    from snakemake.utils import update_config

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()))
    return config


def write_yaml(path, data):
    path.write_text(yaml.safe_dump(data))
    return path


def imagenet_weights_standin(path, name, image_size, seed):
    """A file in the format of Keras' downloadable weights (weights-only legacy HDF5), made from a
    randomly initialised base (no internet here); returns that base to compare weights with."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    from mribench import registry

    keras.utils.set_random_seed(seed)
    base = registry.build_base(name, image_size, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return base


def assert_same_weights(layer, expected):
    for loaded, original in zip(layer.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())


def bomb_png(path, side=40000):
    """A side x side one-bit PNG of zeros, written row by row with zlib (about 194 KB on disk)."""
    row = bytes(1 + side // 8)  # filter byte and the row's bits
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def read_json(path):
    return json.loads(Path(path).read_text())


def refusing_imports(*modules):
    """Python source that makes `modules` (and their submodules) impossible to import in the process
    that runs it, as if they were not installed: for what must run without TensorFlow, JAX or Keras.
    (A None in sys.modules refuses them too, but scipy's array-API checks look modules up there and
    fail on the None.)"""
    return f"""import sys
class RefuseImports:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {modules!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (refused by the test)", name=name)
sys.meta_path.insert(0, RefuseImports())
"""


# The session's shared runs (made_once), each made on the one before it: the longest chain of work.
SHARED_RUNS = ("tiny_run", "cv_run")


@pytest.hookimpl(trylast=True)  # after `-m backends` deselected what the pass does not run
def pytest_collection_modifyitems(items):
    """`make test` hands the tests one at a time to one process per core (pytest-xdist); a process
    that needs a shared run another one is making waits for it, and none of the longest should start
    last while the others have run out of tests. So: first one test of the deepest shared run (it makes
    the chain), then the workflow runs marked `slow`, then the tests that need no shared run, while the
    chain is made, and last the other tests of the shared runs."""
    deepest = next((run for run in reversed(SHARED_RUNS) if any(run in i.fixturenames for i in items)), None)
    first = next((item for item in items if deepest in item.fixturenames), None)

    def rank(item):
        if item is first:
            return 0
        if item.get_closest_marker("slow"):
            return 1
        return 3 if set(SHARED_RUNS) & set(item.fixturenames) else 2

    items.sort(key=rank)


def made_once(tmp_path_factory, name, make):
    """The folder `name`, made by `make(folder)` once in the test session, however many test processes
    ask for it: pytest-xdist runs a fixture once per process, so the first process that needs the
    folder makes it, under a file lock, where all of them share it, and the others wait for it. A
    process whose `make` failed leaves no marker: the next one starts again from an empty place, so it
    fails, if it does, with the same error rather than on the leftovers."""
    shared = tmp_path_factory.getbasetemp()
    if "PYTEST_XDIST_WORKER" in os.environ:
        shared = shared.parent  # the folder of every process's base temp
    folder, made = shared / name, shared / f"{name}.made"
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not made.exists():
            shutil.rmtree(folder, ignore_errors=True)
            make(folder)
            made.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The whole workflow on the tiny preset, run once for every test that inspects its outputs. Tests
    only read it (and dry-run in it); one that runs jobs works on a copy."""

    def run(workdir):
        workdir.mkdir()
        result = run_snakemake(workdir, configfiles=TINY_RUN_PROFILES)
        (workdir / CONSOLE).write_text(result.stdout + result.stderr)  # what a person saw

    return made_once(tmp_path_factory, "tiny_run", run)


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """A tiny VGG16 trained by mribench's own training code on phantoms, and the data it was trained on.

    VGG16 because randomly initialised MobileNetV2 and EfficientNet give the same output for every image,
    so tests comparing predictions could not fail. Made once a session for every test process (tests
    only read it).
    """
    from mribench.audit import write_audit
    from mribench.phantoms import KNOWN_CLASSES, generate_dataset
    from mribench.split import write_split

    def make(root):
        root.mkdir()
        classes = list(KNOWN_CLASSES)
        generate_dataset(root / "dataset", classes, 8, 4, image_size=48, seed=0)
        write_audit(root / "dataset", root / "audit.json", root / "audit.csv", classes, "error", 4, 1)
        write_split(root / "audit.csv", root / "split.csv", val_fraction=0.25, seed=0, test_overlap="keep")
        stage = {"epochs": 3, "learning_rate": 1e-3}
        tiny = {"batch_size": 8, "dense_units": 16, "feature_extraction": stage}
        settings = training_settings(TRAINED_TARGET, classes, tiny)
        (root / "settings.json").write_text(json.dumps(settings))
        train_trained_target(root, root / "run")

    return made_once(tmp_path_factory, "trained_model", make)


TRAINED_TARGET = Target("vgg16", "feature_extraction", 42)


def train_trained_target(root, run):
    """Train trained_model's target with the settings, split and images in its folder `root`, into the
    new folder `run` (model.keras, history.csv, train.json, tensorboard/)."""
    from mribench.training import TrainingJob, TrainingOutputs, train_target

    settings = json.loads((root / "settings.json").read_text())
    run.mkdir()
    train_target(
        TrainingJob(TRAINED_TARGET, settings, root / "split.csv", root / "dataset"),
        TrainingOutputs(run / "model.keras", run / "history.csv", run / "train.json", run / "tensorboard"),
        threads=2,
    )
