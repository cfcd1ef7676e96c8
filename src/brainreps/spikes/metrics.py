"""Spike-inference scores: the Spikefinder correlation, Spearman rank correlation, information gain.

The Spikefinder evaluation (Berens et al. 2018) treats each neuron as follows: samples where
either the truth or the prediction is NaN are dropped (both series are compacted, so the
bins below may straddle a dropped gap), then both series are summed into non-overlapping bins
of `factor` samples (4 at 100 Hz = 40 ms; a trailing partial bin is discarded), then the
score is computed on the binned series. `corr` is Pearson's r of the binned series, `rank`
Spearman's rho, `info` the information gain in bits/s of the prediction (after the best
monotonic piecewise-linear rescaling) over a constant-rate Poisson model (Theis et al. 2016).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import interpolate, optimize, stats

DEFAULT_FACTOR = 4  # 40 ms bins at 100 Hz


def bin_factor(fs: float, bin_seconds: float = 0.04) -> int:
    """Samples per bin of `bin_seconds` at `fs` Hz (at least 1), e.g. 4 at 100 Hz."""
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"frame rate fs must be a positive number of Hz, got {fs!r}")
    return max(1, int(round(bin_seconds * fs)))


def bin_sum(x: np.ndarray, factor: int) -> np.ndarray:
    """Sums of consecutive non-overlapping blocks of `factor` samples (partial last block dropped)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    if factor < 2:
        return x
    n = (x.size // factor) * factor
    return x[:n].reshape(-1, factor).sum(axis=1)


def paired_bins(
    truth: np.ndarray, prediction: np.ndarray, factor: int = DEFAULT_FACTOR
) -> tuple[np.ndarray, np.ndarray]:
    """Truth and prediction with jointly-NaN samples dropped, then summed into bins of `factor`."""
    t = np.asarray(truth, dtype=np.float64).ravel()
    p = np.asarray(prediction, dtype=np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(
            f"truth has {t.size} samples but prediction has {p.size}; they must be aligned"
        )
    keep = ~(np.isnan(t) | np.isnan(p))
    return bin_sum(t[keep], factor), bin_sum(p[keep], factor)


def _enough(t: np.ndarray, p: np.ndarray, what: str) -> bool:
    if t.size < 2:
        warnings.warn(
            f"{what}: fewer than 2 bins left after dropping NaN; score is NaN", stacklevel=3
        )
        return False
    if np.ptp(t) == 0 or np.ptp(p) == 0:
        warnings.warn(
            f"{what}: {'truth' if np.ptp(t) == 0 else 'prediction'} is constant; score is NaN",
            stacklevel=3,
        )
        return False
    return True


def corr(truth: np.ndarray, prediction: np.ndarray, factor: int = DEFAULT_FACTOR) -> float:
    """Spikefinder `corr`: Pearson r of truth and prediction summed into bins (NaN where undefined)."""
    t, p = paired_bins(truth, prediction, factor)
    if not _enough(t, p, "corr"):
        return float("nan")
    return float(np.corrcoef(t, p)[0, 1])


def rank(truth: np.ndarray, prediction: np.ndarray, factor: int = DEFAULT_FACTOR) -> float:
    """Spikefinder `rank`: Spearman rho of truth and prediction summed into bins."""
    t, p = paired_bins(truth, prediction, factor)
    if not _enough(t, p, "rank"):
        return float("nan")
    return float(stats.spearmanr(t, p).statistic)


def monotonic_rescaling(
    prediction: np.ndarray, spikes: np.ndarray, n_support: int = 10, regularize: float = 5e-8
) -> interpolate.interp1d:
    """Monotonic piecewise-linear f maximising the Poisson likelihood of `spikes` given f(pred)."""
    pred = np.clip(np.nan_to_num(np.asarray(prediction, dtype=np.float64)), 0.0, None)
    spikes = np.asarray(spikes, dtype=np.float64)
    if n_support < 2:
        raise ValueError("n_support must be at least 2")
    top = pred[pred > (pred.max() - pred.min()) / 100.0] if pred.sum() > 0 else pred
    inner = list(np.percentile(top, list(range(0, 101, n_support))[1:-1])) if top.size else []
    x = np.asarray([0.0, *inner, float(pred.max())])
    for i in range(len(x) - 1):
        if x[i + 1] - x[i] < 1e-6:
            x[i + 1] = x[i] + 1e-6

    def neg_loglik(y: np.ndarray) -> float:
        lam = interpolate.interp1d(x, y)(pred) + 1e-8
        value = np.mean(lam - spikes * np.log(lam))
        z = (x[2:] - x[:-2]) / 2.0
        return float(value + regularize * np.sum(np.square(np.diff(np.diff(y) / np.diff(x)) / z)))

    constraints = [
        {"type": "ineq", "fun": (lambda y, i=i: y[i] - y[i - 1])} for i in range(1, x.size)
    ]
    constraints.append({"type": "ineq", "fun": lambda y: y[0]})
    with np.errstate(invalid="ignore", divide="ignore"):
        res = optimize.minimize(
            neg_loglik, x0=x + 1e-6, method="SLSQP", tol=1e-9, constraints=constraints
        )
    return interpolate.interp1d(x, res.x, bounds_error=False, fill_value=res.x[-1])


def information_gain(
    truth: np.ndarray,
    prediction: np.ndarray,
    factor: int = DEFAULT_FACTOR,
    fs: float = 100.0,
) -> float:
    """Information gain (bits/s) of the rescaled prediction over a constant Poisson rate.

    Theis et al. 2016: log-likelihood of the binned spike counts under Poisson(f(prediction)),
    f the best monotonic piecewise-linear rescaling, minus that under the mean rate.
    """
    t, p = paired_bins(truth, prediction, factor)
    if not _enough(t, p, "information_gain"):
        return float("nan")
    bins_per_second = fs / factor
    f = monotonic_rescaling(p, t)
    to_bits = 1.0 / np.log(2.0)
    loglik = np.mean(stats.poisson.logpmf(t, f(p))) * bins_per_second * to_bits
    mean_count = np.mean(t)
    entropy = -np.mean(stats.poisson.logpmf(t, mean_count)) * bins_per_second * to_bits
    return float(loglik + entropy)


def count_bias(truth: np.ndarray, prediction: np.ndarray) -> float:
    """Relative bias of the inferred spike count: (sum prediction - sum truth) / sum truth.

    Samples NaN in either are dropped; NaN when the truth holds no spike. With rates in spikes
    per frame this is CASCADE's bias (Rupprecht et al. 2021) over the whole recording.
    """
    t, p = paired_bins(truth, prediction, 1)
    total = t.sum()
    return float((p.sum() - total) / total) if total > 0 else float("nan")


def count_error(truth: np.ndarray, prediction: np.ndarray, window: int) -> float:
    """Relative error of spike counts in windows of `window` samples: sum |P_w - T_w| / sum T.

    0 for a prediction that puts every window's count right, whatever the timing within it;
    NaN when the truth holds no spike. (CASCADE's error compares smoothed rates; windows of
    1 s, the benchmark's choice, ask the same of counts without a kernel.)
    """
    t, p = paired_bins(truth, prediction, max(1, int(window)))
    total = t.sum()
    return float(np.abs(p - t).sum() / total) if total > 0 else float("nan")


COUNT_WINDOW = 1.0  # s, windows of the benchmark's count_error


SCORES = {
    "corr": corr,
    "rank": rank,
    "info": information_gain,
    "count_error": count_error,
    "count_bias": count_bias,
}


def score_all(
    truth: np.ndarray, prediction: np.ndarray, fs: float = 100.0, measures=("corr", "rank")
) -> dict[str, float]:
    """Every requested measure for one neuron, with bins of 40 ms at `fs`."""
    factor = bin_factor(fs)
    out: dict[str, float] = {}
    for name in measures:
        if name not in SCORES:
            raise ValueError(f"unknown score {name!r}; known: {', '.join(SCORES)}")
        if name == "info":
            out[name] = information_gain(truth, prediction, factor=factor, fs=fs)
        elif name == "count_error":
            out[name] = count_error(truth, prediction, int(round(COUNT_WINDOW * fs)))
        elif name == "count_bias":
            out[name] = count_bias(truth, prediction)
        else:
            out[name] = SCORES[name](truth, prediction, factor=factor)
    return out
