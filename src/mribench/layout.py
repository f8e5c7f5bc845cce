"""Where in a folder or zip the images lie, and what to tell the user when they are not where expected.

A source holds its layout at its top or inside one or two folders (a zip's wrapping folder, a
download's version folder). The top wins when it holds the layout; otherwise two candidates below it
(two versions side by side, or one a level deeper than the other) stop the job, naming each and the
key that chooses one, rather than taking the first in alphabetical order. Errors name what was
found next to what was expected, with a hint where a name differs only in letter case or is a known
alias of the expected one.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SPLITS = ("Training", "Testing")
MAX_DEPTH = 2
MAX_NAMED = 12
# Names that mean the expected folder (keys: lower case, without spaces, _ or -).
ALIASES = {
    "train": "Training",
    "test": "Testing",
    # the older Kaggle dataset, sartajbhuvaji/brain-tumor-classification-mri
    "gliomatumor": "glioma",
    "meningiomatumor": "meningioma",
    "pituitarytumor": "pituitary",
    "notumor": "notumor",
    "normal": "notumor",
    "healthy": "notumor",
}
OLDER_KAGGLE_NAMES = {"gliomatumor", "meningiomatumor", "notumor", "pituitarytumor"}
OLDER_KAGGLE_NOTE = (
    "(glioma_tumor, meningioma_tumor, no_tumor and pituitary_tumor are the folder names of the older "
    "Kaggle dataset sartajbhuvaji/brain-tumor-classification-mri)"
)
# Folders that operating systems, NAS boxes, archivers and tools write beside or inside your own
# (compared in lower case); every name starting with "." (.DS_Store, AppleDouble "._x" files,
# .thumbnails, .@__thumb, .snapshot, .ipynb_checkpoints) is hidden and counts as a system name too.
SYSTEM_NAMES = {
    "__macosx", "@eadir", "#recycle", "#snapshot", "@recycle", "@recently-snapshot", "$recycle.bin",
    "system volume information", "lost+found", "thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r",
}  # fmt: skip


class LayoutError(RuntimeError):
    pass


# Streams that copies keep as files of their own: Windows' mark of the web (copied into WSL as
# `a.jpg:Zone.Identifier`), Synology's extended attributes (`a.jpg@SynoEAStream`).
SYSTEM_SUFFIXES = (":zone.identifier", "@synoeastream", "@synoresource")


def is_system_name(name):
    """A hidden file or folder, or one that an OS, NAS or archiver writes (see SYSTEM_NAMES)."""
    lower = name.lower()
    return name.startswith((".", "~$")) or lower in SYSTEM_NAMES or lower.endswith(SYSTEM_SUFFIXES)


@dataclass(frozen=True)
class Layout:
    """What a source must hold: `splits` folders each holding the class folders (the Kaggle layout), or,
    with no splits, the class folders themselves (an external test set, maybe in Testing/)."""

    description: str  # for messages
    splits: tuple
    classes: tuple | None  # the class folders required; None: not checked
    root_key: str  # the config key that chooses among several candidate roots
    classes_key: str

    @property
    def levels(self):
        """How many folders deep the images lie below the root."""
        return 2 if self.splits else 1

    def accepts(self, tree, folder):
        folders = tree.folders(folder)
        if self.splits:
            return all(split in folders for split in self.splits)
        return folder.name != "Training" and any(label in folders for label in self.classes)


class FolderTree:
    """The folders of a directory on disk; links to folders count as folders (the layout follows them)."""

    def __init__(self, top):
        self.top = Path(top)

    def children(self, relative):
        """name -> folder, file, link to nothing or other."""
        kinds = {}
        try:
            with os.scandir(self.top / relative) as listing:
                for entry in listing:
                    if entry.is_dir():
                        kinds[entry.name] = "folder"
                    elif entry.is_file():
                        kinds[entry.name] = "file"
                    elif entry.is_symlink() and not os.path.exists(entry.path):
                        kinds[entry.name] = "link to nothing"
                    else:
                        kinds[entry.name] = "other"
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as error:  # a folder of the layout the job cannot read: say so, not "missing"
            raise LayoutError(
                f"cannot read {self.top / relative}: {error.strerror}; fix its permissions"
            ) from None
        return kinds

    def folders(self, relative):
        return {name for name, kind in self.children(relative).items() if kind == "folder"}


class ZipTree(FolderTree):
    """The folders of a zip, from its entries' names (folders without an entry of their own included)."""

    def __init__(self, entries):
        self.listing = {}
        for entry in entries:
            name = entry.name
            for parent in reversed(name.parents):
                if parent != PurePosixPath():
                    self.listing.setdefault(parent.parent, {})[parent.name] = "folder"
            self.listing.setdefault(name.parent, {}).setdefault(name.name, entry.kind)

    def children(self, relative):
        return dict(self.listing.get(PurePosixPath(relative), {}))


def find_root(tree, layout, origin, chosen=None):
    """The folder (relative to the source) holding the layout: `chosen` (the root key's value), the top
    itself, or the single candidate within two folders of it (one inside another candidate lies
    beside that one's layout folders and is not a candidate); raises LayoutError naming what was found."""
    if chosen:
        root = PurePosixPath(chosen)
        if root.is_absolute() or ".." in root.parts or not layout.accepts(tree, root):
            raise LayoutError(
                f"config key `{layout.root_key}`: {chosen!r} is not a folder of {origin} holding "
                f"{layout.description}; {found_text(tree, root.parent if root.parts else root)}"
                f"; candidates: {quoted(candidates_anywhere(tree, layout)) or 'none'}"
            )
        return root
    if layout.accepts(tree, PurePosixPath()):
        return PurePosixPath()
    found = candidates_anywhere(tree, layout)
    candidates = [folder for folder in found if not any(other in folder.parents for other in found)]
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise LayoutError(
            f"{origin} holds {len(candidates)} folders with {layout.description}: "
            f"{quoted(candidates)}; set `{layout.root_key}` to the one to use "
            f"(e.g. `{layout.root_key}: {candidates[0].as_posix()!r}`), or remove the others"
        )
    raise LayoutError(not_found_message(tree, layout, origin))


def candidates_anywhere(tree, layout):
    found, level = [], [PurePosixPath()]
    for _ in range(MAX_DEPTH + 1):
        found += [folder for folder in level if layout.accepts(tree, folder)]
        level = [f / n for f in level for n in sorted(tree.folders(f)) if not is_system_name(n)]
    return found


def not_found_message(tree, layout, origin):
    if layout.splits:
        expected = " and ".join(f"{split}/<class>/" for split in layout.splits)
    else:
        expected = f"<class>/ folders (or Testing/<class>/) of `{layout.classes_key}` {list(layout.classes)}"
    names = layout.splits or layout.classes
    hints = []
    for folder in folders_near_top(tree):
        present = tree.folders(folder)
        hints += look_alikes(present, names)
        if layout.splits and 0 < len(present & set(layout.splits)) < len(layout.splits):
            lacking = [split for split in layout.splits if split not in present]
            hints.append(
                f"{folder.as_posix() + '/' if folder.parts else 'its top level'} lacks {quoted(lacking)}"
            )
    return (
        f"{origin} is not in {layout.description}: expected {expected} at its top level or inside one or "
        f"two folders; {found_text(tree, PurePosixPath())}" + "".join(f"\n  {hint}" for hint in hints)
    )


def folders_near_top(tree):
    level, every = [PurePosixPath()], []
    for _ in range(MAX_DEPTH + 1):
        every += level
        level = [f / n for f in level for n in sorted(tree.folders(f)) if not is_system_name(n)]
    return every


def found_text(tree, folder):
    """What `folder` holds, for a message: its folders by name, and how many files."""
    children = {name: kind for name, kind in tree.children(folder).items() if not is_system_name(name)}
    folders = sorted(name for name, kind in children.items() if kind == "folder")
    files = len(children) - len(folders)
    where = f"in {folder.as_posix()}/" if folder.parts else "at its top level"
    shown = quoted(folders[:MAX_NAMED]) + (
        f" and {len(folders) - MAX_NAMED} more" if len(folders) > MAX_NAMED else ""
    )
    return f"found {where}: folders {shown or '(none)'}; {files} other entr{'y' if files == 1 else 'ies'}"


def check_class_folders(tree, layout, root, origin):
    """Every class folder of `layout.classes` in each split (or the root); raises LayoutError naming,
    per folder, what it holds instead, with hints for letter case and known aliases."""
    if layout.classes is None:
        return
    problems, hints = [], []
    for split in layout.splits or ("",):
        folder = root / split
        children = tree.children(folder)
        missing = [label for label in layout.classes if children.get(label) != "folder"]
        if not missing:
            continue
        present = sorted(
            name for name, kind in children.items() if kind == "folder" and not is_system_name(name)
        )
        where = f"{folder.as_posix()}/" if folder.parts else "its top level"
        holds = quoted(present) or "no folders"
        problems.append(f"{where} of {origin} lacks class folder(s) {quoted(missing)}; it holds {holds}")
        for label in missing:
            kind = children.get(label)
            if kind == "link to nothing":
                problems.append(
                    f"  {(folder / label).as_posix()} is a link to nothing: fix or replace the link"
                )
            elif kind is not None:
                problems.append(f"  {(folder / label).as_posix()} is a {kind}, not a folder")
        hints += [hint for hint in look_alikes(present, missing) if hint not in hints]
        if any(simplified(name) in OLDER_KAGGLE_NAMES for name in present) and OLDER_KAGGLE_NOTE not in hints:
            hints.append(OLDER_KAGGLE_NOTE)
    if problems:
        raise LayoutError(
            "\n".join(problems + [f"  {hint}" for hint in hints])
            + f"\nRename the folders to the names of `{layout.classes_key}` {list(layout.classes)}, or set "
            f"`{layout.classes_key}` to the folder names."
        )


def look_alikes(present, expected_names):
    """Hints for folders in `present` whose name differs from an expected one only in letter case,
    or that are a known alias of it."""
    hints = []
    for name in sorted(set(present) - set(expected_names)):
        for expected in expected_names:
            if name.lower() == expected.lower():
                hints.append(
                    f"{name!r} differs from {expected!r} only in letter case (folder names are "
                    f"case-sensitive): rename it to {expected!r}"
                )
            elif ALIASES.get(simplified(name)) == expected or simplified(name) == simplified(expected):
                hints.append(f"{name!r} looks like another name for {expected!r}: rename it to {expected!r}")
    return hints


def simplified(name):
    return re.sub(r"[\s_\-]+", "", name.lower())


def quoted(names):
    return ", ".join(repr(PurePosixPath(name).as_posix()) for name in names)
