"""The pretrained bases mribench can compare.

Adding a base is one entry in ``BASES`` plus an entry under ``models:`` in the config. The
registry names Keras objects by string so that the workflow can validate a config without
importing TensorFlow.
"""

import importlib
from dataclasses import dataclass

KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications"
# The ImageNet statistics of torch-style normalisation, (x / 255 - mean) / std per RGB channel
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Base:
    module: str  # submodule of keras.applications that holds the application and its preprocess_input
    constructor: str  # the application's name in keras.applications
    # The layer Grad-CAM looks at; None: the base's output layer (ConvNeXt's final
    # LayerNormalization, which Keras leaves unnamed, so that its name varies)
    last_conv_layer: str | None
    n_layers: int  # len(base.layers) without the top, so the config check needs no TensorFlow
    # The ImageNet no-top weights file the Keras application itself downloads (same URL and hash,
    # md5 or sha256 as Keras gives it; Keras checks no hash for MobileNetV2), fetched once on a
    # machine with internet.
    weights_url: str
    weights_hash: str | None
    # True where the application normalises 0-255 RGB input with layers of its own (EfficientNet,
    # and ConvNeXt and EfficientNetV2 with include_preprocessing, their default), whose
    # preprocess_input is a pass-through: mribench then adds no normalisation of its own, so that
    # images are normalised once. False: mribench applies the module's preprocess_input.
    normalises_its_input: bool = False
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
        normalises_its_input=True,
    ),
    # Keras leaves ConvNeXt's last layer unnamed: Grad-CAM looks at the base's output (last stage,
    # layer-normalised). Its weights hash is a sha256.
    "convnexttiny": Base(
        "convnext",
        "ConvNeXtTiny",
        None,
        133,
        f"{KERAS_WEIGHTS}/convnext/convnext_tiny_notop.h5",
        "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1",
        normalises_its_input=True,
    ),
    "efficientnetv2b0": Base(
        "efficientnet_v2",
        "EfficientNetV2B0",
        "top_activation",
        270,
        f"{KERAS_WEIGHTS}/efficientnet_v2/efficientnetv2-b0_notop.h5",
        "893217f2bb855e2983157299931e43ff",
        normalises_its_input=True,
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
    """The base's ImageNet normalisation of 0-255 RGB images where mribench applies it (its module's
    preprocess_input); the images unchanged where the base normalises its input itself."""
    base = get_base(name)
    if base.normalises_its_input:
        return images
    module = importlib.import_module(f"keras.applications.{base.module}")
    return module.preprocess_input(images)


def preprocessing(name):
    """Where the base's input is normalised, in words (model metadata and model card)."""
    base = get_base(name)
    if base.normalises_its_input:
        return f"the normalisation layers of keras.applications.{base.constructor} (inside the model)"
    return f"keras.applications.{base.module}.preprocess_input (inside the model)"


def build_base(name, image_size, weights):
    """The base without its classifier, as layer "base"; `weights` is None or a weights file path.

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
        # Under the application's own name: EfficientNetV2 looks up its architecture by it.
        base = application(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
    except ValueError as error:
        if weights in (None, "imagenet"):
            raise
        raise ValueError(
            f"weights file {weights} does not fit model {name}: {error}\n"
            f"Give the weights of keras.applications.{constructor} without its top "
            f"(include_top=False), or set model_settings.{name}.weights to imagenet or none."
        ) from None
    base.name = "base"
    set_imagenet_statistics(base)
    return base


def set_imagenet_statistics(base):
    """Give EfficientNet's (V1) input normalisation ImageNet's statistics.

    Its Normalization layer keeps them as weights: mean 0 and variance 1 without pretrained
    weights, and in Keras' ImageNet file the standard deviations stored as the variances, which
    Keras offsets with an extra Rescaling layer only when it downloads the file itself
    (weights="imagenet"; tensorflow/tensorflow#49930). Loaded from the fetched file, as mribench
    loads it, the base would divide by the square root of the standard deviation. Other bases'
    Normalization layers hold their statistics as constants (input_mean), and are left as they are.
    """
    import keras

    for layer in base.layers:
        if isinstance(layer, keras.layers.Normalization) and layer.input_mean is None:
            layer.adapt_mean.assign(IMAGENET_MEAN_RGB)
            layer.adapt_variance.assign([std**2 for std in IMAGENET_STD_RGB])
            layer.finalize_state()


def grad_cam_layer(base, name):
    """The layer of a built base (layer "base" of a model) that Grad-CAM looks at."""
    layer_name = get_base(name).last_conv_layer
    return base.get_layer(layer_name) if layer_name else base.layers[-1]
