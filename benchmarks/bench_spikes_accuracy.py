"""Accuracy and speed of the supervised spike-inference methods on the Spikefinder train splits.

Cross-validation (no neuron is scored by a model trained on it) is the workflow's own:
`brainreps.spikes.benchmark.run_benchmark` with the folds of `make_folds`. By default every
neuron of datasets 4, 5 and 6 is scored by a model trained on the other neurons of the same
dataset (leave one neuron out, `--folds 0`; `--train-on same`: one model per indicator, as a
user would pick). `--folds K` deals each dataset's neurons into K groups by a seeded
permutation (`--seed`, the config's `spikes.cv.seed`) instead; `--train-on all` adds every
neuron of the other two datasets to each fold's training set.
Reported: mean Spikefinder `corr` (40 ms bins) per dataset and method, next to the published
train-split entries on the same neurons (deneux/MLspike, friedrich/OASIS, oopsi are model-based
and fair; stm/chenkov were fitted on these neurons, so their train scores are inflated).

Speed: wall time of training the cnn on all neurons of the three datasets (the rule's job),
and inference throughput (samples/s) of every method on one CPU core.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_spikes_accuracy.py [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainreps.data.spikefinder import load_spikefinder, spikefinder_paths
from brainreps.spikes import SUPERVISED, get_method
from brainreps.spikes.benchmark import (
    GroundTruth,
    MethodSpec,
    ground_truth_from_recording,
    run_benchmark,
    training_data,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spikefinder"
PUBLISHED = ("deneux", "friedrich", "oopsi", "stm", "chenkov")


def load(dataset: str) -> GroundTruth:
    """One train split through the package's Spikefinder loader (as the workflow reads it)."""
    recording = load_spikefinder(*spikefinder_paths(DATA / "truth", dataset), dataset_id=dataset)
    return ground_truth_from_recording(recording, dataset)


def cv_config(folds: int, train_on: str, seed: int) -> dict:
    """The `spikes.cv` config entry these arguments stand for."""
    return {
        "scheme": "leave_one_neuron_out" if folds == 0 else "kfold_neurons",
        "n_folds": folds,
        "train_on": {"same": "same_dataset", "all": "all_datasets"}[train_on],
        "seed": seed,
    }


def throughput(
    method: str, model, trace: np.ndarray, fs: float, repeats: int = 3, **params
) -> float:
    """Samples per second of infer() on one thread (best of `repeats`)."""
    module = get_method(method)
    kwargs = {"model": model, **params} if model is not None else dict(params)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        module.infer(trace, fs, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return trace.size / best


def published() -> pd.DataFrame:
    """Mean published train corr per (algo, dataset)."""
    df = pd.read_csv(DATA / "published_train_scores.csv")
    df = df[(df.measure == "corr") & (df.split == "train") & df.algo.isin(PUBLISHED)]
    return df.groupby(["algo", "dset"]).value.mean().unstack()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--folds", type=int, default=0, help="groups per dataset; 0 = leave one neuron out"
    )
    ap.add_argument(
        "--train-on",
        choices=("same", "all"),
        default="same",
        help="train each fold on the same dataset's other neurons, or add the other datasets'",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the --folds K assignment")
    ap.add_argument("--methods", nargs="+", default=["cnn", "stm", "derivative", "oasis"])
    ap.add_argument("--cnn", default="{}", help="JSON of cnn train params")
    ap.add_argument("--stm", default="{}", help="JSON of stm train params")
    ap.add_argument("--no-full-train", action="store_true", help="skip timing the full training")
    ap.add_argument("--out", default=None, help="write per-neuron scores to this CSV")
    ap.add_argument(
        "--threads", type=int, default=2, help="torch threads for training (inference: 1)"
    )
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"no Spikefinder reference data at {DATA}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    params = {"cnn": json.loads(args.cnn), "stm": json.loads(args.stm)}
    data = {d: load(d) for d in ("4", "5", "6")}
    torch.set_num_threads(args.threads)
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"cuda: {torch.cuda.is_available()}, load average: {os.getloadavg()[0]:.1f}"
    )
    specs = [MethodSpec(m, m, train=params.get(m, {})) for m in args.methods]
    t0 = time.perf_counter()
    result = run_benchmark(
        data, specs, cv_config(args.folds, args.train_on, args.seed), measures=("corr",)
    )
    print(f"cross-validation and scoring: {time.perf_counter() - t0:.0f} s", flush=True)
    per_cell = result.scores.rename(columns={"dataset": "dset", "value": "corr"})
    per_cell = per_cell[["method", "dset", "unit", "fold", "corr"]]
    if args.out:
        per_cell.to_csv(args.out, index=False)
    table = per_cell.groupby(["method", "dset"])["corr"].mean().unstack()
    pub = published()
    pub.columns = [str(c) for c in pub.columns]
    pub.index = [f"published {a}" for a in pub.index]
    print("\nmean corr (40 ms bins) per dataset; ours cross-validated over neurons")
    print(pd.concat([table, pub]).round(3).to_string())
    for method in [m for m in args.methods if m in SUPERVISED and m in table.index]:
        for d in ("4", "5"):
            ratio = table.loc[method, d] / pub.loc["published deneux", d]
            print(f"{method} / deneux (MLspike) on dataset {d}: {ratio:.2f}")

    # speed: the rule's training job, then inference on one core
    models = {}
    if not args.no_full_train:
        everything = {d: np.arange(len(gt.units)) for d, gt in data.items()}
        calcium, spikes, rates = training_data(data, everything)
        for method in [m for m in args.methods if m in SUPERVISED]:
            t0 = time.perf_counter()
            models[method] = get_method(method).train(calcium, spikes, rates, **params[method])
            print(
                f"train {method} on datasets 4+5+6 ({len(calcium)} neurons, "
                f"{sum(c.size for c in calcium)} samples at 100 Hz): "
                f"{time.perf_counter() - t0:.0f} s wall, {torch.get_num_threads()} threads"
            )
    torch.set_num_threads(1)
    ds4 = data["4"]
    trace = ds4.dff.ravel()
    trace = trace[np.isfinite(trace)][:100_000]
    for method in args.methods:
        if method in SUPERVISED and method not in models:
            continue
        rate = throughput(method, models.get(method), trace, ds4.fs)
        print(f"inference {method}: {rate:,.0f} samples/s on one core")


if __name__ == "__main__":
    main()
