"""Snakemake's command line, run many times without paying its start-up each time.

Importing Snakemake takes most of a dry run's CPU time (about 1.5 of 2 s; `python -X importtime`),
and the tests make about a hundred dry runs and twenty runs; where SLURM is installed and no
controller answers, Snakemake's SLURM plugin also waits 9 s for `scontrol` at that import
(bench/README.md). This process imports it once, then for each request forks a child that runs
`snakemake.cli.main` exactly as the `snakemake` command does, jobs and all. Each child is a fresh copy
of this single-threaded process, so no run sees another's state. (A test that signals a run's
processes starts the `snakemake` command itself: tests/test_faults.py.)

Protocol (tests/conftest.py, `run_snakemake`): one JSON line per request on stdin,
{"args": [...], "stdout": path, "stderr": path}; one JSON line back, {"returncode": n}.
"""

import json
import os
import sys
import traceback

from snakemake import cli


def run_in_child(args, stdout_path, stderr_path):
    """Fork; the child runs Snakemake with its output in the two files. Returns its exit status."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    code = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 1)
        os.dup2(os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), 2)
        cli.main(args)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:  # noqa: BLE001 - reported in the child's stderr, which the test shows
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main():
    for line in sys.stdin:
        request = json.loads(line)
        returncode = run_in_child(request["args"], request["stdout"], request["stderr"])
        print(json.dumps({"returncode": returncode}), flush=True)


if __name__ == "__main__":
    main()
