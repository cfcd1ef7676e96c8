"""RDM (stimulus x stimulus Pearson r) of N x D activations: brainreps vs numpy.corrcoef.

Times both on the same float32 array in one run, checks they agree, and measures each one's
peak of *additional* memory with tracemalloc (numpy reports its buffers to it): numpy.corrcoef
copies the whole N x D matrix to float64; brainreps streams feature blocks (N x block_size)
into an N x N float64 accumulator.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_rdm.py --n 5000 --d 100000
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc

import numpy as np

from brainreps.similarity import rdm


def measure(fn):
    """(seconds, peak additional MiB, result) of one call."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    t = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, (peak - base) / 2**20, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000, help="stimuli")
    p.add_argument("--d", type=int, default=100_000, help="features")
    p.add_argument("--block-size", type=int, default=2048)
    p.add_argument("--precision", nargs="+", default=["float32", "float64"])
    p.add_argument("--skip-numpy", action="store_true")
    args = p.parse_args()

    rng = np.random.default_rng(0)
    # ReLU-like activations with a shared component (realistic correlations), float32 as stored
    x = np.empty((args.n, args.d), dtype=np.float32)
    shared = rng.standard_normal(args.d, dtype=np.float32)
    for a in range(0, args.n, 500):
        block = rng.standard_normal((min(500, args.n - a), args.d), dtype=np.float32)
        block += 0.5 * shared
        np.maximum(block, 0, out=block)
        x[a : a + 500] = block
    print(
        f"activations {args.n} x {args.d} float32 ({x.nbytes / 2**30:.2f} GiB), "
        f"block {args.block_size}"
    )

    results = {}
    for precision in args.precision:
        s, mem, r = measure(
            lambda precision=precision: rdm.correlation_matrix(
                x, block_size=args.block_size, precision=precision, device="cpu"
            )
        )
        results[precision] = (s, mem, r)
        print(f"brainreps ({precision} blocks): {s:8.2f} s   peak +{mem:8.0f} MiB")
    if not args.skip_numpy:
        s_np, mem_np, r_np = measure(lambda: np.corrcoef(x))
        print(f"numpy.corrcoef               : {s_np:8.2f} s   peak +{mem_np:8.0f} MiB")
        for precision, (s, mem, r) in results.items():
            err = float(np.nanmax(np.abs(r - r_np)))
            print(
                f"ratio time brainreps({precision})/numpy = {s / s_np:.3f} "
                f"(speed-up {s_np / s:.2f}x); memory {mem / mem_np:.3f}; max |diff| {err:.2e}"
            )
    n_mib = args.n**2 * 8 / 2**20
    block_mib = args.n * args.block_size * (8 + 4) / 2**20
    print(f"(one N x N float64 = {n_mib:.0f} MiB; one block float64+float32 = {block_mib:.0f} MiB)")


if __name__ == "__main__":
    main()
