"""The pretrained bases mribench can compare.

Adding a base is one line in ``BASES`` plus an entry under ``models:`` in the config. The
registry names Keras objects by string so that the workflow can validate a config without
importing TensorFlow.
"""

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Base:
    module: str  # submodule of keras.applications that holds preprocess_input
    constructor: str  # the application's name in keras.applications
    last_conv_layer: str  # the layer Grad-CAM looks at
    n_layers: int  # len(base.layers) without the top, so the config check needs no TensorFlow
    min_image_size: int = 32


BASES = {
    "vgg16": Base("vgg16", "VGG16", "block5_conv3", 19),
    "resnet50v2": Base("resnet_v2", "ResNet50V2", "post_relu", 190),
    "mobilenetv2": Base("mobilenet_v2", "MobileNetV2", "out_relu", 154),
    "efficientnetb0": Base("efficientnet", "EfficientNetB0", "top_activation", 237),
}


def get_base(name):
    try:
        return BASES[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; known models: {', '.join(BASES)} "
            "(to add one, add a line to BASES in mribench/registry.py)"
        ) from None


def preprocess_input(name, images):
    """Apply the base's own ImageNet normalisation to 0-255 RGB images."""
    module = importlib.import_module(f"keras.applications.{get_base(name).module}")
    return module.preprocess_input(images)


def build_base(name, image_size, weights):
    """The base without its classifier; `weights` is "imagenet", None or a weights file path."""
    import keras

    constructor = get_base(name).constructor
    application = getattr(keras.applications, constructor)
    try:
        return application(
            include_top=False,
            weights=weights,
            input_shape=(image_size, image_size, 3),
            name="base",
        )
    except ValueError as error:
        if weights in (None, "imagenet"):
            raise
        raise ValueError(
            f"weights file {weights} does not fit model {name}: {error}\n"
            f"Give the weights of keras.applications.{constructor} without its top "
            f"(include_top=False), or set model_settings.{name}.weights to imagenet or none."
        ) from None
