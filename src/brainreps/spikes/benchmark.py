"""Spike-inference benchmark: every method on every ground-truth dataset, cross-validated.

Cross-validation never lets a supervised method see a neuron it is scored on:
- ``kfold_neurons``: the neurons of each dataset are split into ``n_folds`` groups; a fold's
  model is trained on the other groups (plus, with ``train_on: all_datasets``, every neuron of
  the other datasets) and scores its own group.
- ``leave_one_neuron_out``: the same with one neuron per group.
- ``leave_one_dataset_out``: a model trained on all other datasets scores a whole dataset.
Units that share a ``neuron`` coordinate (CASCADE trials of one cell) stay in one group.
Unsupervised methods run on every unit once (fold -1).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainreps.config import fill_defaults
from brainreps.spikes import SUPERVISED, MethodUnavailable, get_method, metrics

logger = logging.getLogger(__name__)

CV_SCHEMES = ("kfold_neurons", "leave_one_neuron_out", "leave_one_dataset_out")


@dataclass
class GroundTruth:
    """One ground-truth dataset as arrays: traces, spikes (unit, time), frame rate, names."""

    name: str
    dff: np.ndarray
    spikes: np.ndarray
    fs: float
    units: list[str]
    neurons: list[str]

    def __post_init__(self) -> None:
        if self.dff.shape != self.spikes.shape:
            raise ValueError(
                f"ground truth {self.name!r}: dff {self.dff.shape} and spikes "
                f"{self.spikes.shape} differ in shape"
            )


@dataclass
class Fold:
    """Training units per dataset and the units it scores (dataset -> unit indices)."""

    fold_id: str
    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]


@dataclass
class MethodSpec:
    """A configured method: registry name, inference params, training params."""

    label: str
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)

    @property
    def supervised(self) -> bool:
        return self.method in SUPERVISED


def method_specs(config: Mapping[str, Mapping]) -> list[MethodSpec]:
    """MethodSpecs from the config's `methods` section (label -> {method, params, train})."""
    specs = []
    for label, entry in config.items():
        entry = dict(entry or {})
        specs.append(
            MethodSpec(
                label=label,
                method=entry.get("method", label),
                params=dict(entry.get("params", {})),
                train=dict(entry.get("train", {})),
            )
        )
    return specs


def check_frame_rate(ds: xr.Dataset, where: str) -> float:
    """The recording's `frame_rate` attr, checked against its timestamps (1% tolerance)."""
    if "frame_rate" not in ds.attrs:
        raise ValueError(f"{where}: recording has no frame_rate attribute")
    fs = float(ds.attrs["frame_rate"])
    ts = np.asarray(ds["timestamps"].values, dtype=np.float64)
    if ts.size > 1:
        measured = 1.0 / np.median(np.diff(ts))
        if abs(measured - fs) / fs > 0.01:
            raise ValueError(
                f"{where}: frame_rate attribute says {fs:g} Hz but the timestamps are "
                f"{measured:g} Hz apart"
            )
    return fs


def ground_truth_from_recording(
    ds: xr.Dataset,
    name: str,
    max_units: int | None = None,
    max_duration: float | None = None,
) -> GroundTruth:
    """A GroundTruth from a `recording` Dataset with `spikes`, capped in units and seconds."""
    if "spikes" not in ds:
        raise ValueError(f"recording {name!r} has no ground-truth 'spikes' variable")
    fs = check_frame_rate(ds, f"recording {name!r}")
    n_units = ds.sizes["unit"] if max_units is None else min(max_units, ds.sizes["unit"])
    n_time = ds.sizes["time"]
    if max_duration is not None:
        n_time = min(n_time, int(round(max_duration * fs)))
    sub = ds.isel(unit=slice(0, n_units), time=slice(0, n_time))
    units = [str(u) for u in sub["unit"].values]
    neurons = [str(n) for n in sub["neuron"].values] if "neuron" in sub.coords else units
    return GroundTruth(
        name=name,
        dff=np.asarray(sub["dff"].values, dtype=np.float64),
        spikes=np.asarray(sub["spikes"].values, dtype=np.float64),
        fs=fs,
        units=units,
        neurons=neurons,
    )


def _groups(neurons: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct neurons in order of appearance, and each unit's neuron index."""
    order = list(dict.fromkeys(neurons))
    index = {n: i for i, n in enumerate(order)}
    return order, np.array([index[n] for n in neurons])


def make_folds(datasets: Mapping[str, GroundTruth], cv: Mapping[str, Any]) -> list[Fold]:
    """Cross-validation folds over all datasets per the `cv` config (see the module docstring)."""
    cv = fill_defaults("spikes#cv", cv, "spikes.cv")
    scheme = cv["scheme"]
    if scheme not in CV_SCHEMES:
        raise ValueError(f"cv.scheme {scheme!r} is not one of {CV_SCHEMES}")
    all_units = {n: np.arange(len(g.units)) for n, g in datasets.items()}
    folds: list[Fold] = []
    if scheme == "leave_one_dataset_out":
        if len(datasets) < 2:
            logger.warning("leave_one_dataset_out needs >= 2 ground-truth datasets")
            return folds
        for name in datasets:
            train = {o: idx for o, idx in all_units.items() if o != name}
            folds.append(Fold(f"{name}:lodo", train, {name: all_units[name]}))
        return folds
    n_folds = int(cv["n_folds"])
    train_on = cv["train_on"]
    rng = np.random.default_rng(int(cv["seed"]))
    for name, gt in datasets.items():
        order, unit_group = _groups(gt.neurons)
        n_groups = len(order)
        if n_groups < 2:
            logger.warning("dataset %s has one neuron: no cross-validation fold possible", name)
            continue
        k = n_groups if scheme == "leave_one_neuron_out" else min(n_folds, n_groups)
        perm = rng.permutation(n_groups)
        group_fold = np.empty(n_groups, dtype=int)
        group_fold[perm] = np.arange(n_groups) % k
        unit_fold = group_fold[unit_group]
        for f in range(k):
            test = np.flatnonzero(unit_fold == f)
            train = {name: np.flatnonzero(unit_fold != f)}
            if train_on == "all_datasets":
                train.update({o: idx for o, idx in all_units.items() if o != name})
            folds.append(Fold(f"{name}:{f}", train, {name: test}))
    return folds


def trim_nan_tail(x: np.ndarray) -> np.ndarray:
    """`x` without its trailing NaN padding."""
    finite = np.flatnonzero(np.isfinite(x))
    return x[: finite[-1] + 1] if finite.size else x[:0]


def training_data(
    datasets: Mapping[str, GroundTruth], units: Mapping[str, np.ndarray]
) -> tuple[list[np.ndarray], list[np.ndarray], list[float]]:
    """(calcium, spikes, fs) lists of the given units, trailing NaN padding removed."""
    calcium, spikes, rates = [], [], []
    for name, idx in units.items():
        gt = datasets[name]
        for i in idx:
            ca = trim_nan_tail(gt.dff[i])
            calcium.append(ca)
            spikes.append(gt.spikes[i, : ca.size])
            rates.append(gt.fs)
    return calcium, spikes, rates


def train_fold(spec: MethodSpec, datasets: Mapping[str, GroundTruth], fold: Fold) -> Any:
    """Train a supervised method on a fold's training units (never its test units)."""
    module = get_method(spec.method)
    for name, idx in fold.test.items():
        overlap = np.intersect1d(idx, fold.train.get(name, []))
        if overlap.size:
            raise RuntimeError(f"fold {fold.fold_id}: units {overlap} in both train and test")
    calcium, spikes, rates = training_data(datasets, fold.train)
    if not calcium:
        raise ValueError(f"fold {fold.fold_id}: no training units")
    return module.train(calcium, spikes, rates, **spec.train)


def infer_units(
    spec: MethodSpec, gt: GroundTruth, units: Iterable[int], model: Any = None
) -> tuple[dict[int, np.ndarray], float]:
    """Rates of the given units of `gt` with one method; and the inference seconds."""
    module = get_method(spec.method)
    kwargs = dict(spec.params)
    if model is not None:
        kwargs["model"] = model
    out: dict[int, np.ndarray] = {}
    start = time.perf_counter()
    for i in units:
        out[int(i)] = np.asarray(module.infer(gt.dff[i], gt.fs, **kwargs), dtype=np.float64)
    return out, time.perf_counter() - start


def score_rows(
    gt: GroundTruth,
    label: str,
    rates: Mapping[int, np.ndarray],
    folds: Mapping[int, str],
    measures: Iterable[str],
) -> list[dict[str, Any]]:
    """Tidy score rows (dataset, method, unit, neuron, fold, measure, value) for one method."""
    rows = []
    for i, rate in rates.items():
        scores = metrics.score_all(gt.spikes[i], rate, fs=gt.fs, measures=tuple(measures))
        for measure, value in scores.items():
            rows.append(
                {
                    "dataset": gt.name,
                    "method": label,
                    "unit": gt.units[i],
                    "neuron": gt.neurons[i],
                    "fold": folds.get(i, "-"),
                    "measure": measure,
                    "value": value,
                }
            )
    return rows


@dataclass
class BenchmarkResult:
    """Scores (tidy), inferred rates per dataset and method, fold models, skipped methods."""

    scores: pd.DataFrame
    rates: dict[str, dict[str, np.ndarray]]
    models: dict[str, dict[str, Any]]  # label -> fold_id -> model
    unit_folds: dict[str, dict[str, str]]  # dataset -> unit -> fold_id
    skipped: dict[str, str]
    timing: pd.DataFrame


def run_benchmark(
    datasets: Mapping[str, GroundTruth],
    methods: list[MethodSpec],
    cv: Mapping[str, Any],
    measures: Iterable[str] = ("corr", "rank"),
) -> BenchmarkResult:
    """Run and score every method on every dataset; supervised methods cross-validated."""
    measures = tuple(measures)
    folds = make_folds(datasets, cv) if any(m.supervised for m in methods) else []
    rows: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []
    rates: dict[str, dict[str, np.ndarray]] = {name: {} for name in datasets}
    models: dict[str, dict[str, Any]] = {}
    unit_folds: dict[str, dict[str, str]] = {name: {} for name in datasets}
    skipped: dict[str, str] = {}
    for spec in methods:
        try:
            module = get_method(spec.method)
        except MethodUnavailable as exc:
            skipped[spec.label] = str(exc)
            logger.warning("skipping method %s: %s", spec.label, exc)
            continue
        if spec.supervised and not all(hasattr(module, a) for a in ("train", "infer")):
            skipped[spec.label] = f"module {module.__name__} lacks train/infer"
            logger.warning("skipping method %s: %s", spec.label, skipped[spec.label])
            continue
        for name, gt in datasets.items():
            rates[name][spec.label] = np.full(gt.dff.shape, np.nan)
        if not spec.supervised:
            for name, gt in datasets.items():
                out, seconds = infer_units(spec, gt, range(len(gt.units)))
                for i, r in out.items():
                    rates[name][spec.label][i] = r
                rows += score_rows(gt, spec.label, out, {}, measures)
                timing.append(_timing(name, spec.label, gt, out, seconds, 0.0))
                logger.info("%s on %s: %d units in %.2f s", spec.label, name, len(out), seconds)
            continue
        if not folds:
            skipped[spec.label] = "no cross-validation fold (need >= 2 neurons or datasets)"
            logger.warning("skipping method %s: %s", spec.label, skipped[spec.label])
            continue
        models[spec.label] = {}
        for fold in folds:
            start = time.perf_counter()
            model = train_fold(spec, datasets, fold)
            train_seconds = time.perf_counter() - start
            models[spec.label][fold.fold_id] = model
            for name, idx in fold.test.items():
                gt = datasets[name]
                out, seconds = infer_units(spec, gt, idx, model=model)
                for i, r in out.items():
                    rates[name][spec.label][i] = r
                    unit_folds[name][gt.units[i]] = fold.fold_id
                rows += score_rows(
                    gt, spec.label, out, dict.fromkeys(idx.tolist(), fold.fold_id), measures
                )
                timing.append(_timing(name, spec.label, gt, out, seconds, train_seconds))
            logger.info("%s fold %s trained in %.1f s", spec.label, fold.fold_id, train_seconds)
    columns = ["dataset", "method", "unit", "neuron", "fold", "measure", "value"]
    return BenchmarkResult(
        scores=pd.DataFrame(rows, columns=columns),
        rates=rates,
        models=models,
        unit_folds=unit_folds,
        skipped=skipped,
        timing=pd.DataFrame(timing),
    )


def _timing(dataset, label, gt, out, seconds, train_seconds) -> dict[str, Any]:
    samples = int(sum(np.isfinite(gt.dff[i]).sum() for i in out))
    return {
        "dataset": dataset,
        "method": label,
        "samples": samples,
        "infer_seconds": seconds,
        "train_seconds": train_seconds,
        "samples_per_second": samples / seconds if seconds > 0 else float("nan"),
    }


def rates_dataset(gt: GroundTruth, rates: Mapping[str, np.ndarray]) -> dict[str, xr.Dataset]:
    """One `spikes` group per method: rate (unit, time) float32 at the input's frame rate."""
    groups = {}
    for label, rate in rates.items():
        ds = xr.Dataset(
            {"rate": (("unit", "time"), rate.astype(np.float32))},
            coords={"unit": np.asarray(gt.units, dtype=str)},
        )
        ds.attrs = {"frame_rate": gt.fs, "method": label}
        groups[label] = ds
    return groups


def summary_table(scores: pd.DataFrame, measure: str = "corr") -> pd.DataFrame:
    """Mean, median and count of one measure per dataset and method."""
    sub = scores[scores["measure"] == measure]
    return (
        sub.groupby(["dataset", "method"])["value"].agg(["mean", "median", "count"]).reset_index()
    )
