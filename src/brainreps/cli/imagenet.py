"""Commands `brainreps download` (fetch, verify, extract) and `brainreps imagenet` (a stimuli store)."""

from __future__ import annotations

import argparse
from pathlib import Path

from brainreps.cli import CLIError
from brainreps.config import definition_defaults

IMAGENET = definition_defaults("imagenet#imagenet_stimuli")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the download and imagenet subcommands."""
    p = sub.add_parser(
        "download",
        help="download a file by URL (resumed, retried, checksum-verified), optionally unpack it",
    )
    p.add_argument("url", help="http(s):// or file:// URL")
    p.add_argument("--out", required=True, help="destination file")
    p.add_argument("--sha256", help="expected sha256 of the file")
    p.add_argument("--md5", help="expected md5 of the file")
    p.add_argument("--retries", type=int, default=3, help="retries after a failed attempt")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per network operation")
    p.add_argument(
        "--extract", metavar="DIR", help="unpack the archive (.tar/.tar.gz/.tgz/.zip) into DIR"
    )
    p.set_defaults(func=_download)

    p = sub.add_parser(
        "imagenet",
        help="sample N images per class from an ImageNet-style folder into a stimuli store",
    )
    p.add_argument("--folder", required=True, help="folder of class folders (<class>/<image>)")
    p.add_argument("--out", required=True, help="stimuli store to write (.zarr)")
    p.add_argument("--n-per-class", type=int, required=True, help="images per class")
    p.add_argument(
        "--size",
        type=int,
        default=IMAGENET["size"],
        help="square side in pixels (default %(default)s)",
    )
    p.add_argument(
        "--seed", type=int, default=IMAGENET["seed"], help="sampling seed (default %(default)s)"
    )
    p.add_argument("--classes", nargs="+", help="class folder names to use (default: all)")
    p.add_argument(
        "--max-classes", type=int, help="at most this many classes, chosen with the seed"
    )
    p.add_argument(
        "--subdir", help="folder inside --folder holding the classes, e.g. imagenette2-160/val"
    )
    p.set_defaults(func=_imagenet)


def _download(args: argparse.Namespace) -> int:
    from brainreps.download import DownloadError, extract_archive, fetch
    from brainreps.logs import log_to

    with log_to(None):
        try:
            path = fetch(
                args.url,
                args.out,
                sha256=args.sha256,
                md5=args.md5,
                retries=args.retries,
                timeout=args.timeout,
            )
            if args.extract:
                extract_archive(path, args.extract)
        except DownloadError as exc:
            raise CLIError(str(exc)) from exc
    print(path if not args.extract else Path(args.extract))
    return 0


def _imagenet(args: argparse.Namespace) -> int:
    from brainreps.data.imagenet import imagenet_stimuli
    from brainreps.io import write_store
    from brainreps.logs import log_to

    params = {
        "source": "imagenet",
        "folder": str(args.folder),
        "n_per_class": args.n_per_class,
        "size": args.size,
        "seed": args.seed,
        "classes": args.classes,
        "max_classes": args.max_classes,
        "subdir": args.subdir,
    }
    params = {k: v for k, v in params.items() if v is not None}
    with log_to(None):
        stimuli = imagenet_stimuli(
            args.folder,
            n_per_class=args.n_per_class,
            size=args.size,
            seed=args.seed,
            classes=args.classes,
            max_classes=args.max_classes,
            subdir=args.subdir,
        )
        write_store(stimuli, args.out, kind="stimuli", params=params, inputs=[args.folder])
    print(
        f"{args.out}: {stimuli.sizes['stimulus']} images of {len(set(stimuli['label'].values))} classes"
    )
    return 0
