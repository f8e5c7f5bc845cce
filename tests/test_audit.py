"""The data audit (mribench.audit) and the duplicate-aware split (mribench.split), on generated files."""

import io
import json
import zipfile

import jinja2
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, SAMPLE, bomb_png
from PIL import Image

from mribench.audit import AuditError, audit_dataset, write_audit
from mribench.config import ConfigError, validate_config
from mribench.phantoms import render_phantom
from mribench.split import read_split, split_dataset, write_split

CLASSES = ["glioma", "meningioma"]


def phantom(label, seed, size=96):
    return Image.fromarray(render_phantom(label, np.random.default_rng(seed), size))


def jpeg_bytes(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, **options)
    return buffer.getvalue()


def png_bytes(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def write(root, relative, data):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A dataset with one file for every case the audit must sort out."""
    root = tmp_path_factory.mktemp("messy")
    base, twin, gray = phantom("glioma", 1), phantom("glioma", 2), phantom("glioma", 3)
    files = {
        "Training/glioma/base.jpg": jpeg_bytes(base.convert("RGB")),
        "Training/glioma/twin.jpg": jpeg_bytes(twin),
        "Training/glioma/twin copy.jpg": jpeg_bytes(twin),  # exact, within Training
        "Training/glioma/gray.jpg": jpeg_bytes(gray),
        "Training/glioma/rgba.png": png_bytes(phantom("glioma", 4).convert("RGBA")),
        "Training/glioma/palette.png": png_bytes(phantom("glioma", 5).convert("P")),
        "Training/glioma/cmyk.jpg": jpeg_bytes(phantom("glioma", 6).convert("CMYK")),
        "Training/glioma/png-named.jpg": png_bytes(phantom("glioma", 7)),
        "Training/glioma/truncated.jpg": jpeg_bytes(phantom("glioma", 8))[:1500],
        "Training/glioma/empty.jpg": b"",
        "Training/glioma/notes.jpg": b"this is not an image\n",
        "Training/glioma/.DS_Store": b"\0\0\0\1Bud1",
        "Training/glioma/Thumbs.db": b"\xd0\xcf\x11\xe0",
        "Training/glioma/.ipynb_checkpoints/base-checkpoint.jpg": jpeg_bytes(base),
        "Training/__MACOSX/glioma/._base.jpg": b"\0\5\26\7",
        "Training/tumour/stray.jpg": jpeg_bytes(phantom("glioma", 9)),
        "Training/meningioma/gray-relabelled.jpg": jpeg_bytes(gray),  # exact, two classes
        "Testing/glioma/leaked.jpg": jpeg_bytes(base.convert("RGB")),  # exact, across splits
        "Testing/glioma/reencoded.png": png_bytes(Image.open(io.BytesIO(jpeg_bytes(twin)))),  # pixel
        "Testing/glioma/resized.jpg": jpeg_bytes(phantom("glioma", 10).resize((90, 90))),  # near
        "Testing/glioma/clean.jpg": jpeg_bytes(phantom("glioma", 11)),
        "Testing/meningioma/clean.jpg": jpeg_bytes(phantom("meningioma", 12)),
    }
    files |= {f"Training/meningioma/m{i}.jpg": jpeg_bytes(phantom("meningioma", 20 + i)) for i in range(3)}
    files["Training/glioma/near-source.jpg"] = jpeg_bytes(phantom("glioma", 10))
    for relative, data in files.items():
        write(root, relative, data)
    return root


@pytest.fixture(scope="module")
def audited(messy):
    files, summary = audit_dataset(messy, CLASSES, "skip", near_distance=4, threads=2)
    return files.set_index("path"), summary


def test_every_file_lands_in_its_bucket(audited):
    files, summary = audited
    expected = {
        "Training/glioma/truncated.jpg": ("invalid", "cannot be decoded"),
        "Training/glioma/empty.jpg": ("invalid", "empty file"),
        "Training/glioma/notes.jpg": ("invalid", "not an image"),
        "Training/tumour/stray.jpg": ("invalid", "unknown class folder"),
        "Training/glioma/.DS_Store": ("ignored", "hidden or system file"),
        "Training/glioma/Thumbs.db": ("ignored", "hidden or system file"),
        "Training/glioma/.ipynb_checkpoints/base-checkpoint.jpg": ("ignored", "hidden or system file"),
        "Training/__MACOSX/glioma/._base.jpg": ("ignored", "hidden or system file"),
    }
    for path, (status, reason) in expected.items():
        assert (files.loc[path, "status"], files.loc[path, "reason"]) == (status, reason), path
    assert "truncated" in files.loc["Training/glioma/truncated.jpg", "detail"]
    valid = files[files.status == "ok"]
    assert len(valid) == len(files) - len(expected)
    assert summary["files"] == {"scanned": len(files), "valid": len(valid), "invalid": 4, "ignored": 4}
    assert summary["invalid"]["by_reason"] == {
        "cannot be decoded": 1,
        "empty file": 1,
        "not an image": 1,
        "unknown class folder": 1,
    }
    assert summary["counts"] == {
        "Training": {"glioma": 9, "meningioma": 4},
        "Testing": {"glioma": 4, "meningioma": 1},
    }


def test_any_format_and_mode_is_read_whatever_the_extension(audited):
    files, summary = audited
    described = files.loc[
        [
            "Training/glioma/gray.jpg",
            "Training/glioma/rgba.png",
            "Training/glioma/palette.png",
            "Training/glioma/cmyk.jpg",
            "Training/glioma/png-named.jpg",
        ],
        ["format", "mode", "width", "height"],
    ]
    assert described.values.tolist() == [
        ["JPEG", "L", 96, 96],
        ["PNG", "RGBA", 96, 96],
        ["PNG", "P", 96, 96],
        ["JPEG", "CMYK", 96, 96],
        ["PNG", "L", 96, 96],
    ]
    assert summary["formats"] == {"JPEG": 14, "PNG": 4}
    empty = files.loc["Training/glioma/empty.jpg"]
    assert (
        empty.bytes == 0
        and empty.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_exact_pixel_and_near_duplicates_are_grouped(audited):
    files, summary = audited

    def same_group(kind, *paths):
        groups = files.loc[list(paths), f"{kind}_group"]
        return groups.iloc[0] >= 0 and groups.nunique() == 1

    assert same_group("exact", "Training/glioma/base.jpg", "Testing/glioma/leaked.jpg")
    assert same_group("exact", "Training/glioma/twin.jpg", "Training/glioma/twin copy.jpg")
    assert files.loc["Testing/glioma/reencoded.png", "exact_group"] == -1
    assert same_group(
        "pixel", "Training/glioma/twin.jpg", "Training/glioma/twin copy.jpg", "Testing/glioma/reencoded.png"
    )
    assert files.loc["Testing/glioma/resized.jpg", "pixel_group"] == -1
    assert same_group("near", "Training/glioma/near-source.jpg", "Testing/glioma/resized.jpg")
    assert (
        files.loc["Testing/glioma/clean.jpg", ["exact_group", "pixel_group", "near_group"]].tolist()
        == [-1] * 3
    )

    twins = files.loc[files.folder == "Testing", "train_twin"].to_dict()
    assert twins == {
        "Testing/glioma/leaked.jpg": "exact",
        "Testing/glioma/reencoded.png": "pixel",
        "Testing/glioma/resized.jpg": "near",
        "Testing/glioma/clean.jpg": "",
        "Testing/meningioma/clean.jpg": "",
    }
    assert summary["test_twins_in_training"]["exact_or_pixel"] == {"glioma": 2, "meningioma": 0, "total": 2}
    assert summary["test_twins_in_training"]["near"]["total"] == 1
    exact = summary["duplicates"]["exact"]
    assert exact["within_Training"] == {"groups": 2, "redundant_copies": 2}  # twin x2, gray x2
    assert exact["within_Testing"] == {"groups": 0, "redundant_copies": 0}
    assert exact["across_splits"] == {"groups": 1}
    assert summary["duplicates"]["pixel"]["across_splits"] == {"groups": 2}


def test_a_group_spanning_two_classes_is_a_label_conflict(audited):
    _, summary = audited
    assert summary["label_conflicts"] == [
        {
            "kind": "exact",
            "labels": ["glioma", "meningioma"],
            "paths": ["Training/glioma/gray.jpg", "Training/meningioma/gray-relabelled.jpg"],
        }
    ]


def test_invalid_files_are_an_error_naming_each_of_them(messy):
    with pytest.raises(AuditError) as error:
        audit_dataset(messy, CLASSES, "error", near_distance=4)
    message = str(error.value)
    assert message.startswith("4 file(s)")
    for name in ("truncated.jpg", "empty.jpg", "notes.jpg", "tumour/stray.jpg"):
        assert name in message
    assert "on_invalid: skip" in message and ".DS_Store" not in message


def test_the_error_lists_twenty_bad_files_and_counts_the_rest(tmp_path):
    for i in range(25):
        write(tmp_path, f"Training/glioma/bad{i:02d}.jpg", b"")
    for split in ("Training", "Testing"):
        for label in CLASSES:
            write(tmp_path, f"{split}/{label}/ok.jpg", jpeg_bytes(phantom(label, 0, 32)))
    with pytest.raises(AuditError, match="and 5 more") as error:
        audit_dataset(tmp_path, CLASSES, "error", near_distance=4)
    assert "bad19.jpg" in str(error.value) and "bad20.jpg" not in str(error.value)


@pytest.mark.parametrize("state", ["empty", "missing", "only invalid files"])
def test_a_class_without_images_in_one_split_is_an_error_naming_it(tmp_path, state):
    for split in ("Training", "Testing"):
        for label in CLASSES:
            write(tmp_path, f"{split}/{label}/ok.jpg", jpeg_bytes(phantom(label, 0, 32)))
    folder = tmp_path / "Testing" / "meningioma"
    (folder / "ok.jpg").unlink()
    if state == "missing":
        folder.rmdir()
    elif state == "only invalid files":
        write(folder, "broken.jpg", b"GIF89a")
    with pytest.raises(AuditError, match=f"class folder {folder} (is missing|holds no valid images)"):
        audit_dataset(tmp_path, CLASSES, "skip", near_distance=4)


def test_write_audit_outputs(messy, tmp_path):
    write_audit(messy, tmp_path / "audit.json", tmp_path / "audit.csv", CLASSES, "skip", 4, threads=1)
    table = pd.read_csv(tmp_path / "audit.csv", keep_default_na=False)
    assert len(table) == len(list(p for p in messy.rglob("*") if p.is_file()))
    assert table.columns[:6].tolist() == ["path", "folder", "label", "status", "reason", "detail"]
    summary = json.loads((tmp_path / "audit.json").read_text())
    assert summary["thresholds"]["near_duplicate_distance"] == 4
    assert summary["on_invalid"] == "skip"


# --- the split ---------------------------------------------------------------------------


def synthetic_images(n_groups=60, seed=0):
    """Training images in groups of 1-4 copies (about a third duplicated), plus a few test images."""
    rng = np.random.default_rng(seed)
    rows = []
    for group in range(n_groups):
        label = CLASSES[group % 2]
        copies = int(rng.choice([1, 1, 2, 3, 4]))
        for copy in range(copies):
            rows.append(
                {
                    "path": f"Training/{label}/g{group:03d}_{copy}.jpg",
                    "label": label,
                    "folder": "Training",
                    "sha256": f"{group:064x}",
                    "pixel_group": group if copies > 1 else -1,
                    "train_twin": "",
                }
            )
    for i, twin in enumerate(["exact", "pixel", "near", "", ""]):
        rows.append(
            {
                "path": f"Testing/glioma/t{i}.jpg",
                "label": "glioma",
                "folder": "Testing",
                "sha256": f"{1000 + i:064x}",
                "pixel_group": -1,
                "train_twin": twin,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_split_keeps_each_duplicate_group_on_one_side(seed):
    images = synthetic_images()
    split = split_dataset(images, val_fraction=0.25, seed=seed)
    training = split[split.split.isin(["train", "val"])]
    grouped = training[training.duplicate_group >= 0]
    assert (grouped.groupby("duplicate_group").split.nunique() == 1).all()
    assert grouped.split.nunique() == 2  # groups do land on both sides
    for label in CLASSES:
        share = (training[training.label == label].split == "val").mean()
        assert 0.1 < share < 0.4, (label, share)
    assert split.columns[:4].tolist() == ["path", "label", "split", "sha256"]
    assert (split[split.path.str.startswith("Testing")].split == "test").all()


def test_test_overlap_drop_leaves_out_exact_and_pixel_twins_only():
    split = split_dataset(synthetic_images(), val_fraction=0.25, seed=0, test_overlap="drop")
    testing = split[split.path.str.startswith("Testing")].set_index("path").split
    assert testing.to_dict() == {
        "Testing/glioma/t0.jpg": "dropped",
        "Testing/glioma/t1.jpg": "dropped",
        "Testing/glioma/t2.jpg": "test",
        "Testing/glioma/t3.jpg": "test",
        "Testing/glioma/t4.jpg": "test",
    }


def test_the_audited_split_is_byte_identical_for_the_same_seed(messy, tmp_path):
    write_audit(messy, tmp_path / "audit.json", tmp_path / "audit.csv", CLASSES, "skip", 4, threads=1)
    outputs = []
    for name in ("a.csv", "b.csv"):
        write_split(tmp_path / "audit.csv", tmp_path / name, val_fraction=0.4, seed=7, test_overlap="keep")
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]
    split = pd.read_csv(tmp_path / "a.csv", keep_default_na=False)
    assert "Training/glioma/truncated.jpg" not in set(split.path)  # skipped invalid files stay out
    assert len(split) == 18
    twins = split.set_index("path").loc[
        ["Training/glioma/twin.jpg", "Training/glioma/twin copy.jpg"], "split"
    ]
    assert twins.nunique() == 1
    test = read_split(tmp_path / "a.csv", "test")
    assert test.train_twin.tolist() == ["", "exact", "pixel", "near", ""]


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f"the real-data sample is not at {SAMPLE}")
def test_the_real_sample_is_clean():
    files, summary = audit_dataset(SAMPLE, ["glioma", "meningioma", "notumor", "pituitary"], "error", 4, 2)
    assert summary["files"] == {"scanned": 68, "valid": 68, "invalid": 0, "ignored": 0}
    assert summary["test_twins_in_training"]["exact_or_pixel"]["total"] == 0
    assert summary["modes"] == {"RGB": 38, "L": 30}


def test_the_report_section_shows_conflicts_invalid_files_and_leakage(audited):
    _, summary = audited
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    ).get_template("audit.html.j2")
    html = template.render(audit=json.loads(json.dumps(summary)), test_overlap="drop", dropped=2)
    assert "1 label conflict(s)" in html and "Training/meningioma/gray-relabelled.jpg" in html
    assert "Training/glioma/truncated.jpg" in html and "unknown class folder" in html
    assert "dropped from the test set itself (2 images)" in html
    assert "<tr><td>glioma</td><td>4</td>\n<td>1</td><td>1</td><td>1</td><td>2</td></tr>" in html
    assert "bits per sample: 8 18" in html and "left out when obtaining" not in html


def test_the_report_section_lists_the_links_left_out(tmp_path):
    from mribench.sources import obtain_dataset

    source = kaggle_folder(tmp_path / "src")
    (source / "Training" / "glioma" / "loop").symlink_to("..")
    (source / "Training" / "glioma" / "copy.jpg").symlink_to("ok0.jpg")
    obtained = obtain_dataset(tmp_path / "dataset", {"source": "path", "path": str(source)})
    _, summary = audit_dataset(tmp_path / "dataset", CLASSES, "error", near_distance=4, obtained=obtained)
    assert summary["links"]["resolved"] == 1
    template = jinja2.Environment(
        loader=jinja2.PackageLoader("mribench", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    ).get_template("audit.html.j2")
    html = template.render(audit=json.loads(json.dumps(summary)), test_overlap="keep", dropped=0)
    assert "1 links resolved inside the source folder" in html
    assert (
        '<tr><td class="text">a link loop</td><td>1</td><td class="text">Training/glioma/loop '
        "(-&gt; ..: a link loop: it points to a folder that contains it)</td></tr>" in html
    )
    assert summary["left_out"] == {
        "total": 1,
        "by_reason": {
            "a link loop": {
                "count": 1,
                "examples": [
                    "Training/glioma/loop (-> ..: a link loop: it points to a folder that contains it)"
                ],
            }
        },
    }


@pytest.mark.parametrize(
    "section, key, value",
    [
        ("audit", "on_invalid", "ignore"),
        ("audit", "near_duplicate_distance", 65),
        ("audit", "max_image_pixels", 100_000_000),  # above Pillow's own limit, which readers decode with
        ("audit", "max_image_pixels", 0),
        ("dedup", "test_overlap", "yes"),
    ],
)
def test_a_bad_audit_setting_is_an_error_naming_its_key(section, key, value):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config[section][key] = value
    with pytest.raises(ConfigError, match=rf"config key `{section}\.{key}`"):
        validate_config(config, REPO / "schemas" / "config.schema.yaml")


# --- real folders: every mode, bit depths, bombs, and messages naming the user's files ------------


def kaggle_folder(root, extra=None):
    """Two clean images per class and split, plus `extra` {relative path: PIL image or bytes}."""
    for split in ("Training", "Testing"):
        for label in CLASSES:
            for i in range(2):
                write(root, f"{split}/{label}/ok{i}.jpg", jpeg_bytes(phantom(label, 40 + i, 32)))
    for relative, data in (extra or {}).items():
        if isinstance(data, Image.Image):
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            data.save(path)
        else:
            write(root, relative, data)
    return root


def test_the_audit_records_each_files_mode_and_bit_depth_and_counts_them(tmp_path):
    slice_16 = Image.fromarray(np.random.default_rng(0).integers(0, 4096, (32, 32)).astype(np.uint16))
    root = kaggle_folder(
        tmp_path,
        {
            "Training/glioma/slice16.png": slice_16,
            "Training/glioma/mask.png": phantom("glioma", 50, 32).convert("1"),
            "Training/glioma/float.tif": Image.fromarray(np.asarray(slice_16, np.float32)),
            "Training/meningioma/palette4.png": png_bytes(
                phantom("meningioma", 51, 32).convert("P", colors=16), bits=4
            ),
        },
    )
    files, summary = audit_dataset(root, CLASSES, "error", near_distance=4)
    files = files.set_index("path")
    assert files.loc["Training/glioma/slice16.png", ["mode", "bit_depth"]].tolist() == ["I;16", 16]
    assert files.loc["Training/glioma/mask.png", ["mode", "bit_depth"]].tolist() == ["1", 1]
    assert files.loc["Training/glioma/float.tif", ["mode", "bit_depth"]].tolist() == ["F", 32]
    assert files.loc["Training/meningioma/palette4.png", ["mode", "bit_depth"]].tolist() == ["P", 4]
    assert summary["modes"] == {"L": 8, "I;16": 1, "1": 1, "F": 1, "P": 1}
    assert summary["bit_depths"] == {"1": 1, "4": 1, "8": 8, "16": 1, "32": 1}
    # The 16-bit slice and its float copy are the same picture once scaled from their own ranges.
    assert files.loc["Training/glioma/slice16.png", "pixel_group"] >= 0
    assert (
        files.loc["Training/glioma/slice16.png", "pixel_group"]
        == files.loc["Training/glioma/float.tif", "pixel_group"]
    )


def test_a_decompression_bomb_and_an_image_over_the_pixel_limit_are_invalid_files(tmp_path):
    root = kaggle_folder(tmp_path, {"Training/glioma/big.png": Image.new("L", (100, 100))})
    bomb_png(root / "Training" / "glioma" / "bomb.png")
    files, summary = audit_dataset(root, CLASSES, "skip", near_distance=4, max_pixels=5000)
    files = files.set_index("path")
    assert files.loc["Training/glioma/bomb.png", ["status", "reason"]].tolist() == ["invalid", "too large"]
    assert files.loc["Training/glioma/big.png", "detail"] == (
        "100 x 100 = 10000 pixels, above 5000; raise audit.max_image_pixels to accept it"
    )
    assert summary["invalid"]["by_reason"] == {"too large": 2}
    assert summary["thresholds"]["max_image_pixels"] == 5000
    files, _ = audit_dataset(root, CLASSES, "skip", near_distance=4)  # Pillow's limit: the bomb only
    assert files.set_index("path").loc["Training/glioma/big.png", "status"] == "ok"


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_errors_name_the_users_own_files(tmp_path, kind):
    from mribench.sources import obtain_dataset

    source = kaggle_folder(
        tmp_path / "my data", {"Training/glioma/broken.jpg": b"", "Testing/glioma/notes.jpg": b"hi"}
    )
    if kind == "zip":
        archive = tmp_path / "my data.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(source.rglob("*.jpg")):
                zf.write(path, "Brain MRI/" + path.relative_to(source).as_posix())
        source = archive
    dataset = tmp_path / "results" / "data" / "dataset"
    obtained = obtain_dataset(dataset, {"source": "path", "path": str(source)})
    with pytest.raises(AuditError) as error:
        audit_dataset(dataset, CLASSES, "error", near_distance=4, obtained=obtained)
    message = str(error.value)
    if kind == "folder":
        named = [str(source / "Testing/glioma/notes.jpg"), str(source / "Training/glioma/broken.jpg")]
    else:
        named = [
            f"Brain MRI/{p} in {source}" for p in ("Testing/glioma/notes.jpg", "Training/glioma/broken.jpg")
        ]
    assert f"  {named[1]}: empty file\n  {named[0]}: not an image\n" in message
    assert str(dataset) not in message.split("results/data/dataset is a copy")[0]
    assert f"Fix or remove them (in {source}; results/data/dataset is a copy of it" in message
    assert "--forcerun obtain_dataset" in message

    (dataset / "Testing" / "meningioma").rename(tmp_path / "gone")
    with pytest.raises(AuditError, match="class folder (.*)Testing/meningioma(.*) is missing") as error:
        audit_dataset(dataset, CLASSES, "skip", near_distance=4, obtained=obtained)
    assert (named[0].replace("glioma/notes.jpg", "meningioma")) in str(error.value)
