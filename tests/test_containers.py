"""What can be checked of the container and conda definitions without a container engine or conda."""

import re

import yaml
from conftest import REPO

DOCKERFILE = REPO / "containers/Dockerfile"


def lock_pins():
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        name, version = line.split("==")
        pins[normalise(name)] = version
    return pins


def normalise(name):
    """PyPI's name normalisation, without extras: Jinja2 == jinja2, tensorflow_cpu == tensorflow-cpu."""
    return re.sub(r"[-_.]+", "-", name.split("[")[0]).lower()


def dockerfile_instructions(keyword):
    """Arguments of every `keyword` instruction, continuation lines joined."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in text.splitlines() if line.startswith(keyword + " ")]


def test_dockerfile_base_is_the_locked_tensorflow_gpu_image():
    (base,) = dockerfile_instructions("FROM")
    assert base == f"tensorflow/tensorflow:{lock_pins()['tensorflow-cpu']}-gpu"


def test_dockerfile_installs_the_lock_file_except_the_cpu_tensorflow():
    (install,) = [run for run in dockerfile_instructions("RUN") if "requirements" in run]
    assert "grep -v '^tensorflow_cpu==' requirements.lock" in install
    lock = (REPO / "requirements.lock").read_text().splitlines()
    assert len([line for line in lock if line.startswith("tensorflow")]) == 1  # only the CPU build goes
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in install
    assert "pip install --no-cache-dir --no-deps ." in install


def test_every_path_the_dockerfile_copies_exists():
    for copy in dockerfile_instructions("COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert (REPO / source).exists(), f"containers/Dockerfile copies {source}, which does not exist"


def test_apptainer_image_is_built_from_the_configured_docker_image():
    definition = (REPO / "containers/apptainer.def").read_text()
    container = yaml.safe_load((REPO / "config.yaml").read_text())["container"]
    assert f"From: {container.removeprefix('docker://')}" in definition


def test_conda_envs_pin_what_the_lock_file_pins():
    pins = lock_pins()
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
        for requirement in pip:
            name, version = requirement.split("==")
            # GPU nodes get the CUDA build of the locked tensorflow-cpu version.
            locked = pins["tensorflow-cpu"] if normalise(name) == "tensorflow" else pins[normalise(name)]
            assert version == locked, f"{env_file.name}: {requirement}, but requirements.lock has {locked}"


def test_every_rule_that_runs_a_script_has_a_conda_env():
    for rules in sorted((REPO / "rules").glob("*.smk")):
        for rule in re.split(r"\n(?=rule )", rules.read_text()):
            if "    script:" in rule:
                env = re.search(r'    conda:\n\s+"\.\./(envs/[^"]+)"', rule)
                assert env and (REPO / env.group(1)).is_file(), f"{rules.name}: {rule.splitlines()[0]}"
