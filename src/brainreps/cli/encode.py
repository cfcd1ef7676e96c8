r"""`brainreps encode`: score a network's layers against a user's own images and responses.

    brainreps encode --stimuli IMAGES.npy --responses RESP.npy --model resnet18 \
        --weights none --layers layer1 layer2 layer3 layer4 --out DIR
    brainreps encode --stimuli IMAGES.npy --trials TRIALS.npy --trial-stimulus IDX.npy ...

Runs the workflow's steps on arrays: features -> sparse random projection -> nested
cross-validated ridge per unit per layer, and writes DIR/encoding.zarr, DIR/encoding.csv and
DIR/figures/*.png (plus DIR/projection.zarr, and DIR/features.zarr with --keep-features).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from brainreps.cli import CLIError
from brainreps.config import definition_defaults, schema_default

logger = logging.getLogger(__name__)

MODEL = definition_defaults("models#model")
ENCODING = definition_defaults("encoding")


def layer_spec_text(spec: Any) -> str:
    """A select_layers spec as the --layers text that parse_layer_spec reads back."""
    if isinstance(spec, dict) and "every" in spec:
        return f"every:{spec['every']}:{spec.get('of', 'leaves')}"
    if isinstance(spec, dict):
        return f"pattern:{spec['pattern']}"
    return " ".join(spec)


def source_name(args: argparse.Namespace) -> str:
    """The responses file a run scores, for figure titles."""
    return Path(args.responses or args.trials).name


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `encode` subcommand."""
    p = sub.add_parser(
        "encode",
        help="features -> projection -> ridge encoding scores on your own arrays",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument("--stimuli", required=True, help="images .npy: N x H x W or N x H x W x C")
    data.add_argument("--responses", help="mean responses .npy: N stimuli x units")
    data.add_argument("--trials", help="single-trial responses .npy: n_trials x units")
    data.add_argument(
        "--trial-stimulus", help="stimulus index (0..N-1) of each trial .npy: n_trials"
    )
    data.add_argument("--unit-area", help="optional .npy of each unit's brain area (units)")
    model = p.add_argument_group("model")
    model.add_argument("--model", required=True, help="torchvision/timm architecture name")
    model.add_argument(
        "--weights", default=MODEL["weights"], help="none | default | a weights name"
    )
    model.add_argument(
        "--layers",
        nargs="+",
        default=[layer_spec_text(MODEL["layers"])],
        help="layer names, or pattern:REGEX, or every:N[:leaves|blocks|all] "
        "(default %(default)s); see --list-layers",
    )
    model.add_argument("--list-layers", action="store_true", help="print layer names and exit")
    model.add_argument(
        "--input-size",
        type=int,
        default=MODEL["input_size"],
        help="crop size (default: the weights' own)",
    )
    model.add_argument(
        "--seed", type=int, default=MODEL["seed"], help="model init, projection and CV seed"
    )
    model.add_argument("--batch-size", type=int, default=MODEL["batch_size"])
    model.add_argument("--feature-dtype", default=MODEL["dtype"], choices=["float32", "float16"])
    model.add_argument(
        "--device",
        default=schema_default("models#features", "device"),
        help="torch device (default: cuda if any)",
    )
    proj = p.add_argument_group("projection")
    proj.add_argument(
        "--n-components",
        type=int,
        default=schema_default("models#projection", "n_components"),
        help="default 4096",
    )
    proj.add_argument(
        "--eps",
        type=float,
        default=schema_default("models#projection", "eps"),
        help="k from the JL bound instead",
    )
    ridge = p.add_argument_group("ridge")
    alphas = ENCODING["alphas"]
    ridge.add_argument(
        "--alphas",
        nargs=3,
        type=float,
        metavar=("LOW", "HIGH", "N"),
        default=[alphas["low"], alphas["high"], alphas["n"]],
        help="log10 range and count of the alpha grid (default %(default)s)",
    )
    ridge.add_argument("--outer-folds", type=int, default=ENCODING["outer_folds"])
    ridge.add_argument("--inner-folds", type=int, default=ENCODING["inner_folds"])
    ridge.add_argument("--backend", default=ENCODING["backend"], choices=["numpy", "torch"])
    ridge.add_argument(
        "--n-splits",
        type=int,
        default=schema_default("data#responses", "n_splits"),
        help="split-half reliability splits",
    )
    p.add_argument("--out", help="output folder (required unless --list-layers)")
    p.add_argument("--keep-features", action="store_true", help="keep DIR/features.zarr")
    p.add_argument("--no-figures", action="store_true")
    p.set_defaults(func=_encode)


def parse_layer_spec(items: list[str]) -> Any:
    """CLI layer arguments -> a select_layers spec (names, pattern or every-N)."""
    if len(items) == 1 and items[0].startswith("pattern:"):
        return {"pattern": items[0][len("pattern:") :]}
    if len(items) == 1 and items[0].startswith("every:"):
        parts = items[0].split(":")
        try:
            every = int(parts[1])
        except (IndexError, ValueError):
            raise CLIError(f"--layers {items[0]!r}: expected every:N[:leaves|blocks|all]") from None
        spec: dict[str, Any] = {"every": every}
        if len(parts) > 2:
            spec["of"] = parts[2]
        return spec
    return list(items)


def _load_npy(path: str | None, what: str) -> np.ndarray | None:
    if path is None:
        return None
    if not os.path.isfile(path):
        raise CLIError(f"{what} file {path} does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise CLIError(f"{what} file {path} is not a readable .npy array: {exc}") from None


def load_user_data(args: argparse.Namespace) -> dict[str, Any]:
    """Images, mean responses (stimulus, unit) and noise ceiling (unit), checked; errors name files."""
    from brainreps.encoding.pipeline import check_responses

    images = _load_npy(args.stimuli, "--stimuli")
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3, 4)):
        raise CLIError(
            f"--stimuli {args.stimuli}: images must be N x H x W or N x H x W x C (C = 1, 3 or 4); "
            f"got shape {images.shape}"
        )
    if images.dtype.kind not in "uf":
        raise CLIError(
            f"--stimuli {args.stimuli}: images must be uint8 or float; got {images.dtype}"
        )
    if images.dtype.kind == "f" and not np.all(np.isfinite(images)):
        raise CLIError(f"--stimuli {args.stimuli}: images hold NaN/inf values")
    n = images.shape[0]
    responses = _load_npy(args.responses, "--responses")
    trials = _load_npy(args.trials, "--trials")
    trial_stim = _load_npy(args.trial_stimulus, "--trial-stimulus")
    if responses is None and trials is None:
        raise CLIError("give --responses RESP.npy, or --trials TRIALS.npy with --trial-stimulus")
    if (trials is None) != (trial_stim is None):
        raise CLIError("--trials and --trial-stimulus go together: give both or neither")
    ceiling = None
    if trials is not None:
        from brainreps.data.responses import (
            by_stimulus,
            noise_ceiling_from_reliability,
            split_half_reliability,
        )

        if trials.ndim != 2:
            raise CLIError(
                f"--trials {args.trials}: expected n_trials x units, got shape {trials.shape}"
            )
        if trial_stim.ndim != 1 or trial_stim.shape[0] != trials.shape[0]:
            raise CLIError(
                f"--trial-stimulus {args.trial_stimulus} has shape {trial_stim.shape}; expected "
                f"({trials.shape[0]},), one stimulus index per row of --trials {args.trials}"
            )
        if trial_stim.dtype.kind not in "iu":
            raise CLIError(f"--trial-stimulus {args.trial_stimulus}: indices must be integers")
        if not np.all(np.isfinite(trials)):
            bad = np.flatnonzero(~np.isfinite(trials).all(axis=1))
            raise CLIError(
                f"--trials {args.trials}: {bad.size} trial row(s) hold NaN/inf (first: {bad[0]})"
            )
        try:
            arranged, shown = by_stimulus(trials.T, trial_stim, n)
        except ValueError as exc:
            raise CLIError(
                f"--trial-stimulus {args.trial_stimulus}: {exc} (--stimuli has {n})"
            ) from None
        if not shown.all():
            missing = np.flatnonzero(~shown)
            raise CLIError(
                f"--trial-stimulus {args.trial_stimulus}: {missing.size} of the {n} images in "
                f"--stimuli were never shown (first: index {missing[0]})"
            )
        try:
            reliability = split_half_reliability(arranged, n_splits=args.n_splits, seed=args.seed)
        except ValueError as exc:
            raise CLIError(f"--trials {args.trials}: {exc}") from None
        ceiling = noise_ceiling_from_reliability(reliability)
        if responses is None:
            responses = np.nanmean(arranged, axis=2).T
    if responses.ndim != 2:
        raise CLIError(
            f"--responses {args.responses}: expected N stimuli x units, got shape {responses.shape}"
        )
    if responses.shape[0] != n:
        raise CLIError(
            f"--responses {args.responses} has {responses.shape[0]} stimuli (rows, shape "
            f"{responses.shape}) but --stimuli {args.stimuli} has {n} images (shape {images.shape})"
        )
    if ceiling is not None and ceiling.shape[0] != responses.shape[1]:
        raise CLIError(
            f"--trials {args.trials} has {ceiling.shape[0]} units but --responses "
            f"{args.responses} has {responses.shape[1]}"
        )
    source = args.responses or args.trials
    units = np.arange(responses.shape[1])
    try:
        check_responses(responses, units, f"--responses {source}")
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if ceiling is None:
        logger.warning("no --trials: noise ceiling unknown, normalized_score is NaN")
        ceiling = np.full(responses.shape[1], np.nan)
    area = _load_npy(args.unit_area, "--unit-area")
    if area is not None and area.shape != (responses.shape[1],):
        raise CLIError(
            f"--unit-area {args.unit_area} has shape {area.shape}; expected ({responses.shape[1]},)"
        )
    return {
        "images": images,
        "responses": np.asarray(responses, dtype=np.float64),
        "noise_ceiling": ceiling,
        "area": area,
    }


def _encode(args: argparse.Namespace) -> int:
    from brainreps.logs import log_to
    from brainreps.models import list_layers, load_model, select_layers

    if args.list_layers:
        model, _ = load_model(
            args.model, weights=args.weights, seed=args.seed, input_size=args.input_size
        )
        for kind in ("blocks", "leaves"):
            print(f"# {kind}")
            print("\n".join(list_layers(model, kind)))
        return 0
    if not args.out:
        raise CLIError("--out DIR is required")
    if args.n_components is not None and args.eps is not None:
        raise CLIError("give --n-components or --eps, not both")
    low, high, n_alphas = args.alphas
    if n_alphas < 1 or n_alphas != int(n_alphas):
        raise CLIError(f"--alphas: N must be a positive integer, got {n_alphas}")
    with log_to(None):
        data = load_user_data(args)
        model, preprocess = load_model(
            args.model, weights=args.weights, seed=args.seed, input_size=args.input_size
        )
        layers = select_layers(model, parse_layer_spec(args.layers))
        return run_encode(args, data, model, preprocess, layers)


def run_encode(args: argparse.Namespace, data: dict[str, Any], model, preprocess, layers) -> int:
    """Features -> projection -> encoding store, CSV and figures under args.out."""
    from brainreps import io
    from brainreps.encoding.pipeline import encode_layers, read_layers, write_results
    from brainreps.features import extract_features
    from brainreps.projection import project_store

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    inputs = [p for p in (args.stimuli, args.responses, args.trials, args.trial_stimulus) if p]
    features_path = out / "features.zarr"
    projection_path = out / "projection.zarr"
    logger.info("%s: %d layers: %s", args.model, len(layers), ", ".join(layers))
    extract_features(
        model,
        preprocess,
        data["images"],
        layers,
        features_path,
        batch_size=args.batch_size,
        dtype=args.feature_dtype,
        device=args.device,
        params={"model": args.model, "weights": args.weights, "layers": layers},
        inputs=[args.stimuli],
        include_pixels=False,
        include_output=False,
    )
    project_store(
        features_path,
        projection_path,
        n_components=args.n_components,
        eps=args.eps,
        seed=args.seed,
        device=args.device,
        inputs=[str(features_path)],
    )
    if not args.keep_features:
        io._remove(features_path)
    components = read_layers(projection_path)
    for name, comps in components.items():
        if comps.shape[0] != data["responses"].shape[0]:
            raise CLIError(
                f"layer {name}: {comps.shape[0]} stimuli in the features but "
                f"{data['responses'].shape[0]} in the responses"
            )
    from brainreps.config import fill_defaults

    settings = fill_defaults(
        "encoding",
        {
            "alphas": {"low": args.alphas[0], "high": args.alphas[1], "n": int(args.alphas[2])},
            "outer_folds": args.outer_folds,
            "inner_folds": args.inner_folds,
            "backend": args.backend,
            "device": args.device if args.backend == "torch" else None,
            "seed": args.seed,
        },
        "brainreps encode options",
    )
    n_units = data["responses"].shape[1]
    unit_coords = {"area": data["area"]} if data["area"] is not None else None
    ds = encode_layers(
        components,
        data["responses"],
        data["noise_ceiling"],
        settings,
        unit_coords=unit_coords,
        unit_ids=np.arange(n_units),
    )
    write_results(
        ds,
        out / "encoding.zarr",
        out / "encoding.csv",
        params={
            **settings,
            "model": args.model,
            "weights": args.weights,
            "layers": layers,
            "input_size": args.input_size,
        },
        inputs=inputs,
        labels={"model": args.model},
    )
    if not args.no_figures:
        from brainreps.plots import figure_settings, save_figure
        from brainreps.plots.registry import FIGURES

        settings = figure_settings({})
        for kind, figure in FIGURES["encoding"].items():
            fig = figure.draw({"encoding": ds}, settings, f"{args.model} vs {source_name(args)}")
            save_figure(fig, out / "figures" / f"encoding_{kind}.png", settings)
    best = ds["r"].median("unit")
    for name, value in zip(ds["layer"].values, best.values, strict=True):
        print(f"{name}\tmedian r {value:.3f}")
    print(f"wrote {out / 'encoding.zarr'} and {out / 'encoding.csv'}")
    return 0
