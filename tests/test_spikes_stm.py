"""The spike-triggered mixture model: likelihood, gradients, GLM limit, fitting, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import synthetic

from brainreps.spikes import derivative, metrics, stm

SMALL = {"rate": 30.0, "n_components": 2, "n_features": 1, "max_iter": 60, "threads": 1}


def random_theta(k: int, m: int, d: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "u": 0.3 * torch.randn(m, d, generator=g, dtype=torch.float64),
        "beta": 0.3 * torch.randn(k, m, generator=g, dtype=torch.float64),
        "w": 0.3 * torch.randn(k, d, generator=g, dtype=torch.float64),
        "b": torch.randn(k, generator=g, dtype=torch.float64) - 2.0,
    }


@pytest.fixture(scope="module")
def trained():
    calcium, spikes = synthetic(4, 90.0, 30.0, seed=1)
    return stm.train(calcium, spikes, 30.0, **SMALL)


def test_rate_is_the_closed_form_mixture():
    th = random_theta(3, 2, 4, seed=0)
    x = torch.randn(50, 4, dtype=torch.float64)
    expected = torch.zeros(50, dtype=torch.float64)
    for k in range(3):
        quad = sum(th["beta"][k, m] * (x @ th["u"][m]) ** 2 for m in range(2))
        expected += torch.exp(quad + x @ th["w"][k] + th["b"][k])
    torch.testing.assert_close(torch.exp(stm.log_rate(th, x)), expected)


def test_one_component_without_features_is_a_glm():
    th = random_theta(1, 2, 4, seed=1)
    th["beta"].zero_()  # beta = 0: the quadratic features drop out
    x = torch.randn(40, 4, dtype=torch.float64)
    glm = torch.exp(x @ th["w"][0] + th["b"][0])
    torch.testing.assert_close(torch.exp(stm.log_rate(th, x)), glm)
    # and the fitted K=1, M=0 model is the maximum-likelihood Poisson GLM: its score equations hold
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((3000, 3))
    y = rng.poisson(np.exp(xs @ [0.5, -0.3, 0.2] - 1.0)).astype(float)
    theta, _ = stm.fit(xs, y, n_components=1, n_features=0, l2=0.0, max_iter=200)
    lam = np.exp(xs @ theta["w"][0] + theta["b"][0])
    np.testing.assert_allclose(xs.T @ (y - lam) / len(y), 0.0, atol=1e-6)
    assert np.sum(y - lam) / len(y) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(theta["w"][0], [0.5, -0.3, 0.2], atol=0.08)


def test_likelihood_gradient_matches_finite_differences():
    th = random_theta(2, 2, 3, seed=2)
    x = torch.randn(30, 3, dtype=torch.float64)
    y = torch.poisson(torch.full((30,), 0.5, dtype=torch.float64))
    names = list(stm.PARAM_NAMES)

    def nll(*tensors):
        return stm.neg_log_likelihood(dict(zip(names, tensors, strict=True)), x, y)

    inputs = tuple(th[n].clone().requires_grad_(True) for n in names)
    assert torch.autograd.gradcheck(nll, inputs, eps=1e-6, atol=1e-6)
    # and one partial derivative by hand: d NLL / d b_k = mean((lambda_k) - y * lambda_k / lambda)
    a = x @ th["w"].T + th["b"] + ((x @ th["u"].T) ** 2) @ th["beta"].T
    lam_k = torch.exp(a)
    lam = lam_k.sum(1, keepdim=True)
    by_hand = torch.mean(lam_k - y[:, None] * lam_k / lam, dim=0)
    grads = torch.autograd.grad(nll(*inputs), inputs)
    torch.testing.assert_close(grads[names.index("b")], by_hand)


def test_fit_increases_the_likelihood():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4000, 3))
    # a rate with a quadratic dependence a GLM cannot capture
    y = rng.poisson(np.exp(0.8 * (x @ [1.0, 0.5, 0.0]) ** 2 * 0.5 - 2.0)).astype(float)
    theta, history = stm.fit(x, y, n_components=2, n_features=1, l2=0.0, max_iter=100)
    glm, glm_history = stm.fit(x, y, n_components=1, n_features=0, l2=0.0, max_iter=100)
    assert history[-1] < history[0]
    assert history[-1] < glm_history[-1] - 0.01  # the mixture explains the quadratic term
    th = {k: torch.as_tensor(v) for k, v in theta.items()}
    final = float(stm.neg_log_likelihood(th, torch.as_tensor(x), torch.as_tensor(y)))
    assert final == pytest.approx(history[-1], abs=1e-6)


def test_stm_beats_the_rectified_derivative(trained):
    calcium, spikes = synthetic(3, 90.0, 30.0, seed=2)
    factor = metrics.bin_factor(30.0)
    ours = [
        metrics.corr(s, stm.infer(c, 30.0, model=trained), factor)
        for c, s in zip(calcium, spikes, strict=True)
    ]
    floor = [
        metrics.corr(s, derivative.infer(c, 30.0), factor)
        for c, s in zip(calcium, spikes, strict=True)
    ]
    assert np.mean(ours) > np.mean(floor) + 0.05, (ours, floor)
    assert trained.info["nll_end"] < trained.info["nll_start"]


def test_save_load_round_trip_and_nan_gaps(trained, tmp_path):
    calcium, _ = synthetic(1, 40.0, 30.0, seed=4)
    trace = calcium[0].copy()
    trace[:4] = np.nan
    trace[500:600] = np.nan
    path = stm.save(trained, tmp_path / "stm.pt")
    again = stm.load(path)
    a = stm.infer(trace, 30.0, model=trained)
    np.testing.assert_array_equal(a, stm.infer(trace, 30.0, model=again))
    np.testing.assert_array_equal(a, stm.infer(trace, 30.0, model=str(path)))
    np.testing.assert_array_equal(np.isnan(a), np.isnan(trace))
    assert np.all(a[np.isfinite(a)] > 0)
    with pytest.raises(ValueError, match="not a brainreps stm model"):
        torch.save({"format": "x"}, tmp_path / "other.pt")
        stm.load(tmp_path / "other.pt")


def test_deterministic_and_rate_conversion():
    calcium, spikes = synthetic(2, 40.0, 100.0, seed=5)
    params = {**SMALL, "rate": 50.0, "max_iter": 20}
    a = stm.train(calcium, spikes, 100.0, **params)
    b = stm.train(calcium, spikes, 100.0, **params)
    for key in a.theta:
        np.testing.assert_array_equal(a.theta[key], b.theta[key])
    c30, _ = synthetic(1, 30.0, 30.0, seed=6)
    out = stm.infer(c30[0], 30.0, model=a)
    assert out.shape == (900,) and np.all(np.isfinite(out))
    with pytest.raises(ValueError, match="unknown stm parameter"):
        stm.train(calcium, spikes, 100.0, components=2)
