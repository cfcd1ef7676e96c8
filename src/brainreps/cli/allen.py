"""Commands `brainreps allen-extract`, `allen-recording` and `allen-stimuli`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

from brainreps.cli import CLIError
from brainreps.config import definition_defaults

ALLEN = definition_defaults("allen#allen_dataset")
TEMPLATES = definition_defaults("allen#allen_stimuli")

REPO = Path(__file__).resolve().parents[3]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the Allen Brain Observatory subcommands."""
    p = sub.add_parser(
        "allen-extract",
        help="read natural-scenes sessions with allensdk (in its own environment) into an HDF5 file",
    )
    p.add_argument("--out", required=True, help="HDF5 file to write")
    p.add_argument("--nwb", nargs="+", help="local Brain Observatory NWB files (no network)")
    p.add_argument("--cache-dir", default=ALLEN["cache_dir"], help="BrainObservatoryCache folder")
    p.add_argument(
        "--areas", nargs="*", default=ALLEN["targeted_structures"], help="targeted structures"
    )
    p.add_argument(
        "--depths", nargs="*", type=int, default=ALLEN["imaging_depths"], help="depths (um)"
    )
    p.add_argument("--cre-lines", nargs="*", default=ALLEN["cre_lines"], help="Cre lines")
    p.add_argument(
        "--max-containers",
        type=int,
        default=ALLEN["max_containers"],
        help="at most this many containers",
    )
    p.add_argument(
        "--python",
        help="interpreter of the allensdk environment "
        "(default: $BRAINREPS_ALLEN_PYTHON, else .venv-allen/bin/python of the repo)",
    )
    p.set_defaults(func=_extract)

    p = sub.add_parser("allen-recording", help="an allen-extract file as a recording store")
    p.add_argument("extract", help="HDF5 file written by allen-extract")
    p.add_argument("--out", required=True, help="recording store to write (.zarr)")
    p.add_argument(
        "--segment-window",
        nargs=2,
        type=float,
        default=ALLEN["segment_window"],
        help="s around each onset kept per trial when several sessions are merged",
    )
    p.set_defaults(func=_recording)

    p = sub.add_parser("allen-stimuli", help="the natural scenes templates as a stimuli store")
    p.add_argument("extract", help="HDF5 file written by allen-extract")
    p.add_argument("--out", required=True, help="stimuli store to write (.zarr)")
    p.add_argument(
        "--size", type=int, default=TEMPLATES["size"], help="height after resizing (0: native)"
    )
    p.add_argument("--square", action="store_true", help="centre-crop to size x size")
    p.set_defaults(func=_stimuli)


def _extract(args: argparse.Namespace) -> int:
    python = args.python or os.environ.get("BRAINREPS_ALLEN_PYTHON")
    if not python:
        python = str(REPO / ".venv-allen" / "bin" / "python")
        if not Path(python).exists():
            raise CLIError(f"{python} does not exist: build it with `make -C {REPO} allen-env`")
    selection = {
        "cache_dir": args.cache_dir,
        "targeted_structures": args.areas,
        "imaging_depths": args.depths,
        "cre_lines": args.cre_lines,
        "max_containers": args.max_containers,
    }
    cmd = [python, str(Path(__file__).resolve().parents[1] / "data" / "allen_extract.py")]
    cmd += ["--out", args.out, "--selection", json.dumps(selection)]
    if args.nwb:
        cmd += ["--nwb", *args.nwb]
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise CLIError(f"the allensdk extraction failed (exit status {proc.returncode})")
    print(args.out)
    return 0


def _recording(args: argparse.Namespace) -> int:
    from brainreps.data.allen import recording_from_extract
    from brainreps.io import write_store

    window = tuple(args.segment_window)
    rec = recording_from_extract(args.extract, segment_window=window)
    write_store(
        rec,
        args.out,
        kind="recording",
        params={"segment_window": list(window)},
        inputs=[args.extract],
    )
    print(f"{args.out}: {rec.sizes['unit']} units, {rec.sizes['trial']} trials")
    return 0


def _stimuli(args: argparse.Namespace) -> int:
    from brainreps.data.allen import stimuli_from_extract
    from brainreps.io import write_store

    size = args.size or None
    stim = stimuli_from_extract(args.extract, size, args.square)
    params = {"source": "allen", "size": size, "square": args.square}
    write_store(stim, args.out, kind="stimuli", params=params, inputs=[args.extract])
    print(f"{args.out}: {stim.sizes['stimulus']} stimuli of {tuple(stim['pixels'].shape[1:])} px")
    return 0
