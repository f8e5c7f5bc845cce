"""Train one target (feature extraction, fine-tuning from the feature-extraction model, or from
scratch), written as the keras.io transfer-learning recipe: build (or load) the model, compile it,
fit one stage, write the records. Runs on any Keras backend (mribench.backend)."""

import json
import platform
import shutil
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import mribench
from mribench import backend, images, pipeline, progress, provenance, registry, split
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
    training = settings["training"]
    gpus = backend.configure(seed, training["deterministic"], threads)
    backend.check_gpu_is_used(gpus)
    use_mixed_precision(training["mixed_precision"], gpus)
    data = load_split(
        split_csv, dataset_dir, settings["classes"], settings["image_size"], threads, Path(out_model).parent
    )

    model, workflow = build_or_load_model(strategy, base_name, seed, settings, data, weights, start, gpus)
    compile_settings = {
        "optimizer": keras.optimizers.Adam(training[strategy]["learning_rate"]),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "jit_compile": jit_compile(training, gpus),
    }
    fingerprint = {
        "strategy": strategy,
        "model": base_name,
        "seed": seed,
        "settings": settings,
        "split": provenance.file_sha256(split_csv),
        "start_model": provenance.file_sha256(start["model"]) if start else None,
    }
    resumable = fit_stage(
        model, workflow, data, settings, seed, compile_settings, fingerprint, out_model, out_tensorboard
    )

    save_model(model, out_model, model_metadata(base_name, strategy, seed, settings))
    write_records(
        model, strategy, base_name, seed, settings, data, workflow, resumable, compile_settings, start,
        out_model, out_history, out_train,
    )  # fmt: skip
    shutil.rmtree(resumable.backup_dir)


def build_or_load_model(strategy, base_name, seed, settings, data, weights, start, gpus):
    """Feature extraction builds a frozen base under a new head, from scratch a trainable random one;
    fine-tuning loads the feature-extraction model and unfreezes the base's top layers. Returns the
    model and where its training images come from (WORKFLOWS)."""
    training, classes = settings["training"], settings["classes"]
    if strategy == "fine_tuning":
        check_metadata(
            start["model"], model=base_name, strategy="feature_extraction", seed=seed, classes=classes
        )
        model = keras.models.load_model(start["model"], safe_mode=True)
        unfreeze_top_layers(model, settings["model"]["unfreeze_layers"])
        # The augmentation stays where the feature-extraction model put it.
        workflow = "model" if "augmentation" in [layer.name for layer in model.layers] else "pipeline"
        return model, workflow

    from_scratch = strategy == "from_scratch"  # random base, every layer trained: no cached features
    workflow = (
        "cached_features" if training[strategy].get("cache_features") else augmentation_place(training, gpus)
    )
    model = build_model(
        base_name,
        len(classes),
        settings["image_size"],
        weights,
        training["dense_units"],
        training["dropout"],
        augmentation={"settings": settings["augmentation"], "seed": seed} if workflow == "model" else None,
        from_scratch=from_scratch,
    )
    if settings["model"]["weights"] == "none" and not from_scratch:
        train_images = data["train"][0]
        sample = np.random.default_rng(seed).permutation(len(train_images))[: training["batch_size"]]
        calibrate_batch_norm(model, train_images[np.sort(sample)].astype("float32"))
    return model, workflow


def fit_stage(
    model, workflow, data, settings, seed, compile_settings, fingerprint, out_model, out_tensorboard
):
    """Fit one stage with the study's callbacks, resumable epoch by epoch; returns the
    ResumableTraining callback, which holds the stage's history and time."""
    training = settings["training"]
    stage = training[fingerprint["strategy"]]
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=training["early_stopping_patience"], restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=training["reduce_lr_patience"], factor=training["reduce_lr_factor"]
    )
    # Outside the job's outputs, so Snakemake's removal of a failed job's outputs keeps it.
    resumable = ResumableTraining(Path(out_model).parent / "_resume", fingerprint, early_stopping, reduce_lr)
    console = progress.ConsoleProgress(progress_label(fingerprint))
    fit_settings = {
        "epochs": stage["epochs"],
        # resumable last: it restores the others' state
        "callbacks": [early_stopping, reduce_lr, *tensorboard(out_tensorboard), console, resumable],
        "verbose": 2,
    }
    n_classes, batch_size = len(settings["classes"]), training["batch_size"]
    if workflow == "cached_features":
        fit_on_cached_features(model, data, n_classes, batch_size, compile_settings, fit_settings)
        return resumable
    model.compile(**compile_settings)
    train = pipeline.TrainingBatches(
        *data["train"],
        n_classes,
        batch_size,
        seed,
        settings["augmentation"] if workflow == "pipeline" else None,
        first_epoch=resumable.finished_epochs,
    )
    val = pipeline.EvaluationBatches(*data["val"], n_classes, batch_size)
    # the stream shuffles itself, per epoch and seed
    model.fit(
        train, validation_data=val, steps_per_epoch=train.steps_per_epoch, shuffle=False, **fit_settings
    )
    return resumable


def progress_label(fingerprint):
    """How the console names a training stage: train vgg16 fine_tuning seed42."""
    return f"train {fingerprint['model']} {fingerprint['strategy']} seed{fingerprint['seed']}"


def tensorboard(log_dir):
    """The TensorBoard callback where TensorFlow is installed (it writes with tf.summary, also under
    JAX); without TensorFlow, a note in the log and in `log_dir` of what was skipped and why."""
    if backend.tensorflow_available():
        return [keras.callbacks.TensorBoard(log_dir)]
    reason = (
        "TensorBoard logs skipped: keras.callbacks.TensorBoard writes them with TensorFlow's tf.summary, "
        f"and TensorFlow is not installed here (Keras backend {backend.current()})."
    )
    print(reason)
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    (Path(log_dir) / "SKIPPED.txt").write_text(reason + "\n")
    return []


def model_metadata(base_name, strategy, seed, settings):
    """What predict, evaluation and fine-tuning read back from model.keras."""
    return {
        "mribench_version": mribench.__version__,
        "model": base_name,
        "strategy": strategy,
        "seed": seed,
        "classes": settings["classes"],
        "image_size": settings["image_size"],
        "input": "RGB, float32 in 0-255, image_size x image_size",
        "preprocessing": f"keras.applications.{registry.get_base(base_name).module}.preprocess_input"
        " (inside the model)",
        "backend": backend.version(),
    }


def write_records(
    model, strategy, base_name, seed, settings, data, workflow, resumable, compile_settings, start,
    out_model, out_history, out_train,
):  # fmt: skip
    """history.csv (every stage so far) and train.json (the stages, the model, the machine)."""
    training = settings["training"]
    history = pd.DataFrame(resumable.history).drop(columns=["learning_rate"], errors="ignore")
    history.insert(0, "stage", strategy)
    kept = history.loc[history.val_loss.idxmin()]  # the epoch EarlyStopping restored
    this_stage = {
        "stage": strategy,
        "seconds": round(resumable.seconds, 3),
        "epochs_run": len(history),
        "resumed_from_epoch": resumable.finished_epochs,
        "best_epoch": int(kept.epoch),
        "learning_rate": training[strategy]["learning_rate"],
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
        "classes": settings["classes"],
        "image_size": settings["image_size"],
        "weights": settings["model"]["weights"],
        "images": {part: len(labels) for part, (_, labels) in data.items()},
        "workflow": WORKFLOWS[workflow],
        "backend": backend.version(),
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


WORKFLOWS = {
    "pipeline": "images, augmented in the input pipeline",
    "model": "images, augmented inside the model",
    "cached_features": "cached base features, no augmentation",
}


def use_mixed_precision(wanted, gpus):
    """float16 compute on GPUs with tensor cores, when `wanted` is auto or true."""
    if wanted is not False and gpus and backend.supports_float16():
        keras.mixed_precision.set_global_policy("mixed_float16")
    elif wanted is True:
        print("mixed_precision is true, but no GPU with fast float16 is visible: training in float32")


def jit_compile(training, gpus):
    """XLA on GPUs when asked for; JAX always compiles with XLA (without it, it would run op by op)."""
    if backend.current() == "jax":
        return True
    return bool(gpus and training["jit_compile"])


def augmentation_place(training, gpus):
    """Where augmentation runs: on the GPU inside the model, or on the CPU in the input pipeline."""
    if training["augment_on"] == "auto":
        return "model" if gpus else "pipeline"
    return training["augment_on"]


def load_split(split_csv, dataset_dir, classes, image_size, threads, cache_dir):
    """Decoded train and validation images (each decoded once) and their class indices."""
    data = {}
    for part in ("train", "val"):
        rows = split.read_split(split_csv, part)
        pixels = images.load_images(dataset_dir, rows.path, image_size, threads, cache_dir=cache_dir)
        data[part] = pixels, rows.label.map(classes.index).to_numpy()
    return data


def fit_on_cached_features(model, data, n_classes, batch_size, compile_settings, fit_settings):
    """The keras.io transfer-learning guide's fast workflow: run the frozen base once, train the head
    on its pooled features. The head shares its layers with `model`, which stays a complete model
    that takes images."""
    pooled = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    features_of = keras.Model(model.input, pooled.output)
    features, targets = {}, {}
    for part, (pixels, labels) in data.items():
        features[part] = features_of.predict(
            pipeline.EvaluationBatches(pixels, batch_size=batch_size), verbose=0
        )
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
    """The versions a result depends on; the backend's under its own name (tensorflow or jax)."""
    import sklearn

    running = backend.version()
    return {
        "mribench": mribench.__version__,
        "python": platform.python_version(),
        "keras": keras.__version__,
        "keras backend": running["name"],
        running["name"]: running["version"],
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }
