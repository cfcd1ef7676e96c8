"""Where torch computations run: the one device resolver every stage asks.

`None` and ``"auto"`` mean the GPU when torch sees one, else the CPU; an explicit ``"cuda"``
on a machine without a GPU is an error rather than a crash deep inside a kernel. On a machine
without an NVIDIA device node torch is not even imported (that takes seconds on a CPU box), so
light callers such as the similarity stage's numpy path stay light.
"""

from __future__ import annotations

import functools
import glob
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

AUTO = ("auto", None)


@functools.cache
def gpu_available() -> bool:
    """Whether torch sees a CUDA GPU (False without importing torch when no device node exists)."""
    if not glob.glob("/dev/nvidia[0-9]*"):
        return False
    import torch

    return bool(torch.cuda.is_available())


def resolve_device_name(device: Any = None) -> str:
    """'cuda' or 'cpu' for None/'auto'; otherwise `device` as a string, checked to be usable."""
    if device in AUTO:
        return "cuda" if gpu_available() else "cpu"
    name = str(device)
    if name.startswith("cuda") and not gpu_available():
        raise ValueError(f"device {name!r} was requested but torch sees no GPU on this machine")
    return name


def resolve_device(device: Any = None) -> torch.device:
    """The torch device for `device` (None/'auto': the GPU when there is one, else the CPU)."""
    import torch

    return torch.device(resolve_device_name(device))
