"""Shared preprocessing for supervised spike inference: resampling, normalisation, noise, windows.

Conventions: a sample `i` of a trace at rate `fs` covers the time bin [i/fs, (i+1)/fs); traces
are interpolated at bin centres, spike counts (and inferred rates, in expected spikes per
sample) are re-binned so that their sum is preserved. NaN gaps split a trace into finite
segments that are processed separately and stay NaN.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from brainreps.spikes import finite_segments

MAD_TO_STD = 1.4826  # std of a Gaussian / its median absolute deviation


def resampled_length(n: int, fs_in: float, fs_out: float) -> int:
    """Number of samples a run of `n` samples at `fs_in` has at `fs_out` (at least 1)."""
    return max(1, int(round(n * fs_out / fs_in)))


def resample_trace(
    trace: np.ndarray,
    fs_in: float,
    fs_out: float,
    n_out: int | None = None,
    antialias: bool = True,
) -> np.ndarray:
    """Resample a finite 1-D trace to `fs_out` (Gaussian anti-aliasing, linear interpolation).

    `antialias=False` skips the low-pass when going down: for a trace that was itself
    interpolated up from `fs_out`, which holds nothing above that rate's Nyquist frequency.
    """
    x = np.asarray(trace, dtype=np.float64)
    _check_rates(fs_in, fs_out)
    n_out = resampled_length(x.size, fs_in, fs_out) if n_out is None else n_out
    if np.isclose(fs_in, fs_out) and n_out == x.size:
        return x.copy()
    if antialias and fs_out < fs_in and x.size > 1:
        x = gaussian_filter1d(x, sigma=0.5 * fs_in / fs_out, mode="nearest")
    t_in = (np.arange(x.size) + 0.5) / fs_in
    t_out = (np.arange(n_out) + 0.5) / fs_out
    return np.interp(t_out, t_in, x)


def rebin_counts(
    counts: np.ndarray, fs_in: float, fs_out: float, n_out: int | None = None
) -> np.ndarray:
    """Re-bin counts per sample (spikes, or rates in spikes per sample) to `fs_out`, sum-preserving."""
    c = np.asarray(counts, dtype=np.float64)
    _check_rates(fs_in, fs_out)
    n_out = resampled_length(c.size, fs_in, fs_out) if n_out is None else n_out
    if np.isclose(fs_in, fs_out) and n_out == c.size:
        return c.copy()
    cum = np.concatenate([[0.0], np.cumsum(c)])
    edges_in = np.arange(c.size + 1) / fs_in
    edges_out = np.arange(n_out + 1) / fs_out
    return np.diff(np.interp(edges_out, edges_in, cum))


def _check_rates(fs_in: float, fs_out: float) -> None:
    if not (np.isfinite(fs_in) and fs_in > 0 and np.isfinite(fs_out) and fs_out > 0):
        raise ValueError(f"sampling rates must be positive and finite, got {fs_in} -> {fs_out}")


def noise_sigma(trace: np.ndarray) -> float:
    """Robust std of the sample-to-sample noise: MAD of the first difference / sqrt(2)."""
    x = np.asarray(trace, dtype=np.float64)
    d = np.diff(x)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 0.0
    return float(MAD_TO_STD * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def noise_level(trace: np.ndarray | list[np.ndarray], fs: float) -> float:
    """CASCADE's standardised noise level of dF/F: 100 median(|diff|) / sqrt(fs), in % s^-1/2.

    Rupprecht et al. 2021 (Methods, "noise level"); `trace` may be several runs of one
    recording (a list), whose frame-to-frame differences are pooled (none across a gap).
    """
    runs = trace if isinstance(trace, list) and trace and np.ndim(trace[0]) == 1 else [trace]
    d = np.concatenate([np.diff(np.asarray(r, dtype=np.float64)) for r in runs] or [[]])
    d = d[np.isfinite(d)]
    if d.size == 0:
        return 0.0
    return float(100.0 * np.median(np.abs(d)) / np.sqrt(fs))


# median |x - y| of two independent N(0, sigma^2) samples is this times sigma
MEDIAN_ABS_DIFF = float(np.sqrt(2.0) * 0.6744897501960817)


def level_to_sigma(level: float, fs: float) -> float:
    """Per-sample std (dF/F) of white Gaussian noise whose CASCADE noise level at `fs` is `level`."""
    return float(level * np.sqrt(fs) / (100.0 * MEDIAN_ABS_DIFF))


def normalise(trace: np.ndarray) -> np.ndarray:
    """Robust z-score of a trace: minus its median, over its std (NaNs kept; a constant trace -> 0)."""
    x = np.asarray(trace, dtype=np.float64)
    finite = np.isfinite(x)
    out = np.full_like(x, np.nan)
    if not finite.any():
        return out
    v = x[finite]
    centre = np.median(v)
    scale = np.std(v)
    if not np.isfinite(scale) or scale <= 1e-12 * max(1.0, abs(centre)):
        out[finite] = 0.0
        return out
    out[finite] = (v - centre) / scale
    return out


def smooth_spikes(spikes: np.ndarray, fs: float, sigma_s: float) -> np.ndarray:
    """Spike counts convolved with a unit-area Gaussian of std `sigma_s` seconds (sum-preserving)."""
    s = np.asarray(spikes, dtype=np.float64)
    sigma = sigma_s * fs
    if sigma <= 0:
        return s.copy()
    return gaussian_filter1d(s, sigma=sigma, mode="constant", cval=0.0)


def windows(trace: np.ndarray, before: int, after: int) -> np.ndarray:
    """(n, before + 1 + after) matrix: row t holds trace[t - before : t + after + 1], edge-padded."""
    x = np.asarray(trace, dtype=np.float64)
    padded = np.pad(x, (before, after), mode="edge")
    view = np.lib.stride_tricks.sliding_window_view(padded, before + 1 + after)
    return np.ascontiguousarray(view)


def normalise_segments(segments: list[np.ndarray]) -> list[np.ndarray]:
    """Robust z-score of several runs of one recording jointly (one median and std for all)."""
    if not segments:
        return []
    joint = normalise(np.concatenate(segments))
    bounds = np.cumsum([0] + [len(s) for s in segments])
    return [joint[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def to_model_rate(trace: np.ndarray, fs: float, rate: float) -> list[tuple[int, int, np.ndarray]]:
    """Resample each finite run of a trace to `rate`, then z-score them jointly: [(start, stop, x)]."""
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"a trace must be 1-D, got shape {x.shape}")
    spans = list(finite_segments(np.isfinite(x)))
    pieces = normalise_segments([resample_trace(x[a:b], fs, rate) for a, b in spans])
    return [(a, b, p) for (a, b), p in zip(spans, pieces, strict=True)]


def model_rate_scale(trace: np.ndarray, fs: float, rate: float) -> float:
    """The std of a trace's finite runs resampled to `rate`: what `to_model_rate` divides by."""
    x = np.asarray(trace, dtype=np.float64)
    runs = [resample_trace(x[a:b], fs, rate) for a, b in finite_segments(np.isfinite(x))]
    return float(np.std(np.concatenate(runs))) if runs else 1.0


def from_model_rate(
    n: int, pieces: list[tuple[int, int, np.ndarray]], rate: float, fs: float
) -> np.ndarray:
    """Put per-run rates (spikes per sample at `rate`) back on the input grid of length n."""
    out = np.full(n, np.nan)
    for a, b, r in pieces:
        out[a:b] = rebin_counts(r, rate, fs, n_out=b - a)
    return out


def as_rate_list(fs: float | list[float], n: int) -> list[float]:
    """One sampling rate per recording, from a scalar or a list of length n."""
    if np.ndim(fs) == 0:
        rates = [float(fs)] * n
    else:
        rates = [float(f) for f in fs]
    if len(rates) != n:
        raise ValueError(f"got {len(rates)} sampling rates for {n} recordings")
    for f in rates:
        _check_rates(f, f)
    return rates


def check_pairs(calcium: list[np.ndarray], spikes: list[np.ndarray]) -> None:
    """Raise ValueError naming the recording whose calcium and spike arrays do not match."""
    if len(calcium) != len(spikes):
        raise ValueError(f"{len(calcium)} calcium traces but {len(spikes)} spike trains")
    if not calcium:
        raise ValueError("no training recordings given")
    for i, (c, s) in enumerate(zip(calcium, spikes, strict=True)):
        c, s = np.asarray(c), np.asarray(s)
        if c.ndim != 1 or s.ndim != 1 or c.shape != s.shape:
            raise ValueError(
                f"recording {i}: calcium shape {c.shape} and spikes shape {s.shape} must be "
                "equal 1-D shapes"
            )


def training_recordings(
    calcium: list[np.ndarray], spikes: list[np.ndarray], fs: float | list[float], rate: float
) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per recording, its jointly finite runs at `rate`: [(z-scored trace, spike counts)]."""
    return training_recordings_with_stats(calcium, spikes, fs, rate)[0]


def training_recordings_with_stats(
    calcium: list[np.ndarray], spikes: list[np.ndarray], fs: float | list[float], rate: float
) -> tuple[list[list[tuple[np.ndarray, np.ndarray]]], list[dict[str, float]], list[int]]:
    """`training_recordings`, each recording's dF/F scale at `rate`, and which inputs it kept.

    Stats per kept recording: `std` (the dF/F std the z-score divided by) and `level` (CASCADE
    noise level of the dF/F resampled to `rate`); `kept` indexes the input recordings.
    """
    check_pairs(calcium, spikes)
    rates = as_rate_list(fs, len(calcium))
    out, stats, kept = [], [], []
    for i, (c, s, f) in enumerate(zip(calcium, spikes, rates, strict=True)):
        c = np.asarray(c, dtype=np.float64)
        s = np.asarray(s, dtype=np.float64)
        c = np.where(np.isfinite(s), c, np.nan)
        spans = [(a, b) for a, b in finite_segments(np.isfinite(c)) if b - a >= 2]
        if not spans:
            continue
        raw = [resample_trace(c[a:b], f, rate) for a, b in spans]
        xs = normalise_segments(raw)
        ss = [rebin_counts(s[a:b], f, rate) for a, b in spans]
        out.append(list(zip(xs, ss, strict=True)))
        stats.append({"std": float(np.std(np.concatenate(raw))), "level": noise_level(raw, rate)})
        kept.append(i)
    if not out:
        raise ValueError("no finite calcium/spike samples in the training data")
    return out, stats, kept


def add_noise_to_level(
    segments: list[np.ndarray], target: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Add white noise to a z-scored recording so its noise_sigma after re-z-scoring is `target`.

    A recording already at or above `target` is returned unchanged (noise cannot be removed).
    """
    joint = np.concatenate(segments)
    level = noise_sigma(joint)
    target = float(min(target, 0.95))
    if target <= level:
        return segments
    # z-scored x has std 1: after adding sigma^2, noise is sqrt(level^2 + sigma^2) of sqrt(1 + sigma^2)
    sigma = np.sqrt((target**2 - level**2) / (1.0 - target**2))
    noisy = [x + sigma * rng.standard_normal(x.size) for x in segments]
    return normalise_segments(noisy)
