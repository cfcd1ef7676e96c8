"""Spike-inference speed on one CPU core: oasis through brainreps vs the package; samples/s.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_spikes_speed.py [--repeats 3]
        [--model cnn=PATH --model stm=PATH]

Data: the Spikefinder train calcium of datasets 4, 5, 6 (../shared/data/spikefinder), or a
synthetic AR(1) population of the same size when that folder is absent.
Prints (1) OASIS AR(1) on every neuron: `oasis.functions.deconvolve` called directly on each
trace's finite samples vs `brainreps.spikes.oasis.infer` (checks, NaN-segment handling,
clipping) vs the benchmark's `infer_units`, best of --repeats, ratio pipeline/direct;
(2) throughput (samples/s, one core) of every method that can run: oasis AR(1)/AR(2),
derivative, and supervised methods given a trained model file with --model.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from oasis.functions import deconvolve  # noqa: E402

from brainreps.spikes import SUPERVISED, get_method  # noqa: E402
from brainreps.spikes.benchmark import GroundTruth, MethodSpec, infer_units  # noqa: E402

SPIKEFINDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spikefinder" / "truth"


def load_traces() -> tuple[list[np.ndarray], str]:
    """Every Spikefinder train trace (NaN padding kept), or a synthetic stand-in."""
    if SPIKEFINDER.is_dir():
        from brainreps.data.spikefinder import load_spikefinder, spikefinder_paths

        traces = []
        for dset in ("4", "5", "6"):
            ds = load_spikefinder(*spikefinder_paths(SPIKEFINDER, dset))
            traces += [row.astype(np.float64) for row in ds["dff"].values]
        return traces, "Spikefinder train 4+5+6"
    rng = np.random.default_rng(0)
    traces = []
    for _ in range(24):
        s = rng.poisson(0.02, 25000).astype(float)
        c = np.zeros_like(s)
        for t in range(s.size):
            c[t] = (0.97 * c[t - 1] if t else 0) + s[t]
        traces.append(c + 0.3 * rng.standard_normal(s.size))
    return traces, "synthetic AR(1), 24 x 25000"


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", action="append", default=[], metavar="METHOD=PATH")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass

    traces, what = load_traces()
    n_samples = int(sum(np.isfinite(t).sum() for t in traces))
    finite = [t[np.isfinite(t)] for t in traces]  # Spikefinder NaN is end padding only
    fs = 100.0
    print(f"data: {what}: {len(traces)} traces, {n_samples} finite samples; 1 thread")

    oasis = get_method("oasis")
    gt = GroundTruth(
        "bench",
        np.vstack(
            [np.pad(t, (0, max(map(len, traces)) - len(t)), constant_values=np.nan) for t in traces]
        ),
        np.zeros((len(traces), max(map(len, traces)))),
        fs,
        [str(i) for i in range(len(traces))],
        [str(i) for i in range(len(traces))],
    )
    spec = MethodSpec("oasis", "oasis", {"p": 1})

    def direct():
        return [deconvolve(y, penalty=1).s for y in finite]

    def pipeline():
        return [oasis.infer(t, fs) for t in traces]

    def benchmark_path():
        return infer_units(spec, gt, range(len(traces)))

    # same result first (up to the clipping of -1e-16 rounding to 0)
    for a, b in zip(direct(), pipeline(), strict=True):
        np.testing.assert_allclose(np.maximum(a, 0), b[np.isfinite(b)], atol=1e-12)
    t_direct, t_pipe, t_bench = [], [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits all alike
        t_direct.append(best_of(direct, 1))
        t_pipe.append(best_of(pipeline, 1))
        t_bench.append(best_of(benchmark_path, 1))
    d, p, b = min(t_direct), min(t_pipe), min(t_bench)
    print(f"\nOASIS AR(1), all traces (best of {args.repeats}):")
    print(f"  oasis.functions.deconvolve (direct)  {d:7.3f} s  {n_samples / d:12,.0f} samples/s")
    print(f"  brainreps.spikes.oasis.infer         {p:7.3f} s  ratio {p / d:.3f}")
    print(f"  benchmark.infer_units                {b:7.3f} s  ratio {b / d:.3f}")

    print(f"\nthroughput per method (one core, best of {args.repeats}):")
    models = dict(item.split("=", 1) for item in args.model)
    methods = [("oasis", {"p": 1}), ("oasis_ar2", {"p": 2}), ("derivative", {})]
    methods += [(m, {}) for m in sorted(SUPERVISED)]
    for label, params in methods:
        name = "oasis" if label.startswith("oasis") else label
        kwargs = dict(params)
        if name in SUPERVISED:
            if name not in models:
                print(f"  {label:12s} skipped (give --model {name}=PATH of a trained model)")
                continue
            module = get_method(name)
            kwargs["model"] = module.load(models[name])
        module = get_method(name)
        seconds = best_of(
            lambda m=module, k=kwargs: [m.infer(t, fs, **k) for t in traces], args.repeats
        )
        print(f"  {label:12s} {seconds:8.3f} s  {n_samples / seconds:14,.0f} samples/s")


if __name__ == "__main__":
    main()
