"""ImageNet weights for offline compute nodes: fetched once by fetch_weights, then loaded from the file.

No internet here, so the download is tested up to the network boundary, and the offline path with a
weights file in the very format Keras downloads (legacy HDF5), made from a randomly initialised base.
"""

import dataclasses
import hashlib
import importlib
import inspect

import pytest
from conftest import (
    NO_GRID,
    TINY,
    assert_same_weights,
    imagenet_weights_standin,
    planned_jobs,
    run_snakemake,
    write_yaml,
)

from mribench import registry
from mribench.model import build_model
from mribench.weights import WeightsDownloadError, fetch_imagenet_weights

MOBILENET_224 = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def test_weights_file_names_are_the_ones_keras_downloads():
    assert registry.imagenet_weights_file("mobilenetv2", 32) == MOBILENET_224
    assert registry.imagenet_weights_file("mobilenetv2", 160).endswith("_1.0_160_no_top.h5")
    assert registry.imagenet_weights_file("vgg16", 224) == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert registry.imagenet_weights_url("resnet50v2", 224).startswith("https://storage.googleapis.com/")


@pytest.mark.parametrize(
    "name, weights_name",
    [("efficientnetb0", "b0"), ("convnexttiny", "convnext_tiny"), ("efficientnetv2b0", "b0")],
)
def test_url_and_hash_are_the_ones_in_keras_own_source(name, weights_name):
    """Keras names the no-top file after the application's default name and checks its hash
    (WEIGHTS_HASHES: the full model's, then the no-top one's; md5 or sha256)."""
    base = registry.get_base(name)
    source = importlib.import_module(f"keras.src.applications.{base.module}")
    application = getattr(source, base.constructor)
    file_name = inspect.signature(application).parameters["name"].default + "_notop.h5"
    assert registry.imagenet_weights_url(name, 224) == source.BASE_WEIGHTS_PATH + file_name
    assert registry.imagenet_weights_file(name, 32) == file_name
    assert base.weights_hash == source.WEIGHTS_HASHES[weights_name][1]


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_a_weights_file_in_place_is_checked_with_an_md5_or_a_sha256(tmp_path, monkeypatch, algorithm):
    """A base registered with the hash of the file in place accepts it; with another hash, the file
    is fetched again, which fails (nothing listens at its URL)."""
    target = tmp_path / MOBILENET_224
    imagenet_weights_standin(target, "mobilenetv2", 32, seed=1)
    right = hashlib.new(algorithm, target.read_bytes()).hexdigest()
    wrong = hashlib.new(algorithm, b"other weights").hexdigest()
    mobilenet = registry.get_base("mobilenetv2")
    for name, file_hash in (("hashed", right), ("mismatched", wrong)):
        base = dataclasses.replace(
            mobilenet, weights_url="http://127.0.0.1:9/" + MOBILENET_224, weights_hash=file_hash
        )
        monkeypatch.setitem(registry.BASES, name, base)
    assert fetch_imagenet_weights("hashed", 32, target) == target
    with pytest.raises(WeightsDownloadError, match="mismatched"):
        fetch_imagenet_weights("mismatched", 32, target)


def test_download_without_internet_fails_clearly_and_leaves_nothing(tmp_path):
    target = tmp_path / "weights" / registry.imagenet_weights_file("vgg16", 32)
    with pytest.raises(WeightsDownloadError, match="login node") as error:
        fetch_imagenet_weights("vgg16", 32, target)
    assert registry.imagenet_weights_url("vgg16", 32) in str(error.value)
    assert not target.exists()


def test_a_weights_file_already_in_place_is_checked_not_downloaded(tmp_path):
    target = tmp_path / MOBILENET_224
    imagenet_weights_standin(target, "mobilenetv2", 32, seed=1)
    assert fetch_imagenet_weights("mobilenetv2", 32, target) == target


def test_a_broken_weights_file_is_refused(tmp_path):
    target = tmp_path / MOBILENET_224
    imagenet_weights_standin(target, "vgg16", 32, seed=1)  # another architecture under this name
    with pytest.raises(ValueError):
        fetch_imagenet_weights("mobilenetv2", 32, target)


def test_build_base_never_downloads():
    with pytest.raises(ValueError, match="fetch_weights"):
        registry.build_base("mobilenetv2", 32, "imagenet")


def test_default_config_fetches_each_models_weights_on_the_login_node(tmp_path):
    result = run_snakemake(tmp_path, "-n", "prepare", configfiles=())
    assert planned_jobs(result) == {"obtain_dataset": 1, "fetch_weights": 3, "prepare": 1}


def test_fetch_weights_names_the_modern_bases_files(tmp_path):
    overlay = write_yaml(tmp_path / "modern.yaml", {"models": ["convnexttiny", "efficientnetv2b0"]})
    result = run_snakemake(tmp_path, "-n", "prepare", configfiles=(overlay,))
    assert planned_jobs(result) == {"obtain_dataset": 1, "fetch_weights": 2, "prepare": 1}
    for file in ("convnext_tiny_notop.h5", "efficientnetv2-b0_notop.h5"):
        assert f"resources/weights/{file}" in result.stdout


@pytest.mark.parametrize("name", ["convnexttiny", "efficientnetv2b0"])
def test_a_weights_file_in_the_format_keras_downloads_loads_into_the_modern_bases(tmp_path, name):
    """The offline copy: a file given as model_settings.<model>.weights, made like Keras' own."""
    path = tmp_path / registry.imagenet_weights_file(name, 32)
    source = imagenet_weights_standin(path, name, 32, seed=3)
    model = build_model(name, n_classes=4, image_size=32, weights=str(path))
    assert_same_weights(model.get_layer("base"), source)


def test_training_takes_the_fetched_file_and_nothing_downloads_when_it_is_there(tmp_path):
    """The offline path end to end (real training from the file) is in tests/test_slurm.py."""
    imagenet_weights_standin(tmp_path / "resources/weights" / MOBILENET_224, "mobilenetv2", 32, seed=7)
    overlay = write_yaml(
        tmp_path / "imagenet.yaml",
        {"models": ["mobilenetv2"], "model_settings": {"mobilenetv2": {"weights": "imagenet"}}} | NO_GRID,
    )
    target = "results/runs/mobilenetv2_feature_extraction/seed42/train.json"
    result = run_snakemake(tmp_path, "-n", target, configfiles=(TINY, overlay))
    assert planned_jobs(result) == {"obtain_dataset": 1, "audit": 1, "split_dataset": 1, "train": 1}
    assert f"resources/weights/{MOBILENET_224}" in result.stdout.split("rule train:")[1].split("output:")[0]
