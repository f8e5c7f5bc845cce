"""The model registry and builder: which layers train in each strategy, and where weights come from."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest
import yaml
from keras.applications import imagenet_utils
from keras.src.legacy.saving import legacy_h5_format

from mribench import registry
from mribench.model import build_model, calibrate_batch_norm, unfreeze_top_layers

SIZE = 32
CONFIG = Path(__file__).parents[1] / "config.yaml"


@pytest.mark.parametrize("name", ["vgg16", "resnet50v2", "mobilenetv2", "convnexttiny", "efficientnetv2b0"])
def test_feature_extraction_trains_only_the_head(name):
    model = build_model(name, n_classes=4, image_size=SIZE, weights=None)
    assert model.get_layer("base").trainable_weights == []
    head = {w.path.split("/")[0] for w in model.trainable_weights}
    assert head == {"dense", "batch_norm", "predictions"}
    assert model.output_shape == (None, 4)


# The default config's unfreeze_layers: ConvNeXtTiny's last stage (with its downsampling and the
# final LayerNormalization), EfficientNetV2B0's last two blocks and its top convolution
@pytest.mark.parametrize(
    "name,n_layers", [("vgg16", 4), ("mobilenetv2", 30), ("convnexttiny", 23), ("efficientnetv2b0", 33)]
)
def test_fine_tuning_trains_the_last_layers_of_the_base_but_not_batch_norm(name, n_layers):
    model = build_model(name, n_classes=4, image_size=SIZE, weights=None)
    unfreeze_top_layers(model, n_layers)
    base = model.get_layer("base")
    for i, layer in enumerate(base.layers):
        in_top = i >= len(base.layers) - n_layers
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        # LayerNormalization (ConvNeXt) has no batch statistics to keep: it trains with its block
        expected = bool(layer.weights) and in_top and not is_batch_norm
        assert bool(layer.trainable_weights) == expected, layer.name
    assert any(isinstance(layer, keras.layers.Dense) and layer.trainable for layer in model.layers)


def test_the_default_fine_tuning_depths_start_at_a_stage_or_block_boundary():
    """unfreeze_layers counts layers from the top; the defaults cut where a stage or block begins."""
    first_trained = {
        "convnexttiny": "convnext_tiny_downsampling_block_2",
        "efficientnetv2b0": "block6g_expand_conv",
    }
    settings = yaml.safe_load(CONFIG.read_text())["model_settings"]
    for name, layer_name in first_trained.items():
        layers = registry.build_base(name, SIZE, None).layers
        assert layers[-settings[name]["unfreeze_layers"]].name == layer_name, name


def test_unfreezing_more_layers_than_the_base_has_is_refused():
    model = build_model("vgg16", n_classes=4, image_size=SIZE, weights=None)
    with pytest.raises(
        ValueError, match="unfreeze_layers is 50, but the base vgg16_classifier has only 19 layers"
    ):
        unfreeze_top_layers(model, 50)


def test_unknown_model_names_the_registry():
    with pytest.raises(KeyError, match="unknown model 'alexnet'.*vgg16.*registry.py"):
        registry.get_base("alexnet")


def test_every_registered_base_builds_with_its_grad_cam_layer():
    for name in registry.BASES:
        built = registry.build_base(name, SIZE, None)
        assert built.name == "base", name
        assert len(registry.grad_cam_layer(built, name).output.shape) == 4, name  # a feature map


# How each base's ImageNet weights expect 0-255 input normalised, in the modes of Keras'
# imagenet_utils: stated here independently of the registry, for every registered base.
IMAGENET_NORMALISATION = {
    "vgg16": "caffe",
    "resnet50v2": "tf",
    "mobilenetv2": "tf",
    "efficientnetb0": "torch",
    "convnexttiny": "torch",
    "efficientnetv2b0": "torch",
}


def image_at_first_convolution(model, images):
    """What the base's first convolution (or the padding in front of it) gets from 0-255 images."""
    base = model.get_layer("base")
    entry = (keras.layers.Conv2D, keras.layers.ZeroPadding2D, keras.Sequential)
    first = next(layer for layer in base.layers if isinstance(layer, entry))
    seen = keras.Model(base.inputs, first.input)(model.get_layer("preprocess")(images))
    return keras.ops.convert_to_numpy(seen)


@pytest.mark.parametrize("name", list(registry.BASES))
def test_images_are_normalised_exactly_once_as_the_imagenet_weights_expect(name):
    """Normalised twice (mribench's preprocess_input and the base's own layers), or not at all,
    the image the first convolution sees would differ from the one the weights were trained on."""
    assert set(IMAGENET_NORMALISATION) == set(registry.BASES), "state the new base's normalisation"
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    model = build_model(name, n_classes=4, image_size=SIZE, weights=None)
    expected = imagenet_utils.preprocess_input(images.copy(), mode=IMAGENET_NORMALISATION[name])
    np.testing.assert_allclose(image_at_first_convolution(model, images), expected, rtol=1e-4, atol=1e-4)


def test_efficientnet_from_keras_imagenet_file_is_normalised_once(tmp_path):
    """Keras' EfficientNet (V1) ImageNet file holds the standard deviations as the variances of
    its Normalization layer (tensorflow/tensorflow#49930); loaded from the file, the model must
    still normalise as Keras' ImageNet model does."""
    source = registry.build_base("efficientnetb0", SIZE, None)
    normalization = next(layer for layer in source.layers if isinstance(layer, keras.layers.Normalization))
    normalization.adapt_variance.assign(registry.IMAGENET_STD_RGB)  # as Keras' file has it
    path = tmp_path / registry.imagenet_weights_file("efficientnetb0", SIZE)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    model = build_model("efficientnetb0", n_classes=4, image_size=SIZE, weights=str(path))
    images = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    expected = imagenet_utils.preprocess_input(images.copy(), mode="torch")
    np.testing.assert_allclose(image_at_first_convolution(model, images), expected, rtol=1e-4, atol=1e-4)


def test_the_metadata_names_where_the_input_is_normalised():
    assert registry.preprocessing("vgg16") == "keras.applications.vgg16.preprocess_input (inside the model)"
    assert registry.preprocessing("convnexttiny") == (
        "the normalisation layers of keras.applications.ConvNeXtTiny (inside the model)"
    )


def test_preprocessing_is_the_bases_own():
    images = np.full((1, SIZE, SIZE, 3), 255.0, dtype="float32")
    mobilenet = keras.ops.convert_to_numpy(registry.preprocess_input("mobilenetv2", images.copy()))
    np.testing.assert_allclose(mobilenet, 1.0)  # "tf" mode: scaled to [-1, 1]
    vgg = keras.ops.convert_to_numpy(registry.preprocess_input("vgg16", images.copy()))
    np.testing.assert_allclose(
        vgg[0, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-5
    )  # "caffe"


@pytest.mark.backends
@pytest.mark.parametrize("suffix", [".weights.h5", ".h5"])
def test_weights_from_a_local_file(tmp_path, suffix):
    """A Keras 3 .weights.h5 file, or a legacy full-model .h5, given as the weights path."""
    source = registry.build_base("mobilenetv2", SIZE, None)
    path = tmp_path / f"mobilenetv2{suffix}"
    if suffix == ".h5":
        source.save(path)  # the legacy HDF5 full-model format
    else:
        source.save_weights(path)
    model = build_model("mobilenetv2", n_classes=4, image_size=SIZE, weights=str(path))
    for loaded, saved in zip(model.get_layer("base").weights, source.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(saved))


def test_imagenet_weights_come_offline_from_the_keras_cache(tmp_path):
    """With the file Keras would download already under $KERAS_HOME/models, fetching needs no network."""
    keras_home = tmp_path / "keras"
    (keras_home / "models").mkdir(parents=True)
    script = textwrap.dedent(f"""
        import numpy as np
        from mribench import registry
        from mribench.model import build_model
        from mribench.weights import fetch_imagenet_weights

        source = registry.build_base("mobilenetv2", {SIZE}, None)
        source.save(r"{keras_home}/models/" + registry.imagenet_weights_file("mobilenetv2", {SIZE}))
        fetched = fetch_imagenet_weights("mobilenetv2", {SIZE}, r"{tmp_path}/resources/weights.h5")
        model = build_model("mobilenetv2", n_classes=4, image_size={SIZE}, weights=str(fetched))
        loaded = model.get_layer("base").get_layer("Conv1").get_weights()[0]
        assert np.array_equal(loaded, source.get_layer("Conv1").get_weights()[0])
        print("loaded from cache")
        """)
    proxy = "http://127.0.0.1:9"  # nothing listens there: any download attempt fails at once
    env = os.environ | {"KERAS_HOME": str(keras_home), "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded from cache" in result.stdout


@pytest.mark.backends
def test_batch_norm_calibration_gives_a_random_base_usable_features():
    """Without pretrained weights a deep base's features vanish until its BatchNorm statistics are set."""
    keras.utils.set_random_seed(0)
    images = np.random.default_rng(0).uniform(0, 255, (16, SIZE, SIZE, 3)).astype("float32")
    model = build_model("mobilenetv2", n_classes=4, image_size=SIZE, weights=None)

    def feature_spread():
        features = model.get_layer("base")(model.get_layer("preprocess")(images), training=False)
        return float(
            keras.ops.convert_to_numpy(keras.ops.std(keras.ops.mean(features, axis=(1, 2)), axis=0)).mean()
        )

    assert feature_spread() < 1e-6
    calibrate_batch_norm(model, images)
    assert feature_spread() > 1e-2
    assert model.get_layer("base").trainable_weights == []  # still frozen
