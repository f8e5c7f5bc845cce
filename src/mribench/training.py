"""Train one target: feature extraction from scratch, or fine-tuning from the feature-extraction model."""

import json
import platform
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import mribench
from mribench import images, registry, split
from mribench.config import weights_argument
from mribench.model import build_model, check_metadata, save_model, unfreeze_top_layers


def train_target(
    strategy,
    base_name,
    seed,
    settings,
    split_csv,
    dataset_dir,
    out_model,
    out_history,
    out_train,
    out_tensorboard,
    threads,
    start=None,
):
    """Train and save model.keras, history.csv and train.json; TensorBoard logs go to `out_tensorboard`.

    `settings` holds the config sections the job depends on (image_size, augmentation, training,
    model, classes); `start` holds the feature-extraction run's files when fine-tuning.
    """
    configure_tensorflow(seed, settings["training"]["deterministic"], threads)
    training = settings["training"]
    classes = settings["classes"]
    train_ds, val_ds, counts = training_datasets(split_csv, dataset_dir, classes, settings, seed, threads)

    if strategy == "feature_extraction":
        model = build_model(
            base_name,
            len(classes),
            settings["image_size"],
            weights_argument(settings["model"]["weights"]),
            training["dense_units"],
            training["dropout"],
        )
    else:
        check_metadata(
            start["model"], model=base_name, strategy="feature_extraction", seed=seed, classes=classes
        )
        model = keras.models.load_model(start["model"], safe_mode=True)
        unfreeze_top_layers(model, settings["model"]["unfreeze_layers"])

    stage = training[strategy]
    model.compile(
        optimizer=keras.optimizers.Adam(stage["learning_rate"]),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=training["early_stopping_patience"], restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=training["reduce_lr_patience"], factor=training["reduce_lr_factor"]
    )
    tensorboard = keras.callbacks.TensorBoard(out_tensorboard)
    started = time.perf_counter()
    fit = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=stage["epochs"],
        callbacks=[early_stopping, reduce_lr, tensorboard],
        verbose=2,
    )
    seconds = time.perf_counter() - started
    metadata = {
        "mribench_version": mribench.__version__,
        "model": base_name,
        "strategy": strategy,
        "seed": seed,
        "classes": classes,
        "image_size": settings["image_size"],
        "input": "RGB, float32 in 0-255, image_size x image_size",
        "preprocessing": f"keras.applications.{registry.get_base(base_name).module}.preprocess_input"
        " (inside the model)",
    }
    save_model(model, out_model, metadata)

    history = pd.DataFrame(fit.history).drop(columns=["learning_rate"], errors="ignore")
    history.insert(0, "epoch", range(1, len(history) + 1))
    history.insert(0, "stage", strategy)
    kept = history.loc[history.val_loss.idxmin()]  # the epoch EarlyStopping restored
    this_stage = {
        "stage": strategy,
        "seconds": round(seconds, 3),
        "epochs_run": len(history),
        "best_epoch": int(kept.epoch),
        "learning_rate": stage["learning_rate"],
        "train_accuracy": float(kept.accuracy),
        "train_loss": float(kept.loss),
        "val_accuracy": float(kept.val_accuracy),
        "val_loss": float(kept.val_loss),
    }
    if start is None:
        earlier_stages = []
    else:
        earlier_stages = json.loads(Path(start["train"]).read_text())["stages"]
        history = pd.concat([pd.read_csv(start["history"]), history])
    history.to_csv(out_history, index=False)

    stages = earlier_stages + [this_stage]
    record = {
        "model": base_name,
        "strategy": strategy,
        "seed": seed,
        "classes": classes,
        "image_size": settings["image_size"],
        "weights": settings["model"]["weights"],
        "images": counts,
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages), 3),
        "total_params": model.count_params(),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "model_bytes": Path(out_model).stat().st_size,
        "deterministic": training["deterministic"],
        "versions": library_versions(),
    }
    Path(out_train).write_text(json.dumps(record, indent=2) + "\n")


def configure_tensorflow(seed, deterministic, threads):
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))


def training_datasets(split_csv, dataset_dir, classes, settings, seed, threads):
    """Train (shuffled, augmented) and validation pipelines, and their image counts."""
    batch_size = settings["training"]["batch_size"]
    pipelines, counts = [], {}
    for part in ("train", "val"):
        rows = split.read_split(split_csv, part)
        pixels = images.load_images(dataset_dir, rows.path, settings["image_size"], threads)
        labels = rows.label.map(classes.index).to_numpy()
        is_train = part == "train"
        pipelines.append(
            images.make_dataset(
                pixels,
                labels,
                len(classes),
                batch_size,
                shuffle_seed=seed if is_train else None,
                augment=images.augmentation_layers(settings["augmentation"], seed) if is_train else None,
            )
        )
        counts[part] = len(rows)
    return pipelines[0], pipelines[1], counts


def library_versions():
    import sklearn

    return {
        "mribench": mribench.__version__,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
