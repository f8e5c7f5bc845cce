"""Train one target (feature extraction, fine-tuning from the feature-extraction model, or from
scratch), written as the keras.io transfer-learning recipe: build (or load) the model, compile it,
fit one stage, write the records. Runs on any Keras backend (mribench.backend)."""

import json
import platform
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import mribench
from mribench import backend, batch_norm, images, intensity, pipeline, progress, provenance, registry, split
from mribench.model import (
    build_model,
    calibrate_batch_norm,
    load_checked_model,
    save_model,
    unfreeze_top_layers,
)
from mribench.resume import ResumableTraining
from mribench.strategies import get_strategy
from mribench.targets import Target


@dataclass(frozen=True)
class StartRun:
    """The trained run a continuing strategy (fine-tuning) starts from."""

    model: str  # its model.keras
    history: str  # its history.csv, continued by this target's
    train: str  # its train.json, whose stages come before this target's


@dataclass(frozen=True)
class TrainingJob:
    """Everything one training job reads: which target, its settings (config.training_job_settings),
    the split and images, and where its strategy starts from: the base's weights file (None: random
    initialisation; never "imagenet", so training never downloads) or the run it continues.
    `intensity_reference`: the intensity_reference.json every image is matched to, with
    preprocessing.intensity matched (None: the images as decoded)."""

    target: Target
    settings: dict
    split_csv: str
    dataset_dir: str
    weights: str = None
    start: StartRun = None
    intensity_reference: str = None

    @property
    def reference(self):
        """The reference histogram the images are matched to, or None."""
        return (
            None if self.intensity_reference is None else intensity.read_reference(self.intensity_reference)
        )

    @property
    def strategy(self):
        return get_strategy(self.target.strategy)

    @property
    def stage(self):
        """The settings of the one stage this job trains."""
        return self.settings["training"][self.target.strategy]


@dataclass(frozen=True)
class TrainingOutputs:
    model: str
    history: str
    train: str
    tensorboard: str  # a folder


def train_target(job, outputs, threads):
    """Train `job`'s target and save model.keras, history.csv, train.json and TensorBoard logs."""
    training, target = job.settings["training"], job.target
    gpus = backend.configure(target.seed, training["deterministic"], threads)
    backend.check_gpu_is_used(gpus)
    use_mixed_precision(training["mixed_precision"], gpus)
    data = load_split(job, threads, cache_dir=Path(outputs.model).parent)

    model, augmentation = job.strategy.build(job, data, gpus)
    compile_settings = {
        "optimizer": keras.optimizers.Adam(job.stage["learning_rate"]),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
        "jit_compile": jit_compile(training, gpus),
    }
    fingerprint = {
        "strategy": target.strategy,
        "model": target.model,
        "seed": target.seed,
        "settings": job.settings,
        "split": provenance.file_sha256(job.split_csv),
        "start_model": provenance.file_sha256(job.start.model) if job.start else None,
    }
    resumable = fit_stage(model, augmentation, data, job, compile_settings, fingerprint, outputs)

    save_model(model, outputs.model, model_metadata(job))
    write_records(model, job, data, augmentation, resumable, compile_settings, outputs)
    shutil.rmtree(resumable.backup_dir)


def new_model(job, data, gpus, from_scratch):
    """A new model: a frozen base under a new head (feature extraction), or a trainable random one
    (from scratch). Returns it and where its training images are augmented (AUGMENTATION_PLACES)."""
    training, settings = job.settings["training"], job.settings
    # random base, every layer trained: no cached features
    augmentation = (
        "cached_features" if job.stage.get("cache_features") else augmentation_place(training, gpus)
    )
    model = build_model(
        job.target.model,
        len(settings["classes"]),
        settings["image_size"],
        job.weights,
        training["dense_units"],
        training["dropout"],
        augmentation=(
            {"settings": settings["augmentation"], "seed": job.target.seed}
            if augmentation == "model"
            else None
        ),
        from_scratch=from_scratch,
    )
    if settings["model"]["weights"] == "none" and not from_scratch:
        train_images = data["train"][0]
        sample = np.random.default_rng(job.target.seed).permutation(len(train_images))
        calibrate_batch_norm(model, train_images[np.sort(sample[: training["batch_size"]])].astype("float32"))
    return model, augmentation


def continued_model(job):
    """The model of the run `job` continues (fine-tuning: the feature-extraction model), checked to be
    that run's, with the base's top layers unfrozen. Augmentation stays where that model put it, with
    this job's settings (a strategy may have its own)."""
    start = replace(job.target, strategy=job.strategy.continues)
    model, _ = load_checked_model(job.start.model, start, job.settings["classes"])
    unfreeze_top_layers(model, job.settings["model"]["unfreeze_layers"])
    if "augmentation" not in [layer.name for layer in model.layers]:
        return model, "pipeline"
    model.get_layer("augmentation").settings = dict(job.settings["augmentation"])
    return model, "model"


def fit_stage(model, augmentation, data, job, compile_settings, fingerprint, outputs):
    """Fit one stage with the study's callbacks, resumable epoch by epoch; returns the
    ResumableTraining callback, which holds the stage's history and time."""
    training, seed = job.settings["training"], job.target.seed
    early_stopping = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=training["early_stopping_patience"], restore_best_weights=True
    )
    reduce_lr = keras.callbacks.ReduceLROnPlateau(
        monitor="val_loss", patience=training["reduce_lr_patience"], factor=training["reduce_lr_factor"]
    )
    # Outside the job's outputs, so Snakemake's removal of a failed job's outputs keeps it.
    resumable = ResumableTraining(
        Path(outputs.model).parent / "_resume", fingerprint, early_stopping, reduce_lr
    )
    console = progress.ConsoleProgress(progress_label(job.target))
    fit_settings = {
        "epochs": job.stage["epochs"],
        # resumable last: it restores the others' state
        "callbacks": [early_stopping, reduce_lr, *tensorboard(outputs.tensorboard), console, resumable],
        "verbose": 2,
    }
    n_classes, batch_size = len(job.settings["classes"]), training["batch_size"]
    if augmentation == "cached_features":
        fit_on_cached_features(
            model, data, n_classes, batch_size, compile_settings, fit_settings, training["batch_norm_batches"]
        )
        return resumable
    val = pipeline.EvaluationBatches(*data["val"], n_classes, batch_size)
    compile_and_build(model, compile_settings, val[0])
    train = pipeline.TrainingBatches(
        *data["train"],
        n_classes,
        batch_size,
        seed,
        job.settings["augmentation"] if augmentation == "pipeline" else None,
        first_epoch=resumable.finished_epochs,
    )
    # the stream's first batches (epoch 0's, also in a resumed run): the same before every validation
    first_batches = pipeline.TrainingBatches(*data["train"], n_classes, batch_size, seed, train.augmentation)
    fit_settings["callbacks"][:0] = batch_norm.precise_batch_norm(
        first_batches, train.steps_per_epoch, training["batch_norm_batches"]
    )
    # the stream shuffles itself, per epoch and seed
    model.fit(
        train, validation_data=val, steps_per_epoch=train.steps_per_epoch, shuffle=False, **fit_settings
    )
    return resumable


def compile_and_build(model, compile_settings, batch):
    """Compile `model`, then create its optimizer's and metrics' variables from `batch` (inputs,
    one-hot labels), before fit. Keras on TensorFlow otherwise creates them inside the first trace of
    the training step, and TensorFlow traces a step that creates variables twice: half the CPU of a
    tiny MobileNetV2 training (bench/README.md, "Tracing the training step once"). The same weights
    come out either way."""
    model.compile(**compile_settings)
    model.optimizer.build(model.trainable_variables)
    inputs, labels = batch[0][:1], batch[1][:1]
    model.compute_metrics(inputs, labels, model(inputs, training=False), sample_weight=None)
    model.reset_metrics()


def progress_label(target):
    """How the console names a training stage: train vgg16 fine_tuning seed42 (and r0f1 for a fold's, a
    tuning point's id for a point's)."""
    label = f"train {target.model} {target.strategy} seed{target.seed}"
    label += f" {target.fold.name}" if target.fold else ""
    return label if target.point is None else f"{label} {target.point.id}"


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


def model_metadata(job):
    """What predict, evaluation and fine-tuning read back from model.keras."""
    settings = job.settings
    return job.target.as_metadata() | {
        "mribench_version": mribench.__version__,
        "classes": settings["classes"],
        "image_size": settings["image_size"],
        "input": "RGB, float32 in 0-255, image_size x image_size",
        "preprocessing": registry.preprocessing(job.target.model),
        "backend": backend.version(),
        # every reader of images for this model (evaluation, Grad-CAM, export, predict) matches them too
        "intensity_reference": None if job.reference is None else job.reference.tolist(),
    }


def write_records(model, job, data, augmentation, resumable, compile_settings, outputs):
    """history.csv (every stage so far) and train.json (the stages, the model, the machine)."""
    target, training = job.target, job.settings["training"]
    history = pd.DataFrame(resumable.history).drop(columns=["learning_rate"], errors="ignore")
    history.insert(0, "stage", target.strategy)
    kept = history.loc[history.val_loss.idxmin()]  # the epoch EarlyStopping restored
    this_stage = {
        "stage": target.strategy,
        "seconds": round(resumable.seconds, 3),
        "epochs_run": len(history),
        "resumed_from_epoch": resumable.finished_epochs,
        "best_epoch": int(kept.epoch),
        "learning_rate": job.stage["learning_rate"],
        "augmentation": None if augmentation == "cached_features" else job.settings["augmentation"],
        "train_accuracy": float(kept.accuracy),
        "train_loss": float(kept.loss),
        "val_accuracy": float(kept.val_accuracy),
        "val_loss": float(kept.val_loss),
        "batch_norm": batch_norm.record(
            model, training["batch_norm_batches"], training["batch_size"], len(data["train"][1])
        ),
    }
    if job.start is None:
        earlier_stages = []
    else:
        earlier_stages = json.loads(Path(job.start.train).read_text())["stages"]
        history = pd.concat([pd.read_csv(job.start.history), history])
    history.to_csv(outputs.history, index=False)

    stages = earlier_stages + [this_stage]
    record = {
        **target.as_metadata(),
        "classes": job.settings["classes"],
        "image_size": job.settings["image_size"],
        "intensity": job.settings["preprocessing"]["intensity"],
        "weights": job.settings["model"]["weights"],
        "images": {part: len(labels) for part, (_, labels) in data.items()},
        # the split.csv it trained and validated on: the single split's, or its fold's
        "split_sha256": provenance.file_sha256(job.split_csv),
        "workflow": AUGMENTATION_PLACES[augmentation],
        "backend": backend.version(),
        "mixed_precision": keras.mixed_precision.global_policy().name,
        "stages": stages,
        "seconds": round(sum(s["seconds"] for s in stages), 3),
        "total_params": model.count_params(),
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "model_bytes": Path(outputs.model).stat().st_size,
        "deterministic": training["deterministic"],
        "jit_compile": compile_settings["jit_compile"],
        "versions": library_versions(),
        "hardware": provenance.hardware(backend.gpus()),
    }
    Path(outputs.train).write_text(json.dumps(record, indent=2) + "\n")


# Where a target's training images are augmented; train.json and summary.csv call it "workflow".
AUGMENTATION_PLACES = {
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


def load_split(job, threads, cache_dir):
    """Decoded train and validation images (each decoded once) and their class indices."""
    data, classes, reference = {}, job.settings["classes"], job.reference
    for part in ("train", "val"):
        rows = split.read_split(job.split_csv, part)
        pixels = images.load_images(
            job.dataset_dir, rows.path, job.settings["image_size"], threads, cache_dir, reference
        )
        data[part] = pixels, rows.label.map(classes.index).to_numpy()
    return data


def fit_on_cached_features(
    model, data, n_classes, batch_size, compile_settings, fit_settings, batch_norm_batches=0
):
    """The keras.io transfer-learning guide's fast workflow: run the frozen base once, train the head
    on its pooled features. The head shares its layers with `model`, which stays a complete model
    that takes images; the head's BatchNormalization statistics are recomputed over the training
    features (`batch_norm_batches`, in file order)."""
    pooled = next(layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D))
    features_of = keras.Model(model.input, pooled.output)
    features, one_hot = {}, {}
    for part, (pixels, labels) in data.items():
        features[part] = features_of.predict(
            pipeline.EvaluationBatches(pixels, batch_size=batch_size), verbose=0
        )
        one_hot[part] = keras.utils.to_categorical(labels, n_classes)
    head = head_model(model, pooled)
    compile_and_build(head, compile_settings, (features["val"], one_hot["val"]))
    train_features = pipeline.EvaluationBatches(features["train"], batch_size=batch_size)
    callbacks = batch_norm.precise_batch_norm(train_features, train_features.num_batches, batch_norm_batches)
    fit_settings = fit_settings | {"callbacks": callbacks + fit_settings.get("callbacks", [])}
    return head.fit(
        features["train"],
        one_hot["train"],
        batch_size=batch_size,
        validation_data=(features["val"], one_hot["val"]),
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
