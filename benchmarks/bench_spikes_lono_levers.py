"""Leave one neuron out on Spikefinder 4 or 5: what more ground truth and time-stretching buy.

Each fold trains one cnn on the held-out neuron's dataset's other neurons (`--train same`),
on those plus every other set of the same indicator, each set one share of every epoch
(`indicator`), or with the own dataset holding `--own-share` of every epoch and the other
sets the rest (`weighted`). The folds are the workflow's (`make_folds`, leave one neuron
out), the sets and their loaders `config/spikefinder.yaml`'s. With `--stretch`, each
held-out trace is also inferred as if imaged at f times its rate, for f in a grid (a cell
with slower kinetics looks like a faster-imaged one), and the script prints the mean corr
at each f, the per-cell best f (an oracle: it needs the labels), the average over a few f,
and the f an unsupervised criterion picks (how much of the trace a linear kernel of the
inferred rate explains).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spikes_lono_levers.py \\
        --held sf4 --train same --recipe '{"epochs": 20, "epoch_samples": null}' --stretch
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from brainreps.spikes import cnn, metrics
from brainreps.spikes.benchmark import make_folds, training_data, training_groups

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_spikes_groundtruth import CONFIG, load_config, load_datasets  # noqa: E402

STRETCH = [0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0]
AVERAGED = [0.7, 0.85, 1.0, 1.2, 1.4]


def weighted_groups(groups: list[str], held: str, own_share: float) -> list[str]:
    """Group labels that give `held` about `own_share` of every epoch (groups draw equally)."""
    n_other = max(1, round((1 - own_share) / own_share))
    others = sorted(set(groups) - {held})
    return [g if g == held else f"other{others.index(g) % n_other}" for g in groups]


def same_indicator(config: dict, held: str) -> list[str]:
    """The ground-truth entries of `held`'s indicator (itself included), in config order."""
    entries = config["spikes"]["ground_truth"]
    own = entries[held]["indicator"].lower()
    return [n for n, e in entries.items() if (e.get("indicator") or "").lower() == own]


def kernel_fit(trace: np.ndarray, rate: np.ndarray, fs: float, bin_s: float = 0.04) -> float:
    """R^2 of the trace (40 ms means) on lagged 40 ms sums of the rate (-0.5 s to +3 s)."""
    ok = np.isfinite(trace)
    x, r = trace[ok], rate[ok]
    w = max(1, int(round(bin_s * fs)))
    n = x.size // w
    xb, rb = x[: n * w].reshape(n, w).mean(1), r[: n * w].reshape(n, w).sum(1)
    lags = range(-int(0.5 / bin_s), int(3.0 / bin_s) + 1)
    design = np.stack([np.roll(rb, lag) for lag in lags] + [np.ones(n)], 1)
    beta, *_ = np.linalg.lstsq(design, xb, rcond=None)
    return float(1 - np.var(xb - design @ beta) / np.var(xb))


def corr(spikes: np.ndarray, rate: np.ndarray, fs: float) -> float:
    """The Spikefinder corr of one cell."""
    return metrics.score_all(spikes, rate, fs=fs, measures=("corr",))["corr"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--held", default="sf4", help="a ground-truth entry of the config")
    ap.add_argument("--train", choices=["same", "indicator", "weighted"], default="same")
    ap.add_argument("--recipe", default="{}", help="JSON: cnn train settings over the base")
    ap.add_argument("--own-share", type=float, default=0.5)
    ap.add_argument("--stretch", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    config = load_config(CONFIG)
    names = [args.held] if args.train == "same" else same_indicator(config, args.held)
    datasets = load_datasets(config, names)
    train_on = "same_dataset" if args.train == "same" else "same_indicator"
    cv = {"scheme": "leave_one_neuron_out", "train_on": train_on, "datasets": [args.held]}
    folds = make_folds(datasets, cv)
    recipe = {"epochs": 15, "epoch_samples": 600_000, "n_models": 1, **json.loads(args.recipe)}
    factors = STRETCH if args.stretch else [1.0]
    gt = datasets[args.held]
    scores, fits, pooled = [], [], []
    t0 = time.perf_counter()
    for fold in folds:
        calcium, spikes, rates = training_data(datasets, fold.train)
        groups = training_groups(datasets, fold.train)
        if args.train == "weighted":
            groups = weighted_groups(groups, args.held, args.own_share)
        model = cnn.train(calcium, spikes, rates, groups=groups, **recipe)
        for i in fold.test[args.held]:
            inferred = {f: cnn.infer(gt.dff[i], gt.fs * f, model=model) for f in factors}
            scores.append([corr(gt.spikes[i], r, gt.fs) for r in inferred.values()])
            fits.append([kernel_fit(gt.dff[i], r, gt.fs) for r in inferred.values()])
            if args.stretch:
                mean = np.mean([inferred[f] / inferred[f].std() for f in AVERAGED], axis=0)
                pooled.append(corr(gt.spikes[i], mean, gt.fs))
            print(f"{gt.units[i]}: corr at f = 1 {scores[-1][factors.index(1.0)]:.3f}", flush=True)
    s = np.asarray(scores)
    print(
        f"\n{args.held}, train {args.train}, recipe {recipe}, {len(s)} cells, "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(f"mean corr at f = 1: {s[:, factors.index(1.0)].mean():.3f}")
    if args.stretch:
        per_f = ", ".join(f"{f:g}: {m:.3f}" for f, m in zip(factors, s.mean(0), strict=True))
        picked = s[np.arange(len(s)), np.argmax(np.asarray(fits), axis=1)]
        print(f"mean corr per f: {per_f}")
        print(f"per-cell best f (oracle): {s.max(1).mean():.3f}")
        print(f"average over f in {AVERAGED}: {np.mean(pooled):.3f}")
        print(f"f of the best kernel fit (unsupervised): {picked.mean():.3f}")


if __name__ == "__main__":
    main()
