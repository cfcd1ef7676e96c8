"""OASIS deconvolution (Friedrich et al. 2017) through the `oasis-deconv` package."""

from __future__ import annotations

import numpy as np
from oasis.functions import deconvolve
from scipy.ndimage import gaussian_filter1d

from brainreps.spikes import apply_on_segments, check_trace

# shortest segment OASIS is run on: the noise (PSD) and AR estimates need some samples
MIN_SEGMENT = 16
# oasis-deconv's AR estimate draws from numpy's global RNG when an AR root falls outside
# (0, 1): each call gets this seed (and the caller's global state is restored), so the same
# trace always gives the same spikes, whatever ran before it.
GLOBAL_RNG_SEED = 0


def deconvolve_segment(y: np.ndarray, p: int = 1, penalty: int = 1) -> np.ndarray:
    """Spikes of one finite segment: OASIS with AR(p) decay and noise estimated from `y`."""
    if p not in (1, 2):
        raise ValueError(f"oasis: p must be 1 (AR(1)) or 2 (AR(2)), got {p!r}")
    if np.ptp(y) == 0:
        return np.zeros_like(y)  # a constant segment holds no transients
    state = np.random.get_state()
    np.random.seed(GLOBAL_RNG_SEED)
    try:
        if p == 1:
            result = deconvolve(y, penalty=penalty)
        else:
            result = deconvolve(y, tau_d=None, tau_r=None, penalty=penalty)
    finally:
        np.random.set_state(state)
    # OASIS's s is non-negative up to rounding (-1e-16): clip so rates are never negative
    return np.maximum(np.asarray(result.s, dtype=np.float64), 0.0)


def infer(
    trace: np.ndarray, fs: float, p: int = 1, penalty: int = 1, smooth: float = 0.0
) -> np.ndarray:
    """Deconvolved spike rate of `trace` (AR(p) model; decay and noise estimated from the trace).

    OASIS estimates the AR coefficients in frames; `fs` converts `smooth`, the std (s) of an
    optional Gaussian smoothing of the deconvolved spikes (0: the package's output as is).
    NaN gaps are skipped (each contiguous segment is deconvolved on its own) and stay NaN;
    a constant trace gives 0.
    """
    y = check_trace(trace, fs)
    if smooth < 0:
        raise ValueError(f"oasis: smooth must be >= 0 seconds, got {smooth!r}")
    sigma = smooth * fs

    def segment(seg: np.ndarray) -> np.ndarray:
        s = deconvolve_segment(seg, p=p, penalty=penalty)
        return gaussian_filter1d(s, sigma, mode="constant") if sigma > 0 else s

    return apply_on_segments(y, segment, min_length=MIN_SEGMENT)
