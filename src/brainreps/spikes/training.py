"""Final supervised models: train a method on whole ground-truth stores, save the model file."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainreps.io import read_store
from brainreps.spikes import SUPERVISED, get_method

logger = logging.getLogger(__name__)


def load_training_stores(
    paths: Sequence[str | os.PathLike],
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """(calcium, spikes, frame rate) per unit of ground-truth recording stores, NaN tails cut."""
    from brainreps.spikes.benchmark import ground_truth_from_recording, trim_nan_tail

    calcium, spikes, rates = [], [], []
    for path in paths:
        ds = read_store(path, "recording", load=True)
        gt = ground_truth_from_recording(ds, Path(path).stem)
        for dff, s in zip(gt.dff, gt.spikes, strict=True):
            c = trim_nan_tail(dff)
            if c.size == 0:
                continue
            calcium.append(c)
            spikes.append(s[: c.size])
            rates.append(gt.fs)
    if not calcium:
        raise ValueError(f"no unit with finite samples in the training stores {list(paths)}")
    return calcium, spikes, rates


def train_model(
    method: str,
    stores: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    params: Mapping[str, Any] | None = None,
    device: str | None = None,
) -> Any:
    """Train supervised `method` on every unit of `stores` and save the model to `out`."""
    if method not in SUPERVISED:
        raise ValueError(f"method {method!r} is not supervised; supervised: {sorted(SUPERVISED)}")
    module = get_method(method)
    params = dict(params or {})
    if device is not None and method == "cnn":
        params["device"] = device
    calcium, spikes, rates = load_training_stores(stores)
    t0 = time.perf_counter()
    model = module.train(calcium, spikes, rates, **params)
    logger.info(
        "%s trained on %d units from %d store(s) in %.1f s",
        method,
        len(calcium),
        len(stores),
        time.perf_counter() - t0,
    )
    module.save(model, out)
    return model
