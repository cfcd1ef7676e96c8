"""One forward pass of a blank image through a network, to read what its hooks record."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def blank_forward(
    model: torch.nn.Module, input_size: int, handles: Sequence[torch.utils.hooks.RemovableHandle]
) -> None:
    """Run one zero image (1 x 3 x size x size) through `model` in eval mode on its device,
    then remove `handles` and restore the model's train/eval mode."""
    was_training = model.training
    try:
        model.eval()
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        with torch.inference_mode():
            model(torch.zeros(1, 3, input_size, input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
