"""ImageNet-style stimulus sets: N images per class from a folder, resized, as a stimuli Dataset.

Reads `root/<class>/<image>` folders: a local ImageNet copy, or an extracted Imagenette /
Imagewoof (`<top>/train|val/<wnid>/*.JPEG`) or ImageNetV2 (`<top>/<class index>/<hash>.jpeg`)
archive. Sampling is deterministic: files sorted by name, then a choice seeded by
(seed, class name), so one class's sample does not depend on which other classes are chosen.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr
from PIL import Image, UnidentifiedImageError

from brainreps.logs import progress

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm")
SPLIT_NAMES = ("train", "val", "validation", "test")


class ImageFolderError(ValueError):
    """An image folder is missing, holds no images, or lacks a requested class."""


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "__MACOSX"))


def _natural_key(name: str) -> tuple:
    """Sort '2' before '10' (ImageNetV2 class folders), other names alphabetically."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", name))


def _subdirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and _visible(d)), key=lambda d: d.name)


def _image_files(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (scandir: no stat per file)."""
    with os.scandir(folder) as entries:
        names = [
            e.name
            for e in entries
            if e.name.lower().endswith(IMAGE_SUFFIXES)
            and not e.name.startswith((".", "__MACOSX"))
            and e.is_file()
        ]
    return [folder / n for n in sorted(names)]


def _has_images(folder: Path) -> bool:
    return bool(_image_files(folder))


def find_class_root(folder: str | os.PathLike, subdir: str | None = None) -> Path:
    """The folder whose subfolders are the classes, descending through single top folders."""
    top = Path(folder).expanduser()
    if not top.is_dir():
        raise ImageFolderError(f"image folder {top} does not exist or is not a folder")
    root = top
    if subdir:
        root = top / subdir
        if not root.is_dir():
            have = ", ".join(d.name for d in _subdirs(top)) or "no subfolders"
            raise ImageFolderError(
                f"subdir {subdir!r} is not a folder inside {top} (it has: {have})"
            )
    while True:
        dirs = _subdirs(root)
        if any(_has_images(d) for d in dirs):
            return root
        if len(dirs) == 1:
            root = dirs[0]
            continue
        splits = [d.name for d in dirs if d.name.lower() in SPLIT_NAMES]
        if splits:
            rel = root.relative_to(top)
            example = (rel / splits[-1]).as_posix() if rel.parts else splits[-1]
            raise ImageFolderError(
                f"image folder {root} holds the splits {splits}; choose one with subdir "
                f"(e.g. subdir: {example})"
            )
        flat = len(_image_files(root))
        hint = (
            f"; it holds {flat} images directly, but they must be in one subfolder per class"
            if flat
            else ""
        )
        raise ImageFolderError(
            f"no images found in image folder {root}: expected <class>/<image> with a suffix in "
            f"{', '.join(IMAGE_SUFFIXES)}{hint}"
        )


def list_class_images(class_root: str | os.PathLike) -> dict[str, list[Path]]:
    """Class name -> its image files sorted by name, for every class folder that has images."""
    class_root = Path(class_root)
    classes: dict[str, list[Path]] = {}
    for d in sorted(_subdirs(class_root), key=lambda d: _natural_key(d.name)):
        files = _image_files(d)
        if files:
            classes[d.name] = files
    if not classes:
        raise ImageFolderError(f"no images found in image folder {class_root}")
    return classes


def _class_rng(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def sample_images(
    class_images: dict[str, list[Path]],
    n_per_class: int,
    *,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    max_classes: int | None = None,
    where: str | os.PathLike = "image folder",
) -> list[tuple[str, Path]]:
    """(class, file) pairs: `n_per_class` files of each chosen class, chosen with a seed.

    `classes` picks classes by name (in that order); otherwise all classes, or `max_classes`
    of them chosen with the seed (kept in sorted order). Files within a class stay sorted.
    """
    if n_per_class < 1:
        raise ValueError(f"n_per_class must be >= 1, got {n_per_class}")
    if classes:
        missing = [c for c in classes if c not in class_images]
        if missing:
            raise ImageFolderError(
                f"classes {missing} have no images in {where} "
                f"(it has {len(class_images)} classes, e.g. {list(class_images)[:5]})"
            )
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes lists a class twice: {list(classes)}")
        names = list(classes)
    else:
        names = list(class_images)
    if max_classes is not None and max_classes < len(names):
        if max_classes < 1:
            raise ValueError(f"max_classes must be >= 1, got {max_classes}")
        if classes:
            names = names[:max_classes]
        else:
            keep = np.random.default_rng(seed).choice(len(names), max_classes, replace=False)
            names = [names[i] for i in sorted(keep)]
    chosen: list[tuple[str, Path]] = []
    for name in names:
        files = class_images[name]
        if len(files) < n_per_class:
            raise ImageFolderError(
                f"class {name!r} in {where} has {len(files)} images, fewer than "
                f"n_per_class={n_per_class}"
            )
        idx = np.sort(_class_rng(seed, name).choice(len(files), n_per_class, replace=False))
        chosen.extend((name, files[i]) for i in idx)
    return chosen


def resize_and_crop(image: Image.Image, size: int) -> Image.Image:
    """Resize so the shorter side is `size` (bilinear, antialiased), then crop the centre square.

    The same arithmetic as torchvision's Resize(size) followed by CenterCrop(size).
    """
    w, h = image.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left = int(round((new_w - size) / 2.0))
    top = int(round((new_h - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def load_image(path: str | os.PathLike, size: int) -> np.ndarray:
    """An image file as a (size, size, 3) uint8 RGB array, resized and centre-cropped."""
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ImageFolderError(f"cannot read image {path}: {exc}") from exc
    return np.asarray(resize_and_crop(rgb, size), dtype=np.uint8)


def _stimulus_ids(chosen: list[tuple[str, Path]]) -> list[str]:
    stems = [f"{c}/{p.stem}" for c, p in chosen]
    counts: dict[str, int] = {}
    for s in stems:
        counts[s] = counts.get(s, 0) + 1
    # two files of a class with the same stem (a.jpg, a.png): keep the suffix in their ids
    return [
        f"{c}/{p.name}" if counts[s] > 1 else s for s, (c, p) in zip(stems, chosen, strict=True)
    ]


def imagenet_stimuli(
    folder: str | os.PathLike,
    *,
    n_per_class: int,
    size: int = 224,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    max_classes: int | None = None,
    subdir: str | None = None,
    origin: str | None = None,
) -> xr.Dataset:
    """A stimuli Dataset: `n_per_class` images per class from an ImageNet-style folder.

    pixels (stimulus, y, x, channel) uint8 RGB of `size` x `size`; coords stimulus
    (`<class>/<file stem>`), source (`imagenet:<path below the class root>`), label (class
    folder name: a wnid for ImageNet/Imagenette, a class index for ImageNetV2).
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    class_root = find_class_root(folder, subdir)
    classes = [str(c) for c in classes] if classes else None
    class_images = list_class_images(class_root)
    chosen = sample_images(
        class_images,
        n_per_class,
        seed=seed,
        classes=classes,
        max_classes=max_classes,
        where=class_root,
    )
    logger.info(
        "%d images: %d per class from %d of %d classes in %s",
        len(chosen),
        n_per_class,
        len(chosen) // n_per_class,
        len(class_images),
        class_root,
    )
    pixels = np.empty((len(chosen), size, size, 3), dtype=np.uint8)
    for i, (_, path) in enumerate(progress(chosen, desc="loading images")):
        pixels[i] = load_image(path, size)
    ids = _stimulus_ids(chosen)
    sources = [f"imagenet:{p.relative_to(class_root).as_posix()}" for _, p in chosen]
    labels = [c for c, _ in chosen]
    return xr.Dataset(
        {"pixels": (("stimulus", "y", "x", "channel"), pixels)},
        coords={
            "stimulus": np.array(ids, dtype=str),
            "source": ("stimulus", np.array(sources, dtype=str)),
            "label": ("stimulus", np.array(labels, dtype=str)),
            "channel": np.array(["R", "G", "B"]),
        },
        attrs={
            "origin": str(origin if origin is not None else Path(folder)),
            "class_root": str(class_root),
        },
    )
