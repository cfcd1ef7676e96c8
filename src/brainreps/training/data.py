"""A labelled stimulus set as training and test tensors, and the augmentation of a batch."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import xarray as xr


class LabelError(ValueError):
    """A stimulus set cannot be trained on: no labels, a class without images, ..."""


@dataclass
class LabelledSplit:
    """Images (uint8, N x H x W[ x C]), integer labels, class names and the train/test indices."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    train: np.ndarray
    test: np.ndarray

    def fingerprint(self) -> str:
        """A hash of the pixels, labels and split: what a resumed run must find unchanged."""
        h = hashlib.sha256(np.ascontiguousarray(self.images).tobytes())
        for part in (self.labels, self.train, self.test):
            h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        h.update("\n".join(self.classes).encode())
        return h.hexdigest()


def labelled_split(
    stimuli: xr.Dataset, name: str, test_fraction: float, seed: int
) -> LabelledSplit:
    """The labels of a stimuli store and its train/test split.

    The split is the store's `split` coordinate when it has one (the photographs set: test
    crops from held-out regions), else a seeded stratified split holding out `test_fraction`
    of each class. Errors name the stimulus set and the class.
    """
    if "label" not in stimuli.coords:
        raise LabelError(
            f"stimulus set {name!r} has no class labels (no `label` coordinate): train on a "
            "labelled set (source photographs, imagenet, or folder/npy with labels)"
        )
    names = np.array([str(x) for x in stimuli["label"].values])
    classes = sorted({str(x) for x in names})
    if len(classes) < 2:
        raise LabelError(f"stimulus set {name!r} has one class ({classes[0]!r}); need two or more")
    labels = np.array([classes.index(x) for x in names], dtype=np.int64)
    if "split" in stimuli.coords:
        split = np.array([str(x) for x in stimuli["split"].values])
        unknown = sorted(set(split) - {"train", "test"})
        if unknown:
            raise LabelError(f"stimulus set {name!r}: unknown split values {unknown}")
        train, test = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    else:
        rng = np.random.default_rng(seed)
        test_parts = []
        for k in range(len(classes)):
            members = np.flatnonzero(labels == k)
            n_test = int(round(test_fraction * members.size))
            test_parts.append(rng.permutation(members)[:n_test])
        test = np.sort(np.concatenate(test_parts))
        train = np.setdiff1d(np.arange(labels.size), test)
    for part, indices in (("training", train), ("test", test)):
        present = np.bincount(labels[indices], minlength=len(classes))
        empty = [classes[k] for k in np.flatnonzero(present == 0)]
        if empty:
            raise LabelError(
                f"stimulus set {name!r}: class(es) {empty} have no {part} images "
                f"({indices.size} {part} images in all)"
            )
    return LabelledSplit(
        np.asarray(stimuli["pixels"].values), labels, classes, train.astype(np.int64), test
    )


def shuffled(labels: np.ndarray, seed: int) -> np.ndarray:
    """The labels permuted across images (Zhang et al. 2017's random-label control: the class
    frequencies stay, any link between image and label is gone)."""
    return np.random.default_rng([seed, 1]).permutation(labels)


def preprocess_all(images: np.ndarray, preprocess, batch: int = 512) -> torch.Tensor:
    """Every image through the network's preprocessing, once, as one float tensor."""
    return torch.cat([preprocess(images[i : i + batch]) for i in range(0, len(images), batch)])


def augment(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crops after reflection padding, and random horizontal flips, of a batch."""
    n, _, h, w = x.shape
    if padding:
        x = torch.nn.functional.pad(x, (padding,) * 4, mode="reflect")
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        rows = dy[:, None] + torch.arange(h)[None, :]
        cols = dx[:, None] + torch.arange(w)[None, :]
        x = x[
            torch.arange(n)[:, None, None, None],
            torch.arange(x.shape[1])[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
    return x


def batches(n: int, size: int, generator: torch.Generator) -> Sequence[torch.Tensor]:
    """A seeded permutation of range(n) cut into batches (the last may be smaller)."""
    order = torch.randperm(n, generator=generator)
    return list(order.split(size))
