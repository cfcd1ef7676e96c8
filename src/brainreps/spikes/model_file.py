"""Model files of the supervised spike methods: torch files tagged with their format."""

from __future__ import annotations

from pathlib import Path

import torch

from brainreps.io import atomic_path


def save(payload: dict, path: str | Path, fmt: str, version: int) -> Path:
    """Write a trained model's payload as a torch file tagged with its format, atomically."""
    with atomic_path(path) as tmp:
        torch.save({"format": fmt, "version": version, **payload}, tmp)
    return Path(path)


def load(path: str | Path, fmt: str, method: str) -> dict:
    """Read a payload written by `save`; errors name the file when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{method} model file {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{path} is not a readable torch file: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a brainreps {method} model (format {fmt!r})")
    return payload
