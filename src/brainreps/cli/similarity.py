"""Similarity-stage commands: per-layer RDMs/CKA/sparseness/dimension of a store, and RSA."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainreps.cli import CLIError
from brainreps.config import definition_defaults

SIMILARITY = definition_defaults("similarity")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the similarity-stage subcommands."""
    p = sub.add_parser(
        "similarity",
        aliases=["rdm"],
        help="RDMs, layer x layer similarity, CKA, sparseness and dimension of a features store",
    )
    p.add_argument("--features", required=True, help="features (or projection) Zarr store")
    p.add_argument("--out", required=True, help="output similarity Zarr store")
    p.add_argument("--kind", choices=["features", "projection"], default="features")
    p.add_argument("--layers", nargs="+", help="only these layers (default: all, in order)")
    p.add_argument(
        "--block-size", type=int, default=SIMILARITY["block_size"], help="features per block"
    )
    p.add_argument("--precision", choices=["float32", "float64"], default=SIMILARITY["precision"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=SIMILARITY["device"])
    p.add_argument(
        "--discard-fraction",
        type=float,
        default=SIMILARITY["twonn"]["discard_fraction"],
        help="TwoNN discard fraction",
    )
    p.add_argument(
        "--n-bootstrap",
        type=int,
        default=SIMILARITY["twonn"]["n_bootstrap"],
        help="TwoNN bootstrap resamples",
    )
    p.add_argument("--variance-threshold", type=float, default=SIMILARITY["variance_threshold"])
    p.add_argument("--csv", help="also write the per-layer table here")
    p.set_defaults(func=_similarity)

    r = sub.add_parser("rsa", help="Spearman RSA of every layer's RDM vs neural RDMs per area")
    r.add_argument("--similarity", required=True, help="similarity Zarr store of a model")
    r.add_argument("--responses", required=True, help="responses Zarr store of a dataset")
    r.add_argument("--out", required=True, help="output Zarr store")
    rsa_defaults = SIMILARITY["rsa"]
    r.add_argument("--groups", nargs="*", default=rsa_defaults["groups"])
    r.add_argument("--depth-bins", nargs="*", type=float, default=rsa_defaults["depth_bins"])
    r.add_argument("--min-units", type=int, default=rsa_defaults["min_units"])
    r.add_argument("--n-splits", type=int, default=rsa_defaults["n_splits"])
    r.add_argument("--seed", type=int, default=SIMILARITY["seed"], help="split-half seed")
    r.add_argument("--csv", help="also write the tidy table here")
    r.set_defaults(func=_rsa)


def _existing(path: str, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{what} {p} does not exist")
    return p


def _similarity(args: argparse.Namespace) -> int:
    from brainreps import io
    from brainreps.similarity.analysis import SimilarityParams, analyze_store, layer_table

    src = _existing(args.features, f"{args.kind} store")
    if args.block_size < 1:
        raise CLIError("--block-size must be >= 1")
    params = SimilarityParams.from_config(
        {
            "block_size": args.block_size,
            "precision": args.precision,
            "device": args.device,
            "twonn": {"discard_fraction": args.discard_fraction, "n_bootstrap": args.n_bootstrap},
            "variance_threshold": args.variance_threshold,
        }
    )
    ds = analyze_store(src, params, kind=args.kind, layers=args.layers)
    io.write_store(ds, args.out, kind="similarity", params=vars_of(params), inputs=[str(src)])
    if args.csv:
        with io.atomic_path(args.csv) as tmp:
            layer_table(ds).to_csv(tmp, index=False)
    print(f"{args.out}: {ds.sizes['layer']} layers x {ds.sizes['stimulus']} stimuli")
    return 0


def _rsa(args: argparse.Namespace) -> int:
    from brainreps import io
    from brainreps.similarity.rsa import rsa, rsa_table

    sim = io.read_store(_existing(args.similarity, "similarity store"), "similarity", load=True)
    resp = io.read_store(_existing(args.responses, "responses store"), "responses", load=True)
    ds = rsa(
        sim,
        resp,
        model_name=str(args.similarity),
        dataset_name=str(args.responses),
        kinds=args.groups,
        depth_bins=args.depth_bins or None,
        min_units=args.min_units,
        n_splits=args.n_splits,
        seed=args.seed,
    )
    io.write_store(
        ds,
        args.out,
        kind="similarity",
        params=vars(args) | {"func": None},
        inputs=[args.similarity, args.responses],
    )
    if args.csv:
        with io.atomic_path(args.csv) as tmp:
            rsa_table(ds).to_csv(tmp, index=False)
    print(f"{args.out}: {ds.sizes['layer']} layers x {ds.sizes['group']} unit groups")
    return 0


def vars_of(params) -> dict:
    """A dataclass's fields as a plain dict (provenance)."""
    from dataclasses import asdict

    return asdict(params)
