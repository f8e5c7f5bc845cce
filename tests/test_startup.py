"""Job start-up: a job that runs no model imports neither TensorFlow, Keras nor JAX.

Every job is a process of its own, and importing TensorFlow and Keras takes 4-13 s of it on two
cores (bench/README.md, "Job start-up"), so a statistics or report job that imported them would
pay that for nothing. The scripts' own imports are read from scripts/*.py, so a new script, or a
library module that starts importing Keras at its top, is caught here. What a job's work imports
later is checked for the baselines, the slowest of those jobs: their whole work runs with the model
libraries refused.
"""

import ast
import json
import os
import subprocess
import sys

from conftest import REPO, refusing_imports

from mribench.audit import write_audit
from mribench.baselines import BASELINES
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.split import write_split

# The scripts whose work builds, trains or runs a Keras model.
MODEL_SCRIPTS = {"train", "evaluate", "evaluate_external", "gradcam", "export"}
MODEL_LIBRARIES = ("tensorflow", "keras", "jax")
# Each job first runs Snakemake's preamble, which imports this to unpickle the job's `snakemake`.
PREAMBLE = "from snakemake import script"

CHECK = """
import json, sys
culprits = {}
for kind, imports in json.loads(sys.argv[1]).items():
    exec(imports)
    culprits[kind] = [m for m in %r if m in sys.modules and not any(m in c for c in culprits.values())]
print(json.dumps(culprits))
""" % (MODEL_LIBRARIES,)


def script_imports(script):
    """The top-level import statements of `script`, as source text."""
    tree = ast.parse(script.read_text())
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom))


def test_jobs_that_run_no_model_import_no_deep_learning_library():
    scripts = sorted((REPO / "scripts").glob("*.py"))
    assert MODEL_SCRIPTS < {
        script.stem for script in scripts
    }, "a model script was renamed: update MODEL_SCRIPTS"
    imports = {
        script.stem: f"{PREAMBLE}\n{script_imports(script)}"
        for script in scripts
        if script.stem not in MODEL_SCRIPTS
    }
    # One process imports every kind's modules in turn; a library that appears after a kind's
    # imports (and not before) is that kind's.
    result = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(imports)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    culprits = {kind: modules for kind, modules in json.loads(result.stdout).items() if modules}
    assert culprits == {}, f"these jobs import model libraries at start-up (import them lazily): {culprits}"


RUN_BOTH_BASELINES = """
from pathlib import Path
from mribench import baselines
root = Path(sys.argv[1])
for kind in baselines.BASELINES:
    out = root / kind
    out.mkdir()
    baselines.train_baseline(
        kind, 42, sys.argv[2:], root / "split.csv", out / "metrics.json", out / "predictions.csv",
        out / "train.json", out / "confusion.png", audit_csv=root / "audit.csv",
        dataset_dir=root / "dataset", image_size=32,
    )
"""


def test_the_baselines_work_runs_with_the_model_libraries_refused(tmp_path):
    """A job's work can import what its start-up did not: a baseline's whole work, train.json's
    hardware record included, runs with TensorFlow, Keras and JAX refused (asking the Keras backend
    for its GPUs there imported TensorFlow: ~3 s of CPU per baseline job)."""
    classes = list(KNOWN_CLASSES)
    generate_dataset(tmp_path / "dataset", classes, train_per_class=4, test_per_class=2, image_size=32)
    write_audit(tmp_path / "dataset", tmp_path / "audit.json", tmp_path / "audit.csv", classes, "error", 4, 2)
    write_split(tmp_path / "audit.csv", tmp_path / "split.csv", 0.25, seed=0, test_overlap="keep")
    code = refusing_imports(*MODEL_LIBRARIES) + RUN_BOTH_BASELINES
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), *classes],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHONPATH": str(REPO / "src")},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for kind in BASELINES:
        assert json.loads((tmp_path / kind / "train.json").read_text())["hardware"]["gpus"] == []
