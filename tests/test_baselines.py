"""The shortcut baselines: what a classifier gets from the files without any anatomy, on phantoms with
and without a planted source signature, and how the workflow wires them into stats and report."""

import math

import numpy as np
import pandas as pd
import pytest
from conftest import read_json

from mribench import baselines
from mribench.audit import write_audit
from mribench.phantoms import KNOWN_CLASSES, generate_dataset
from mribench.report import source_signatures
from mribench.split import write_split

CLASSES = list(KNOWN_CLASSES)
PER_CLASS = 100  # test images per class: no CNN trains here, so many are cheap
N_TEST = PER_CLASS * len(CLASSES)
CHANCE = 1 / len(CLASSES)
# The spread of a guesser's accuracy on N_TEST images (binomial): 2.2 points.
CHANCE_SD = math.sqrt(CHANCE * (1 - CHANCE) / N_TEST)


def phantom_split(root, shortcut_class):
    generate_dataset(
        root / "dataset", CLASSES, train_per_class=PER_CLASS, test_per_class=PER_CLASS, image_size=48,
        seed=0, shortcut_class=shortcut_class,
    )  # fmt: skip
    write_audit(root / "dataset", root / "audit.json", root / "audit.csv", CLASSES, "error", 4, 2)
    write_split(root / "audit.csv", root / "split.csv", val_fraction=0.2, seed=0, test_overlap="keep")
    return root


def run_baseline(root, kind):
    out = root / kind
    out.mkdir()
    baselines.train_baseline(
        kind, 42, CLASSES, root / "split.csv", out / "metrics.json", out / "predictions.csv",
        out / "train.json", out / "confusion.png", threads=2, audit_csv=root / "audit.csv",
        dataset_dir=root / "dataset", image_size=32,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    return phantom_split(tmp_path_factory.mktemp("planted"), shortcut_class="notumor")


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return phantom_split(tmp_path_factory.mktemp("clean"), shortcut_class=None)


def test_metadata_baseline_finds_a_planted_shortcut(planted):
    metrics = read_json(run_baseline(planted, "file_metadata") / "metrics.json")["test"]
    assert metrics["n_images"] == N_TEST
    # Every notumor file is RGB at another size: it finds them all (a guesser finds ~25 of the 100).
    assert metrics["classification_report"]["notumor"]["recall"] >= 0.95
    # Perfect on one class of four and chance on the others is 50 %; 40 % is 6.9 sd above chance.
    assert metrics["accuracy"] > CHANCE + 6 * CHANCE_SD
    top = read_json(planted / "file_metadata/train.json")["top_features"][0]["feature"]
    assert top in {"width", "height", "bytes", "mode_RGB", "mode_L"}


def test_metadata_baseline_stays_at_chance_without_a_shortcut(clean):
    metrics = read_json(run_baseline(clean, "file_metadata") / "metrics.json")["test"]
    # 5 sd: a classifier at chance passes this but for one time in 3.5 million.
    assert abs(metrics["accuracy"] - CHANCE) < 5 * CHANCE_SD
    assert metrics["classification_report"]["notumor"]["recall"] < 0.5


def test_histogram_baseline_writes_what_a_target_writes(clean):
    out = run_baseline(clean, "intensity_histogram")
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["file", "true", "predicted", "train_twin"] + [
        f"p_{c}" for c in CLASSES
    ]
    np.testing.assert_allclose(predictions.filter(like="p_").sum(axis=1), 1, atol=1e-6)
    metrics = read_json(out / "metrics.json")
    assert set(metrics) == {"test", "test_dedup", "classes"}
    assert metrics["test"]["accuracy"] == pytest.approx((predictions.true == predictions.predicted).mean())
    train = read_json(out / "train.json")
    assert (train["model"], train["strategy"], train["seed"]) == ("baseline", "intensity_histogram", 42)
    assert len(train["features"]) == baselines.HISTOGRAM_BINS and train["images"]["test"] == N_TEST


def test_intensity_histogram_counts_every_value_once():
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[0] = 255
    histogram = baselines.intensity_histogram(pixels)
    assert histogram.sum() == pytest.approx(1)
    assert histogram[0] == pytest.approx(12 / 16) and histogram[-1] == pytest.approx(4 / 16)


def test_metadata_features_read_audit_columns_by_name(clean):
    audit = pd.read_csv(clean / "audit.csv").assign(bit_depth=8)  # columns other work adds are ignored
    audit = audit[list(reversed(audit.columns))]
    rows = pd.read_csv(clean / "split.csv").head(3)
    features = baselines.metadata_features(rows, audit)
    assert list(features.columns) == [
        "width",
        "height",
        "aspect",
        "bytes",
        "bytes_per_pixel",
        "format",
        "mode",
    ]
    expected = audit.set_index("path").loc[rows.path]
    np.testing.assert_array_equal(features.bytes, expected.bytes)
    with pytest.raises(ValueError, match="not in audit.csv"):
        baselines.metadata_features(rows, audit[audit.path != rows.path[0]])


def test_the_workflow_scores_baselines_like_targets(tiny_run):
    runs = tiny_run / "results/runs"
    split = pd.read_csv(tiny_run / "results/data/split.csv")
    for kind in baselines.BASELINES:
        run = runs / f"baseline_{kind}/seed42"
        predictions = pd.read_csv(run / "predictions.csv")
        target = pd.read_csv(runs / "vgg16_fine_tuning/seed42/predictions.csv")
        assert predictions.file.tolist() == target.file.tolist()  # the same test images
        assert (
            read_json(run / "metrics.json")["test_dedup"]["n_images"]
            == (~split[split.split == "test"].train_twin.isin(["exact", "pixel"])).sum()
        )
        assert (tiny_run / f"logs/baseline/{kind}_seed42.log").exists()
    summary = pd.read_csv(tiny_run / "results/summary.csv")
    rows = summary[summary.model == "baseline"]
    assert sorted(rows.strategy) == sorted(baselines.BASELINES)
    assert rows.total_params.isna().all() and rows.test_accuracy.between(0, 1).all()
    stats = read_json(tiny_run / "results/stats/stats.json")
    assert {"baseline_file_metadata", "baseline_intensity_histogram"} <= {
        t["target"] for t in stats["targets"]
    }
    assert any(
        t["a"] == "baseline_file_metadata" or t["b"] == "baseline_file_metadata" for t in stats["mcnemar"]
    )
    assert not any(c["model"] == "baseline" for c in stats["strategy_comparisons"])
    html = (tiny_run / "results/report.html").read_text()
    assert "Shortcut baselines: no anatomy" in html and html.count('<tr class="baseline">') == 2
    assert 'id="signatures"' in html and "colour mode and format" in html


def test_the_report_shows_the_planted_signature_per_class(planted):
    tables = source_signatures(planted / "audit.csv", pd.read_csv(planted / "split.csv"))
    stored, sizes = tables["colour mode and format"], tables["image size (width × height)"]
    files = 2 * PER_CLASS  # Training and Testing
    assert stored.loc["notumor", "RGB JPEG"] == files and stored.loc["notumor"].sum() == files
    assert sizes.loc["notumor", "60 × 60"] == files  # 1.25 x 48 px
    assert sizes.loc["glioma", "48 × 48"] > 0.7 * files and sizes.loc["glioma"].get("60 × 60", 0) == 0
