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

What is copied (the same for a folder, a zip and `mribench predict`'s folders, README "What is
left out"): the regular files directly in <split>/<class>/, nothing else of the source. Left out
and recorded, each with its reason: system and hidden files (.DS_Store, Thumbs.db, AppleDouble ._
files, @eaDir/, __MACOSX/, ...), files in subfolders of a class folder (where thumbnail and metadata
caches live: near twins of the images that would spread over train, validation and test), links
that point out of the source (unless config obtain.follow_links_out; never a zip's), to nothing or
into a loop, special files (FIFOs, sockets, devices: never read), and whatever lies beside the
layout's folders. A link whose target lies inside the source is copied as its target; so is a
linked Training/ or class folder wherever it points (the layout the user gave). When the left-out
entries that could have been images reach obtain.max_left_out_share of a class folder's entries,
the job stops, naming the reason and the key that accepts it.

The record obtain_dataset returns (written to results/data/obtained.json) lists what was left out
and every link met, and maps each copied file back to the user's own path (`user_path`).
"""

import contextlib
import errno
import io
import json
import os
import shutil
import stat
import sys
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import requests

from mribench import archives, phantoms
from mribench.layout import (
    SPLITS,
    FolderTree,
    Layout,
    LayoutError,
    ZipTree,
    check_class_folders,
    find_root,
    is_system_name,
)

# Why an entry of a source was left out (obtained.json `left_out`, the console summary, the report).
SYSTEM = "system or hidden file"
NESTED = "in a subfolder of a class folder"
BESIDE = "beside the dataset's folders"
LINK_OUT = "a link out of the source"
LINK_BROKEN = "a link to nothing"
LINK_LOOP = "a link loop"
LINK_UNMADE = "a link entry of the zip that cannot be made"
SPECIAL = "not a regular file"
# The reasons whose entries could be images the user meant: they count against max_left_out_share.
COULD_BE_IMAGES = (NESTED, LINK_OUT, LINK_BROKEN, LINK_UNMADE, SPECIAL)
FIXES = {
    NESTED: "move the images you mean directly into their class folder",
    LINK_OUT: "set `obtain.follow_links_out: true` to copy what the links point to",
    LINK_BROKEN: "fix the links (is the store they point to moved or not mounted?)",
    LINK_UNMADE: "zip the files themselves, not links to them (a zip's links are never followed out of it)",
    SPECIAL: "replace them with regular files",
}
EXAMPLES = 3

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


@dataclass(frozen=True)
class Policy:
    """How a folder or zip is read: config `obtain` (these defaults are config.yaml's)."""

    follow_links_out: bool = False
    max_left_out_share: float = 0.05
    max_archive_gigabytes: float = 10


def write_dataset(dest, record_json, dataset, obtain=None, console=None):
    """obtain_dataset and its record as JSON; a summary of what was left out goes to `console`
    (the terminal, where the log is not read), or why the job stopped."""
    try:
        record = obtain_dataset(dest, dataset, obtain)
    except DatasetError as error:
        tell(console, f"obtain_dataset stopped: {error}")
        raise
    Path(record_json).write_text(json.dumps(record, indent=2) + "\n")
    tell(console, left_out_summary(record, "obtain_dataset", record_json))


def tell(console, text):
    print(text, file=console or sys.stderr, flush=True)


def obtain_dataset(dest, dataset, obtain=None):
    """Fill `dest` with Training/<class>/ and Testing/<class>/ from the configured source.

    `dataset`: config `dataset` (the keys of its source; `classes`, when given, must each have a folder,
    `root` chooses among several candidate roots); `obtain`: config `obtain` (Policy).
    Returns the record: source, kind (folder, zip or None), origin (the user's folder or zip),
    root (where Training/ and Testing/ lie inside it), files, what was left out and the links met."""
    policy = Policy(**(obtain or {}))
    layout = kaggle_layout(dataset.get("classes"))
    with staging_folder(dest) as staging:
        if dataset["source"] == "kaggle":
            record = download_from_kaggle(dataset["kaggle_slug"], staging, layout, policy)
        elif dataset["source"] == "path":
            record = copy_local_dataset(
                Path(dataset["path"]), staging, layout, policy, chosen_root=dataset.get("root")
            )
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


def kaggle_layout(classes):
    """Training/<class>/ and Testing/<class>/, a folder for each of `classes` (None: unchecked)."""
    classes = tuple(classes) if classes else None
    return Layout("the Kaggle layout", SPLITS, classes, "dataset.root", "dataset.classes")


def training_files_per_class(dataset):
    """How many files each class folder of Training/ holds in the dataset that the config's `dataset`
    section names, where that is known before any job runs: the demo's from its settings, a local
    folder's or zip's from its listing; None for a Kaggle download, or for a source that is not in the
    Kaggle layout (the obtain_dataset job says what is wrong with it)."""
    if dataset["source"] == "demo":
        return dict.fromkeys(dataset["classes"], dataset["demo"]["train_per_class"])
    if dataset["source"] != "path" or not dataset["path"]:
        return None
    source, layout = Path(dataset["path"]), kaggle_layout(dataset["classes"])
    try:
        tree = FolderTree(source) if source.is_dir() else ZipTree(archives.read_entries(source))
        root = find_root(tree, layout, source, dataset["root"])
        check_class_folders(tree, layout, root, source)
    except (OSError, zipfile.BadZipFile, LayoutError, archives.ArchiveError):
        return None
    return {
        label: sum(
            kind == "file" and not is_system_name(name)
            for name, kind in tree.children(root / "Training" / label).items()
        )
        for label in dataset["classes"]
    }


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
    return {"kind": kind, "origin": origin, "root": root, "links": [], "special_files": [], "left_out": []}


def user_path(record, relative):
    """The user's own name for the dataset file `relative` (Training/<class>/<file>), or None when the
    files were generated here (demo)."""
    if record is None or record["kind"] is None:
        return None
    inside = PurePosixPath(record["root"], relative).as_posix()
    if record["kind"] == "folder":
        return str(Path(record["origin"], inside))
    return f"{inside} in {record['origin']}"


def download_from_kaggle(slug, dest, layout, policy):
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
    found = list(download_dir.glob("*.zip"))
    if len(found) != 1:
        raise DatasetError(f"expected one zip from Kaggle in {download_dir}, found {len(found)}")
    return copy_local_dataset(found[0], dest, layout, policy, origin=f"the Kaggle download of {slug}")


def copy_local_dataset(
    source, dest, layout=None, policy=Policy(), chosen_root=None, origin=None, path_key="dataset.path"
):
    """Copy a folder, or extract a zip, holding `layout` (at its top or inside one or two folders) into
    `dest`, by the policy of the module docstring; returns the record (see obtain_dataset). `origin`
    names a zip in messages (default: its path); `path_key` is the config key of `source`.
    `layout` defaults to the Kaggle layout, its class folders unchecked."""
    layout = layout or kaggle_layout(None)
    if not source.exists():
        raise DatasetError(f"{path_key} {source} does not exist; set {path_key} in config.yaml")
    source = source.absolute()
    try:
        if source.is_dir():
            return copy_folder(source, dest, layout, policy, chosen_root)
        if not zipfile.is_zipfile(source):
            raise DatasetError(f"{path_key} {source} is neither a folder nor a .zip file")
        return copy_zip(source, dest, layout, policy, chosen_root, origin or str(source))
    except (LayoutError, archives.ArchiveError) as error:
        raise DatasetError(str(error)) from None


def copy_folder(source, dest, layout, policy, chosen_root):
    tree = FolderTree(source)
    root = find_root(tree, layout, source, chosen_root)
    check_class_folders(tree, layout, root, source)
    record = new_record("folder", str(source), root.as_posix().removeprefix("."))
    note_beside(record, tree, layout, root)
    walker = Walker(record, {source, source / root}, policy.follow_links_out, trust_layout_links=True)
    walker.skip = Path(os.path.realpath(dest.parent))  # inside the source when results/ is: never copied
    walker.walk(source / root, levels=layout.levels, only=layout.splits or None)
    check_left_out_share(record, walker.files, layout, policy, source)
    walker.copy_to(dest, shutil.copyfile)
    return record


def copy_zip(archive, dest, layout, policy, chosen_root, origin):
    """Extract the chosen root's layout folders only (and the targets of their link entries), within
    obtain.max_archive_gigabytes, then copy them as a folder is copied (a zip's links are never
    followed out of it: they name paths on its author's machine)."""
    entries = archives.read_entries(archive)
    tree = ZipTree(entries)
    root = find_root(tree, layout, origin, chosen_root)
    check_class_folders(tree, layout, root, origin)
    record = new_record("zip", origin, root.as_posix().removeprefix("."))
    note_beside(record, tree, layout, root)
    needed = archives.entries_under(entries, [root / split for split in layout.splits] or [root])
    archives.check_limits(archive, needed, policy.max_archive_gigabytes * 1e9, "obtain.max_archive_gigabytes")
    unpacked = dest.parent / "unpacked"

    def unmade(name, target, reason):
        relative = PurePosixPath(name)
        note_link(record, relative_to_root(relative, root), target, reason, LINK_UNMADE)

    archives.extract(archive, needed, unpacked, unmade)
    walker = Walker(record, {unpacked}, follow_links_out=False, trust_layout_links=False)
    walker.walk(unpacked / root, levels=layout.levels, only=layout.splits or None)
    check_left_out_share(record, walker.files, layout, policy, origin)
    walker.copy_to(dest, os.link)  # the extracted files are ours: link, not copy
    return record


def relative_to_root(name, root):
    return name.relative_to(root).as_posix() if name.is_relative_to(root) else name.as_posix()


def note_beside(record, tree, layout, root):
    """What lies beside the split folders at the root: not part of the dataset, not copied."""
    if not layout.splits:
        return
    for name, kind in sorted(tree.children(root).items()):
        if name not in layout.splits and not is_system_name(name):
            leave(record, name, BESIDE, f"a {kind}")


class Walker:
    """Walks a source by the module's policy: `files` to copy ((place, real path) pairs), and every
    entry left out or link met noted in `record`.

    `boundaries`: the folders a link may point into (the source; a followed Training/ or class
    folder joins them); `trust_layout_links`: follow a linked split or class folder wherever it
    points (a folder the user gave, never a zip's links)."""

    def __init__(self, record, boundaries, follow_links_out=False, trust_layout_links=False):
        self.record = record
        self.boundaries = {Path(os.path.realpath(folder)) for folder in boundaries}
        self.follow_links_out = follow_links_out
        self.trust_layout_links = trust_layout_links
        self.skip = None
        self.files, self.folders = [], []

    def walk(self, top, levels=None, only=None):
        """Walk `top`, whose images lie `levels` folders deep (None: at any depth, folders walked
        recursively); at the top only the folders named in `only` (when given) are walked."""
        real_top = Path(os.path.realpath(top))
        self.walk_folder(real_top, PurePosixPath(), {real_top}, levels, only)
        return self

    def walk_folder(self, folder, relative, ancestors, levels, only):
        """`folder`: the real path to read; `relative`: its place in the copy; `ancestors`: the real
        folders above it on this path, a link back to any of which would loop."""
        self.folders.append(relative)
        depth = len(relative.parts)
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            raise unreadable(self.record, relative, error) from None
        for entry in entries:
            place = relative / entry.name
            if only is not None and depth == 0 and entry.name not in only:
                continue  # beside the layout's folders: noted by note_beside
            if is_system_name(entry.name):
                leave(self.record, place, SYSTEM)
                continue
            real = Path(folder, entry.name)
            if entry.is_symlink():
                layout_level = levels is not None and depth < levels
                real = self.resolve_link(entry.path, place, ancestors, layout_level)
                if real is None:
                    continue
            if real == self.skip:
                continue
            if entry.is_dir():  # the directory entry's type, cached: no stat per file (links: their target's)
                if real in ancestors:  # a real folder reached again through a link above it
                    note_link(
                        self.record, place, str(real), "a link loop: reached again through a link above it"
                    )
                elif levels is not None and depth >= levels:
                    self.leave_nested(real, place)
                else:
                    self.walk_folder(real, place, ancestors | {real}, levels, None)
            elif entry.is_file():
                self.files.append((place, real))
            else:
                kind = special_kind(real)
                self.record["special_files"].append({"path": place.as_posix(), "kind": kind})
                leave(self.record, place, SPECIAL, f"a {kind}")

    def resolve_link(self, link, place, ancestors, layout_level):
        """The real path of a link's target, or None when the link is left out (and noted)."""
        target = os.readlink(link)
        real = Path(os.path.realpath(link))
        inside = any(real.is_relative_to(boundary) for boundary in self.boundaries)
        layout_link = layout_level and self.trust_layout_links and real.is_dir()
        reason = None
        if not inside and not (self.follow_links_out or layout_link):
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
            note_link(self.record, place, target, reason)
            return None
        if inside:
            how = "resolved inside the folder"
        elif layout_link:
            how = "followed: a split or class folder of the source"
            self.boundaries.add(real)
        else:
            how = "followed out of the source (obtain.follow_links_out)"
        print(f"link {shown(self.record, place)} -> {target}: {how}")
        action = "resolved" if inside else "followed"
        self.record["links"].append(
            {"path": place.as_posix(), "target": target, "action": action, "reason": ""}
        )
        return real

    def leave_nested(self, folder, place):
        """Every file under a subfolder of a class folder, left out (its links are not followed)."""
        for current, subfolders, names in os.walk(folder):
            subfolders[:] = sorted(name for name in subfolders if not is_system_name(name))
            relative = Path(current).relative_to(folder)
            links = [name for name in subfolders if Path(current, name).is_symlink()]
            for name in sorted(names + links):
                if not is_system_name(name):
                    leave(self.record, place / relative.as_posix() / name, NESTED)

    def copy_to(self, dest, transfer):
        """Copy the walked folders and files to `dest` with `transfer(source_file, dest_file)`."""
        for relative in self.folders:
            (dest / relative).mkdir(parents=True, exist_ok=True)
        for place, real in self.files:
            try:
                transfer(real, dest / place)
            except OSError as error:
                raise unreadable(self.record, place, error) from None


def leave(record, place, reason, detail=""):
    place = PurePosixPath(place).as_posix()
    print(f"left out {shown(record, place)}: {reason}" + (f" ({detail})" if detail else ""))
    record["left_out"].append({"path": place, "reason": reason, "detail": detail})


def note_link(record, place, target, reason, category=None):
    """A link left out: in `links` with its specific reason, in `left_out` under its category."""
    place = PurePosixPath(place).as_posix()
    print(f"left out link {shown(record, place)} -> {target}: {reason}")
    record["links"].append({"path": place, "target": target, "action": "left out", "reason": reason})
    if category is None:
        category = {"points outside the source folder": LINK_OUT, "points to nothing": LINK_BROKEN}.get(
            reason, LINK_LOOP
        )
    record["left_out"].append({"path": place, "reason": category, "detail": f"-> {target}: {reason}"})


def check_left_out_share(record, files, layout, policy, origin):
    """Stop when the entries left out that could be images reach max_left_out_share of a class
    folder's entries (in Training/<class>/ and Testing/<class>/ separately)."""
    levels = layout.levels
    kept = Counter(place.parts[:levels] for place, _ in files if len(place.parts) > levels)
    lost = {}
    for item in record["left_out"]:
        parts = PurePosixPath(item["path"]).parts
        if item["reason"] in COULD_BE_IMAGES and len(parts) > levels:
            lost.setdefault(parts[:levels], []).append(item)
    problems, reasons = [], set()
    for folder, items in sorted(lost.items()):
        share = len(items) / (len(items) + kept[folder])
        if share <= policy.max_left_out_share:
            continue
        by_reason = Counter(item["reason"] for item in items)
        reasons |= set(by_reason)
        problems.append(
            f"  {'/'.join(folder)}/: {len(items)} of {len(items) + kept[folder]} entries left out "
            f"({share:.0%}): "
            + "; ".join(
                f"{n} {reason} (e.g. {examples([i['path'] for i in items if i['reason'] == reason])})"
                for reason, n in by_reason.most_common()
            )
        )
    if problems:
        worst = max(len(i) / (len(i) + kept[f]) for f, i in lost.items())
        fixes = [FIXES[reason] for reason in COULD_BE_IMAGES if reason in reasons]
        if record["kind"] == "zip" and LINK_OUT in reasons:  # a zip's links name its author's paths
            fixes[fixes.index(FIXES[LINK_OUT])] = FIXES[LINK_UNMADE]
        raise DatasetError(
            f"{origin}: a substantial share of a class folder would be left out (more than "
            f"obtain.max_left_out_share = {policy.max_left_out_share}):\n" + "\n".join(problems) + "\n"
            f"To use them, {'; or '.join(fixes)}. To accept leaving them out, set "
            f"`obtain.max_left_out_share` to at least {worst:.2f}. Each entry is listed in this job's log."
        )


def left_out_summary(record, job, record_json):
    """What the console shows at the end of an obtain job: counts per reason, a few examples each,
    and where the full list is."""
    origin = record["origin"] or f"the {record['source']} source"
    root = f" (root {record['root']!r})" if record.get("root") else ""
    lines = [f"{job}: {record['files']} files from {origin}{root}"]
    by_reason = {}
    for item in record["left_out"]:
        by_reason.setdefault(item["reason"], []).append(item["path"])
    followed = sum(link["action"] == "followed" for link in record["links"])
    if followed:
        lines.append(f"  {followed} links followed out of the source folder (their targets copied)")
    if not by_reason:
        return "\n".join(lines + ["  nothing left out"])
    lines.append(f"  left out (full list: {record_json}, `left_out`):")
    for reason, paths in sorted(by_reason.items(), key=lambda item: -len(item[1])):
        lines.append(f"    {len(paths)} {reason}: {examples(paths)}")
    return "\n".join(lines)


def examples(paths):
    return ", ".join(paths[:EXAMPLES]) + (", ..." if len(paths) > EXAMPLES else "")


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


def walk_images(folder, follow_links_out=False):
    """The files under `folder` at any depth by the same policy (for `mribench predict`): the files,
    and the entries left out other than system files ((path, reason) pairs)."""
    record = new_record("folder", str(folder), "")
    with contextlib.redirect_stdout(io.StringIO()):  # the notes of obtain's log
        walker = Walker(record, {folder}, follow_links_out).walk(folder)
    left_out = [
        (Path(folder, item["path"]), item["reason"] + (f" ({item['detail']})" if item["detail"] else ""))
        for item in record["left_out"]
        if item["reason"] != SYSTEM
    ]
    return [Path(folder, place) for place, _ in walker.files], left_out
