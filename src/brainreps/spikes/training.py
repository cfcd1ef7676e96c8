"""Final supervised models: train a method on whole ground-truth stores, save the model file
(a bank: its directory, tagged with the indicator its stores share)."""

from __future__ import annotations

import inspect
import logging
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from brainreps.io import read_store
from brainreps.spikes import SUPERVISED, get_method

logger = logging.getLogger(__name__)


def load_training_stores(paths: Sequence[str | os.PathLike], with_groups: bool = False) -> tuple:
    """(calcium, spikes, frame rate) per unit of ground-truth recording stores, NaN tails cut;
    with `with_groups`, also each unit's store name and indicator."""
    from brainreps.spikes.benchmark import ground_truth_from_recording, trim_nan_tail

    calcium, spikes, rates, groups, indicators = [], [], [], [], []
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
            groups.append(gt.name)
            indicators.append(gt.indicator)
    if not calcium:
        raise ValueError(f"no unit with finite samples in the training stores {list(paths)}")
    if with_groups:
        return calcium, spikes, rates, groups, indicators
    return calcium, spikes, rates


def set_indicator(indicators: Sequence[str]) -> str:
    """A training set's indicator tag: the one indicator all its stores share, else `any`."""
    named = {i.lower(): i for i in indicators if i}
    return next(iter(named.values())) if len(named) == 1 and all(indicators) else "any"


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
    if device is not None and method in ("cnn", "vae"):
        params["device"] = device
    elif device is not None and method == "bank":
        params["cnn"] = {**params.get("cnn", {}), "device": device}
    calcium, spikes, rates, groups, indicators = load_training_stores(stores, with_groups=True)
    if method == "bank":
        params.setdefault("indicator", set_indicator(indicators))
        params["indicators"] = indicators  # a trace of an indicator never seen: OASIS
    if "groups" in inspect.signature(module.train).parameters:
        params["groups"] = groups  # every dataset weighs the same in an epoch
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
