"""Ridge benchmark: brainreps' cross-validated ridge vs himalaya's fastest solver, same data.

Shape of the issue: 118 stimuli x 4,096 features x 10,000 neurons, 10 alphas, 5 folds.
Two comparisons, each timed in this one run on the same data:

1. one cross-validated fit: alpha per neuron by 5-fold CV on all stimuli, then refit and
   predict (ours `ridge_cv_predict` vs himalaya KernelRidgeCV(kernel="linear"), numpy backend);
2. the encoding stage's nested CV: 5 outer folds x (5-fold inner CV + refit), held-out
   predictions for every stimulus (ours `cross_validated_ridge` vs himalaya in the same loop).

Both use r2 as the CV score and fit an intercept, so chosen alphas and predictions must agree;
the script prints (and asserts) the largest absolute differences and the time ratios
(ours / himalaya: < 1 means brainreps is faster).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_ridge.py [--dtype float32] [--repeats 3]
        [--backend torch] [--with-primal]
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _best_of(fn, repeats: int):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stimuli", type=int, default=118)
    parser.add_argument("--features", type=int, default=4096)
    parser.add_argument("--neurons", type=int, default=10000)
    parser.add_argument("--alphas", type=int, default=10)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="numpy", choices=["numpy", "torch"])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument(
        "--with-primal", action="store_true", help="also time himalaya's primal RidgeCV (slow)"
    )
    args = parser.parse_args()

    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.scoring import r2_score

    from brainreps.encoding.backend import get_backend
    from brainreps.encoding.ridge import cross_validated_ridge, kfold_splits, ridge_cv_predict

    backend = get_backend(args.backend, args.dtype)
    set_backend("numpy" if args.backend == "numpy" else "torch", on_error="raise")
    rng = np.random.default_rng(0)
    n, p, t = args.stimuli, args.features, args.neurons
    # features and neurons driven by shared latent factors (neurons partly predictable)
    latent = rng.standard_normal((n, 30))
    X = latent @ rng.standard_normal((30, p)) + 3.0 * rng.standard_normal((n, p))
    gain = rng.standard_normal((30, t)) * rng.uniform(0.0, 0.4, t)
    Y = latent @ gain + rng.standard_normal((n, t))
    X, Y = X.astype(args.dtype), Y.astype(args.dtype)
    alphas = np.logspace(-1, 5, args.alphas)
    print(
        f"shape: {n} stimuli x {p} features x {t} neurons, {len(alphas)} alphas, "
        f"{args.folds} folds, backend {args.backend} {args.dtype}, best of {args.repeats}"
    )

    def himalaya_fit(Xtr, Ytr, Xte, cv):
        model = KernelRidgeCV(
            kernel="linear",
            alphas=alphas,
            cv=cv,
            fit_intercept=True,
            solver_params=dict(score_func=r2_score),
        )
        model.fit(Xtr, Ytr)
        return np.asarray(model.predict(Xte)), np.asarray(model.best_alphas_)

    # 1. one cross-validated fit on all stimuli (himalaya's unit of work)
    everything = np.arange(n)
    splits = kfold_splits(n, args.folds, 0)
    t_ours, ours = _best_of(
        lambda: ridge_cv_predict(X, Y, everything, everything, alphas, splits, backend=backend),
        args.repeats,
    )
    t_him, (him_pred, him_alpha) = _best_of(lambda: himalaya_fit(X, Y, X, splits), args.repeats)
    same = np.isclose(ours.best_alpha, him_alpha, rtol=1e-9 if args.dtype == "float64" else 1e-5)
    d_pred = np.abs(ours.predictions - him_pred)[:, same].max()
    print(
        f"[one CV fit]  ours {t_ours:.3f} s   himalaya KernelRidgeCV {t_him:.3f} s   "
        f"ratio ours/himalaya {t_ours / t_him:.3f}   same alpha {same.mean():.4f}   "
        f"max |pred diff| (same alpha) {d_pred:.2e}"
    )
    if args.with_primal:
        from himalaya.ridge import RidgeCV as HimalayaRidgeCV

        def himalaya_primal():
            model = HimalayaRidgeCV(
                alphas=alphas,
                cv=splits,
                fit_intercept=True,
                solver_params=dict(score_func=r2_score),
            )
            return np.asarray(model.fit(X, Y).predict(X))

        t_prim, prim_pred = _best_of(himalaya_primal, 1)
        print(
            f"[one CV fit]  himalaya RidgeCV (primal) {t_prim:.3f} s   ratio ours/it "
            f"{t_ours / t_prim:.3f}   max |pred diff| {np.abs(prim_pred - him_pred).max():.2e}"
        )

    # 2. nested CV: held-out predictions for every stimulus
    def himalaya_nested():
        pred = np.zeros_like(Y)
        for train, test in kfold_splits(n, args.folds, 0):
            pred[test] = himalaya_fit(
                X[train], Y[train], X[test], kfold_splits(len(train), args.folds, 0)
            )[0]
        return pred

    t_ours2, nested = _best_of(
        lambda: cross_validated_ridge(
            X, Y, alphas, outer_folds=args.folds, inner_folds=args.folds, seed=0, backend=backend
        ),
        args.repeats,
    )
    t_him2, him_nested = _best_of(himalaya_nested, args.repeats)

    def pearson(a, b):
        a = a - a.mean(0)
        b = b - b.mean(0)
        return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))

    r_ours, r_him = pearson(nested.predictions, Y), pearson(him_nested, Y)
    d_pred2 = np.abs(nested.predictions - him_nested).max()
    d_r = np.abs(r_ours - r_him).max()
    print(
        f"[nested CV]   ours {t_ours2:.3f} s   himalaya KernelRidgeCV x{args.folds} "
        f"{t_him2:.3f} s   ratio ours/himalaya {t_ours2 / t_him2:.3f}   "
        f"max |r diff| {d_r:.2e}   max |pred diff| {d_pred2:.2e}   median r {np.median(r_ours):.3f}"
    )
    if args.dtype == "float64":
        # equal scores; an alpha may differ only where two alphas' CV scores tie to ~1e-10
        # (himalaya breaks such ties towards the larger alpha, scikit-learn and we to the smaller)
        assert d_r < 1e-6 and d_pred < 1e-6 and same.mean() > 0.999, "scores differ from himalaya"
        return
    # float32: compare both with the float64 solution (ours, equal to himalaya's in float64)
    ref = cross_validated_ridge(
        X.astype(np.float64),
        Y.astype(np.float64),
        alphas,
        outer_folds=args.folds,
        inner_folds=args.folds,
        seed=0,
        backend=args.backend,
    )
    r_ref = pearson(ref.predictions, Y.astype(np.float64))
    d_ours, d_him = np.abs(r_ours - r_ref).max(), np.abs(r_him - r_ref).max()
    print(f"[float32]     max |r - r(float64)|: ours {d_ours:.2e}   himalaya {d_him:.2e}")
    assert d_ours < 1e-3, "float32 scores differ from float64"


if __name__ == "__main__":
    main()
