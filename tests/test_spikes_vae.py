"""Amortized variational inference (vae): the closed-form bound, training, inference, files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import synthetic
from scipy import stats

from brainreps.spikes import metrics, vae

TINY_SUPERVISED = {
    "channels": 8,
    "kernel": 5,
    "dilations": [1, 2, 4, 8],
    "epochs": 8,
    "batch_size": 16,
    "crop": 4.0,
    "learning_rate": 1e-2,
}
TINY = {
    "rate": 30.0,
    "supervised": TINY_SUPERVISED,
    "steps": 150,
    "batch_size": 8,
    "crop": 8.0,
    "kernel_seconds": 2.0,
    "threads": 1,
}


@pytest.fixture(scope="module")
def data():
    return synthetic(6, 120.0, 30.0, seed=1, tau=0.5)


@pytest.fixture(scope="module")
def trained(data):
    calcium, spikes = data
    return vae.train(calcium, spikes, 30.0, **TINY)


def test_causal_conv_is_numpys_convolution():
    rng = np.random.default_rng(0)
    x, k = rng.random((3, 50)), rng.random((3, 20))
    out = vae.causal_conv(torch.as_tensor(x), torch.as_tensor(k)).numpy()
    for i in range(3):
        np.testing.assert_allclose(out[i], np.convolve(x[i], k[i])[:50], atol=1e-10)


def test_kernels_are_double_exponentials_of_peak_one():
    k = vae.kernels(torch.tensor([0.5]), torch.tensor([0.05]), 100.0, 300)[0].numpy()
    t = np.arange(300) / 100.0
    shape = np.exp(-t / 0.5) - np.exp(-t / 0.05)
    np.testing.assert_allclose(k, shape / shape.max(), atol=1e-6)


def test_closed_form_elbo_equals_monte_carlo_over_the_posterior():
    """E_q log p(f|s) and KL(q||p) in closed form against sampling s ~ Poisson(lambda)."""
    rng = np.random.default_rng(0)
    n, rate = 200, 30.0
    lam = rng.uniform(0.0, 0.3, n)
    cell = {
        "tau_decay": torch.tensor([0.4], dtype=torch.float64),
        "tau_rise": torch.tensor([0.03], dtype=torch.float64),
        "amplitude": torch.tensor([1.3], dtype=torch.float64),
        "sigma": torch.tensor([0.4], dtype=torch.float64),
        "prior_rate": torch.tensor([0.05], dtype=torch.float64),
    }
    kernel = vae.kernels(cell["tau_decay"], cell["tau_rise"], rate, 40)[0].numpy()
    f = 1.3 * np.convolve(rng.poisson(lam), kernel)[:n] + 0.4 * rng.standard_normal(n) + 0.7
    terms = vae.elbo_terms(torch.as_tensor(f)[None], torch.as_tensor(lam)[None], cell, rate, 40)
    mu = np.convolve(lam, kernel)[:n]
    b = np.mean(f - 1.3 * mu)  # the bound's baseline: the crop's optimum
    draws = rng.poisson(lam, (20000, n))
    calcium = np.stack([np.convolve(d, kernel)[:n] for d in draws])
    loglik = stats.norm.logpdf(f, b + 1.3 * calcium, 0.4).sum(1)
    assert float(terms["loglik"][0]) == pytest.approx(loglik.mean(), abs=4 * loglik.std() / 141)
    log_q = stats.poisson.logpmf(draws, lam).sum(1)
    log_p = stats.poisson.logpmf(draws, 0.05).sum(1)
    kl = (log_q - log_p).mean()
    assert float(terms["kl"][0]) == pytest.approx(kl, abs=4 * (log_q - log_p).std() / 141)


def test_training_recovers_the_decay_and_infers_rates(trained, data):
    tau = np.median(trained.info["cells"]["tau_decay"])
    assert 0.35 < tau < 0.7  # the simulation's decay is 0.5 s
    calcium, spikes = synthetic(2, 60.0, 30.0, seed=11, tau=0.5)
    trace = calcium[0].copy()
    trace[50:80] = np.nan
    rate = vae.infer(trace, 30.0, model=trained)
    assert rate.shape == trace.shape and np.isnan(rate[50:80]).all() and np.nanmin(rate) >= 0
    assert metrics.corr(spikes[1], vae.infer(calcium[1], 30.0, model=trained), 1) > 0.3


def test_per_trace_adaptation_changes_the_encoder_only_for_that_call(trained):
    calcium, _ = synthetic(1, 60.0, 30.0, seed=12, tau=0.5)
    before = vae.infer(calcium[0], 30.0, model=trained)
    adapted = vae.infer(calcium[0], 30.0, model=trained, adapt_steps=20, adapt_lr=1e-3)
    assert np.max(np.abs(adapted - before)) > 1e-4
    np.testing.assert_array_equal(vae.infer(calcium[0], 30.0, model=trained), before)


def test_save_load_round_trip_and_errors(trained, tmp_path):
    path = vae.save(trained, tmp_path / "v.pt")
    calcium, _ = synthetic(1, 30.0, 30.0, seed=13)
    np.testing.assert_array_equal(
        vae.infer(calcium[0], 30.0, model=vae.load(path)),
        vae.infer(calcium[0], 30.0, model=trained),
    )
    with pytest.raises(ValueError, match="unknown vae parameter"):
        vae.train(calcium, None, 30.0, latent=3)
    with pytest.raises(ValueError, match="init: supervised needs ground-truth spikes"):
        vae.train(calcium, None, 30.0, **TINY)


def test_unsupervised_training_runs_on_calcium_alone():
    calcium, _ = synthetic(3, 60.0, 30.0, seed=14)
    model = vae.train(calcium, None, 30.0, **{**TINY, "init": "none", "steps": 10})
    assert model.info["supervised_seconds"] < 1.0 and model.info["n_recordings"] == 3
