"""The statistics of the report against values known by hand or from the textbook definitions."""

import functools
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest
from sklearn.metrics import f1_score

from mribench import stats
from mribench.strategies import get_strategy
from mribench.targets import Target

CLASSES = ["a", "b", "c"]


def correctness(both, only_a, only_b, neither):
    """Per-image correctness of two classifiers with the given 2x2 McNemar table."""
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return np.array(a), np.array(b)


def test_mcnemar_exact_on_a_hand_built_table():
    # 2 vs 8 discordant pairs: two-sided exact binomial p = 2 * P(X <= 2 | n=10, 1/2) = 2 * 56/1024
    result = stats.mcnemar_test(*correctness(50, 2, 8, 5))
    assert result["only_a_correct"] == 2 and result["only_b_correct"] == 8
    assert result["test"] == "exact binomial"
    assert result["p"] == pytest.approx(112 / 1024)
    assert result["p"] == pytest.approx(binomtest(2, 10, 0.5).pvalue)


def test_mcnemar_chi_square_for_many_discordant_pairs():
    # (|10 - 30| - 1)^2 / 40 = 9.025 with continuity correction
    result = stats.mcnemar_test(*correctness(100, 10, 30, 10))
    assert result["test"] == "chi-square with continuity correction"
    assert result["statistic"] == pytest.approx(9.025)
    assert result["p"] == pytest.approx(0.002663, abs=1e-5)


def test_mcnemar_identical_classifiers_is_not_significant():
    result = stats.mcnemar_test(*correctness(10, 0, 0, 3))
    assert result["p"] == 1.0


def test_holm_adjustment():
    # sorted p: 0.01*3, 0.02*2, 0.04*1 -> 0.03, 0.04, 0.04 (monotone)
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])


def test_bootstrap_ci_contains_the_point_estimate_and_is_reproducible():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 200)
    y_pred = np.where(rng.random(200) < 0.8, y_true, (y_true + 1) % 3)
    low, high = stats.bootstrap_ci(y_true, y_pred, stats.accuracy, resamples=1000, seed=0)
    point = stats.accuracy(y_true, y_pred)
    assert low < point < high
    assert 0.05 < high - low < 0.2  # about 2 * 1.96 * sqrt(0.8 * 0.2 / 200) = 0.11
    assert stats.bootstrap_ci(y_true, y_pred, stats.accuracy, resamples=1000, seed=0) == (low, high)
    f1 = functools.partial(stats.macro_f1, n_classes=3)
    f1_low, f1_high = stats.bootstrap_ci(y_true, y_pred, f1, resamples=1000, seed=0)
    assert f1_low < f1(y_true, y_pred) < f1_high


def test_vectorised_macro_f1_is_sklearns():
    rng = np.random.default_rng(2)
    y_true, y_pred = rng.integers(0, 4, (2, 50, 40))
    y_pred[0] = np.minimum(y_pred[0], 2)  # class 3 never predicted in these rows
    expected = [
        f1_score(t, p, labels=range(4), average="macro", zero_division=0)
        for t, p in zip(y_true, y_pred, strict=True)
    ]
    np.testing.assert_allclose(stats.macro_f1(y_true, y_pred, n_classes=4), expected)
    assert stats.macro_f1(y_true[0], y_true[0], n_classes=4) == 1.0


def test_bootstrap_ci_of_a_perfect_classifier_is_a_point():
    y = np.arange(30) % 3
    assert stats.bootstrap_ci(y, y, stats.accuracy, resamples=1000, seed=0) == (1.0, 1.0)


def test_ece_of_a_perfectly_calibrated_case_is_zero():
    # 80 % confidence and 80 % correct, 30 % and 30 %: calibrated in every bin
    confidence = [0.8] * 10 + [0.3] * 10
    correct = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 7
    ece, bins = stats.expected_calibration_error(confidence, correct)
    assert ece == pytest.approx(0)
    assert [(b["n"], b["accuracy"]) for b in bins] == [(10, pytest.approx(0.3)), (10, pytest.approx(0.8))]


def test_ece_of_an_overconfident_case():
    # always 90 % sure, right half the time: ECE 0.4
    ece, _ = stats.expected_calibration_error([0.9] * 10, [1, 0] * 5)
    assert ece == pytest.approx(0.4)


def test_roc_auc_per_class():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    probabilities = np.array(
        [
            [0.9, 0.05, 0.05],
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.7, 0.2, 0.1],
            [0.1, 0.1, 0.8],
            [0.1, 0.2, 0.7],
        ]
    )
    roc = stats.roc_per_class(y_true, probabilities, CLASSES)
    assert roc["a"]["auc"] == pytest.approx(7 / 8)  # of 2 x 4 pairs, only 0.6 vs 0.7 is ranked wrong
    assert roc["c"]["auc"] == 1.0
    assert roc["a"]["fpr"][0] == 0 and roc["a"]["tpr"][-1] == 1


def test_strategy_sentences():
    fine_tuning, extraction = get_strategy("fine_tuning"), get_strategy("feature_extraction")
    assert stats.strategy_sentence("vgg16", 14.04, 0.0002, fine_tuning, extraction) == (
        "fine-tuning beats feature extraction for VGG16: +14.0 points, p < 0.001"
    )
    assert stats.strategy_sentence("mobilenetv2", -3.0, 0.012, fine_tuning, extraction) == (
        "feature extraction beats fine-tuning for MobileNetV2: +3.0 points, p = 0.012"
    )
    assert stats.strategy_sentence("resnet50v2", 1.2, 0.41, fine_tuning, extraction).startswith(
        "no significant difference"
    )


def test_strategy_comparisons_cover_every_two_strategies_of_a_base_but_not_the_baselines():
    targets = [Target("vgg16", s, 42) for s in ("feature_extraction", "fine_tuning", "from_scratch")]
    targets += [Target("baseline", kind, 42) for kind in ("file_metadata", "intensity_histogram")]
    names = sorted(target.name for target in targets)
    tests = [
        {"seed": 42, "a": a, "b": b, "difference_points": 10.0, "p_holm": 0.001}
        for i, a in enumerate(names)
        for b in names[i + 1 :]
    ]
    by_name = {target.name: target for target in targets}
    sentences = {(c["first"], c["second"]): c for c in stats.strategy_comparisons(tests, by_name)}
    assert set(sentences) == {
        ("fine_tuning", "feature_extraction"),
        ("feature_extraction", "from_scratch"),
        ("fine_tuning", "from_scratch"),
    }
    # a - b = +10 with a = vgg16_feature_extraction, b = vgg16_from_scratch (sorted names)
    assert sentences["feature_extraction", "from_scratch"]["sentence"] == (
        "feature extraction beats training from scratch for VGG16: +10.0 points, p = 0.001"
    )
    assert sentences["fine_tuning", "feature_extraction"]["difference_points"] == -10.0


def write_predictions(path, y_true, probabilities, files):
    table = pd.DataFrame(
        {
            "file": files,
            "true": [CLASSES[i] for i in y_true],
            "predicted": [CLASSES[i] for i in probabilities.argmax(1)],
        }
    )
    for i, name in enumerate(CLASSES):
        table[f"p_{name}"] = probabilities[:, i]
    table.to_csv(path, index=False)
    return path


def test_write_statistics_compares_strategies_of_each_model(tmp_path):
    rng = np.random.default_rng(0)
    y_true = np.arange(90) % 3
    files = [f"Testing/{CLASSES[i]}/{n}.png" for n, i in enumerate(y_true)]

    def probabilities(accuracy):
        predicted = np.where(rng.random(90) < accuracy, y_true, (y_true + 1) % 3)
        p = np.full((90, 3), 0.1)
        p[np.arange(90), predicted] = 0.8
        return p

    runs = [
        [
            "vgg16",
            "feature_extraction",
            42,
            write_predictions(tmp_path / "fe.csv", y_true, probabilities(0.5), files),
        ],
        [
            "vgg16",
            "fine_tuning",
            42,
            write_predictions(tmp_path / "ft.csv", y_true, probabilities(0.97), files),
        ],
        [
            "mobilenetv2",
            "fine_tuning",
            42,
            write_predictions(tmp_path / "m.csv", y_true, probabilities(0.9), files),
        ],
    ]
    stats.write_statistics(runs, CLASSES, resamples=1000, seed=0, out_dir=tmp_path / "stats")
    result = json.loads((tmp_path / "stats/stats.json").read_text())
    assert len(result["mcnemar"]) == 3
    [comparison] = result["strategy_comparisons"]
    assert comparison["sentence"].startswith("fine-tuning beats feature extraction for VGG16: +")
    assert comparison["p_holm"] < 0.001
    targets = pd.read_csv(tmp_path / "stats/targets.csv")
    assert (targets.accuracy_ci_low <= targets.accuracy).all() and (
        targets.accuracy <= targets.accuracy_ci_high
    ).all()
    assert len(pd.read_csv(tmp_path / "stats/auc.csv")) == 9
    assert len(list((tmp_path / "stats/figures").glob("*.png"))) == 6


def test_a_control_is_checked_against_chance_by_a_binomial_test():
    y_true = np.repeat([0, 1, 2, 3], 40)  # 160 test images, chance 25 %
    learnt = np.where(np.arange(160) % 5 < 3, y_true, (y_true + 1) % 4)  # 96 right: 60 %
    check = stats.control_check(Target("vgg16", "from_scratch", 42), 42, y_true, learnt)
    assert check["learnt"] and check["p"] < 1e-15
    assert check["points_above_chance"] == pytest.approx(35.0) and check["chance"] == 0.25
    sentence = check["sentence"]
    assert sentence.startswith("training from scratch for VGG16 learnt the task: 60.0 % test accuracy")
    assert "25.0 % ± 6.8 at two binomial standard deviations" in sentence  # 200 * sqrt(.25 * .75 / 160)

    near_chance = np.where(np.arange(160) % 40 < 11, y_true, (y_true + 1) % 4)  # 44 right: 27.5 %
    check = stats.control_check(Target("mobilenetv2", "from_scratch", 42), 42, y_true, near_chance)
    # P(X >= 44) for X ~ Binomial(160, 0.25), mean 40: about 0.28
    assert not check["learnt"] and 0.2 < check["p"] < 0.35
    assert "did not learn the task: 27.5 %" in check["sentence"]
    assert "a control that failed" in check["sentence"]


def test_only_the_controls_are_checked_against_chance(tmp_path):
    y_true = np.arange(90) % 3
    files = [f"Testing/{CLASSES[i]}/{n}.png" for n, i in enumerate(y_true)]
    perfect = np.eye(3)[y_true]
    targets = [("vgg16", "feature_extraction"), ("vgg16", "from_scratch"), ("baseline", "file_metadata")]
    runs = [
        [model, strategy, 42, write_predictions(tmp_path / f"{model}_{strategy}.csv", y_true, perfect, files)]
        for model, strategy in targets
    ]
    stats.write_statistics(runs, CLASSES, resamples=1000, seed=0, out_dir=tmp_path / "stats")
    [control] = json.loads((tmp_path / "stats/stats.json").read_text())["controls"]
    assert control["target"] == "vgg16_from_scratch" and control["learnt"]


def test_write_statistics_refuses_targets_on_different_test_images(tmp_path):
    y_true = np.array([0, 1, 2])
    p = np.eye(3)
    runs = [
        [
            "vgg16",
            "feature_extraction",
            42,
            write_predictions(tmp_path / "a.csv", y_true, p, ["x", "y", "z"]),
        ],
        ["vgg16", "fine_tuning", 42, write_predictions(tmp_path / "b.csv", y_true, p, ["x", "y", "w"])],
    ]
    with pytest.raises(ValueError, match="b.csv is not on the same test images"):
        stats.write_statistics(runs, CLASSES, resamples=1000, seed=0, out_dir=tmp_path / "stats")


def test_the_corrected_resampled_t_test_matches_a_worked_example():
    """By hand: differences d = 0.02, 0.05, -0.01, 0.04 over J = 4 folds, n_test/n_train = 0.25.
    mean 0.025; squared deviations 0.000025 + 0.000625 + 0.001225 + 0.000225 = 0.0021, sample
    variance 0.0021 / 3 = 0.0007; corrected variance (1/4 + 0.25) * 0.0007 = 0.00035;
    t = 0.025 / sqrt(0.00035) = 1.336306. The uncorrected paired t would be 0.025 / sqrt(0.0007 / 4)
    = 1.889822. With 3 degrees of freedom Student's t has the closed form
    F(t) = 1/2 + (x / (1 + x^2) + atan x) / pi, x = t / sqrt(3): p = 2 (1 - F(1.336306)) = 0.273765."""
    a = [0.90, 0.85, 0.80, 0.88]
    b = [0.88, 0.80, 0.81, 0.84]
    result = stats.corrected_resampled_t_test(a, b, test_train_ratio=0.25)
    assert result["folds"] == 4
    assert result["mean_difference"] == pytest.approx(0.025)
    assert result["statistic"] == pytest.approx(1.336306, abs=1e-6)
    x = 1.336306 / math.sqrt(3)
    assert result["p"] == pytest.approx(2 * (0.5 - (x / (1 + x * x) + math.atan(x)) / math.pi), abs=1e-6)
    assert result["p"] == pytest.approx(0.273765, abs=1e-6)
    plain = stats.corrected_resampled_t_test(a, b, test_train_ratio=0)
    assert plain["statistic"] == pytest.approx(1.889822, abs=1e-6)  # without the correction


def test_fold_tests_are_holm_adjusted_within_each_seed():
    scores = {
        ("x", 1): [0.90, 0.85, 0.80, 0.88],
        ("y", 1): [0.88, 0.80, 0.81, 0.84],
        ("z", 1): [0.50, 0.52, 0.49, 0.51],
        ("x", 2): [0.7, 0.7, 0.7, 0.7],
        ("y", 2): [0.7, 0.7, 0.7, 0.7],
    }
    tests = stats.pairwise_fold_tests(scores, test_train_ratio=0.25)
    first = [t for t in tests if t["seed"] == 1]
    assert [(t["a"], t["b"]) for t in first] == [("x", "y"), ("x", "z"), ("y", "z")]
    raw = [t["p"] for t in first]
    assert [t["p_holm"] for t in first] == pytest.approx(stats.holm(raw))
    assert first[0]["difference_points"] == pytest.approx(2.5)
    second = [t for t in tests if t["seed"] == 2]
    assert second[0]["p"] == 1.0 and second[0]["p_holm"] == 1.0 and not second[0]["significant"]
