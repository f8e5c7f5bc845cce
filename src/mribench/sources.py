"""Obtain the dataset in the Kaggle layout from Kaggle, a local folder or zip, or the phantom generator.

Every source writes into a temporary folder beside the destination and renames it at the end,
so an interrupted download or extraction never leaves a half dataset that looks complete.

A local folder (`source: path`) is copied, not linked: results/data/dataset is the one input
every rule reads, and a copy is the only form a later edit of the user's folder cannot reach.
Hard links share the user's files (an in-place edit, `cp new.jpg old.jpg`, changes the run's data
too, and they fail across filesystems, the usual case for a cluster's project and scratch space);
symbolic links or a manifest would have every job read the user's folder, so an edit between the
audit and training would change the data silently. Snakemake does not watch the user's folder:
after changing it, re-run with `--forcerun obtain_dataset`. The copy costs little: the audit
reads every byte anyway (README, "Getting the data", has the measured time).

Links are never followed out of the source folder and never in a loop: a link whose target lies
inside the folder is copied as its target (a file, or a folder walked in turn), any other link is
left out. Special files (FIFOs, sockets, devices) are left out too. Both are listed in the log and
in the record obtain_dataset returns (written to results/data/obtained.json), which also maps each
copied file back to the user's own path for error messages (`user_path`).
"""

import contextlib
import errno
import io
import json
import os
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


def write_dataset(dest, record_json, dataset):
    """obtain_dataset, and its record as JSON (what was copied from where, which links were resolved)."""
    record = obtain_dataset(dest, dataset)
    Path(record_json).write_text(json.dumps(record, indent=2) + "\n")


def obtain_dataset(dest, dataset):
    """Fill `dest` with Training/<class>/ and Testing/<class>/ from the configured source.

    Returns the record: source, kind (folder, zip or None), origin (the user's folder or zip),
    root (where Training/ and Testing/ lie inside it), files, and the links and special files met."""
    with staging_folder(dest) as staging:
        if dataset["source"] == "kaggle":
            record = download_from_kaggle(dataset["kaggle_slug"], staging)
        elif dataset["source"] == "path":
            record = copy_local_dataset(Path(dataset["path"]), staging)
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
            record = new_record(None, None, "")
        record |= {"source": dataset["source"], "files": count_files(staging)}
    print(f"{record['files']} files in {dest}")
    return record


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


def new_record(kind, origin, root):
    return {"kind": kind, "origin": origin, "root": root, "links": [], "special_files": []}


def user_path(record, relative):
    """The user's own name for the dataset file `relative` (Training/<class>/<file>), or None when the
    files were generated here (demo)."""
    if record is None or record["kind"] is None:
        return None
    inside = PurePosixPath(record["root"], relative).as_posix()
    if record["kind"] == "folder":
        return str(Path(record["origin"], inside))
    return f"{inside} in {record['origin']}"


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
    return copy_local_dataset(archives[0], dest, origin=f"the Kaggle download of {slug}")


def copy_local_dataset(source, dest, origin=None, find_root=None):
    """Copy a folder, or safely extract a zip, holding the Kaggle layout (maybe inside one top folder);
    returns the record (see obtain_dataset). `origin` names a zip in messages (default: its path);
    `find_root(folder, origin)` picks the folder to copy for another layout (default: kaggle_root)."""
    find_root = find_root or kaggle_root
    if not source.exists():
        raise DatasetError(f"dataset path {source} does not exist; set dataset.path in config.yaml")
    source = source.absolute()
    if source.is_dir():
        root = find_root(source, source)
        record = new_record("folder", str(source), root.relative_to(source).as_posix().removeprefix("."))
        copy_tree(root, source, dest, shutil.copyfile, record)
        return record
    if not zipfile.is_zipfile(source):
        raise DatasetError(f"dataset path {source} is neither a folder nor a .zip file")
    unpacked = dest.parent / "unpacked"
    record = new_record("zip", origin or str(source), "")
    safe_extract(source, unpacked, record)
    root = find_root(unpacked, origin or source)
    record["root"] = root.relative_to(unpacked).as_posix().removeprefix(".")
    copy_tree(root, unpacked, dest, os.link, record)  # the extracted files are ours: link, not copy
    return record


def safe_extract(archive, dest, record=None):
    """Extract a zip, refusing entries that would land outside `dest` (zip-slip). Symbolic link entries
    are made links after every file is written (so no file is written through one); copy_tree then
    resolves them as it does a folder's links. Links it cannot make are listed in `record`."""
    dest = Path(dest)
    record = record if record is not None else new_record("zip", str(archive), "")
    with zipfile.ZipFile(archive) as zf:
        links = []
        for info in zf.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise DatasetError(
                    f"{archive}: refusing entry {info.filename!r}, which points outside the archive"
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                links.append((name, zf.read(info).decode("utf-8", "surrogateescape")))
        zf.extractall(dest, members=[i for i in zf.infolist() if not stat.S_ISLNK(i.external_attr >> 16)])
    dest.mkdir(parents=True, exist_ok=True)
    real_dest = Path(os.path.realpath(dest))
    for name, target in sorted(links):
        link = real_dest / name
        if os.path.realpath(link.parent) != str(link.parent):  # checked before mkdir writes through it
            note_link(record, name.as_posix(), target, "inside a folder that is a link")
        elif os.path.lexists(link):
            note_link(record, name.as_posix(), target, "another entry of the archive has its name")
        else:
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, link)


def copy_tree(root, boundary, dest, transfer, record):
    """Copy the folder `root` to `dest` with `transfer(source_file, dest_file)`, resolving links that
    stay inside `boundary` and leaving out the others and special files (listed in `record`)."""
    boundary = Path(os.path.realpath(boundary))
    staging = Path(os.path.realpath(dest.parent))  # inside the source when results/ is: never copied

    def walk(folder, relative, ancestors):
        """`folder`: the real path to read; `relative`: where it goes under dest; `ancestors`: the
        real folders above it on this path, a link back to any of which would loop."""
        (dest / relative).mkdir(parents=True, exist_ok=True)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            raise unreadable(record, relative, error) from None
        for entry in entries:
            place = relative / entry.name
            real = Path(folder, entry.name)
            if entry.is_symlink():
                real = resolve_link(entry.path, boundary, ancestors, record, place)
                if real is None:
                    continue
            if real == staging:
                continue
            if real.is_dir():
                if real in ancestors:  # a real folder reached again through a link above it
                    note_link(
                        record,
                        place.as_posix(),
                        str(real),
                        "a link loop: reached again through a link above it",
                    )
                else:
                    walk(real, place, ancestors | {real})
            elif real.is_file():
                try:
                    transfer(real, dest / place)
                except OSError as error:
                    raise unreadable(record, place, error) from None
            else:
                kind = special_kind(real)
                print(f"left out {shown(record, place)}: a {kind}, not a file")
                record["special_files"].append({"path": place.as_posix(), "kind": kind})

    top = Path(os.path.realpath(root))
    walk(top, PurePosixPath(), {top})


def resolve_link(link, boundary, ancestors, record, place):
    """The real path of a link's target, or None when the link is left out (and noted)."""
    target = os.readlink(link)
    real = Path(os.path.realpath(link))
    reason = None
    if not real.is_relative_to(boundary):
        reason = "points outside the source folder"
    else:
        try:
            os.stat(link)
        except OSError as error:
            reason = "a loop of links" if error.errno == errno.ELOOP else "points to nothing"
        else:
            if real.is_dir() and real in ancestors:
                reason = "a link loop: it points to a folder that contains it"
    if reason is not None:
        note_link(record, place.as_posix(), target, reason)
        return None
    print(f"link {shown(record, place)} -> {target}: resolved inside the folder")
    record["links"].append({"path": place.as_posix(), "target": target, "action": "resolved", "reason": ""})
    return real


def note_link(record, relative, target, reason):
    print(f"left out link {shown(record, relative)} -> {target}: {reason}")
    record["links"].append({"path": relative, "target": target, "action": "left out", "reason": reason})


def shown(record, relative):
    return user_path(record, PurePosixPath(relative).as_posix()) or str(relative)


def unreadable(record, relative, error):
    return DatasetError(
        f"cannot read {shown(record, relative)}: {error.strerror}; fix its permissions or remove it"
    )


def special_kind(path):
    mode = os.lstat(path).st_mode
    if stat.S_ISFIFO(mode):
        return "named pipe"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "device file"


def count_files(folder):
    return sum(path.is_file() for path in Path(folder).rglob("*"))


def kaggle_root(folder, origin):
    """The folder that holds Training/ and Testing/: `folder` itself or its single subfolder."""
    candidates = [folder] + sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith((".", "__"))
    )
    for candidate in candidates:
        if all((candidate / split).is_dir() for split in SPLITS):
            return candidate
    raise DatasetError(
        f"{origin} is not in the Kaggle layout: expected Training/<class>/ and Testing/<class>/ "
        "at its top level or inside one top-level folder"
    )
