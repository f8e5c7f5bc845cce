"""The transfer-learning model of the study, written as in the keras.io transfer-learning guide."""

import json
import os
import zipfile
from pathlib import Path

import keras
from keras import layers

from mribench import pipeline, registry
from mribench.batch_norm import BatchMoments, batch_norm_layers
from mribench.model_file import METADATA_ENTRY, ModelMetadataError, check_model_file


@keras.saving.register_keras_serializable(package="mribench")
class Preprocess(layers.Layer):
    """The base's own preprocess_input as a named layer, so model.keras takes 0-255 RGB images
    and loads with safe_mode=True (a Lambda layer would not)."""

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        self.base = base

    def call(self, images):
        return registry.preprocess_input(self.base, images)

    def get_config(self):
        return {**super().get_config(), "base": self.base}


@keras.saving.register_keras_serializable(package="mribench")
class Augmentation(layers.Layer):
    """mribench's one-pass augmentation inside the model, for training on a GPU, where it runs on
    the device; it passes images through unchanged at inference."""

    def __init__(self, settings, seed, **kwargs):
        super().__init__(**kwargs)
        self.settings = dict(settings)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images_batch, training=None):
        if not training:
            return images_batch
        draws = keras.random.uniform(
            (keras.ops.shape(images_batch)[0], 6), -1.0, 1.0, seed=self.seed_generator
        )
        return pipeline.augment(images_batch, draws, self.settings)

    def get_config(self):
        return {**super().get_config(), "settings": self.settings, "seed": self.seed}


def build_model(
    base_name,
    n_classes,
    image_size,
    weights,
    dense_units=256,
    dropout=0.5,
    augmentation=None,
    from_scratch=False,
):
    """A frozen pretrained base under a new classification head (feature extraction).

    `augmentation` (settings and seed) puts the training-time augmentation inside the model.
    `from_scratch`: the control of transfer-learning studies instead, the same architecture with
    every layer trained and the base's BatchNormalization in training mode (give weights None).
    """
    base = registry.build_base(base_name, image_size, weights)
    base.trainable = from_scratch

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = inputs
    if augmentation is not None:
        x = Augmentation(augmentation["settings"], augmentation["seed"], name="augmentation")(x)
    x = Preprocess(base_name, name="preprocess")(x)
    # training=False keeps the base's BatchNormalization in inference mode, also when unfrozen later;
    # from scratch there are no pretrained statistics to keep: it follows the training flag.
    x = base(x) if from_scratch else base(x, training=False)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(dense_units, activation="relu", name="dense")(x)
    x = layers.BatchNormalization(name="batch_norm")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    # float32 probabilities also under mixed precision
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=f"{base_name}_classifier")


def calibrate_batch_norm(model, images):
    """Estimate the base's BatchNormalization statistics from `images` (AdaBN).

    Only for bases without pretrained weights: their BatchNormalization layers hold the initial
    statistics (mean 0, variance 1), and called in inference mode, as the recipe calls the base,
    they let the features of a deep random base vanish, so nothing could be learned on top.
    """
    base = model.get_layer("base")
    base.trainable = True  # a frozen BatchNormalization layer would ignore training=True
    moments = BatchMoments([model.get_layer("preprocess"), base], batch_norm_layers(base))
    moments.set_population_statistics(pipeline.EvaluationBatches(images, batch_size=len(images)))
    base.trainable = False


def unfreeze_top_layers(model, n_layers):
    """Let the last `n_layers` of the base train (fine-tuning); BatchNormalization stays frozen."""
    base = model.get_layer("base")
    if n_layers > len(base.layers):
        raise ValueError(
            f"unfreeze_layers is {n_layers}, but the base {model.name} has only {len(base.layers)} layers"
        )
    base.trainable = True
    for layer in base.layers[:-n_layers]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False


def save_model(model, path, metadata):
    """Save model.keras with mribench's metadata inside the archive, where Keras ignores it.

    Saving goes to a temporary file that is renamed at the end, so a failed save (a full disk)
    never leaves a valid-looking model.keras behind.
    """
    partial = Path(path).with_name(f".{Path(path).name}.partial.keras")
    try:
        model.save(partial)
        with zipfile.ZipFile(partial, "a") as archive:
            archive.writestr(METADATA_ENTRY, json.dumps(metadata, indent=2))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_checked_model(path, target=None, classes=None):
    """The model.keras at `path` and its mribench metadata, refused (ModelMetadataError) unless it is
    an mribench model.keras whose network matches its metadata, trained as `target` (a
    targets.Target) on `classes`, where given. Loaded in Keras' safe mode: no code in the file runs."""
    expected = (target.as_metadata() if target else {}) | ({"classes": list(classes)} if classes else {})
    metadata = check_model_file(path, **expected)
    # Not compiled: scoring needs no optimizer, and fine-tuning compiles its own (loading ResNet50V2's
    # model.keras took 3.4 s compiled, 2.5 s not; bench/README.md, "The demo's budget").
    model = keras.models.load_model(path, safe_mode=True, compile=False)
    size, n_classes = metadata["image_size"], len(metadata["classes"])
    if tuple(model.input_shape[1:]) != (size, size, 3) or model.output_shape[-1] != n_classes:
        raise ModelMetadataError(
            f"{path}: its metadata says {size}x{size} RGB input and {n_classes} classes, but the network "
            f"takes {model.input_shape[1:]} and gives {model.output_shape[-1]} outputs; "
            "the file was altered; retrain it with the workflow."
        )
    return model, metadata
