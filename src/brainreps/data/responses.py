"""Trial responses from dF/F or spike rates, their mean over repeats, split-half reliability.

The signal (the config's `responses.signal`) is what the responses are computed from:

- `dff`: the recording's dF/F traces;
- `spikes:<label>`: the rate inferred from each dF/F trace by a spike-inference method, a label
  of the config's `spikes.methods` (its method and params) or a registered method name; a
  supervised method needs its trained model file (or bank directory), which must have been
  trained at the recording's frame rate (within 5%);
- `spikes:truth`: a simulated recording's true spike counts.

Spike signals are in spikes/s (spikes per frame x frame rate). Every signal goes through the
same windows: the mean in the response window minus the mean in the baseline window.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

logger = logging.getLogger(__name__)

DFF = "dff"
TRUTH = "truth"  # spikes:truth, the recording's own ground-truth spikes
SAME_RATE = 0.05  # a model trained within 5% of the recording's frame rate is at its rate


class SignalError(ValueError):
    """A signal cannot be computed for this recording (unknown method, wrong model, no truth)."""


def parse_signal(signal: str) -> tuple[str, str | None]:
    """('dff', None) or ('spikes', label) from 'dff' / 'spikes:<label>'."""
    if signal == DFF:
        return DFF, None
    kind, _, label = signal.partition(":")
    if kind != "spikes" or not label:
        raise SignalError(f"signal {signal!r} is neither 'dff' nor 'spikes:<method label>'")
    return "spikes", label


def signal_slug(signal: str) -> str:
    """A file-name form of a signal: 'dff', 'spikes_oasis' (no colon)."""
    return signal.replace(":", "_", 1)


def signal_method(label: str, methods: Mapping[str, Any] | None) -> tuple[str, dict]:
    """The registered method and infer() params behind a spikes label (a configured label of
    spikes.methods, or a method name with its defaults)."""
    from brainreps.spikes import METHODS

    spec = (methods or {}).get(label)
    if spec is None and label not in METHODS:
        labels = sorted(methods or {})
        raise SignalError(
            f"signal 'spikes:{label}' names no spike-inference method (labels in "
            f"spikes.methods: {', '.join(labels) or 'none'}; methods: {', '.join(METHODS)}; "
            f"or spikes:{TRUTH})"
        )
    spec = spec or {}
    return spec.get("method", label), dict(spec.get("params") or {})


def load_spike_model(method: str, path: str | Path, frame_rate: float, where: str) -> Any:
    """A supervised method's model from its file, after checking it was trained at
    `frame_rate` (within SAME_RATE); SignalError naming the file and both rates otherwise."""
    from brainreps.spikes import get_method

    module = get_method(method)
    try:
        model = module.load(path)
    except (FileNotFoundError, ValueError) as exc:
        raise SignalError(f"{where}: the {method} model {path} cannot be read: {exc}") from exc
    rates = model.rates() if hasattr(model, "rates") else [float(model.params["rate"])]
    if not any(abs(frame_rate - r) <= SAME_RATE * r for r in rates):
        raise SignalError(
            f"{where}: the {method} model {path} was trained at "
            f"{', '.join(f'{r:g}' for r in rates)} Hz, but the recording is imaged at "
            f"{frame_rate:g} Hz; train one at the recording's frame rate"
        )
    return model


def signal_traces(
    recording: xr.Dataset,
    signal: str,
    *,
    methods: Mapping[str, Any] | None = None,
    model_path: str | Path | None = None,
    source: str = "recording",
) -> tuple[np.ndarray, str]:
    """(unit, time) traces of `signal` and their unit: dF/F, or spikes/s."""
    kind, label = parse_signal(signal)
    dff = np.asarray(recording["dff"].values, dtype=np.float64)
    if kind == DFF:
        return dff, "dF/F"
    frame_rate = float(recording.attrs.get("frame_rate", np.nan))
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise SignalError(f"{source}: the recording has no frame_rate attribute")
    where = f"{source}, signal {signal!r}"
    if label == TRUTH:
        if "spikes" not in recording:
            raise SignalError(
                f"{where}: the recording has no ground-truth spikes (only simulated recordings "
                "have them)"
            )
        return np.asarray(recording["spikes"].values, dtype=np.float64) * frame_rate, "spikes/s"
    from brainreps.spikes import SUPERVISED, get_method

    method, params = signal_method(label, methods)
    module = get_method(method)
    if method in SUPERVISED:
        if model_path is None:
            raise SignalError(f"{where}: {method} is supervised and needs a trained model file")
        params["model"] = load_spike_model(method, model_path, frame_rate, where)
    elif model_path is not None:
        raise SignalError(f"{where}: {method} is not supervised and takes no model file")
    rates = np.empty_like(dff)
    for i, trace in enumerate(dff):
        rates[i] = module.infer(trace, frame_rate, **params)
    logger.info("%s: inferred %d traces with %s", where, dff.shape[0], method)
    return rates * frame_rate, "spikes/s"


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
    traces: tuple[np.ndarray, str] | None = None,
    signal: str = DFF,
) -> xr.Dataset:
    """The `responses` Dataset of a recording: trial responses, mean, reliability, noise ceiling.

    `traces` are the (unit, time) traces of `signal` and their unit (`signal_traces`);
    None = the dF/F traces.
    """
    for name in ("trial_stimulus", "trial_start"):
        if name not in recording:
            raise ValueError(f"{source}: the recording has no stimulus table ({name!r} missing)")
    dff, unit_name = traces or (np.asarray(recording["dff"].values, dtype=np.float64), "dF/F")
    nan_units = np.flatnonzero(~np.isfinite(dff).any(axis=1))
    if nan_units.size:
        unit = recording["unit"].values[nan_units[0]]
        raise ValueError(
            f"{source}: {nan_units.size} unit(s) have NaN-only {unit_name} traces "
            f"(first: unit {unit})"
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
            "signal": signal,
            "signal_unit": unit_name,
            "response_window_s": list(response_window),
            "baseline_window_s": list(baseline_window),
            "reliability": "Spearman-Brown corrected split-half correlation across stimuli, "
            f"mean over {n_splits} random splits",
        },
    )


def responses_store(
    recording_path: str,
    stimuli_path: str,
    params: dict,
    out_path: str,
    *,
    methods: Mapping[str, Any] | None = None,
    model_path: str | None = None,
) -> xr.Dataset:
    """Read a recording and its stimulus set, compute their `responses`, write the store.

    `params` holds the windows, n_splits, seed and `signal` (default dff); `methods` are the
    config's spikes.methods and `model_path` the model file of a supervised signal.
    """
    from brainreps.io import read_store, write_store

    signal = params.get("signal", DFF)
    recording = read_store(recording_path, "recording", load=True)
    stimuli = read_store(stimuli_path, "stimuli")
    traces = signal_traces(
        recording, signal, methods=methods, model_path=model_path, source=str(recording_path)
    )
    responses = responses_dataset(
        recording,
        stimuli["stimulus"].values,
        tuple(params["response_window"]),
        tuple(params["baseline_window"]),
        params["n_splits"],
        params["seed"],
        source=str(recording_path),
        traces=traces,
        signal=signal,
    )
    inputs = [recording_path, stimuli_path] + ([str(model_path)] if model_path else [])
    write_store(responses, out_path, kind="responses", params=params, inputs=inputs)
    return responses
