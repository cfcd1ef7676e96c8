"""Spike-triggered mixture model (Theis et al. 2016), fitted by maximum likelihood in torch.

The expected spike count of a sample is a Poisson rate of a window x of the preprocessed trace
around it,

    lambda(x) = sum_k exp( sum_m beta_km (u_m . x)^2 + w_k . x + b_k ),

K components sharing M quadratic features u_m. Preprocessing (as in c2s): the trace is
resampled to the model rate and z-scored, windows of `before` s before and `after` s after the
sample are taken and projected on the principal components keeping `var_explained` of their
variance. The parameters minimise the Poisson negative log-likelihood of the re-binned spike
counts (plus a small L2 penalty) with L-BFGS, starting from the fitted GLM (K=1, no features).
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

from brainreps.config import definition_defaults
from brainreps.spikes import check_trace, model_file
from brainreps.spikes import preprocess as pp

logger = logging.getLogger(__name__)

FORMAT = "brainreps-spikes-stm"
FORMAT_VERSION = 1

# every setting of train() and its default: the schema, spikes.schema.yaml#/$defs/stm_train
DEFAULTS: dict[str, Any] = definition_defaults("spikes#stm_train")

PARAM_NAMES = ("u", "beta", "w", "b")


@dataclass
class STMModel:
    """A fitted STM: its settings, the PCA of the input windows and the mixture parameters."""

    params: dict[str, Any]
    pca_mean: np.ndarray
    pca_components: np.ndarray  # (D, window) rows are principal axes
    theta: dict[str, np.ndarray]  # u (M, D), beta (K, M), w (K, D), b (K,)
    info: dict[str, Any] = field(default_factory=dict)


def resolve_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS updated with `params`; unknown keys raise ValueError naming them."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown stm parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = copy.deepcopy(DEFAULTS)
    out.update(params)
    if out["n_components"] < 1 or out["n_features"] < 0 or out["rate"] <= 0:
        raise ValueError("stm needs n_components >= 1, n_features >= 0 and rate > 0")
    if out["before"] < 0 or out["after"] < 0 or not 0 < out["var_explained"] <= 1:
        raise ValueError("stm needs before, after >= 0 and 0 < var_explained <= 1")
    return out


def log_rate(theta: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """log lambda(x) for inputs x (N, D): logsumexp_k of sum_m beta_km (u_m.x)^2 + w_k.x + b_k."""
    a = x @ theta["w"].T + theta["b"]  # (N, K)
    if theta["u"].shape[0] > 0:
        a = a + ((x @ theta["u"].T) ** 2) @ theta["beta"].T
    return torch.logsumexp(a, dim=1)


def neg_log_likelihood(
    theta: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    """Mean Poisson negative log-likelihood of counts y (N,) (without the log y! term)."""
    lr = log_rate(theta, x)
    return torch.mean(torch.exp(lr) - y * lr)


def _penalty(theta: dict[str, torch.Tensor], l2: float) -> torch.Tensor:
    return l2 * (theta["w"].pow(2).sum() + theta["u"].pow(2).sum() + theta["beta"].pow(2).sum())


def _lbfgs(
    theta: dict[str, torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    l2: float,
    max_iter: int,
) -> list[float]:
    """Minimise NLL + penalty over the tensors in theta that require grad; NLL trace returned."""
    free = [t for t in theta.values() if t.requires_grad]
    opt = torch.optim.LBFGS(
        free,
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
        tolerance_change=1e-12,
    )
    history: list[float] = []

    def closure() -> torch.Tensor:
        opt.zero_grad()
        nll = neg_log_likelihood(theta, x, y)
        loss = nll + _penalty(theta, l2)
        loss.backward()
        history.append(float(nll.detach()))
        return loss

    opt.step(closure)
    return history


def fit(
    x: np.ndarray,
    y: np.ndarray,
    n_components: int = 3,
    n_features: int = 2,
    l2: float = 1e-3,
    max_iter: int = 300,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[float]]:
    """Maximum-likelihood STM parameters for inputs x (N, D) and counts y (N,); NLL history."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"stm fit needs x (N, D) and y (N,), got {x.shape} and {y.shape}")
    n, d = x.shape
    gen = torch.Generator().manual_seed(int(seed))
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y)
    mean_count = max(float(y.mean()), 1e-6)
    # 1) the GLM: one component, no features (a convex problem)
    glm = {
        "u": torch.zeros(0, d, dtype=torch.float64),
        "beta": torch.zeros(1, 0, dtype=torch.float64),
        "w": torch.zeros(1, d, dtype=torch.float64, requires_grad=True),
        "b": torch.full((1,), math.log(mean_count), dtype=torch.float64, requires_grad=True),
    }
    history = _lbfgs(glm, xt, yt, l2, max_iter)
    if n_components == 1 and n_features == 0:
        return {k: v.detach().numpy().copy() for k, v in glm.items()}, history
    # 2) the mixture, started at the GLM with small random departures
    k, m = n_components, n_features
    w0 = glm["w"].detach()
    theta = {
        "u": (0.1 / math.sqrt(d)) * torch.randn(m, d, generator=gen, dtype=torch.float64),
        "beta": 0.01 * torch.randn(k, m, generator=gen, dtype=torch.float64),
        "w": w0.repeat(k, 1) + 0.01 * torch.randn(k, d, generator=gen, dtype=torch.float64),
        "b": glm["b"].detach().repeat(k) - math.log(k),
    }
    for t in theta.values():
        t.requires_grad_(True)
    history += _lbfgs(theta, xt, yt, l2, max_iter)
    return {name: t.detach().numpy().copy() for name, t in theta.items()}, history


def _window_samples(params: dict[str, Any]) -> tuple[int, int]:
    rate = float(params["rate"])
    return int(round(params["before"] * rate)), int(round(params["after"] * rate))


def _pca(windows: np.ndarray, var_explained: float) -> tuple[np.ndarray, np.ndarray]:
    mean = windows.mean(axis=0)
    _, sv, vt = np.linalg.svd(windows - mean, full_matrices=False)
    frac = np.cumsum(sv**2) / max(np.sum(sv**2), 1e-300)
    n = int(np.searchsorted(frac, var_explained - 1e-12) + 1)
    return mean, vt[: min(n, vt.shape[0])]


def _inputs(model_or_params: dict[str, Any], segment: np.ndarray) -> np.ndarray:
    before, after = _window_samples(model_or_params)
    return pp.windows(segment, before, after)


def train(
    calcium: list[np.ndarray],
    spikes: list[np.ndarray],
    fs: float | list[float],
    **params: Any,
) -> STMModel:
    """Fit an STM to ground-truth (calcium, spike counts per sample) pairs at rate(s) `fs`."""
    p = resolve_params(params)
    t0 = time.perf_counter()
    rate = float(p["rate"])
    recordings = pp.training_recordings(calcium, spikes, fs, rate)
    segs = [seg for rec in recordings for seg in rec]
    windows = np.concatenate([_inputs(p, x) for x, _ in segs])
    counts = np.concatenate([s for _, s in segs])
    mean, comps = _pca(windows, float(p["var_explained"]))
    z = (windows - mean) @ comps.T
    old_threads = torch.get_num_threads()
    if p["threads"]:
        torch.set_num_threads(int(p["threads"]))
    try:
        theta, history = fit(
            z,
            counts,
            int(p["n_components"]),
            int(p["n_features"]),
            float(p["l2"]),
            int(p["max_iter"]),
            int(p["seed"]),
        )
    finally:
        torch.set_num_threads(old_threads)
    info = {
        "n_recordings": len(recordings),
        "n_samples": int(counts.size),
        "n_pcs": int(comps.shape[0]),
        "nll_start": float(history[0]),
        "nll_end": float(history[-1]),
        "train_seconds": time.perf_counter() - t0,
    }
    logger.info("stm fitted: %s", info)
    return STMModel(params=p, pca_mean=mean, pca_components=comps, theta=theta, info=info)


def predict_rate(model: STMModel, segment: np.ndarray) -> np.ndarray:
    """Expected spikes per sample (at the model rate) for one z-scored finite segment."""
    z = (_inputs(model.params, segment) - model.pca_mean) @ model.pca_components.T
    theta = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in model.theta.items()}
    with torch.inference_mode():
        return torch.exp(log_rate(theta, torch.as_tensor(z))).numpy()


def infer(trace: np.ndarray, fs: float, model: STMModel | str | Path | None = None) -> np.ndarray:
    """Expected spikes per sample for `trace` at `fs` Hz; NaN gaps are skipped and stay NaN."""
    if model is None:
        raise ValueError("stm is supervised: pass model= (a trained STMModel or a model file)")
    if isinstance(model, (str, Path)):
        model = load(model)
    x = check_trace(trace, fs)
    rate = float(model.params["rate"])
    pieces = [(a, b, predict_rate(model, seg)) for a, b, seg in pp.to_model_rate(x, fs, rate)]
    return pp.from_model_rate(x.size, pieces, rate, fs)


def save(model: STMModel, path: str | Path) -> Path:
    """Write a fitted model to `path` (a torch file), atomically."""
    payload = {
        "params": model.params,
        "pca_mean": torch.as_tensor(model.pca_mean),
        "pca_components": torch.as_tensor(model.pca_components),
        "theta": {k: torch.as_tensor(v) for k, v in model.theta.items()},
        "info": model.info,
    }
    return model_file.save(payload, path, FORMAT, FORMAT_VERSION)


def load(path: str | Path) -> STMModel:
    """Read a model written by `save`; ValueError naming the file when it is not one."""
    payload = model_file.load(path, FORMAT, "stm")
    return STMModel(
        params=payload["params"],
        pca_mean=payload["pca_mean"].numpy(),
        pca_components=payload["pca_components"].numpy(),
        theta={k: v.numpy() for k, v in payload["theta"].items()},
        info=payload["info"],
    )
