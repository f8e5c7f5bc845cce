"""Which differences between targets are real: bootstrap CIs, McNemar tests, ROC/AUC and calibration.

Everything is computed from the predictions.csv files of the evaluate rule, so the statistics never
need TensorFlow and every number can be recomputed from files a reader has.
"""

import functools
import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest, bootstrap
from scipy.stats import t as student_t
from sklearn.metrics import roc_auc_score, roc_curve
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from mribench import plots, registry, strategies
from mribench.targets import Target

ALPHA = 0.05
# Below this many discordant pairs the chi-square approximation is poor: use the exact binomial test.
EXACT_BELOW = 25
CALIBRATION_BINS = 10


def read_predictions(predictions_csv, classes):
    """True and predicted class indices and the probability matrix of one target."""
    table = pd.read_csv(predictions_csv)
    probabilities = table[[f"p_{name}" for name in classes]].to_numpy()
    return table, table.true.map(classes.index).to_numpy(), probabilities


def bootstrap_ci(y_true, y_pred, statistic, resamples, seed, level=0.95):
    """Percentile bootstrap CI of statistic(y_true, y_pred, axis), resampling test images with replacement.

    The percentile method, not BCa: BCa is undefined when every resample gives the same value,
    which happens with a perfect classifier. `statistic` must be vectorised along `axis`.
    """
    result = bootstrap(
        (y_true, y_pred),
        statistic,
        paired=True,
        vectorized=True,
        n_resamples=resamples,
        batch=500,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def accuracy(y_true, y_pred, axis=-1):
    return np.mean(y_true == y_pred, axis=axis)


def macro_f1(y_true, y_pred, n_classes, axis=-1):
    """sklearn's f1_score(average="macro", labels=all classes, zero_division=0), vectorised along `axis`
    so that thousands of bootstrap resamples take a second instead of minutes."""
    scores = []
    for k in range(n_classes):
        is_true, is_predicted = y_true == k, y_pred == k
        true_positives = np.sum(is_true & is_predicted, axis=axis)
        errors = np.sum(is_true != is_predicted, axis=axis)  # false positives + false negatives
        denominator = 2 * true_positives + errors
        scores.append(
            np.divide(
                2 * true_positives, denominator, out=np.zeros(np.shape(denominator)), where=denominator > 0
            )
        )
    return np.mean(scores, axis=0)


def mcnemar_test(correct_a, correct_b):
    """McNemar's test on two classifiers' per-image correctness over the same test images."""
    correct_a, correct_b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    table = [
        [np.sum(correct_a & correct_b), np.sum(correct_a & ~correct_b)],
        [np.sum(~correct_a & correct_b), np.sum(~correct_a & ~correct_b)],
    ]
    only_a, only_b = int(table[0][1]), int(table[1][0])
    exact = only_a + only_b < EXACT_BELOW
    result = mcnemar(table, exact=exact, correction=True)
    return {
        "only_a_correct": only_a,
        "only_b_correct": only_b,
        "test": "exact binomial" if exact else "chi-square with continuity correction",
        "statistic": float(result.statistic),
        "p": float(result.pvalue),
    }


def holm(p_values):
    """Holm-adjusted p-values (family-wise error rate ALPHA)."""
    if len(p_values) == 0:
        return []
    return multipletests(p_values, alpha=ALPHA, method="holm")[1].tolist()


def expected_calibration_error(confidence, correct, bins=CALIBRATION_BINS):
    """ECE of the top-label confidence over equal-width bins, and the bins of the reliability diagram."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "low": edges[b],
                    "high": edges[b + 1],
                    "n": int(inside.sum()),
                    "confidence": float(confidence[inside].mean()),
                    "accuracy": float(correct[inside].mean()),
                }
            )
    ece = sum(r["n"] * abs(r["accuracy"] - r["confidence"]) for r in rows) / len(confidence)
    return float(ece), rows


def roc_per_class(y_true, probabilities, classes):
    """One-vs-rest ROC curve and AUC of every class (AUC is None when a class is absent from the test set)."""
    curves = {}
    for i, name in enumerate(classes):
        positive = y_true == i
        if positive.all() or not positive.any():
            curves[name] = {"auc": None, "fpr": [], "tpr": []}
            continue
        fpr, tpr, _ = roc_curve(positive, probabilities[:, i])
        curves[name] = {
            "auc": float(roc_auc_score(positive, probabilities[:, i])),
            "fpr": fpr.tolist(),
            "tpr": tpr.tolist(),
        }
    return curves


def target_statistics(predictions_csv, classes, resamples, seed):
    """Point estimates with bootstrap CIs, AUCs and calibration of one target and seed."""
    _, y_true, probabilities = read_predictions(predictions_csv, classes)
    y_pred = probabilities.argmax(axis=1)
    ece, reliability = expected_calibration_error(probabilities.max(axis=1), y_pred == y_true)
    roc = roc_per_class(y_true, probabilities, classes)
    known_aucs = [c["auc"] for c in roc.values() if c["auc"] is not None]
    class_f1 = functools.partial(macro_f1, n_classes=len(classes))
    return {
        "n_images": int(len(y_true)),
        "accuracy": float(accuracy(y_true, y_pred)),
        "accuracy_ci": bootstrap_ci(y_true, y_pred, accuracy, resamples, seed),
        "macro_f1": float(class_f1(y_true, y_pred)),
        "macro_f1_ci": bootstrap_ci(y_true, y_pred, class_f1, resamples, seed),
        "macro_auc": float(np.mean(known_aucs)) if known_aucs else None,
        "ece": ece,
        "reliability": reliability,
        "roc": roc,
    }


def pairwise_mcnemar(correct, seeds):
    """McNemar between every two targets of the same seed, Holm-corrected within each seed.

    `correct` maps (target, seed) to the per-image correctness over the same test images.
    """
    rows = []
    for seed in seeds:
        targets = sorted(t for t, s in correct if s == seed)
        tests = []
        for a, b in itertools.combinations(targets, 2):
            result = mcnemar_test(correct[a, seed], correct[b, seed])
            accuracy_a, accuracy_b = np.mean(correct[a, seed]), np.mean(correct[b, seed])
            tests.append(
                {"seed": seed, "a": a, "b": b, "difference_points": 100 * (accuracy_a - accuracy_b)} | result
            )
        for test, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
            test["p_holm"] = adjusted
            test["significant"] = adjusted < ALPHA
        rows += tests
    return rows


def corrected_resampled_t_test(scores_a, scores_b, test_train_ratio):
    """Nadeau & Bengio's (2003) corrected resampled t-test of two targets' paired fold scores.

    The k x r folds share most of their training images, so their scores are correlated and a plain
    paired t-test over them is overconfident. The correction multiplies the variance of the mean
    difference by (1/J + n_test/n_train) instead of 1/J (J: the number of folds x repeats);
    `test_train_ratio` is n_test/n_train, held-out images over training images of a fold. Two-sided,
    J - 1 degrees of freedom."""
    differences = np.asarray(scores_a, float) - np.asarray(scores_b, float)
    n = len(differences)
    mean, variance = differences.mean(), differences.var(ddof=1)
    if variance == 0:  # identical differences in every fold: no spread to test against
        statistic, p = (0.0, 1.0) if mean == 0 else (float(np.sign(mean) * np.inf), 0.0)
    else:
        statistic = mean / np.sqrt((1 / n + test_train_ratio) * variance)
        p = 2 * student_t.sf(abs(statistic), n - 1)
    return {"mean_difference": float(mean), "folds": n, "statistic": float(statistic), "p": float(p)}


def pairwise_fold_tests(scores, test_train_ratio, metric="accuracy"):
    """The corrected resampled t-test between every two targets of the same seed, Holm-adjusted within
    each seed, the McNemar tests' family (pairwise_mcnemar). `scores` maps (target, seed) to the
    target's fold scores in (repeat, fold) order, the same folds for every target."""
    rows = []
    for seed in sorted({s for _, s in scores}):
        targets = sorted(t for t, s in scores if s == seed)
        tests = [
            {"seed": seed, "a": a, "b": b, "metric": metric}
            | corrected_resampled_t_test(scores[a, seed], scores[b, seed], test_train_ratio)
            for a, b in itertools.combinations(targets, 2)
        ]
        for test, adjusted in zip(tests, holm([t["p"] for t in tests]), strict=True):
            test["difference_points"] = 100 * test.pop("mean_difference")
            test["p_holm"] = adjusted
            test["significant"] = adjusted < ALPHA
        rows += tests
    return rows


def format_p(p):
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def strategy_sentence(model, first_minus_second, p_holm, first, second):
    """The plain-language verdict of one strategy comparison (`first` and `second`: Strategy entries)."""
    name = registry.get_base(model).constructor  # the Keras name, e.g. VGG16
    points = round(first_minus_second, 1) or 0.0  # never "-0.0 points"
    if p_holm >= ALPHA:
        return (
            f"no significant difference between {first.label} and {second.label} for {name}: "
            f"{points:+.1f} points, {format_p(p_holm)}"
        )
    winner, loser = (first, second) if points > 0 else (second, first)
    return f"{winner.label} beats {loser.label} for {name}: {abs(points):+.1f} points, {format_p(p_holm)}"


def strategy_comparisons(tests, targets):
    """One sentence per model, seed and two of its strategies (McNemar, Holm-adjusted p), the strategy
    registered first named first; shortcut baselines and targets of different models are not compared
    here. `targets` maps each target name in `tests` to its Target."""
    sentences = []
    order = list(strategies.STRATEGIES)
    for test in tests:
        a, b = targets[test["a"]], targets[test["b"]]
        if a.model != b.model or a.is_baseline:
            continue
        points = test["difference_points"]
        if order.index(a.strategy) > order.index(b.strategy):
            a, b, points = b, a, -points
        first, second = strategies.get_strategy(a.strategy), strategies.get_strategy(b.strategy)
        sentences.append(
            {
                "model": a.model,
                "seed": test["seed"],
                "first": first.name,
                "second": second.name,
                "difference_points": points,
                "p_holm": test["p_holm"],
                "sentence": strategy_sentence(a.model, points, test["p_holm"], first, second),
            }
        )
    return sentences


def chance_accuracy(y_true):
    """The accuracy of always answering the test set's largest class."""
    return float(np.bincount(y_true).max() / max(len(y_true), 1))


def control_check(target, seed, y_true, y_pred):
    """Did a control (a strategy whose base starts from random weights: from scratch) learn the task?
    Its accuracy against chance, the largest class's share of the test set, by a one-sided exact
    binomial test. A control that did not learn makes every "transfer beats from scratch" larger than
    transfer is, so the report says which controls learnt and by how much."""
    n, correct = len(y_true), int(np.sum(y_pred == y_true))
    chance = chance_accuracy(y_true)
    p = float(binomtest(correct, n, chance, alternative="greater").pvalue)
    points = 100 * (correct / n - chance)
    spread = 200 * np.sqrt(chance * (1 - chance) / n)  # two binomial standard deviations, in points
    name = registry.get_base(target.model).constructor
    label = strategies.get_strategy(target.strategy).label
    verdict = (
        f"{label} for {name} learnt the task" if p < ALPHA else f"{label} for {name} did not learn the task"
    )
    sentence = (
        f"{verdict}: {100 * correct / n:.1f} % test accuracy, {points:+.1f} points from chance "
        f"({100 * chance:.1f} % ± {spread:.1f} at two binomial standard deviations; one-sided binomial "
        f"test {format_p(p)})"
    )
    if p >= ALPHA:
        sentence += ", so its comparisons above measure a control that failed, not what transfer adds"
    return {
        "target": target.name,
        "seed": seed,
        "accuracy": correct / n,
        "chance": chance,
        "points_above_chance": points,
        "p": p,
        "learnt": p < ALPHA,
        "sentence": sentence,
    }


def write_statistics(runs, classes, resamples, seed, out_dir):
    """All statistics of the study into out_dir: stats.json, targets.csv, auc.csv, mcnemar.csv and
    per-target ROC and reliability figures.

    `runs` is a list of (model, strategy, seed, predictions_csv).
    """
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    targets, correct, test_files, by_name, controls = [], {}, None, {}, []
    for model, strategy, run_seed, predictions_csv in runs:
        run = Target(model, strategy, run_seed)
        target = by_name.setdefault(run.name, run).name
        table, y_true, probabilities = read_predictions(predictions_csv, classes)
        if test_files is None:
            test_files = table.file.tolist()
        elif table.file.tolist() != test_files:
            raise ValueError(f"{predictions_csv} is not on the same test images as the other targets")
        y_pred = probabilities.argmax(axis=1)
        correct[target, run_seed] = y_pred == y_true
        if not run.is_baseline and strategies.get_strategy(strategy).random_base:
            controls.append(control_check(run, run_seed, y_true, y_pred))
        statistics = target_statistics(predictions_csv, classes, resamples, seed)
        stem = run.job_name
        plots.roc_figure(statistics["roc"], out_dir / "figures" / f"{stem}_roc.png")
        plots.reliability_figure(
            statistics["reliability"], statistics["ece"], out_dir / "figures" / f"{stem}_calibration.png"
        )
        targets.append({"target": target, "seed": run_seed} | statistics)

    tests = pairwise_mcnemar(correct, sorted({s for _, s in correct}))
    result = {
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence_level": 0.95, "method": "percentile"},
        "alpha": ALPHA,
        "targets": targets,
        "mcnemar": tests,
        "strategy_comparisons": strategy_comparisons(tests, by_name),
        "controls": controls,
    }
    (out_dir / "stats.json").write_text(json.dumps(result, indent=2) + "\n")
    columns = ["target", "seed", "n_images", "accuracy", "macro_f1", "macro_auc", "ece"]
    table = pd.DataFrame(targets)
    for metric in ("accuracy", "macro_f1"):
        table[f"{metric}_ci_low"], table[f"{metric}_ci_high"] = zip(*table[f"{metric}_ci"], strict=True)
        columns += [f"{metric}_ci_low", f"{metric}_ci_high"]
    table[columns].to_csv(out_dir / "targets.csv", index=False, float_format="%.6g")
    pd.DataFrame(
        [
            {"target": t["target"], "seed": t["seed"], "class": name, "auc": curve["auc"]}
            for t in targets
            for name, curve in t["roc"].items()
        ]
    ).to_csv(out_dir / "auc.csv", index=False, float_format="%.6g")
    pd.DataFrame(tests, columns=list(tests[0]) if tests else ["seed", "a", "b"]).to_csv(
        out_dir / "mcnemar.csv", index=False, float_format="%.6g"
    )


def fold_scores(predictions_csv, classes):
    """Accuracy and macro-F1 of one predictions.csv."""
    _, y_true, probabilities = read_predictions(predictions_csv, classes)
    y_pred = probabilities.argmax(axis=1)
    return {
        "accuracy": float(accuracy(y_true, y_pred)),
        "macro_f1": float(macro_f1(y_true, y_pred, len(classes))),
    }


def test_train_ratio(fold_split_csvs):
    """n_test / n_train of the corrected t-test: held-out over training images, averaged over folds."""
    ratios = []
    for path in fold_split_csvs:
        roles = pd.read_csv(path, usecols=["split"]).split
        ratios.append((roles == "test").sum() / (roles == "train").sum())
    return float(np.mean(ratios))


def write_fold_statistics(fold_runs, ensembles, fold_split_csvs, classes, out_dir, external_ensembles=()):
    """The cross-validation statistics into out_dir: folds.csv (each fold's scores), cross_validation.csv
    (per target and seed: mean and SD over folds x repeats, the fold ensemble's and the fold models'
    mean on Testing), fold_tests.csv (corrected resampled t-tests) and cross_validation.json (all).

    `fold_runs`: [model, strategy, seed, repeat, fold, held-out predictions.csv, Testing
    predictions.csv or "" (the shortcut baselines score their held-out fold only)], repeat by repeat;
    `ensembles`: [model, strategy, seed, the ensemble's predictions.csv]; `external_ensembles`: [model,
    strategy, seed, external set, its classes, the ensemble's predictions.csv on it]."""
    out_dir = Path(out_dir)
    rows = []
    for model, strategy, seed, repeat, fold, held_out, testing in fold_runs:
        row = {"target": Target(model, strategy, seed).name, "seed": seed, "repeat": repeat, "fold": fold}
        row |= fold_scores(held_out, classes)
        if testing:
            row |= {f"testing_{k}": v for k, v in fold_scores(testing, classes).items()}
        rows.append(row)
    table = pd.DataFrame(rows)
    ratio = test_train_ratio(fold_split_csvs)
    tests = []
    for metric in ("accuracy", "macro_f1"):
        scores = {key: group[metric].tolist() for key, group in table.groupby(["target", "seed"], sort=False)}
        tests += pairwise_fold_tests(scores, ratio, metric)
    grouped = table.groupby(["target", "seed"], sort=False)
    summary = grouped[["accuracy", "macro_f1"]].agg(["mean", "std"])
    summary.columns = [f"cv_{metric}_{'sd' if how == 'std' else how}" for metric, how in summary.columns]
    summary = summary.join(grouped.size().rename("cv_folds"))
    if "testing_accuracy" in table:
        summary = summary.join(grouped[["testing_accuracy"]].mean().add_prefix("folds_mean_"))
    for model, strategy, seed, predictions in ensembles:
        scores = fold_scores(predictions, classes)
        for metric, value in scores.items():
            summary.loc[(Target(model, strategy, seed).name, seed), f"ensemble_{metric}"] = value
    for model, strategy, seed, name, set_classes, predictions in external_ensembles:
        for metric, value in fold_scores(predictions, set_classes).items():
            summary.loc[(Target(model, strategy, seed).name, seed), f"ensemble_external_{name}_{metric}"] = (
                value
            )
    summary = summary.reset_index()
    table.to_csv(out_dir / "folds.csv", index=False, float_format="%.6g")
    summary.to_csv(out_dir / "cross_validation.csv", index=False, float_format="%.6g")
    columns = [
        "metric",
        "seed",
        "a",
        "b",
        "folds",
        "difference_points",
        "statistic",
        "p",
        "p_holm",
        "significant",
    ]
    pd.DataFrame(tests, columns=columns).to_csv(out_dir / "fold_tests.csv", index=False, float_format="%.6g")
    result = {
        "test": "corrected resampled t-test (Nadeau & Bengio 2003)",
        "holm_family": "every two targets of one seed, per metric",
        "test_train_ratio": ratio,
        "alpha": ALPHA,
        "targets": summary.to_dict("records"),
        "folds": table.to_dict("records"),
        "tests": tests,
    }
    (out_dir / "cross_validation.json").write_text(json.dumps(result, indent=2) + "\n")
