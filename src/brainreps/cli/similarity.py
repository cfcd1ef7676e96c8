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

    r = sub.add_parser(
        "rsa",
        help="Spearman RSA of every layer's RDM vs neural RDMs per unit group, or vs the "
        "matrices of an RDM file",
    )
    r.add_argument("--similarity", required=True, help="similarity Zarr store of a model")
    neural = r.add_mutually_exclusive_group(required=True)
    neural.add_argument("--responses", help="responses Zarr store of a dataset")
    neural.add_argument(
        "--neural-rdms",
        help="a file of neural RDMs (brainreps .npz format) or an Allen-layout folder "
        "(brainreps.data.rdms)",
    )
    r.add_argument(
        "--exclude-stimuli",
        nargs="*",
        default=[],
        help="stimulus ids of the RDM file to leave out (e.g. blank)",
    )
    r.add_argument("--out", required=True, help="output Zarr store")
    _rsa_settings(r)
    r.add_argument("--csv", help="also write the tidy table here")
    r.set_defaults(func=_rsa)

    n = sub.add_parser(
        "neural-rdms",
        help="write the neural RDMs of a responses store (one per unit group, with their "
        "reliability) as a brainreps RDM file (.npz)",
    )
    n.add_argument("--responses", required=True, help="responses Zarr store of a dataset")
    n.add_argument("--out", required=True, help="output .npz file")
    n.add_argument("--stimulus-set", help="name of the stimulus set, recorded in the file")
    _rsa_settings(n)
    n.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64", help="of the matrices"
    )
    n.set_defaults(func=_neural_rdms)


def _rsa_settings(p: argparse.ArgumentParser) -> None:
    """The options of the config's similarity.rsa and similarity.seed."""
    rsa_defaults = SIMILARITY["rsa"]
    p.add_argument("--groups", nargs="*", default=rsa_defaults["groups"])
    p.add_argument("--depth-bins", nargs="*", type=float, default=rsa_defaults["depth_bins"])
    p.add_argument("--min-units", type=int, default=rsa_defaults["min_units"])
    p.add_argument("--n-splits", type=int, default=rsa_defaults["n_splits"])
    p.add_argument("--seed", type=int, default=SIMILARITY["seed"], help="split-half seed")


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
    from brainreps.similarity.rsa import rsa, rsa_against, rsa_table

    sim = io.read_store(_existing(args.similarity, "similarity store"), "similarity", load=True)
    if args.neural_rdms is not None:
        from brainreps.data.rdms import align_to_stimuli, load_rdms

        source = args.neural_rdms
        rdms = load_rdms(_existing(source, "RDM file"))
        rdms = align_to_stimuli(
            rdms,
            [str(s) for s in sim["stimulus"].values],
            exclude=args.exclude_stimuli,
            where=f"RDM file {source}",
            stimulus_set=f"the stimuli of {args.similarity}",
        )
        ds = rsa_against(sim, rdms, model_name=str(args.similarity), dataset_name=str(source))
    else:
        if args.exclude_stimuli:
            raise CLIError("--exclude-stimuli is for --neural-rdms")
        source = args.responses
        resp = io.read_store(_existing(source, "responses store"), "responses", load=True)
        ds = rsa(
            sim,
            resp,
            model_name=str(args.similarity),
            dataset_name=str(source),
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
        inputs=[args.similarity, source],
    )
    if args.csv:
        with io.atomic_path(args.csv) as tmp:
            rsa_table(ds).to_csv(tmp, index=False)
    print(f"{args.out}: {ds.sizes['layer']} layers x {ds.sizes['group']} neural RDMs")
    return 0


def _neural_rdms(args: argparse.Namespace) -> int:
    from brainreps import io
    from brainreps.data.rdms import write_rdm_file
    from brainreps.similarity.rsa import neural_rdms

    resp = io.read_store(_existing(args.responses, "responses store"), "responses", load=True)
    ds = neural_rdms(
        resp,
        dataset_name=str(args.responses),
        kinds=args.groups,
        depth_bins=args.depth_bins or None,
        min_units=args.min_units,
        n_splits=args.n_splits,
        seed=args.seed,
    )
    if args.stimulus_set:
        ds.attrs["stimulus_set"] = args.stimulus_set
    write_rdm_file(ds, args.out, dtype=args.dtype)
    print(f"{args.out}: {ds.sizes['group']} RDMs of {ds.sizes['stimulus']} stimuli")
    return 0


def vars_of(params) -> dict:
    """A dataclass's fields as a plain dict (provenance)."""
    from dataclasses import asdict

    return asdict(params)
