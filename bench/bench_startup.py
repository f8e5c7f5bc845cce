"""Start-up of every job kind: the wall time of a fresh Python process that does what a job's script
does before its work begins, and which heavy libraries that pulls in.

A Snakemake job is a new process: Snakemake's preamble (unpickling the `snakemake` object, which
imports snakemake), then the script's own imports (`scripts/<kind>.py`, read with `ast`, so this
follows the scripts as they change). Scripts that run a model also import Keras (`import keras`
after `backend.select`), as their work's first step does. Each kind is timed `--repeats` times,
taking turns, and the median is reported; `python -X importtime` shows where the time goes.

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/bench_startup.py
"""

import argparse
import ast
import json
import os
import statistics
import subprocess
import sys
import time

from common import REPO, Run, print_table

SCRIPTS = REPO / "scripts"
# The job kinds whose work builds, trains or runs a Keras model (their start-up includes Keras).
MODEL_SCRIPTS = {"train", "evaluate", "evaluate_external", "gradcam", "export"}
HEAVY = ("tensorflow", "keras", "jax", "matplotlib", "sklearn", "scipy", "statsmodels", "pandas")
# Snakemake's preamble imports its script module to unpickle the job's `snakemake` object.
PREAMBLE = "from snakemake import script"


def script_imports(script):
    """The top-level import statements of `script`, in order, as source text."""
    tree = ast.parse(script.read_text())
    return [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]


def startup_code(kind):
    """Python source that starts up like the job `kind`, then prints the heavy modules loaded."""
    lines = [PREAMBLE, *script_imports(SCRIPTS / f"{kind}.py")]
    if kind in MODEL_SCRIPTS:
        lines += ["from mribench import backend", "backend.select('tensorflow')", "import keras"]
    lines += [
        "import json, sys",
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))",
    ]
    return "\n".join(lines)


def job_kinds():
    return sorted(path.stem for path in SCRIPTS.glob("*.py"))


def heavy_modules(kind):
    """The heavy libraries the start-up of job `kind` imports."""
    result = subprocess.run(
        [sys.executable, "-c", startup_code(kind)],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ | {"PYTHONPATH": str(REPO / "src"), "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return json.loads(result.stdout.splitlines()[-1])


def time_startup(kind):
    start = time.perf_counter()
    modules = heavy_modules(kind)
    return time.perf_counter() - start, modules


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", nargs="*", default=job_kinds())
    args = parser.parse_args()
    run = Run("startup")
    seconds = {kind: [] for kind in args.kinds}
    modules = {}
    for _ in range(args.repeats):  # the kinds take turns, so a change of load falls on all alike
        for kind in args.kinds:
            elapsed, modules[kind] = time_startup(kind)
            seconds[kind].append(elapsed)
    rows = [
        {
            "job": kind,
            "median s": statistics.median(seconds[kind]),
            "heavy imports": " ".join(modules[kind]) or "-",
        }
        for kind in args.kinds
    ]
    print_table(rows)
    run.save(rows, {"repeats": args.repeats, "model_scripts": sorted(MODEL_SCRIPTS)})


if __name__ == "__main__":
    main()
