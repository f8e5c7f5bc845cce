"""ImageNet weights for offline compute nodes: fetched once by fetch_weights, then loaded from the file.

No internet here, so the download is tested up to the network boundary, and the offline path with a
weights file in the very format Keras downloads (legacy HDF5), made from a randomly initialised base.
"""

import zipfile

import h5py
import keras
import numpy as np
import pytest
from conftest import TINY, planned_jobs, read_json, run_snakemake, write_yaml
from keras.src.legacy.saving import legacy_h5_format

import mribench.model  # noqa: F401  (registers the Preprocess layer model.keras holds)
from mribench import registry
from mribench.weights import WeightsDownloadError, fetch_imagenet_weights

MOBILENET_224 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def legacy_weights_file(path, name, image_size, seed):
    """A base's weights saved as Keras' downloadable files are: weights-only legacy HDF5."""
    keras.utils.set_random_seed(seed)
    base = registry.build_base(name, image_size, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return base


def test_weights_file_names_are_the_ones_keras_downloads():
    assert registry.imagenet_weights_file("mobilenetv2", 32) == MOBILENET_224
    assert registry.imagenet_weights_file("mobilenetv2", 160).endswith("_1.0_160_no_top.h5")
    assert registry.imagenet_weights_file("vgg16", 224) == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert registry.imagenet_weights_url("resnet50v2", 224).startswith("https://storage.googleapis.com/")


def test_download_without_internet_fails_clearly_and_leaves_nothing(tmp_path):
    target = tmp_path / "weights" / registry.imagenet_weights_file("vgg16", 32)
    with pytest.raises(WeightsDownloadError, match="login node") as error:
        fetch_imagenet_weights("vgg16", 32, target)
    assert registry.imagenet_weights_url("vgg16", 32) in str(error.value)
    assert not target.exists()


def test_a_weights_file_already_in_place_is_checked_not_downloaded(tmp_path):
    target = tmp_path / MOBILENET_224
    legacy_weights_file(target, "mobilenetv2", 32, seed=1)
    assert fetch_imagenet_weights("mobilenetv2", 32, target) == target


def test_a_broken_weights_file_is_refused(tmp_path):
    target = tmp_path / MOBILENET_224
    legacy_weights_file(target, "vgg16", 32, seed=1)  # another architecture under this name
    with pytest.raises(ValueError):
        fetch_imagenet_weights("mobilenetv2", 32, target)


def test_build_base_never_downloads():
    with pytest.raises(ValueError, match="fetch_weights"):
        registry.build_base("mobilenetv2", 32, "imagenet")


def test_default_config_fetches_each_models_weights_on_the_login_node(tmp_path):
    result = run_snakemake(tmp_path, "-n", "prepare", configfiles=())
    assert planned_jobs(result) == {"obtain_dataset": 1, "fetch_weights": 3, "prepare": 1}


def test_training_loads_the_fetched_file_offline(tmp_path):
    """weights: imagenet trains from resources/weights/, the file fetch_weights would have put there."""
    workdir = tmp_path / "run"
    placed = legacy_weights_file(workdir / "resources/weights" / MOBILENET_224, "mobilenetv2", 32, seed=7)
    overlay = write_yaml(
        tmp_path / "imagenet.yaml",
        {"models": ["mobilenetv2"], "model_settings": {"mobilenetv2": {"weights": "imagenet"}}},
    )
    run = "results/runs/mobilenetv2_feature_extraction/seed42"
    run_snakemake(workdir, f"{run}/train.json", configfiles=(TINY, overlay))

    assert not (workdir / "logs/fetch_weights").exists()  # nothing was downloaded
    assert read_json(workdir / run / "train.json")["weights"] == "imagenet"
    with zipfile.ZipFile(workdir / run / "model.keras") as archive:
        assert "mribench.json" in archive.namelist()
    trained = keras.models.load_model(workdir / run / "model.keras", safe_mode=True).get_layer("base")
    # Feature extraction keeps the base frozen: its weights are still exactly the file's.
    for loaded, original in zip(trained.weights, placed.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())
