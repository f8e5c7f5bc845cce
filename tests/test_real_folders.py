"""Dataset folders and zips as labs, shared drives and NAS boxes hold them: each is either obtained
with exactly the images a user means, or stops with a message naming the cause and the fix."""

import os
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

import pytest
from conftest import TINY, run_snakemake, write_yaml

from mribench import archives
from mribench.external import obtain_external_set
from mribench.sources import DatasetError, Policy, left_out_summary, obtain_dataset, write_dataset

CLASSES = ["glioma", "notumor"]
OLD_KAGGLE = ["glioma_tumor", "meningioma_tumor", "no_tumor", "pituitary_tumor"]
FOUR = ["glioma", "meningioma", "notumor", "pituitary"]


def images(root, per_class=4, classes=CLASSES, splits=("Training", "Testing"), tag=""):
    """Training/<class>/ and Testing/<class>/ with `per_class` small files each (bytes, not decoded here)."""
    for split in splits:
        for label in classes:
            (root / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                (root / split / label / f"{label}{i}.jpg").write_bytes(f"{tag}{split}{label}{i}".encode())
    return root


def copied(dest):
    return sorted(p.relative_to(dest).as_posix() for p in Path(dest).rglob("*") if p.is_file())


def intended(per_class=4, classes=CLASSES):
    return sorted(
        f"{s}/{c}/{c}{i}.jpg" for s in ("Training", "Testing") for c in classes for i in range(per_class)
    )


def obtain(source, tmp_path, obtain_settings=None, **dataset):
    dest = tmp_path / "results" / "data" / "dataset"
    record = obtain_dataset(
        dest, {"source": "path", "path": str(source), "classes": CLASSES} | dataset, obtain_settings
    )
    return dest, record


def refused(source, tmp_path, obtain_settings=None, **dataset):
    workdir = Path(tempfile.mkdtemp(dir=tmp_path))
    with pytest.raises(DatasetError) as error:
        obtain(source, workdir, obtain_settings, **dataset)
    assert list((workdir / "results" / "data").iterdir()) == []  # nothing half-made left behind
    return str(error.value)


def zipped(folder, archive, prefix="", extra=()):
    """`folder` as a zip (entries under `prefix`), plus `extra` (name, bytes) entries."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in extra:
            zf.writestr(name, data)
    return archive


# --- what lies inside class folders -------------------------------------------------------------------


def nas_system_clutter(root):
    """What macOS, Windows, Synology, QNAP and Jupyter leave in and beside every folder they touch."""
    for folder in (root / "Training" / "glioma", root / "Testing" / "notumor", root):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "Thumbs.db").write_bytes(b"thumbs")
        (folder / "desktop.ini").write_text("[.ShellClassInfo]")
    glioma = root / "Training" / "glioma"
    (glioma / "._glioma0.jpg").write_bytes(b"\0\5\26\7AppleDouble")
    (glioma / "glioma1.jpg:Zone.Identifier").write_text("[ZoneTransfer]\nZoneId=3")  # copied into WSL
    (glioma / "glioma2.jpg@SynoEAStream").write_bytes(b"attributes")
    for cache in ("@eaDir/glioma0.jpg", ".@__thumb", ".thumbnails/normal", ".ipynb_checkpoints", "#recycle"):
        (glioma / cache).mkdir(parents=True)
        (glioma / cache / "SYNOFILE_THUMB_M.jpg").write_bytes(b"a thumbnail")
    (root / "__MACOSX" / "Training" / "glioma").mkdir(parents=True)
    (root / "__MACOSX" / "Training" / "glioma" / "._glioma0.jpg").write_bytes(b"AppleDouble")
    (root / "$RECYCLE.BIN").mkdir()
    return root


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_system_files_and_thumbnail_caches_are_left_out_without_stopping(tmp_path, kind):
    source = nas_system_clutter(images(tmp_path / "share"))
    if kind == "zip":
        source = zipped(source, tmp_path / "share.zip")
    dest, record = obtain(source, tmp_path)
    assert copied(dest) == intended()
    reasons = {item["reason"] for item in record["left_out"]}
    assert reasons == {"system or hidden file"}
    left_out = {item["path"] for item in record["left_out"]}
    assert {
        "Training/glioma/@eaDir",
        "Training/glioma/._glioma0.jpg",
        "Training/glioma/.DS_Store",
    } <= left_out
    summary = left_out_summary(record, "obtain_dataset", "results/data/obtained.json")
    assert "system or hidden file: Testing/notumor/.DS_Store, Testing/notumor/Thumbs.db, " in summary
    assert "full list: results/data/obtained.json" in summary


def thumbnails_in_subfolders(root, per_class=4, thumbs=2):
    """A viewer's cache inside every class folder: small copies of the images, near twins of them."""
    for split in ("Training", "Testing"):
        for label in CLASSES:
            cache = root / split / label / "thumbs"
            cache.mkdir()
            for i in range(thumbs):
                (cache / f"{label}{i}.jpg").write_bytes(b"thumbnail")
    return root


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_files_in_subfolders_of_a_class_folder_stop_the_job_naming_the_reason_and_the_key(tmp_path, kind):
    source = thumbnails_in_subfolders(images(tmp_path / "lab"))
    if kind == "zip":
        source = zipped(source, tmp_path / "lab.zip", prefix="lab/")
    message = refused(source, tmp_path)
    assert "Training/glioma/: 2 of 6 entries left out (33%): 2 in a subfolder of a class folder" in message
    assert "Training/glioma/thumbs/glioma0.jpg" in message and "Testing/notumor/" in message
    assert "move the images you mean directly into their class folder" in message
    assert "`obtain.max_left_out_share` to at least 0.33" in message

    dest, record = obtain(source, tmp_path, {"max_left_out_share": 0.4})  # accepted: left out, listed
    assert copied(dest) == intended()
    nested = [
        item["path"] for item in record["left_out"] if item["reason"] == "in a subfolder of a class folder"
    ]
    assert len(nested) == 8 and "Testing/notumor/thumbs/notumor1.jpg" in nested


def test_a_few_files_in_a_subfolder_are_left_out_and_summarised(tmp_path):
    source = images(tmp_path / "lab", per_class=30)
    (source / "Training" / "glioma" / "old").mkdir()
    (source / "Training" / "glioma" / "old" / "scan.jpg").write_bytes(b"old")
    console = tmp_path / "console.txt"
    with open(console, "w") as stream:
        write_dataset(
            tmp_path / "out" / "dataset",
            tmp_path / "obtained.json",
            {"source": "path", "path": str(source), "classes": CLASSES},
            console=stream,
        )
    assert copied(tmp_path / "out" / "dataset") == intended(30)
    assert console.read_text() == (
        f"obtain_dataset: 120 files from {source}\n"
        f"  left out (full list: {tmp_path / 'obtained.json'}, `left_out`):\n"
        "    1 in a subfolder of a class folder: Training/glioma/old/scan.jpg\n"
    )


# --- links ---------------------------------------------------------------------------------------------


def linked_into_a_store(tmp_path, classes=CLASSES):
    """A common lab layout: the class folders hold links into one shared image store elsewhere."""
    store = tmp_path / "store"
    store.mkdir()
    source = images(tmp_path / "dataset", per_class=2, classes=classes)
    for split in ("Training", "Testing"):
        for label in classes:
            for i in range(2, 4):
                kept = store / f"{split}-{label}{i}.jpg"
                kept.write_bytes(f"{split}{label}{i}".encode())
                (source / split / label / f"{label}{i}.jpg").symlink_to(kept)
    return source, store


def test_links_out_of_the_source_stop_the_job_naming_the_key_that_follows_them(tmp_path):
    source, store = linked_into_a_store(tmp_path)
    message = refused(source, tmp_path)
    assert "Training/glioma/: 2 of 4 entries left out (50%): 2 a link out of the source" in message
    assert "set `obtain.follow_links_out: true` to copy what the links point to" in message
    assert "`obtain.max_left_out_share`" in message

    dest, record = obtain(source, tmp_path, {"follow_links_out": True})
    assert copied(dest) == intended()
    assert not any(path.is_symlink() for path in dest.rglob("*"))  # the targets copied, never linked
    assert (dest / "Testing/notumor/notumor3.jpg").read_bytes() == b"Testingnotumor3"
    assert (dest / "Training/glioma/glioma3.jpg").stat().st_ino != (
        store / "Training-glioma3.jpg"
    ).stat().st_ino
    assert sum(link["action"] == "followed" for link in record["links"]) == 8
    assert "8 links followed out of the source folder" in left_out_summary(record, "obtain_dataset", "x.json")


def test_the_console_says_why_the_workflow_stopped_and_what_a_finished_obtain_left_out(tmp_path):
    """The real workflow: the reason and the key reach Snakemake's console, not only the job's log."""
    source, _ = linked_into_a_store(tmp_path, FOUR)  # the tiny profile's external set needs all four
    dataset = {"dataset": {"source": "path", "path": str(source)}}
    config = write_yaml(tmp_path / "links.yaml", dataset)
    stopped = run_snakemake(tmp_path, "--until", "obtain_dataset", configfiles=(TINY, config), check=False)
    assert stopped.returncode != 0
    console = stopped.stdout + stopped.stderr
    assert "obtain_dataset stopped: " in console and "2 a link out of the source" in console
    assert "set `obtain.follow_links_out: true`" in console and "`obtain.max_left_out_share`" in console
    assert not (tmp_path / "results/data/dataset").exists()

    follow = write_yaml(tmp_path / "follow.yaml", dataset | {"obtain": {"follow_links_out": True}})
    done = run_snakemake(tmp_path, "--until", "obtain_dataset", configfiles=(TINY, follow))
    assert f"obtain_dataset: 32 files from {source}\n  16 links followed out" in done.stdout + done.stderr
    assert copied(tmp_path / "results/data/dataset") == [".snakemake_timestamp"] + intended(classes=FOUR)


def test_following_links_out_still_refuses_loops_dangling_links_and_special_files(tmp_path):
    source, store = linked_into_a_store(tmp_path)
    glioma = source / "Training" / "glioma"
    (store / "loop").symlink_to(store)  # a folder of the store holding a link back to itself
    (glioma / "store").symlink_to(store)  # a whole folder linked: its files lie in a subfolder
    (glioma / "moved.jpg").symlink_to(tmp_path / "unmounted" / "a.jpg")
    os.mkfifo(store / "pipe.jpg")
    (glioma / "pipe.jpg").symlink_to(store / "pipe.jpg")
    dest, record = obtain(source, tmp_path, {"follow_links_out": True, "max_left_out_share": 1})
    assert copied(dest) == intended()
    left_out = {item["path"]: item["reason"] for item in record["left_out"]}
    assert left_out["Training/glioma/moved.jpg"] == "a link to nothing"
    assert left_out["Training/glioma/pipe.jpg"] == "not a regular file"
    assert left_out["Training/glioma/store/loop"] == "in a subfolder of a class folder"


@pytest.mark.parametrize("linked", ["Training", "Training/glioma"])
def test_a_linked_training_or_class_folder_is_followed_wherever_it_points(tmp_path, linked):
    """Training/ (or a class folder) on another disk: the user's own layout, followed without any key."""
    other_disk = images(tmp_path / "other_disk")
    source = images(tmp_path / "dataset")
    shutil.rmtree(source / linked)
    (source / linked).symlink_to(other_disk / linked)
    (other_disk / "Training" / "glioma" / "same.jpg").symlink_to("glioma0.jpg")  # inside the linked folder
    dest, record = obtain(source, tmp_path)
    assert copied(dest) == sorted(intended() + ["Training/glioma/same.jpg"])
    assert record["left_out"] == []
    assert {link["path"]: link["action"] for link in record["links"]} == {
        linked: "followed",
        "Training/glioma/same.jpg": "resolved",
    }


def test_a_class_folder_linked_to_nothing_is_named(tmp_path):
    source = images(tmp_path / "dataset")
    shutil.rmtree(source / "Testing" / "notumor")
    (source / "Testing" / "notumor").symlink_to(tmp_path / "unmounted" / "notumor")
    message = refused(source, tmp_path)
    assert "Testing/ of" in message and "lacks class folder(s) 'notumor'" in message
    assert "Testing/notumor is a link to nothing: fix or replace the link" in message


# --- where the dataset lies ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_two_candidate_roots_stop_naming_each_and_the_key(tmp_path, kind):
    source = tmp_path / "downloads"
    images(source / "brain-mri-v1", tag="v1")
    images(source / "brain-mri-v2", tag="v2")
    if kind == "zip":
        source = zipped(source, tmp_path / "downloads.zip")
    message = refused(source, tmp_path)
    assert "holds 2 folders with the Kaggle layout: 'brain-mri-v1', 'brain-mri-v2'" in message
    assert "set `dataset.root` to the one to use" in message

    dest, record = obtain(source, tmp_path, root="brain-mri-v2")
    assert copied(dest) == intended()
    assert (dest / "Training/glioma/glioma0.jpg").read_bytes() == b"v2Trainingglioma0"
    assert record["root"] == "brain-mri-v2"
    wrong = refused(source, tmp_path, root="brain-mri-v3")
    assert "config key `dataset.root`: 'brain-mri-v3' is not a folder of" in wrong
    assert "candidates: 'brain-mri-v1', 'brain-mri-v2'" in wrong


def test_candidates_at_different_depths_are_ambiguous_too(tmp_path):
    source = tmp_path / "share"
    images(source / "current")
    images(source / "archive" / "2019")
    images(source / "current" / "old_copy")  # beside current's Training/ and Testing/: not a candidate
    message = refused(source, tmp_path)
    assert "holds 2 folders with the Kaggle layout: 'current', 'archive/2019'" in message
    dest, record = obtain(source, tmp_path, root="current")
    assert copied(dest) == intended()


def test_the_dataset_two_folders_deep_is_found(tmp_path):
    source = tmp_path / "archive"
    images(source / "Brain Tumor MRI" / "data")
    (source / "Brain Tumor MRI" / "README.txt").write_text("cite us")
    dest, record = obtain(source, tmp_path)
    assert copied(dest) == intended() and record["root"] == "Brain Tumor MRI/data"


def test_only_training_and_testing_are_copied(tmp_path):
    source = images(tmp_path / "dataset")
    (source / "extra").mkdir()
    (source / "extra" / "big.bin").write_bytes(bytes(1000))
    (source / "Validation" / "glioma").mkdir(parents=True)
    (source / "Validation" / "glioma" / "v.jpg").write_bytes(b"v")
    dest, record = obtain(source, tmp_path)
    assert copied(dest) == intended()
    assert {(i["path"], i["reason"]) for i in record["left_out"]} == {
        ("Validation", "beside the dataset's folders"),
        ("extra", "beside the dataset's folders"),
    }


# --- layout errors: what was found, next to what was expected ---------------------------------------------


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_the_older_kaggle_datasets_folder_names_are_named_with_a_hint(tmp_path, kind):
    source = images(tmp_path / "Brain-Tumor-Classification-DataSet-master", classes=OLD_KAGGLE)
    if kind == "zip":
        source = zipped(source, tmp_path / "old.zip", prefix="Brain-Tumor-Classification-DataSet-master/")
    with pytest.raises(DatasetError) as error:
        obtain_dataset(tmp_path / "out", {"source": "path", "path": str(source), "classes": FOUR})
    message = str(error.value)
    assert (
        "lacks class folder(s) 'glioma', 'meningioma', 'notumor', 'pituitary'; it holds 'glioma_tumor', "
        "'meningioma_tumor', 'no_tumor', 'pituitary_tumor'" in message
    )
    assert "'no_tumor' looks like another name for 'notumor': rename it to 'notumor'" in message
    assert "'glioma_tumor' looks like another name for 'glioma'" in message
    assert "or set `dataset.classes` to the folder names" in message
    assert message.count("lacks class folder") == 2  # Training and Testing
    assert (
        message.count("'no_tumor' looks like") == 1
        and "sartajbhuvaji/brain-tumor-classification-mri" in message
    )


def test_a_class_folder_in_another_letter_case_is_named(tmp_path):
    source = images(tmp_path / "dataset")
    (source / "Training" / "glioma").rename(source / "Training" / "Glioma")
    message = refused(source, tmp_path)
    assert (
        "Training/ of" in message
        and "lacks class folder(s) 'glioma'; it holds 'Glioma', 'notumor'" in message
    )
    assert "'Glioma' differs from 'glioma' only in letter case" in message
    assert "Testing/ of" not in message


def test_split_folders_named_otherwise_are_named_with_a_hint(tmp_path):
    source = tmp_path / "dataset"
    for split in ("train", "test"):
        for label in CLASSES:
            (source / split / label).mkdir(parents=True)
    message = refused(source, tmp_path)
    assert "is not in the Kaggle layout: expected Training/<class>/ and Testing/<class>/" in message
    assert "found at its top level: folders 'test', 'train'" in message
    assert "'train' looks like another name for 'Training'" in message
    shutil.rmtree(source / "test")
    (source / "train").rename(source / "Training")
    assert "its top level lacks 'Testing'" in refused(source, tmp_path)


# --- archives ----------------------------------------------------------------------------------------


def test_a_zip_extracts_only_the_dataset_and_refuses_beyond_its_size_limit(tmp_path):
    source = images(tmp_path / "dataset")
    archive = zipped(source, tmp_path / "data.zip", extra=[("extra/huge.bin", bytes(3_000_000))])
    dest, record = obtain(archive, tmp_path, {"max_archive_gigabytes": 0.001})  # huge.bin does not count
    assert copied(dest) == intended()
    entries = archives.read_entries(archive)
    chosen = archives.entries_under(entries, [PurePosixPath("Training"), PurePosixPath("Testing")])
    assert sorted(entry.name.as_posix() for entry in chosen) == intended()
    assert {"path": "extra", "reason": "beside the dataset's folders", "detail": "a folder"} in record[
        "left_out"
    ]

    big = zipped(source, tmp_path / "big.zip", extra=[("Training/glioma/scan.dcm", os.urandom(2_000_000))])
    message = refused(big, tmp_path, {"max_archive_gigabytes": 0.001})
    assert (
        "declare 0.00 GB uncompressed, above the limit of 0.001 GB (obtain.max_archive_gigabytes)" in message
    )
    assert "raise obtain.max_archive_gigabytes" in message


def test_a_zip_bomb_entry_is_refused_before_extracting(tmp_path):
    archive = zipped(
        images(tmp_path / "dataset"),
        tmp_path / "bomb.zip",
        extra=[("Testing/glioma/x.jpg", bytes(50_000_000))],
    )
    message = refused(archive, tmp_path)
    assert "refusing entry 'Testing/glioma/x.jpg': it declares 50000000 bytes from" in message
    assert "a zip bomb?" in message


class RawNameInfo(zipfile.ZipInfo):
    """An entry whose name is stored as the given bytes, with no UTF-8 flag: what macOS' Archive
    Utility (UTF-8 bytes) and old Windows (cp437 bytes) write."""

    raw = b""

    def _encodeFilenameFlags(self):
        return self.raw, self.flag_bits & ~0x800


def raw_entry(name, raw, extra=b""):
    info = RawNameInfo(name)
    info.raw = raw
    info.extra = extra
    return info


def test_zips_from_common_tools_are_read_as_their_authors_meant(tmp_path):
    names = {
        "mac": ("Training/glioma/Bild_ä.jpg", "utf-8"),  # Archive Utility: UTF-8 bytes, no flag
        "windows": ("Training/notumor/Résumé.jpg", "cp437"),  # old Windows: the OEM code page
        "flagged": ("Testing/glioma/ñ.jpg", None),  # Windows 10+, 7-Zip: UTF-8 with the flag
    }
    archive = tmp_path / "tools.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Hirnscans/.DS_Store", b"\0")
        for name, encoding in names.values():
            entry = raw_entry(name, name.encode(encoding)) if encoding else name
            zf.writestr(entry if encoding else "Hirnscans/" + name, b"image")
        # Info-ZIP on Linux: the name in the local code page, the UTF-8 name in a Unicode Path field
        legacy = b"Testing/notumor/k?se.jpg"
        utf8 = "Testing/notumor/käse.jpg".encode()
        field = b"\x01" + zlib.crc32(legacy).to_bytes(4, "little") + utf8
        zf.writestr(
            raw_entry("x", legacy, (0x7075).to_bytes(2, "little") + len(field).to_bytes(2, "little") + field),
            b"image",
        )
        zf.writestr("Testing\\glioma\\windows_separators.jpg", b"image")  # old .NET, PowerShell 5
        zf.writestr("__MACOSX/Training/glioma/._Bild_ä.jpg", b"AppleDouble")
    dest = tmp_path / "out"
    obtain_dataset(dest, {"source": "path", "path": str(archive), "classes": CLASSES})
    assert copied(dest) == sorted(
        [
            "Training/glioma/Bild_ä.jpg",
            "Training/notumor/Résumé.jpg",
            "Testing/notumor/käse.jpg",
            "Testing/glioma/windows_separators.jpg",
        ]
    )


def test_a_zip_holding_a_file_and_a_folder_of_one_name_is_refused_by_name(tmp_path):
    archive = zipped(
        images(tmp_path / "dataset"), tmp_path / "odd.zip", extra=[("Training/glioma/x", b"file")]
    )
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("Training/glioma/x/y.jpg", b"image")
    message = refused(archive, tmp_path, {"max_left_out_share": 1})
    assert "entry 'Training/glioma/x/y.jpg' cannot be extracted" in message


def test_a_single_wrapping_folder_with_macos_metadata_beside_it(tmp_path):
    source = images(tmp_path / "Brain Tumor MRI Dataset")
    archive = zipped(
        source,
        tmp_path / "mac.zip",
        prefix="Brain Tumor MRI Dataset/",
        extra=[
            ("__MACOSX/Brain Tumor MRI Dataset/Training/glioma/._glioma0.jpg", b"AppleDouble"),
            ("__MACOSX/Brain Tumor MRI Dataset/._Training", b"AppleDouble"),
            ("Brain Tumor MRI Dataset/.DS_Store", b"\0"),
        ],
    )
    dest, record = obtain(archive, tmp_path)
    assert copied(dest) == intended() and record["root"] == "Brain Tumor MRI Dataset"


# --- external test sets: the same policy, their own keys ---------------------------------------------------


def test_an_external_set_follows_the_same_policy_and_names_its_own_keys(tmp_path):
    source = tmp_path / "figshare"
    for version in ("2017", "2024"):
        for label in CLASSES:
            (source / version / label).mkdir(parents=True)
            (source / version / label / "a.jpg").write_bytes(version.encode())
            (source / version / label / "@eaDir").mkdir()
            (source / version / label / "@eaDir" / "thumb.jpg").write_bytes(b"thumb")
    test_set = {"path": str(source), "classes": CLASSES}
    with pytest.raises(DatasetError, match="set `external_test_sets.figshare.root` to the one to use"):
        obtain_external_set(tmp_path / "out", "figshare", test_set)
    record = obtain_external_set(
        tmp_path / "out", "figshare", test_set | {"root": "2024"}, record_json=tmp_path / "obtained.json"
    )
    assert copied(tmp_path / "out") == ["glioma/a.jpg", "notumor/a.jpg"]
    assert (tmp_path / "out" / "glioma" / "a.jpg").read_bytes() == b"2024"
    assert {item["reason"] for item in record["left_out"]} == {"system or hidden file"}

    (source / "2024" / "glioma" / "sub").mkdir()
    for i in range(3):
        (source / "2024" / "glioma" / "sub" / f"{i}.jpg").write_bytes(b"x")
    with pytest.raises(DatasetError, match=r"glioma/: 3 of 4 entries left out"):
        obtain_external_set(tmp_path / "again", "figshare", test_set | {"root": "2024"})
    (source / "2024" / "Glioma").mkdir()
    shutil.rmtree(source / "2024" / "glioma")
    with pytest.raises(DatasetError, match="'Glioma' differs from 'glioma' only in letter case") as error:
        obtain_external_set(tmp_path / "again", "figshare", test_set | {"root": "2024"})
    assert "`external_test_sets.figshare.classes`" in str(error.value)


def test_the_policy_defaults_are_config_yamls():
    import yaml
    from conftest import REPO

    assert Policy() == Policy(**yaml.safe_load((REPO / "config.yaml").read_text())["obtain"])
