"""Obtain the dataset in the Kaggle layout from Kaggle, a local folder or zip, or the phantom generator.

Every source writes into a temporary folder beside the destination and renames it at the end,
so an interrupted download or extraction never leaves a half dataset that looks complete.
"""

import contextlib
import io
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import requests

from mribench import phantoms

SPLITS = ("Training", "Testing")

KAGGLE_CREDENTIALS_HELP = """\
Kaggle credentials were not found or not accepted (or Kaggle could not be reached to check
them), so the dataset {slug} cannot be downloaded.
The kaggle client looks for them, in this order:
  - the environment variable KAGGLE_API_TOKEN (a token from https://www.kaggle.com/settings/api),
  - the file ~/.kaggle/access_token (or $KAGGLE_CONFIG_DIR/access_token),
  - the legacy ~/.kaggle/kaggle.json (or $KAGGLE_CONFIG_DIR/kaggle.json),
    or the environment variables KAGGLE_USERNAME and KAGGLE_KEY,
  - a login cached by `kaggle auth login`.
To work offline instead, download the dataset once and set in config.yaml
  dataset: {{source: path, path: <folder or .zip in the Kaggle layout>}}"""

KAGGLE_OFFLINE_HELP = """\
Kaggle cannot be reached to download {slug} ({error}).
On a cluster whose compute nodes have no internet, run `snakemake --until obtain_dataset` on the
login node first, or download the dataset elsewhere and set dataset: {{source: path, path: ...}}."""


class DatasetError(RuntimeError):
    pass


def obtain_dataset(dest, dataset):
    """Fill `dest` with Training/<class>/ and Testing/<class>/ from the configured source."""
    with staging_folder(dest) as staging:
        if dataset["source"] == "kaggle":
            download_from_kaggle(dataset["kaggle_slug"], staging)
        elif dataset["source"] == "path":
            copy_local_dataset(Path(dataset["path"]), staging)
        else:
            demo = dataset["demo"]
            phantoms.generate_dataset(
                staging,
                dataset["classes"],
                train_per_class=demo["train_per_class"],
                test_per_class=demo["test_per_class"],
                image_size=demo["image_size"],
                seed=demo["seed"],
            )


@contextlib.contextmanager
def staging_folder(dest):
    """A fresh path beside `dest` to fill; renamed to `dest` only when the block completes."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for killed_attempt in dest.parent.glob(f".{dest.name}.partial-*"):
        shutil.rmtree(killed_attempt)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{dest.name}.partial-") as tmp:
        staging = Path(tmp) / "dataset"
        yield staging
        staging.rename(dest)


def download_from_kaggle(slug, dest):
    """Download and unpack a Kaggle dataset with the official client."""
    # The client prints to stdout on import and calls sys.exit() when it finds no credentials.
    with contextlib.redirect_stdout(io.StringIO()):
        from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.authenticate()
    except SystemExit:
        raise DatasetError(KAGGLE_CREDENTIALS_HELP.format(slug=slug)) from None
    download_dir = dest.parent / "download"
    download_dir.mkdir()
    try:
        api.dataset_download_files(slug, path=str(download_dir), unzip=False, quiet=False)
    except requests.exceptions.ConnectionError as error:
        raise DatasetError(KAGGLE_OFFLINE_HELP.format(slug=slug, error=error)) from None
    archives = list(download_dir.glob("*.zip"))
    if len(archives) != 1:
        raise DatasetError(f"expected one zip from Kaggle in {download_dir}, found {len(archives)}")
    copy_local_dataset(archives[0], dest)


def copy_local_dataset(source, dest, find_root=None):
    """Copy a folder, or safely extract a zip, holding the Kaggle layout (maybe inside one top folder).

    `find_root(folder, origin)` picks the folder to copy for another layout (default: kaggle_root)."""
    find_root = find_root or kaggle_root
    if not source.exists():
        raise DatasetError(f"dataset path {source} does not exist; set dataset.path in config.yaml")
    if source.is_dir():
        root = find_root(source, source)
        shutil.copytree(root, dest)
        _check_complete(dest, count_files(root), source)
        return
    if not zipfile.is_zipfile(source):
        raise DatasetError(f"dataset path {source} is neither a folder nor a .zip file")
    unpacked = dest.parent / "unpacked"
    safe_extract(source, unpacked)
    find_root(unpacked, source).rename(dest)


def safe_extract(archive, dest):
    """Extract a zip, refusing entries that would land outside `dest` (zip-slip) or are symlinks."""
    dest = Path(dest)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise DatasetError(
                    f"{archive}: refusing entry {info.filename!r}, which points outside the archive"
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DatasetError(f"{archive}: refusing symbolic link entry {info.filename!r}")
        zf.extractall(dest)
        _check_complete(dest, sum(not info.is_dir() for info in zf.infolist()), archive)


def count_files(folder):
    return sum(path.is_file() for path in Path(folder).rglob("*"))


def _check_complete(copy, expected, origin):
    """A copy with fewer files than its origin is never renamed into place as the dataset."""
    if (found := count_files(copy)) != expected:
        raise DatasetError(
            f"copying {origin} gave {found} files instead of {expected}; run the workflow again"
        )


def kaggle_root(folder, origin):
    """The folder that holds Training/ and Testing/: `folder` itself or its single subfolder."""
    candidates = [folder] + [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    for candidate in candidates:
        if all((candidate / split).is_dir() for split in SPLITS):
            return candidate
    raise DatasetError(
        f"{origin} is not in the Kaggle layout: expected Training/<class>/ and Testing/<class>/ "
        "at its top level or inside one top-level folder"
    )
