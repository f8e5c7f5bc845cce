"""The `mribench` command: use a model the workflow trained.

Keras and its backend are imported only once a command runs, so `--help` and `--version` answer at
once.
"""

import argparse
import contextlib
import csv
import json
import os
import sys
import traceback
from dataclasses import asdict

import mribench
from mribench import NOTICE
from mribench.backend import BACKENDS

# `mribench predict` exit codes (README, "Using a trained model"); a script can tell them apart.
EXIT_PREDICTED = 0  # every file found was predicted
EXIT_SKIPPED = 1  # some files were skipped (unreadable, or left out), the others predicted
EXIT_ERROR = 2  # nothing was predicted: bad arguments, no files, or none of them readable
EXIT_MODEL_REFUSED = 3  # the model file was refused (not mribench's, altered, unsafe, broken)
EXIT_CODES_HELP = (
    f"Exit codes: {EXIT_PREDICTED} every file predicted; {EXIT_SKIPPED} some files skipped (each named on "
    f"stderr), the others predicted; {EXIT_ERROR} nothing predicted (bad arguments, no readable file); "
    f"{EXIT_MODEL_REFUSED} the model file was refused (one line says why; --verbose adds the traceback)."
)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    return args.run(args)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mribench",
        description="Use the models trained by the mribench workflow "
        "(run the workflow itself with snakemake). " + NOTICE,
    )
    parser.add_argument("--version", action="version", version=f"mribench {mribench.__version__}")
    commands = parser.add_subparsers(dest="command", title="commands")

    predict = commands.add_parser(
        "predict",
        help="classify MRI slices with a trained model.keras",
        description="Print, per image, the predicted class and the probability of every class. The model's "
        "own metadata (base, image size, classes; preprocessing is a layer inside the model) decides how "
        "images are prepared, so they cannot be mismatched. " + EXIT_CODES_HELP + " " + NOTICE,
    )
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE_OR_FOLDER",
        help="image files, or folders searched recursively (hidden and system files such as .DS_Store, "
        "Thumbs.db, @eaDir/ and __MACOSX/ ignored; links out of the folder, to nothing or in a loop, and "
        "special files skipped); any format Pillow reads, whatever the extension",
    )
    predict.add_argument(
        "--follow-links-out",
        action="store_true",
        help="also predict the files that links in the folders point to outside them",
    )
    predict.add_argument(
        "--model",
        required=True,
        metavar="MODEL",
        help="a model.keras written by the workflow, "
        "e.g. results/runs/mobilenetv2_fine_tuning/seed42/model.keras, or its ONNX export "
        "(.../export/model.onnx, run by ONNX Runtime)",
    )
    predict.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output on stdout: an aligned table (default), CSV with one p_<class> column per class, or JSON",
    )
    predict.add_argument(
        "--gradcam",
        metavar="OUT_DIR",
        help="also write a Grad-CAM overlay PNG per image (of the predicted class) under OUT_DIR, "
        "mirroring the folders given",
    )
    predict.add_argument(
        "--batch-size", type=positive_int, default=32, help="images per inference batch (default 32)"
    )
    predict.add_argument(
        "--backend",
        choices=BACKENDS,
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="the Keras backend to run the model on, whichever trained it (default: $KERAS_BACKEND, "
        "else tensorflow)",
    )
    predict.add_argument(
        "--verbose",
        action="store_true",
        help="also show what the backend's libraries print on stderr (start-up notices, warnings), and the "
        "traceback when the model file is refused",
    )
    predict.set_defaults(run=run_predict)
    return parser


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run_predict(args):
    print(NOTICE, file=sys.stderr)
    with contextlib.nullcontext() if args.verbose else only_own_messages_on_stderr():
        return predict(args)


def predict(args):
    from mribench import backend

    backend.select(args.backend)
    from mribench.prediction import Skipped, find_images, predict_files

    try:
        files, left_out = find_images(args.images, args.follow_links_out)
    except FileNotFoundError as error:
        return fail(error)
    if not files and not left_out:
        return fail(f"no files found in {', '.join(args.images)}")
    if args.gradcam and args.model.endswith(".onnx"):
        return fail("--gradcam needs the model.keras (Grad-CAM reads the network's gradients); ONNX has none")
    try:
        model, metadata = load_model_for_prediction(args.model)
    except Exception as error:  # whatever the loader refuses with: one line, the traceback on request
        if args.verbose:
            traceback.print_exc()
        return fail(f"cannot use the model {args.model}: {refusal_reason(error)}", EXIT_MODEL_REFUSED)

    with progress_bar(len(files)) as bar:
        results = predict_files(model, metadata, files, args.batch_size, args.gradcam, progress=bar.update)
    results.skipped += [Skipped(str(path), reason) for path, reason in left_out]
    for skipped in results.skipped:
        print(f"mribench predict: skipped {skipped.file}: {skipped.reason}", file=sys.stderr)
    {"table": print_table, "csv": print_csv, "json": print_json}[args.format](results, args.model)
    if results.skipped:
        total = len(files) + len(left_out)
        print(
            f"mribench predict: {len(results.skipped)} of {total} files were skipped",
            file=sys.stderr,
        )
        return EXIT_SKIPPED if results.predictions else EXIT_ERROR
    return EXIT_PREDICTED


def refusal_reason(error):
    """Why a model file was refused, in one line."""
    from mribench.model_file import ModelMetadataError

    if isinstance(error, ModelMetadataError):
        return str(error)
    if isinstance(error, json.JSONDecodeError):
        return f"its mribench metadata (mribench.json) is not valid JSON ({error}); the file is damaged"
    if isinstance(error, KeyError):
        return f"it lacks {error.args[0]!r} (an incomplete mribench.json or an altered archive)"
    first_line = next((line for line in str(error).splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first_line} (--verbose shows the traceback)"


def load_model_for_prediction(path):
    """A model.keras on the chosen Keras backend, or an exported model.onnx on ONNX Runtime. A file
    that is not mribench's model.keras is refused before Keras is imported."""
    from mribench.model_file import check_model_file
    from mribench.prediction import load_onnx_model

    if path.endswith(".onnx"):
        return load_onnx_model(path)
    check_model_file(path)
    from mribench.model import load_checked_model

    return load_checked_model(path)


@contextlib.contextmanager
def only_own_messages_on_stderr():
    """Send what native libraries write to the stderr file descriptor (TensorFlow's absl and oneDNN
    start-up notices, XLA's) to /dev/null, while Python's sys.stderr, and so this command's messages
    and progress bar, still reach the terminal."""
    sys.stderr.flush()
    terminal = os.dup(2)
    python_stderr = sys.stderr
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    sys.stderr = open(terminal, "w", buffering=1, closefd=False)
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)


def fail(message, exit_code=EXIT_ERROR):
    print(f"mribench predict: error: {message}", file=sys.stderr)
    return exit_code


def progress_bar(total):
    """A bar on stderr when it is a terminal; none when output goes to a pipe or file."""
    from tqdm import tqdm

    return tqdm(total=total, unit="image", file=sys.stderr, disable=not sys.stderr.isatty())


def print_table(results, model_path):
    header = ["file", "predicted", *results.classes]
    rows = [
        [p.file, p.predicted, *(f"{p.probabilities[name]:.4f}" for name in results.classes)]
        for p in results.predictions
    ]
    if any(p.gradcam for p in results.predictions):
        header.append("gradcam")
        for row, p in zip(rows, results.predictions, strict=True):
            row.append(p.gradcam)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def print_csv(results, model_path):
    writer = csv.writer(sys.stdout, lineterminator="\n")
    with_gradcam = any(p.gradcam for p in results.predictions)
    writer.writerow(
        ["file", "predicted", *(f"p_{name}" for name in results.classes)]
        + (["gradcam"] if with_gradcam else [])
    )
    for p in results.predictions:
        writer.writerow(
            [p.file, p.predicted, *(f"{p.probabilities[name]:.6f}" for name in results.classes)]
            + ([p.gradcam] if with_gradcam else [])
        )


def print_json(results, model_path):
    document = {
        "notice": NOTICE,
        "model": str(model_path),
        "classes": results.classes,
        "predictions": [asdict(p) for p in results.predictions],
        "skipped": [asdict(s) for s in results.skipped],
    }
    json.dump(document, sys.stdout, indent=2)
    print()
