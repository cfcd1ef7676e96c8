"""A fitted encoding model: network layer -> sparse random projection -> ridge weights.

The encoding stage scores layers by held-out predictions; this module keeps one layer's fit
to predict a dataset's reliable units on images never recorded. The ridge weights of each
unit are refitted on all stimuli with the unit's alpha (the geometric mean of the alphas its
outer folds chose), as the intercept-fitted ridge of brainreps.encoding.ridge. New images go
through the same network, the same layer and the same projection matrix (projection.py makes
it from its seed alone) before the weights.

Decisions:
- Units: those whose split-half reliability is at least `min_reliability`; the model predicts
  their *denoised* responses (Li et al. 2019 took the similarity of a predictive model's
  responses rather than of the noisy recordings).
- Layer: the one with the highest median noise-normalised score over those units, unless one
  is named.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainreps import io
from brainreps.io import atomic_path

logger = logging.getLogger(__name__)

FORMAT = "brainreps-encoding-model"
FORMAT_VERSION = 1


class EncodingModelError(ValueError):
    """An encoding model cannot be fitted, read or used as asked."""


def ridge_weights(
    X: np.ndarray, Y: np.ndarray, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge weights (features x units) and intercepts of Y on X, one alpha per unit.

    X and Y are centred (an unpenalised intercept); the kernel form solves
    W = Xc^T (Xc Xc^T + alpha I)^-1 Yc with one eigendecomposition for every alpha.
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    mx, my = X.mean(0), Y.mean(0)
    Xc, Yc = X - mx, Y - my
    evals, evecs = np.linalg.eigh(Xc @ Xc.T)
    evals = np.clip(evals, 0.0, None)
    proj = evecs.T @ Yc  # (n, units)
    W = np.empty((X.shape[1], Y.shape[1]))
    for alpha in np.unique(alphas):
        cols = np.flatnonzero(alphas == alpha)
        dual = evecs @ (proj[:, cols] / (evals + alpha)[:, None])  # (n, cols)
        W[:, cols] = Xc.T @ dual
    return W, my - mx @ W


@dataclass
class EncodingModel:
    """What predicts a dataset's reliable units from images."""

    network: dict[str, Any]  # the models.<name> entry of the network
    model_name: str
    dataset: str
    layer: str
    projection: dict[str, Any]  # method, n_features, n_components, density, seed
    weights: np.ndarray  # (components, units)
    intercept: np.ndarray  # (units,)
    units: list[str]
    areas: list[str]
    reliability: np.ndarray  # (units,)
    min_reliability: float

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file atomically (readable with weights_only=True)."""
        payload = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "network": self.network,
            "model_name": self.model_name,
            "dataset": self.dataset,
            "layer": self.layer,
            "projection": self.projection,
            "weights": torch.from_numpy(np.ascontiguousarray(self.weights)),
            "intercept": torch.from_numpy(np.ascontiguousarray(self.intercept)),
            "units": [str(u) for u in self.units],
            "areas": [str(a) for a in self.areas],
            "reliability": torch.from_numpy(np.asarray(self.reliability, dtype=np.float64)),
            "min_reliability": float(self.min_reliability),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> EncodingModel:
        """Read a model file written by `save`."""
        path = Path(path)
        if not path.is_file():
            raise EncodingModelError(f"encoding model {path} does not exist")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
            raise EncodingModelError(f"{path} is not a readable encoding model: {exc}") from None
        if not isinstance(payload, Mapping) or payload.get("format") != FORMAT:
            raise EncodingModelError(f"{path} is not a brainreps encoding model")
        if payload.get("format_version") != FORMAT_VERSION:
            raise EncodingModelError(
                f"{path}: encoding model format {payload.get('format_version')}, this brainreps "
                f"reads {FORMAT_VERSION}"
            )
        return cls(
            network=dict(payload["network"]),
            model_name=payload["model_name"],
            dataset=payload["dataset"],
            layer=payload["layer"],
            projection=dict(payload["projection"]),
            weights=payload["weights"].numpy(),
            intercept=payload["intercept"].numpy(),
            units=list(payload["units"]),
            areas=list(payload["areas"]),
            reliability=payload["reliability"].numpy(),
            min_reliability=float(payload["min_reliability"]),
        )

    def predict(self, images: np.ndarray, batch_size: int = 64, device: Any = None) -> np.ndarray:
        """Predicted responses (images x units) of the model's units to any images."""
        from brainreps.models import model_from_spec

        network, preprocess = model_from_spec(self.network)
        features = layer_activations(network, preprocess, images, self.layer, batch_size, device)
        p = self.projection
        if p["method"] == "identity":
            X = features
        else:
            from brainreps.projection import project

            X = project(
                features, p["n_features"], p["n_components"], p["density"], p["seed"], device
            )
        if X.shape[1] != self.weights.shape[0]:
            raise EncodingModelError(
                f"layer {self.layer} of {self.model_name} gives {X.shape[1]} components, the "
                f"weights expect {self.weights.shape[0]}"
            )
        return np.asarray(X, dtype=np.float64) @ self.weights + self.intercept


def layer_activations(
    network, preprocess, images: np.ndarray, layer: str, batch_size: int, device: Any = None
) -> np.ndarray:
    """One layer's flattened activations (images x features) of a network, batch by batch."""
    from brainreps.device import resolve_device
    from brainreps.models import _first_tensor, list_layers

    if layer not in list_layers(network):
        raise EncodingModelError(
            f"layer {layer!r} is not a layer of {getattr(network, '_brainreps_arch', 'the model')}"
        )
    dev = resolve_device(device)
    network = network.eval().to(dev)
    module = dict(network.named_modules())[layer]
    out: list[np.ndarray] = []
    captured: dict[str, torch.Tensor] = {}

    def hook(_module, _args, output):
        captured["x"] = _first_tensor(output).detach().flatten(1).float().cpu()

    handle = module.register_forward_hook(hook)
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                network(preprocess(np.asarray(images[start : start + batch_size])).to(dev))
                out.append(captured.pop("x").numpy())
    finally:
        handle.remove()
    return np.concatenate(out)


def fit_encoding_model(
    projection_path: str | os.PathLike,
    responses_path: str | os.PathLike,
    encoding_path: str | os.PathLike,
    network: Mapping[str, Any],
    model_name: str,
    dataset: str,
    min_reliability: float,
    layer: str | None = None,
) -> EncodingModel:
    """Fit the encoding model of (model, dataset) from the encoding stage's stores."""
    from brainreps.encoding.pipeline import align_responses

    enc = io.read_store(encoding_path, "encoding", load=True)
    responses = io.read_store(responses_path, "responses", load=True)
    reliability = np.asarray(responses["split_half_reliability"].values, dtype=np.float64)
    keep = np.flatnonzero(np.nan_to_num(reliability, nan=-np.inf) >= min_reliability)
    if keep.size == 0:
        raise EncodingModelError(
            f"no unit of {dataset} has split-half reliability >= {min_reliability} "
            f"(encoding.fitted_model.min_reliability; the highest is {np.nanmax(reliability):.2f})"
        )
    unit_ids = [str(u) for u in responses["unit"].values[keep]]
    layers = [str(x) for x in enc["layer"].values]
    if layer is None:
        enc_units = [str(u) for u in enc["unit"].values]
        rows = [enc_units.index(u) for u in unit_ids]
        medians = np.nanmedian(enc["normalized_score"].values[rows], axis=0)
        if not np.isfinite(medians).any():
            medians = np.nanmedian(enc["r2"].values[rows], axis=0)
        layer = layers[int(np.nanargmax(medians))]
    elif layer not in layers:
        raise EncodingModelError(
            f"layer {layer!r} was not scored for {model_name} on {dataset}; layers: {layers}"
        )
    group = io.read_store(projection_path, "projection", group=layer, load=True)
    stim_rows, mean = align_responses(
        responses, group["stimulus"].values, str(responses_path), str(projection_path)
    )
    X = np.asarray(group["components"].values)[stim_rows]
    alphas = np.asarray(enc["alpha"].sel(layer=layer).values, dtype=np.float64)
    enc_units = [str(u) for u in enc["unit"].values]
    alphas = alphas[[enc_units.index(u) for u in unit_ids]]
    W, b = ridge_weights(X, mean[:, keep], alphas)
    projection = {k: group.attrs[k] for k in ("method", "n_features", "n_components", "seed")}
    projection["density"] = group.attrs["density"] if projection["method"] != "identity" else None
    areas = (
        [str(a) for a in responses["area"].values[keep]]
        if "area" in responses.coords
        else ["all"] * keep.size
    )
    logger.info(
        "%s on %s: layer %s, %d of %d units with reliability >= %g",
        model_name,
        dataset,
        layer,
        keep.size,
        reliability.size,
        min_reliability,
    )
    return EncodingModel(
        network=dict(network),
        model_name=model_name,
        dataset=dataset,
        layer=layer,
        projection=projection,
        weights=W,
        intercept=b,
        units=unit_ids,
        areas=areas,
        reliability=reliability[keep],
        min_reliability=float(min_reliability),
    )
