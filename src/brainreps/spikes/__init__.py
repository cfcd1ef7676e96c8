"""Spike inference from calcium traces: a registry of methods sharing one interface.

Every method module has ``infer(trace: np.ndarray, fs: float, **kwargs) -> np.ndarray``:
a 1-D trace sampled at ``fs`` Hz in, a non-negative spike rate (spikes per frame, or any
non-negative score proportional to it) of the same length out. NaN samples in the trace stay
NaN in the output; the method runs on the contiguous non-NaN segments (NaN gaps are skipped).

Supervised modules (``SUPERVISED``) also have
``train(calcium: list[np.ndarray], spikes: list[np.ndarray], fs: float | list[float], **params)
-> model``, ``save(model, path)``, ``load(path) -> model`` and accept ``infer(trace, fs,
model=model)``.

Modules are imported only when asked for (``get_method``), so a method whose module (or
optional dependency) is missing does not break the others.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from types import ModuleType

import numpy as np

# name -> module path; imported lazily by get_method
METHODS: dict[str, str] = {
    "oasis": "brainreps.spikes.oasis",
    "derivative": "brainreps.spikes.derivative",
    "cnn": "brainreps.spikes.cnn",
    "stm": "brainreps.spikes.stm",
    "bank": "brainreps.spikes.bank",
    "vae": "brainreps.spikes.vae",
}

# methods that must be trained on ground truth before they can infer
SUPERVISED: frozenset[str] = frozenset({"cnn", "stm", "bank", "vae"})


class MethodUnavailable(ImportError):
    """A registered method's module cannot be imported (not written yet, or a missing dependency)."""


def get_method(name: str) -> ModuleType:
    """The module implementing spike-inference method `name` (imported on first use)."""
    if name not in METHODS:
        raise ValueError(f"unknown spike-inference method {name!r}; known: {', '.join(METHODS)}")
    try:
        return importlib.import_module(METHODS[name])
    except ImportError as exc:
        raise MethodUnavailable(
            f"spike-inference method {name!r} ({METHODS[name]}) cannot be imported: {exc}"
        ) from exc


def available_methods() -> dict[str, str | None]:
    """Each registered method -> None when importable, else the reason it is not."""
    out: dict[str, str | None] = {}
    for name in METHODS:
        try:
            get_method(name)
            out[name] = None
        except MethodUnavailable as exc:
            out[name] = str(exc)
    return out


def check_trace(trace: np.ndarray, fs: float) -> np.ndarray:
    """`trace` as a 1-D float64 array, after checking it and the frame rate `fs`."""
    arr = np.asarray(trace, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"a calcium trace must be 1-D, got shape {arr.shape}")
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"frame rate fs must be a positive number of Hz, got {fs!r}")
    if np.isinf(arr).any():
        raise ValueError("calcium trace holds +-inf values; use NaN for missing samples")
    return arr


def finite_segments(mask: np.ndarray) -> Iterator[tuple[int, int]]:
    """(start, stop) of each run of True in a boolean mask."""
    m = np.concatenate([[False], np.asarray(mask, bool), [False]])
    edges = np.flatnonzero(np.diff(m.astype(np.int8)))
    yield from zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)


def apply_on_segments(
    trace: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], min_length: int = 1
) -> np.ndarray:
    """Run `fn` on every contiguous non-NaN segment of `trace`; NaN samples stay NaN.

    Segments shorter than `min_length` samples get a rate of 0 (too short to deconvolve).
    """
    out = np.full(trace.shape, np.nan)
    for start, stop in finite_segments(np.isfinite(trace)):
        if stop - start < min_length:
            out[start:stop] = 0.0
            continue
        seg = np.asarray(fn(trace[start:stop]), dtype=np.float64)
        if seg.shape != (stop - start,):
            raise RuntimeError(
                f"method returned shape {seg.shape} for a segment of {stop - start} samples"
            )
        out[start:stop] = seg
    return out


def infer(name: str, trace: np.ndarray, fs: float, **kwargs) -> np.ndarray:
    """Infer a spike rate from `trace` with method `name` (see the module docstring)."""
    return get_method(name).infer(trace, fs, **kwargs)
