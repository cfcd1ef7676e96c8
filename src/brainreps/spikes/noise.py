"""Gaussian noise at a target signal-to-noise ratio, for the noise-robustness analysis.

SNR = std(trace) / std(added noise), the trace's std taken over its finite samples. The noise
is drawn from a seeded generator and rescaled so that its sample std over the finite samples
is exactly std(trace) / snr: the achieved SNR equals the target. NaN samples stay NaN.

Noise robustness (`noise_sweep`, `summarise`): for each SNR of a grid every trace gets seeded
noise at that SNR; each method infers from the noisy trace and is scored against the truth and
against its own output on the clean trace; per method, the SNR at which its mean score against
the truth falls to half its clean score.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from brainreps.spikes import metrics
from brainreps.spikes.benchmark import GroundTruth, MethodSpec, infer_units

logger = logging.getLogger(__name__)


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


def noise_sweep(
    gt: GroundTruth,
    spec: MethodSpec,
    snrs: Sequence[float],
    units: Iterable[int],
    models: Mapping[int, Any] | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Scores of one method on one dataset at each SNR (rows: dataset, method, unit, snr, ...).

    `models` maps a unit index to the model to use for it (supervised methods: the fold model
    that never saw that unit); snr is inf for the clean trace.
    """
    rows = []
    factor = metrics.bin_factor(gt.fs)
    units = list(units)
    for i in units:
        model = None if models is None else models.get(i)
        if models is not None and model is None:
            continue
        clean, _ = infer_units(spec, gt, [i], model=model)
        clean_rate = clean[i]
        rows.append(_row(gt, spec, i, np.inf, gt.spikes[i], clean_rate, clean_rate, factor))
        for k, snr in enumerate(snrs):
            noisy = add_noise_at_snr(gt.dff[i], snr, seed=unit_seed(seed, i, k))
            noisy_gt = GroundTruth(
                gt.name,
                noisy[None],
                gt.spikes[i][None],
                gt.fs,
                [gt.units[i]],
                [gt.neurons[i]],
                gt.indicator,
            )
            out, _ = infer_units(spec, noisy_gt, [0], model=model)
            rows.append(_row(gt, spec, i, float(snr), gt.spikes[i], out[0], clean_rate, factor))
    return pd.DataFrame(rows)


def _row(gt, spec, i, snr, truth, rate, clean_rate, factor) -> dict[str, Any]:
    with np.errstate(all="ignore"):
        return {
            "dataset": gt.name,
            "method": spec.label,
            "unit": gt.units[i],
            "snr": snr,
            "corr_truth": metrics.corr(truth, rate, factor),
            "corr_clean": metrics.corr(clean_rate, rate, factor) if np.isfinite(snr) else 1.0,
        }


def half_score_snr(snr: np.ndarray, score: np.ndarray, clean_score: float) -> float:
    """The SNR at which `score` first falls to half of `clean_score` going from high to low SNR.

    Linear interpolation in log SNR between the clean score (SNR inf, taken as the highest grid
    SNR) and the grid points around the crossing; NaN when the score stays above half over the
    whole grid or the clean score is not positive.
    """
    order = np.argsort(snr)[::-1]
    s, y = np.asarray(snr, float)[order], np.asarray(score, float)[order]
    if not np.isfinite(clean_score) or clean_score <= 0:
        return float("nan")
    half = clean_score / 2.0
    prev_snr, prev_y = np.inf, clean_score
    for snr_k, y_k in zip(s, y, strict=True):
        if np.isfinite(y_k) and y_k <= half:
            if not np.isfinite(prev_snr):
                return float(snr_k)
            t = (prev_y - half) / (prev_y - y_k) if prev_y != y_k else 0.0
            return float(np.exp(np.log(prev_snr) + t * (np.log(snr_k) - np.log(prev_snr))))
        if np.isfinite(y_k):
            prev_snr, prev_y = snr_k, y_k
    return float("nan")


def summarise(sweep: pd.DataFrame) -> pd.DataFrame:
    """Mean scores per dataset, method and SNR, and each method's half-score SNR."""
    mean = (
        sweep.groupby(["dataset", "method", "snr"])[["corr_truth", "corr_clean"]]
        .mean()
        .reset_index()
    )
    halves = []
    for (dataset, method), sub in mean.groupby(["dataset", "method"]):
        clean = sub[~np.isfinite(sub["snr"])]["corr_truth"]
        noisy = sub[np.isfinite(sub["snr"])]
        clean_score = float(clean.iloc[0]) if len(clean) else float("nan")
        halves.append(
            {
                "dataset": dataset,
                "method": method,
                "clean_corr": clean_score,
                "half_snr": half_score_snr(
                    noisy["snr"].to_numpy(), noisy["corr_truth"].to_numpy(), clean_score
                ),
            }
        )
    return mean.merge(pd.DataFrame(halves), on=["dataset", "method"], how="left")
