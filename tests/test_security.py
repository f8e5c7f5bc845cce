"""Nothing leaks or runs that should not: Kaggle credentials, zip-slip archives, code in saved models.
Markup in data-derived text is tested with the report (tests/test_report.py)."""

import re
import stat
import zipfile
from pathlib import Path

import pytest
from conftest import REPO, run_snakemake

from mribench.sources import DatasetError, obtain_dataset

FAKE_TOKEN = "KGAT_0f1e2d3c4b5a69788796a5b4c3d2e1f0"
FAKE_KEY = "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f"


def test_kaggle_credentials_appear_in_no_file(tmp_path, monkeypatch):
    """The real download rule, with fake credentials, fails at the network boundary (no internet
    here) after Snakemake's retries; no file it leaves behind contains a credential."""
    monkeypatch.setenv("KAGGLE_API_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("KAGGLE_USERNAME", "mribench-test-user")
    monkeypatch.setenv("KAGGLE_KEY", FAKE_KEY)
    result = run_snakemake(tmp_path, "--until", "obtain_dataset", configfiles=(), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert output.count("Error in rule obtain_dataset") == 3  # the first attempt and two retries
    log = (tmp_path / "logs/obtain_dataset/obtain_dataset.log").read_text()
    assert "cannot be downloaded" in log or "cannot be reached" in log
    assert "dataset: {source: path" in log
    assert not (tmp_path / "results/data/dataset").exists()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(".snakemake/log" in p.as_posix() for p in files)
    for text, where in [(output, "snakemake's output")] + [(p.read_bytes(), p) for p in files]:
        for secret in (FAKE_TOKEN, FAKE_KEY):
            assert (secret not in text) if isinstance(text, str) else (secret.encode() not in text), where


def zip_with(path, name, data=b"x"):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Training/glioma/ok.jpg", b"fine")
        archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "name",
    [
        "/tmp/mribench-zip-slip.txt",
        "../mribench-zip-slip.txt",
        "Training/../../mribench-zip-slip.txt",
        "C:/mribench-zip-slip.txt",
    ],
)
def test_zip_slip_is_refused(tmp_path, name):
    archive = zip_with(tmp_path / "evil.zip", name)
    dest = tmp_path / "results" / "dataset"
    with pytest.raises(DatasetError, match=re.escape(repr(name))) as error:
        obtain_dataset(dest, {"source": "path", "path": str(archive)})
    assert str(archive) in str(error.value) and "refusing" in str(error.value)
    assert not Path("/tmp/mribench-zip-slip.txt").exists()
    assert not (tmp_path / "mribench-zip-slip.txt").exists()
    assert list((tmp_path / "results").iterdir()) == []  # no dataset, no staging folder


def test_a_zip_link_to_a_system_file_is_left_out_unread(tmp_path):
    """A link entry is made a link in the staging folder only; copy_tree leaves it out, unread."""
    with zipfile.ZipFile(tmp_path / "dataset.zip", "w") as zf:
        for name in ("Training/glioma/ok.jpg", "Testing/glioma/ok.jpg"):
            zf.writestr(name, b"fine")
        info = zipfile.ZipInfo("Training/glioma/link.jpg")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    dataset = tmp_path / "results" / "dataset"
    source = {"source": "path", "path": str(tmp_path / "dataset.zip")}
    with pytest.raises(DatasetError, match="1 a link out of the source") as stopped:
        obtain_dataset(dataset, source)
    assert "zip the files themselves" in str(stopped.value) and "follow_links_out" not in str(stopped.value)
    record = obtain_dataset(dataset, source, {"follow_links_out": True, "max_left_out_share": 1})
    assert record["links"] == [
        {"path": "Training/glioma/link.jpg", "target": "/etc/passwd", "action": "left out",
         "reason": "points outside the source folder"}
    ]  # fmt: skip
    assert sorted(p.name for p in dataset.rglob("*") if p.is_file()) == ["ok.jpg", "ok.jpg"]


def test_models_are_loaded_in_safe_mode_only():
    """Every load_model call in the package refuses Python code (Lambda layers) in a model file."""
    calls = [
        (path.name, line)
        for path in (REPO / "src" / "mribench").rglob("*.py")
        for line in path.read_text().splitlines()
        if "models.load_model(" in line
    ]
    assert calls
    for name, line in calls:
        assert "safe_mode=True" in line, f"{name}: {line.strip()}"
