"""ImageNet weights fetched once, where there is internet, so that training never downloads.

GPU nodes on HPC sites usually have no internet. The fetch_weights rule runs on the login node and
puts each base's no-top weights file (the very file Keras' application would download) under
resources/weights/; training jobs then pass that file to the application as a path.
"""

import shutil
from pathlib import Path

from mribench import registry


class WeightsDownloadError(RuntimeError):
    pass


def fetch_imagenet_weights(name, image_size, out_path):
    """Download the base's ImageNet no-top weights to `out_path` and check that they load."""
    import keras

    out_path = Path(out_path)
    url = registry.imagenet_weights_url(name, image_size)
    expected_hash = registry.get_base(name).weights_hash
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # A file already in place is checked, not downloaded; otherwise Keras' own cache
    # ($KERAS_HOME/models) is looked in first, so a file already there needs no internet either.
    in_place = out_path.is_file()
    try:
        fetched = keras.utils.get_file(
            out_path.name if in_place else registry.imagenet_weights_file(name, image_size),
            url,
            # md5 or sha256, told apart by length as Keras' applications have it checked
            file_hash=expected_hash,
            hash_algorithm="auto",
            cache_dir=str(out_path.parent.resolve()) if in_place else None,
            cache_subdir="" if in_place else "models",
        )
    except Exception as error:
        raise WeightsDownloadError(
            f"could not download the ImageNet weights of {name} from {url}: {error}. "
            "This needs internet: on a cluster, run it on the login node "
            f"(snakemake --profile profiles/slurm prepare), or copy the file there by hand as {out_path}."
        ) from error
    if not in_place:
        shutil.copyfile(fetched, out_path)
    registry.build_base(name, image_size, str(out_path))
    return out_path
