"""Every config mistake is refused at parse time, before any job, by a message naming its key."""

import copy
import shutil

import pytest
import yaml
from conftest import REPO, run_snakemake, write_yaml

from mribench import registry
from mribench.config import ConfigError, sort_keys, validate_config

SCHEMA = REPO / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())


def config_with(**changes):
    """config.yaml with `changes`, given as dotted key -> value (value DELETE removes the key)."""
    config = copy.deepcopy(DEFAULT)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        section = config
        for part in parents:
            section = section[part]
        section[last] = value
    return config


def refusal(config):
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    return str(error.value)


def test_the_same_settings_merged_in_another_order_are_written_the_same():
    """Snakemake compares a job's params as written: a section's keys must not keep the order in which
    config files were merged."""
    from snakemake.utils import update_config

    overlay = {"dataset": {"source": "demo", "demo": {"seed": 0, "image_size": 64}}}
    profile_first = copy.deepcopy(overlay)
    update_config(profile_first, DEFAULT)
    update_config(profile_first, overlay)
    defaults_first = copy.deepcopy(DEFAULT)
    update_config(defaults_first, overlay)
    assert repr(profile_first) != repr(defaults_first)  # what Snakemake does: the bug this guards
    assert repr(sort_keys(profile_first)) == repr(sort_keys(defaults_first))
    assert list(profile_first["dataset"]["demo"]) == sorted(DEFAULT["dataset"]["demo"])


def test_default_config_is_valid():
    validate_config(DEFAULT, SCHEMA)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"models": ["vgg16", "alexnet"]}, ["`models`", "unknown model 'alexnet'", "registry.py"]),
        (
            {"strategies": ["fine_tuning", "linear_probe"]},
            [
                "`strategies`",
                "unknown strategy 'linear_probe'",
                "known strategies: fine_tuning",
                "`plugins:`",
            ],
        ),
        ({"models": ["my_net"]}, ["`models`", "'my_net' is not a model name", "letters and digits"]),
        ({"plugins": ["nowhere/strategy.py"]}, ["`plugins`", "'nowhere/strategy.py' is not a file"]),
        ({"models": []}, ["`models`", "should be non-empty"]),
        ({"dataset.val_fraction": 0}, ["`dataset.val_fraction`", "less than or equal to the minimum of 0"]),
        (
            {"dataset.val_fraction": 1.5},
            ["`dataset.val_fraction`", "greater than or equal to the maximum of 1"],
        ),
        ({"training.batch_size": 0}, ["`training.batch_size`", "less than the minimum of 1"]),
        ({"training.fine_tuning.epochs": 0}, ["`training.fine_tuning.epochs`", "less than the minimum of 1"]),
        ({"image_size": 16}, ["`image_size`", "less than the minimum of 32"]),
        (
            {"model_settings.vgg16.weights": "/nowhere/vgg16.weights.h5"},
            ["`model_settings.vgg16.weights`", "/nowhere/vgg16.weights.h5", "give the path"],
        ),
        (
            {"training.batchsize": 8},
            ["`training`", "'batchsize' was unexpected", "'batchsize' -> 'batch_size'"],
        ),
        ({"dataset.clases": ["a", "b"]}, ["`dataset`", "'clases' -> 'classes'"]),
        (
            {"model_settings.vgg16.unfreeze_layers": 25},
            ["`model_settings.vgg16.unfreeze_layers`", "exceeds the 19 layers", "at most 19"],
        ),
        ({"models": ["vgg16", "densenet121"]}, ["unknown model 'densenet121'"]),
        (
            {"cross_validation": {"folds": 1, "repeats": 1}},
            ["`cross_validation.folds`: 1 is less than the minimum of 2"],
        ),
        (
            {"cross_validation": {"folds": 5, "repeats": 0}},
            ["`cross_validation.repeats`: 0 is less than the minimum of 1"],
        ),
        ({"cross_validation": {"folds": 5}}, ["`cross_validation`: 'repeats' is a required property"]),
        (
            {"dataset.source": "path", "dataset.path": "/nowhere/brain.zip"},
            ["`dataset.path`", "does not exist"],
        ),
        (
            {"exclude_targets": ["vgg16_from_scratch"]},
            [
                "`exclude_targets`",
                "'vgg16_from_scratch' is not a target",
                "targets: vgg16_feature_extraction",
            ],
        ),
        ({"exclude_targets": ["vgg16 fine_tuning"]}, ["`exclude_targets.0`", "does not match"]),
        (
            {"models": ["vgg16"], "exclude_targets": ["vgg16_feature_extraction", "vgg16_fine_tuning"]},
            ["`exclude_targets`", "leaves out every target"],
        ),
    ],
)
def test_bad_config_names_its_key(changes, expected):
    message = refusal(config_with(**changes))
    for text in expected:
        assert text in message


def test_every_problem_is_reported_at_once():
    message = refusal(config_with(**{"training.batch_size": -1, "image_size": 8}))
    assert "`training.batch_size`" in message and "`image_size`" in message


def test_unfreeze_layers_is_not_checked_without_fine_tuning():
    validate_config(
        config_with(**{"strategies": ["feature_extraction"], "model_settings.vgg16.unfreeze_layers": 25}),
        SCHEMA,
    )


def test_registry_layer_counts_match_keras():
    """BASES stores each base's layer count for the parse-time check; it must be Keras' count."""
    for name, base in registry.BASES.items():
        assert len(registry.build_base(name, 32, None).layers) == base.n_layers, name


def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    bad = write_yaml(tmp_path / "bad.yaml", {"models": ["vgg16", "alexnet"], "training": {"batch_size": 0}})
    result = run_snakemake(tmp_path, "-n", configfiles=(bad,), check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "invalid configuration" in output and "`training.batch_size`" in output
    assert "Job stats" not in output and not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "bootstrap_resamples",
            100,
            "config key `report.bootstrap_resamples`: 100 is less than the minimum of 1000",
        ),
        ("gradcam", "yes", "config key `report.gradcam`: 'yes' is not of type 'boolean'"),
        ("gradcam_images_per_class", 0, "config key `report.gradcam_images_per_class`: 0 is less than"),
        (
            "colour",
            "red",
            "config key `report`: Additional properties are not allowed ('colour' was unexpected)",
        ),
    ],
)
def test_bad_report_settings_are_named(key, value, message):
    assert message in refusal(config_with(**{f"report.{key}": value}))


def integer_keys(schema, path=()):
    """The dotted key of every integer in the schema ("*": any name of a mapping, "0": list items)."""
    types = schema.get("type", [])
    if "integer" in (types if isinstance(types, list) else [types]):
        yield ".".join(path)
    if "$ref" in schema:
        yield from integer_keys(SCHEMA_DOC["$defs"][schema["$ref"].split("/")[-1]], path)
    for name, child in schema.get("properties", {}).items():
        yield from integer_keys(child, (*path, name))
    if isinstance(schema.get("additionalProperties"), dict):
        yield from integer_keys(schema["additionalProperties"], (*path, "*"))
    if isinstance(schema.get("items"), dict):
        yield from integer_keys(schema["items"], (*path, "0"))


SCHEMA_DOC = yaml.safe_load(SCHEMA.read_text())
INTEGER_KEYS = sorted(set(integer_keys(SCHEMA_DOC)))
# A valid config holding every integer key of the schema (model_settings' and external sets' included).
WITH_EVERY_KEY = config_with(
    **{
        "external_test_sets": {
            "shifted": {
                "classes": ["glioma", "notumor"],
                "demo": {
                    "per_class": 2, "image_size": 48, "seed": 0, "contrast_gamma": 0.8, "noise_factor": 1.2,
                    "resolution_factor": 0.5,
                },
            }
        },
        "training.from_scratch.epochs": 3,
        "cross_validation": {"folds": 3, "repeats": 2},
    }
)  # fmt: skip


def test_the_schema_holds_the_integer_keys_it_is_known_to():
    assert {"image_size", "training.batch_size", "seeds.0", "model_settings.*.unfreeze_layers"} <= set(
        INTEGER_KEYS
    )
    assert len(INTEGER_KEYS) >= 20


def locate(config, key):
    """The section holding a schema key's value in `config`, the value's name there, its concrete key."""
    parts = key.split(".")
    concrete = []
    section = config
    for part in parts[:-1]:
        name = next(iter(section)) if part == "*" else int(part) if part.isdigit() else part
        concrete.append(str(name))
        section = section[name]
    last = parts[-1]
    last = next(iter(section)) if last == "*" else int(last) if last.isdigit() else last
    return section, last, [*concrete, str(last)]


@pytest.mark.parametrize("key", INTEGER_KEYS)
def test_every_integer_key_refuses_a_whole_number_float(key):
    """JSON Schema counts 32.0 as an integer; Python's range() and Keras' shapes do not."""
    config = copy.deepcopy(WITH_EVERY_KEY)
    if key.endswith(".0") and key[:-2] in INTEGER_KEYS:  # a value of a tuning grid: a list of one
        section, last, _ = locate(config, key[:-2])
        section[last] = [section[last]]
    section, last, concrete = locate(config, key)
    value = section[last]
    assert isinstance(value, int), (key, value)
    section[last] = float(value)
    message = refusal(config)
    assert f"config key `{'.'.join(concrete)}`: {float(value)!r} is not of type 'integer'" in message
    assert f"write {value}, without a decimal point" in message


@pytest.mark.parametrize("kind", ["missing", "text file"])
def test_a_source_path_that_is_neither_a_folder_nor_a_zip_names_its_key(tmp_path, kind):
    path = tmp_path / "figshare.csv"
    if kind == "text file":
        path.write_text("not a zip")
    external = {"figshare": {"path": str(path), "classes": ["glioma", "notumor"]}}
    message = refusal(config_with(external_test_sets=external))
    expected = "does not exist" if kind == "missing" else "is neither a folder nor a .zip file"
    assert f"config key `external_test_sets.figshare.path`: {str(path)!r} {expected}" in message
    message = refusal(config_with(**{"dataset.source": "path", "dataset.path": str(path)}))
    assert f"config key `dataset.path`: {str(path)!r} {expected}" in message


def kaggle_folder(root, training_files):
    """Training/<class>/ with `training_files[class]` files (and a .DS_Store, which is no image) and
    Testing/<class>/ with one, for every class of config.yaml."""
    for label in DEFAULT["dataset"]["classes"]:
        for split, n in (("Training", training_files.get(label, 4)), ("Testing", 1)):
            folder = root / split / label
            folder.mkdir(parents=True)
            (folder / ".DS_Store").write_bytes(b"")
            for i in range(n):
                (folder / f"{i}.jpg").write_bytes(b"not decoded at parse time")
    return root


def test_more_folds_than_a_class_has_images_is_refused_before_any_job(tmp_path):
    demo = config_with(**{"dataset.source": "demo", "dataset.demo.train_per_class": 3})
    demo["cross_validation"] = {"folds": 5, "repeats": 1}
    assert refusal(demo) == (
        "invalid configuration:\n  config key `cross_validation.folds`: 5 folds, but Training class 'glioma' "
        "of the demo (dataset.demo.train_per_class) has only 3 images; give at most 3 folds or add images"
    )

    # a folder in the Kaggle layout, itself or zipped under a top folder, as users download it
    source = kaggle_folder(tmp_path / "download" / "brain-tumor-mri", {"meningioma": 2})
    archive = shutil.make_archive(str(tmp_path / "download"), "zip", tmp_path / "download")
    for path in (source, archive):
        config = config_with(**{"dataset.source": "path", "dataset.path": str(path)})
        config["cross_validation"] = {"folds": 3, "repeats": 1}
        assert (
            "Training class 'meningioma' of dataset.path has only 2 images; give at most 2 folds"
            in refusal(config)
        )
        config["cross_validation"]["folds"] = 2
        validate_config(config, SCHEMA)

    # a Kaggle download is counted after the audit, by the cross_validation_folds job (test_folds.py)
    kaggle = copy.deepcopy(DEFAULT)
    kaggle["cross_validation"] = {"folds": 50, "repeats": 1}
    validate_config(kaggle, SCHEMA)
