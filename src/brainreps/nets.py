"""Small networks the config can define (arch `brainreps/NAME`), for training on a CPU.

`convnet`: a plain VGG-like stack of blocks (3x3 conv, batch norm, ReLU, 2x2 max pool), one
block per entry of `widths`, then global average pooling (`pool`) and a linear read-out
(`fc`). Its modules are named block1, block2, ..., pool, fc, so layer specs can name them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn


class ConvNet(nn.Module):
    """Blocks of conv3x3-BN-ReLU-maxpool, global average pooling and a linear classifier."""

    def __init__(self, num_classes: int, widths: Sequence[int] = (16, 32, 64, 128)):
        super().__init__()
        if not widths:
            raise ValueError("convnet needs at least one block width")
        channels = 3
        for i, width in enumerate(widths, start=1):
            block = nn.Sequential(
                nn.Conv2d(channels, int(width), 3, padding=1, bias=False),
                nn.BatchNorm2d(int(width)),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            )
            self.add_module(f"block{i}", block)
            channels = int(width)
        self.n_blocks = len(widths)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, num_classes) of an image batch (N, 3, H, W)."""
        for i in range(1, self.n_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        return self.fc(self.pool(x))


# name -> constructor(num_classes, **arch_params)
NETS: dict[str, Callable[..., nn.Module]] = {"convnet": ConvNet}
PREFIX = "brainreps/"


def build_net(name: str, num_classes: int, arch_params: Mapping[str, Any] | None = None):
    """A network of this module by name (without the `brainreps/` prefix)."""
    if name not in NETS:
        raise ValueError(f"unknown brainreps network {name!r}; known: {', '.join(NETS)}")
    try:
        return NETS[name](num_classes, **dict(arch_params or {}))
    except TypeError as exc:
        raise ValueError(
            f"arch_params {dict(arch_params or {})} do not fit {name}: {exc}"
        ) from None
