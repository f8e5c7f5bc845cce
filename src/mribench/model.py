"""The transfer-learning model of the study, written as in the keras.io transfer-learning guide."""

import keras
from keras import layers

from mribench import registry


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


def build_model(base_name, n_classes, image_size, weights, dense_units=256, dropout=0.5):
    """A frozen pretrained base under a new classification head (feature extraction)."""
    base = registry.build_base(base_name, image_size, weights)
    base.trainable = False

    inputs = keras.Input(shape=(image_size, image_size, 3), name="image")
    x = Preprocess(base_name, name="preprocess")(inputs)
    # training=False keeps the base's BatchNormalization in inference mode, also when unfrozen later.
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{base_name}_classifier")


def unfreeze_top_layers(model, n_layers):
    """Let the last `n_layers` of the base train (fine-tuning); BatchNormalization stays frozen."""
    base = model.get_layer("base")
    if n_layers > len(base.layers):
        raise ValueError(f"unfreeze_layers is {n_layers}, but the base {model.name} has only {len(base.layers)} layers")
    base.trainable = True
    for layer in base.layers[:-n_layers]:
        layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
