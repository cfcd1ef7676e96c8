"""Brain-guided training on the offline task: baseline, regularised and control, with seeds.

Li et al. (2019) report that a network regularised towards the similarity structure of mouse
V1 classifies as well as its baseline on clean images and clearly better under noise. This
script trains the embedded default's three arms (config/config.yaml: convnet with lambda 0,
convnet-brain, convnet-brain-control) for each seed, on the photographs task with the neural
target of a finished default run, and reports per arm the mean and range over seeds of:
held-out top-1 clean, under Gaussian pixel noise and under FGSM; the regularised layers'
held-out RSA with the target; and seconds per training epoch (the regulariser's overhead).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_brain_guided.py \
        --target RUN/results/neural_targets/alexnet/simulated/photographs.zarr --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from brainreps.config import load_config
from brainreps.data.photographs import photograph_stimuli
from brainreps.io import write_store
from brainreps.training.data import labelled_split
from brainreps.training.loop import evaluate_checkpoints, train_run
from brainreps.training.pipeline import load_target
from brainreps.training.results import history_frame

REPO = Path(__file__).resolve().parents[1]
ARMS = {"baseline": "convnet", "regularised": "convnet-brain", "control": "convnet-brain-control"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--target", required=True, help="the default run's neural target store")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", help="also write the per-run table here (CSV)")
    args = parser.parse_args()
    config = load_config(REPO / "config" / "config.yaml")
    sset = config["stimulus_sets"]["photographs"]
    stimuli = photograph_stimuli(
        sset["photographs"], sset["n_train_per_class"], sset["n_test_per_class"], sset["size"],
        sset["seed"],
    )  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "photographs.zarr"
        write_store(stimuli, store, kind="stimuli")
        for seed in args.seeds:
            for arm, run in ARMS.items():
                settings = dict(config["training"][run])
                settings.update(seed=seed, epochs=[0, args.epochs], analyse={"stimuli": []})
                split = labelled_split(stimuli, "photographs", 0.2, seed)
                target = load_target(settings, split, store, args.target)
                t0 = time.perf_counter()
                work = train_run(split, settings, Path(tmp) / f"{run}-{seed}", run, target=target)
                seconds = time.perf_counter() - t0
                history = history_frame(work[args.epochs])
                ev = evaluate_checkpoints(split, settings, work, run, target)
                first, last = ev[0], ev[args.epochs]
                row = {
                    "arm": arm,
                    "seed": seed,
                    "clean": last["test"]["top1"],
                    **{f"noise {k:g}": v for k, v in last["noise"].items()},
                    **{f"fgsm {k:.4f}": v for k, v in last["fgsm"].items()},
                    "rsa before": first["rsa"],
                    "rsa after": last["rsa"],
                    "s per epoch": float(history["seconds"].mean()),
                    "total s": seconds,
                }
                rows.append(row)
                print(
                    f"seed {seed} {arm:11s}: clean {row['clean']:.3f}, RSA {row['rsa before']:.3f}"
                    f" -> {row['rsa after']:.3f}, {row['s per epoch']:.2f} s/epoch",
                    flush=True,
                )
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    measures = [c for c in table.columns if c not in ("arm", "seed", "total s")]
    summary = table.groupby("arm", sort=False)[measures].agg(["mean", "min", "max"])
    pd.set_option("display.width", 200)
    print(f"\nper arm over seeds {args.seeds}: mean [min, max]")
    for measure in measures:
        cells = [
            f"{summary.loc[a, (measure, 'mean')]:.3f} "
            f"[{summary.loc[a, (measure, 'min')]:.3f}, {summary.loc[a, (measure, 'max')]:.3f}]"
            for a in ARMS
        ]
        print(f"{measure:14s} " + "  ".join(f"{a}: {c}" for a, c in zip(ARMS, cells, strict=True)))
    base = table[table.arm == "baseline"]["s per epoch"].mean()
    reg = table[table.arm == "regularised"]["s per epoch"].mean()
    print(f"training time per epoch, regularised / baseline: {reg / base:.3f}")
    for measure in [m for m in measures if m.startswith(("noise", "fgsm"))]:
        by_seed = table.pivot(index="seed", columns="arm", values=measure)
        beats = ((by_seed["regularised"] > by_seed["baseline"]) & (
            by_seed["regularised"] > by_seed["control"])).sum()  # fmt: skip
        print(f"{measure}: regularised above both baseline and control in {beats} of "
              f"{len(by_seed)} seeds")  # fmt: skip


if __name__ == "__main__":
    main()
