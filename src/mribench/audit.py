"""Audit the dataset before it is split: is every file a readable image, and which images recur?

Public brain-MRI sets are merged from several sources, so the same slice can sit twice in Training,
twice in Testing, or in both; a test image whose twin was trained on inflates test accuracy. The
audit decodes every file once and groups them by

* exact duplicates: the same file bytes (sha256);
* pixel duplicates: the same decoded pixels, i.e. the RGB array the model is fed (re-encoded or
  re-saved copies, a PNG copy of a JPEG, a grayscale file and its RGB copy);
* near duplicates: perceptual hashes (imagehash.phash, 64 bits) within a Hamming distance, for
  resized or lightly edited copies. Reported only: a loose threshold also pairs distinct slices
  that merely look alike, so near duplicates inform the reader but do not change the split.
"""

import functools
import hashlib
import io
import json
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from mribench.decoding import UnusableImage, decode
from mribench.layout import is_system_name
from mribench.sources import SPLITS, DatasetError, user_path

MAX_LISTED = 20
TEXT_COLUMNS = ["reason", "detail", "format", "mode", "sha256", "pixel_sha256", "phash", "source"]
# mode and bit_depth: as stored in the file (decoding.Decoded); source: the user's own path of the file.
COLUMNS = [
    "path", "folder", "label", "status", "reason", "detail", "format", "mode", "width", "height", "bytes",
    "sha256", "pixel_sha256", "phash", "exact_group", "pixel_group", "near_group", "train_twin",
    "bit_depth", "multi_frame", "source",
]  # fmt: skip
COLUMN_TYPES = {
    "width": "Int64",
    "height": "Int64",
    "bytes": "Int64",
    "bit_depth": "Int64",
    "multi_frame": "boolean",
}


class AuditError(DatasetError):
    pass


def audit_dataset(root, classes, on_invalid, near_distance, threads=1, max_pixels=None, obtained=None):
    """The audit table (one row per file, COLUMNS) and its summary; raises AuditError on bad data.

    `max_pixels`: images with more pixels are invalid (audit.max_image_pixels; default Pillow's limit).
    `obtained`: obtain_dataset's record, to name the user's own files in messages and the table."""
    started = time.perf_counter()
    files = inspect_files(scan_files(root, classes), root, threads, max_pixels)
    files["source"] = [user_path(obtained, p) or "" for p in files.path]
    check_classes(files, root, classes, obtained)
    files = find_duplicates(files, near_distance)
    if on_invalid == "error" and (files.status == "invalid").any():
        raise AuditError(invalid_message(files[files.status == "invalid"], root, obtained))
    summary = summarise(files, classes, on_invalid, near_distance, max_pixels, obtained)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return files[COLUMNS].astype(COLUMN_TYPES), summary


def write_audit(
    dataset_dir,
    out_json,
    out_csv,
    classes,
    on_invalid,
    near_distance,
    threads,
    max_pixels=None,
    obtained_json=None,
):
    obtained = json.loads(Path(obtained_json).read_text()) if obtained_json else None
    files, summary = audit_dataset(
        dataset_dir, classes, on_invalid, near_distance, threads, max_pixels, obtained
    )
    files.to_csv(out_csv, index=False)
    Path(out_json).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("files", "invalid", "test_twins_in_training")}, indent=2))
    for conflict in summary["label_conflicts"]:
        print(f"WARNING label conflict ({conflict['kind']} duplicates): {conflict['paths']}")


def scan_files(root, classes, folders=SPLITS, classes_key="dataset.classes"):
    """Every file under the `folders` of root ("" is root itself), with status ok (to inspect),
    invalid or ignored; `classes_key` is the config key a stray class folder is named against."""
    root = Path(root)
    rows = []
    for folder in folders:
        for path in sorted(p for p in (root / folder).rglob("*") if p.is_file()):
            relative = path.relative_to(root)
            parts = path.relative_to(root / folder).parts
            row = {"path": relative.as_posix(), "folder": folder, "label": parts[0] if len(parts) > 1 else ""}
            if is_system_file(parts):
                row |= {"status": "ignored", "reason": "hidden or system file"}
            elif len(parts) == 1:
                row |= {"status": "invalid", "reason": "not in a class folder"}
            elif parts[0] not in classes:
                detail = f"{parts[0]!r} is not in {classes_key}; rename the folder or add the class"
                row |= {"status": "invalid", "reason": "unknown class folder", "detail": detail}
            else:
                row |= {"status": "ok", "reason": ""}
            rows.append(row)
    return pd.DataFrame(rows, columns=COLUMNS).astype({c: object for c in [*TEXT_COLUMNS, "multi_frame"]})


def inspect_files(files, root, threads, max_pixels=None):
    """The scanned table with what inspect_image finds in each file it marked ok."""
    candidates = files[files.status == "ok"]
    with ProcessPoolExecutor(max_workers=threads) as pool:
        inspect = functools.partial(inspect_image, max_pixels=max_pixels)
        inspected = list(pool.map(inspect, [Path(root, p) for p in candidates.path], chunksize=16))
    details = pd.DataFrame(inspected, index=candidates.index)
    files.loc[details.index, details.columns] = details
    return files.fillna({c: "" for c in TEXT_COLUMNS})


def is_system_file(parts):
    """Hidden files, OS metadata and tool folders that ride along in archives (obtain leaves them out;
    a dataset generated or copied by other means may still hold them)."""
    return any(is_system_name(part) for part in parts)


def inspect_image(path, max_pixels=None):
    """Decode one file fully (as every reader does, mribench.decoding) and hash it three ways;
    an unusable file gets a reason instead."""
    data = Path(path).read_bytes()
    record = {"status": "ok", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if not data:
        return record | {"status": "invalid", "reason": "empty file"}
    try:
        decoded = decode(io.BytesIO(data), max_pixels)
    except UnusableImage as error:
        detail = error.detail + (
            "; raise audit.max_image_pixels to accept it" if error.reason == "too large" else ""
        )
        return record | {"status": "invalid", "reason": error.reason, "detail": detail}
    record |= {
        "format": decoded.format,
        "mode": decoded.mode,
        "width": decoded.width,
        "height": decoded.height,
        "bit_depth": decoded.bit_depth,
        "multi_frame": decoded.multi_frame,
    }
    rgb = decoded.picture.convert("RGB")  # what mribench.images feeds the model, before resizing
    pixels = np.asarray(rgb)
    return record | {
        "pixel_sha256": hashlib.sha256(str(pixels.shape).encode() + pixels.tobytes()).hexdigest(),
        "phash": str(imagehash.phash(rgb)),
    }


def find_duplicates(files, near_distance):
    """Group ids (-1: no duplicate) among valid images, and each Testing image's closest Training twin."""
    files = files.assign(exact_group=-1, pixel_group=-1, near_group=-1, train_twin="")
    valid = files[files.status == "ok"]
    for kind, key in (("exact", "sha256"), ("pixel", "pixel_sha256")):
        sizes = valid.groupby(key)[key].transform("size")
        files.loc[valid.index, f"{kind}_group"] = np.where(sizes > 1, valid.groupby(key).ngroup(), -1)
    pairs = near_pairs(valid.phash.map(lambda h: int(h, 16)).to_numpy(np.uint64), near_distance)
    n = len(valid)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)[component]
    files.loc[valid.index, "near_group"] = np.where(sizes > 1, component, -1)

    is_test = (valid.folder == "Testing").to_numpy()
    cross = pairs[is_test[pairs[:, 0]] != is_test[pairs[:, 1]]]
    near_twins = valid.index[np.where(is_test[cross[:, 0]], cross[:, 0], cross[:, 1])]
    files.loc[near_twins, "train_twin"] = "near"
    for kind, key in (("pixel", "pixel_sha256"), ("exact", "sha256")):  # the strongest match wins
        training = set(valid.loc[~is_test, key])
        twins = valid.index[is_test & valid[key].isin(training).to_numpy()]
        files.loc[twins, "train_twin"] = kind
    return files


def near_pairs(hashes, max_distance, block=1024):
    """Index pairs (i < j) of 64-bit hashes within `max_distance` differing bits."""
    pairs = []
    for start in range(0, len(hashes), block):
        distance = np.bitwise_count(hashes[start : start + block, None] ^ hashes[None, :])
        i, j = np.nonzero(distance <= max_distance)
        i += start
        pairs.append(np.stack([i, j], axis=1)[i < j])
    return np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.intp)


def check_classes(files, root, classes, obtained=None):
    """Every class needs valid images in both Training and Testing, or the study is not meaningful."""
    valid = files[files.status == "ok"]
    for folder in SPLITS:
        for label in classes:
            if not ((valid.folder == folder) & (valid.label == label)).any():
                where = Path(root, folder, label)
                state = "holds no valid images" if where.is_dir() else "is missing"
                raise AuditError(
                    f"class folder {user_path(obtained, f'{folder}/{label}') or where} {state}; every class "
                    f"of dataset.classes {list(classes)} needs images in Training and Testing: add them, "
                    "or remove the class from config.yaml" + rerun_hint(obtained)
                )


def invalid_message(invalid, root, obtained=None, where="the dataset", listed_in="results/data/audit.csv"):
    """The invalid files by the user's own paths (the copy's when the files were generated)."""
    lines = [
        f"  {row.source or Path(root, row.path)}: {row.reason}" + (f" ({row.detail})" if row.detail else "")
        for row in invalid.head(MAX_LISTED).itertuples()
    ]
    if len(invalid) > MAX_LISTED:
        lines.append(f"  ... and {len(invalid) - MAX_LISTED} more")
    return (
        f"{len(invalid)} file(s) in {where} are not usable images:\n" + "\n".join(lines) + "\n"
        "Fix or remove them"
        + rerun_hint(obtained)
        + ", or set `audit: {on_invalid: skip}` in config.yaml to "
        f"leave them out (they are then listed in {listed_in} and the report)."
    )


def rerun_hint(obtained):
    """The workflow works on a copy of the user's folder: after fixing the folder, copy it again."""
    if obtained is None or obtained["source"] != "path":
        return ""
    return (
        f" (in {obtained['origin']}; results/data/dataset is a copy of it, so then run again with "
        "`--forcerun obtain_dataset`)"
    )


def summarise(files, classes, on_invalid, near_distance, max_pixels=None, obtained=None):
    valid = files[files.status == "ok"]
    invalid = files[files.status == "invalid"]
    test = valid[valid.folder == "Testing"]
    counts = pd.crosstab(valid.folder, valid.label).reindex(index=list(SPLITS), columns=classes, fill_value=0)
    twins = {
        kind: per_class(test[test.train_twin.isin(kinds)], classes)
        for kind, kinds in (("exact", ["exact"]), ("pixel", ["pixel"]), ("near", ["near"]))
    }
    twins["exact_or_pixel"] = per_class(test[test.train_twin.isin(["exact", "pixel"])], classes)
    return {
        "classes": list(classes),
        "on_invalid": on_invalid,
        "thresholds": {
            "near_duplicate_distance": near_distance,
            "max_image_pixels": max_pixels,
            "perceptual_hash": f"imagehash {imagehash.__version__} phash, 64 bits, Hamming distance",
        },
        "files": {
            "scanned": len(files),
            "valid": len(valid),
            "invalid": len(invalid),
            "ignored": int((files.status == "ignored").sum()),
        },
        "counts": {folder: counts.loc[folder].astype(int).to_dict() for folder in SPLITS},
        "formats": Counter(valid.format),
        "modes": Counter(valid["mode"]),
        "bit_depths": {str(int(bits)): n for bits, n in sorted(Counter(valid.bit_depth).items())},
        "multi_frame": int(valid.multi_frame.astype(bool).sum()),
        "links": {
            "resolved": sum(link["action"] == "resolved" for link in obtained["links"]) if obtained else 0,
            "left_out": (
                [link for link in obtained["links"] if link["action"] == "left out"] if obtained else []
            ),
        },
        "special_files_left_out": obtained["special_files"] if obtained else [],
        "left_out": left_out_by_reason(obtained),
        "invalid": {
            "by_reason": Counter(invalid.reason),
            "files": invalid[["path", "reason", "detail", "source"]].fillna("").to_dict("records"),
        },
        "ignored_examples": files.path[files.status == "ignored"].head(MAX_LISTED).tolist(),
        "duplicates": {kind: duplicate_counts(valid, f"{kind}_group") for kind in ("exact", "pixel", "near")},
        "test_twins_in_training": twins,
        "label_conflicts": label_conflicts(valid),
    }


def left_out_by_reason(obtained):
    """What obtain left out of the source (sources.py's policy), per reason: how many, a few examples."""
    by_reason = {}
    for item in obtained.get("left_out", []) if obtained else []:
        found = by_reason.setdefault(item["reason"], {"count": 0, "examples": []})
        found["count"] += 1
        if len(found["examples"]) < 3:
            found["examples"].append(item["path"] + (f" ({item['detail']})" if item["detail"] else ""))
    ordered = dict(sorted(by_reason.items(), key=lambda item: -item[1]["count"]))
    return {"total": sum(found["count"] for found in by_reason.values()), "by_reason": ordered}


def per_class(rows, classes):
    return {label: int((rows.label == label).sum()) for label in classes} | {"total": len(rows)}


def duplicate_counts(valid, column):
    """Groups and redundant copies (members beyond the first) within each folder and across them."""
    grouped = valid[valid[column] >= 0]
    result = {}
    for scope in SPLITS:
        sizes = grouped[grouped.folder == scope].groupby(column).size()
        sizes = sizes[sizes > 1]
        result[f"within_{scope}"] = {"groups": len(sizes), "redundant_copies": int((sizes - 1).sum())}
    spans = grouped.groupby(column).folder.nunique()
    result["across_splits"] = {"groups": int((spans > 1).sum())}
    return result


def label_conflicts(valid):
    """Duplicate groups whose members carry different labels: at most one label can be right.

    A pixel group is reported as exact when all its files are byte-identical; a near group only when
    it holds other files than a conflict already listed. Near groups chain pairs within the threshold
    (connected components), so a near conflict deserves a look at the images, not blind relabelling."""
    conflicts = []
    for kind in ("pixel", "near"):
        grouped = valid[valid[f"{kind}_group"] >= 0]
        for _, members in grouped.groupby(f"{kind}_group"):
            listed = any(c["paths"] == sorted(members.path) for c in conflicts)
            if members.label.nunique() > 1 and not listed:
                strongest = "exact" if members.sha256.nunique() == 1 else kind
                conflicts.append(
                    {"kind": strongest, "labels": sorted(set(members.label)), "paths": sorted(members.path)}
                )
    return conflicts
