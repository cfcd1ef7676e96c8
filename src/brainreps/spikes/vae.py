"""Amortized variational inference of spikes from calcium (after Speiser et al. 2017, DeepSpike).

Generative model, per cell c (the z-scored trace f at the model rate):

    s_t ~ Poisson(pi_c)                              spikes per sample
    f_t ~ Normal(b + A_c (k_c * s)_t, sigma_c^2)     k_c(t) = exp(-t/tau_d) - exp(-t/tau_r),
                                                     scaled to a peak of 1

with per-cell amplitude A, decay tau_d, rise tau_r, noise sigma and prior rate pi, and a
baseline b per crop (set to its optimum given the rest). Recognition model: an encoder network
(the `cnn` architecture, so that it can start from a trained supervised net) maps the trace to
a rate lambda_t; q(s) = prod_t Poisson(s_t; lambda_t). Because f is linear in s, the evidence
lower bound is exact in closed form, with no sampling:

    E_q log p(f|s) = sum_t -1/2 log(2 pi sigma^2) - ((f_t - b - A mu_t)^2 + A^2 v_t) / (2 sigma^2)
    mu = k * lambda,  v = k^2 * lambda          (mean and variance of k * s under q)
    KL(q || p)     = sum_t lambda_t log(lambda_t / pi) - lambda_t + pi

ELBO = E_q log p(f|s) - KL. Speiser et al. used sampled (score-function) gradients because
their generative models were nonlinear; with this linear-Gaussian model the bound and its
gradient are exact (a test checks the closed form against Monte Carlo sampling of q).

Training maximises the ELBO of calcium alone, so it runs on recordings without ground truth;
with `init: supervised` (and spikes given) the encoder starts from a `cnn` trained on them.
At inference the rate is the encoder's lambda (expected spikes per sample, like the cnn's);
with `adapt_steps` > 0 the encoder and the trace's own generative parameters are first fitted
to that trace's ELBO (`adapt_lr`): per-recording calibration without labels.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from brainreps.config import definition_defaults
from brainreps.device import resolve_device
from brainreps.spikes import check_trace, cnn, model_file
from brainreps.spikes import preprocess as pp

logger = logging.getLogger(__name__)

FORMAT = "brainreps-spikes-vae"
FORMAT_VERSION = 1

# every setting of train() / infer() and its default: spikes.schema.yaml#/$defs/vae_train
DEFAULTS: dict[str, Any] = definition_defaults("spikes#vae_train")
LOG_2PI = math.log(2.0 * math.pi)


# ---- the generative model and the bound ----------------------------------------------------


class CellParams(nn.Module):
    """Per-cell generative parameters (unconstrained): decay, rise fraction, amplitude, noise,
    prior rate; `n` cells."""

    def __init__(self, n: int, rate: float, init: dict[str, float]):
        super().__init__()

        def full(value: float) -> nn.Parameter:
            return nn.Parameter(torch.full((n,), float(value)))

        self.rate = rate
        self.log_tau_d = full(math.log(init["tau_decay"]))
        self.rise_logit = full(math.log(init["tau_rise"] / (init["tau_decay"] - init["tau_rise"])))
        self.log_amp = full(math.log(init["amplitude"]))
        self.log_sigma = full(math.log(init["sigma"]))
        self.log_prior = full(math.log(init["prior_rate"]))

    def constrained(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        tau_d = self.log_tau_d[idx].exp()
        return {
            "tau_decay": tau_d,
            "tau_rise": tau_d * torch.sigmoid(self.rise_logit[idx]),
            "amplitude": self.log_amp[idx].exp(),
            "sigma": self.log_sigma[idx].exp(),
            "prior_rate": self.log_prior[idx].exp(),
        }


def kernels(tau_decay: torch.Tensor, tau_rise: torch.Tensor, rate: float, length: int):
    """(B, length) double-exponential kernels at `rate` Hz, each scaled to a peak of 1."""
    t = torch.arange(length, dtype=tau_decay.dtype, device=tau_decay.device) / rate
    k = torch.exp(-t[None] / tau_decay[:, None]) - torch.exp(-t[None] / tau_rise[:, None])
    return k / k.max(dim=1, keepdim=True).values.clamp(min=1e-12)


def causal_conv(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, L) signals convolved causally with (B, K) kernels (per row), by FFT: (B, L)."""
    n = x.shape[-1] + k.shape[-1]
    size = 1 << (n - 1).bit_length()
    out = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(k, size), size)
    return out[..., : x.shape[-1]]


def elbo_terms(
    f: torch.Tensor,
    lam: torch.Tensor,
    cell: dict[str, torch.Tensor],
    rate: float,
    kernel_length: int,
    mask: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Per-crop expected log-likelihood and KL (closed form) of z-scored calcium f (B, L) under
    the rate lam (B, L); `mask` (B, L) selects the samples scored (the likelihood's burn-in
    and padding are left out); the baseline is each crop's optimum."""
    mask = torch.ones_like(f) if mask is None else mask
    k = kernels(cell["tau_decay"], cell["tau_rise"], rate, kernel_length)
    mu = causal_conv(lam, k)
    v = causal_conv(lam, k**2)
    amp, sigma = cell["amplitude"][:, None], cell["sigma"][:, None]
    resid = f - amp * mu
    n = mask.sum(-1).clamp(min=1.0)
    b = (resid * mask).sum(-1, keepdim=True) / n[:, None]
    sq = ((resid - b) ** 2 + amp**2 * v) * mask
    loglik = -0.5 * n * (LOG_2PI + 2 * torch.log(sigma[:, 0])) - sq.sum(-1) / (2 * sigma[:, 0] ** 2)
    prior = cell["prior_rate"][:, None]
    lam_safe = lam.clamp(min=1e-12)
    kl = ((lam_safe * torch.log(lam_safe / prior) - lam + prior) * mask).sum(-1)
    return {"loglik": loglik, "kl": kl, "elbo": loglik - kl, "n": n}


# ---- the model -------------------------------------------------------------------------------


@dataclass
class VAEModel:
    """A trained encoder (cnn architecture) and the settings it was trained with."""

    params: dict[str, Any]
    encoder: dict[str, Any]  # {"params": cnn params, "state": state dict, "scale": float}
    info: dict[str, Any] = field(default_factory=dict)
    _net: cnn.SpikeCNN | None = field(default=None, repr=False, compare=False)

    def net(self) -> cnn.SpikeCNN:
        if self._net is None:
            net = cnn.build_net(self.encoder["params"])
            net.load_state_dict(self.encoder["state"])
            self._net = net.eval()
        return self._net


def resolve_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS updated with `params`; unknown keys raise ValueError naming them."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown vae parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = copy.deepcopy(DEFAULTS)
    out.update(params)
    if out["init"] not in ("supervised", "none"):
        raise ValueError(f"vae init must be 'supervised' or 'none', got {out['init']!r}")
    if not 0 < out["tau_rise"] < out["tau_decay"]:
        raise ValueError("vae needs 0 < tau_rise < tau_decay")
    if out["supervised"].get("absolute"):
        raise ValueError("vae: the encoder reads the z-scored trace alone (supervised absolute)")
    return out


def _encoder_rate(net: cnn.SpikeCNN, scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Expected spikes per sample (B, L) of z-scored traces x (B, L)."""
    return net(x[:, None])[:, 0] * scale


def _kernel_samples(params: dict[str, Any], rate: float) -> int:
    return max(2, int(round(params["kernel_seconds"] * rate)))


def _fit(
    net: cnn.SpikeCNN,
    log_scale: nn.Parameter,
    cells: CellParams,
    recordings: list[list[np.ndarray]],
    params: dict[str, Any],
    steps: int,
    encoder_lr: float,
    rng: np.random.Generator,
    device: torch.device,
) -> list[float]:
    """Maximise the ELBO of random crops of the recordings (cell i = recording i)."""
    rate = float(params["rate"])
    klen = _kernel_samples(params, rate)
    length = klen + int(round(params["crop"] * rate))
    groups = [{"params": list(cells.parameters()), "lr": params["cell_lr"]}]
    if encoder_lr > 0:
        groups.append({"params": [*net.parameters(), log_scale], "lr": encoder_lr})
    opt = torch.optim.Adam(groups)
    lengths = [np.array([x.size for x in rec], dtype=float) for rec in recordings]
    totals = np.array([w.sum() for w in lengths])
    history = []
    net.train(encoder_lr > 0)
    for _ in range(steps):
        xs, ms, idx = [], [], []
        for _ in range(int(params["batch_size"])):
            i = int(rng.choice(len(recordings), p=totals / totals.sum()))
            run = recordings[i][int(rng.choice(len(recordings[i]), p=lengths[i] / totals[i]))]
            if run.size <= length:
                pad = length - run.size
                xs.append(np.pad(run, (0, pad), mode="edge"))
                m = np.concatenate([np.ones(run.size), np.zeros(pad)])
            else:
                s = int(rng.integers(0, run.size - length + 1))
                xs.append(run[s : s + length])
                m = np.ones(length)
            m[: min(klen, max(0, run.size - 2))] = 0.0  # burn-in: calcium of unseen spikes
            ms.append(m)
            idx.append(i)
        x = torch.as_tensor(np.stack(xs), dtype=torch.float32, device=device)
        m = torch.as_tensor(np.stack(ms), dtype=torch.float32, device=device)
        cell = cells.constrained(torch.as_tensor(idx, device=device))
        lam = _encoder_rate(net, log_scale.exp(), x)
        terms = elbo_terms(x, lam, cell, rate, klen, m)
        loss = -(terms["elbo"].sum() / terms["n"].sum())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        history.append(float(loss.detach()))
    net.eval()
    return history


def _cell_init(params: dict[str, Any], recordings: list[list[np.ndarray]]) -> dict[str, float]:
    sigma = float(np.median([pp.noise_sigma(np.concatenate(rec)) for rec in recordings]))
    return {
        "tau_decay": params["tau_decay"],
        "tau_rise": params["tau_rise"],
        "amplitude": params["amplitude"],
        "sigma": max(sigma, 0.05),
        "prior_rate": params["prior_rate"],
    }


def train(
    calcium: list[np.ndarray],
    spikes: list[np.ndarray] | None,
    fs: float | list[float],
    groups: list[str] | None = None,
    **params: Any,
) -> VAEModel:
    """Fit the encoder (and every recording's generative parameters) to the ELBO of `calcium`.

    `spikes` are used only by `init: supervised`, to train the cnn the encoder starts from
    (with `supervised` settings); the ELBO itself never sees them.
    """
    p = resolve_params(params)
    t0 = time.perf_counter()
    rate = float(p["rate"])
    device = resolve_device(p["device"])
    old_threads = torch.get_num_threads()
    if p["threads"]:
        torch.set_num_threads(int(p["threads"]))
    try:
        if p["init"] == "supervised":
            if spikes is None:
                raise ValueError("vae init: supervised needs ground-truth spikes")
            sup = cnn.train(calcium, spikes, fs, groups=groups, **{**p["supervised"], "rate": rate})
            enc_params, state = sup.params, sup.states[0]
            scale = float(sup.info["target_scale"])
        else:
            enc_params = cnn.resolve_params({**p["supervised"], "rate": rate})
            torch.manual_seed(int(p["seed"]))
            state, scale = cnn.build_net(enc_params).state_dict(), float(p["prior_rate"])
        sup_seconds = time.perf_counter() - t0
        dummy = [np.zeros(c.size) for c in calcium] if spikes is None else spikes
        recordings = [
            [x for x, _ in rec] for rec in pp.training_recordings(calcium, dummy, fs, rate)
        ]
        net = cnn.build_net(enc_params).to(device)
        net.load_state_dict(state)
        log_scale = nn.Parameter(torch.tensor(math.log(scale), device=device))
        cells = CellParams(len(recordings), rate, _cell_init(p, recordings)).to(device)
        torch.manual_seed(int(p["seed"]))
        rng = np.random.default_rng(int(p["seed"]))
        history = _fit(
            net, log_scale, cells, recordings, p, int(p["steps"]), p["encoder_lr"], rng, device
        )
    finally:
        torch.set_num_threads(old_threads)
    fitted = cells.constrained(torch.arange(len(recordings), device=device))
    info = {
        "n_recordings": len(recordings),
        "supervised_seconds": sup_seconds,
        "train_seconds": time.perf_counter() - t0,
        "final_loss": history[-1] if history else float("nan"),
        "cells": {k: v.detach().cpu().tolist() for k, v in fitted.items()},
        "device": str(device),
    }
    encoder = {
        "params": enc_params,
        "state": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "scale": float(log_scale.detach().exp()),
    }
    return VAEModel(params=p, encoder=encoder, info=info)


def _adapted(
    model: VAEModel, runs: list[np.ndarray], device: torch.device
) -> tuple[cnn.SpikeCNN, torch.Tensor]:
    """The encoder after fitting one trace's ELBO for `adapt_steps` (a copy; model unchanged)."""
    p = model.params
    net = copy.deepcopy(model.net()).to(device)
    log_scale = nn.Parameter(torch.tensor(math.log(model.encoder["scale"]), device=device))
    cells = CellParams(1, float(p["rate"]), _cell_init(p, [runs])).to(device)
    lr = p["adapt_lr"]
    rng = np.random.default_rng(int(p["seed"]))
    torch.manual_seed(int(p["seed"]))
    _fit(net, log_scale, cells, [runs], p, int(p["adapt_steps"]), lr, rng, device)
    return net, log_scale.detach().exp()


def infer(
    trace: np.ndarray,
    fs: float,
    model: VAEModel | str | Path | None = None,
    device: str = "cpu",
    adapt_steps: int | None = None,
    adapt_lr: float | None = None,
) -> np.ndarray:
    """Expected spikes per sample of `trace` at `fs` Hz (after per-trace ELBO fitting when
    `adapt_steps`, by default the model's, is > 0); NaN gaps are skipped and stay NaN."""
    if model is None:
        raise ValueError("vae: pass model= (a trained VAEModel or a model file)")
    if isinstance(model, (str, Path)):
        model = load(model)
    overrides = {"adapt_steps": adapt_steps, "adapt_lr": adapt_lr}
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if overrides:
        model = VAEModel({**model.params, **overrides}, model.encoder, model.info, model._net)
    x = check_trace(trace, fs)
    rate = float(model.params["rate"])
    dev = resolve_device(device)
    segments = pp.to_model_rate(x, fs, rate)
    net, scale = model.net().to(dev), torch.tensor(model.encoder["scale"], device=dev)
    if int(model.params["adapt_steps"]) > 0 and segments:
        net, scale = _adapted(model, [seg for _, _, seg in segments], dev)
    pieces = []
    with torch.inference_mode():
        for a, b, seg in segments:
            xt = torch.as_tensor(seg, dtype=torch.float32, device=dev)[None]
            lam = _encoder_rate(net, scale, xt)[0].cpu().numpy().astype(np.float64)
            pieces.append((a, b, lam))
    return pp.from_model_rate(x.size, pieces, rate, fs)


def save(model: VAEModel, path: str | Path) -> Path:
    """Write a trained vae to `path` (a torch file), atomically."""
    payload = {"params": model.params, "encoder": model.encoder, "info": model.info}
    return model_file.save(payload, path, FORMAT, FORMAT_VERSION)


def load(path: str | Path) -> VAEModel:
    """Read a model written by `save`; ValueError naming the file when it is not one."""
    payload = model_file.load(path, FORMAT, "vae")
    return VAEModel(params=payload["params"], encoder=payload["encoder"], info=payload["info"])
