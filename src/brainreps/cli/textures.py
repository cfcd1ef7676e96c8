"""The texture command: Gram matrices of a network's layers on labelled images, classified."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainreps.config import definition_defaults

MODEL = definition_defaults("models#model")
TEXTURES = definition_defaults("textures#textures")
FEATURES = definition_defaults("models#features")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `textures` subcommand."""
    p = sub.add_parser(
        "textures",
        help="per layer, how well Gram matrices of feature maps tell labelled textures apart",
    )
    p.add_argument("--stimuli", required=True, help="a labelled stimuli store (.zarr)")
    p.add_argument("--model", required=True, help="torchvision model name, timm/NAME, ...")
    p.add_argument("--weights", default=MODEL["weights"], help="none | default | a weights name")
    p.add_argument("--layers", nargs="+", default=None, help="module names (default: blocks)")
    p.add_argument("--pattern", default=None, help="a regex on module names instead")
    p.add_argument("--branches", nargs="+", default=MODEL["branches"],
                   help="inception modules whose branches become layers")  # fmt: skip
    p.add_argument("--input-size", type=int, default=MODEL["input_size"], help="input side, px")
    p.add_argument("--init-seed", type=int, default=MODEL["seed"], help="seed of a random init")
    p.add_argument("--n-folds", type=int, default=TEXTURES["n_folds"])
    p.add_argument("--min-positions", type=int, default=TEXTURES["min_positions"])
    p.add_argument("--max-channels", type=int, default=TEXTURES["max_channels"])
    p.add_argument("--batch-size", type=int, default=TEXTURES["batch_size"])
    p.add_argument("--seed", type=int, default=TEXTURES["seed"], help="seed of the folds")
    p.add_argument("--device", default=FEATURES["device"])
    p.add_argument("--out", required=True, help="folder for textures.zarr and textures.csv")
    p.set_defaults(func=_textures)


def _textures(args: argparse.Namespace) -> int:
    from brainreps.similarity.textures import texture_analysis

    layers = MODEL["layers"]
    if args.layers:
        layers = list(args.layers)
    elif args.pattern:
        layers = {"pattern": args.pattern}
    spec = {
        "arch": args.model,
        "weights": args.weights,
        "layers": layers,
        "branches": list(args.branches),
        "input_size": args.input_size,
        "seed": args.init_seed,
    }
    settings = {
        "n_folds": args.n_folds,
        "min_positions": args.min_positions,
        "max_channels": args.max_channels,
        "batch_size": args.batch_size,
        "seed": args.seed,
    }
    out = Path(args.out)
    ds = texture_analysis(
        args.stimuli,
        spec,
        settings,
        out / "textures.zarr",
        out / "textures.csv",
        name=Path(args.stimuli).stem,
        device=args.device,
    )
    for layer, acc in zip(ds["layer"].values, ds["accuracy"].values, strict=True):
        print(f"{layer}\t{acc:.3f}")
    print(f"best layer: {ds.attrs['best_layer']} ({ds.attrs['evaluation']})")
    return 0
