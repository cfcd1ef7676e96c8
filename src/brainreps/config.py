"""The config contract: the JSON schema (shipped in the package) validates and fills defaults.

Every default of every setting lives once, in `brainreps/schemas/*.schema.yaml`. The workflow
reads the validated config (defaults filled in); Python functions and `brainreps` commands
that take settings get their defaults from the same schema through `definition_defaults`,
`fill_defaults` and `schema_default`, never by restating them. Checks that relate one config
section to another live in `brainreps.config_checks` and run inside `validate_config`, so the
workflow and `brainreps check-config` accept and reject the same configs with the same words;
then `brainreps.config_expand` adds the entries a shortcut stands for (checkpoint models).
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the offending key."""


def _load_yaml(path: Path) -> Any:
    with open(path) as fh:
        return yaml.safe_load(fh)


@functools.cache
def _schema_file(path: Path) -> Any:
    return _load_yaml(path)


def _registry(schema_dir: Path) -> Registry:
    def retrieve(uri: str) -> Resource:
        name = uri.rsplit("/", 1)[-1]
        return Resource.from_contents(
            _schema_file(schema_dir / name), default_specification=DRAFT202012
        )

    return Registry(retrieve=retrieve)


def _is_existing_path(value: object) -> bool:
    return not isinstance(value, str) or os.path.exists(os.path.expanduser(value))


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checks("existing-path")(_is_existing_path)


def key_path(parts) -> str:
    """Dotted name of a config key from a jsonschema path, e.g. datasets.simulated.n_units."""
    return ".".join(str(p) for p in parts) or "<top level>"


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    parts = [prefix, *error.absolute_path] if prefix else list(error.absolute_path)
    where = key_path(parts)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        known = sorted(error.schema.get("properties", {}))
        keys = ", ".join(f"{where}.{k}" if parts else k for k in extra)
        return f"unknown config key {keys} (allowed here: {', '.join(known)})"
    if error.validator == "required":
        return f"missing config key in {where}: {error.message}"
    if error.validator == "format" and error.validator_value == "existing-path":
        return f"config key {where}: file or folder {error.instance!r} does not exist"
    return f"config key {where}: {error.message}"


def _errors_message(errors: list[jsonschema.ValidationError], prefix: str = "") -> str:
    # the deepest error is the most specific; the rest are listed after it
    errors = sorted(errors, key=lambda e: (len(e.absolute_path), e.message))
    errors.sort(key=lambda e: -len(e.absolute_path))
    return "\n  ".join(dict.fromkeys(_describe(e, prefix) for e in errors))


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
            if key not in inst:
                target = (
                    prop
                    if "default" in prop or "$ref" not in prop
                    else res.lookup(prop["$ref"]).contents
                )
                if "default" in target:
                    inst[key] = copy.deepcopy(target["default"])
            if key in inst:
                visit(inst[key], prop, res)
        extra = sch.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key, value in inst.items():
                if key not in sch.get("properties", {}):
                    visit(value, extra, res)

    visit(instance, schema, resolver)


def _validated(instance: dict, schema: Mapping, registry: Registry, base: str, prefix: str):
    validator = jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=FORMAT_CHECKER
    )
    errors = list(validator.iter_errors(instance))
    if errors:
        what = f"invalid {prefix}" if prefix else "invalid configuration"
        raise ConfigError(f"{what}:\n  " + _errors_message(errors, prefix))
    _set_defaults(instance, schema, registry, base)
    return instance


def validate_config(config: Mapping, schema_path: str | os.PathLike | None = None) -> dict:
    """Return a validated copy of `config` with schema defaults filled in, or raise ConfigError.

    With the package's own workflow schema (the default) the cross-section checks of
    `brainreps.config_checks` run too.
    """
    schema_path = Path(schema_path).resolve() if schema_path else CONFIG_SCHEMA
    base = schema_path.as_uri()
    schema = {"$id": base, **_schema_file(schema_path)}
    config = _validated(
        copy.deepcopy(dict(config)), schema, _registry(schema_path.parent), base, ""
    )
    if schema_path == CONFIG_SCHEMA:
        from brainreps.config_checks import reference_problems

        problems = reference_problems(config)
        if problems:
            raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
        from brainreps.config_expand import expand_config

        expand_config(config, definition_defaults("models#model"))
    return config


def _definition(definition: str) -> tuple[dict, str]:
    """The schema {'$ref': ...} of a definition 'file#name' ('encoding' = 'encoding#encoding')."""
    file, _, name = definition.partition("#")
    name = name or file
    path = SCHEMA_DIR / f"{file}.schema.yaml"
    if not path.is_file():
        raise ValueError(f"no schema file {path.name} for definition {definition!r}")
    if name not in _schema_file(path).get("$defs", {}):
        raise ValueError(f"schema {path.name} defines no {name!r}")
    base = f"urn:brainreps:{file}:{name}"
    return {"$id": base, "$ref": f"{path.as_uri()}#/$defs/{name}"}, base


def fill_defaults(definition: str, instance: Mapping | None, where: str = "") -> dict:
    """A validated copy of `instance` with the defaults of a schema definition filled in.

    `definition` is 'file#name' of `brainreps/schemas/file.schema.yaml` ('encoding' alone
    means 'encoding#encoding'); `where` names the instance in error messages.
    """
    schema, base = _definition(definition)
    instance = copy.deepcopy(dict(instance or {}))
    return _validated(instance, schema, _registry(SCHEMA_DIR), base, where or definition)


def definition_defaults(definition: str) -> dict:
    """Every default of a schema definition ('encoding', 'models#model', 'spikes#cnn_train').

    Required settings without a default (a model's `arch`) are simply absent.
    """
    schema, base = _definition(definition)
    instance: dict = {}
    _set_defaults(instance, schema, _registry(SCHEMA_DIR), base)
    return instance


def schema_default(definition: str, key: str) -> Any:
    """The default of one setting: schema_default('encoding', 'alphas.low') -> -2."""
    value: Any = definition_defaults(definition)
    for part in key.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"schema definition {definition!r} has no default for {key!r}")
        value = value[part]
    return value


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
