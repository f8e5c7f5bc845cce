"""Whether the Python packages installed here are requirements.lock's pins.

A container image runs this at the end of its build, and CI again in the built image, so an image whose
packages drifted from the lock (a base that brings other versions, a pin pip could not honour) fails
loudly instead of producing results that the lock file does not describe:
    python -m mribench.lockfile requirements.lock [--exact]
"""

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

# The lock pins the CPU build of TensorFlow. An image built on the official TensorFlow GPU image keeps
# that image's CUDA build instead, a different distribution of the same version (the two must not be
# installed side by side: they write the same files).
CPU_TENSORFLOW = "tensorflow-cpu"
CUDA_TENSORFLOW = "tensorflow"

# Installed in every Python environment without being anyone's dependency; --exact tolerates them.
PACKAGING_TOOLS = {"pip", "setuptools", "wheel", "mribench"}


def normalise(name):
    """PyPI's name normalisation, without extras: Jinja2 == jinja2, tensorflow_cpu == tensorflow-cpu,
    jax[cpu] == jax."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def read_pins(path):
    """{normalised name: version} of a lock file of `name==version` lines (blank lines and # comments
    allowed); anything else is an error naming the file and line, since pip would read it differently."""
    pins = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, separator, version = line.partition("==")
        if not separator or not name.strip() or not version.strip():
            raise ValueError(f"{path}:{number}: {line!r} is not a pin (name==version)")
        pins[normalise(name.strip())] = version.strip()
    return pins


def installed_versions():
    """{normalised name: version} of the distributions this interpreter imports: where one is installed
    twice (a Debian package and a pip install over it), the first on sys.path, the one imported."""
    versions = {}
    for distribution in metadata.distributions():
        versions.setdefault(normalise(distribution.metadata["Name"]), distribution.version)
    return versions


def mismatches(pins, installed, exact=False):
    """What keeps `installed` from being the lock's `pins`, one sentence each (empty: they match).

    exact: also every installed distribution the lock does not pin, other than PACKAGING_TOOLS."""
    problems = []
    if CPU_TENSORFLOW in installed and CUDA_TENSORFLOW in installed:
        problems.append(f"both {CPU_TENSORFLOW} and {CUDA_TENSORFLOW} are installed: uninstall one")
    expected = dict(pins)
    if CPU_TENSORFLOW in pins and CUDA_TENSORFLOW in installed and CPU_TENSORFLOW not in installed:
        expected[CUDA_TENSORFLOW] = expected.pop(CPU_TENSORFLOW)
    for name, version in sorted(expected.items()):
        found = installed.get(name)
        if found is None:
            problems.append(f"{name}=={version} is not installed")
        elif found != version:
            problems.append(f"{name} {found} is installed, the lock pins {version}")
    if exact:
        unpinned = sorted(set(installed) - set(expected) - PACKAGING_TOOLS)
        problems += [f"{name} {installed[name]} is installed but not in the lock" for name in unpinned]
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m mribench.lockfile", description=__doc__.split("\n")[0])
    parser.add_argument("lock", type=Path, help="the lock file, e.g. requirements.lock")
    parser.add_argument(
        "--exact", action="store_true", help="also fail on installed packages the lock does not pin"
    )
    args = parser.parse_args(argv)
    pins = read_pins(args.lock)
    problems = mismatches(pins, installed_versions(), exact=args.exact)
    for problem in problems:
        print(f"{args.lock}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.lock}: all {len(pins)} pins installed" + (", nothing else" if args.exact else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
