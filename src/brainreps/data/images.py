"""User images as a stimulus set: an array file (`source: npy`) or a folder (`source: folder`).

Both give the `stimuli` Dataset every other source gives (uint8 `pixels`, (stimulus, y, x) or
(stimulus, y, x, channel) with 3 channels; coords stimulus id, source, label):

- **npy**: a `.npy` of N x H x W or N x H x W x C (C = 1 or 3), or one array of an `.npz`.
  Stimulus i is row i, with id `"i"`. Read with `allow_pickle=False`: an array of Python
  objects is refused, never unpickled.
- **folder**: every image file under the folder (recursively), in sorted order of their
  relative paths; a file's id is its relative path without the extension. All images must
  have the same height and width (nothing is resized behind the user's back).

Decisions:
- values: uint8 as they are; other integers must lie in 0-255; floats in [0, 1] are scaled
  by 255, floats up to 255 are rounded; NaN or anything outside is refused.
- the blank: the images never hold it implicitly. `blank: first | last` adds a uniform grey
  image (`blank_value`, default 127, the mid-grey a display shows between scenes) with id and
  label `"blank"`, so that matrices over "scenes + blank" (the Allen natural scenes RDMs)
  line up with the images by id.
- labels: optional, from a file (one per line in stimulus order, or a CSV with columns
  stimulus,label), or for a folder the name of each image's folder (`labels: folders`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
BLANK = "blank"  # the id brainreps.data.rdms gives the Allen matrices' blank row too


class ImageInputError(ValueError):
    """User images cannot make a stimulus set; the message names the file."""


def read_array(path: str | os.PathLike, key: str | None = None) -> np.ndarray:
    """An array from a .npy, or one array (`key`, or the only one) of an .npz; never unpickled."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImageInputError(f"image array file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:  # a .npy of Python objects
        raise ImageInputError(
            f"{path}: holds Python objects, which brainreps never unpickles; save the images "
            f"as a numeric array ({exc})"
        ) from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise ImageInputError(f"{path}: not a readable .npy/.npz file ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        if key is not None:
            raise ImageInputError(f"{path}: a .npy holds one array; `key` ({key!r}) is for .npz")
        return loaded
    with loaded:
        names = list(loaded.files)
        if key is None:
            if len(names) != 1:
                raise ImageInputError(f"{path}: holds arrays {names}; name one with `key`")
            key = names[0]
        if key not in names:
            raise ImageInputError(f"{path}: has no array {key!r} (it has {names})")
        try:
            return loaded[key]
        except ValueError as exc:
            raise ImageInputError(
                f"{path}: array {key!r} holds Python objects, which brainreps never unpickles"
            ) from exc


def to_uint8(values: np.ndarray, where: str) -> np.ndarray:
    """Pixel values as uint8 (see the module's Decisions)."""
    arr = np.asarray(values)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "b" or arr.dtype.kind not in "fiu":
        raise ImageInputError(f"{where}: dtype {arr.dtype} is not a numeric image type")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise ImageInputError(f"{where}: holds NaN or infinite values")
        if arr.size and arr.min() >= 0 and arr.max() <= 1:
            arr = arr * 255.0
        arr = np.rint(arr)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ImageInputError(
            f"{where}: values {arr.min():g} to {arr.max():g} are outside 0-255 (and not floats "
            "in 0-1)"
        )
    return arr.astype(np.uint8)


def _shape_images(arr: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) or (N, H, W, 3), a single channel squeezed out."""
    if arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 4 and arr.shape[-1] == 4:
        raise ImageInputError(
            f"{where}: 4 channels (RGBA?); give N x H x W x 3 (drop the alpha channel)"
        )
    if not (arr.ndim == 3 or (arr.ndim == 4 and arr.shape[-1] == 3)):
        raise ImageInputError(
            f"{where}: shape {arr.shape} is not N x H x W or N x H x W x C (C = 1 or 3)"
        )
    if arr.shape[0] == 0:
        raise ImageInputError(f"{where}: holds no images")
    return arr


def read_labels(path: str | os.PathLike, ids: Sequence[str]) -> list[str]:
    """One label per stimulus from a text file (one per line) or a CSV (stimulus,label)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ImageInputError(f"labels file {path} does not exist")
    text = path.read_text()
    lines = text.splitlines()
    if lines and [c.strip() for c in lines[0].split(",")] == ["stimulus", "label"]:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        by_id = dict(zip(table["stimulus"], table["label"], strict=True))
        missing = [s for s in ids if s not in by_id]
        if missing:
            raise ImageInputError(
                f"{path}: no label for {len(missing)} stimuli (e.g. {missing[:3]})"
            )
        return [by_id[s] for s in ids]
    labels = [line.strip() for line in lines if line.strip() != ""]
    if len(labels) != len(ids):
        raise ImageInputError(
            f"{path}: {len(labels)} labels for {len(ids)} images (one label per line)"
        )
    return labels


def with_blank(
    pixels: np.ndarray,
    ids: list[str],
    sources: list[str],
    labels: list[str],
    blank: str,
    value: int,
) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """The images with a uniform grey image added first or last (`blank`), or as they are."""
    if blank == "none":
        return pixels, ids, sources, labels
    if blank not in ("first", "last"):
        raise ValueError(f"blank must be none, first or last, not {blank!r}")
    if BLANK in ids:
        raise ImageInputError(f"a stimulus is already called {BLANK!r}; cannot add the blank")
    grey = np.full((1, *pixels.shape[1:]), int(value), dtype=np.uint8)
    if blank == "first":
        return (
            np.concatenate([grey, pixels]),
            [BLANK, *ids],
            [f"blank:{value}", *sources],
            [BLANK, *labels],
        )
    return (
        np.concatenate([pixels, grey]),
        [*ids, BLANK],
        [*sources, f"blank:{value}"],
        [*labels, BLANK],
    )


def stimuli_dataset(
    pixels: np.ndarray, ids: list[str], sources: list[str], labels: list[str], description: str
) -> xr.Dataset:
    dims = ("stimulus", "y", "x") if pixels.ndim == 3 else ("stimulus", "y", "x", "channel")
    return xr.Dataset(
        {"pixels": (dims, pixels)},
        coords={"stimulus": ids, "source": ("stimulus", sources), "label": ("stimulus", labels)},
        attrs={"description": description},
    )


def npy_stimuli(
    path: str | os.PathLike,
    *,
    key: str | None,
    labels: str | os.PathLike | None,
    blank: str,
    blank_value: int,
) -> xr.Dataset:
    """The `stimuli` Dataset of an image array file (settings: the config's npy_stimuli)."""
    path = Path(path).expanduser()
    where = f"{path}" + (f" (array {key!r})" if key else "")
    pixels = _shape_images(to_uint8(read_array(path, key), where), where)
    ids = [str(i) for i in range(pixels.shape[0])]
    sources = [f"npy:{path.name}:{i}" for i in range(pixels.shape[0])]
    names = read_labels(labels, ids) if labels else [""] * len(ids)
    parts = with_blank(pixels, ids, sources, names, blank, blank_value)
    return stimuli_dataset(*parts, description=f"images of {path}")


def image_files(folder: str | os.PathLike) -> list[Path]:
    """Every image file under `folder`, sorted by relative path; an error when there is none."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ImageInputError(f"image folder {root} does not exist or is not a folder")
    files = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    if not files:
        raise ImageInputError(
            f"image folder {root} holds no image files ({', '.join(IMAGE_EXTENSIONS)})"
        )
    return files


def read_image(path: Path) -> np.ndarray:
    """One image file as uint8 (H, W) or (H, W, 3); palette/alpha images converted."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode in ("L", "I;16", "I", "F", "1"):
                arr = np.asarray(image.convert("F") if image.mode != "L" else image)
                if image.mode == "1":
                    arr = arr * 255.0
                elif image.mode in ("I;16", "I"):
                    arr = arr / max(float(arr.max()), 1.0) * 255.0
            else:
                arr = np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError) as exc:
        raise ImageInputError(f"{path}: not a readable image ({exc})") from exc
    return to_uint8(arr, str(path))


def folder_stimuli(
    folder: str | os.PathLike,
    *,
    labels: str | os.PathLike | None,
    color: str,
    blank: str,
    blank_value: int,
) -> xr.Dataset:
    """The `stimuli` Dataset of a folder of images (settings: the config's folder_stimuli)."""
    root = Path(folder).expanduser()
    files = image_files(root)
    images = [read_image(p) for p in files]
    first = images[0].shape[:2]
    for path, image in zip(files, images, strict=True):
        if image.shape[:2] != first:
            raise ImageInputError(
                f"images of mixed sizes in {root}: {files[0].relative_to(root)} is "
                f"{first[0]} x {first[1]} px, {path.relative_to(root)} is "
                f"{image.shape[0]} x {image.shape[1]} px; resize them to one size first"
            )
    gray = all(image.ndim == 2 for image in images)
    if color not in ("auto", "gray", "rgb"):
        raise ValueError(f"color must be auto, gray or rgb, not {color!r}")
    if color == "gray" or (color == "auto" and gray):
        images = [_to_gray(image) for image in images]
    else:
        images = [np.repeat(i[..., None], 3, axis=2) if i.ndim == 2 else i for i in images]
    pixels = np.stack(images)
    rel = [p.relative_to(root) for p in files]
    ids = [r.with_suffix("").as_posix() for r in rel]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ImageInputError(f"{root}: two images share the id {dup!r} (same name, two formats)")
    sources = [f"folder:{r.as_posix()}" for r in rel]
    if labels == "folders":
        names = [r.parent.as_posix() if r.parent != Path(".") else "" for r in rel]
    elif labels:
        names = read_labels(labels, ids)
    else:
        names = [""] * len(ids)
    parts = with_blank(pixels, ids, sources, names, blank, blank_value)
    return stimuli_dataset(*parts, description=f"images under {root}")


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return image
    weights = np.array([0.2125, 0.7154, 0.0721])  # ITU-R 709, as skimage.color.rgb2gray
    return np.clip(np.rint(image.astype(np.float64) @ weights), 0, 255).astype(np.uint8)


def user_stimuli(settings: dict) -> xr.Dataset:
    """The stimuli of a config entry with source npy or folder (defaults filled in)."""
    common = {"blank": settings["blank"], "blank_value": settings["blank_value"]}
    if settings["source"] == "npy":
        return npy_stimuli(
            settings["path"], key=settings["key"], labels=settings["labels"], **common
        )
    if settings["source"] == "folder":
        return folder_stimuli(
            settings["path"], labels=settings["labels"], color=settings["color"], **common
        )
    raise ValueError(f"source must be npy or folder, not {settings['source']!r}")
