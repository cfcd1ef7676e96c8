"""Second-order similarity (Pearson + Spearman of RDM upper triangles) and linear CKA across
layers: brainreps, with a direct scipy/numpy implementation timed on the same data.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_second_order.py --n 5000 --layers 20
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import rankdata

from brainreps.similarity import cka, rdm, second_order


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--layers", type=int, default=20)
    p.add_argument("--rank", type=int, default=64, help="rank of the synthetic representations")
    p.add_argument("--skip-peer", action="store_true")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n, k = args.n, args.rank
    # layers: a drifting low-rank representation, so layer x layer similarity decays with depth
    z = rng.standard_normal((n, k))
    corrs, grams = [], []
    t = time.perf_counter()
    for _ in range(args.layers):
        z = z + 0.3 * rng.standard_normal((n, k))
        feats = np.maximum(z @ rng.standard_normal((k, 2 * k)), 0)
        stats = rdm.gram_stats(rdm.iter_blocks(feats, 2 * k), n)
        corrs.append(stats.correlation().astype(np.float32))
        grams.append(stats.centered_gram().astype(np.float32))
    print(
        f"{args.layers} layers, N = {n} ({n * (n - 1) // 2:,} pairs per RDM); "
        f"inputs built in {time.perf_counter() - t:.1f} s"
    )

    t = time.perf_counter()
    pear = second_order.second_order(corrs, "pearson")
    t_p = time.perf_counter() - t
    t = time.perf_counter()
    spear = second_order.second_order(corrs, "spearman")
    t_s = time.perf_counter() - t
    t = time.perf_counter()
    ck = cka.cka_matrix(grams)
    t_c = time.perf_counter() - t
    print(
        f"brainreps: Pearson {t_p:.2f} s, Spearman {t_s:.2f} s, CKA {t_c:.2f} s "
        f"(total {t_p + t_s + t_c:.2f} s)"
    )

    if args.skip_peer:
        return
    # peer: the straightforward implementation (scipy per pair, numpy CKA per pair)
    # (each peer timing includes extracting the upper triangles, as brainreps' does)
    t = time.perf_counter()
    tri = [rdm.upper_triangle(c).astype(np.float64) for c in corrs]
    ref_p = np.corrcoef(np.stack(tri))
    t_pp = time.perf_counter() - t
    t = time.perf_counter()
    tri = [rdm.upper_triangle(c).astype(np.float64) for c in corrs]
    ref_s = np.corrcoef(np.stack([rankdata(v) for v in tri]))
    t_ps = time.perf_counter() - t
    t = time.perf_counter()
    L = len(grams)
    ref_c = np.eye(L)
    g64 = [g.astype(np.float64) for g in grams]
    for i in range(L):
        for j in range(i + 1, L):
            ref_c[i, j] = ref_c[j, i] = cka.linear_cka_gram(g64[i], g64[j])
    t_pc = time.perf_counter() - t
    print(
        f"peer (numpy.corrcoef of stacked triangles / of scipy ranks; pairwise CKA): "
        f"Pearson {t_pp:.2f} s, Spearman {t_ps:.2f} s, CKA {t_pc:.2f} s "
        f"(total {t_pp + t_ps + t_pc:.2f} s)"
    )
    print(
        f"ratio brainreps/peer: Pearson {t_p / t_pp:.2f}, Spearman {t_s / t_ps:.2f}, "
        f"CKA {t_c / t_pc:.2f}, total {(t_p + t_s + t_c) / (t_pp + t_ps + t_pc):.2f}"
    )
    print(
        f"max |diff|: Pearson {np.abs(pear - ref_p).max():.1e}, "
        f"Spearman {np.abs(spear - ref_s).max():.1e}, CKA {np.abs(ck - ref_c).max():.1e}"
    )


if __name__ == "__main__":
    main()
