"""Ridge correctness: predictions and chosen alphas equal scikit-learn's and himalaya's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold

from brainreps.encoding.ridge import (
    alpha_grid,
    cross_validated_ridge,
    kfold_splits,
    ridge_cv_predict,
)

ALPHAS = np.logspace(-2, 4, 9)
TOL = 1e-6


def _data(n: int, p: int, t: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features with a mean offset and targets with varied signal-to-noise and offsets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) + rng.normal(size=p) * 3
    W = rng.normal(size=(p, t)) * rng.uniform(0.05, 1.0, t)
    Y = X @ W / np.sqrt(p) + rng.normal(size=(n, t)) + rng.normal(size=t) * 10
    return X, Y


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize(("n", "p", "method"), [(60, 150, "dual"), (120, 12, "primal")])
def test_matches_sklearn_ridgecv_per_target(backend, n, p, method):
    """Alpha per target and test predictions equal sklearn RidgeCV fitted target by target."""
    X, Y = _data(n, p, 6)
    train, test = kfold_splits(n, 4, seed=3)[1]
    inner = kfold_splits(len(train), 5, seed=1)
    fit = ridge_cv_predict(X, Y, train, test, ALPHAS, inner, backend=backend, method=method)
    chosen = set()
    for j in range(Y.shape[1]):
        # sklearn's RidgeCV with a cv splitter scores with r2 (GridSearchCV, mean over folds)
        sk = RidgeCV(alphas=ALPHAS, cv=inner).fit(X[train], Y[train, j])
        assert fit.best_alpha[j] == sk.alpha_
        np.testing.assert_allclose(fit.predictions[:, j], sk.predict(X[test]), rtol=0, atol=TOL)
        chosen.add(sk.alpha_)
    # the test exercises per-target choice: not every target got the same alpha
    assert len(chosen) > 1


@pytest.mark.parametrize(("n", "p"), [(25, 40), (40, 8)])
def test_leave_one_out_matches_sklearn_gcv_alpha_per_target(n, p):
    """With leave-one-out folds and MSE scoring, equal to sklearn's efficient LOO RidgeCV
    (cv=None, alpha_per_target=True): the multi-target, alpha-per-target case in one fit."""
    from sklearn.model_selection import LeaveOneOut

    X, Y = _data(n + 5, p, 6, seed=1)
    train, test = np.arange(n), np.arange(n, n + 5)
    loo = list(LeaveOneOut().split(np.zeros((n, 1))))
    ours = ridge_cv_predict(X, Y, train, test, ALPHAS, loo, scoring="neg_mse")
    sk = RidgeCV(alphas=ALPHAS, alpha_per_target=True).fit(X[train], Y[train])
    np.testing.assert_array_equal(ours.best_alpha, sk.alpha_)
    assert len(set(sk.alpha_)) > 2
    np.testing.assert_allclose(ours.predictions, sk.predict(X[test]), rtol=0, atol=TOL)


@pytest.mark.parametrize("method", ["dual", "primal", "auto"])
def test_single_alpha_equals_sklearn_ridge_multi_target(method):
    """With a one-value grid the refit is plain Ridge with an intercept, for all targets at once."""
    X, Y = _data(40, 25, 5, seed=2)
    train, test = np.arange(30), np.arange(30, 40)
    inner = kfold_splits(30, 3, seed=0)
    fit = ridge_cv_predict(X, Y, train, test, [7.5], inner, method=method)
    expected = Ridge(alpha=7.5).fit(X[train], Y[train]).predict(X[test])
    np.testing.assert_allclose(fit.predictions, expected, rtol=0, atol=TOL)
    assert np.all(fit.best_alpha == 7.5)


def test_dual_and_primal_agree():
    X, Y = _data(50, 50, 4, seed=5)
    train, test = kfold_splits(50, 5, seed=0)[0]
    inner = kfold_splits(len(train), 4, seed=0)
    a = ridge_cv_predict(X, Y, train, test, ALPHAS, inner, method="dual")
    b = ridge_cv_predict(X, Y, train, test, ALPHAS, inner, method="primal")
    np.testing.assert_array_equal(a.best_alpha, b.best_alpha)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=0, atol=1e-8)
    np.testing.assert_allclose(a.cv_scores, b.cv_scores, rtol=0, atol=1e-9)


def test_target_batches_do_not_change_results():
    X, Y = _data(40, 60, 9, seed=6)
    train, test = kfold_splits(40, 4, seed=0)[2]
    inner = kfold_splits(len(train), 3, seed=0)
    whole = ridge_cv_predict(X, Y, train, test, ALPHAS, inner)
    batched = ridge_cv_predict(X, Y, train, test, ALPHAS, inner, targets_batch=2)
    np.testing.assert_array_equal(whole.best_alpha, batched.best_alpha)
    np.testing.assert_allclose(whole.predictions, batched.predictions, rtol=0, atol=1e-12)


@pytest.mark.parametrize("scoring", ["r2", "neg_mse"])
def test_matches_himalaya_kernel_ridge_cv(scoring):
    """Equal to himalaya's KernelRidgeCV (linear kernel, intercept) with the same splits."""
    himalaya = pytest.importorskip("himalaya")
    from himalaya.backend import set_backend
    from himalaya.kernel_ridge import KernelRidgeCV
    from himalaya.scoring import l2_neg_loss, r2_score

    set_backend("numpy")
    X, Y = _data(70, 200, 12, seed=7)
    train, test = kfold_splits(70, 5, seed=0)[0]
    inner = kfold_splits(len(train), 5, seed=4)
    ours = ridge_cv_predict(X, Y, train, test, ALPHAS, inner, scoring=scoring)
    score_func = r2_score if scoring == "r2" else l2_neg_loss
    model = KernelRidgeCV(
        kernel="linear",
        alphas=ALPHAS,
        cv=inner,
        fit_intercept=True,
        solver_params=dict(score_func=score_func),
    ).fit(X[train], Y[train])
    np.testing.assert_allclose(ours.best_alpha, np.asarray(model.best_alphas_), rtol=1e-12)
    np.testing.assert_allclose(ours.predictions, model.predict(X[test]), rtol=0, atol=TOL)
    assert himalaya.__version__


def test_matches_himalaya_ridge_cv_primal():
    """Equal to himalaya's (primal, SVD) RidgeCV with an intercept, when stimuli > features."""
    pytest.importorskip("himalaya")
    from himalaya.backend import set_backend
    from himalaya.ridge import RidgeCV as HRidgeCV
    from himalaya.scoring import r2_score

    set_backend("numpy")
    X, Y = _data(150, 20, 8, seed=8)
    train, test = kfold_splits(150, 5, seed=0)[3]
    inner = kfold_splits(len(train), 4, seed=2)
    ours = ridge_cv_predict(X, Y, train, test, ALPHAS, inner)
    model = HRidgeCV(
        alphas=ALPHAS, cv=inner, fit_intercept=True, solver_params=dict(score_func=r2_score)
    ).fit(X[train], Y[train])
    np.testing.assert_allclose(ours.best_alpha, np.asarray(model.best_alphas_), rtol=1e-12)
    np.testing.assert_allclose(ours.predictions, model.predict(X[test]), rtol=0, atol=TOL)


def test_nested_cv_equals_sklearn_loop():
    """Held-out predictions: every stimulus once, each from RidgeCV fitted without it."""
    X, Y = _data(45, 80, 3, seed=9)
    res = cross_validated_ridge(X, Y, ALPHAS, outer_folds=3, inner_folds=4, seed=11)
    outer = KFold(3, shuffle=True, random_state=11)
    expected = np.zeros_like(Y)
    for k, (train, test) in enumerate(outer.split(X)):
        inner = KFold(4, shuffle=True, random_state=11)
        for j in range(Y.shape[1]):
            sk = RidgeCV(alphas=ALPHAS, cv=inner).fit(X[train], Y[train, j])
            expected[test, j] = sk.predict(X[test])
            assert res.alphas[k, j] == sk.alpha_
        assert np.all(res.fold[test] == k)
    np.testing.assert_allclose(res.predictions, expected, rtol=0, atol=TOL)


def test_torch_backend_equals_numpy():
    X, Y = _data(50, 90, 7, seed=12)
    a = cross_validated_ridge(X, Y, ALPHAS, outer_folds=5, inner_folds=3, backend="numpy")
    b = cross_validated_ridge(X, Y, ALPHAS, outer_folds=5, inner_folds=3, backend="torch")
    np.testing.assert_array_equal(a.alphas, b.alphas)
    np.testing.assert_allclose(a.predictions, b.predictions, rtol=0, atol=1e-9)


def test_float32_close_to_float64():
    """float32 products, float64 decompositions: same alphas, predictions to ~1e-7 relative."""
    from brainreps.encoding.backend import get_backend

    X, Y = _data(50, 300, 5, seed=13)  # large offsets in X and Y on purpose
    a = cross_validated_ridge(X, Y, ALPHAS, outer_folds=5, inner_folds=3)
    b = cross_validated_ridge(
        X, Y, ALPHAS, outer_folds=5, inner_folds=3, backend=get_backend("numpy", "float32")
    )
    np.testing.assert_array_equal(a.alphas, b.alphas)
    assert np.abs(a.predictions - b.predictions).max() < 1e-5 * np.abs(Y).max()


def test_alpha_grid_and_bad_arguments():
    np.testing.assert_allclose(alpha_grid(-1, 2, 4), [0.1, 1, 10, 100])
    X, Y = _data(20, 5, 2)
    splits = kfold_splits(16, 4, 0)
    with pytest.raises(ValueError, match="alphas must be positive"):
        ridge_cv_predict(X, Y, np.arange(16), np.arange(16, 20), [0.0, 1.0], splits)
    with pytest.raises(ValueError, match="X has 20 stimuli .* Y has 19"):
        ridge_cv_predict(X, Y[:19], np.arange(16), np.arange(16, 20), [1.0], splits)
    with pytest.raises(ValueError, match="unknown ridge scoring"):
        ridge_cv_predict(X, Y, np.arange(16), np.arange(16, 20), [1.0], splits, scoring="x")
    with pytest.raises(ValueError, match="cannot split 3 stimuli into 5 folds"):
        kfold_splits(3, 5)
    with pytest.raises(ValueError, match="unknown ridge backend"):
        cross_validated_ridge(X, Y, [1.0], backend="jax")
