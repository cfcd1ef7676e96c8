"""The `brainreps` command: every stage of the workflow as a subcommand."""

from __future__ import annotations

import argparse
import importlib
import sys

from brainreps import __version__

# Each module defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "brainreps.cli.data",
    "brainreps.cli.imagenet",
    "brainreps.cli.similarity",
    "brainreps.cli.spikes",
    "brainreps.cli.encode",
    "brainreps.cli.allen",
    "brainreps.cli.features",
    "brainreps.cli.train",
    "brainreps.cli.textures",
)


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every stage's subcommands."""
    parser = argparse.ArgumentParser(prog="brainreps", description=__doc__)
    parser.add_argument("--version", action="version", version=f"brainreps {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `brainreps` console command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (CLIError, ValueError, FileNotFoundError) as exc:
        print(f"brainreps {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
