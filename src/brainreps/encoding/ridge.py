"""Multi-target ridge regression with alpha chosen per target by cross-validation.

One eigendecomposition per fold serves every alpha on the grid:

- when a fold has fewer training stimuli than features ("dual"), the centred kernel
  K = Xc Xc^T (from one Gram matrix of all stimuli) is diagonalised, K = V diag(l) V^T, and
  the held-out prediction for alpha is  Kv V diag(1/(l + alpha)) V^T Y_train + mean(Y_train);
- otherwise ("primal") the covariance Xc^T Xc = W diag(l) W^T is, and the prediction is
  Xv_c W diag(1/(l + alpha)) W^T Xc^T Y_train + mean(Y_train).

X and Y are centred on each training fold (an unpenalised intercept), as scikit-learn's Ridge
and himalaya's KernelRidge(fit_intercept=True) do. The predictions for every alpha of a fold
come out of one matrix product of a stacked (alphas x held-out, train) matrix with Y_train.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import KFold

from brainreps.encoding.backend import Backend, get_backend

SCORINGS = ("r2", "neg_mse")
METHODS = ("auto", "dual", "primal")

Split = tuple[np.ndarray, np.ndarray]


def alpha_grid(low: float, high: float, n: int) -> np.ndarray:
    """`n` log-spaced alphas from 10**low to 10**high (ascending)."""
    if n < 1:
        raise ValueError(f"alpha grid needs at least one value, got n={n}")
    return np.logspace(low, high, n)


def kfold_splits(n_samples: int, n_splits: int, seed: int | None = 0) -> list[Split]:
    """scikit-learn KFold(n_splits, shuffle=True, random_state=seed) splits of range(n_samples)."""
    if n_splits < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_splits}")
    if n_samples < n_splits:
        raise ValueError(f"cannot split {n_samples} stimuli into {n_splits} folds")
    kf = KFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in kf.split(np.zeros((n_samples, 1)))]


@dataclass
class _FoldSolver:
    """Held-out prediction operator of one fold: pred(alpha) = L[alpha] @ (P @ Y_train).

    The intercept (training mean of Y) is folded into L and P, so one product gives it.
    """

    train: Any  # backend indices of the training stimuli
    left: Any  # (n_alphas, n_heldout, rank)
    right: Any | None  # (rank, n_train), None when the identity (dual form)

    def predict(self, Y: Any, alpha_rows: Any | None = None) -> Any:
        """Predictions (n_alphas, n_heldout, n_targets) for targets Y (n_samples, n_targets)."""
        y_train = Y[self.train]
        z = y_train if self.right is None else self.right @ y_train
        left = self.left if alpha_rows is None else self.left[alpha_rows]
        n_a, n_h, rank = left.shape
        return (left.reshape(n_a * n_h, rank) @ z).reshape(n_a, n_h, z.shape[1])


@dataclass
class _Design:
    """The design matrix on a backend, with its Gram matrix made on first use."""

    X: Any
    be: Backend
    method: str = "auto"
    _gram: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # a constant offset of X changes no fold's centred fit; removing it first keeps the
        # Gram-matrix centring free of cancellation (float32)
        self.X = self.X - self.X.mean(0)

    @property
    def gram(self) -> Any:
        if self._gram is None:
            self._gram = self.X @ self.X.T
        return self._gram

    def solver(self, train: np.ndarray, heldout: np.ndarray, alphas: Any) -> _FoldSolver:
        """One decomposition of the centred training design, for every alpha."""
        be = self.be
        n_train, n_features = len(train), self.X.shape[1]
        method = self.method
        if method == "auto":
            method = "dual" if n_train <= n_features else "primal"
        tr, ho = be.index(train), be.index(heldout)
        if method == "dual":
            g = self.gram
            g_tt = g[tr][:, tr]
            g_ht = g[ho][:, tr]
            row_t = g_tt.mean(1)
            row_h = g_ht.mean(1)
            total = row_t.mean()
            k_train = g_tt - row_t[:, None] - row_t[None, :] + total
            k_held = g_ht - row_h[:, None] - row_t[None, :] + total
            evals, evecs = be.eigh(k_train)
            evals = be.clip_min(evals, 0.0)
            kv = k_held @ evecs  # (n_heldout, n_train)
            left = (kv[None] / (evals[None, None, :] + alphas[:, None, None])) @ evecs.T
            # rows of the centred operator sum to 0; adding 1/n adds the training mean of Y
            left += 1.0 / n_train
            return _FoldSolver(tr, be.as_working(left), None)
        x_train = self.X[tr]
        mean = x_train.mean(0)
        xc = x_train - mean
        evals, evecs = be.eigh(xc.T @ xc)
        evals = be.clip_min(evals, 0.0)
        m = (self.X[ho] - mean) @ evecs  # (n_heldout, n_features)
        # one extra component carries the intercept: left 1, right 1/n (the training mean)
        left = be.zeros((len(alphas), len(heldout), n_features + 1), exact=True)
        left[:, :, :n_features] = m[None] / (evals[None, None, :] + alphas[:, None, None])
        left[:, :, n_features] = 1.0
        right = be.zeros((n_features + 1, n_train), exact=True)
        right[:n_features] = evecs.T @ xc.T
        right[n_features] = 1.0 / n_train
        return _FoldSolver(tr, be.as_working(left), be.as_working(right))


def _score(y_true: Any, pred: Any, scoring: str) -> Any:
    """Score (n_alphas, n_targets) of predictions (n_alphas, n_samples, n_targets); in place."""
    pred -= y_true[None]
    pred *= pred
    ss_res = pred.sum(1)
    if scoring == "neg_mse":
        return -ss_res / y_true.shape[0]
    dev = y_true - y_true.mean(0)
    ss_tot = (dev * dev).sum(0)
    # a target constant on the held-out stimuli scores 0 (as himalaya's r2_score)
    safe = ss_tot + (ss_tot == 0)
    score = 1.0 - ss_res / safe[None]
    score[:, ss_tot == 0] = 0.0
    return score


def _target_batches(n_targets: int, batch: int | None) -> list[slice]:
    step = n_targets if not batch else max(1, int(batch))
    return [slice(s, min(s + step, n_targets)) for s in range(0, n_targets, step)]


def _default_batch(n_alphas: int, n_heldout: int, itemsize: int, budget: int = 2**28) -> int:
    """Targets per batch so one batch of stacked predictions stays under `budget` bytes."""
    return max(256, budget // max(1, n_alphas * n_heldout * itemsize))


def _check_inputs(X: Any, Y: Any, alphas: Sequence[float]) -> np.ndarray:
    alphas = np.asarray(alphas, dtype=float).ravel()
    if alphas.size == 0 or not np.all(np.isfinite(alphas)) or np.any(alphas <= 0):
        raise ValueError(f"alphas must be positive and finite, got {alphas}")
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError(f"X and Y must be 2-D, got shapes {tuple(X.shape)} and {tuple(Y.shape)}")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"X has {X.shape[0]} stimuli (rows) but Y has {Y.shape[0]}; they must be the same"
        )
    return alphas


@dataclass
class RidgeCVFit:
    """Result of one cross-validated ridge fit: held-out predictions and chosen alphas."""

    predictions: np.ndarray  # (n_test, n_targets)
    best_alpha: np.ndarray  # (n_targets,)
    cv_scores: np.ndarray  # (n_alphas, n_targets), mean over inner folds


def ridge_cv_predict(
    X: Any,
    Y: Any,
    train: np.ndarray,
    test: np.ndarray,
    alphas: Sequence[float],
    inner_splits: Sequence[Split],
    *,
    scoring: str = "r2",
    backend: str | Backend = "numpy",
    method: str = "auto",
    targets_batch: int | None = None,
    _design: _Design | None = None,
) -> RidgeCVFit:
    """Choose alpha per target by CV on `train` (splits index into train), predict `test`.

    Equals scikit-learn's RidgeCV(alphas, cv=inner_splits) fitted per target on X[train],
    Y[train] and its predict on X[test] (scoring r2), and himalaya's KernelRidgeCV with
    fit_intercept=True and the same splits (score_func r2_score, or l2_neg_loss for neg_mse).
    """
    be = backend if isinstance(backend, Backend) else get_backend(backend)
    if scoring not in SCORINGS:
        raise ValueError(f"unknown ridge scoring {scoring!r}; choose one of {SCORINGS}")
    if method not in METHODS:
        raise ValueError(f"unknown ridge method {method!r}; choose one of {METHODS}")
    alphas_np = _check_inputs(X, Y, alphas)
    design = _design or _Design(be.as_exact(X), be, method)
    Yb = Y if _design is not None else be.asarray(Y)
    train = np.asarray(train)
    test = np.asarray(test)
    # a constant offset of Y changes no centred fit; removing the training mean first keeps
    # large response offsets from costing precision (float32)
    offset = Yb[be.index(train)].mean(0)
    Yb = Yb - offset
    a = be.as_exact(alphas_np)
    inner = [design.solver(train[tr], train[va], a) for tr, va in inner_splits]
    inner_val = [be.index(train[va]) for _, va in inner_splits]
    outer = design.solver(train, test, a)
    n_targets = Yb.shape[1]
    itemsize = 8 if be.dtype == "float64" else 4
    batch = targets_batch or _default_batch(len(alphas_np), max(len(test), 1), itemsize)
    best = np.zeros(n_targets, dtype=np.intp)
    cv_scores = np.zeros((len(alphas_np), n_targets))
    predictions = np.zeros((len(test), n_targets))
    for sl in _target_batches(n_targets, batch):
        y = Yb[:, sl]
        total = None
        for solver, val in zip(inner, inner_val, strict=True):
            s = _score(y[val], solver.predict(y), scoring)
            total = s if total is None else total + s
        mean_scores = total / len(inner)
        best_sl = be.argmax0(mean_scores)
        best[sl] = best_sl
        cv_scores[:, sl] = be.to_numpy(mean_scores)
        # refit on all training stimuli: one product per alpha actually chosen
        pred_sl = np.zeros((len(test), y.shape[1]))
        for k in np.unique(best_sl):
            cols = np.flatnonzero(best_sl == k)
            y_k = y[:, be.index(cols)]
            p = outer.predict(y_k, alpha_rows=be.index(np.array([k])))[0]
            pred_sl[:, cols] = be.to_numpy(p)
        predictions[:, sl] = pred_sl + be.to_numpy(offset[sl])[None]
    return RidgeCVFit(predictions, alphas_np[best], cv_scores)


@dataclass
class CrossValidatedRidge:
    """Held-out predictions for every stimulus from nested cross-validated ridge."""

    predictions: np.ndarray  # (n_samples, n_targets), each from the fold it was held out of
    alphas: np.ndarray  # (n_outer_folds, n_targets), alpha chosen in each outer fold
    fold: np.ndarray  # (n_samples,), outer fold each stimulus was held out in
    alpha_grid: np.ndarray


def cross_validated_ridge(
    X: Any,
    Y: Any,
    alphas: Sequence[float],
    *,
    outer_folds: int = 5,
    inner_folds: int = 5,
    seed: int | None = 0,
    scoring: str = "r2",
    backend: str | Backend = "numpy",
    method: str = "auto",
    targets_batch: int | None = None,
) -> CrossValidatedRidge:
    """Nested CV ridge of all targets at once: outer KFold over stimuli gives held-out predictions.

    Within each outer training set, alpha is chosen per target by an inner KFold (seeded
    shuffle, same seed) over the grid `alphas`; one decomposition per fold.
    """
    be = backend if isinstance(backend, Backend) else get_backend(backend)
    alphas_np = _check_inputs(X, Y, alphas)
    n = X.shape[0]
    design = _Design(be.as_exact(X), be, method)
    Yb = be.asarray(Y)
    predictions = np.zeros((n, Y.shape[1]))
    chosen = np.zeros((outer_folds, Y.shape[1]))
    fold_of = np.zeros(n, dtype=np.intp)
    for k, (train, test) in enumerate(kfold_splits(n, outer_folds, seed)):
        inner = kfold_splits(len(train), inner_folds, seed)
        fit = ridge_cv_predict(
            X,
            Yb,
            train,
            test,
            alphas_np,
            inner,
            scoring=scoring,
            backend=be,
            method=method,
            targets_batch=targets_batch,
            _design=design,
        )
        predictions[test] = fit.predictions
        chosen[k] = fit.best_alpha
        fold_of[test] = k
    return CrossValidatedRidge(predictions, chosen, fold_of, alphas_np)
