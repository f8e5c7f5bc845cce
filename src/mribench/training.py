"""Train one target: feature extraction, fine-tuning from the feature-extraction model, or from scratch."""

import json
import math
import platform
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

import mribench
from mribench import images, provenance, registry, split
from mribench.model import build_model, calibrate_batch_norm, check_metadata, save_model, unfreeze_top_layers
from mribench.resume import ResumableTraining


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
    weights=None,
    start=None,
):
    """Train and save model.keras, history.csv and train.json; TensorBoard logs go to `out_tensorboard`.

    `settings` holds the config sections the job depends on (image_size, augmentation, training,
    model, classes); `weights` is the base's weights file for feature extraction (None: random
    initialisation), never "imagenet", so training never downloads; `start` holds the
    feature-extraction run's files when fine-tuning.
    """
    gpu = configure_tensorflow(seed, settings["training"], threads)
    training = settings["training"]
    classes = settings["classes"]
    stage = training[strategy]
    data = load_split(
        split_csv, dataset_dir, classes, settings["image_size"], threads, Path(out_model).parent
    )

    if strategy in ("feature_extraction", "from_scratch"):
        from_scratch = strategy == "from_scratch"  # random base, every layer trained: no cached features
        workflow = "cached_features" if stage.get("cache_features") else augmentation_place(training, gpu)
        model = build_model(
            base_name,
            len(classes),
            settings["image_size"],
            weights,
            training["dense_units"],
            training["dropout"],
            augmentation=(
                {"settings": settings["augmentation"], "seed": seed} if workflow == "model" else None
            ),
            from_scratch=from_scratch,
        )
        if settings["model"]["weights"] == "none" and not from_scratch:
            train_images = data["train"][0]
            sample = np.random.default_rng(seed).permutation(len(train_images))[: training["batch_size"]]
            calibrate_batch_norm(model, train_images[np.sort(sample)].astype("float32"))
    else:
        check_metadata(
            start["model"], model=base_name, strategy="feature_extraction", seed=seed, classes=classes
        )
        model = keras.models.load_model(start["model"], safe_mode=True)
        unfreeze_top_layers(model, settings["model"]["unfreeze_layers"])
        # The augmentation stays where the feature-extraction model put it.
        workflow = "model" if "augmentation" in [layer.name for layer in model.layers] else "pipeline"

    compile_settings = {
        "optimizer": keras.optimizers.Adam(stage["learning_rate"]),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "jit_compile": bool(gpu and training["jit_compile"]),
    }
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=training["early_stopping_patience"], restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=training["reduce_lr_patience"], factor=training["reduce_lr_factor"]
    )
    # Outside the job's outputs, so Snakemake's removal of a failed job's outputs keeps it.
    backup_dir = Path(out_model).parent / "_resume"
    fingerprint = {
        "strategy": strategy,
        "model": base_name,
        "seed": seed,
        "settings": settings,
        "split": provenance.file_sha256(split_csv),
        "start_model": provenance.file_sha256(start["model"]) if start else None,
    }
    resumable = ResumableTraining(backup_dir, fingerprint, early_stopping, reduce_lr)
    tensorboard = keras.callbacks.TensorBoard(out_tensorboard)
    fit_settings = {
        "epochs": stage["epochs"],
        # resumable last: it restores the others' state
        "callbacks": [early_stopping, reduce_lr, tensorboard, resumable],
        "verbose": 2,
    }
    if workflow == "cached_features":
        fit_on_cached_features(
            model, data, len(classes), training["batch_size"], compile_settings, fit_settings
        )
    else:
        model.compile(**compile_settings)
        train_ds, val_ds, steps = image_datasets(
            data,
            len(classes),
            training["batch_size"],
            seed,
            settings["augmentation"] if workflow == "pipeline" else None,
            first_epoch=resumable.finished_epochs,
        )
        # the stream shuffles itself, per epoch and seed
        model.fit(train_ds, validation_data=val_ds, steps_per_epoch=steps, shuffle=False, **fit_settings)
    seconds = resumable.seconds
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

    history = pd.DataFrame(resumable.history).drop(columns=["learning_rate"], errors="ignore")
    history.insert(0, "stage", strategy)
    kept = history.loc[history.val_loss.idxmin()]  # the epoch EarlyStopping restored
    this_stage = {
        "stage": strategy,
        "seconds": round(seconds, 3),
        "epochs_run": len(history),
        "resumed_from_epoch": resumable.finished_epochs,
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
        "images": {part: len(labels) for part, (_, labels) in data.items()},
        "workflow": WORKFLOWS[workflow],
        "mixed_precision": keras.mixed_precision.global_policy().name,
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages), 3),
        "total_params": model.count_params(),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "model_bytes": Path(out_model).stat().st_size,
        "deterministic": training["deterministic"],
        "jit_compile": compile_settings["jit_compile"],
        "versions": library_versions(),
        "hardware": provenance.hardware(),
    }
    Path(out_train).write_text(json.dumps(record, indent=2) + "\n")
    shutil.rmtree(backup_dir)


WORKFLOWS = {
    "pipeline": "images, augmented in the input pipeline",
    "model": "images, augmented inside the model",
    "cached_features": "cached base features, no augmentation",
}


def configure_tensorflow(seed, training, threads):
    """Seeds, determinism, threads and GPU settings; returns whether a GPU is used."""
    keras.utils.set_random_seed(seed)
    if training["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:  # TensorFlow already runs in this process (a caller other than the workflow)
        print(f"TensorFlow is already initialised: its thread pools stay as they are, not {threads} threads")
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        # Two jobs sharing a GPU would otherwise fail: TensorFlow reserves all of its memory.
        tf.config.experimental.set_memory_growth(gpu, True)
    wanted = training["mixed_precision"]  # auto, true or false
    if wanted is not False and gpus and supports_float16(gpus[0]):
        keras.mixed_precision.set_global_policy("mixed_float16")
    elif wanted is True:
        print("mixed_precision is true, but no GPU with fast float16 is visible: training in float32")
    return bool(gpus)


def supports_float16(gpu):
    """Tensor cores (compute capability 7.0 and later) make float16 faster than float32."""
    capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
    return capability >= (7, 0)


def augmentation_place(training, gpu):
    """Where augmentation runs: on the GPU inside the model, or on the CPU in the input pipeline."""
    if training["augment_on"] == "auto":
        return "model" if gpu else "pipeline"
    return training["augment_on"]


def load_split(split_csv, dataset_dir, classes, image_size, threads, cache_dir):
    """Decoded train and validation images (each decoded once) and their class indices."""
    data = {}
    for part in ("train", "val"):
        rows = split.read_split(split_csv, part)
        pixels = images.load_images(dataset_dir, rows.path, image_size, threads, cache_dir=cache_dir)
        data[part] = pixels, rows.label.map(classes.index).to_numpy()
    return data


def image_datasets(data, n_classes, batch_size, seed, augmentation, first_epoch):
    """The endless training stream from `first_epoch` on, the validation pipeline, and the steps of
    one epoch."""
    train_images, train_labels = data["train"]
    train = images.training_dataset(
        train_images, train_labels, n_classes, batch_size, seed, augmentation, first_epoch
    )
    val = images.evaluation_dataset(*data["val"], n_classes, batch_size)
    return train, val, math.ceil(len(train_labels) / batch_size)


def fit_on_cached_features(model, data, n_classes, batch_size, compile_settings, fit_settings):
    """The keras.io transfer-learning guide's fast workflow: run the frozen base once, train the head
    on its pooled features. The head shares its layers with `model`, which stays a complete model
    that takes images."""
    pooled = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    features_of = keras.Model(model.input, pooled.output)
    features, targets = {}, {}
    for part, (pixels, labels) in data.items():
        batches = images.evaluation_dataset(pixels, labels, n_classes, batch_size).map(lambda x, y: x)
        features[part] = features_of.predict(batches, verbose=0)
        targets[part] = keras.utils.to_categorical(labels, n_classes)
    head = head_model(model, pooled)
    head.compile(**compile_settings)
    return head.fit(
        features["train"],
        targets["train"],
        batch_size=batch_size,
        validation_data=(features["val"], targets["val"]),
        **fit_settings,
    )


def head_model(model, pooled):
    """The layers after the pooling layer of `model`, as a model on pooled features."""
    inputs = keras.Input(shape=pooled.output.shape[1:], name="features")
    x = inputs
    for layer in model.layers[model.layers.index(pooled) + 1 :]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_head")


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
