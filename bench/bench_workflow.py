"""Workflow overhead: a no-op re-run of the demo and a dry run, timed after one complete demo run.

Usage: python bench/bench_workflow.py [--workdir DIR] [--repeats N]
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

from common import BENCH, REPO, Run, Stopwatch, print_table

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def snakemake(workdir, *args):
    command = [
        str(SNAKEMAKE),
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--cores", "2",
        "--configfile", str(REPO / "config.yaml"), str(REPO / "profiles" / "demo" / "mribench.yaml"),
        *args,
    ]  # fmt: skip
    with Stopwatch() as watch:
        result = subprocess.run(command, capture_output=True, text=True, env=os.environ)
    if result.returncode != 0:
        sys.exit(f"snakemake failed:\n{result.stderr[-3000:]}")
    return watch.seconds, result.stdout + result.stderr


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, default=BENCH / "data" / "demo-workdir")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    seconds, _ = snakemake(args.workdir)  # completes the demo if needed; not measured
    print(f"demo run (untimed preparation, {seconds:.0f} s)")

    run = Run("workflow")
    rows = []
    for kind, extra in (("no-op re-run", ()), ("dry run", ("--dry-run",))):
        times = []
        for _ in range(args.repeats):
            seconds, output = snakemake(args.workdir, *extra)
            if "Nothing to be done" not in output:
                sys.exit(f"{kind} was not a no-op:\n{output[-3000:]}")
            times.append(seconds)
        rows.append({"what": kind, "best s": min(times), "median s": sorted(times)[len(times) // 2]})
    print_table(rows)
    run.save(rows, {"profile": "demo", "repeats": args.repeats, "target_noop_seconds": 5})


if __name__ == "__main__":
    main()
