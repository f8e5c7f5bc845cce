"""External test sets: labelled images from elsewhere, to see whether a target holds up off its own data.

A set is a folder or .zip in the `<class>/` layout (or `Testing/<class>/`), or phantoms from a shifted
scanner (config `demo:`). It is obtained into results/external/<name>/dataset/<class>/ and audited
like the main dataset (validity, duplicates), and for its overlap with the main dataset: public
brain-MRI sets are often already inside the Kaggle set, so an "external" image can be a twin of a
Training image (the model may have memorised it) or of a Testing image (then the set is not
independent of the internal test). Twins are found with the audit's own hashes: exact (file bytes),
pixel (decoded RGB) and near (perceptual hash within audit.near_duplicate_distance).
"""

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from mribench import phantoms
from mribench.audit import (
    COLUMN_TYPES,
    COLUMNS,
    AuditError,
    find_duplicates,
    inspect_files,
    invalid_message,
    label_conflicts,
    near_pairs,
    per_class,
    scan_files,
)
from mribench.layout import Layout
from mribench.sources import (
    SPLITS,
    DatasetError,
    Policy,
    copy_local_dataset,
    count_files,
    left_out_summary,
    new_record,
    staging_folder,
    tell,
)

TWIN_KINDS = ("exact", "pixel", "near")
AUDIT_COLUMNS = [c for c in COLUMNS if c not in ("folder", "train_twin")] + [
    "twin_in_training",
    "twin_in_testing",
]
HASH_COLUMNS = {"sha256": str, "pixel_sha256": str, "phash": str}


def obtain_external_set(dest, name, test_set, obtain=None, record_json=None, console=None):
    """Fill `dest` with <class>/ folders of the configured set `name` (config external_test_sets.<name>),
    read by the dataset's policy (config `obtain`, sources.Policy); the record (what was left out)
    goes to `record_json`, a summary of it to `console`."""
    key = f"external_test_sets.{name}"
    try:
        with staging_folder(dest) as staging:
            if "demo" in test_set:
                demo = test_set["demo"]
                scanner = phantoms.Scanner(
                    **{k: demo[k] for k in ("contrast_gamma", "noise_factor", "resolution_factor")}
                )
                phantoms.generate_test_set(
                    staging, test_set["classes"], demo["per_class"], demo["image_size"], demo["seed"], scanner
                )
                record = new_record(None, None, "")
            else:
                layout = Layout(
                    f"the layout of external test set {name!r}",
                    (),
                    tuple(test_set["classes"]),
                    f"{key}.root",
                    f"{key}.classes",
                )
                record = copy_local_dataset(
                    Path(test_set["path"]), staging, layout, Policy(**(obtain or {})),
                    chosen_root=test_set.get("root"), path_key=f"{key}.path",
                )  # fmt: skip
            record |= {"source": "demo" if "demo" in test_set else "path", "files": count_files(staging)}
    except DatasetError as error:
        tell(console, f"obtain_external_set {name} stopped: {error}")
        raise
    if record_json is not None:
        Path(record_json).write_text(json.dumps(record, indent=2) + "\n")
        tell(console, left_out_summary(record, f"obtain_external_set {name}", record_json))
    return record


def audit_external_set(
    root, name, classes, reference_csv, on_invalid, near_distance, threads=1, max_pixels=None
):
    """The set's audit table (AUDIT_COLUMNS) and summary; `reference_csv` is the main dataset's audit.csv."""
    started = time.perf_counter()
    files = scan_files(root, classes, folders=("",), classes_key=f"external_test_sets.{name}.classes")
    files = find_duplicates(inspect_files(files, root, threads, max_pixels), near_distance)
    valid = files[files.status == "ok"]
    missing = [label for label in classes if not (valid.label == label).any()]
    if missing:
        raise AuditError(
            f"external test set {name!r}: no valid images of class(es) {missing} in {root}; add them, or "
            f"remove them from external_test_sets.{name}.classes"
        )
    if on_invalid == "error" and (files.status == "invalid").any():
        raise AuditError(
            invalid_message(
                files[files.status == "invalid"],
                root,
                where=f"external test set {name!r}",
                listed_in=f"results/external/{name}/audit.csv",
            )
        )
    reference = pd.read_csv(reference_csv, keep_default_na=False, dtype=HASH_COLUMNS)
    reference = reference[reference.status == "ok"]
    for folder in SPLITS:
        twins = twin_kinds(valid, reference[reference.folder == folder], near_distance)
        files[f"twin_in_{folder.lower()}"] = twins.reindex(files.index, fill_value="")
    summary = summarise_external(files, name, classes, on_invalid, near_distance)
    summary["seconds"] = round(time.perf_counter() - started, 2)
    return files[AUDIT_COLUMNS].astype(COLUMN_TYPES), summary


def twin_kinds(rows, reference, near_distance):
    """Per row: the strongest kind of twin it has among `reference` (exact > pixel > near), or ""."""
    kinds = pd.Series("", index=rows.index, dtype=object)
    hashes = pd.concat([rows.phash, reference.phash]).map(lambda h: int(h, 16)).to_numpy(np.uint64)
    pairs = near_pairs(hashes, near_distance)  # i < j, so a row-reference pair has the row first
    row_in_pair = pairs[(pairs[:, 0] < len(rows)) & (pairs[:, 1] >= len(rows)), 0]
    kinds.iloc[np.unique(row_in_pair)] = "near"
    for kind, key in (("pixel", "pixel_sha256"), ("exact", "sha256")):  # the strongest match wins
        kinds[rows[key].isin(set(reference[key]))] = kind
    return kinds


def summarise_external(files, name, classes, on_invalid, near_distance):
    valid = files[files.status == "ok"]
    invalid = files[files.status == "invalid"]
    overlap = {}
    for folder in SPLITS:
        column = valid[f"twin_in_{folder.lower()}"]
        overlap[folder] = {kind: per_class(valid[column == kind], classes) for kind in TWIN_KINDS}
        overlap[folder]["any"] = per_class(valid[column != ""], classes)
    return {
        "name": name,
        "classes": list(classes),
        "on_invalid": on_invalid,
        "near_duplicate_distance": near_distance,
        "files": {
            "scanned": len(files),
            "valid": len(valid),
            "invalid": len(invalid),
            "ignored": int((files.status == "ignored").sum()),
        },
        "counts": {label: int((valid.label == label).sum()) for label in classes},
        "formats": Counter(valid.format),
        "modes": Counter(valid["mode"]),
        "invalid": {
            "by_reason": Counter(invalid.reason),
            "files": invalid[["path", "reason", "detail"]].to_dict("records"),
        },
        "redundant_copies_within": {kind: redundant_copies(valid[f"{kind}_group"]) for kind in TWIN_KINDS},
        "overlap": overlap,
        "overlaps": any(overlap[folder]["any"]["total"] for folder in SPLITS),
        "label_conflicts": label_conflicts(valid),
    }


def redundant_copies(groups):
    """Members of duplicate groups beyond the first of each (-1: no duplicate)."""
    grouped = groups[groups >= 0]
    return int(len(grouped) - grouped.nunique())


def write_external_audit(
    dataset_dir, name, classes, reference_csv, out_json, out_csv, on_invalid, near_distance, threads,
    max_pixels=None,
):  # fmt: skip
    files, summary = audit_external_set(
        dataset_dir, name, classes, reference_csv, on_invalid, near_distance, threads, max_pixels
    )
    files.to_csv(out_csv, index=False)
    Path(out_json).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("files", "counts", "overlaps")}, indent=2))
    for folder, kinds in summary["overlap"].items():
        if kinds["any"]["total"]:
            print(f"WARNING {kinds['any']['total']} image(s) of {name!r} have a twin in {folder}: {kinds}")
