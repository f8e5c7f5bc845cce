"""The pretrained bases mribench can compare.

Adding a base is one line in ``BASES`` plus an entry under ``models:`` in the config. The
registry names Keras objects by string so that the workflow can validate a config without
importing TensorFlow.
"""

import importlib
from dataclasses import dataclass

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications"


@dataclass(frozen=True)
class Base:
    module: str  # submodule of keras.applications that holds preprocess_input
    constructor: str  # the application's name in keras.applications
    last_conv_layer: str  # the layer Grad-CAM looks at
    n_layers: int  # len(base.layers) without the top, so the config check needs no TensorFlow
    # The ImageNet no-top weights file the Keras application itself downloads (same URL and md5;
    # Keras checks no hash for MobileNetV2), fetched once on a machine with internet.
    weights_url: str
    weights_md5: str | None
    min_image_size: int = 32


BASES = {
    "vgg16": Base(
        "vgg16",
        "VGG16",
        "block5_conv3",
        19,
        f"{KERAS_WEIGHTS}/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "6d6bbae143d832006294945121d1f1fc",
    ),
    "resnet50v2": Base(
        "resnet_v2",
        "ResNet50V2",
        "post_relu",
        190,
        f"{KERAS_WEIGHTS}/resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
        "fac2f116257151a9d068a22e544a4917",
    ),
    # MobileNetV2 has one weights file per training resolution; {rows} is chosen as Keras does.
    "mobilenetv2": Base(
        "mobilenet_v2",
        "MobileNetV2",
        "out_relu",
        154,
        f"{KERAS_WEIGHTS}/mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{{rows}}_no_top.h5",
        None,
    ),
    "efficientnetb0": Base(
        "efficientnet",
        "EfficientNetB0",
        "top_activation",
        237,
        "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5",
        "50bc09e76180e00e4465e1a485ddc09d",
    ),
}
MOBILENET_V2_RESOLUTIONS = (96, 128, 160, 192, 224)


def get_base(name):
    try:
        return BASES[name]
    except KeyError:
        raise KeyError(
            f"unknown model {name!r}; known models: {', '.join(BASES)} "
            "(to add one, add a line to BASES in mribench/registry.py)"
        ) from None


def imagenet_weights_url(name, image_size):
    """Where Keras downloads the base's ImageNet no-top weights for this image size."""
    rows = image_size if image_size in MOBILENET_V2_RESOLUTIONS else 224
    return get_base(name).weights_url.format(rows=rows)


def imagenet_weights_file(name, image_size):
    """The file name Keras gives those weights, also under resources/weights/."""
    return imagenet_weights_url(name, image_size).rsplit("/", 1)[1]


def preprocess_input(name, images):
    """Apply the base's own ImageNet normalisation to 0-255 RGB images."""
    module = importlib.import_module(f"keras.applications.{get_base(name).module}")
    return module.preprocess_input(images)


def build_base(name, image_size, weights):
    """The base without its classifier; `weights` is None or a weights file path.

    Never "imagenet": that would download from the internet, which compute nodes lack;
    fetch_weights downloads the file first (see mribench.weights).
    """
    if weights == "imagenet":
        raise ValueError(
            f"build_base({name!r}) got weights='imagenet'; pass the weights file fetched by the "
            "fetch_weights rule (resources/weights/) so that training never downloads"
        )
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
