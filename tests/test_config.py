import pytest
import yaml
from conftest import REPO

from mribench.config import ConfigError, validate_config

SCHEMA = REPO / "schemas/config.schema.yaml"


def default_config():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_valid():
    validate_config(default_config(), SCHEMA)


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
    config = default_config()
    config["report"][key] = value
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert message in str(error.value)
