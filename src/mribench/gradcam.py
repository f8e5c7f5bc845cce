"""Grad-CAM: which part of the image drove a target's prediction (Selvaraju et al., 2017).

Written as in the keras.io Grad-CAM example, with two differences. mribench's base is a nested model
(layer "base", after the "preprocess" layer), so its last convolutional layer is not reachable from
the outer model's graph: the model is split at that layer into image -> activations and
activations -> probabilities. And the gradient is taken the backend's way (TensorFlow's
GradientTape, or jax.grad), of the second part with respect to its input.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import ops

from mribench import backend, images, plots, registry
from mribench.intensity import model_reference
from mribench.model import load_checked_model


def split_at_last_conv(model, base_name):
    """Two functions: image batch -> last conv activations, and activations -> class probabilities."""
    preprocess = model.get_layer("preprocess")
    base = model.get_layer("base")
    conv = registry.grad_cam_layer(base, base_name).output
    to_conv = keras.Model(base.inputs, conv)
    # The base's layers after the conv layer (none where it is the base's last layer)
    rest_of_base = None if conv is base.output else keras.Model(conv, base.output)
    head = model.layers[model.layers.index(base) + 1 :]

    def image_to_conv(batch):
        return to_conv(preprocess(batch), training=False)

    def conv_to_probabilities(activations):
        x = activations if rest_of_base is None else rest_of_base(activations, training=False)
        for layer in head:
            x = layer(x, training=False)
        return x

    return image_to_conv, conv_to_probabilities


def gradient(function, x):
    """The gradient of sum(function(x)) with respect to x, on the running Keras backend."""
    if backend.current() == "jax":
        import jax

        return jax.grad(lambda value: function(value).sum())(x)
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(function(x))
    return tape.gradient(total, x)


def heatmaps(model, base_name, batch, class_indices):
    """Grad-CAM heatmaps in 0-1 (one per image, at the conv layer's resolution) for the given classes."""
    image_to_conv, conv_to_probabilities = split_at_last_conv(model, base_name)
    conv = image_to_conv(ops.convert_to_tensor(batch, dtype="float32"))
    chosen = ops.convert_to_tensor(np.asarray(class_indices)[:, None], dtype="int32")

    def scores(activations):  # each image's own class: the sum's gradient is each image's gradient
        return ops.take_along_axis(conv_to_probabilities(activations), chosen, axis=1)

    weights = ops.mean(gradient(scores, conv), axis=(1, 2), keepdims=True)
    maps = ops.convert_to_numpy(ops.relu(ops.sum(weights * conv, axis=-1)))
    peaks = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)


def select_images(predictions, classes, per_class, seed):
    """A fixed, seeded choice per true class of up to `per_class` correct and `per_class` wrong images."""
    rng = np.random.default_rng(seed)
    chosen = []
    for name in classes:
        rows = predictions[predictions.true == name]
        for correct in (True, False):
            group = rows[(rows.true == rows.predicted) == correct]
            take = rng.choice(len(group), size=min(per_class, len(group)), replace=False)
            chosen.append(group.iloc[np.sort(take)].assign(correct=correct))
    return pd.concat(chosen).reset_index(drop=True)


def write_gradcam(
    target, model_path, predictions_csv, dataset_dir, classes, per_class, seed, out_dir, display_size=160
):
    """gallery.png (one row per true class: correct, then misclassified) and selection.csv."""
    model, metadata = load_checked_model(model_path, target, classes)
    predictions = pd.read_csv(predictions_csv)
    chosen = select_images(predictions, classes, per_class, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    reference = model_reference(metadata)  # the images as the model saw them
    pixels = images.load_images(dataset_dir, chosen.file, metadata["image_size"], reference=reference)
    predicted = chosen.predicted.map(classes.index).to_numpy()
    maps = heatmaps(model, target.model, pixels.astype("float32"), predicted)
    grid = {}  # (row, column) -> panel; row = true class, columns: correct ones, then wrong ones
    for i, (row, heatmap) in enumerate(zip(chosen.itertuples(), maps, strict=True)):
        same_kind = chosen.iloc[:i]
        column = ((same_kind.true == row.true) & (same_kind.correct == row.correct)).sum()
        shown = images.load_image(Path(dataset_dir) / row.file, display_size, reference)
        title = f"{row.true} → {row.predicted}\np = {getattr(row, f'p_{row.predicted}'):.2f}"
        grid[classes.index(row.true), column + (0 if row.correct else per_class)] = (
            shown,
            heatmap,
            title,
            row.correct,
        )
    plots.gradcam_gallery(grid, out_dir / "gallery.png", shape=(len(classes), 2 * per_class))
    chosen.to_csv(out_dir / "selection.csv", index=False, float_format="%.6f")
    (out_dir / "gradcam.json").write_text(
        json.dumps(
            {
                "layer": registry.grad_cam_layer(model.get_layer("base"), target.model).name,
                "images_per_class": per_class,
                "seed": seed,
                "explained_class": "predicted",
                "n_images": len(chosen),
            },
            indent=2,
        )
        + "\n"
    )
