"""Deployable copies of a trained model, each checked on the test set and timed on this CPU.

The TFLite and ONNX models are re-evaluated with their own runtimes (the TFLite interpreter, ONNX
Runtime), so export.json says how often they agree with the Keras model, not only that the conversion
ran. SavedModel and TFLite are TensorFlow's formats, and ONNX is converted from TensorFlow's graph by
tf2onnx: the export runs on Keras' TensorFlow backend whatever backend trained the model (a
model.keras loads on either), and where TensorFlow is not installed export.json says what was
skipped and why.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np

from mribench import backend, images, provenance, split
from mribench.evaluation import test_metrics
from mribench.intensity import model_reference
from mribench.model import load_checked_model
from mribench.training import library_versions

DESCRIPTIONS = {
    "keras": "the trained model.keras",
    "saved_model": "TensorFlow SavedModel with a serve() signature, for TF Serving",
    "tflite_float32": "TFLite, float32 weights and activations",
    "tflite_int8": "TFLite, dynamic-range quantisation: int8 weights, float activations",
    "onnx": "ONNX (opset chosen by tf2onnx), for ONNX Runtime",
}
# The most an ONNX Runtime probability may differ from the Keras model's on any test image: both run
# the same float32 graph, so anything larger is a conversion error, not rounding.
ONNX_TOLERANCE = 1e-4
ONNX_METADATA_KEY = "mribench"  # the model.keras metadata, as JSON, in the ONNX file's metadata_props


class ExportError(RuntimeError):
    pass


def export_target(
    target, model_path, split_csv, dataset_dir, formats, latency_runs, threads, out_dir, out_json
):
    """Write the formats asked for under `out_dir` and their test accuracy, agreement, size, latency."""
    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if backend.current() != "tensorflow":  # scripts/export.py chose it wherever it is installed
        reason = (
            f"skipped: {', '.join(formats)} export needs TensorFlow, which is not installed here "
            f"(Keras backend {backend.current()}); install it (requirements.lock pins tensorflow-cpu) and "
            "re-run the export rule"
        )
        print(f"Export {reason}")
        record = {**target.as_metadata(), "skipped": reason, "formats": [], "versions": library_versions()}
        Path(out_json).write_text(json.dumps(record, indent=2) + "\n")
        return
    import tensorflow as tf

    backend.configure(0, deterministic=False, threads=threads)
    model, metadata = load_checked_model(model_path, target)
    classes = metadata["classes"]
    test = split.read_split(split_csv, "test")
    pixels = images.load_images(
        dataset_dir, test.path, metadata["image_size"], threads, reference=model_reference(metadata)
    ).astype("float32")
    y_true = test.label.map(classes.index).to_numpy()
    keras_probabilities = model.predict(pixels, batch_size=32, verbose=0)
    results = [
        measured(
            "keras",
            Path(model_path),
            keras_probabilities,
            keras_probabilities,
            y_true,
            classes,
            latency_ms(model.predict_on_batch, pixels[:1], latency_runs),
        )
    ]
    if "saved_model" in formats:
        path = out_dir / "saved_model"
        model.export(path, format="tf_saved_model", verbose=False)
        saved_model = tf.saved_model.load(str(path))  # keeps the variables alive while serve() runs
        serve = saved_model.serve
        probabilities = np.concatenate(
            [serve(batch).numpy() for batch in np.array_split(pixels, 1 + len(pixels) // 32)]
        )
        results.append(
            measured(
                "saved_model",
                path,
                probabilities,
                keras_probabilities,
                y_true,
                classes,
                latency_ms(serve, pixels[:1], latency_runs),
            )
        )
    if "tflite" in formats:
        for variant in ("tflite_float32", "tflite_int8"):
            path = out_dir / f"model_{variant.removeprefix('tflite_')}.tflite"
            path.write_bytes(convert_to_tflite(model, quantise=variant == "tflite_int8"))
            run = tflite_runner(path, threads)
            probabilities = np.concatenate([run(image[None]) for image in pixels])
            results.append(
                measured(
                    variant,
                    path,
                    probabilities,
                    keras_probabilities,
                    y_true,
                    classes,
                    latency_ms(run, pixels[:1], latency_runs),
                )
            )

    if "onnx" in formats:
        results.append(
            measured_onnx(
                model, metadata, out_dir / "model.onnx", pixels, keras_probabilities, y_true, list(test.path),
                latency_runs, threads,
            )
        )  # fmt: skip

    record = {
        **target.as_metadata(),
        "n_test_images": len(test),
        "latency": f"ms per image at batch size 1, median of {latency_runs} runs after 5 warm-up runs, "
        f"{threads} CPU threads",
        "cpu": provenance.cpu_model(),
        "formats": results,
        "versions": library_versions(),
    }
    Path(out_json).write_text(json.dumps(record, indent=2) + "\n")


def convert_to_tflite(model, quantise):
    """A TFLite flatbuffer; `quantise` stores weights as int8 (dynamic range, no calibration data needed)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantise:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def tflite_runner(path, threads):
    """A function from a (1, size, size, 3) float32 batch to class probabilities, run by TFLite."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]

    def run(batch):
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(output_index).copy()

    return run


def measured_onnx(
    model, metadata, path, pixels, keras_probabilities, y_true, files, latency_runs, threads
):  # fmt: skip
    """Convert to ONNX, re-score the test set with ONNX Runtime, refuse a copy that disagrees with
    Keras by more than ONNX_TOLERANCE, and time it."""
    convert_to_onnx(model, path, metadata)
    run = onnx_runner(path, threads)
    probabilities = np.concatenate([run(batch) for batch in np.array_split(pixels, 1 + len(pixels) // 32)])
    check_onnx_agrees(path, probabilities, keras_probabilities, files, metadata["classes"])
    return measured(
        "onnx", path, probabilities, keras_probabilities, y_true, metadata["classes"],
        latency_ms(run, pixels[:1], latency_runs),
    )  # fmt: skip


def convert_to_onnx(model, path, metadata):
    """An ONNX file of `model` (input "image": RGB float32 in 0-255, output "probabilities") with the
    model.keras metadata in its metadata_props, so `mribench predict` can use it alone.

    The model's forward pass is traced as a tf.function and frozen before tf2onnx converts it:
    `model.export(format="onnx")` hands tf2onnx the function unfrozen, and tf2onnx then turns
    constants the function captures (EfficientNet's Normalization mean and variance) into extra
    graph inputs, which ONNX Runtime demands at every call.
    """
    import onnx
    import tensorflow as tf
    import tf2onnx
    from keras.src.export.tf2onnx_lib import patch_tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    size = metadata["image_size"]
    spec = tf.TensorSpec((None, size, size, 3), tf.float32, name="image")
    forward = tf.function(lambda image: model(image, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(forward)
    (image,), (output,) = frozen.inputs, frozen.outputs
    patch_tf2onnx()  # Keras' own fixes that make tf2onnx 1.17 run on NumPy 2
    onnx_model, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        name=metadata["model"],
        input_names=[image.name],
        output_names=[output.name],
        tensors_to_rename={image.name: "image", output.name: "probabilities"},
    )
    onnx.helper.set_model_props(onnx_model, {ONNX_METADATA_KEY: json.dumps(metadata)})
    onnx.save(onnx_model, str(path))


def onnx_runner(path, threads):
    """A function from a (batch, size, size, 3) float32 array to class probabilities, run by ONNX
    Runtime on the CPU."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(batch):
        return session.run(["probabilities"], {"image": batch})[0]

    return run


def check_onnx_agrees(path, probabilities, keras_probabilities, files, classes):
    """Fail, naming the image and class, where ONNX Runtime and Keras differ by more than
    ONNX_TOLERANCE."""
    difference = np.abs(probabilities - keras_probabilities)
    image, klass = np.unravel_index(difference.argmax(), difference.shape)
    if difference[image, klass] > ONNX_TOLERANCE:
        raise ExportError(
            f"{path}: ONNX Runtime's probability of {classes[klass]} for test image {files[image]} is "
            f"{probabilities[image, klass]:.6f}, the Keras model's {keras_probabilities[image, klass]:.6f}: "
            f"they differ by {difference[image, klass]:.2e}, more than the tolerance {ONNX_TOLERANCE:g}. "
            "The conversion changed the model; the ONNX file is not usable as the trained model."
        )


def latency_ms(predict, one_image, runs, warmup=5):
    """Median and 90th percentile wall time of `predict` on one image, in milliseconds."""
    for _ in range(warmup):
        predict(one_image)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        np.asarray(predict(one_image))
        times.append((time.perf_counter() - started) * 1000)
    return {"median": float(np.median(times)), "p90": float(np.percentile(times, 90)), "runs": runs}


def measured(name, path, probabilities, keras_probabilities, y_true, classes, latency):
    test = test_metrics(y_true, probabilities, classes)
    return {
        "format": name,
        "description": DESCRIPTIONS[name],
        "path": path.name,
        "bytes": size_on_disk(path),
        "test_accuracy": test["accuracy"],
        "test_macro_f1": test["classification_report"]["macro avg"]["f1-score"],
        "agreement_with_keras": float(np.mean(probabilities.argmax(1) == keras_probabilities.argmax(1))),
        "max_probability_difference": float(np.max(np.abs(probabilities - keras_probabilities))),
        "latency_ms": latency,
    }


def size_on_disk(path):
    path = Path(path)
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size
