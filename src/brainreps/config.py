"""Load and validate the workflow configuration against its JSON schema."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "workflow" / "schemas"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def _load_yaml(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _registry(schema_dir: Path) -> Registry:
    def retrieve(uri: str) -> Resource:
        name = uri.rsplit("/", 1)[-1]
        return Resource.from_contents(
            _load_yaml(schema_dir / name), default_specification=DRAFT202012
        )

    return Registry(retrieve=retrieve)


def _is_existing_path(value: object) -> bool:
    return not isinstance(value, str) or os.path.exists(os.path.expanduser(value))


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checks("existing-path")(_is_existing_path)


def key_path(parts) -> str:
    """Dotted name of a config key from a jsonschema path, e.g. datasets.simulated.n_units."""
    return ".".join(str(p) for p in parts) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    where = key_path(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = sorted(error.schema.get("properties", {}))
        keys = ", ".join(f"{where}.{k}" if error.absolute_path else k for k in extra)
        return f"unknown config key {keys} (allowed here: {', '.join(known)})"
    if error.validator == "required":
        return f"missing config key in {where}: {error.message}"
    if error.validator == "format" and error.validator_value == "existing-path":
        return f"config key {where}: file or folder {error.instance!r} does not exist"
    return f"config key {where}: {error.message}"


def _set_defaults(instance: Any, schema: Mapping, registry: Registry, base: str) -> None:
    """Fill in `default` values of the schema's object properties, recursively."""
    resolver = registry.resolver(base_uri=base)

    def visit(inst: Any, sch: Mapping, res) -> None:
        if "$ref" in sch:
            resolved = res.lookup(sch["$ref"])
            visit(inst, resolved.contents, resolved.resolver)
        for sub in sch.get("allOf", []):
            cond = sub.get("if")
            if cond is not None:
                if jsonschema.Draft202012Validator(cond).is_valid(inst):
                    visit(inst, sub.get("then", {}), res)
            else:
                visit(inst, sub, res)
        if not isinstance(inst, dict):
            return
        for key, prop in sch.get("properties", {}).items():
            if key not in inst and "default" in prop:
                inst[key] = copy.deepcopy(prop["default"])
            if key in inst:
                visit(inst[key], prop, res)
        extra = sch.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key, value in inst.items():
                if key not in sch.get("properties", {}):
                    visit(value, extra, res)

    visit(instance, schema, resolver)


def validate_config(config: Mapping, schema_path: str | os.PathLike | None = None) -> dict:
    """Return a validated copy of `config` with schema defaults filled in, or raise ConfigError."""
    schema_path = Path(schema_path) if schema_path else SCHEMA_DIR / "config.schema.yaml"
    schema = _load_yaml(schema_path)
    registry = _registry(schema_path.parent)
    base = schema_path.resolve().as_uri()
    schema = {"$id": base, **schema}
    validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=FORMAT_CHECKER
    )
    config = copy.deepcopy(dict(config))
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), e.message))
    if errors:
        # the deepest error is the most specific; the rest are listed after it
        errors.sort(key=lambda e: -len(e.absolute_path))
        lines = [_describe(e) for e in errors]
        unique = list(dict.fromkeys(lines))
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(unique))
    _set_defaults(config, schema, registry, base)
    _check_references(config)
    return config


def _check_references(config: Mapping) -> None:
    """Cross-references between sections: a dataset's stimulus set must exist, etc."""
    sets = config.get("stimulus_sets", {})
    for name, dataset in config.get("datasets", {}).items():
        stim = dataset.get("stimuli")
        if stim is not None and stim not in sets:
            raise ConfigError(
                f"config key datasets.{name}.stimuli: stimulus set {stim!r} is not defined "
                f"in stimulus_sets (defined: {', '.join(sets) or 'none'})"
            )


def load_config(path: str | os.PathLike, schema_path: str | os.PathLike | None = None) -> dict:
    """Read a YAML config file and validate it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = _load_yaml(path)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return validate_config(raw, schema_path)
