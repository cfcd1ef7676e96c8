"""Task accuracy of a network on a labelled stimulus set, and ImageNet class indices.

A pretrained ImageNet-1k classifier is scored on an ImageNet subset by mapping each image's
class folder (a WordNet id such as n01440764) to the classifier's output index: the
standard ILSVRC-2012 order, the sorted list of the 1,000 wnids (timm's ImageNetInfo holds it).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from brainreps.logs import progress


@functools.cache
def _imagenet_wnids() -> tuple[str, ...]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_label_name(i) for i in range(info.num_classes()))


def imagenet_index(wnids: Sequence[str]) -> np.ndarray:
    """The ImageNet-1k output index of each WordNet id; an error names ids outside the 1,000."""
    order = {w: i for i, w in enumerate(_imagenet_wnids())}
    unknown = sorted({str(w) for w in wnids if str(w) not in order})
    if unknown:
        raise ValueError(
            f"{len(unknown)} class(es) are not ImageNet-1k wnids ({', '.join(unknown[:5])}): "
            "a pretrained classifier has no output for them"
        )
    return np.array([order[str(w)] for w in wnids], dtype=np.int64)


def imagenet_description(index: int) -> str:
    """The human-readable name of an ImageNet-1k class index."""
    from timm.data import ImageNetInfo

    return ImageNetInfo().index_to_description(int(index))


@torch.inference_mode()
def classify(model, preprocess, images, batch_size: int, device) -> np.ndarray:
    """The network's logits (N x classes) of a set of images, batch by batch."""
    model = model.eval().to(device)
    out = []
    n = len(images)
    for start in progress(range(0, n, batch_size), "classify", -(-n // batch_size)):
        x = preprocess(np.asarray(images[start : start + batch_size])).to(device)
        logits = model(x)
        logits = logits.logits if hasattr(logits, "logits") else logits
        out.append(logits.float().cpu().numpy())
    return np.concatenate(out)


def topk(logits: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Share of rows whose target is among the k largest logits."""
    k = min(k, logits.shape[1])
    best = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return float((best == np.asarray(targets)[:, None]).any(axis=1).mean())
