"""What can be checked of the container and conda definitions without a container engine or conda.

The image itself is built and run by .ci/container-test (called by .ci/run): the lock check, the tiny
workflow as a non-root user on a mounted folder, and `mribench predict`.
"""

import re
import subprocess
import tomllib

import pytest
import yaml
from conftest import REPO, run_snakemake

from mribench import lockfile
from mribench.config import ConfigError
from mribench.container import workflow_image

DOCKERFILE = REPO / "containers/Dockerfile"
VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def lock_pins():
    return lockfile.read_pins(REPO / "requirements.lock")


def dockerfile_instructions(keyword):
    """Arguments of every `keyword` instruction, continuation lines joined, runs of spaces made one."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [" ".join(line.split()[1:]) for line in text.splitlines() if line.startswith(keyword + " ")]


def test_dockerfile_base_is_a_build_argument_defaulting_to_the_locked_tensorflow_gpu_image():
    lines = [line for line in DOCKERFILE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines[0] == f"ARG BASE_IMAGE=tensorflow/tensorflow:{lock_pins()['tensorflow-cpu']}-gpu"
    assert lines[1] == "FROM ${BASE_IMAGE}"
    assert dockerfile_instructions("FROM") == ["${BASE_IMAGE}"]  # one stage: the same steps on any base


def test_dockerfile_keeps_a_base_tensorflow_and_checks_the_lock():
    install = " && ".join(dockerfile_instructions("RUN"))
    # A base with TensorFlow (the GPU image's CUDA build) gets the lock without the CPU build.
    assert "if python3 -m pip show --quiet tensorflow" in install
    assert "grep -v '^tensorflow_cpu==' requirements.lock > /tmp/requirements.txt" in install
    assert "else cp requirements.lock /tmp/requirements.txt" in install
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert [line for line in lock if line.startswith("tensorflow_cpu==")] == ["tensorflow_cpu==2.21.0"]
    assert install.index("pip install -r /tmp/requirements.txt") < install.index("pip install --no-deps .")
    assert install.index("pip install --no-deps .") < install.index("-m mribench.lockfile requirements.lock")


def test_every_path_the_dockerfile_copies_exists():
    for copy in dockerfile_instructions("COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert (REPO / source).exists(), f"containers/Dockerfile copies {source}, which does not exist"


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else():
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") - 1].startswith("#")  # everything is left out first...
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    copied = {source.rstrip("/") for copy in dockerfile_instructions("COPY") for source in copy.split()[:-1]}
    assert copied == allowed  # ...then exactly what COPY takes is let in


def test_make_image_tags_the_version_and_writes_the_archive_apptainer_builds_from():
    dry_run = subprocess.run(
        ["make", "-n", "image", "ENGINE=podman", "BASE_IMAGE=localhost/base:1"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    commands = " ".join(dry_run.replace("\\\n", " ").split())
    build = "podman build --build-arg BASE_IMAGE=localhost/base:1 -f containers/Dockerfile"
    assert f"{build} -t mribench:{VERSION} ." in commands
    assert f"podman save -o mribench_{VERSION}.tar mribench:{VERSION}" in commands
    definition = (REPO / "containers/apptainer.def").read_text()
    assert f"Bootstrap: docker-archive\nFrom: mribench_{VERSION}.tar\n" in definition
    assert f"apptainer build mribench_{VERSION}.sif containers/apptainer.def" in definition


def test_default_container_is_the_sif_apptainer_builds_from_make_image():
    container = yaml.safe_load((REPO / "config.yaml").read_text())["container"]
    assert container == f"mribench_{VERSION}.sif"
    assert workflow_image(container, REPO, apptainer=False) == str(REPO / container)


def test_container_uri_is_handed_to_snakemake_as_given(tmp_path):
    uri = f"docker://registry.example.org/group/mribench:{VERSION}"
    assert workflow_image(uri, tmp_path, apptainer=True) == uri


def test_missing_image_file_is_named_with_how_to_build_it(tmp_path):
    with pytest.raises(ConfigError, match=r"config key `container`: the image file .*/images/x.sif does not"):
        workflow_image("images/x.sif", tmp_path, apptainer=True)
    (tmp_path / "images").mkdir()
    (tmp_path / "images/x.sif").write_bytes(b"")
    assert workflow_image("images/x.sif", tmp_path, apptainer=True) == str(tmp_path / "images/x.sif")


def test_snakemake_with_apptainer_refuses_a_missing_image_before_any_job(tmp_path):
    missing = "no-such-folder/mribench.sif"  # not the default: a developer may have built that one
    apptainer = ["--software-deployment-method", "apptainer"]
    result = run_snakemake(tmp_path, "--dry-run", *apptainer, "--config", f"container={missing}", check=False)
    assert result.returncode != 0
    message = (
        f"config key `container`: the image file {REPO / missing} does not exist. Build it with `make image`"
    )
    assert message in result.stdout + result.stderr


def test_lock_check_passes_here_and_names_every_drift(tmp_path, capsys):
    assert lockfile.main([str(REPO / "requirements.lock")]) == 0  # .venv is made from the lock
    drifted = tmp_path / "requirements.lock"
    lock = (REPO / "requirements.lock").read_text()
    drifted.write_text(
        lock.replace("keras==", "keras==0.0.1\n# was keras==") + "not-installed-anywhere==1.0\n"
    )
    assert lockfile.main([str(drifted)]) == 1
    errors = capsys.readouterr().err
    assert f"{drifted}: keras {lock_pins()['keras']} is installed, the lock pins 0.0.1" in errors
    assert f"{drifted}: not-installed-anywhere==1.0 is not installed" in errors


@pytest.mark.parametrize(
    "installed, exact, problems",
    [
        ({"keras": "3.15.1", "tensorflow-cpu": "2.21.0"}, False, []),
        # The CUDA build the official GPU image brings stands in for the lock's CPU build...
        ({"keras": "3.15.1", "tensorflow": "2.21.0"}, False, []),
        # ...at the locked version only, and never next to it.
        (
            {"keras": "3.15.1", "tensorflow": "2.20.0"},
            False,
            ["tensorflow 2.20.0 is installed, the lock pins 2.21.0"],
        ),
        (
            {"keras": "3.15.1", "tensorflow": "2.21.0", "tensorflow-cpu": "2.21.0"},
            False,
            ["both tensorflow-cpu and tensorflow are installed: uninstall one"],
        ),
        ({"tensorflow-cpu": "2.21.0"}, False, ["keras==3.15.1 is not installed"]),
        ({"keras": "3.15.1", "tensorflow-cpu": "2.21.0", "pip": "25.0", "mribench": "0.1.0"}, True, []),
        (
            {"keras": "3.15.1", "tensorflow-cpu": "2.21.0", "nvidia-cudnn-cu12": "9.0"},
            True,
            ["nvidia-cudnn-cu12 9.0 is installed but not in the lock"],
        ),
    ],
)
def test_lock_mismatches(installed, exact, problems):
    pins = {"keras": "3.15.1", "tensorflow-cpu": "2.21.0"}
    assert lockfile.mismatches(pins, installed, exact=exact) == problems


def test_lock_pins_are_normalised_and_anything_else_is_refused(tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# pins\nJinja2==3.1.6\njax[cpu]==0.8.0\n\ntensorflow_cpu==2.21.0  # CPU build\n")
    assert lockfile.read_pins(lock) == {"jinja2": "3.1.6", "jax": "0.8.0", "tensorflow-cpu": "2.21.0"}
    lock.write_text("keras==3.15.1\nnumpy>=2\n")
    with pytest.raises(ValueError, match=rf"{lock}:2: 'numpy>=2' is not a pin \(name==version\)"):
        lockfile.read_pins(lock)


def test_conda_envs_pin_what_the_lock_file_pins():
    pins = lock_pins()
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
        for requirement in pip:
            name, version = requirement.split("==")
            # GPU nodes get the CUDA build of the locked tensorflow-cpu version.
            name = lockfile.normalise(name)
            locked = pins["tensorflow-cpu"] if name == "tensorflow" else pins[name]
            assert version == locked, f"{env_file.name}: {requirement}, but requirements.lock has {locked}"


def test_every_rule_that_runs_a_script_has_a_conda_env():
    for rules in sorted((REPO / "rules").glob("*.smk")):
        for rule in re.split(r"\n(?=rule )", rules.read_text()):
            if "    script:" in rule:
                env = re.search(r'    conda:\n\s+"\.\./(envs/[^"]+)"', rule)
                assert env and (REPO / env.group(1)).is_file(), f"{rules.name}: {rule.splitlines()[0]}"
