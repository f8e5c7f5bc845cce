"""How much of each target's accuracy rode on the grey-level shortcut: the statistics of the
counterfactual view (the test images with their histograms matched to one reference,
mribench.intensity) beside the original view's, and what the report says about them.

Computed from the predictions.csv of both views, like mribench.stats: the same bootstrap intervals
and the same McNemar test, here between a target's two views of the same images (paired), so the
drop is a difference on the same images, not between two samples.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mribench import stats
from mribench.baselines import HISTOGRAM_BASELINE
from mribench.targets import Target

# The scalar statistics of each view that stats.json keeps (the curves stay in the original view's).
KEPT = ("n_images", "accuracy", "accuracy_ci", "macro_f1", "macro_f1_ci", "macro_auc", "ece")


def accuracy_drop(original_correct, counterfactual_correct, axis=-1):
    """Original-view accuracy minus counterfactual-view accuracy, vectorised for the bootstrap."""
    return np.mean(original_correct, axis=axis) - np.mean(counterfactual_correct, axis=axis)


def view_statistics(original_csv, counterfactual_csv, classes, resamples, seed):
    """Both views' statistics of one run, the drop with its paired bootstrap interval, and McNemar."""
    views = {}
    correct = {}
    for view, path in (("original", original_csv), ("counterfactual", counterfactual_csv)):
        table, y_true, probabilities = stats.read_predictions(path, classes)
        statistics = stats.target_statistics(path, classes, resamples, seed)
        views[view] = {key: value for key, value in statistics.items() if key in KEPT}
        correct[view] = (probabilities.argmax(axis=1) == y_true).astype(float)
        views[view]["files"] = table.file.tolist()
    if views["original"].pop("files") != views["counterfactual"].pop("files"):
        raise ValueError(f"{counterfactual_csv} is not on the same images as {original_csv}")
    return views | {
        "accuracy_drop": float(accuracy_drop(correct["original"], correct["counterfactual"])),
        "accuracy_drop_ci": stats.bootstrap_ci(
            correct["original"], correct["counterfactual"], accuracy_drop, resamples, seed
        ),
        "mcnemar": stats.mcnemar_test(correct["original"] > 0, correct["counterfactual"] > 0),
    }


def write_counterfactual_statistics(runs, classes, resamples, seed, out_json, out_csv):
    """stats.json and targets.csv of the counterfactual view; `runs` lists (model, strategy, seed,
    original predictions.csv, counterfactual predictions.csv). McNemar p-values are Holm-adjusted over
    the runs of each seed."""
    rows = []
    for model, strategy, run_seed, original, counterfactual in runs:
        target = Target(model, strategy, run_seed)
        statistics = view_statistics(original, counterfactual, classes, resamples, seed)
        rows.append(
            {"target": target.name, "model": model, "strategy": strategy, "seed": run_seed} | statistics
        )
    for run_seed in sorted({row["seed"] for row in rows}):
        same_seed = [row for row in rows if row["seed"] == run_seed]
        for row, adjusted in zip(same_seed, stats.holm([r["mcnemar"]["p"] for r in same_seed]), strict=True):
            row["mcnemar"] |= {"p_holm": adjusted, "significant": adjusted < stats.ALPHA}
    result = {
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence_level": 0.95, "method": "percentile"},
        "alpha": stats.ALPHA,
        "view": "each test image's grey-level histogram matched to the training images' reference",
        "chance": chance(runs[0][3], classes) if runs else None,
        "targets": rows,
    }
    Path(out_json).write_text(json.dumps(result, indent=2) + "\n")
    pd.DataFrame([flat_row(row) for row in rows]).to_csv(out_csv, index=False, float_format="%.6g")


def chance(predictions_csv, classes):
    """The accuracy of always answering the test set's largest class."""
    _, y_true, _ = stats.read_predictions(predictions_csv, classes)
    return stats.chance_accuracy(y_true)


def flat_row(row):
    """One run's row of targets.csv: both views' accuracy with intervals, the drop, McNemar."""
    flat = {"target": row["target"], "seed": row["seed"], "n_images": row["original"]["n_images"]}
    for view in ("original", "counterfactual"):
        flat[f"{view}_accuracy"] = row[view]["accuracy"]
        flat[f"{view}_accuracy_ci_low"], flat[f"{view}_accuracy_ci_high"] = row[view]["accuracy_ci"]
    flat["accuracy_drop"] = row["accuracy_drop"]
    flat["accuracy_drop_ci_low"], flat["accuracy_drop_ci_high"] = row["accuracy_drop_ci"]
    return flat | {"mcnemar_p_holm": row["mcnemar"]["p_holm"]}


def section_rows(statistics, labels):
    """The rows of the report's table for one test set: each run's two views, the drop and McNemar,
    targets first, then the shortcut baselines; `labels` maps target names to the report's labels."""
    rows = [
        {
            "target": Target(row["model"], row["strategy"], row["seed"]),
            "label": labels.get(row["target"], row["target"]),
            "seed": row["seed"],
            "original": row["original"],
            "counterfactual": row["counterfactual"],
            "drop": row["accuracy_drop"],
            "drop_ci": row["accuracy_drop_ci"],
            "mcnemar": row["mcnemar"],
        }
        for row in statistics["targets"]
    ]
    return sorted(rows, key=lambda row: row["target"].is_baseline)


def strategy_sentences(rows, chance):
    """One sentence per strategy on what survives without the grey-level shortcut: its targets' mean
    accuracy on both views, how many dropped significantly, and how far above chance the rest is."""
    sentences = []
    for strategy in dict.fromkeys(row["target"].strategy for row in rows if not row["target"].is_baseline):
        own = [row for row in rows if row["target"].strategy == strategy and not row["target"].is_baseline]
        original = np.mean([row["original"]["accuracy"] for row in own])
        counterfactual = np.mean([row["counterfactual"]["accuracy"] for row in own])
        dropped = sum(row["mcnemar"]["significant"] and row["drop"] > 0 for row in own)
        above = 100 * (counterfactual - chance)
        survives = f"{above:.1f} points above chance" if above > 0 else "nothing above chance"
        sentence = (
            f"{100 * original:.1f} % on the original view, {100 * counterfactual:.1f} % on the "
            f"counterfactual view ({100 * (counterfactual - original):+.1f} points; a significant drop for "
            f"{dropped} of {len(own)} target runs): {survives} ({100 * chance:.1f} %) survives without the "
            "grey-level distribution"
        )
        sentences.append({"strategy": strategy, "sentence": sentence})
    return sentences


def report_sections(stats_jsons, labels):
    """The report's section: per test set (`stats_jsons` maps "internal test set" or an external set's
    name to its counterfactual stats.json), the table rows, one sentence per strategy, and the
    histogram baseline's check that the transform removed what it claims."""
    sections = []
    for name, stats_json in stats_jsons.items():
        statistics = json.loads(Path(stats_json).read_text())
        rows = section_rows(statistics, labels)
        histogram = [
            row for row in rows if row["target"].is_baseline and row["target"].strategy == HISTOGRAM_BASELINE
        ]
        sections.append(
            {
                "name": name,
                "rows": rows,
                "chance": statistics["chance"],
                "alpha": statistics["alpha"],
                "sentences": strategy_sentences(rows, statistics["chance"]),
                "histogram": histogram,
            }
        )
    return sections
