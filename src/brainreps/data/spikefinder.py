"""Spikefinder ground truth (Berens et al. 2018): CSV files into the `recording` schema.

A Spikefinder file holds one column per neuron (header = neuron id), one row per frame at
100 Hz, NaN-padded at the end of the shorter recordings; plain or gzipped CSV. The calcium
file holds the fluorescence, the spikes file the spike count per frame, with the same shape
and columns. NaN padding is kept as NaN in the recording (downstream, NaN samples are skipped).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainreps.config import schema_default

# Hz, every Spikefinder dataset after the organisers' resampling (the schema's default rate)
SPIKEFINDER_RATE: float = schema_default("spikes#spikefinder_source", "frame_rate")


def read_csv_columns(path: str | os.PathLike) -> pd.DataFrame:
    """A Spikefinder-format CSV (plain or .gz) as a float64 DataFrame, one column per neuron."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such Spikefinder CSV file: {path}")
    try:
        frame = pd.read_csv(path, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(
            f"{path}: not a numeric Spikefinder CSV (one column per neuron): {exc}"
        ) from exc
    if frame.shape[1] == 0 or frame.shape[0] == 0:
        raise ValueError(f"{path}: empty CSV (shape {frame.shape})")
    if np.isinf(frame.to_numpy()).any():
        raise ValueError(f"{path}: holds +-inf values")
    return frame


def write_csv_columns(
    frame: pd.DataFrame, path: str | os.PathLike, gzip: bool | None = None
) -> None:
    """Write a Spikefinder-format CSV, NaN as an empty field; gzipped if `gzip` (default: .gz name)."""
    gzip = str(path).endswith(".gz") if gzip is None else gzip
    frame.to_csv(
        path, index=False, na_rep="", float_format="%.6g", compression="gzip" if gzip else None
    )


def recording_dataset(
    dff: np.ndarray,
    frame_rate: float,
    spikes: np.ndarray | None = None,
    unit: Sequence[str] | None = None,
    unit_coords: Mapping[str, Sequence[Any]] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """A `recording` Dataset: dff (unit, time) float32, timestamps (time) s, optional spikes."""
    dff = np.asarray(dff, dtype=np.float32)
    if dff.ndim != 2:
        raise ValueError(f"dff must be (unit, time), got shape {dff.shape}")
    if not np.isfinite(frame_rate) or frame_rate <= 0:
        raise ValueError(f"frame_rate must be a positive number of Hz, got {frame_rate!r}")
    n_units, n_time = dff.shape
    unit = [str(u) for u in (unit if unit is not None else range(n_units))]
    if len(unit) != n_units:
        raise ValueError(f"{len(unit)} unit names for {n_units} units")
    data_vars: dict[str, Any] = {
        "dff": (("unit", "time"), dff),
        "timestamps": (("time",), np.arange(n_time, dtype=np.float64) / frame_rate),
    }
    if spikes is not None:
        spikes = np.asarray(spikes, dtype=np.float32)
        if spikes.shape != dff.shape:
            raise ValueError(f"spikes have shape {spikes.shape} but dff has shape {dff.shape}")
        data_vars["spikes"] = (("unit", "time"), spikes)
    coords: dict[str, Any] = {"unit": np.asarray(unit, dtype=str)}
    for name, values in (unit_coords or {}).items():
        coords[name] = ("unit", np.asarray(values))
    ds = xr.Dataset(data_vars, coords=coords)
    ds.attrs = {"frame_rate": float(frame_rate), **(attrs or {})}
    return ds


def load_spikefinder(
    calcium: str | os.PathLike,
    spikes: str | os.PathLike | None = None,
    frame_rate: float = SPIKEFINDER_RATE,
    dataset_id: str | None = None,
) -> xr.Dataset:
    """Spikefinder calcium (and spike) CSVs as a `recording` Dataset; NaN padding kept as NaN.

    Raises ValueError naming both files when the spike file's columns or length differ from
    the calcium file's, or when spikes are present where the calcium is NaN.
    """
    ca = read_csv_columns(calcium)
    sp_values = None
    if spikes is not None:
        sp = read_csv_columns(spikes)
        if list(sp.columns) != list(ca.columns):
            raise ValueError(
                f"{spikes} has columns {list(sp.columns)} but {calcium} has {list(ca.columns)}; "
                "calcium and spike files must hold the same neurons in the same order"
            )
        if sp.shape != ca.shape:
            raise ValueError(
                f"{spikes} has {sp.shape[0]} rows but {calcium} has {ca.shape[0]}; "
                "calcium and spike files must have one row per frame each"
            )
        sp_values = sp.to_numpy().T
        if (np.nan_to_num(sp_values) < 0).any():
            raise ValueError(f"{spikes}: negative spike counts")
        stray = np.isnan(ca.to_numpy().T) & ~np.isnan(sp_values) & (np.nan_to_num(sp_values) > 0)
        if stray.any():
            unit, frame = np.argwhere(stray)[0]
            raise ValueError(
                f"{spikes}: spikes at frame {frame} of neuron {ca.columns[unit]!r} where the "
                f"calcium in {calcium} is NaN (padding); the files do not belong together"
            )
    attrs = {"source": "spikefinder", "calcium_file": str(calcium)}
    if spikes is not None:
        attrs["spikes_file"] = str(spikes)
    if dataset_id is not None:
        attrs["dataset_id"] = str(dataset_id)
    return recording_dataset(
        ca.to_numpy().T, frame_rate, spikes=sp_values, unit=list(ca.columns), attrs=attrs
    )


def spikefinder_paths(folder: str | os.PathLike, dataset_id: str, split: str = "train") -> tuple:
    """(calcium, spikes) paths of dataset `dataset_id` in a Spikefinder folder (.csv or .csv.gz)."""
    folder = Path(folder)
    found = []
    for kind in ("calcium", "spikes"):
        stem = f"{dataset_id}.{split}.{kind}.csv"
        for candidate in (folder / stem, folder / f"{stem}.gz"):
            if candidate.is_file():
                found.append(candidate)
                break
        else:
            found.append(None)
    if found[0] is None:
        raise FileNotFoundError(
            f"no {dataset_id}.{split}.calcium.csv(.gz) in {folder} "
            f"(has {sorted(p.name for p in folder.glob('*.csv*'))[:10]})"
        )
    return found[0], found[1]
