"""Obtaining the dataset: the real kaggle client without credentials, local folders and zips, their links."""

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mribench.sources import (
    DatasetError,
    copy_local_dataset,
    obtain_dataset,
    user_path,
    write_dataset,
)

CLASSES = ["glioma", "notumor"]


def kaggle_tree(root):
    for folder in ("Training", "Testing"):
        for label in CLASSES:
            (root / folder / label).mkdir(parents=True)
            (root / folder / label / f"{label}.jpg").write_bytes(b"jpeg bytes")
    return root


def zip_folder(folder, archive, prefix=""):
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def layout(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


EXPECTED = [f"{s}/{c}/{c}.jpg" for s in ("Testing", "Training") for c in CLASSES]
ACCEPT_ANY_SHARE = {"max_left_out_share": 1}  # to see what is left out without stopping


@pytest.mark.parametrize("prefix", ["", "Brain Tumor MRI Dataset/"])
def test_zip_with_or_without_a_top_level_folder(tmp_path, prefix):
    archive = zip_folder(kaggle_tree(tmp_path / "src"), tmp_path / "data.zip", prefix)
    obtain_dataset(tmp_path / "out" / "dataset", {"source": "path", "path": str(archive)})
    assert layout(tmp_path / "out" / "dataset") == EXPECTED
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["dataset"]  # no staging folder left


def test_folder_is_copied(tmp_path):
    source = kaggle_tree(tmp_path / "outer" / "inner")
    copy_local_dataset(tmp_path / "outer", tmp_path / "dataset")
    assert layout(tmp_path / "dataset") == EXPECTED
    assert layout(source) == EXPECTED


def test_not_the_kaggle_layout(tmp_path):
    (tmp_path / "src" / "Training" / "glioma").mkdir(parents=True)
    with pytest.raises(
        DatasetError, match="not in the Kaggle layout: expected Training/<class>/ and Testing/"
    ):
        obtain_dataset(tmp_path / "out" / "dataset", {"source": "path", "path": str(tmp_path / "src")})
    assert list((tmp_path / "out").iterdir()) == []  # nothing half-made left behind


def test_not_a_zip(tmp_path):
    (tmp_path / "data.zip").write_text("not a zip")
    with pytest.raises(DatasetError, match="neither a folder nor a .zip"):
        copy_local_dataset(tmp_path / "data.zip", tmp_path / "dataset")


@pytest.mark.parametrize("entry", ["../evil.txt", "/etc/evil.txt", "Training/../../evil.txt", "C:/evil.txt"])
def test_zip_entries_escaping_the_folder_are_refused(tmp_path, entry):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Training/glioma/a.jpg", b"ok")
        zf.writestr(entry, b"evil")
    with pytest.raises(DatasetError, match="refusing entry"):
        obtain_dataset(tmp_path / "out" / "dataset", {"source": "path", "path": str(archive)})
    assert not (tmp_path / "evil.txt").exists() and list((tmp_path / "out").iterdir()) == []


def folder_with_links(tmp_path):
    """A source folder holding every kind of link real folders hold, and a secret file outside it."""
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret.jpg").write_bytes(b"secret bytes")
    (outside / "dir" / "secret.jpg").write_bytes(b"secret bytes")
    source = tmp_path / "src"
    for folder in ("Training/glioma", "Training/notumor", "Testing/glioma", "more/notumor"):
        (source / folder).mkdir(parents=True)
        (source / folder / f"{folder.replace('/', '-')}.jpg").write_bytes(folder.encode())
    links = {
        "Training/notumor/loop": "..",  # the folder it is in: would loop
        "Training/notumor/self": "self",  # a link to itself
        "Training/glioma/outside.jpg": "../../../outside/secret.jpg",
        "Training/glioma/absolute.jpg": str(outside / "secret.jpg"),
        "Training/glioma/outdir": str(outside / "dir"),
        "Training/glioma/dangling.jpg": "missing.jpg",
        "Training/glioma/copy.jpg": "Training-glioma.jpg",  # inside: resolved
        "Testing/notumor": "../more/notumor",  # a folder inside: resolved and walked
    }
    for name, target in links.items():
        (source / name).symlink_to(target)
    return source


def zip_keeping_links(folder, archive):
    """A zip of `folder` with its symbolic links stored as link entries (as `zip --symlinks` does)."""
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(folder.rglob("*")):
            name = path.relative_to(folder).as_posix()
            if path.is_symlink():
                link = zipfile.ZipInfo(name)
                link.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(link, os.readlink(path))
            elif path.is_file():
                zf.write(path, name)
    return archive


LEFT_OUT = {
    "Training/notumor/loop": "a link loop: it points to a folder that contains it",
    "Training/notumor/self": "a loop of links",
    "Training/glioma/outside.jpg": "points outside the source folder",
    "Training/glioma/absolute.jpg": "points outside the source folder",
    "Training/glioma/outdir": "points outside the source folder",
    "Training/glioma/dangling.jpg": "points to nothing",
}


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_links_are_resolved_inside_the_folder_and_left_out_otherwise(tmp_path, kind, capsys):
    source = folder_with_links(tmp_path)
    if kind == "zip":
        source = zip_keeping_links(source, tmp_path / "src.zip")
    dest = tmp_path / "results" / "dataset"
    record = obtain_dataset(dest, {"source": "path", "path": str(source)}, ACCEPT_ANY_SHARE)

    assert layout(dest) == [
        "Testing/glioma/Testing-glioma.jpg",
        "Testing/notumor/more-notumor.jpg",  # the linked folder's file
        "Training/glioma/Training-glioma.jpg",
        "Training/glioma/copy.jpg",
        "Training/notumor/Training-notumor.jpg",
    ]  # more/ lies beside Training/ and Testing/: not part of the dataset
    assert (dest / "Training/glioma/copy.jpg").read_bytes() == b"Training/glioma"
    assert not any(p.is_symlink() for p in dest.rglob("*"))
    assert all(b"secret" not in p.read_bytes() for p in dest.rglob("*") if p.is_file())
    links = {link["path"]: link for link in record["links"]}
    assert {path: link["reason"] for path, link in links.items() if link["action"] == "left out"} == LEFT_OUT
    assert {path for path, link in links.items() if link["action"] == "resolved"} == {
        "Training/glioma/copy.jpg",
        "Testing/notumor",
    }
    assert links["Training/glioma/outside.jpg"]["target"] == "../../../outside/secret.jpg"
    assert record["files"] == 5 and record["kind"] == kind
    assert {"path": "more", "reason": "beside the dataset's folders", "detail": "a folder"} in record[
        "left_out"
    ]
    log = capsys.readouterr().out
    where = f"{source}/" if kind == "folder" else ""
    after = "" if kind == "folder" else f" in {source}"
    assert f"left out link {where}Training/notumor/loop{after} -> ..: a link loop" in log
    assert (
        f"link {where}Training/glioma/copy.jpg{after} -> Training-glioma.jpg: resolved inside the folder"
        in log
    )


def test_a_zip_never_writes_through_its_own_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("Training/glioma/a.jpg", "Testing/glioma/a.jpg", "Training/taken/x.jpg"):
            zf.writestr(name, b"image")
        for name, target in {
            "Training/evil": str(outside),
            "Training/evil/b.jpg": "/etc/passwd",  # would be made inside the link above: outside
            "Training/taken": str(outside),  # a folder of the archive has this name already
        }.items():
            link = zipfile.ZipInfo(name)
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, target)
    record = obtain_dataset(
        tmp_path / "out" / "dataset", {"source": "path", "path": str(archive)}, ACCEPT_ANY_SHARE
    )
    assert list(outside.iterdir()) == []
    assert {link["path"]: link["reason"] for link in record["links"]} == {
        "Training/evil": "points outside the source folder",
        "Training/evil/b.jpg": "inside a folder that is a link",
        "Training/taken": "another entry of the archive has its name",
    }
    assert layout(tmp_path / "out" / "dataset") == [
        "Testing/glioma/a.jpg",
        "Training/glioma/a.jpg",
        "Training/taken/x.jpg",
    ]


def test_a_source_folder_holding_the_results_is_not_copied_into_itself(tmp_path):
    source = kaggle_tree(tmp_path)
    obtain_dataset(tmp_path / "results" / "dataset", {"source": "path", "path": str(source)})
    assert layout(tmp_path / "results" / "dataset") == EXPECTED


def test_special_files_are_left_out_without_reading_them(tmp_path):
    source = kaggle_tree(tmp_path / "src")
    os.mkfifo(source / "Training" / "glioma" / "pipe.jpg")  # reading it would wait for ever
    with pytest.raises(DatasetError, match="1 of 2 entries left out .*1 not a regular file"):
        obtain_dataset(tmp_path / "stopped" / "dataset", {"source": "path", "path": str(source)})
    record = obtain_dataset(
        tmp_path / "out" / "dataset", {"source": "path", "path": str(source)}, ACCEPT_ANY_SHARE
    )
    assert record["special_files"] == [{"path": "Training/glioma/pipe.jpg", "kind": "named pipe"}]
    assert layout(tmp_path / "out" / "dataset") == EXPECTED


def test_the_record_names_the_users_own_files(tmp_path):
    source = kaggle_tree(tmp_path / "outer" / "inner")
    write_dataset(
        tmp_path / "out" / "dataset",
        tmp_path / "obtained.json",
        {"source": "path", "path": str(source.parent)},
    )
    record = json.loads((tmp_path / "obtained.json").read_text())
    assert record == {
        "source": "path", "kind": "folder", "origin": str(source.parent), "root": "inner", "files": 4,
        "links": [], "special_files": [], "left_out": [],
    }  # fmt: skip
    assert user_path(record, "Training/glioma/glioma.jpg") == str(source / "Training/glioma/glioma.jpg")
    archive = zip_folder(source, tmp_path / "data.zip", prefix="Brain Tumor MRI Dataset/")
    record = obtain_dataset(tmp_path / "zipped" / "dataset", {"source": "path", "path": str(archive)})
    assert user_path(record, "Training/glioma/glioma.jpg") == (
        f"Brain Tumor MRI Dataset/Training/glioma/glioma.jpg in {archive}"
    )


def test_kaggle_without_credentials_explains_what_to_do(tmp_path):
    """The real kaggle client, with no credentials anywhere: our message, not its SystemExit or stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env |= {"HOME": str(tmp_path), "KAGGLE_CONFIG_DIR": str(tmp_path / "kaggle-config")}
    script = (
        "from mribench.sources import obtain_dataset\n"
        "obtain_dataset('out/dataset',"
        " {'source': 'kaggle', 'kaggle_slug': 'masoudnickparvar/brain-tumor-mri-dataset'})"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "DatasetError: Kaggle credentials were not found" in result.stderr
    assert "KAGGLE_API_TOKEN" in result.stderr and "~/.kaggle/access_token" in result.stderr
    assert "source: path" in result.stderr
    assert list(Path(tmp_path, "out").iterdir()) == []
