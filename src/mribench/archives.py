"""Read a zip as its author meant it, and extract only what a dataset needs, within limits.

Names: the zip format stores names as bytes, UTF-8 only when flag bit 11 says so; without it the
format's own encoding is cp437. Windows' own zip writer and .NET set the flag (or use cp437 for
ASCII names), but macOS' Archive Utility, Info-ZIP on Linux and many libraries write UTF-8 without
the flag (Info-ZIP adds the UTF-8 name in an "Info-ZIP Unicode Path" extra field). Python decodes
every unflagged name as cp437, so `glióma/ñ.jpg` from a Mac would become `gli├│ma/├▒.jpg`. Each
name is therefore read as: the Unicode Path field when present and matching, else UTF-8 when the
bytes are valid UTF-8 (cp437 text almost never is), else cp437. Backslashes, which old Windows
tools wrote as separators although the format requires `/`, are separators.

Limits: a zip is refused before anything is extracted when the entries to extract declare more
than `max_bytes` uncompressed, or when one entry's declared size is an absurd multiple of its
compressed size (a zip bomb: deflate cannot exceed about 1030:1 on real data). Python's zipfile
never writes more than an entry declares, so the declared sizes bound what lands on disk.
"""

import posixpath
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

UTF8_FLAG = 0x800
UNICODE_PATH_FIELD = 0x7075
MAX_COMPRESSION_RATIO = 1000  # above deflate's ~1030:1 ceiling only on blank data, never on images
RATIO_CHECKED_FROM = 1 << 20  # small entries may compress absurdly (an empty page) and do no harm
MAX_LINK_BYTES = 4096


class ArchiveError(RuntimeError):
    """A zip that is refused: it would write outside its folder, or is too large."""


@dataclass(frozen=True)
class Entry:
    name: PurePosixPath  # as its author meant it, `/`-separated
    info: zipfile.ZipInfo
    kind: str  # file, folder or link
    target: str = ""  # a link's target


def read_entries(archive):
    """Every entry of `archive` with the name its author meant; refuses a name leading outside it."""
    entries = []
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            text = meant_name(info).replace("\\", "/")
            name = PurePosixPath(text)
            if name.is_absolute() or ".." in name.parts or (name.parts and ":" in name.parts[0]):
                raise ArchiveError(
                    f"{archive}: refusing entry {info.filename!r}, which points outside the archive"
                )
            if not name.parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                with zf.open(info) as stored:
                    target = stored.read(MAX_LINK_BYTES).decode("utf-8", "surrogateescape")
                entries.append(Entry(name, info, "link", target))
            else:
                entries.append(Entry(name, info, "folder" if text.endswith("/") else "file"))
    return entries


def meant_name(info):
    """The entry's name as its author's tool meant it (see the module docstring)."""
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    raw = info.orig_filename.encode("cp437")  # the stored bytes: Python decoded them as cp437
    unicode_path = unicode_path_field(info.extra, raw)
    if unicode_path is not None:
        return unicode_path
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return info.filename


def unicode_path_field(extra, raw):
    """The UTF-8 name of Info-ZIP's Unicode Path extra field, if present and made for `raw`."""
    while len(extra) >= 4:
        field, size = int.from_bytes(extra[:2], "little"), int.from_bytes(extra[2:4], "little")
        data, extra = extra[4 : 4 + size], extra[4 + size :]
        if field == UNICODE_PATH_FIELD and len(data) > 5 and data[0] == 1:
            if int.from_bytes(data[1:5], "little") == zlib.crc32(raw):
                try:
                    return data[5:].decode("utf-8")
                except UnicodeDecodeError:
                    return None
    return None


def entries_under(entries, folders):
    """The entries inside any of `folders`, and those that their link entries point to within the
    archive (a link's target is extracted with it, so that it can be resolved like a folder's)."""
    chosen, pending, done = {}, list(folders), set()
    while pending:
        folder = pending.pop()
        if folder in done:
            continue
        done.add(folder)
        for index, entry in enumerate(entries):
            if index not in chosen and (entry.name == folder or folder in entry.name.parents):
                chosen[index] = entry
                if entry.kind == "link" and (target := link_target_inside(entry)) is not None:
                    pending.append(target)
    return [chosen[index] for index in sorted(chosen)]


def link_target_inside(entry):
    """Where a link entry points inside the archive, or None when it points outside it."""
    if entry.target.startswith("/"):
        return None
    joined = posixpath.normpath(posixpath.join(entry.name.parent.as_posix(), entry.target))
    if joined == ".." or joined.startswith("../"):
        return None
    return PurePosixPath(joined)


def check_limits(archive, entries, max_bytes, limit_key):
    """Refuse, before extracting, entries that declare more than `max_bytes` or compress absurdly."""
    declared = sum(entry.info.file_size for entry in entries if entry.kind == "file")
    if declared > max_bytes:
        raise ArchiveError(
            f"{archive}: the entries to extract declare {declared / 1e9:.2f} GB uncompressed, above the "
            f"limit of {max_bytes / 1e9:g} GB ({limit_key}); raise {limit_key} if that much is "
            "expected and the disk has room"
        )
    for entry in entries:
        size, packed = entry.info.file_size, max(entry.info.compress_size, 1)
        if size >= RATIO_CHECKED_FROM and size > MAX_COMPRESSION_RATIO * packed:
            raise ArchiveError(
                f"{archive}: refusing entry {entry.info.filename!r}: it declares {size} bytes from "
                f"{entry.info.compress_size} compressed ({size // packed}:1), beyond what any image "
                "compresses to (a zip bomb?); extract it yourself if you trust it"
            )


def extract(archive, entries, dest, on_link_problem):
    """Write `entries` under `dest`: files first, then links (so no file is written through one).
    `on_link_problem(name, target, reason)` hears of links that cannot be made."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = set()
    with zipfile.ZipFile(archive) as zf:
        for entry in entries:
            path = dest / entry.name
            if entry.kind == "folder":
                path.mkdir(parents=True, exist_ok=True)
            elif entry.kind == "file" and entry.name not in written:
                written.add(entry.name)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(entry.info) as stored, open(path, "wb") as out:
                        shutil.copyfileobj(stored, out)
                except (FileExistsError, IsADirectoryError, NotADirectoryError) as error:
                    raise ArchiveError(
                        f"{archive}: entry {entry.info.filename!r} cannot be extracted ({error.strerror}): "
                        "another entry is a file and a folder of the same name; repack the archive"
                    ) from None
    real_dest = Path(posixpath.realpath(dest))
    for entry in sorted((e for e in entries if e.kind == "link"), key=lambda e: e.name):
        link = real_dest / entry.name
        target = entry.target
        if posixpath.realpath(link.parent) != str(link.parent):  # checked before mkdir writes through it
            on_link_problem(entry.name.as_posix(), target, "inside a folder that is a link")
        elif posixpath.lexists(link):
            on_link_problem(entry.name.as_posix(), target, "another entry of the archive has its name")
        else:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target)
