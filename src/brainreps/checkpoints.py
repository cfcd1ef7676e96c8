"""Model files: brainreps training checkpoints and a user's own state-dict or TorchScript files.

A checkpoint is one file per saved epoch, written atomically: the network's state dict, what
it is (arch, arch_params, num_classes, input_size, class names) and, for resuming, the
optimizer and schedule state and the fingerprint of the settings it was trained with. Files
are read with ``torch.load(weights_only=True)``: nothing in them is unpickled as code.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from brainreps.io import atomic_path

FORMAT = "brainreps-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A model file cannot be read, or does not fit the architecture it is used for."""


def save_checkpoint(path: str | os.PathLike, **fields: Any) -> Path:
    """Write a checkpoint file atomically (fields: model, arch, epoch, ... see the module)."""
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **fields}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def is_torchscript(path: str | os.PathLike) -> bool:
    """Whether a file is a TorchScript archive (a zip holding code/ and constants.pkl)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(n.endswith("constants.pkl") for n in archive.namelist())


def read_model_file(path: str | os.PathLike) -> dict[str, Any]:
    """A model file as {'model': state_dict, ...metadata}: a brainreps checkpoint, a plain state
    dict ({'model': ...} only), or a TorchScript module's state dict ('torchscript': True)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist")
    if is_torchscript(path):
        try:
            module = torch.jit.load(str(path), map_location="cpu")
        except Exception as exc:  # noqa: BLE001 - any unreadable archive is a user error
            raise CheckpointError(f"{path} is not a readable TorchScript file: {exc}") from None
        return {"model": dict(module.state_dict()), "torchscript": True}
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise CheckpointError(
            f"{path} is not a state dict, a brainreps checkpoint or a TorchScript file "
            f"(read with weights_only=True): {exc}"
        ) from None
    if isinstance(payload, Mapping) and payload.get("format") == FORMAT:
        if payload.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(
                f"{path}: checkpoint format version {payload.get('format_version')}, "
                f"this brainreps reads version {FORMAT_VERSION}"
            )
        return dict(payload)
    if (
        isinstance(payload, Mapping)
        and payload
        and all(torch.is_tensor(v) for v in payload.values())
    ):
        return {"model": dict(payload)}
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        return {"model": dict(payload["state_dict"])}
    raise CheckpointError(f"{path} holds no state dict (a mapping of parameter names to tensors)")


def load_state(
    model: torch.nn.Module, state: Mapping[str, torch.Tensor], arch: str, path: str | os.PathLike
) -> torch.nn.Module:
    """Load a state dict into `model`, or say which architecture the file does not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            k = wrong[0]
            parts.append(
                f"{len(wrong)} of another shape (e.g. {k}: {tuple(state[k].shape)} in the file, "
                f"{tuple(own[k].shape)} in {arch})"
            )
        raise CheckpointError(
            f"the weights in {path} do not fit architecture {arch}: parameters "
            + "; ".join(parts)
            + ". The file was saved from another architecture (or other arch_params)."
        )
    model.load_state_dict(state)
    return model
