"""`mribench predict`, run as a user runs it: a subprocess on image files and folders."""

import csv
import fcntl
import io
import json
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios
import zipfile
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
from conftest import REPO, bomb_png, refusing_imports
from PIL import Image

import mribench
from mribench.cli import EXIT_ERROR, EXIT_MODEL_REFUSED, EXIT_PREDICTED, EXIT_SKIPPED
from mribench.images import load_image

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


# `python -m mribench`, as the console script runs it; or, with TensorFlow and JAX made impossible to
# import (and so Keras), what must answer without their start-up (about 6 s of CPU)
AS_INSTALLED = ["-m", "mribench"]
WITHOUT_A_BACKEND = [
    "-c",
    refusing_imports("tensorflow", "jax") + "from mribench.cli import main; sys.exit(main(sys.argv[1:]))",
]


def mribench_cli(*args, way=AS_INSTALLED, **run_args):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    run_args = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True} | run_args
    return subprocess.run([sys.executable, *way, *map(str, args)], env=env, **run_args)


@pytest.fixture(scope="module")
def scans(trained_model, tmp_path_factory):
    """A folder of test phantoms in a subfolder, a PNG saved under a .jpg name, and one corrupt file."""
    folder = tmp_path_factory.mktemp("scans") / "scans"
    shutil.copytree(trained_model / "dataset" / "Testing" / "glioma", folder / "glioma")
    shutil.copytree(trained_model / "dataset" / "Testing" / "pituitary", folder / "deeper" / "pituitary")
    first_png = next((trained_model / "dataset" / "Testing" / "notumor").iterdir())
    Image.open(first_png).save(folder / "png_named.jpg", format="PNG")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    return folder


def test_version_and_help():
    assert mribench_cli("--version").stdout.strip() == f"mribench {mribench.__version__}"
    top = mribench_cli("--help")
    assert top.returncode == 0 and "predict" in top.stdout and "not a medical device" in top.stdout
    sub = mribench_cli("predict", "--help")
    for option in (
        "--model",
        "--format",
        "--gradcam",
        "--batch-size",
        "--backend",
        "--verbose",
        "IMAGE_OR_FOLDER",
    ):
        assert option in sub.stdout


def test_console_script_is_declared():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"mribench": "mribench.cli:main"}


def test_csv_matches_the_model_and_keras(trained_model, scans):
    model_path = trained_model / "run" / "model.keras"
    result = mribench_cli("predict", scans, "--model", model_path, "--format", "csv", "--batch-size", "3")
    assert result.returncode == 0, result.stderr
    assert "not a medical device" in result.stderr and "100%" not in result.stderr  # no bar in a pipe
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["file", "predicted"] + [f"p_{c}" for c in CLASSES]
    files = sorted(p for p in scans.rglob("*") if p.is_file() and not p.name.startswith("."))
    assert sorted(row["file"] for row in rows) == sorted(map(str, files))

    model = keras.models.load_model(model_path)
    pixels = np.stack([load_image(row["file"], 32) for row in rows])  # as the training pipeline reads them
    expected = model.predict(pixels.astype("float32"), verbose=0)
    printed = np.array([[float(row[f"p_{c}"]) for c in CLASSES] for row in rows])
    np.testing.assert_allclose(printed, expected, atol=1e-5)
    assert [row["predicted"] for row in rows] == [CLASSES[i] for i in expected.argmax(axis=1)]
    assert printed.std(axis=0).max() > 1e-4, "the model gives the same answer for every image"
    # only the command's own messages on stderr: no start-up notices of the backend's libraries
    assert result.stderr.splitlines() == [mribench.NOTICE]

    other = {"tensorflow": "jax", "jax": "tensorflow"}[keras.backend.backend()]
    on_other = mribench_cli("predict", scans, "--model", model_path, "--format", "csv", "--backend", other)
    assert on_other.returncode == 0, on_other.stderr
    rows_other = list(csv.DictReader(io.StringIO(on_other.stdout)))
    assert [row["predicted"] for row in rows_other] == [row["predicted"] for row in rows]
    np.testing.assert_allclose(
        [[float(row[f"p_{c}"]) for c in CLASSES] for row in rows_other], printed, atol=1e-4
    )


def test_verbose_lets_the_backends_own_messages_through(trained_model, scans, monkeypatch):
    # as a user's shell has it: TensorFlow's INFO lines on (this test process may have turned them off,
    # and on CPUs without oneDNN's notice those lines are all TensorFlow prints at start-up)
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    model_path = trained_model / "run" / "model.keras"
    quiet = mribench_cli("predict", scans, "--model", model_path, "--backend", "tensorflow")
    verbose = mribench_cli("predict", scans, "--model", model_path, "--backend", "tensorflow", "--verbose")
    assert quiet.returncode == verbose.returncode == 0
    assert quiet.stdout == verbose.stdout
    assert len(verbose.stderr.splitlines()) > len(quiet.stderr.splitlines()) == 1


def test_progress_bar_on_a_terminal(trained_model, scans):
    terminal, child_side = pty.openpty()
    fcntl.ioctl(child_side, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))  # 30 rows, 100 columns
    with ThreadPoolExecutor(1) as pool:
        screen = pool.submit(read_until_closed, terminal)
        try:
            result = mribench_cli(
                "predict", scans, "--model", trained_model / "run" / "model.keras", "--format", "csv",
                stderr=child_side,
            )  # fmt: skip
        finally:
            os.close(child_side)  # lets the reader see the end
        shown = screen.result(timeout=60)
    assert result.returncode == 0, shown
    assert "100%" in shown and "9/9" in shown
    assert len(list(csv.DictReader(io.StringIO(result.stdout)))) == 9  # stdout stays clean CSV


def read_until_closed(fd):
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def test_table_and_json(trained_model, scans):
    model_path = trained_model / "run" / "model.keras"
    image = next((scans / "glioma").iterdir())
    table = mribench_cli("predict", image, "--model", model_path)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == ["file", "predicted", *CLASSES]
    assert row.split()[0] == str(image) and row.split()[1] in CLASSES

    document = json.loads(mribench_cli("predict", image, "--model", model_path, "--format", "json").stdout)
    assert "not a medical device" in document["notice"]
    assert document["classes"] == CLASSES and document["skipped"] == []
    (prediction,) = document["predictions"]
    assert prediction["file"] == str(image)
    assert sum(prediction["probabilities"].values()) == pytest.approx(1, abs=1e-5)
    assert prediction["predicted"] == max(prediction["probabilities"], key=prediction["probabilities"].get)


def test_corrupt_file_is_reported_and_the_others_predicted(trained_model, scans, tmp_path):
    folder = tmp_path / "with_corrupt"
    shutil.copytree(scans, folder)
    (folder / "glioma" / "truncated.jpg").write_bytes(next((folder / "glioma").iterdir()).read_bytes()[:200])
    (folder / "notes.txt").write_text("not an image")
    bomb_png(folder / "glioma" / "bomb.png")
    slice_16 = np.random.default_rng(0).integers(0, 4096, (40, 40)).astype(np.uint16)
    Image.fromarray(slice_16).save(folder / "glioma" / "slice16.png")  # predicted, its overlay drawn
    result = mribench_cli(
        "predict", folder, "--model", trained_model / "run" / "model.keras", "--format", "json",
        "--gradcam", tmp_path / "cams",
    )  # fmt: skip
    assert result.returncode == 1
    document = json.loads(result.stdout)
    skipped = sorted(s["file"] for s in document["skipped"])
    assert skipped == sorted(
        str(folder / name) for name in ("glioma/truncated.jpg", "notes.txt", "glioma/bomb.png")
    )
    for name in skipped:
        assert f"skipped {name}" in result.stderr
    assert "UnusableImage: too large" in next(s["reason"] for s in document["skipped"] if "bomb" in s["file"])
    readable = [p for p in scans.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert len(document["predictions"]) == len(readable) + 1
    for prediction in document["predictions"]:
        overlay = Image.open(prediction["gradcam"])
        assert overlay.size == Image.open(prediction["file"]).size
        assert prediction["gradcam"].startswith(str(tmp_path / "cams" / "with_corrupt"))


def edited_model_copy(model_path, copy_path, edit_metadata):
    """Copy a model.keras archive with its mribench.json replaced by `edit_metadata(text)`,
    or left out where that returns None."""
    with zipfile.ZipFile(model_path) as source, zipfile.ZipFile(copy_path, "w") as out:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "mribench.json":
                data = edit_metadata(data)
            if data is not None:
                out.writestr(item, data)


def test_model_without_mribench_metadata_is_refused(trained_model, scans, tmp_path):
    stripped = tmp_path / "plain.keras"
    edited_model_copy(trained_model / "run" / "model.keras", stripped, lambda metadata: None)
    result = mribench_cli("predict", scans, "--model", stripped, way=WITHOUT_A_BACKEND)
    assert result.returncode == EXIT_MODEL_REFUSED
    assert f"{stripped} has no mribench metadata" in result.stderr
    assert result.stdout == ""


def test_metadata_that_contradicts_the_network_is_refused(trained_model, scans, tmp_path):
    altered = tmp_path / "altered.keras"
    edited_model_copy(
        trained_model / "run" / "model.keras",
        altered,
        lambda metadata: json.dumps(json.loads(metadata) | {"image_size": 64}),
    )
    result = mribench_cli("predict", scans, "--model", altered)
    assert result.returncode == EXIT_MODEL_REFUSED
    assert "metadata says 64x64" in result.stderr


def test_missing_input_and_not_a_keras_file(trained_model, tmp_path):
    model_path = trained_model / "run" / "model.keras"
    missing = mribench_cli("predict", tmp_path / "nowhere", "--model", model_path, way=WITHOUT_A_BACKEND)
    assert missing.returncode == 2 and "nowhere: no such file or folder" in missing.stderr
    text_model = tmp_path / "model.keras"
    text_model.write_text("hello")
    image = next((trained_model / "dataset" / "Testing" / "glioma").iterdir())
    refused = mribench_cli("predict", image, "--model", text_model, way=WITHOUT_A_BACKEND)
    assert refused.returncode == EXIT_MODEL_REFUSED and "is not a Keras 3 .keras archive" in refused.stderr


def test_the_exit_codes_are_distinct_and_documented():
    assert len({EXIT_PREDICTED, EXIT_SKIPPED, EXIT_ERROR, EXIT_MODEL_REFUSED}) == 4
    readme = (REPO / "README.md").read_text()
    for code, meaning in [
        (EXIT_PREDICTED, "every file predicted"),
        (EXIT_SKIPPED, "some files skipped"),
        (EXIT_ERROR, "nothing predicted"),
        (EXIT_MODEL_REFUSED, "the model file was refused"),
    ]:
        assert f"`{code}` {meaning}" in readme
    shown = " ".join(mribench_cli("predict", "--help").stdout.split())  # unwrapped
    assert "3 the model file was refused (one line says why; --verbose adds the traceback)" in shown


def with_mribench_json(model_path, copy_path, metadata_text):
    """A copy of a .keras archive with `metadata_text` as its mribench.json."""
    shutil.copy(model_path, copy_path)
    with zipfile.ZipFile(copy_path, "a") as archive:
        archive.writestr("mribench.json", metadata_text)
    return copy_path


def test_a_model_file_it_refuses_exits_3_with_one_line_and_a_traceback_only_when_verbose(
    trained_model, scans, tmp_path
):
    metadata = json.loads(zipfile.ZipFile(trained_model / "run" / "model.keras").read("mribench.json"))
    inputs = keras.Input((32, 32, 3))
    lambda_model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))  # Python code
    lambda_model.save(tmp_path / "plain_lambda.keras")
    unsafe = with_mribench_json(
        tmp_path / "plain_lambda.keras", tmp_path / "lambda.keras", json.dumps(metadata)
    )
    result = mribench_cli("predict", scans, "--model", unsafe)
    assert result.returncode == EXIT_MODEL_REFUSED and result.stdout == ""
    (line,) = [line for line in result.stderr.splitlines() if line != mribench.NOTICE]
    assert line.startswith(f"mribench predict: error: cannot use the model {unsafe}: ValueError: ")
    assert "Lambda" in line and "Traceback" not in result.stderr
    verbose = mribench_cli("predict", scans, "--model", unsafe, "--verbose")
    assert verbose.returncode == EXIT_MODEL_REFUSED and "Traceback (most recent call last)" in verbose.stderr

    model = trained_model / "run" / "model.keras"
    for name, text, reason in [
        ("broken", '{"image_size": 32, "classes": [', "mribench.json) is not valid JSON"),
        (
            "incomplete",
            json.dumps({k: v for k, v in metadata.items() if k != "image_size"}),
            "lacks 'image_size'",
        ),
    ]:
        copy = tmp_path / f"{name}.keras"
        edited_model_copy(model, copy, lambda _, text=text: text.encode())
        result = mribench_cli("predict", scans, "--model", copy)
        assert result.returncode == EXIT_MODEL_REFUSED, result.stderr
        assert reason in result.stderr and "Traceback" not in result.stderr


def test_folders_are_read_by_the_datasets_policy(trained_model, scans, tmp_path):
    """System caches are ignored (a thumbnail is an image, but not one the user means), links out of
    the folder and special files are skipped and named (exit 1), and predicted with --follow-links-out."""
    folder = tmp_path / "share"
    shutil.copytree(scans / "glioma", folder / "glioma")
    thumbnail = next((folder / "glioma").iterdir())
    for cache in ("@eaDir", "__MACOSX", ".thumbnails"):
        (folder / "glioma" / cache).mkdir()
        shutil.copy(thumbnail, folder / "glioma" / cache / "SYNOFILE_THUMB_S.jpg")
    (folder / "Thumbs.db").write_bytes(b"thumbs")
    store = tmp_path / "store"
    shutil.copytree(scans / "deeper" / "pituitary", store)
    (folder / "linked.jpg").symlink_to(next(store.iterdir()))
    os.mkfifo(folder / "pipe.jpg")  # reading it would block for ever
    own = sorted(str(p) for p in (folder / "glioma").iterdir() if p.is_file())

    result = mribench_cli(
        "predict", folder, "--model", trained_model / "run" / "model.keras", "--format", "json"
    )
    assert result.returncode == EXIT_SKIPPED, result.stderr
    document = json.loads(result.stdout)
    assert sorted(p["file"] for p in document["predictions"]) == own
    skipped = {s["file"]: s["reason"] for s in document["skipped"]}
    assert skipped[str(folder / "linked.jpg")].startswith("a link out of the source")
    assert skipped[str(folder / "pipe.jpg")] == "not a regular file (a named pipe)"
    assert len(skipped) == 2

    followed = mribench_cli(
        "predict", folder, "--model", trained_model / "run" / "model.keras", "--format", "json",
        "--follow-links-out",
    )  # fmt: skip
    document = json.loads(followed.stdout)
    assert sorted(p["file"] for p in document["predictions"]) == sorted(own + [str(folder / "linked.jpg")])
    assert [s["file"] for s in document["skipped"]] == [str(folder / "pipe.jpg")]

    unreadable = tmp_path / "notes"
    unreadable.mkdir()
    (unreadable / "notes.txt").write_text("not an image")
    nothing = mribench_cli("predict", unreadable, "--model", trained_model / "run" / "model.keras")
    assert nothing.returncode == EXIT_ERROR and "skipped" in nothing.stderr
