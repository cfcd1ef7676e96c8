"""Array backends for ridge regression: numpy (CPU) or torch (GPU when there is one)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainreps.device import resolve_device

BACKENDS = ("numpy", "torch")
SMALL_EIGH = 1024


@functools.cache
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@dataclass
class Backend:
    """The few array operations the ridge solver needs, for numpy or torch."""

    name: str
    dtype: str = "float64"
    device: Any = None

    def __post_init__(self) -> None:
        if self.name not in BACKENDS:
            raise ValueError(f"unknown ridge backend {self.name!r}; choose one of {BACKENDS}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"unknown ridge dtype {self.dtype!r}; choose float64 or float32")
        if self.name == "torch":
            import torch

            self.device = resolve_device(self.device)
            self._torch = torch
            self._dtype = getattr(torch, self.dtype)
        else:
            self._dtype = np.dtype(self.dtype)

    def asarray(self, a: Any) -> Any:
        """`a` as a floating array of this backend (on its device)."""
        if self.name == "torch":
            if isinstance(a, self._torch.Tensor):
                return a.to(device=self.device, dtype=self._dtype)
            return self._torch.as_tensor(np.asarray(a), dtype=self._dtype, device=self.device)
        return np.asarray(a, dtype=self._dtype)

    def as_exact(self, a: Any) -> Any:
        """`a` as a float64 array of this backend: decompositions are always done in float64."""
        if self.name == "torch":
            if isinstance(a, self._torch.Tensor):
                return a.to(device=self.device, dtype=self._torch.float64)
            return self._torch.as_tensor(
                np.asarray(a), dtype=self._torch.float64, device=self.device
            )
        return np.asarray(a, dtype=np.float64)

    def as_working(self, a: Any) -> Any:
        """A backend array cast to the working dtype (float64 or float32)."""
        if self.name == "torch":
            return a.to(self._dtype)
        return a.astype(self._dtype, copy=False)

    def index(self, idx: np.ndarray) -> Any:
        """Integer indices usable to index this backend's arrays."""
        if self.name == "torch":
            return self._torch.as_tensor(
                np.asarray(idx), dtype=self._torch.long, device=self.device
            )
        return np.asarray(idx, dtype=np.intp)

    def to_numpy(self, a: Any) -> np.ndarray:
        """A numpy copy of a backend array."""
        if self.name == "torch":
            return a.detach().cpu().numpy()
        return np.asarray(a)

    def eigh(self, a: Any) -> tuple[Any, Any]:
        """Eigenvalues (ascending) and eigenvectors of a symmetric matrix."""
        if self.name == "torch":
            return self._torch.linalg.eigh(a)
        if a.shape[0] <= SMALL_EIGH:
            # a small eigh is faster on one thread, by far on a busy machine
            with _blas_controller().limit(limits=1, user_api="blas"):
                return np.linalg.eigh(a)
        return np.linalg.eigh(a)

    def clip_min(self, a: Any, low: float) -> Any:
        """Elementwise max(a, low)."""
        if self.name == "torch":
            return self._torch.clamp(a, min=low)
        return np.maximum(a, low)

    def argmax0(self, a: Any) -> np.ndarray:
        """Index of the first maximum along axis 0, as a numpy array."""
        if self.name == "torch":
            # torch's argmax does not promise the first of ties; take it explicitly
            best = a.max(0).values
            first = (a == best).to(self._torch.int8).argmax(0)
            return first.cpu().numpy()
        return np.argmax(a, axis=0)

    def zeros(self, shape: tuple[int, ...], exact: bool = False) -> Any:
        """A zero array of this backend, float64 if `exact` else of the working dtype."""
        if self.name == "torch":
            dtype = self._torch.float64 if exact else self._dtype
            return self._torch.zeros(shape, dtype=dtype, device=self.device)
        return np.zeros(shape, dtype=np.float64 if exact else self._dtype)


def get_backend(name: str = "numpy", dtype: str = "float64", device: Any = None) -> Backend:
    """The backend called `name` ('numpy' or 'torch'); torch uses CUDA when available."""
    return Backend(name, dtype, device)
