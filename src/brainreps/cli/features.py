"""Model commands: list a network's layers, extract features, project them."""

from __future__ import annotations

import argparse
import json

from brainreps.cli import CLIError
from brainreps.config import definition_defaults

MODEL = definition_defaults("models#model")
FEATURES = definition_defaults("models#features")
PROJECTION = definition_defaults("models#projection")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `layers`, `features` and `project` subcommands."""
    p = sub.add_parser("layers", help="list a network's layer (module) names in forward order")
    p.add_argument("model", help="torchvision model name, or timm/NAME")
    p.add_argument("--weights", default=MODEL["weights"], help="none | default | a weights name")
    p.add_argument("--input-size", type=int, default=MODEL["input_size"], help="input side, px")
    p.add_argument("--kind", choices=["all", "leaves", "blocks"], default="all")
    p.add_argument("--branches", nargs="+", default=MODEL["branches"],
                   help="inception modules whose branches become layers (MODULE.BRANCH)")  # fmt: skip
    p.add_argument(
        "--select", default=None, help="a layer spec as JSON to try, e.g. '{\"every\": 2}'"
    )
    p.set_defaults(func=_layers)

    p = sub.add_parser("features", help="extract layer activations of a network on images")
    p.add_argument("--stimuli", required=True, help="stimuli store (.zarr) or images (.npy)")
    p.add_argument("--model", required=True, help="torchvision model name, or timm/NAME")
    p.add_argument("--weights", default=MODEL["weights"], help="none | default | a weights name")
    _add_layer_args(p)
    p.add_argument("--input-size", type=int, default=MODEL["input_size"])
    p.add_argument("--batch-size", type=int, default=MODEL["batch_size"])
    p.add_argument("--dtype", choices=["float32", "float16"], default=MODEL["dtype"])
    p.add_argument("--seed", type=int, default=MODEL["seed"], help="seed of the random init")
    p.add_argument(
        "--device", default=FEATURES["device"], help="cpu, cuda, ... (default: cuda if available)"
    )
    p.add_argument("--out", required=True, help="features store to write (.zarr)")
    p.set_defaults(func=_features)

    p = sub.add_parser("project", help="sparse random projection of a features store")
    p.add_argument("features", help="features store (.zarr)")
    p.add_argument("--out", required=True, help="projection store to write (.zarr)")
    k = p.add_mutually_exclusive_group()
    k.add_argument(
        "--n-components", type=int, default=PROJECTION["n_components"], help="k (default 4096)"
    )
    k.add_argument(
        "--eps", type=float, default=PROJECTION["eps"], help="k from the JL bound for this eps"
    )
    p.add_argument(
        "--density", default=PROJECTION["density"], help="auto (1/sqrt(n_features)) or a number"
    )
    p.add_argument("--seed", type=int, default=PROJECTION["seed"])
    p.add_argument("--layers", nargs="+", default=None, help="groups to project (default all)")
    p.add_argument(
        "--small-layers", choices=["identity", "project"], default=PROJECTION["small_layers"]
    )
    p.add_argument("--device", default=FEATURES["device"])
    p.set_defaults(func=_project)


def _add_layer_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--layers", nargs="+", help="exact module names")
    g.add_argument("--pattern", help="regex on module names")
    g.add_argument("--every", type=int, help="every Nth module (see --of)")
    p.add_argument("--of", choices=["all", "leaves", "blocks"], default=None)


def layer_spec(args: argparse.Namespace):
    """The layer spec of --layers / --pattern / --every [--of]."""
    if args.layers:
        return list(args.layers)
    if args.pattern is not None:
        return {"pattern": args.pattern, "of": args.of or "all"}
    return {"every": args.every, "of": args.of or "leaves"}


def _layers(args: argparse.Namespace) -> int:
    from brainreps import branches
    from brainreps.models import list_layers, load_model, select_layers

    model, _ = load_model(args.model, args.weights, input_size=args.input_size)
    branches.expose(model, args.branches)
    if args.select:
        try:
            spec = json.loads(args.select)
        except json.JSONDecodeError:
            spec = [args.select]
        names = select_layers(model, spec)
    else:
        names = list_layers(model, args.kind)
    modules = dict(model.named_modules())
    for name in names:
        print(f"{name}\t{type(modules[name]).__name__}")
    return 0


def _features(args: argparse.Namespace) -> int:
    from brainreps.features import extract_model_features

    spec = {
        "arch": args.model,
        "weights": args.weights,
        "layers": layer_spec(args),
        "input_size": args.input_size,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "seed": args.seed,
    }
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be positive; got {args.batch_size}")
    out = extract_model_features(args.stimuli, args.out, spec, device=args.device)
    print(out)
    return 0


def _project(args: argparse.Namespace) -> int:
    from brainreps.projection import project_store

    density = args.density if args.density == "auto" else float(args.density)
    out = project_store(
        args.features,
        args.out,
        n_components=args.n_components,
        eps=args.eps,
        density=density,
        seed=args.seed,
        layers=args.layers,
        small_layers=args.small_layers,
        device=args.device,
    )
    print(out)
    return 0
