"""Supervised spike inference with a 1-D convolutional network (CASCADE-style, in torch).

Training (Rupprecht et al. 2021, CASCADE, adapted to a fully convolutional net): every
ground-truth recording is resampled to a common model rate and z-scored; its spike counts
are re-binned (sum-preserving) and smoothed with a Gaussian; in every epoch each recording is
made noisier, to a noise level drawn from the range the model should serve (noise-level-matched
augmentation), re-z-scored, cut into crops, and the net regresses the smoothed spike rate
(`loss`: mean squared error plus one minus the Pearson correlation of 40 ms sums per crop, the
Spikefinder metric). An ensemble of `n_models` nets is averaged. Inference resamples a trace
to the model rate, runs the ensemble on each finite run, and re-bins the rate (expected spikes
per sample) back onto the input's samples, so a model trained at 100 Hz serves 30 Hz data.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from brainreps.config import definition_defaults
from brainreps.device import resolve_device
from brainreps.spikes import check_trace, model_file
from brainreps.spikes import preprocess as pp

logger = logging.getLogger(__name__)

FORMAT = "brainreps-spikes-cnn"
FORMAT_VERSION = 1
LOSSES = ("mse", "corr", "mse+corr")

# every setting of train() and its default: the schema, spikes.schema.yaml#/$defs/cnn_train
DEFAULTS: dict[str, Any] = definition_defaults("spikes#cnn_train")


class SpikeCNN(nn.Module):
    """Non-causal dilated residual 1-D conv net: z-scored trace (B, 1, L) -> rate (B, 1, L)."""

    def __init__(self, channels: int, kernel: int, dilations: list[int]):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.inp = nn.Conv1d(1, channels, kernel, padding="same", padding_mode="replicate")
        self.blocks = nn.ModuleList(
            nn.Conv1d(
                channels, channels, kernel, dilation=d, padding="same", padding_mode="replicate"
            )
            for d in dilations
        )
        self.out = nn.Conv1d(channels, 1, 1)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rates (non-negative, spikes per sample) for a batch of z-scored traces."""
        h = self.act(self.inp(x))
        for block in self.blocks:
            h = h + self.act(block(h))
        return nn.functional.softplus(self.out(h))


@dataclass
class CNNModel:
    """A trained ensemble and the settings it was trained with."""

    params: dict[str, Any]
    states: list[dict[str, torch.Tensor]]
    info: dict[str, Any] = field(default_factory=dict)
    _nets: list[SpikeCNN] | None = field(default=None, repr=False, compare=False)

    def nets(self) -> list[SpikeCNN]:
        """The ensemble's networks (built on first use, on the CPU, in eval mode)."""
        if self._nets is None:
            nets = []
            for state in self.states:
                net = build_net(self.params)
                net.load_state_dict(state)
                nets.append(net.eval())
            self._nets = nets
        return self._nets


def resolve_params(params: dict[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULTS updated with `params`; unknown keys raise ValueError naming them."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown cnn parameter(s) {unknown}; known: {sorted(DEFAULTS)}")
    out = copy.deepcopy(DEFAULTS)
    out.update(params)
    if out["rate"] <= 0 or out["epochs"] < 1 or out["n_models"] < 1 or out["batch_size"] < 1:
        raise ValueError("cnn parameters rate, epochs, n_models and batch_size must be positive")
    if out["loss"] not in LOSSES:
        raise ValueError(f"cnn parameter loss must be one of {sorted(LOSSES)}, got {out['loss']!r}")
    if out["noise_levels"] is not None:
        lo, hi = out["noise_levels"]
        if not 0 <= lo <= hi < 1:
            raise ValueError(f"cnn noise_levels must satisfy 0 <= lo <= hi < 1, got {[lo, hi]}")
    return out


def _binned(x: torch.Tensor, width: int) -> torch.Tensor:
    """(B, 1, L) summed into bins of `width` samples: (B, L // width)."""
    n = x.shape[-1] // width
    return x[:, 0, : n * width].reshape(x.shape[0], n, width).sum(-1)


def _corr_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, width: int):
    """1 - mean Pearson r of binned prediction and target over the crops whose target varies."""
    p, t, m = _binned(pred * mask, width), _binned(target * mask, width), _binned(mask, width)
    full = (m == width).to(p.dtype)
    n = full.sum(-1).clamp(min=1.0)
    pc = (p - (p * full).sum(-1, keepdim=True) / n[:, None]) * full
    tc = (t - (t * full).sum(-1, keepdim=True) / n[:, None]) * full
    tvar = (tc**2).sum(-1)
    r = (pc * tc).sum(-1) / ((pc**2).sum(-1) * tvar + 1e-12).sqrt()
    keep = (tvar > 1e-9).to(p.dtype)
    return 1.0 - (r * keep).sum() / keep.sum().clamp(min=1.0)


def _loss(pred, target, mask, params: dict[str, Any]) -> torch.Tensor:
    """The training loss `params["loss"]` names: mse on unmasked samples, corr, or their sum."""
    loss = params["loss"]
    total = pred.new_zeros(())
    if loss in ("mse", "mse+corr"):
        total = total + (((pred - target) ** 2) * mask).sum() / mask.sum()
    if loss in ("corr", "mse+corr"):
        width = max(1, int(round(params["corr_bin"] * params["rate"])))
        total = total + _corr_loss(pred, target, mask, width)
    return total


def build_net(params: dict[str, Any]) -> SpikeCNN:
    """An untrained network with the architecture `params` name."""
    return SpikeCNN(int(params["channels"]), int(params["kernel"]), list(params["dilations"]))


def receptive_field(params: dict[str, Any]) -> int:
    """Samples (at the model rate) the output at one time point sees."""
    return 1 + (int(params["kernel"]) - 1) * (1 + sum(int(d) for d in params["dilations"]))


def _crops(
    segments: list[tuple[np.ndarray, np.ndarray]], length: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tile every segment with crops of `length` (random phase); short ones padded and masked."""
    xs, ys, ms = [], [], []
    for x, y in segments:
        n = x.size
        if n <= length:
            pad = length - n
            xs.append(np.pad(x, (0, pad), mode="edge"))
            ys.append(np.pad(y, (0, pad)))
            ms.append(np.concatenate([np.ones(n), np.zeros(pad)]))
            continue
        offset = int(rng.integers(0, length))
        starts = list(range(offset, n - length + 1, length))
        starts = [0, *starts] if offset else starts
        if starts[-1] + length < n:
            starts.append(n - length)
        for s in starts:
            xs.append(x[s : s + length])
            ys.append(y[s : s + length])
            ms.append(np.ones(length))
    return np.stack(xs), np.stack(ys), np.stack(ms)


def _augment(
    recordings: list[list[tuple[np.ndarray, np.ndarray]]],
    levels: list[float],
    params: dict[str, Any],
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch's segments: each recording made noisier to a drawn noise level, re-z-scored."""
    out = []
    for rec, own in zip(recordings, levels, strict=True):
        xs = [x for x, _ in rec]
        if rng.random() >= params["p_clean"]:
            if params["noise_levels"] is not None:
                lo, hi = params["noise_levels"]
                target = rng.uniform(lo, hi)
            else:
                target = own * rng.uniform(1.0, params["max_noise_factor"])
            xs = pp.add_noise_to_level(xs, target, rng)
        out.extend(zip(xs, [y for _, y in rec], strict=True))
    return out


def train(
    calcium: list[np.ndarray],
    spikes: list[np.ndarray],
    fs: float | list[float],
    **params: Any,
) -> CNNModel:
    """Train an ensemble on ground-truth (calcium, spike counts per sample) pairs at rate(s) `fs`."""
    p = resolve_params(params)
    t0 = time.perf_counter()
    rate = float(p["rate"])
    raw = pp.training_recordings(calcium, spikes, fs, rate)
    recordings = [[(x, pp.smooth_spikes(s, rate, p["smoothing"])) for x, s in rec] for rec in raw]
    levels = [pp.noise_sigma(np.concatenate([x for x, _ in rec])) for rec in recordings]
    # the net regresses targets of unit std; the scale is undone at inference
    target_scale = float(np.std(np.concatenate([y for rec in recordings for _, y in rec])))
    target_scale = target_scale if target_scale > 0 else 1.0
    length = max(receptive_field(p), int(round(p["crop"] * rate)))
    device = resolve_device(p["device"])
    old_threads = torch.get_num_threads()
    if p["threads"]:
        torch.set_num_threads(int(p["threads"]))
    states, losses = [], []
    try:
        for member in range(int(p["n_models"])):
            seed = int(p["seed"]) + 1000 * member
            rng = np.random.default_rng(seed)
            torch.manual_seed(seed)
            net = build_net(p).to(device)
            opt = torch.optim.AdamW(
                net.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"]
            )
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(p["epochs"]))
            for epoch in range(int(p["epochs"])):
                xs, ys, ms = _crops(_augment(recordings, levels, p, rng), length, rng)
                order = rng.permutation(len(xs))
                net.train()
                total = 0.0
                for i in range(0, len(order), int(p["batch_size"])):
                    idx = order[i : i + int(p["batch_size"])]
                    x = torch.as_tensor(xs[idx], dtype=torch.float32, device=device)[:, None]
                    y = torch.as_tensor(ys[idx] / target_scale, dtype=torch.float32, device=device)
                    y = y[:, None]
                    m = torch.as_tensor(ms[idx], dtype=torch.float32, device=device)[:, None]
                    loss = _loss(net(x), y, m, p)
                    opt.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                sched.step()
                losses.append(total / len(order))
                logger.info(
                    "cnn member %d epoch %d/%d: loss %.3g",
                    member + 1,
                    epoch + 1,
                    p["epochs"],
                    losses[-1],
                )
            states.append({k: v.detach().cpu().clone() for k, v in net.state_dict().items()})
    finally:
        torch.set_num_threads(old_threads)
    info = {
        "n_recordings": len(recordings),
        "n_samples": int(sum(x.size for rec in recordings for x, _ in rec)),
        "noise_sigma_range": [float(min(levels)), float(max(levels))],
        "trained_noise_range": _trained_noise_range(levels, p),
        "final_loss": float(losses[-1]),
        "target_scale": target_scale,
        "train_seconds": time.perf_counter() - t0,
        "device": str(device),
    }
    return CNNModel(params=p, states=states, info=info)


def _trained_noise_range(levels: list[float], params: dict[str, Any]) -> list[float]:
    """noise_sigma range the augmented training traces covered."""
    lo, hi = min(levels), max(levels) * float(params["max_noise_factor"])
    if params["noise_levels"] is not None:
        lo, hi = min(lo, params["noise_levels"][0]), max(max(levels), params["noise_levels"][1])
    return [float(lo), float(min(hi, 0.95))]


def check_noise_level(model: CNNModel, pieces: list[tuple[int, int, np.ndarray]]) -> float:
    """noise_sigma of a z-scored trace; warns when it lies outside the range trained on."""
    if not pieces:
        return float("nan")
    level = pp.noise_sigma(np.concatenate([x for _, _, x in pieces]))
    lo, hi = model.info.get("trained_noise_range", [0.0, 1.0])
    if not lo * 0.5 <= level <= hi * 1.5:
        logger.warning(
            "cnn: the trace's noise level %.3g (noise std / trace std) is outside the range "
            "%.3g-%.3g the model was trained on; retrain with train noise_levels covering it",
            level,
            lo,
            hi,
        )
    return level


def _run_nets(model: CNNModel, x: np.ndarray, device: torch.device) -> np.ndarray:
    nets = model.nets()
    with torch.inference_mode():
        xt = torch.as_tensor(x, dtype=torch.float32, device=device)[None, None]
        out = torch.zeros_like(xt)
        for net in nets:
            out += net.to(device)(xt)
        out = out * (model.info.get("target_scale", 1.0) / len(nets))
        return out[0, 0].cpu().numpy().astype(np.float64)


def infer(
    trace: np.ndarray, fs: float, model: CNNModel | str | Path | None = None, device: str = "auto"
) -> np.ndarray:
    """Expected spikes per sample for `trace` at `fs` Hz; NaN gaps are skipped and stay NaN."""
    if model is None:
        raise ValueError("cnn is supervised: pass model= (a trained CNNModel or a model file)")
    if isinstance(model, (str, Path)):
        model = load(model)
    x = check_trace(trace, fs)
    rate = float(model.params["rate"])
    dev = resolve_device(device)
    segments = pp.to_model_rate(x, fs, rate)
    check_noise_level(model, segments)
    pieces = [(a, b, _run_nets(model, seg, dev)) for a, b, seg in segments]
    return pp.from_model_rate(x.size, pieces, rate, fs)


def save(model: CNNModel, path: str | Path) -> Path:
    """Write a trained model to `path` (a torch file), atomically."""
    payload = {"params": model.params, "states": model.states, "info": model.info}
    return model_file.save(payload, path, FORMAT, FORMAT_VERSION)


def load(path: str | Path) -> CNNModel:
    """Read a model written by `save`; ValueError naming the file when it is not one."""
    payload = model_file.load(path, FORMAT, "cnn")
    return CNNModel(params=payload["params"], states=payload["states"], info=payload["info"])
