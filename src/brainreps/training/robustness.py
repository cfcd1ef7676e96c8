"""Accuracy under perturbation: additive Gaussian pixel noise, and the FGSM attack.

Both act on the image in pixel space, [0, 1] per channel, before the network's normalisation:
- noise: x + N(0, std^2) per pixel, clipped to [0, 1] (seeded, the same draw for every model);
- FGSM (Goodfellow et al. 2015): x + eps * sign(grad_x loss), clipped to [0, 1], a one-step
  L-infinity attack with budget eps (eps = 2/255 moves each pixel by at most 2 grey levels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pixel_space(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Normalised network inputs back in [0, 1] pixel units."""
    m = torch.tensor(mean, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, -1, 1, 1)
    return x * s + m


def normalise(x01: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Pixels in [0, 1] as the network's normalised input."""
    m = torch.tensor(mean, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x01.dtype, device=x01.device).view(1, -1, 1, 1)
    return (x01 - m) / s


def noisy_top1(
    model: torch.nn.Module,
    x01: torch.Tensor,
    y: torch.Tensor,
    noise_std: Sequence[float],
    mean: Sequence[float],
    std: Sequence[float],
    seed: int,
    batch: int = 256,
) -> dict[float, float]:
    """Top-1 accuracy under additive Gaussian pixel noise of each standard deviation."""
    model.eval()
    device = next(model.parameters()).device
    out = {}
    for k, sigma in enumerate(noise_std):
        state = np.random.SeedSequence([seed, k]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(x01), batch):
                x = x01[start : start + batch]
                noise = torch.randn(x.shape, generator=generator) * float(sigma)
                xn = normalise((x + noise).clamp(0, 1), mean, std).to(device)
                correct += int((model(xn).argmax(1).cpu() == y[start : start + batch]).sum())
        out[float(sigma)] = correct / max(len(x01), 1)
    return out


def fgsm_top1(
    model: torch.nn.Module,
    x01: torch.Tensor,
    y: torch.Tensor,
    eps: Sequence[float],
    mean: Sequence[float],
    std: Sequence[float],
    batch: int = 256,
) -> dict[float, float]:
    """Top-1 accuracy under the fast gradient sign attack of each budget eps."""
    model.eval()
    device = next(model.parameters()).device
    correct = dict.fromkeys((float(e) for e in eps), 0)
    for start in range(0, len(x01), batch):
        x = x01[start : start + batch].to(device).requires_grad_(True)
        target = y[start : start + batch].to(device)
        loss = torch.nn.functional.cross_entropy(model(normalise(x, mean, std)), target)
        (grad,) = torch.autograd.grad(loss, x)
        with torch.inference_mode():
            for e in correct:
                adv = (x + e * grad.sign()).clamp(0, 1)
                correct[e] += int((model(normalise(adv, mean, std)).argmax(1) == target).sum())
    return {e: c / max(len(x01), 1) for e, c in correct.items()}
