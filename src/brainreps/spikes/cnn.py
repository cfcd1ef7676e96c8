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
    """Non-causal dilated residual 1-D conv net: z-scored trace (B, 1, L) -> rate (B, 1, L);
    with `inputs` 2, the second channel is the same trace in dF/F (minus its median)."""

    def __init__(self, channels: int, kernel: int, dilations: list[int], inputs: int = 1):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd, got {kernel}")
        self.inp = nn.Conv1d(inputs, channels, kernel, padding="same", padding_mode="replicate")
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
    if out["noise_level"] is not None:
        lo, hi = out["noise_level"]
        if not 0 < lo <= hi:
            raise ValueError(f"cnn noise_level must satisfy 0 < lo <= hi, got {[lo, hi]}")
    if out["epoch_samples"] is not None and out["epoch_samples"] < 1:
        raise ValueError(f"cnn epoch_samples must be positive, got {out['epoch_samples']}")
    if out["absolute"] and out["epoch_samples"] is None:
        raise ValueError("cnn absolute: true needs epoch_samples (crops drawn per epoch)")
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


def _inputs(x: np.ndarray, scale, params: dict[str, Any], device) -> torch.Tensor:
    """The net's input (B, 1 or 2, L) from z-scored traces (B, L) and their dF/F stds (B,)."""
    xt = torch.as_tensor(x, dtype=torch.float32, device=device)[:, None]
    if not params.get("absolute"):
        return xt
    st = torch.as_tensor(np.asarray(scale), dtype=torch.float32, device=device)[:, None, None]
    return torch.cat([xt, xt * st], dim=1)


def build_net(params: dict[str, Any]) -> SpikeCNN:
    """An untrained network with the architecture `params` name."""
    inputs = 2 if params.get("absolute") else 1
    return SpikeCNN(
        int(params["channels"]), int(params["kernel"]), list(params["dilations"]), inputs
    )


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


CURVE_POINTS = 24  # noise stds at which each recording's noise level is measured
CURVE_SAMPLES = 50_000  # samples of a recording its curve is measured on (at most)


def _first_samples(segments: list[np.ndarray], n: int) -> list[np.ndarray]:
    """The runs cut to `n` samples in all, each keeping its share (at least 2 samples)."""
    total = sum(x.size for x in segments)
    if total <= n:
        return segments
    return [x[: max(2, int(x.size * n / total))] for x in segments]


def level_curve(segments: list[np.ndarray], std: float, top: float, rate: float) -> dict:
    """A recording's CASCADE noise level after adding white noise of each of a grid of stds
    (z-scored units) up to one that reaches level `top`: measured, not assumed to add in
    quadrature, since the first differences hold signal too (CASCADE measures it likewise)."""
    rng = np.random.default_rng(0)
    segments = _first_samples(segments, CURVE_SAMPLES)  # a median needs no more
    noise = [rng.standard_normal(x.size) for x in segments]
    biggest = 2.0 * pp.level_to_sigma(top, rate) / max(std, 1e-12)
    sigmas = np.concatenate([[0.0], biggest * np.geomspace(1e-3, 1.0, CURVE_POINTS - 1)])
    levels = [
        std * pp.noise_level([x + s * n for x, n in zip(segments, noise, strict=True)], rate)
        for s in sigmas
    ]
    return {"sigmas": sigmas, "levels": np.maximum.accumulate(np.asarray(levels))}


def _cascade_sigma(stat: dict[str, Any], params: dict[str, Any], rng) -> float:
    """Std (z-scored units) of white noise that brings a recording to a CASCADE level drawn
    log-uniformly from `noise_level` [lo, hi] (0 when it is already that noisy); from the
    recording's measured `curve` when it has one, else by adding in quadrature."""
    lo, hi = params["noise_level"]
    target = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if target <= stat["level"]:
        return 0.0
    curve = stat.get("curve")
    if curve is not None and target <= curve["levels"][-1]:
        # log-log interpolation between measured points (the level grows like a power law)
        lv, sg = curve["levels"][1:], curve["sigmas"][1:]
        return float(np.exp(np.interp(np.log(target), np.log(lv), np.log(sg))))
    rate = float(params["rate"])
    add = pp.level_to_sigma(target, rate) ** 2 - pp.level_to_sigma(stat["level"], rate) ** 2
    return float(np.sqrt(add) / stat["std"]) if add > 0 and stat["std"] > 0 else 0.0


def _augment(
    recordings: list[list[tuple[np.ndarray, np.ndarray]]],
    levels: list[float],
    params: dict[str, Any],
    rng: np.random.Generator,
    stats: list[dict[str, float]] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One epoch's segments: each recording made noisier to a drawn noise level, re-z-scored."""
    out = []
    for k, (rec, own) in enumerate(zip(recordings, levels, strict=True)):
        xs = [x for x, _ in rec]
        if rng.random() >= params["p_clean"]:
            if params["noise_level"] is not None:
                sigma = _cascade_sigma(stats[k], params, rng)
                if sigma > 0:
                    xs = pp.normalise_segments(
                        [x + sigma * rng.standard_normal(x.size) for x in xs]
                    )
            else:
                if params["noise_levels"] is not None:
                    lo, hi = params["noise_levels"]
                    target = rng.uniform(lo, hi)
                else:
                    target = own * rng.uniform(1.0, params["max_noise_factor"])
                xs = pp.add_noise_to_level(xs, target, rng)
        out.extend(zip(xs, [y for _, y in rec], strict=True))
    return out


def _relative_sigma(own: float, params: dict[str, Any], rng) -> float:
    """Std (z-scored units) of white noise that brings noise_sigma `own` to a drawn target."""
    if params["noise_levels"] is not None:
        target = rng.uniform(*params["noise_levels"])
    else:
        target = own * rng.uniform(1.0, params["max_noise_factor"])
    target = min(float(target), 0.95)
    return float(np.sqrt((target**2 - own**2) / (1.0 - target**2))) if target > own else 0.0


def _sampled_crops(
    recordings: list[list[tuple[np.ndarray, np.ndarray]]],
    levels: list[float],
    stats: list[dict[str, float]],
    groups: list[str],
    length: int,
    params: dict[str, Any],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One epoch of `epoch_samples` samples as random crops, the same number from every group
    (within a group, recordings and runs in proportion to their length), each crop noised on
    its own (as `_augment` does per recording) and re-standardised; with each crop's dF/F
    scale (the std the z-score divides by), for the `absolute` input."""
    n_crops = max(1, int(np.ceil(params["epoch_samples"] / length)))
    by_group: dict[str, list[int]] = {}
    for k, g in enumerate(groups):
        by_group.setdefault(g, []).append(k)
    names = sorted(by_group)
    sizes = [np.array([sum(x.size for x, _ in recordings[k]) for k in by_group[g]]) for g in names]
    xs, ys, ms, scales = [], [], [], []
    for c in range(n_crops):
        gi = c % len(names) if c < n_crops - n_crops % len(names) else rng.integers(len(names))
        members, w = by_group[names[gi]], sizes[gi]
        k = members[rng.choice(len(members), p=w / w.sum())]
        runs = recordings[k]
        lengths = np.array([x.size for x, _ in runs], dtype=float)
        x, y = runs[rng.choice(len(runs), p=lengths / lengths.sum())]
        if x.size <= length:
            pad = length - x.size
            xc, yc = np.pad(x, (0, pad), mode="edge"), np.pad(y, (0, pad))
            mc = np.concatenate([np.ones(x.size), np.zeros(pad)])
        else:
            s = int(rng.integers(0, x.size - length + 1))
            xc, yc, mc = x[s : s + length], y[s : s + length], np.ones(length)
        if rng.random() >= params["p_clean"]:
            if params["noise_level"] is not None:
                sigma = _cascade_sigma(stats[k], params, rng)
            else:
                sigma = _relative_sigma(levels[k], params, rng)
            if sigma > 0:
                xc = (xc + sigma * rng.standard_normal(length)) / np.sqrt(1.0 + sigma**2)
        else:
            sigma = 0.0
        xs.append(xc)
        ys.append(yc)
        ms.append(mc)
        scales.append(stats[k]["std"] * np.sqrt(1.0 + sigma**2))  # the noisy crop's dF/F std
    return np.stack(xs), np.stack(ys), np.stack(ms), np.asarray(scales)


def train(
    calcium: list[np.ndarray],
    spikes: list[np.ndarray],
    fs: float | list[float],
    groups: list[str] | None = None,
    **params: Any,
) -> CNNModel:
    """Train an ensemble on ground-truth (calcium, spike counts per sample) pairs at rate(s) `fs`.

    `groups` names each recording's dataset: with `epoch_samples` set, every group contributes
    the same number of crops to an epoch, whatever its size.
    """
    p = resolve_params(params)
    t0 = time.perf_counter()
    rate = float(p["rate"])
    groups = ["all"] * len(calcium) if groups is None else [str(g) for g in groups]
    if len(groups) != len(calcium):
        raise ValueError(f"got {len(groups)} groups for {len(calcium)} recordings")
    raw, stats, kept = pp.training_recordings_with_stats(calcium, spikes, fs, rate)
    groups = [groups[i] for i in kept]
    n_dropped = 0
    if p["noise_level"] is not None and p["drop_noisier"]:
        keep = [k for k, st in enumerate(stats) if st["level"] <= p["noise_level"][1]]
        if not keep:
            raise ValueError(
                f"cnn: every training recording is noisier than noise_level "
                f"{p['noise_level'][1]:g} (%·s^-1/2) at {rate:g} Hz (least noisy "
                f"{min(st['level'] for st in stats):.3g}); raise noise_level or set "
                "drop_noisier: false"
            )
        n_dropped = len(stats) - len(keep)
        raw, stats, groups = (
            [raw[k] for k in keep],
            [stats[k] for k in keep],
            [groups[k] for k in keep],
        )
    if p["noise_level"] is not None:
        for rec, st in zip(raw, stats, strict=True):
            st["curve"] = level_curve([x for x, _ in rec], st["std"], p["noise_level"][1], rate)
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
                if p["epoch_samples"] is None:
                    xs, ys, ms = _crops(_augment(recordings, levels, p, rng, stats), length, rng)
                    scales = None
                else:
                    xs, ys, ms, scales = _sampled_crops(
                        recordings, levels, stats, groups, length, p, rng
                    )
                order = rng.permutation(len(xs))
                net.train()
                total = 0.0
                for i in range(0, len(order), int(p["batch_size"])):
                    idx = order[i : i + int(p["batch_size"])]
                    x = _inputs(xs[idx], None if scales is None else scales[idx], p, device)
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
        "level_range": [
            float(min(st["level"] for st in stats)),
            float(max(st["level"] for st in stats)),
        ],
        "n_dropped_noisier": n_dropped,
        "groups": sorted(set(groups)),
        "final_loss": float(losses[-1]),
        "target_scale": target_scale,
        "train_seconds": time.perf_counter() - t0,
        "device": str(device),
    }
    return CNNModel(params=p, states=states, info=info)


def _trained_noise_range(levels: list[float], params: dict[str, Any]) -> list[float] | None:
    """noise_sigma range the augmented training traces covered (None: noise_level says it)."""
    if params["noise_level"] is not None:
        return None  # a bank member: its CASCADE band is checked by the bank
    lo, hi = min(levels), max(levels) * float(params["max_noise_factor"])
    if params["noise_levels"] is not None:
        lo, hi = min(lo, params["noise_levels"][0]), max(max(levels), params["noise_levels"][1])
    return [float(lo), float(min(hi, 0.95))]


def check_noise_level(model: CNNModel, pieces: list[tuple[int, int, np.ndarray]]) -> float:
    """noise_sigma of a z-scored trace; warns when it lies outside the range trained on."""
    if not pieces:
        return float("nan")
    level = pp.noise_sigma(np.concatenate([x for _, _, x in pieces]))
    trained = model.info.get("trained_noise_range", [0.0, 1.0])
    if trained is None:
        return level
    lo, hi = trained
    if not lo * 0.5 <= level <= hi * 1.5:
        logger.warning(
            "cnn: the trace's noise level %.3g (noise std / trace std) is outside the range "
            "%.3g-%.3g the model was trained on; retrain with train noise_levels covering it",
            level,
            lo,
            hi,
        )
    return level


def _run_nets(
    model: CNNModel, x: np.ndarray, device: torch.device, scale: float = 1.0
) -> np.ndarray:
    nets = model.nets()
    with torch.inference_mode():
        xt = _inputs(x[None], [scale], model.params, device)
        out = torch.zeros_like(xt[:, :1])
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
    scale = pp.model_rate_scale(x, fs, rate) if model.params.get("absolute") else 1.0
    pieces = [(a, b, _run_nets(model, seg, dev, scale)) for a, b, seg in segments]
    return pp.from_model_rate(x.size, pieces, rate, fs)


def save(model: CNNModel, path: str | Path) -> Path:
    """Write a trained model to `path` (a torch file), atomically."""
    payload = {"params": model.params, "states": model.states, "info": model.info}
    return model_file.save(payload, path, FORMAT, FORMAT_VERSION)


def load(path: str | Path) -> CNNModel:
    """Read a model written by `save`; ValueError naming the file when it is not one."""
    payload = model_file.load(path, FORMAT, "cnn")
    return CNNModel(params=payload["params"], states=payload["states"], info=payload["info"])
