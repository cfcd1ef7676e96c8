"""Sparse random projection: brainreps.projection.project vs scikit-learn, time and peak memory.

119 x 800,000 float32 features -> 4,096 components (the issue's shape), both on the same
array in one run. Peak extra memory is the process's resident high-water mark (VmHWM, reset
through /proc/self/clear_refs before each method) minus its resident size just before,
compared with the size of one feature chunk plus the output.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_projection.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.random_projection import SparseRandomProjection

from brainreps.projection import ROW_BLOCK, default_chunk_features, project

warnings.filterwarnings("ignore")
MiB = 2**20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def measure(fn):
    """(seconds, result, extra peak resident MiB) of fn()."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark to the current resident size
        base = _status_kib("VmRSS")
    except OSError:
        base = None
    t0 = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t0
    extra = (_status_kib("VmHWM") - base) / 1024 if base is not None else float("nan")
    return seconds, result, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-stimuli", type=int, default=119)
    parser.add_argument("--n-features", type=int, default=800_000)
    parser.add_argument("--n-components", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    n, f, k = args.n_stimuli, args.n_features, args.n_components
    x = np.random.default_rng(0).standard_normal((n, f), dtype=np.float32)
    project(x[:, :1000], 1000, 16)  # warm up imports and thread pools
    chunk = default_chunk_features(n)
    chunk_mib = n * chunk * 4 / MiB
    out_mib = n * k * 4 / MiB
    print(f"X: {n} x {f} float32 ({x.nbytes / MiB:.0f} MiB) -> {k} components")
    print(f"one feature chunk: {chunk} features = {chunk_mib:.1f} MiB; output {out_mib:.1f} MiB")
    print(f"  (R is generated and multiplied {ROW_BLOCK} features at a time)")
    ours_t, theirs_t, mem_first = [], [], None
    for r in range(args.repeats):
        t, ours, mem_ours = measure(lambda: project(x, f, k, seed=0))
        ours_t.append(t)
        mem_first = mem_ours if mem_first is None else mem_first
        srp = SparseRandomProjection(n_components=k, random_state=0)
        t, theirs, mem_theirs = measure(lambda srp=srp: srp.fit_transform(x))
        theirs_t.append(t)
        print(
            f"run {r}: brainreps {ours_t[-1]:.2f} s (+{mem_ours:.0f} MiB peak), "
            f"sklearn {theirs_t[-1]:.2f} s (+{mem_theirs:.0f} MiB peak), "
            f"speed-up {theirs_t[-1] / ours_t[-1]:.1f}x"
        )
        del theirs
    # same distribution: the squared norms are preserved on average by both
    rel = (ours.astype(np.float64) ** 2).sum(1) / (x.astype(np.float64) ** 2).sum(1)
    print(f"norm ratio ||xR||^2/||x||^2: mean {rel.mean():.4f} (sd {rel.std():.4f})")
    mo, mt = np.median(ours_t), np.median(theirs_t)
    print(
        f"median: brainreps {mo:.2f} s, sklearn {mt:.2f} s, ratio brainreps/sklearn "
        f"{mo / mt:.3f} (speed-up {mt / mo:.1f}x; target >= 5x)"
    )
    tracemalloc.start()  # numpy allocations, exactly (the CPU path allocates nothing else)
    project(x, f, k, seed=0)
    traced = tracemalloc.get_traced_memory()[1] / MiB
    tracemalloc.stop()
    print(f"peak numpy allocations during project (tracemalloc): {traced:.1f} MiB")
    print(
        f"peak extra resident memory brainreps {mem_first:.1f} MiB (first run) vs one chunk + output "
        f"{chunk_mib + out_mib:.1f} MiB; sklearn {mem_theirs:.0f} MiB"
    )


if __name__ == "__main__":
    main()
