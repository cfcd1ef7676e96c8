"""A labelled image set made offline: which photograph does a small grayscale crop come from?

The class of a crop is the photograph it was cut from: the twelve photographs inside the
scikit-image wheel and the two inside scikit-learn's (14 classes, chance 1/14). Each photograph
is split into regions before any crop is drawn: one quadrant, chosen per photograph with the
seed, is the test region, the other three the training region. A training crop lies wholly
outside the test quadrant and a test crop wholly inside it, so no test pixel was ever seen in
training: the task is to recognise a photograph's content (texture, objects, grey levels) in a
part of it never shown, not to remember pixels.

Decisions:
- Crops are squares of 1/6 to 1/3 of the photograph's shorter side (they fit inside a
  quadrant), resized to `size` pixels; crops flatter than MIN_CROP_STD grey levels (sky,
  background) are redrawn, so a class is not recognisable from a blank patch.
- With `photographs` the classes can be chosen, e.g. [brick, grass, gravel] for a texture set.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from brainreps.data.embedded import MIN_CROP_STD, PHOTOGRAPHS, SKLEARN_PHOTOGRAPHS
from brainreps.data.embedded import load_photographs as _load

ALL_PHOTOGRAPHS = tuple(sorted(Path(n).stem for n in PHOTOGRAPHS + SKLEARN_PHOTOGRAPHS))
SPLITS = ("train", "test")
_MAX_DRAWS = 200  # per crop, before a region is declared too flat to crop


def _files(names: Sequence[str]) -> tuple[str, ...]:
    by_stem = {Path(n).stem: n for n in PHOTOGRAPHS + SKLEARN_PHOTOGRAPHS}
    unknown = [n for n in names if n not in by_stem]
    if unknown:
        raise ValueError(
            f"unknown photograph(s) {unknown}; the bundled ones are {', '.join(ALL_PHOTOGRAPHS)}"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"photographs named twice: {list(names)}")
    return tuple(by_stem[n] for n in names)


def held_out_quadrant(name: str, seed: int) -> int:
    """The quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) held out for tests."""
    return int(np.random.default_rng([seed, zlib.crc32(name.encode())]).integers(4))


def _quadrant_box(shape: tuple[int, ...], quadrant: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of a quadrant of an image of `shape`."""
    h, w = shape[:2]
    top = 0 if quadrant < 2 else h // 2
    left = 0 if quadrant % 2 == 0 else w // 2
    return top, left, (h // 2 if quadrant < 2 else h), (w // 2 if quadrant % 2 == 0 else w)


def _inside(box, top, left, side) -> bool:
    t, lft, b, r = box
    return top >= t and left >= lft and top + side <= b and left + side <= r


def _overlaps(box, top, left, side) -> bool:
    t, lft, b, r = box
    return top < b and top + side > t and left < r and left + side > lft


def crops_of(
    image: np.ndarray, name: str, split: str, n: int, size: int, seed: int
) -> tuple[np.ndarray, list[str]]:
    """`n` crops of one photograph from one split's region, resized to `size`, as uint8."""
    from skimage.transform import resize

    box = _quadrant_box(image.shape, held_out_quadrant(name, seed))
    rng = np.random.default_rng([seed, zlib.crc32(name.encode()), SPLITS.index(split)])
    short = min(image.shape[:2])
    lo, hi = max(4, short // 6), max(4, short // 3)
    pixels = np.empty((n, size, size), dtype=np.uint8)
    sources = []
    for i in range(n):
        for _ in range(_MAX_DRAWS):
            side = int(rng.integers(lo, hi + 1))
            if split == "test":
                top = int(rng.integers(box[0], box[2] - side + 1))
                left = int(rng.integers(box[1], box[3] - side + 1))
            else:
                top = int(rng.integers(0, image.shape[0] - side + 1))
                left = int(rng.integers(0, image.shape[1] - side + 1))
                if _overlaps(box, top, left, side):
                    continue
            crop = image[top : top + side, left : left + side]
            if crop.std() >= MIN_CROP_STD:
                break
        else:
            raise ValueError(f"photograph {name}: no textured {split} crop in {_MAX_DRAWS} draws")
        small = resize(crop, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        pixels[i] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        sources.append(f"{name}:{top},{left},{side}")
    return pixels, sources


def photograph_stimuli(
    photographs: Sequence[str] | None,
    n_train_per_class: int,
    n_test_per_class: int,
    size: int,
    seed: int,
) -> xr.Dataset:
    """The labelled `stimuli` Dataset: training crops, then test crops, of every photograph.

    Coords: `label` (the photograph), `label_index` (its index in the sorted class list),
    `split` (train or test) and `source` (photograph:top,left,side of the crop).
    """
    names = tuple(photographs) if photographs else ALL_PHOTOGRAPHS
    if len(names) < 2:
        raise ValueError(f"a labelled set needs at least 2 photographs (classes), got {names}")
    classes = sorted(names)
    photos = _load(_files(classes))
    counts = {"train": n_train_per_class, "test": n_test_per_class}
    pixels, ids, labels, splits, sources = [], [], [], [], []
    for split in SPLITS:
        for name in classes:
            block, src = crops_of(photos[name], name, split, counts[split], size, seed)
            pixels.append(block)
            ids += [f"{name}_{split}_{i:04d}" for i in range(len(block))]
            labels += [name] * len(block)
            splits += [split] * len(block)
            sources += src
    return xr.Dataset(
        {"pixels": (("stimulus", "y", "x"), np.concatenate(pixels))},
        coords={
            "stimulus": ids,
            "label": ("stimulus", labels),
            "label_index": ("stimulus", np.array([classes.index(x) for x in labels])),
            "split": ("stimulus", splits),
            "source": ("stimulus", sources),
        },
        attrs={
            "description": "grayscale crops of bundled photographs; class = the photograph; "
            "test crops from a held-out quadrant of each photograph",
            "classes": list(classes),
        },
    )


def held_out_quadrants(photographs: Sequence[str] | None, seed: int) -> dict[str, int]:
    """Each photograph's held-out quadrant (for the README and the figure)."""
    return {n: held_out_quadrant(n, seed) for n in (photographs or ALL_PHOTOGRAPHS)}
