"""Accuracy and speed of the supervised spike-inference methods on the Spikefinder train splits.

Cross-validation (no neuron is scored by a model trained on it): the neurons of every dataset
(4, 5, 6) are dealt into `--folds` groups (neuron i -> group i mod k); the model of group g
is trained on the neurons outside group g, of the same dataset (`--train-on same`, the
default: one model per indicator, as a user would pick) or of all three datasets (`--train-on
all`: one model for every indicator), and scores the neurons of group g.
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
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainreps.spikes import get_method, metrics

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "spikefinder"
FS = 100.0
PUBLISHED = ("deneux", "friedrich", "oopsi", "stm", "chenkov")


def load(dataset: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Calcium traces and spike counts of one train split, trailing NaN padding removed."""
    ca = pd.read_csv(DATA / "truth" / f"{dataset}.train.calcium.csv.gz").to_numpy(float).T
    sp = pd.read_csv(DATA / "truth" / f"{dataset}.train.spikes.csv.gz").to_numpy(float).T
    calcium, spikes = [], []
    for c, s in zip(ca, sp, strict=True):
        n = np.flatnonzero(np.isfinite(c))[-1] + 1
        calcium.append(c[:n])
        spikes.append(s[:n])
    return calcium, spikes


def cross_validated(
    method: str, data: dict, folds: int, params: dict, train_on: str = "same"
) -> dict[str, list[float]]:
    """Per dataset, the corr of every neuron under the model of its held-out group.

    folds 0: leave one neuron out (one group per neuron of the dataset; train_on "same" only).
    """
    if folds == 0 and train_on != "same":
        raise ValueError("leave-one-neuron-out (--folds 0) needs --train-on same")
    module = get_method(method)
    scores = {d: [np.nan] * len(c) for d, (c, _) in data.items()}
    # each group of datasets is trained and scored together: one model per (fold, dataset)
    # with train_on "same", one per fold for all datasets with "all"
    scored_together = [[d] for d in data] if train_on == "same" else [list(data)]
    for scored in scored_together:
        k = folds or len(data[scored[0]][0])
        for g in range(k):
            calcium, spikes = [], []
            for d in scored:
                c, s = data[d]
                calcium += [c[i] for i in range(len(c)) if i % k != g]
                spikes += [s[i] for i in range(len(s)) if i % k != g]
            t0 = time.perf_counter()
            model = module.train(calcium, spikes, FS, **params)
            print(
                f"  {method} fold {g} ({'+'.join(scored)}): trained on {len(calcium)} neurons "
                f"in {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
            for d in scored:
                c, s = data[d]
                for i in range(g, len(c), k):
                    scores[d][i] = metrics.corr(s[i], module.infer(c[i], FS, model=model))
    return scores


def unsupervised(method: str, data: dict) -> dict[str, list[float]]:
    """Per dataset, the corr of every neuron (nothing to train)."""
    module = get_method(method)
    return {
        d: [metrics.corr(s_, module.infer(c_, FS)) for c_, s_ in zip(c, s, strict=True)]
        for d, (c, s) in data.items()
    }


def published() -> pd.DataFrame:
    """Mean published train corr per (algo, dataset)."""
    df = pd.read_csv(DATA / "published_train_scores.csv")
    df = df[(df.measure == "corr") & (df.split == "train") & df.algo.isin(PUBLISHED)]
    return df.groupby(["algo", "dset"]).value.mean().unstack()


def throughput(method: str, model, trace: np.ndarray, repeats: int = 3) -> float:
    """Samples per second of infer() on one thread (best of `repeats`)."""
    module = get_method(method)
    kwargs = {"model": model} if model is not None else {}
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        module.infer(trace, FS, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return trace.size / best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--folds", type=int, default=3, help="groups per dataset; 0 = leave one neuron out"
    )
    ap.add_argument(
        "--train-on",
        choices=("same", "all"),
        default="same",
        help="train each fold on the same dataset's other neurons, or on all three datasets'",
    )
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
    params = {"cnn": json.loads(args.cnn), "stm": json.loads(args.stm)}
    data = {d: load(d) for d in ("4", "5", "6")}
    torch.set_num_threads(args.threads)
    print(
        f"cores: {os.cpu_count()}, torch threads: {torch.get_num_threads()}, "
        f"cuda: {torch.cuda.is_available()}, load average: {os.getloadavg()[0]:.1f}"
    )
    rows = []
    for method in args.methods:
        t0 = time.perf_counter()
        if method in ("cnn", "stm"):
            scores = cross_validated(method, data, args.folds, params[method], args.train_on)
        else:
            scores = unsupervised(method, data)
        print(f"{method}: {time.perf_counter() - t0:.0f} s", flush=True)
        for d, values in scores.items():
            rows += [
                {"method": method, "dset": d, "cell": i, "corr": v} for i, v in enumerate(values)
            ]
    per_cell = pd.DataFrame(rows)
    if args.out:
        per_cell.to_csv(args.out, index=False)
    table = per_cell.groupby(["method", "dset"])["corr"].mean().unstack()
    pub = published()
    pub.columns = [str(c) for c in pub.columns]
    pub.index = [f"published {a}" for a in pub.index]
    print("\nmean corr (40 ms bins) per dataset; ours cross-validated over neurons")
    print(pd.concat([table, pub]).round(3).to_string())
    for method in ("cnn", "stm"):
        if method in table.index:
            for d in ("4", "5"):
                ratio = table.loc[method, d] / pub.loc["published deneux", d]
                print(f"{method} / deneux (MLspike) on dataset {d}: {ratio:.2f}")

    # speed: the rule's training job, then inference on one core
    models = {}
    if not args.no_full_train:
        for method in [m for m in ("cnn", "stm") if m in args.methods]:
            calcium = [c for c, _ in data.values() for c in c]
            spikes = [s for _, s in data.values() for s in s]
            t0 = time.perf_counter()
            models[method] = get_method(method).train(calcium, spikes, FS, **params[method])
            print(
                f"train {method} on datasets 4+5+6 ({len(calcium)} neurons, "
                f"{sum(c.size for c in calcium)} samples at 100 Hz): "
                f"{time.perf_counter() - t0:.0f} s wall, {torch.get_num_threads()} threads"
            )
    torch.set_num_threads(1)
    trace = np.concatenate(data["4"][0])[:100_000]
    for method in args.methods:
        if method in ("cnn", "stm") and method not in models:
            continue
        rate = throughput(method, models.get(method), trace)
        print(f"inference {method}: {rate:,.0f} samples/s on one core")


if __name__ == "__main__":
    main()
