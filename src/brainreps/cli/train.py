r"""`brainreps train`: train a network on a labelled stimuli store or a folder of class folders.

    brainreps train --stimuli photographs.zarr --arch brainreps/convnet --epochs 0 1 5 10 \
        --out runs/convnet
    brainreps train --stimuli my_images/ --n-per-class 50 --size 64 --arch resnet18 --out run

Writes OUT/checkpoints/epoch_NNNN.pt (one per saved epoch, epoch 0 = untrained), OUT/accuracy.csv
and OUT/accuracy.zarr (held-out and training-set top-1/top-5 per checkpoint) and
OUT/history.csv (loss per epoch). A run that is stopped resumes from its last checkpoint in
OUT/.work when the same command is run again, and ends with the same weights. A checkpoint is
then a model: `models: {mine: {arch: ..., weights_file: OUT/checkpoints/epoch_0010.pt}}`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from brainreps.cli import CLIError
from brainreps.config import definition_defaults

RUN = definition_defaults("training#run")
IMAGENET = definition_defaults("imagenet#imagenet_stimuli")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    p = sub.add_parser(
        "train",
        help="train a network on a labelled stimuli store or image folder; checkpoints + accuracy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument(
        "--stimuli",
        required=True,
        help="labelled stimuli store (.zarr) or a folder <class>/<image>",
    )
    data.add_argument("--n-per-class", type=int, help="images per class of a folder (required)")
    data.add_argument("--size", type=int, default=IMAGENET["size"], help="px, images of a folder")
    data.add_argument("--test-fraction", type=float, default=RUN["test_fraction"])
    data.add_argument("--labels", choices=["given", "shuffled"], default=RUN["labels"])
    net = p.add_argument_group("network and recipe")
    net.add_argument("--arch", required=True, help="torchvision name, timm/NAME, brainreps/convnet")
    net.add_argument("--widths", type=int, nargs="+", help="block widths of brainreps/convnet")
    net.add_argument(
        "--epochs", type=int, nargs="+", default=RUN["epochs"], help="epochs saved (increasing)"
    )
    net.add_argument("--batch-size", type=int, default=RUN["batch_size"])
    net.add_argument("--optimizer", choices=["sgd", "adamw"], default=RUN["optimizer"]["name"])
    net.add_argument("--learning-rate", type=float, default=RUN["optimizer"]["learning_rate"])
    net.add_argument(
        "--crop-padding", type=int, default=RUN["augmentation"]["crop_padding"], help="px"
    )
    net.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    net.add_argument("--input-size", type=int, default=RUN["input_size"])
    net.add_argument("--seed", type=int, default=RUN["seed"])
    net.add_argument("--threads", type=int, default=RUN["threads"])
    net.add_argument("--device", default=RUN["device"])
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=_train)


def _stimuli(args: argparse.Namespace):
    from brainreps import io

    path = Path(args.stimuli)
    if not path.exists():
        raise CLIError(f"--stimuli {path} does not exist")
    if path.suffix == ".zarr":
        return io.read_store(path, "stimuli", load=True), path.stem
    if not path.is_dir():
        raise CLIError(f"--stimuli {path}: give a stimuli store (.zarr) or a folder of classes")
    if not args.n_per_class:
        raise CLIError("--n-per-class is required with a folder of class folders")
    from brainreps.data.imagenet import imagenet_stimuli

    return imagenet_stimuli(path, n_per_class=args.n_per_class, size=args.size), path.name


def _train(args: argparse.Namespace) -> int:
    from brainreps.config import fill_defaults
    from brainreps.logs import log_to
    from brainreps.training.data import labelled_split
    from brainreps.training.loop import evaluate_checkpoints, train_run
    from brainreps.training.results import checkpoint_files, finish_run, write_accuracy

    out = Path(args.out)
    settings = {
        "arch": args.arch,
        "stimuli": "cli",
        "labels": args.labels,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": {"name": args.optimizer, "learning_rate": args.learning_rate},
        "augmentation": {"crop_padding": args.crop_padding, "flip": not args.no_flip},
        "input_size": args.input_size,
        "test_fraction": args.test_fraction,
        "seed": args.seed,
        "threads": args.threads,
        "device": args.device,
    }
    if args.widths:
        settings["arch_params"] = {"widths": args.widths}
    settings = fill_defaults("training#run", settings, "brainreps train options")
    with log_to(None):
        from brainreps.models import resolve_arch

        resolve_arch(args.arch)  # an unknown architecture fails before any image is read
        stimuli, name = _stimuli(args)
        settings["stimuli"] = name
        split = labelled_split(stimuli, name, settings["test_fraction"], settings["seed"])
        work = train_run(split, settings, out / ".work", out.name)
        finish_run(work, out / "checkpoints", out / "history.csv")
        files = checkpoint_files(out / "checkpoints")
        evaluations = evaluate_checkpoints(split, settings, files, out.name)
        write_accuracy(
            evaluations, files, out / "accuracy.zarr", out / "accuracy.csv", out.name, name,
            settings,
        )  # fmt: skip
    import pandas as pd

    table = pd.read_csv(out / "accuracy.csv")
    test = table[table["split"] == "test"]
    for _, row in test.iterrows():
        print(
            f"epoch {int(row['epoch'])}\theld-out top-1 {row['top1']:.3f}\ttop-5 {row['top5']:.3f}"
        )
    print(f"wrote {out / 'checkpoints'} and {out / 'accuracy.csv'}")
    return 0
