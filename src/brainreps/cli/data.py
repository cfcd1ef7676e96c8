"""Data-stage commands: validate a config, make stimuli, simulate a recording, trial responses."""

from __future__ import annotations

import argparse
import os

from brainreps.config import definition_defaults, fill_defaults, load_config

EMBEDDED = definition_defaults("data#embedded_stimuli")
SIMULATION = definition_defaults("data#simulation")
RESPONSES = definition_defaults("data#responses")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the data-stage subcommands."""
    p = sub.add_parser("check-config", help="validate a workflow config file against the schema")
    p.add_argument("config", help="YAML config file")
    p.set_defaults(func=_check_config)

    p = sub.add_parser(
        "compare-results",
        help="compare two results/ trees bit for bit (every store array and CSV table)",
    )
    p.add_argument("first", help="a results folder")
    p.add_argument("second", help="another results folder")
    p.add_argument(
        "--ignore-columns",
        nargs="*",
        default=[],
        help="CSV columns not compared (timings, e.g. infer_seconds)",
    )
    p.set_defaults(func=_compare_results)

    p = sub.add_parser("stimuli", help="the embedded default stimuli (scikit-image photographs)")
    p.add_argument("--n-images", type=int, default=EMBEDDED["n_images"])
    p.add_argument("--size", type=int, default=EMBEDDED["size"])
    p.add_argument("--seed", type=int, default=EMBEDDED["seed"])
    p.add_argument("--out", required=True, help="output stimuli store (.zarr)")
    p.set_defaults(func=_stimuli)

    p = sub.add_parser("simulate", help="simulate a two-photon recording of a model V1 population")
    p.add_argument("--stimuli", required=True, help="stimuli store (.zarr)")
    p.add_argument("--n-units", type=int, default=SIMULATION["n_units"])
    p.add_argument("--n-repeats", type=int, default=SIMULATION["n_repeats"])
    p.add_argument("--seed", type=int, default=SIMULATION["seed"])
    p.add_argument("--out", required=True, help="output recording store (.zarr)")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("responses", help="trial responses and split-half reliability")
    p.add_argument("--recording", required=True, help="recording store (.zarr)")
    p.add_argument("--stimuli", required=True, help="stimuli store the recording showed")
    p.add_argument(
        "--response-window",
        type=float,
        nargs=2,
        default=RESPONSES["response_window"],
        metavar=("START", "END"),
    )
    p.add_argument(
        "--baseline-window",
        type=float,
        nargs=2,
        default=RESPONSES["baseline_window"],
        metavar=("START", "END"),
    )
    p.add_argument("--n-splits", type=int, default=RESPONSES["n_splits"])
    p.add_argument(
        "--signal",
        default=RESPONSES["signal"],
        help="dff, spikes:<method> (inferred rates; oasis, derivative, or a supervised method "
        "with --spike-model) or spikes:truth (a simulated recording's spikes)",
    )
    p.add_argument(
        "--spike-model", help="trained model file (or bank directory) of a supervised method"
    )
    p.add_argument("--out", required=True, help="output responses store (.zarr)")
    p.set_defaults(func=_responses)


def _check_config(args: argparse.Namespace) -> int:
    load_config(args.config)
    print(f"{args.config}: valid")
    return 0


def _compare_results(args: argparse.Namespace) -> int:
    from brainreps.compare import compare_results, csv_tables, store_arrays

    for folder in (args.first, args.second):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no results folder {folder}")
    differences = compare_results(args.first, args.second, tuple(args.ignore_columns))
    n_arrays, n_tables = len(store_arrays(args.first)), len(csv_tables(args.first))
    if differences:
        print("\n".join(differences))
        print(f"{len(differences)} difference(s) ({n_arrays} arrays, {n_tables} tables compared)")
        return 1
    print(f"identical: {n_arrays} arrays and {n_tables} CSV tables, bit for bit")
    return 0


def _params(definition: str, args: argparse.Namespace, keys: tuple[str, ...]) -> dict:
    """The schema defaults of a data.schema.yaml definition, with the options the user gave."""
    given = {k: getattr(args, k) for k in keys}
    return fill_defaults(f"data#{definition}", given, f"brainreps {args.command} options")


def _stimuli(args: argparse.Namespace) -> int:
    from brainreps.data.embedded import embedded_stimuli
    from brainreps.io import write_store

    params = {"source": "embedded", "n_images": args.n_images, "size": args.size, "seed": args.seed}
    stimuli = embedded_stimuli(args.n_images, args.size, args.seed)
    write_store(stimuli, args.out, kind="stimuli", params=params)
    print(f"wrote {args.n_images} stimuli to {args.out}")
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from brainreps.data.simulate import simulate_recording
    from brainreps.io import read_store, write_store

    params = _params("simulation", args, ("n_units", "n_repeats", "seed"))
    stimuli = read_store(args.stimuli, "stimuli", load=True)
    recording = simulate_recording(stimuli["pixels"].values, stimuli["stimulus"].values, params)
    write_store(recording, args.out, kind="recording", params=params, inputs=[args.stimuli])
    print(
        f"simulated {recording.sizes['unit']} units x {recording.sizes['time']} frames: {args.out}"
    )
    return 0


def _responses(args: argparse.Namespace) -> int:
    import numpy as np

    from brainreps.data.responses import responses_store

    keys = ("response_window", "baseline_window", "n_splits", "signal")
    params = _params("responses", args, keys)
    params = {k: params[k] for k in (*keys, "seed")}
    responses = responses_store(
        args.recording, args.stimuli, params, args.out, model_path=args.spike_model
    )
    rel = responses["split_half_reliability"].values
    print(f"{rel.size} units, median split-half reliability {np.nanmedian(rel):.3f}: {args.out}")
    return 0
