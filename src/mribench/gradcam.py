"""Grad-CAM: which part of the image drove a target's prediction (Selvaraju et al., 2017).

Written as in the keras.io Grad-CAM example, with one difference: mribench's base is a nested
model (layer "base", after the "preprocess" layer), so its last convolutional layer is not reachable
from the outer model's graph. The gradient model therefore maps the preprocessed image to (last conv
activations, base output) and the classifier head's layers are applied after it under the same tape.
"""

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from mribench import images, plots, registry
from mribench.model import check_metadata


def conv_and_predictions(model, base_name):
    """A function image batch -> (last conv activations, class probabilities) of a mribench model."""
    preprocess = model.get_layer("preprocess")
    base = model.get_layer("base")
    conv_layer = registry.get_base(base_name).last_conv_layer
    base_with_conv = keras.Model(base.inputs, [base.get_layer(conv_layer).output, base.output])
    head = model.layers[model.layers.index(base) + 1 :]

    def run(batch):
        conv, x = base_with_conv(preprocess(batch), training=False)
        for layer in head:
            x = layer(x, training=False)
        return conv, x

    return run


def heatmaps(model, base_name, batch, class_indices):
    """Grad-CAM heatmaps in 0-1 (one per image, at the conv layer's resolution) for the given classes."""
    run = conv_and_predictions(model, base_name)
    batch = tf.convert_to_tensor(batch, dtype=tf.float32)
    with tf.GradientTape() as tape:
        conv, probabilities = run(batch)
        scores = tf.gather(probabilities, class_indices, axis=1, batch_dims=1)
    gradients = tape.gradient(scores, conv)
    weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
    maps = tf.nn.relu(tf.reduce_sum(weights * conv, axis=-1)).numpy()
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
    model_path, expected, predictions_csv, dataset_dir, classes, per_class, seed, out_dir, display_size=160
):
    """gallery.png (one row per true class: correct, then misclassified) and selection.csv."""
    metadata = check_metadata(model_path, classes=list(classes), **expected)
    model = keras.models.load_model(model_path, safe_mode=True)
    predictions = pd.read_csv(predictions_csv)
    chosen = select_images(predictions, classes, per_class, seed)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    pixels = images.load_images(dataset_dir, chosen.file, metadata["image_size"])
    predicted = chosen.predicted.map(classes.index).to_numpy()
    maps = heatmaps(model, expected["model"], pixels.astype("float32"), predicted)
    grid = {}  # (row, column) -> panel; row = true class, columns: correct ones, then wrong ones
    for i, (row, heatmap) in enumerate(zip(chosen.itertuples(), maps, strict=True)):
        same_kind = chosen.iloc[:i]
        column = ((same_kind.true == row.true) & (same_kind.correct == row.correct)).sum()
        shown = images.load_image(Path(dataset_dir) / row.file, display_size)
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
                "layer": registry.get_base(expected["model"]).last_conv_layer,
                "images_per_class": per_class,
                "seed": seed,
                "explained_class": "predicted",
                "n_images": len(chosen),
            },
            indent=2,
        )
        + "\n"
    )
