"""Config validation: every error names the key; defaults are filled in; the workflow refuses to start."""

import copy

import pytest
import yaml
from helpers import default_config, run_snakemake

from brainreps.config import ConfigError, load_config, validate_config


def test_default_config_is_valid_and_gets_defaults():
    cfg = default_config()
    del cfg["responses"]["n_splits"]
    valid = validate_config(cfg)
    assert valid["responses"]["n_splits"] == 20
    assert valid["datasets"]["simulated"]["simulation"]["n_units"] == 240


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["datasets"]["simulated"]["simulation"].update(n_units=-3),
            "datasets.simulated.simulation.n_units: -3 is less than the minimum of 1",
        ),
        (
            lambda c: c["datasets"]["simulated"]["simulation"].update(nunits=3),
            "unknown config key datasets.simulated.simulation.nunits",
        ),
        (lambda c: c.update(bogus=1), "unknown config key bogus"),
        (
            lambda c: c["stimulus_sets"]["embedded"].update(size="big"),
            "stimulus_sets.embedded.size: 'big' is not of type 'integer'",
        ),
        (lambda c: c.pop("responses"), "'responses' is a required property"),
        (
            lambda c: c["responses"].update(response_window=[0.1]),
            "responses.response_window: [0.1] is too short",
        ),
        (
            lambda c: c["datasets"]["simulated"].update(stimuli="nope"),
            "datasets.simulated.stimuli: stimulus set 'nope' is not defined",
        ),
    ],
)
def test_bad_config_names_the_key(edit, message):
    cfg = default_config()
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert message in str(err.value)


def test_missing_file_names_the_key(tmp_path):
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "data": {
                "type": "object",
                "properties": {"folder": {"type": "string", "format": "existing-path"}},
            }
        },
    }
    path = tmp_path / "s.schema.yaml"
    path.write_text(yaml.safe_dump(schema))
    validate_config({"data": {"folder": str(tmp_path)}}, path)
    with pytest.raises(
        ConfigError, match="config key data.folder: file or folder '/no/such' does not exist"
    ):
        validate_config({"data": {"folder": "/no/such"}}, path)


def test_unreadable_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.slow
def test_workflow_refuses_bad_config_before_any_rule(tmp_path):
    cfg = copy.deepcopy(default_config())
    cfg["datasets"]["simulated"]["simulation"]["n_repeats"] = 1
    proc = run_snakemake(tmp_path, config=cfg, check=False)
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert "datasets.simulated.simulation.n_repeats: 1 is less than the minimum of 2" in output
    assert not (tmp_path / "results").exists()


def test_every_schema_file_is_a_valid_json_schema():
    import jsonschema

    from brainreps.config import SCHEMA_DIR

    files = sorted(SCHEMA_DIR.glob("*.schema.yaml"))
    assert len(files) >= 9
    for path in files:
        schema = yaml.safe_load(path.read_text())  # a YAML error names the file and line
        jsonschema.Draft202012Validator.check_schema(schema)
