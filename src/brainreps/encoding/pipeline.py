"""Encoding stage: align responses to a projection store, ridge per layer, the encoding store."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainreps import io
from brainreps.config import fill_defaults
from brainreps.encoding.backend import get_backend
from brainreps.encoding.ridge import alpha_grid, cross_validated_ridge
from brainreps.encoding.scores import coefficient_of_determination, normalized_score, pearson_r

logger = logging.getLogger(__name__)

UNIT_METADATA = ("area", "depth", "cre_line")

_MAX_NAMED = 10


def _named(values: Sequence[Any]) -> str:
    values = [str(v) for v in values]
    more = f" ... ({len(values)} in all)" if len(values) > _MAX_NAMED else ""
    return ", ".join(values[:_MAX_NAMED]) + more


def resolve_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """The encoding settings (the config's `encoding` section) with the schema's defaults."""
    section = {k: v for k, v in (settings or {}).items() if k != "runs"}
    return fill_defaults("encoding", section, "encoding")


def check_responses(responses: np.ndarray, unit_ids: Sequence[Any], source: str) -> None:
    """Raise ValueError naming the units when (stimulus, unit) responses hold NaNs or are constant."""
    responses = np.asarray(responses)
    if responses.ndim != 2:
        raise ValueError(f"{source}: responses must be 2-D (stimulus, unit), got {responses.shape}")
    bad = ~np.isfinite(responses)
    if bad.any():
        units = np.flatnonzero(bad.any(axis=0))
        stims = np.flatnonzero(bad.any(axis=1))
        raise ValueError(
            f"{source}: responses hold {int(bad.sum())} NaN/inf value(s), in {units.size} unit(s) "
            f"({_named(np.asarray(unit_ids)[units])}) and {stims.size} stimulus row(s) "
            f"(first rows: {_named(stims)})"
        )
    if responses.shape[0] < 2:
        raise ValueError(f"{source}: need at least 2 stimuli, got shape {responses.shape}")
    constant = np.ptp(responses, axis=0) == 0
    if constant.all():
        raise ValueError(
            f"{source}: all responses are constant across stimuli (shape {responses.shape}); "
            "there is nothing to predict"
        )
    if constant.any():
        units = np.asarray(unit_ids)[constant]
        raise ValueError(
            f"{source}: {units.size} unit(s) have the same response to every stimulus "
            f"({_named(units)}); remove them before encoding"
        )


def align_responses(
    responses: xr.Dataset, stimulus_ids: Sequence[Any], source: str, target: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `stimulus_ids` (the projection's order) for every stimulus of `responses`.

    Returns (row index into stimulus_ids, mean responses (stimulus, unit) in the responses'
    stimulus order). Raises ValueError naming the response stimuli missing from the target.
    """
    ids = [str(s) for s in np.asarray(stimulus_ids)]
    position = {s: i for i, s in enumerate(ids)}
    if len(position) != len(ids):
        raise ValueError(f"{target}: stimulus ids are not unique")
    wanted = [str(s) for s in responses["stimulus"].values]
    missing = [s for s in wanted if s not in position]
    if missing:
        raise ValueError(
            f"{source} has {len(missing)} stimulus id(s) that {target} lacks: {_named(missing)} "
            f"({target} has {len(ids)} stimuli, e.g. {_named(ids[:3])})"
        )
    rows = np.array([position[s] for s in wanted], dtype=np.intp)
    extra = len(ids) - len(set(wanted))
    if extra:
        logger.info("%s: %d stimuli without responses are left out", target, extra)
    mean = np.asarray(responses["mean_response"].transpose("unit", "stimulus").values).T
    return rows, mean


def encode_layers(
    layers: Mapping[str, np.ndarray],
    responses: np.ndarray,
    noise_ceiling: np.ndarray,
    settings: Mapping[str, Any] | None = None,
    unit_coords: Mapping[str, Sequence[Any]] | None = None,
    unit_ids: Sequence[Any] | None = None,
) -> xr.Dataset:
    """The `encoding` Dataset: nested-CV ridge of every unit on every layer's components.

    `layers` maps layer name (in forward order) to (stimulus, component) arrays whose rows
    match `responses` (stimulus, unit). Variables (unit, layer): r (Pearson r of held-out
    predictions), r2 (= r squared), cod (coefficient of determination of held-out
    predictions), alpha (geometric mean of the alphas chosen in the outer folds),
    normalized_score (r2 / noise_ceiling); alpha_fold (unit, layer, fold).
    """
    s = resolve_settings(settings)
    responses = np.asarray(responses, dtype=np.float64)
    n_stim, n_units = responses.shape
    unit_ids = np.asarray(unit_ids if unit_ids is not None else np.arange(n_units))
    check_responses(responses, unit_ids, "responses")
    alphas = alpha_grid(s["alphas"]["low"], s["alphas"]["high"], int(s["alphas"]["n"]))
    backend = get_backend(s["backend"], s["dtype"], s["device"])
    names = list(layers)
    if not names:
        raise ValueError("no layers to encode")
    shape = (n_units, len(names))
    r, cod = np.full(shape, np.nan), np.full(shape, np.nan)
    alpha = np.full(shape, np.nan)
    alpha_fold = np.full((*shape, int(s["outer_folds"])), np.nan)
    for j, name in enumerate(names):
        X = np.asarray(layers[name])
        if X.ndim != 2 or X.shape[0] != n_stim:
            raise ValueError(
                f"layer {name!r}: components have shape {X.shape}; expected ({n_stim}, n) "
                "to match the responses' stimuli"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError(f"layer {name!r}: components hold NaN/inf values")
        fit = cross_validated_ridge(
            X,
            responses,
            alphas,
            outer_folds=int(s["outer_folds"]),
            inner_folds=int(s["inner_folds"]),
            seed=s["seed"],
            scoring=s["scoring"],
            backend=backend,
            targets_batch=s["targets_batch"],
        )
        r[:, j] = pearson_r(fit.predictions, responses)
        cod[:, j] = coefficient_of_determination(fit.predictions, responses)
        alpha_fold[:, j] = fit.alphas.T
        alpha[:, j] = np.exp(np.log(fit.alphas).mean(0))
        logger.info(
            "layer %s (%d components): median r %.3f over %d units",
            name,
            X.shape[1],
            float(np.nanmedian(r[:, j])),
            n_units,
        )
    r2 = r**2
    ceiling = np.asarray(noise_ceiling, dtype=np.float64)
    norm = normalized_score(r2, ceiling[:, None])
    coords: dict[str, Any] = {"unit": unit_ids, "layer": np.array(names, dtype=object)}
    coords["layer_index"] = ("layer", np.arange(len(names)))
    for key, values in (unit_coords or {}).items():
        coords[key] = ("unit", np.asarray(values))
    ds = xr.Dataset(
        {
            "r": (("unit", "layer"), r),
            "r2": (("unit", "layer"), r2),
            "cod": (("unit", "layer"), cod),
            "alpha": (("unit", "layer"), alpha),
            "normalized_score": (("unit", "layer"), norm),
            "alpha_fold": (("unit", "layer", "fold"), alpha_fold),
            "noise_ceiling": (("unit",), ceiling),
        },
        coords=coords,
        attrs={
            "alpha_grid": [float(a) for a in alphas],
            "scores": "r: Pearson r of held-out (outer-fold) predictions; r2 = r**2; "
            "cod: coefficient of determination of the same predictions; "
            "normalized_score = r2 / noise_ceiling (Spearman-Brown split-half reliability)",
        },
    )
    return ds


def read_layers(
    projection_path: str | os.PathLike, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Every group of a projection store, in forward order, as (stimulus, component) arrays."""
    out = {}
    for group in io.store_groups(projection_path):
        ds = io.read_store(projection_path, "projection", group=group)
        comps = np.asarray(ds["components"].values)
        out[group] = comps if rows is None else comps[rows]
    return out


def encode_stores(
    projection_path: str | os.PathLike,
    responses_path: str | os.PathLike,
    settings: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The encoding Dataset of a projection store against a responses store (aligned by id)."""
    groups = io.store_groups(projection_path)
    if not groups:
        raise io.StoreError(f"{projection_path} has no layers (groups)")
    first = io.read_store(projection_path, "projection", group=groups[0])
    responses = io.read_store(responses_path, "responses", load=True)
    rows, mean = align_responses(
        responses, first["stimulus"].values, str(responses_path), str(projection_path)
    )
    unit_ids = responses["unit"].values
    check_responses(mean, unit_ids, str(responses_path))
    layers = read_layers(projection_path, rows)
    unit_coords = {
        k: responses[k].values
        for k in responses.coords
        if k != "unit" and responses[k].dims == ("unit",)
    }
    return encode_layers(
        layers,
        mean,
        responses["noise_ceiling"].values,
        settings,
        unit_coords=unit_coords,
        unit_ids=unit_ids,
    )


def encoding_table(ds: xr.Dataset, **labels: Any) -> pd.DataFrame:
    """Tidy table, one row per unit x layer, with unit metadata and the given labels."""
    frame = pd.DataFrame(
        {
            "unit": np.repeat(ds["unit"].values, ds.sizes["layer"]),
            "layer": np.tile(ds["layer"].values, ds.sizes["unit"]),
            "layer_index": np.tile(np.arange(ds.sizes["layer"]), ds.sizes["unit"]),
        }
    )
    for key in UNIT_METADATA:
        frame[key] = np.repeat(ds[key].values, ds.sizes["layer"]) if key in ds.coords else ""
    for name in ("r", "r2", "cod", "alpha", "normalized_score"):
        frame[name] = ds[name].transpose("unit", "layer").values.ravel()
    frame["noise_ceiling"] = np.repeat(ds["noise_ceiling"].values, ds.sizes["layer"])
    for i, (key, value) in enumerate(labels.items()):
        frame.insert(i, key, value)
    return frame


def write_results(
    ds: xr.Dataset,
    store_path: str | os.PathLike,
    csv_path: str | os.PathLike | None,
    *,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
    labels: Mapping[str, Any] | None = None,
) -> Path:
    """Write the encoding store and (optionally) its tidy CSV, each atomically."""
    io.write_store(ds, store_path, kind="encoding", params=params, inputs=inputs)
    if csv_path is not None:
        table = encoding_table(ds, **dict(labels or {}))
        with io.atomic_path(csv_path) as tmp:
            table.to_csv(tmp, index=False)
    return Path(store_path)
