"""Obtaining the dataset: the real kaggle client without credentials, local folders and zips."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mribench.sources import DatasetError, copy_local_dataset, obtain_dataset, safe_extract

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
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()


def test_zip_symlinks_are_refused(tmp_path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("Training/glioma/link.jpg")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(DatasetError, match="refusing symbolic link"):
        safe_extract(archive, tmp_path / "out")


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
