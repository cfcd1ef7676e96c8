"""Spike-inference benchmark: every method on every ground-truth dataset, cross-validated.

Cross-validation never lets a supervised method see a neuron it is scored on:
- ``kfold_neurons``: the neurons of each dataset are split into ``n_folds`` groups; a fold's
  model is trained on the other groups (plus, with ``train_on: all_datasets``, every neuron of
  the other datasets; with ``same_indicator``, every neuron of the other datasets of the same
  indicator) and scores its own group.
- ``leave_one_neuron_out``: the same with one neuron per group.
- ``leave_one_dataset_out``: a model trained on all other datasets (``same_indicator``: the
  other datasets of its indicator) scores a whole dataset.
Units that share a ``neuron`` coordinate (CASCADE trials of one cell) stay in one group.
Several cross-validations can run in one benchmark (`cv` a list, each with a `name`); a
cross-validation's `datasets` limits the datasets it scores (training still draws on all),
its `methods` the supervised methods it trains (a recipe fit for a dataset's few neurons
need not run on 30 datasets).
Unsupervised methods run on every unit once (cv "none").
"""

from __future__ import annotations

import inspect
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
    indicator: str = ""

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
        indicator=str(ds.attrs.get("indicator") or ""),
    )


def _groups(neurons: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct neurons in order of appearance, and each unit's neuron index."""
    order = list(dict.fromkeys(neurons))
    index = {n: i for i, n in enumerate(order)}
    return order, np.array([index[n] for n in neurons])


def cv_entries(cv: Mapping[str, Any] | list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The cross-validations of a `cv` config (one entry or a list), defaults and names filled."""
    entries = [cv] if isinstance(cv, Mapping) else list(cv)
    if not entries:
        raise ValueError("spikes.cv: give at least one cross-validation")
    out = []
    for k, entry in enumerate(entries):
        where = "spikes.cv" if isinstance(cv, Mapping) else f"spikes.cv[{k}]"
        entry = fill_defaults("spikes#cv", entry, where)
        if entry["scheme"] not in CV_SCHEMES:
            raise ValueError(f"{where}.scheme {entry['scheme']!r} is not one of {CV_SCHEMES}")
        entry["name"] = entry["name"] or CV_NAMES[entry["scheme"]]
        out.append(entry)
    names = [e["name"] for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"spikes.cv: names must differ, got {names}; give each a `name`")
    return out


CV_NAMES = {
    "kfold_neurons": "kfold",
    "leave_one_neuron_out": "lono",
    "leave_one_dataset_out": "lodo",
}


def _others(datasets: Mapping[str, GroundTruth], name: str, train_on: str) -> dict:
    """Every unit of the datasets other than `name` a fold adds to its training set."""
    if train_on == "same_dataset":
        return {}
    own = datasets[name].indicator
    if train_on == "same_indicator" and not own:
        raise ValueError(
            f"cv train_on same_indicator: ground truth {name!r} names no indicator (give its "
            "spikes.ground_truth entry an `indicator`)"
        )
    return {
        o: np.arange(len(g.units))
        for o, g in datasets.items()
        if o != name and (train_on == "all_datasets" or g.indicator.lower() == own.lower())
    }


def make_folds(datasets: Mapping[str, GroundTruth], cv: Mapping[str, Any]) -> list[Fold]:
    """Cross-validation folds over all datasets per one `cv` entry (see the module docstring)."""
    cv = cv_entries(cv)[0]
    scheme = cv["scheme"]
    scored = [n for n in datasets if cv["datasets"] is None or n in cv["datasets"]]
    unknown = sorted(set(cv["datasets"] or ()) - set(datasets))
    if unknown:
        raise ValueError(f"cv {cv['name']!r}: datasets {unknown} are not ground truth here")
    all_units = {n: np.arange(len(g.units)) for n, g in datasets.items()}
    folds: list[Fold] = []
    if scheme == "leave_one_dataset_out":
        if len(datasets) < 2:
            logger.warning("leave_one_dataset_out needs >= 2 ground-truth datasets")
            return folds
        train_on = "same_indicator" if cv["train_on"] == "same_indicator" else "all_datasets"
        for name in scored:
            train = _others(datasets, name, train_on)
            if not train:
                logger.warning("cv %s: nothing to train %s's fold on; skipped", cv["name"], name)
                continue
            folds.append(Fold(f"{name}:lodo", train, {name: all_units[name]}))
        return folds
    n_folds = int(cv["n_folds"])
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
        if name not in scored:
            continue  # the permutation is drawn all the same, so folds do not depend on the filter
        others = _others(datasets, name, cv["train_on"])
        for f in range(k):
            test = np.flatnonzero(unit_fold == f)
            train = {name: np.flatnonzero(unit_fold != f), **others}
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


def training_groups(datasets: Mapping[str, GroundTruth], units: Mapping[str, np.ndarray]) -> list:
    """The dataset name of every recording `training_data` returns, in its order."""
    return [name for name, idx in units.items() for _ in idx]


def train_fold(
    spec: MethodSpec, datasets: Mapping[str, GroundTruth], fold: Fold, **extra: Any
) -> Any:
    """Train a supervised method on a fold's training units (never its test units); `extra`
    goes to its train() (the bank's `serve`)."""
    module = get_method(spec.method)
    for name, idx in fold.test.items():
        overlap = np.intersect1d(idx, fold.train.get(name, []))
        if overlap.size:
            raise RuntimeError(f"fold {fold.fold_id}: units {overlap} in both train and test")
    calcium, spikes, rates = training_data(datasets, fold.train)
    if not calcium:
        raise ValueError(f"fold {fold.fold_id}: no training units")
    kwargs = {**spec.train, **extra}
    groups = training_groups(datasets, fold.train)
    indicators = [datasets[name].indicator for name in groups]
    kwargs.update(_accepted(module.train, groups=groups, indicators=indicators))
    return module.train(calcium, spikes, rates, **kwargs)


def _accepted(fn, **candidates) -> dict[str, Any]:
    """The keyword arguments among `candidates` that `fn` takes (and that are not None)."""
    names = inspect.signature(fn).parameters
    return {k: v for k, v in candidates.items() if k in names and v is not None}


def infer_units(
    spec: MethodSpec, gt: GroundTruth, units: Iterable[int], model: Any = None
) -> tuple[dict[int, np.ndarray], float]:
    """Rates of the given units of `gt` with one method; and the inference seconds.

    Methods whose infer() takes `indicator` or `name` (the bank) get the dataset's indicator
    and the unit's name.
    """
    module = get_method(spec.method)
    kwargs = dict(spec.params)
    if model is not None:
        kwargs["model"] = model
    out: dict[int, np.ndarray] = {}
    start = time.perf_counter()
    for i in units:
        extra = _accepted(
            module.infer, indicator=gt.indicator or None, name=f"{gt.name}/{gt.units[i]}"
        )
        out[int(i)] = np.asarray(
            module.infer(gt.dff[i], gt.fs, **kwargs, **extra), dtype=np.float64
        )
    return out, time.perf_counter() - start


def score_rows(
    gt: GroundTruth,
    label: str,
    rates: Mapping[int, np.ndarray],
    folds: Mapping[int, str],
    measures: Iterable[str],
    cv: str = "none",
) -> list[dict[str, Any]]:
    """Tidy score rows (dataset, method, cv, unit, neuron, fold, measure, value) of one method."""
    rows = []
    for i, rate in rates.items():
        scores = metrics.score_all(gt.spikes[i], rate, fs=gt.fs, measures=tuple(measures))
        for measure, value in scores.items():
            rows.append(
                {
                    "dataset": gt.name,
                    "method": label,
                    "cv": cv,
                    "unit": gt.units[i],
                    "neuron": gt.neurons[i],
                    "fold": folds.get(i, "-"),
                    "measure": measure,
                    "value": value,
                }
            )
    return rows


SCORE_COLUMNS = ["dataset", "method", "cv", "unit", "neuron", "fold", "measure", "value"]


@dataclass
class BenchmarkResult:
    """Scores (tidy), inferred rates per dataset and method key, fold models, skipped methods.

    A method key is the method's label, or `label.cv` for a supervised method when several
    cross-validations run; `keys` maps each key to its (label, cv name).
    """

    scores: pd.DataFrame
    rates: dict[str, dict[str, np.ndarray]]
    models: dict[str, dict[str, Any]]  # key -> fold_id -> model
    unit_folds: dict[str, dict[str, dict[str, str]]]  # key -> dataset -> unit -> fold_id
    skipped: dict[str, str]
    timing: pd.DataFrame
    keys: dict[str, tuple[str, str]] = field(default_factory=dict)


def _serve(datasets: Mapping[str, GroundTruth], fold: Fold) -> list[tuple[float, float]]:
    """(frame rate, CASCADE noise level) of every test unit of a fold: label-free facts a bank
    uses to train only the members that will serve them."""
    from brainreps.spikes.bank import trace_level

    return [
        (datasets[name].fs, trace_level(datasets[name].dff[i], datasets[name].fs))
        for name, idx in fold.test.items()
        for i in idx
    ]


def run_benchmark(
    datasets: Mapping[str, GroundTruth],
    methods: list[MethodSpec],
    cv: Mapping[str, Any] | list[Mapping[str, Any]],
    measures: Iterable[str] = ("corr", "rank"),
) -> BenchmarkResult:
    """Run and score every method on every dataset; supervised methods cross-validated (once
    per cross-validation of `cv`)."""
    measures = tuple(measures)
    cvs = cv_entries(cv)
    supervised = [m.label for m in methods if m.supervised]
    for c in cvs:
        unknown = sorted(set(c["methods"] or ()) - set(supervised))
        if unknown:
            raise ValueError(
                f"cv {c['name']!r}: methods {unknown} are not supervised methods of "
                f"spikes.methods (those are {supervised})"
            )
    folds = {c["name"]: make_folds(datasets, c) for c in cvs} if supervised else {}
    rows: list[dict[str, Any]] = []
    timing: list[dict[str, Any]] = []
    rates: dict[str, dict[str, np.ndarray]] = {name: {} for name in datasets}
    models: dict[str, dict[str, Any]] = {}
    unit_folds: dict[str, dict[str, dict[str, str]]] = {}
    keys: dict[str, tuple[str, str]] = {}
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
        if not spec.supervised:
            keys[spec.label] = (spec.label, "none")
            for name, gt in datasets.items():
                rates[name][spec.label] = np.full(gt.dff.shape, np.nan)
                out, seconds = infer_units(spec, gt, range(len(gt.units)))
                for i, r in out.items():
                    rates[name][spec.label][i] = r
                rows += score_rows(gt, spec.label, out, {}, measures)
                timing.append(_timing(name, spec.label, gt, out, seconds, 0.0))
                logger.info("%s on %s: %d units in %.2f s", spec.label, name, len(out), seconds)
            continue
        if not any(folds.values()):
            skipped[spec.label] = "no cross-validation fold (need >= 2 neurons or datasets)"
            logger.warning("skipping method %s: %s", spec.label, skipped[spec.label])
            continue
        own = [c for c in cvs if c["methods"] is None or spec.label in c["methods"]]
        if not own:
            skipped[spec.label] = "no cross-validation lists it in its methods"
            logger.warning("skipping method %s: %s", spec.label, skipped[spec.label])
            continue
        for c in own:
            key = spec.label if len(cvs) == 1 else f"{spec.label}.{c['name']}"
            keys[key] = (spec.label, c["name"])
            models[key], unit_folds[key] = {}, {name: {} for name in datasets}
            for name, gt in datasets.items():
                rates[name][key] = np.full(gt.dff.shape, np.nan)
            for fold in folds[c["name"]]:
                start = time.perf_counter()
                extra = _accepted(module.train, serve=_serve(datasets, fold))
                model = train_fold(spec, datasets, fold, **extra)
                train_seconds = time.perf_counter() - start
                models[key][fold.fold_id] = model
                for name, idx in fold.test.items():
                    gt = datasets[name]
                    out, seconds = infer_units(spec, gt, idx, model=model)
                    for i, r in out.items():
                        rates[name][key][i] = r
                        unit_folds[key][name][gt.units[i]] = fold.fold_id
                    fold_of = dict.fromkeys(idx.tolist(), fold.fold_id)
                    rows += score_rows(gt, spec.label, out, fold_of, measures, c["name"])
                    timing.append(_timing(name, key, gt, out, seconds, train_seconds))
                logger.info("%s fold %s trained in %.1f s", key, fold.fold_id, train_seconds)
    return BenchmarkResult(
        scores=pd.DataFrame(rows, columns=SCORE_COLUMNS),
        rates=rates,
        models=models,
        unit_folds=unit_folds,
        skipped=skipped,
        timing=pd.DataFrame(timing),
        keys=keys,
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
    """Mean, median and count of one measure per dataset, method and cross-validation."""
    sub = scores[scores["measure"] == measure]
    by = ["dataset", "method", "cv"] if "cv" in sub else ["dataset", "method"]
    return sub.groupby(by)["value"].agg(["mean", "median", "count"]).reset_index()


def baseline_comparison(
    scores: pd.DataFrame, baseline: str = "oasis", measure: str = "corr", cv: str | None = None
) -> pd.DataFrame:
    """Per dataset and method, the mean `measure` beside the baseline's and their difference.

    Only rows of cross-validation `cv` (all when None) and the baseline's own rows; the
    column `at_least_baseline` is whether the method's mean is >= the baseline's.
    """
    sub = scores[scores["measure"] == measure]
    base = sub[sub["method"] == baseline].groupby("dataset")["value"].mean()
    if base.empty:
        raise ValueError(f"no {measure} scores of the baseline method {baseline!r}")
    other = sub[sub["method"] != baseline]
    if cv is not None:
        other = other[other["cv"] == cv]
    table = other.groupby(["dataset", "method", "cv"])["value"].mean().rename("mean")
    table = table.reset_index()
    table["baseline"] = table["dataset"].map(base)
    table["difference"] = table["mean"] - table["baseline"]
    table["at_least_baseline"] = table["difference"] >= 0
    return table
