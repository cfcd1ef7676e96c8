"""Data-stage commands: validate a config, make stimuli, simulate a recording, trial responses."""

from __future__ import annotations

import argparse

from brainreps.config import load_config


def register(sub: argparse._SubParsersAction) -> None:
    """Add the data-stage subcommands."""
    p = sub.add_parser("check-config", help="validate a workflow config file against the schema")
    p.add_argument("config", help="YAML config file")
    p.set_defaults(func=_check_config)


def _check_config(args: argparse.Namespace) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0
