"""Gaussian noise at a target signal-to-noise ratio, for the noise-robustness analysis.

SNR = std(trace) / std(added noise), the trace's std taken over its finite samples. The noise
is drawn from a seeded generator and rescaled so that its sample std over the finite samples
is exactly std(trace) / snr: the achieved SNR equals the target. NaN samples stay NaN.
"""

from __future__ import annotations

import numpy as np


def add_noise_at_snr(
    trace: np.ndarray, snr: float, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """`trace` plus white Gaussian noise with std(trace) / std(noise) == `snr` exactly."""
    y = np.asarray(trace, dtype=np.float64)
    if not np.isfinite(snr) or snr <= 0:
        raise ValueError(f"snr must be a positive number, got {snr!r}")
    finite = np.isfinite(y)
    if finite.sum() < 2:
        raise ValueError("trace has fewer than 2 finite samples; cannot set an SNR")
    signal = np.std(y[finite])
    if signal == 0:
        raise ValueError("trace is constant (std 0): an SNR relative to its std is undefined")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    noise = rng.standard_normal(int(finite.sum()))
    noise = (noise - noise.mean()) / noise.std() * (signal / snr)
    out = y.copy()
    out[finite] = y[finite] + noise
    return out


def achieved_snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    """std(clean) / std(noisy - clean) over the samples finite in both."""
    clean = np.asarray(clean, dtype=np.float64)
    noisy = np.asarray(noisy, dtype=np.float64)
    ok = np.isfinite(clean) & np.isfinite(noisy)
    return float(np.std(clean[ok]) / np.std(noisy[ok] - clean[ok]))


def unit_seed(seed: int, *keys: int) -> np.random.Generator:
    """A generator seeded by `seed` and integer keys (unit index, SNR index), reproducibly."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), *map(int, keys)]))
