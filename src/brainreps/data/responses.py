"""Trial responses from dF/F traces, their mean over repeats, and split-half reliability."""

from __future__ import annotations

import logging

import numpy as np
import xarray as xr

logger = logging.getLogger(__name__)


def window_bounds(
    timestamps: np.ndarray, onsets: np.ndarray, window: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last frame index of [onset + window[0], onset + window[1]) per trial."""
    start = np.searchsorted(timestamps, onsets + window[0], side="left")
    stop = np.searchsorted(timestamps, onsets + window[1], side="left")
    return start, stop


def window_means(
    dff: np.ndarray, timestamps: np.ndarray, onsets: np.ndarray, window: tuple[float, float]
) -> np.ndarray:
    """Mean of each unit's trace in a window around every onset: (unit, trial), NaNs ignored.

    Raises ValueError when a window falls outside the trace or holds no frame.
    """
    start, stop = window_bounds(timestamps, onsets, window)
    n_time = dff.shape[1]
    late = np.flatnonzero(onsets + window[1] > timestamps[-1] + _frame_period(timestamps))
    early = np.flatnonzero(onsets + window[0] < timestamps[0])
    if late.size:
        raise ValueError(
            f"trial {late[0]} (onset {onsets[late[0]]:.3f} s) has its window {window} past the end "
            f"of the traces ({timestamps[-1]:.3f} s, {n_time} frames)"
        )
    if early.size:
        raise ValueError(
            f"trial {early[0]} (onset {onsets[early[0]]:.3f} s) has its window {window} before "
            f"the start of the traces ({timestamps[0]:.3f} s)"
        )
    empty = np.flatnonzero(stop <= start)
    if empty.size:
        raise ValueError(
            f"window {window} s holds no frame for trial {empty[0]}: it is shorter than one frame "
            f"({_frame_period(timestamps):.4f} s)"
        )
    finite = np.isfinite(dff)
    values = np.where(finite, dff, 0.0).astype(np.float64)
    csum = np.concatenate([np.zeros((dff.shape[0], 1)), np.cumsum(values, axis=1)], axis=1)
    ccount = np.concatenate(
        [np.zeros((dff.shape[0], 1)), np.cumsum(finite, axis=1, dtype=np.int64)], axis=1
    )
    total = csum[:, stop] - csum[:, start]
    count = ccount[:, stop] - ccount[:, start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _frame_period(timestamps: np.ndarray) -> float:
    return float(np.median(np.diff(timestamps))) if timestamps.size > 1 else 0.0


def trial_responses(
    dff: np.ndarray,
    timestamps: np.ndarray,
    onsets: np.ndarray,
    response_window: tuple[float, float],
    baseline_window: tuple[float, float],
) -> np.ndarray:
    """Per-trial response: mean dF/F in the response window minus the pre-stimulus baseline."""
    response = window_means(dff, timestamps, onsets, response_window)
    baseline = window_means(dff, timestamps, onsets, baseline_window)
    return response - baseline


def by_stimulus(
    responses: np.ndarray, trial_stimulus: np.ndarray, n_stimuli: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arrange (unit, trial) responses as (unit, stimulus, repeat), NaN-padded; and the shown mask."""
    trial_stimulus = np.asarray(trial_stimulus)
    bad = np.flatnonzero((trial_stimulus < 0) | (trial_stimulus >= n_stimuli))
    if bad.size:
        raise ValueError(
            f"trial {bad[0]} shows stimulus index {trial_stimulus[bad[0]]}, but the stimulus set "
            f"has {n_stimuli} stimuli"
        )
    counts = np.bincount(trial_stimulus, minlength=n_stimuli)
    n_repeats = int(counts.max())
    out = np.full((responses.shape[0], n_stimuli, n_repeats), np.nan, dtype=np.float64)
    order = np.argsort(trial_stimulus, kind="stable")
    sorted_stim = trial_stimulus[order]
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    repeat = np.arange(order.size) - first[sorted_stim]
    out[:, sorted_stim, repeat] = responses[:, order]
    return out, counts > 0


def spearman_brown(r: np.ndarray, factor: float = 2.0) -> np.ndarray:
    """Spearman-Brown prophecy: reliability of a measure `factor` times as long."""
    r = np.asarray(r, dtype=np.float64)
    return factor * r / (1.0 + (factor - 1.0) * r)


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r between matching rows of a and b (unit, stimulus); NaN where a row is constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (a * b).sum(-1) / denom, np.nan)


def split_half_reliability(
    trial_responses: np.ndarray, n_splits: int = 20, seed: int = 0
) -> np.ndarray:
    """Spearman-Brown corrected split-half reliability per unit, averaged over random splits.

    `trial_responses` is (unit, stimulus, repeat) with NaN for missing repeats. Each split
    divides every stimulus's repeats at random into two halves; the Pearson correlation
    across stimuli of the two half-means is averaged over splits and then corrected to the
    full number of repeats.
    """
    x = np.asarray(trial_responses, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"trial_responses must be (unit, stimulus, repeat), got shape {x.shape}")
    valid = np.isfinite(x).all(axis=0)  # (stimulus, repeat): a repeat exists for every unit
    n_valid = valid.sum(axis=1)
    if (n_valid < 2).any():
        s = int(np.flatnonzero(n_valid < 2)[0])
        raise ValueError(f"stimulus {s} has {n_valid[s]} repeats; split halves need at least 2")
    rng = np.random.default_rng(seed)
    rs = np.empty((n_splits, x.shape[0]))
    for i in range(n_splits):
        keys = np.where(valid, rng.random(valid.shape), np.inf)
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        half_a = rank < (n_valid // 2)[:, None]
        half_b = valid & ~half_a
        mean_a = np.nansum(np.where(half_a, x, 0.0), axis=2) / half_a.sum(axis=1)
        mean_b = np.nansum(np.where(half_b, x, 0.0), axis=2) / half_b.sum(axis=1)
        rs[i] = _rowwise_pearson(mean_a, mean_b)
    return spearman_brown(rs.mean(axis=0))


def noise_ceiling_from_reliability(reliability: np.ndarray) -> np.ndarray:
    """The ceiling on r² of a model of the mean response: the reliability, NaN where <= 0."""
    rel = np.asarray(reliability, dtype=np.float64)
    return np.where(rel > 0, np.minimum(rel, 1.0), np.nan)


def responses_dataset(
    recording: xr.Dataset,
    stimulus_ids: np.ndarray,
    response_window: tuple[float, float],
    baseline_window: tuple[float, float],
    n_splits: int = 20,
    seed: int = 0,
    source: str = "recording",
) -> xr.Dataset:
    """The `responses` Dataset of a recording: trial responses, mean, reliability, noise ceiling."""
    for name in ("trial_stimulus", "trial_start"):
        if name not in recording:
            raise ValueError(f"{source}: the recording has no stimulus table ({name!r} missing)")
    dff = np.asarray(recording["dff"].values, dtype=np.float64)
    nan_units = np.flatnonzero(~np.isfinite(dff).any(axis=1))
    if nan_units.size:
        unit = recording["unit"].values[nan_units[0]]
        raise ValueError(
            f"{source}: {nan_units.size} unit(s) have NaN-only dF/F traces (first: unit {unit})"
        )
    timestamps = np.asarray(recording["timestamps"].values, dtype=np.float64)
    onsets = np.asarray(recording["trial_start"].values, dtype=np.float64)
    per_trial = trial_responses(dff, timestamps, onsets, response_window, baseline_window)
    arranged, shown = by_stimulus(per_trial, recording["trial_stimulus"].values, len(stimulus_ids))
    if not shown.all():
        logger.warning(
            "%s: %d of %d stimuli were never shown and are left out",
            source,
            (~shown).sum(),
            shown.size,
        )
    arranged = arranged[:, shown]
    reliability = split_half_reliability(arranged, n_splits=n_splits, seed=seed)
    unit_coords = {
        name: coord for name, coord in recording.coords.items() if coord.dims == ("unit",)
    }
    return xr.Dataset(
        {
            "trial_responses": (("unit", "stimulus", "repeat"), arranged.astype(np.float32)),
            "mean_response": (
                ("unit", "stimulus"),
                np.nanmean(arranged, axis=2).astype(np.float32),
            ),
            "n_repeats": (("stimulus",), np.isfinite(arranged).all(axis=0).sum(axis=1)),
            "split_half_reliability": (("unit",), reliability.astype(np.float32)),
            "noise_ceiling": (
                ("unit",),
                noise_ceiling_from_reliability(reliability).astype(np.float32),
            ),
        },
        coords={**unit_coords, "stimulus": np.asarray(stimulus_ids)[shown]},
        attrs={
            "response_window_s": list(response_window),
            "baseline_window_s": list(baseline_window),
            "reliability": "Spearman-Brown corrected split-half correlation across stimuli, "
            f"mean over {n_splits} random splits",
        },
    )


def responses_store(
    recording_path: str, stimuli_path: str, params: dict, out_path: str
) -> xr.Dataset:
    """Read a recording and its stimulus set, compute their `responses`, write the store."""
    from brainreps.io import read_store, write_store

    recording = read_store(recording_path, "recording", load=True)
    stimuli = read_store(stimuli_path, "stimuli")
    responses = responses_dataset(
        recording,
        stimuli["stimulus"].values,
        tuple(params["response_window"]),
        tuple(params["baseline_window"]),
        params["n_splits"],
        params["seed"],
        source=str(recording_path),
    )
    write_store(
        responses, out_path, kind="responses", params=params, inputs=[recording_path, stimuli_path]
    )
    return responses
