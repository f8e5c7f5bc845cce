"""External test sets: obtaining, auditing for overlap with the dataset, the class-subset restriction,
config validation, and the tiny workflow's per-set outputs, report section and rebuild planning."""

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, planned_jobs, read_json, run_snakemake, write_yaml
from PIL import Image
from test_config import config_with, refusal

from mribench.audit import AuditError, write_audit
from mribench.evaluation import evaluate_external, restrict_probabilities, write_external_results
from mribench.external import audit_external_set, obtain_external_set
from mribench.phantoms import KNOWN_CLASSES, Scanner, generate_dataset, generate_test_set, render_phantom
from mribench.records import collect_runs
from mribench.report import external_sections, render
from mribench.sources import DatasetError
from mribench.targets import Target

CLASSES = list(KNOWN_CLASSES)
SHIFTED = {"contrast_gamma": 0.7, "noise_factor": 1.8, "resolution_factor": 0.5}
TARGETS = [f"{m}_{s}" for m in ("vgg16", "mobilenetv2") for s in ("feature_extraction", "fine_tuning")]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A small phantom dataset and its audit.csv, the reference an external set is compared with."""
    root = tmp_path_factory.mktemp("dataset")
    generate_dataset(root / "dataset", CLASSES, train_per_class=4, test_per_class=3, image_size=64)
    write_audit(root / "dataset", root / "audit.json", root / "audit.csv", CLASSES, "error", 4, 1)
    return root


def audit(folder, dataset, classes=CLASSES, on_invalid="error", name="other"):
    return audit_external_set(folder, name, classes, dataset / "audit.csv", on_invalid, 4, threads=1)


# --- the shifted scanner ---------------------------------------------------------------------------


def test_the_default_scanner_is_the_training_one_and_a_shifted_one_changes_the_look():
    def draw(scanner=None):
        rng = np.random.default_rng(7)
        return (
            render_phantom("glioma", rng, 96)
            if scanner is None
            else render_phantom("glioma", rng, 96, scanner)
        )

    assert np.array_equal(draw(), draw(Scanner()))
    shifted = draw(Scanner(**SHIFTED)).astype(float)
    training = draw().astype(float)
    background = (slice(0, 8), slice(0, 8))  # outside the head: Rician noise, whose mean grows with sigma
    assert shifted[background].mean() > 1.3 * training[background].mean()
    assert np.corrcoef(shifted.ravel(), training.ravel())[0, 1] > 0.7  # the same slice, another scanner


def test_generated_test_sets_are_deterministic_and_never_reuse_dataset_images(dataset, tmp_path):
    for folder in ("a", "b"):
        generate_test_set(tmp_path / folder, ["glioma", "notumor"], 3, 64, seed=0, scanner=Scanner(**SHIFTED))
    files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.jpg"))
    assert files == [f"{c}/Ex-{c[:2]}_{i:04d}.jpg" for c in ("glioma", "notumor") for i in range(3)]
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    generate_test_set(tmp_path / "same", CLASSES, 3, 64, seed=0, scanner=Scanner())
    _, summary = audit(tmp_path / "same", dataset)
    assert summary["overlaps"] is False  # the training scanner, the dataset's seed, yet other slices


# --- obtaining ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["{c}", "Testing/{c}", "top/{c}", "top/Testing/{c}"])
@pytest.mark.parametrize("as_zip", [False, True])
def test_a_folder_or_zip_in_either_layout_is_obtained_as_class_folders(tmp_path, layout, as_zip):
    source = tmp_path / "source"
    for label in ("glioma", "pituitary"):
        (source / layout.format(c=label)).mkdir(parents=True)
        (source / layout.format(c=label) / f"{label}.jpg").write_bytes(b"bytes")
    if as_zip:
        with zipfile.ZipFile(tmp_path / "set.zip", "w") as archive:
            for path in source.rglob("*.jpg"):
                archive.write(path, path.relative_to(source).as_posix())
        source = tmp_path / "set.zip"
    obtain_external_set(
        tmp_path / "out", "figshare", {"path": str(source), "classes": ["glioma", "pituitary"]}
    )
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.jpg"))
    assert found == ["glioma/glioma.jpg", "pituitary/pituitary.jpg"]


def test_a_folder_without_the_sets_classes_is_an_error_naming_the_set(tmp_path):
    (tmp_path / "source" / "tumours").mkdir(parents=True)
    with pytest.raises(
        DatasetError, match="not in the layout of external test set 'figshare': expected <class>/ folders"
    ) as error:
        obtain_external_set(
            tmp_path / "out", "figshare", {"path": str(tmp_path / "source"), "classes": CLASSES}
        )
    assert "found at its top level: folders 'tumours'" in str(error.value)
    assert "`external_test_sets.figshare.classes`" in str(error.value)
    assert not (tmp_path / "out").exists()


# --- audit: overlap with the dataset -------------------------------------------------------------------


def test_a_set_copied_from_testing_is_flagged_as_overlapping_testing(dataset, tmp_path):
    shutil.copytree(dataset / "dataset" / "Testing", tmp_path / "copy")
    files, summary = audit(tmp_path / "copy", dataset)
    assert summary["overlaps"] is True
    testing = summary["overlap"]["Testing"]
    assert testing["exact"] == {label: 3 for label in CLASSES} | {"total": 12}
    assert testing["any"]["total"] == 12
    assert set(files[files.status == "ok"].twin_in_testing) == {"exact"}


def test_twins_in_training_are_counted_per_class_and_kind(dataset, tmp_path):
    training = dataset / "dataset" / "Training"
    folder = tmp_path / "set"
    generate_test_set(folder, ["glioma", "notumor"], 2, 64, seed=0, scanner=Scanner(**SHIFTED))
    shutil.copy(training / "glioma" / "Tr-gl_0000.jpg", folder / "glioma" / "copied.jpg")  # exact
    with Image.open(training / "notumor" / "Tr-no_0001.jpg") as image:
        image.save(folder / "notumor" / "resaved.png")  # the same pixels in another file: pixel
        image.convert("RGB").resize((60, 60)).save(folder / "notumor" / "resized.jpg", quality=95)  # near
    files, summary = audit(folder, dataset, classes=["glioma", "notumor"])
    twins = files.set_index("path").twin_in_training
    assert (twins["glioma/copied.jpg"], twins["notumor/resaved.png"], twins["notumor/resized.jpg"]) == (
        "exact",
        "pixel",
        "near",
    )
    overlap = summary["overlap"]["Training"]
    assert overlap["exact"] == {"glioma": 1, "notumor": 0, "total": 1}
    assert overlap["pixel"] == {"glioma": 0, "notumor": 1, "total": 1}
    assert overlap["near"] == {"glioma": 0, "notumor": 1, "total": 1}
    assert summary["overlap"]["Testing"]["any"]["total"] == 0
    assert summary["counts"] == {"glioma": 3, "notumor": 4}


def test_a_class_subset_is_audited_and_a_stray_class_folder_names_the_sets_key(dataset, tmp_path):
    generate_test_set(tmp_path / "set", ["glioma", "meningioma", "pituitary"], 2, 64, 0, Scanner())
    files, summary = audit(tmp_path / "set", dataset, classes=["glioma", "pituitary"], on_invalid="skip")
    assert summary["counts"] == {"glioma": 2, "pituitary": 2}
    stray = files[files.label == "meningioma"]
    assert set(stray.reason) == {"unknown class folder"}
    assert "external_test_sets.other.classes" in stray.detail.iloc[0]
    with pytest.raises(AuditError, match="2 file\\(s\\) in external test set 'other' are not usable"):
        audit(tmp_path / "set", dataset, classes=["glioma", "pituitary"])


def test_a_configured_class_without_images_is_an_error(dataset, tmp_path):
    generate_test_set(tmp_path / "set", ["glioma", "notumor"], 2, 64, 0, Scanner())
    with pytest.raises(AuditError, match=r"'other': no valid images of class\(es\) \['pituitary'\]"):
        audit(tmp_path / "set", dataset, classes=["glioma", "notumor", "pituitary"])


# --- restriction to the set's classes -----------------------------------------------------------------


def test_probabilities_are_restricted_to_the_sets_classes_and_renormalised():
    probabilities = np.array([[0.1, 0.2, 0.6, 0.1], [0.5, 0.1, 0.2, 0.2]])
    restricted = restrict_probabilities(probabilities, CLASSES, ["glioma", "meningioma", "pituitary"])
    np.testing.assert_allclose(restricted, [[0.25, 0.5, 0.25], [0.625, 0.125, 0.25]])
    assert restricted.argmax(axis=1).tolist() == [1, 0]  # the first image's notumor answer is set aside


def test_external_results_of_hand_built_probabilities(tmp_path):
    rows = pd.DataFrame(
        {
            "path": ["glioma/a.jpg", "glioma/b.jpg", "pituitary/c.jpg", "pituitary/d.jpg"],
            "label": ["glioma", "glioma", "pituitary", "pituitary"],
            "twin_in_training": ["", "exact", "", "near"],
            "twin_in_testing": ["", "", "", ""],
        }
    )
    probabilities = np.array(  # columns: glioma, meningioma, notumor, pituitary
        [[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.6, 0.2], [0.2, 0.1, 0.1, 0.6], [0.5, 0.2, 0.1, 0.2]]
    )
    set_classes = ["glioma", "pituitary"]
    write_external_results(
        rows, probabilities, CLASSES, set_classes, tmp_path / "metrics.json", tmp_path / "predictions.csv"
    )
    metrics, predictions = read_json(tmp_path / "metrics.json"), pd.read_csv(tmp_path / "predictions.csv")
    assert predictions.predicted.tolist() == ["glioma", "pituitary", "pituitary", "glioma"]
    assert predictions.predicted_among_all.tolist() == ["glioma", "notumor", "pituitary", "glioma"]
    assert metrics["external"]["accuracy"] == pytest.approx(0.5)
    expected_loss = -np.mean(np.log([0.7 / 0.8, 0.1 / 0.3, 0.6 / 0.8, 0.2 / 0.7]))
    assert metrics["external"]["loss"] == pytest.approx(expected_loss, rel=1e-6)
    assert metrics["external"]["confusion_matrix"] == [[1, 1], [1, 1]]
    assert metrics["external_dedup"]["n_images"] == 3  # the exact twin left out, the near twin kept
    assert metrics["outside_set"] == {"mean_probability": pytest.approx(0.35), "argmax_share": 0.25}


def test_a_target_is_scored_on_a_class_subset(trained_model, tmp_path):
    root = trained_model
    set_classes = ["glioma", "notumor"]
    generate_test_set(tmp_path / "set", set_classes, 4, 48, 0, Scanner(**SHIFTED))
    files, _ = audit_external_set(tmp_path / "set", "other", set_classes, root / "audit.csv", "error", 4)
    files.to_csv(tmp_path / "audit.csv", index=False)
    evaluate_external(
        Target("vgg16", "feature_extraction", 42), root / "run" / "model.keras",
        tmp_path / "audit.csv", tmp_path / "set", CLASSES, set_classes, 8, 2,
        tmp_path / "metrics.json", tmp_path / "predictions.csv",
    )  # fmt: skip
    metrics, predictions = read_json(tmp_path / "metrics.json"), pd.read_csv(tmp_path / "predictions.csv")
    assert len(predictions) == 8 and set(predictions.predicted) <= set(set_classes)
    np.testing.assert_allclose(predictions[["p_glioma", "p_notumor"]].sum(axis=1), 1, atol=1e-5)
    assert metrics["external"]["accuracy"] == pytest.approx(
        (predictions.true == predictions.predicted).mean()
    )
    assert metrics["external"]["confusion_matrix"] and len(metrics["external"]["confusion_matrix"]) == 2
    outside = ~predictions.predicted_among_all.isin(set_classes)
    assert metrics["outside_set"]["argmax_share"] == pytest.approx(outside.mean())
    assert metrics["external_dedup"]["n_images"] == 8


# --- configuration -------------------------------------------------------------------------------------


def test_a_class_unknown_to_the_models_is_refused_naming_the_set_and_class():
    message = refusal(
        config_with(external_test_sets={"figshare": {"path": ".", "classes": ["glioma", "tumour"]}})
    )
    assert (
        "config key `external_test_sets.figshare.classes`: class 'tumour' is unknown to the models" in message
    )


@pytest.mark.parametrize(
    "test_set, expected",
    [
        ({"classes": ["glioma", "notumor"]}, "give exactly one of path (your images) or demo"),
        (
            {"classes": ["glioma", "notumor"], "path": "/no/such/folder"},
            "`external_test_sets.x.path`: '/no/such",
        ),
        ({"classes": ["glioma"], "path": "."}, "`external_test_sets.x.classes`: ['glioma'] is too short"),
    ],
)
def test_a_bad_external_set_is_refused_naming_its_key(test_set, expected):
    assert expected in refusal(config_with(external_test_sets={"x": test_set}))


def test_a_set_name_must_be_an_identifier():
    message = refusal(
        config_with(external_test_sets={"../up": {"classes": ["glioma", "notumor"], "path": "."}})
    )
    assert "config key `external_test_sets`: '../up' does not match" in message


def test_snakemake_refuses_an_unknown_class_before_any_job(tmp_path):
    bad = write_yaml(
        tmp_path / "bad.yaml",
        {"external_test_sets": {"figshare": {"path": ".", "classes": ["glioma", "tumour"]}}},
    )
    result = run_snakemake(tmp_path, "-n", configfiles=(TINY, bad), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "`external_test_sets.figshare.classes`: class 'tumour'" in output
    assert "Job stats" not in output and not (tmp_path / "results").exists()


# --- the tiny workflow ---------------------------------------------------------------------------------


def test_every_target_is_scored_on_the_tiny_external_set(tiny_run):
    audit_summary = read_json(tiny_run / "results/external/shifted/audit.json")
    assert audit_summary["counts"] == {"glioma": 3, "notumor": 3, "pituitary": 3}
    assert audit_summary["overlaps"] is False
    summary = pd.read_csv(tiny_run / "results/summary.csv").set_index(["model", "strategy"])
    for target in TARGETS:
        model, strategy = target.split("_", 1)
        folder = tiny_run / "results/runs" / target / "seed42/external/shifted"
        metrics = read_json(folder / "metrics.json")
        assert (
            metrics["classes"] == ["glioma", "notumor", "pituitary"] and metrics["external"]["n_images"] == 9
        )
        assert len(pd.read_csv(folder / "predictions.csv")) == 9
        row = summary.loc[model, strategy]  # summary.csv holds 6 significant digits
        assert row.external_shifted_accuracy == pytest.approx(metrics["external"]["accuracy"], abs=1e-5)
        drop = row.test_accuracy - row.external_shifted_accuracy
        assert row.external_shifted_accuracy_drop == pytest.approx(drop, abs=1e-5)
        card = (tiny_run / "results/runs" / target / "seed42/MODEL_CARD.md").read_text()
        assert (
            "## Metrics on external test sets" in card
            and "| shifted | glioma, notumor, pituitary | 9 |" in card
        )
    stats = read_json(tiny_run / "results/stats/external/shifted/stats.json")
    assert len(stats["targets"]) == len(TARGETS) == 4 and len(stats["mcnemar"]) == 6  # every two of them
    html = (tiny_run / "results/report.html").read_text()
    assert 'id="external-shifted"' in html and "No image of this set has an exact, pixel or near twin" in html


def test_an_overlapping_set_is_flagged_atop_its_report_section(tiny_run, dataset, tmp_path, monkeypatch):
    shutil.copytree(dataset / "dataset" / "Testing", tmp_path / "copy")
    _, overlapping = audit(tmp_path / "copy", dataset)
    (tmp_path / "audit.json").write_text(json.dumps(overlapping))
    monkeypatch.chdir(tiny_run)  # summary.csv holds the run folders relative to the workflow's directory
    sections = external_sections(
        collect_runs(
            pd.read_csv("results/summary.csv").run_dir,
            ["shifted"],
            Path().glob("results/runs/*/seed*/selection.json"),  # the tiny profile's tuned targets
        ),
        {
            "shifted": {
                "classes": ["glioma", "notumor", "pituitary"],
                "audit": tmp_path / "audit.json",
                "stats": "results/stats/external/shifted/stats.json",
            }
        },
    )
    html = render("external.html.j2", external=sections, several_seeds=False)
    section = html[html.index('id="external-shifted"') :]
    assert section.index("This set overlaps the dataset") < section.index("<table>")
    assert "12 of its\n12 images have a twin in Testing\n(12 exact, 0 pixel, 0 near)" in section
    assert len(sections[0]["rows"]) == len(TARGETS)


def test_a_set_added_later_reruns_only_its_own_jobs_and_the_summaries(tiny_run, tmp_path):
    added = {
        "second": {
            "classes": ["glioma", "meningioma"],
            "demo": {"per_class": 2, "image_size": 48, "seed": 1} | SHIFTED,
        }
    }
    result = run_snakemake(
        tiny_run, "-n", configfiles=(TINY, write_yaml(tmp_path / "added.yaml", {"external_test_sets": added}))
    )
    assert planned_jobs(result) == {
        "obtain_external_set": 1,
        "audit_external_set": 1,
        "evaluate_external": len(TARGETS),
        "stats_external": 1,
        "stats_counterfactual_external": 1,  # the set's counterfactual view (issue 26)
        "report": 1,
        "model_card": len(TARGETS),  # every card lists the target's external results
        "all": 1,
    }
    outputs = [
        line for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("output:")
    ]
    evaluations = [line for line in outputs if "/external/" in line and "metrics.json" in line]
    assert len(evaluations) == len(TARGETS) and all("/external/second/" in line for line in evaluations)
