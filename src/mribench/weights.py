"""ImageNet weights fetched once, where there is internet, so that training never downloads.

GPU nodes on HPC sites usually have no internet. The fetch_weights rule runs on the login node and
puts each base's no-top weights file (the very file Keras' application would download) under
resources/weights/; training jobs then pass that file to the application as a path.
"""

from pathlib import Path

from mribench import registry


class WeightsDownloadError(RuntimeError):
    pass


def fetch_imagenet_weights(name, image_size, out_path):
    """Download the base's ImageNet no-top weights to `out_path` and check that they load."""
    import keras

    out_path = Path(out_path)
    url = registry.imagenet_weights_url(name, image_size)
    md5 = registry.get_base(name).weights_md5
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        keras.utils.get_file(
            out_path.name,
            url,
            file_hash=md5,
            hash_algorithm="md5",
            cache_dir=str(out_path.parent.resolve()),
            cache_subdir="",
        )
    except Exception as error:
        raise WeightsDownloadError(
            f"could not download the ImageNet weights of {name} from {url}: {error}. "
            "This needs internet: on a cluster, run it on the login node "
            f"(snakemake --profile profiles/slurm prepare), or copy the file there by hand as {out_path}."
        ) from error
    registry.build_base(name, image_size, str(out_path))
    return out_path
