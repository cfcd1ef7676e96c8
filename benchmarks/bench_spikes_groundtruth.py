"""Spike inference on every shared ground-truth set: cross-validated accuracy, counts, speed.

The datasets, methods and cross-validations are those of `config/spikefinder.yaml`, read
through the workflow's own code (`ground_truth_recording`, `run_benchmark`), so this script
and `snakemake ... --configfile config/spikefinder.yaml results/spikes/benchmark.csv` score
the same folds. Printed, per dataset: each method's mean Spikefinder `corr` under each
cross-validation (lono: leave one neuron out; lodo: leave one dataset out) beside the
published train-split entries (datasets 4 and 5) and OASIS; the spike-count error and bias
per neuron (CASCADE's measures; OASIS's output is not in spikes, so its counts are not
calibrated); training seconds per fold; inference throughput per method on one core; and,
with --full-bank, the wall time of training the whole bank on every dataset.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spikes_groundtruth.py \\
        [--methods oasis cnn bank vae] [--cv lono lodo] [--datasets sf4 sf5] [--out cells.csv]
        [--full-bank] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from brainreps.config import validate_config
from brainreps.data.ground_truth import ground_truth_recording
from brainreps.spikes import get_method
from brainreps.spikes.benchmark import (
    ground_truth_from_recording,
    method_specs,
    run_benchmark,
    training_data,
    training_groups,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "spikefinder.yaml"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spikes_accuracy import published, throughput  # noqa: E402


def load_config(path: Path) -> dict:
    """The config validated from the repository root (its paths are relative to it)."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return validate_config(yaml.safe_load(path.read_text()))
    finally:
        os.chdir(cwd)


def load_datasets(config: dict, names: list[str] | None) -> dict:
    """Every ground-truth entry (or those named) as the workflow's spikes_data rule reads it."""
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        out = {}
        for name, entry in config["spikes"]["ground_truth"].items():
            if names is None or name in names:
                out[name] = ground_truth_from_recording(ground_truth_recording(entry), name)
        return out
    finally:
        os.chdir(cwd)


def report(scores: pd.DataFrame, datasets: dict) -> None:
    """The per-dataset tables: corr by method and cross-validation, OASIS, counts."""
    corr = scores[scores.measure == "corr"]
    table = corr.groupby(["dataset", "method", "cv"])["value"].mean().unstack(["method", "cv"])
    table.columns = [m if cv == "none" else f"{m} {cv}" for m, cv in table.columns]
    info = pd.DataFrame(
        {
            "indicator": {n: g.indicator for n, g in datasets.items()},
            "fs": {n: round(g.fs, 1) for n, g in datasets.items()},
            "cells": {n: len(set(g.neurons)) for n, g in datasets.items()},
        }
    )
    table = info.join(table, how="right").loc[[n for n in datasets if n in table.index]]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    print("\nmean corr per dataset (40 ms bins; a frame when frames are longer)")
    print(table.round(3).to_string())
    pub = published()
    pub.columns = [f"sf{c}" for c in pub.columns]
    print("\npublished train-split entries (in-sample tuned; see benchmarks/README.md)")
    print(pub.round(3).to_string())
    if "oasis" in table.columns:
        others = [c for c in table.columns if c not in ("indicator", "fs", "cells", "oasis")]
        diff = table[others].sub(table["oasis"], axis=0)
        print("\nminus OASIS per dataset (>= 0: at least as good)")
        print(diff.round(3).to_string())
        print("datasets where the method is below OASIS:")
        for col in others:
            below = diff.index[diff[col] < 0].tolist()
            print(f"  {col}: {len(below)} of {diff[col].notna().sum()} {below}")
    for measure in ("count_error", "count_bias"):
        sub = scores[scores.measure == measure]
        if len(sub):
            t = sub.groupby(["method", "cv"])["value"].agg(["median", "mean", "count"])
            print(f"\n{measure} per neuron, over every dataset")
            print(t.round(3).to_string())


def full_bank_seconds(config: dict, datasets: dict, threads: int) -> float:
    """Wall time of training every member of the bank on every dataset (as spikes_train)."""
    everything = {n: np.arange(len(g.units)) for n, g in datasets.items()}
    calcium, spikes, rates = training_data(datasets, everything)
    settings = dict(config["spikes"]["methods"]["bank"].get("train", {}))
    settings["members"] = "all"
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    bank = get_method("bank").train(
        calcium, spikes, rates, groups=training_groups(datasets, everything), **settings
    )
    seconds = time.perf_counter() - t0
    print(
        f"\nfull bank: {len(bank.members)} members on {len(calcium)} recordings of "
        f"{len(datasets)} datasets: {seconds:.0f} s wall, {threads} torch threads"
    )
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--methods", nargs="+", default=None, help="method labels (default: all)")
    ap.add_argument("--cv", nargs="+", default=None, help="cross-validation names (default: all)")
    ap.add_argument("--datasets", nargs="+", default=None, help="ground-truth names (default: all)")
    ap.add_argument("--train", default="{}", help="JSON: label -> train settings to override")
    ap.add_argument("--out", default=None, help="write every score row to this CSV")
    ap.add_argument("--full-bank", action="store_true", help="also time the whole bank")
    ap.add_argument("--noise-units", type=int, default=0, help="noise sweep on N units per set")
    ap.add_argument("--noise-held", nargs="+", default=["sf4", "sf5"], help="its held-out sets")
    ap.add_argument("--noise-out", default="noise", help="noise sweep CSV/PNG path stem")
    ap.add_argument(
        "--scores",
        nargs="+",
        default=None,
        help="report these --out CSVs of earlier runs (merged) instead of running",
    )
    ap.add_argument("--threads", type=int, default=1, help="torch threads (inference: 1)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    config = load_config(args.config)
    if args.scores:
        scores = pd.concat([pd.read_csv(p, dtype={"unit": str}) for p in args.scores])
        names = list(dict.fromkeys(scores["dataset"]))
        report(scores.drop_duplicates(), load_datasets(config, names))
        return
    torch.set_num_threads(args.threads)
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"cuda: {torch.cuda.is_available()}, load average: {os.getloadavg()[0]:.1f}"
    )
    t0 = time.perf_counter()
    datasets = load_datasets(config, args.datasets)
    print(f"{len(datasets)} datasets loaded in {time.perf_counter() - t0:.0f} s")
    methods = config["spikes"]["methods"]
    overrides = json.loads(args.train)
    methods = {
        label: {
            **(entry or {}),
            "train": {**(entry or {}).get("train", {}), **overrides.get(label, {})},
        }
        for label, entry in methods.items()
        if args.methods is None or label in args.methods
    }
    cvs = config["spikes"]["cv"]
    cvs = [cvs] if isinstance(cvs, dict) else list(cvs)
    cvs = [c for c in cvs if args.cv is None or c.get("name") in args.cv]
    if not cvs:
        if args.noise_units:
            noise_figure(
                methods, datasets, config, args.noise_held, args.noise_units, args.noise_out
            )
        if args.full_bank and "bank" in methods:
            full_bank_seconds(config, datasets, args.threads)
        return
    for c in cvs:
        if c.get("datasets"):
            c["datasets"] = [d for d in c["datasets"] if d in datasets]
        if c.get("methods"):
            c["methods"] = [m for m in c["methods"] if m in methods]
    t0 = time.perf_counter()
    result = run_benchmark(datasets, method_specs(methods), cvs, config["spikes"]["measures"])
    print(f"\ncross-validation and scoring: {time.perf_counter() - t0:.0f} s")
    if args.out:
        result.scores.to_csv(args.out, index=False)
    report(result.scores, datasets)
    timing = result.timing[result.timing.train_seconds > 0]
    if len(timing):
        print("\ntraining seconds per fold (one fold = one model)")
        print(
            timing.groupby("method")["train_seconds"]
            .describe()[["count", "mean", "min", "max"]]
            .round(1)
            .to_string()
        )
    torch.set_num_threads(1)
    trace = np.concatenate([d[np.isfinite(d)] for d in datasets[next(iter(datasets))].dff])
    trace, fs = trace[:100_000], datasets[next(iter(datasets))].fs
    print(
        f"\ninference throughput on one core ({trace.size} samples of "
        f"{next(iter(datasets))} at {fs:g} Hz)"
    )
    for key, (label, _) in result.keys.items():
        model = next(iter(result.models.get(key, {}).values()), None)
        spec = next(s for s in method_specs(methods) if s.label == label)
        if spec.supervised and model is None:
            continue
        rate = throughput(spec.method, model, trace, fs, **spec.params)
        print(f"  {key}: {rate:,.0f} samples/s")
    if args.noise_units:
        noise_figure(methods, datasets, config, args.noise_held, args.noise_units, args.noise_out)
    if args.full_bank and "bank" in methods:
        full_bank_seconds(config, datasets, args.threads)


def noise_figure(
    methods: dict, datasets: dict, config: dict, held: list[str], n_units: int, out: str
) -> None:
    """Noise robustness on datasets no model saw: every supervised method (the bank with every
    noise level of its grid at the held sets' frame rate) trained once on all the other
    datasets, then the sweep of spikes.noise on `n_units` cells of each held-out set; writes
    `out`.csv (the summary) and `out`.png (the workflow's noise figure)."""
    from brainreps.plots.spikes import noise_curves
    from brainreps.plots.style import save_figure
    from brainreps.spikes.noise import noise_sweep, summarise

    train = {n: np.arange(len(g.units)) for n, g in datasets.items() if n not in held}
    calcium, spikes, rates = training_data(datasets, train)
    groups = training_groups(datasets, train)
    fs = sorted({datasets[h].fs for h in held})
    snrs, frames = list(config["spikes"]["noise"]["snr"]), []
    for spec in method_specs(methods):
        model = None
        if spec.supervised:
            settings = dict(spec.train)
            if spec.method == "bank":
                settings.update(members="all", frame_rates=fs)
            t0 = time.perf_counter()
            model = get_method(spec.method).train(calcium, spikes, rates, groups=groups, **settings)
            print(f"noise sweep: {spec.label} trained in {time.perf_counter() - t0:.0f} s")
        for name in held:
            gt = datasets[name]
            units = list(range(min(n_units, len(gt.units))))
            models = None if model is None else dict.fromkeys(units, model)
            frames.append(noise_sweep(gt, spec, snrs, units, models, seed=0))
    summary = summarise(pd.concat(frames, ignore_index=True))
    summary.to_csv(f"{out}.csv", index=False)
    halves = summary.drop_duplicates(["dataset", "method"])[
        ["dataset", "method", "clean_corr", "half_snr"]
    ]
    print("\nnoise robustness (models trained without the held-out sets): clean corr and the")
    print("SNR where the mean corr halves (NaN: never on the grid)")
    print(halves.round(3).to_string(index=False))
    title = f"noise robustness on held-out {', '.join(held)} (models trained on the other sets)"
    save_figure(noise_curves(summary, {}, title), f"{out}.png")


if __name__ == "__main__":
    main()
