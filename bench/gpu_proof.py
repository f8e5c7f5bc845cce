"""GPU proof: the study's protocol on one GPU, on Keras' JAX backend, with mribench's own training and
evaluation functions, and nothing else: no TensorFlow, no Snakemake, no internet.

It generates phantoms at the Kaggle set's size (5,712 Training, 1,312 Testing, 512 px JPEGs), splits
Training 80:20 as the workflow does, and trains all six targets with config.yaml's protocol (224 px,
batch 32, 10 + 10 epochs, augmentation, mixed precision where the GPU has tensor cores), with
random bases (weights: none, nothing to download). Per target and stage it prints the seconds,
img/s, the input pipeline's img/s alone, peak GPU memory and GPU utilisation (nvidia-smi, sampled
every 0.5 s), with the study's times beside them. bench/README.md, "GPU proof", says how to carry it
to a GPU machine and what it measured.

Usage: python bench/gpu_proof.py [--out DIR] [--processes 16]
       (tests/test_gpu_proof.py runs it on the CPU at a tiny size: --classes 2 --train-per-class 8 ...)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from mribench import backend  # noqa: E402

backend.select("jax", deterministic=False)  # before Keras is imported

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from mribench import images, phantoms, pipeline, split  # noqa: E402
from mribench.config import training_job_settings  # noqa: E402
from mribench.evaluation import evaluate_target  # noqa: E402
from mribench.targets import Target  # noqa: E402
from mribench.training import StartRun, TrainingJob, TrainingOutputs, train_target  # noqa: E402

MODELS = ["vgg16", "resnet50v2", "mobilenetv2"]
STRATEGIES = ["feature_extraction", "fine_tuning"]
# The study's training times (SEED.md) on its unnamed GPU, seconds.
STUDY_SECONDS = {
    ("vgg16", "feature_extraction"): 400,
    ("vgg16", "fine_tuning"): 430,
    ("resnet50v2", "feature_extraction"): 280,
    ("resnet50v2", "fine_tuning"): 290,
    ("mobilenetv2", "feature_extraction"): 85,
    ("mobilenetv2", "fine_tuning"): 90,
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "gpu-proof")
    parser.add_argument("--classes", type=int, default=4, help="the first N of the dataset's classes")
    parser.add_argument("--train-per-class", type=int, default=1428, help="Training images per class")
    parser.add_argument("--test-per-class", type=int, default=328, help="Testing images per class")
    parser.add_argument("--phantom-size", type=int, default=512, help="side of the generated JPEGs")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per stage (default config.yaml's)")
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--processes", type=int, default=os.cpu_count())
    parser.add_argument(
        "--pipeline-batches", type=int, default=100, help="batches the input pipeline's img/s is timed on"
    )
    return parser.parse_args()


class GpuSampler:
    """nvidia-smi's utilisation and memory every 0.5 s, in a thread; nothing where there is no GPU."""

    def __init__(self):
        self.samples = []  # (time, utilisation %, memory MiB)
        self.process = None
        if shutil.which("nvidia-smi") and backend.gpus():
            self.process = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "500", "-i", "0"],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            utilisation, memory = (float(value) for value in line.split(","))
            self.samples.append((time.monotonic(), utilisation, memory))

    def between(self, started, ended):
        """Mean utilisation and peak memory over a time window, or None without samples."""
        window = [(u, m) for t, u, m in self.samples if started <= t <= ended]
        if not window:
            return None, None
        return float(np.mean([u for u, _ in window])), float(max(m for _, m in window))

    def stop(self):
        if self.process:
            self.process.terminate()


def write_split(dataset, split_csv, classes, val_fraction, seed):
    """Training split stratified into train and val, Testing as test (the phantoms have no twins)."""
    rows = [
        {"path": str(path.relative_to(dataset)), "label": label, "folder": folder}
        for folder in ("Training", "Testing")
        for label in classes
        for path in sorted((dataset / folder / label).glob("*.jpg"))
    ]
    table = pd.DataFrame(rows)
    training = table[table.folder == "Training"]
    train, val = train_test_split(
        training.index, test_size=val_fraction, stratify=training.label, random_state=seed
    )
    table["split"] = "test"
    table.loc[train, "split"], table.loc[val, "split"] = "train", "val"
    table["train_twin"] = ""
    table.drop(columns="folder").to_csv(split_csv, index=False)


def pipeline_speed(split_csv, dataset, classes, image_size, batch_size, processes, n_batches):
    """img/s of the input pipeline alone, as training reads it (augmentation is in the model on a GPU)."""
    train = split.read_split(split_csv, "train")
    pixels = images.load_images(dataset, train.path, image_size, threads=processes)
    labels = train.label.map(classes.index).to_numpy()
    augmentation = (
        None if backend.gpus() else yaml.safe_load((REPO / "config.yaml").read_text())["augmentation"]
    )
    stream = pipeline.TrainingBatches(pixels, labels, len(classes), batch_size, 0, augmentation)
    from keras.src.trainers.data_adapters import get_data_adapter  # the adapter fit() itself uses

    batches = get_data_adapter(stream).get_jax_iterator()
    started = time.perf_counter()
    seen = sum(len(next(batches)[0]) for _ in range(n_batches))
    return seen / (time.perf_counter() - started)


def main():
    args = parse_args()
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    classes = config["dataset"]["classes"][: args.classes]
    args.out.mkdir(parents=True, exist_ok=True)
    dataset, split_csv = args.out / "dataset", args.out / "split.csv"
    print(f"Keras backend {backend.version()}, GPUs: {backend.gpus() or 'none'}", flush=True)

    started = time.perf_counter()
    shutil.rmtree(dataset, ignore_errors=True)
    phantoms.generate_dataset(
        dataset,
        classes,
        args.train_per_class,
        args.test_per_class,
        args.phantom_size,
        processes=args.processes,
    )
    generate_seconds = time.perf_counter() - started
    write_split(
        dataset, split_csv, classes, config["dataset"]["val_fraction"], config["dataset"]["split_seed"]
    )
    print(f"generated {len(pd.read_csv(split_csv))} phantoms in {generate_seconds:.1f} s", flush=True)

    training = config["training"] | {"backend": "jax"}
    if args.epochs is not None:
        for strategy in STRATEGIES:
            training[strategy] = training[strategy] | {"epochs": args.epochs}
    # The settings the workflow would pass each training job (config.training_job_settings).
    config |= {"training": training, "image_size": args.image_size}
    config["dataset"]["classes"] = classes
    config["model_settings"] = {
        model: settings | {"weights": "none"} for model, settings in config["model_settings"].items()
    }
    pipeline_img_s = pipeline_speed(
        split_csv, dataset, classes, args.image_size, training["batch_size"], args.processes,
        args.pipeline_batches,
    )  # fmt: skip
    print(f"input pipeline alone: {pipeline_img_s:.0f} img/s", flush=True)

    sampler = GpuSampler()
    rows = []
    for model in args.models:
        for strategy in STRATEGIES:
            target = Target(model, strategy, 42)
            run = args.out / target.run_dir
            run.mkdir(parents=True, exist_ok=True)
            start = None
            if strategy == "fine_tuning":
                first = args.out / Target(model, "feature_extraction", 42).run_dir
                start = StartRun(first / "model.keras", first / "history.csv", first / "train.json")
            job_started = time.monotonic()
            job = TrainingJob(target, training_job_settings(config, target), split_csv, dataset, start=start)
            outputs = TrainingOutputs(
                run / "model.keras", run / "history.csv", run / "train.json", run / "tensorboard"
            )
            train_target(job, outputs, threads=args.processes)
            trained = time.monotonic()
            evaluate_target(
                target, run / "model.keras", run / "history.csv",
                split_csv, dataset, classes, training["batch_size"], args.processes, run / "metrics.json",
                run / "predictions.csv", run / "confusion.png", run / "curves.png",
            )  # fmt: skip
            evaluated = time.monotonic()
            record = json.loads((run / "train.json").read_text())
            stage = record["stages"][-1]
            utilisation, memory = sampler.between(job_started, trained)
            rows.append(
                {
                    "target": target.name,
                    "epochs": stage["epochs_run"],
                    "train s (fit)": stage["seconds"],
                    "train img/s": stage["epochs_run"] * record["images"]["train"] / stage["seconds"],
                    "job s (load, build, fit, save)": trained - job_started,
                    "evaluate s": evaluated - trained,
                    "study s": STUDY_SECONDS[model, strategy],
                    "GPU util %": utilisation,
                    "GPU peak MiB": memory,
                    "val acc": stage["val_accuracy"],
                    "test acc": json.loads((run / "metrics.json").read_text())["test"]["accuracy"],
                    "mixed precision": record["mixed_precision"],
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    sampler.stop()
    total = time.perf_counter() - started
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    fits = table["train s (fit)"].sum()
    print(
        f"\nall targets: {fits:.0f} s of fit (study: {sum(STUDY_SECONDS.values())} s), "
        f"{table['job s (load, build, fit, save)'].sum():.0f} s of training jobs; "
        f"phantoms {generate_seconds:.0f} s; whole proof {total:.0f} s wall; "
        f"input pipeline alone {pipeline_img_s:.0f} img/s"
    )
    summary = {
        "backend": backend.version(),
        "gpus": backend.gpus(),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "generate_seconds": generate_seconds,
        "pipeline_img_per_s": pipeline_img_s,
        "wall_seconds": total,
        "targets": rows,
    }
    (args.out / "gpu_proof.json").write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
