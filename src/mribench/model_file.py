"""A model.keras as a file: the metadata mribench's training writes into the archive, read and checked
without Keras, so that `mribench predict` refuses a file that is not a model of mribench's before it
imports Keras and its backend (about 6 s of CPU)."""

import json
import zipfile
from pathlib import Path

METADATA_ENTRY = "mribench.json"


class ModelMetadataError(ValueError):
    pass


def read_metadata(path):
    """What the model was trained as: base, strategy, seed, classes, image size, preprocessing."""
    with zipfile.ZipFile(path) as archive:
        if METADATA_ENTRY not in archive.namelist():
            raise ModelMetadataError(
                f"{path} has no mribench metadata ({METADATA_ENTRY}): it was not saved by mribench's training"
            )
        return json.loads(archive.read(METADATA_ENTRY))


def check_model_file(path, **expected):
    """The metadata of the model.keras at `path`, refused (ModelMetadataError) unless the file is a
    Keras archive mribench's training saved, trained as `expected` (metadata keys and their values)."""
    path = Path(path)
    if not path.is_file():
        raise ModelMetadataError(
            f"{path}: no such model file (expected results/runs/<target>/seed<N>/model.keras)"
        )
    if not zipfile.is_zipfile(path):
        raise ModelMetadataError(f"{path} is not a Keras 3 .keras archive; mribench needs its model.keras")
    metadata = read_metadata(path)
    wrong = {key: (metadata.get(key), value) for key, value in expected.items() if metadata.get(key) != value}
    if wrong:
        details = "; ".join(
            f"{key} is {found!r}, expected {value!r}" for key, (found, value) in wrong.items()
        )
        raise ModelMetadataError(
            f"{path} does not belong here: {details}. Delete it and let the workflow retrain it."
        )
    return metadata
