"""The image behind config.yaml's `container`, as the Snakefile hands it to Snakemake's `container:`.

Snakemake gives Apptainer a URI (docker://, library://, oras://, ...) to pull, and a local image file
(.sif) as it is, relative to the working directory. mribench's default is a .sif built next to the
workflow (README, "Containers"), so relative paths are taken from the workflow's folder: the image is
found whatever --directory says. A missing file is an error naming the key and how to build it, before
any job fails inside Apptainer.
"""

import re
from pathlib import Path

from mribench.config import ConfigError

URI = re.compile(r"^[a-z][a-z0-9+.-]*://")


def workflow_image(container, workflow_dir, apptainer):
    """The `container:` value for Snakemake; `apptainer`: whether jobs run in it
    (--software-deployment-method apptainer), the only case a missing image file is an error."""
    if URI.match(container):
        return container
    image = Path(workflow_dir, container).resolve()
    if apptainer and not image.is_file():
        raise ConfigError(
            f"config key `container`: the image file {image} does not exist. Build it with `make image` "
            "and `apptainer build mribench_<version>.sif containers/apptainer.def` in the repository "
            "(README, Containers), or set `--config container=docker://<your registry>/mribench:<version>`"
        )
    return str(image)
