"""The spike-inference stage on stores: ground-truth recordings in; scores, rates, models out.

What the rules spikes_benchmark and spikes_noise do, from store paths and config sections to
files: `benchmark_stores` runs the cross-validated benchmark (spikes.benchmark) and writes the
tidy scores, the timing table, one rates store per dataset and the fold models with their
manifest; `noise_stores` runs the noise-robustness sweep (spikes.noise) with those fold models.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainreps.io import atomic_path, read_store, write_store
from brainreps.spikes import get_method
from brainreps.spikes.benchmark import (
    BenchmarkResult,
    GroundTruth,
    MethodSpec,
    baseline_comparison,
    cv_entries,
    ground_truth_from_recording,
    method_specs,
    rates_dataset,
    run_benchmark,
    summary_table,
)
from brainreps.spikes.noise import noise_sweep, summarise

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 2  # fold-model manifest: keys (label or label.cv) -> models, unit folds
BASELINE = "oasis"  # the label every method is compared with per dataset


def load_ground_truths(names: list[str], paths: list[str]) -> dict[str, GroundTruth]:
    """GroundTruths from the `spikes_data` recording stores."""
    return {
        name: ground_truth_from_recording(read_store(path, "recording", load=True), name)
        for name, path in zip(names, paths, strict=True)
    }


def _model_path(models_dir: Path, label: str, fold_id: str) -> Path:
    return models_dir / label / f"{fold_id.replace(':', '__')}.model"


def _limit_torch_threads(specs: list[MethodSpec], threads: int) -> None:
    """Give torch the rule's threads, importing it only when a supervised method needs it."""
    if any(s.supervised for s in specs):
        import torch

        torch.set_num_threads(max(1, int(threads)))


def benchmark_stores(
    names: list[str],
    data: list[str],
    methods: Mapping[str, Any],
    cv: Mapping[str, Any] | list[Mapping[str, Any]],
    measures: Iterable[str],
    scores_path: str,
    timing_path: str,
    rates_paths: list[str],
    models_dir: str,
    threads: int = 1,
    comparison_path: str | None = None,
) -> BenchmarkResult:
    """Rule spikes_benchmark: scores CSV, timing CSV, rates stores, fold models + manifest,
    and (`comparison_path`) each method against OASIS per dataset and cross-validation."""
    specs = method_specs(methods)
    _limit_torch_threads(specs, threads)
    datasets = load_ground_truths(names, data)
    result = run_benchmark(datasets, specs, cv, measures)
    for label, reason in result.skipped.items():
        logger.warning("method %s skipped: %s", label, reason)
    params = {"methods": dict(methods), "cv": cv_entries(cv), "measures": list(measures)}
    with atomic_path(models_dir) as tmp:
        tmp.mkdir(parents=True)
        manifest = {
            "format": MANIFEST_VERSION,
            "keys": {key: list(pair) for key, pair in result.keys.items()},
            "unit_folds": result.unit_folds,
            "skipped": result.skipped,
            "models": {},
        }
        for key, fold_models in result.models.items():
            label = result.keys[key][0]
            spec = next(s for s in specs if s.label == label)
            module = get_method(spec.method)
            manifest["models"][key] = {}
            for fold_id, model in fold_models.items():
                path = _model_path(tmp, key, fold_id)
                path.parent.mkdir(parents=True, exist_ok=True)
                module.save(model, path)
                manifest["models"][key][fold_id] = str(path.relative_to(tmp))
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    for name, path in zip(names, rates_paths, strict=True):
        # a cross-validation that does not score this dataset leaves its rates all NaN
        scored = {k: r for k, r in result.rates[name].items() if np.isfinite(r).any()}
        groups = rates_dataset(datasets[name], scored or result.rates[name])
        if not groups:
            raise ValueError("no method ran: every configured method was skipped")
        write_store(
            groups,
            path,
            kind="spikes",
            params=params,
            inputs=data,
            attrs={"frame_rate": datasets[name].fs, "skipped": json.dumps(result.skipped)},
        )
    with atomic_path(timing_path) as tmp:
        result.timing.to_csv(tmp, index=False)
    with atomic_path(scores_path) as tmp:
        result.scores.to_csv(tmp, index=False)
    logger.info("mean corr:\n%s", summary_table(result.scores).to_string(index=False))
    if comparison_path is not None:
        table = comparison_table(result.scores)
        with atomic_path(comparison_path) as tmp:
            table.to_csv(tmp, index=False)
        if len(table):
            logger.info("against oasis:\n%s", table.to_string(index=False))
    return result


def comparison_table(scores: pd.DataFrame, baseline: str = BASELINE) -> pd.DataFrame:
    """Every method's mean corr per dataset and cross-validation beside the baseline's (empty
    when the baseline did not run)."""
    if not (scores["method"] == baseline).any():
        return pd.DataFrame(
            columns=[
                "dataset",
                "method",
                "cv",
                "mean",
                "baseline",
                "difference",
                "at_least_baseline",
            ]
        )
    return baseline_comparison(scores, baseline)


def noise_stores(
    names: list[str],
    data: list[str],
    models_dir: str,
    methods: Mapping[str, Any],
    noise: Mapping[str, Any],
    sweep_path: str,
    summary_path: str,
    threads: int = 1,
) -> pd.DataFrame:
    """Rule spikes_noise: the SNR sweep (supervised methods use their cross-validated models)."""
    _limit_torch_threads(method_specs(methods), threads)
    datasets = load_ground_truths(names, data)
    manifest = json.loads((Path(models_dir) / "manifest.json").read_text())
    if manifest.get("format") != MANIFEST_VERSION:
        raise ValueError(
            f"{models_dir}/manifest.json is of an older format: re-run rule spikes_benchmark"
        )
    snrs = list(noise["snr"])
    frames = []
    for spec in method_specs(methods):
        if spec.label in manifest["skipped"]:
            logger.warning("noise sweep skips %s: %s", spec.label, manifest["skipped"][spec.label])
            continue
        # a supervised method: the fold models of its first cross-validation
        key = next(
            (k for k, (label, _) in manifest["keys"].items() if label == spec.label), spec.label
        )
        for name, gt in datasets.items():
            units = list(range(min(int(noise["max_units"]), len(gt.units))))
            models = None
            if spec.supervised:
                module = get_method(spec.method)
                folds = manifest["unit_folds"].get(key, {}).get(name, {})
                paths = manifest["models"].get(key, {})
                needed = {folds[gt.units[i]] for i in units if gt.units[i] in folds}
                loaded = {f: module.load(Path(models_dir) / paths[f]) for f in needed}
                models = {i: loaded[folds[gt.units[i]]] for i in units if gt.units[i] in folds}
            frames.append(noise_sweep(gt, spec, snrs, units, models, seed=int(noise["seed"])))
    sweep = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["dataset", "method", "unit", "snr", "corr_truth", "corr_clean"])
    )
    summary = summarise(sweep) if len(sweep) else sweep
    with atomic_path(sweep_path) as tmp:
        sweep.to_csv(tmp, index=False)
    with atomic_path(summary_path) as tmp:
        summary.to_csv(tmp, index=False)
    if len(summary):
        halves = summary.drop_duplicates(["dataset", "method"])
        logger.info("half-score SNR:\n%s", halves[["dataset", "method", "clean_corr", "half_snr"]])
    return summary
