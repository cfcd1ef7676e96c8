"""Every `brainreps` option that is a config setting defaults to the schema's default.

The schema files are read here directly (plain YAML, not through brainreps.config), so a
literal default typed into a command, or a schema default changed without the command, fails.
Every other option with a default must be listed as not being a config setting.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from brainreps.cli import build_parser

SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "brainreps" / "schemas"

# (command, option dest) -> (schema file, definition, dotted key); alphas are three keys
SETTINGS = {
    ("encode", "weights"): ("models", "model", "weights"),
    ("encode", "layers"): ("models", "model", "layers"),
    ("encode", "input_size"): ("models", "model", "input_size"),
    ("encode", "seed"): ("models", "model", "seed"),
    ("encode", "batch_size"): ("models", "model", "batch_size"),
    ("encode", "feature_dtype"): ("models", "model", "dtype"),
    ("encode", "device"): ("models", "features", "device"),
    ("encode", "n_components"): ("models", "projection", "n_components"),
    ("encode", "eps"): ("models", "projection", "eps"),
    ("encode", "outer_folds"): ("encoding", "encoding", "outer_folds"),
    ("encode", "inner_folds"): ("encoding", "encoding", "inner_folds"),
    ("encode", "backend"): ("encoding", "encoding", "backend"),
    ("encode", "n_splits"): ("data", "responses", "n_splits"),
    ("features", "weights"): ("models", "model", "weights"),
    ("features", "input_size"): ("models", "model", "input_size"),
    ("features", "batch_size"): ("models", "model", "batch_size"),
    ("features", "dtype"): ("models", "model", "dtype"),
    ("features", "seed"): ("models", "model", "seed"),
    ("features", "device"): ("models", "features", "device"),
    ("layers", "weights"): ("models", "model", "weights"),
    ("layers", "input_size"): ("models", "model", "input_size"),
    ("layers", "branches"): ("models", "model", "branches"),
    ("textures", "weights"): ("models", "model", "weights"),
    ("textures", "branches"): ("models", "model", "branches"),
    ("textures", "input_size"): ("models", "model", "input_size"),
    ("textures", "init_seed"): ("models", "model", "seed"),
    ("textures", "device"): ("models", "features", "device"),
    ("textures", "n_folds"): ("textures", "textures", "n_folds"),
    ("textures", "min_positions"): ("textures", "textures", "min_positions"),
    ("textures", "max_channels"): ("textures", "textures", "max_channels"),
    ("textures", "batch_size"): ("textures", "textures", "batch_size"),
    ("textures", "seed"): ("textures", "textures", "seed"),
    ("project", "n_components"): ("models", "projection", "n_components"),
    ("project", "eps"): ("models", "projection", "eps"),
    ("project", "density"): ("models", "projection", "density"),
    ("project", "seed"): ("models", "projection", "seed"),
    ("project", "small_layers"): ("models", "projection", "small_layers"),
    ("project", "device"): ("models", "features", "device"),
    ("similarity", "block_size"): ("similarity", "similarity", "block_size"),
    ("similarity", "precision"): ("similarity", "similarity", "precision"),
    ("similarity", "device"): ("similarity", "similarity", "device"),
    ("similarity", "discard_fraction"): ("similarity", "similarity", "twonn.discard_fraction"),
    ("similarity", "n_bootstrap"): ("similarity", "similarity", "twonn.n_bootstrap"),
    ("similarity", "variance_threshold"): ("similarity", "similarity", "variance_threshold"),
    ("rsa", "groups"): ("similarity", "similarity", "rsa.groups"),
    ("rsa", "depth_bins"): ("similarity", "similarity", "rsa.depth_bins"),
    ("rsa", "min_units"): ("similarity", "similarity", "rsa.min_units"),
    ("rsa", "n_splits"): ("similarity", "similarity", "rsa.n_splits"),
    ("rsa", "seed"): ("similarity", "similarity", "seed"),
    ("neural-rdms", "groups"): ("similarity", "similarity", "rsa.groups"),
    ("neural-rdms", "depth_bins"): ("similarity", "similarity", "rsa.depth_bins"),
    ("neural-rdms", "min_units"): ("similarity", "similarity", "rsa.min_units"),
    ("neural-rdms", "n_splits"): ("similarity", "similarity", "rsa.n_splits"),
    ("neural-rdms", "seed"): ("similarity", "similarity", "seed"),
    ("stimuli", "n_images"): ("data", "embedded_stimuli", "n_images"),
    ("stimuli", "size"): ("data", "embedded_stimuli", "size"),
    ("stimuli", "seed"): ("data", "embedded_stimuli", "seed"),
    ("simulate", "n_units"): ("data", "simulation", "n_units"),
    ("simulate", "n_repeats"): ("data", "simulation", "n_repeats"),
    ("simulate", "seed"): ("data", "simulation", "seed"),
    ("responses", "response_window"): ("data", "responses", "response_window"),
    ("responses", "baseline_window"): ("data", "responses", "baseline_window"),
    ("responses", "n_splits"): ("data", "responses", "n_splits"),
    ("responses", "signal"): ("data", "responses", "signal"),
    ("imagenet", "size"): ("imagenet", "imagenet_stimuli", "size"),
    ("imagenet", "seed"): ("imagenet", "imagenet_stimuli", "seed"),
    ("allen-extract", "cache_dir"): ("allen", "allen_dataset", "cache_dir"),
    ("allen-extract", "areas"): ("allen", "allen_dataset", "targeted_structures"),
    ("allen-extract", "depths"): ("allen", "allen_dataset", "imaging_depths"),
    ("allen-extract", "cre_lines"): ("allen", "allen_dataset", "cre_lines"),
    ("allen-extract", "max_containers"): ("allen", "allen_dataset", "max_containers"),
    ("allen-recording", "segment_window"): ("allen", "allen_dataset", "segment_window"),
    ("allen-stimuli", "size"): ("allen", "allen_stimuli", "size"),
    ("train", "size"): ("imagenet", "imagenet_stimuli", "size"),
    ("train", "test_fraction"): ("training", "run", "test_fraction"),
    ("train", "labels"): ("training", "run", "labels"),
    ("train", "epochs"): ("training", "run", "epochs"),
    ("train", "batch_size"): ("training", "run", "batch_size"),
    ("train", "optimizer"): ("training", "run", "optimizer.name"),
    ("train", "learning_rate"): ("training", "run", "optimizer.learning_rate"),
    ("train", "crop_padding"): ("training", "run", "augmentation.crop_padding"),
    ("train", "seed"): ("training", "run", "seed"),
    ("spikes infer", "fs"): ("spikes", "spikefinder_source", "frame_rate"),
    ("spikes score", "fs"): ("spikes", "spikefinder_source", "frame_rate"),
}
ALPHAS = ("encoding", "encoding", ("alphas.low", "alphas.high", "alphas.n"))
LIST_OF_ONE = {("spikes train", "fs"): ("spikes", "spikefinder_source", "frame_rate")}

# options with a default that are not config settings (what to run, not how)
NOT_SETTINGS = {
    "download": {"retries", "timeout"},
    "layers": {"kind"},
    "similarity": {"kind"},  # which store is read (features or projection), not a setting
    "neural-rdms": {"dtype"},  # how the file is written, not an analysis setting
    "spikes score": {"measures"},
}


def raw_default(file: str, definition: str, key: str):
    """A default read straight from the schema YAML, following local $refs."""
    doc = yaml.safe_load((SCHEMAS / f"{file}.schema.yaml").read_text())

    def resolve(node):
        while "$ref" in node and "default" not in node:
            ref_file, _, pointer = node["$ref"].partition("#")
            source = yaml.safe_load((SCHEMAS / ref_file).read_text()) if ref_file else doc
            node = source["$defs"][pointer.rsplit("/", 1)[-1]]
        return node

    node = doc["$defs"][definition]
    for part in key.split("."):
        node = resolve(resolve(node)["properties"][part])
    return node["default"]


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict:
    """Every (sub)command's parser by its space-separated name (aliases once)."""
    out: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(sub is seen for seen in out.values()):
                    continue
                full = f"{prefix} {name}".strip()
                nested = commands(sub, full)
                out.update(nested or {full: sub})
    return out


def layer_text(spec) -> str:
    return f"every:{spec['every']}:{spec['of']}"


@pytest.fixture(scope="module")
def parsers():
    return commands(build_parser())


def test_every_config_setting_option_has_the_schema_default(parsers):
    wrong = []
    for (command, dest), (file, definition, key) in SETTINGS.items():
        default = parsers[command].get_default(dest)
        expected = raw_default(file, definition, key)
        if dest == "layers":
            expected = [layer_text(expected)]
        if default != expected:
            wrong.append(f"brainreps {command} --{dest}: {default!r}, schema {expected!r}")
    file, definition, keys = ALPHAS
    expected = [raw_default(file, definition, k) for k in keys]
    if parsers["encode"].get_default("alphas") != expected:
        wrong.append(f"encode --alphas: {parsers['encode'].get_default('alphas')} vs {expected}")
    for (command, dest), (file, definition, key) in LIST_OF_ONE.items():
        if parsers[command].get_default(dest) != [raw_default(file, definition, key)]:
            wrong.append(f"brainreps {command} --{dest}")
    assert not wrong, "\n".join(wrong)


def test_no_other_option_restates_a_default(parsers):
    listed = set(SETTINGS) | set(LIST_OF_ONE) | {("encode", "alphas")}
    unlisted = []
    for command, parser in parsers.items():
        for action in parser._actions:
            if action.default in (None, False, [], argparse.SUPPRESS) or action.dest == "help":
                continue
            if action.dest in ("func",) or (command, action.dest) in listed:
                continue
            if action.dest in NOT_SETTINGS.get(command, ()):
                continue
            unlisted.append(f"brainreps {command} --{action.dest} (default {action.default!r})")
    assert not unlisted, "options with a default that is neither the schema's nor listed:\n" + (
        "\n".join(unlisted)
    )


def test_the_schema_reader_here_reads_nested_and_referenced_defaults():
    assert raw_default("similarity", "similarity", "twonn.n_bootstrap") == 200
    assert raw_default("models", "model", "layers") == {"every": 1, "of": "blocks"}
