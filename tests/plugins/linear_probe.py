"""A toy strategy registered from outside mribench, as a user's plugin would (config `plugins:`): a
linear probe, the frozen base's pooled features straight into the softmax, with no hidden layer.

It reads feature extraction's settings section, so it needs no schema change.
"""

from mribench.strategies import Strategy, register


def build_linear_probe(job, data, gpus):
    import keras

    from mribench import registry
    from mribench.model import Preprocess

    size, model_name = job.settings["image_size"], job.target.model
    base = registry.build_base(model_name, size, job.weights)
    base.trainable = False
    inputs = keras.Input(shape=(size, size, 3), name="image")
    x = Preprocess(model_name, name="preprocess")(inputs)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(len(job.settings["classes"]), activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=f"{model_name}_linear_probe"), "pipeline"


register(
    Strategy(
        "linear_probe",
        label="linear probing",
        marker="D",
        build=build_linear_probe,
        base_mode="inference mode",
        section="feature_extraction",
        ignores_training=frozenset({"dense_units", "dropout"}),
        ignores_model=frozenset({"unfreeze_layers"}),
    )
)
