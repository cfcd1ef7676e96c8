"""Calcium to cortex: noise ceilings and best-layer predictivity per area, signal by signal.

One recording's trial responses are computed from several signals (the config's
`responses.compare.signals`: dF/F, spike rates inferred from it by a spikes method, and for a
simulated recording its true spikes; `brainreps.data.responses`). Each signal's responses are
encoded by the same model's projected layers with the same ridge settings, and per area we
compare:

- the noise ceiling: each unit's split-half reliability of its mean response (median and
  inter-quartile range over the area's units);
- the best layer's predictivity: the layer whose median held-out r² over the area's units is
  highest, and that median r² (raw, so that signals with different ceilings compare on the
  same scale), and its median r² / noise ceiling over the units that have a ceiling.

Decisions:
- the best layer is chosen per area and signal on the median r² over units, not per unit
  (a per-unit maximum over layers is biased upwards by the noise of the held-out scores);
- units without a noise ceiling (reliability <= 0) count in the r² but not in the
  normalised score, and the table says how many units each median is over.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainreps import io

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = [
    "signal",
    "area",
    "n_units",
    "n_with_ceiling",
    "noise_ceiling",
    "noise_ceiling_q25",
    "noise_ceiling_q75",
    "best_layer",
    "best_layer_index",
    "r2",
    "r2_q25",
    "r2_q75",
    "normalized_score",
    "normalized_q25",
    "normalized_q75",
]


def encode_signals(
    projection_path: str | os.PathLike,
    responses_paths: Mapping[str, str | os.PathLike],
    encoding_paths: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Any],
) -> dict[str, xr.Dataset]:
    """Each signal's encoding: read from `encoding_paths` where the workflow already scored it
    (the main signal), else computed from the projection and that signal's responses."""
    from brainreps.encoding.pipeline import encode_stores

    out = {}
    for signal, path in responses_paths.items():
        if signal in encoding_paths:
            out[signal] = io.read_store(encoding_paths[signal], "encoding", load=True)
        else:
            logger.info("encoding the responses from %s (%s)", signal, path)
            out[signal] = encode_stores(projection_path, path, settings)
    return out


def unit_table(
    encodings: Mapping[str, xr.Dataset], responses: Mapping[str, xr.Dataset]
) -> pd.DataFrame:
    """One row per signal, unit and layer: area, noise ceiling, held-out r and r²."""
    frames = []
    for signal, enc in encodings.items():
        resp = responses[signal]
        ceiling = pd.Series(resp["noise_ceiling"].values, index=resp["unit"].values)
        units = enc["unit"].values
        layers = [str(v) for v in enc["layer"].values]
        r2 = enc["r2"].transpose("unit", "layer").values
        r = enc["r"].transpose("unit", "layer").values
        area = enc["area"].values if "area" in enc.coords else np.full(len(units), "all")
        frames.append(
            pd.DataFrame(
                {
                    "signal": signal,
                    "unit": np.repeat(units, len(layers)),
                    "area": np.repeat(area, len(layers)),
                    "noise_ceiling": np.repeat(ceiling.reindex(units).values, len(layers)),
                    "layer": np.tile(layers, len(units)),
                    "layer_index": np.tile(np.arange(len(layers)), len(units)),
                    "r": r.ravel(),
                    "r2": r2.ravel(),
                }
            )
        )
    table = pd.concat(frames, ignore_index=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["normalized_score"] = table["r2"] / table["noise_ceiling"]
    return table


def _quartiles(values: pd.Series) -> tuple[float, float, float]:
    v = values.dropna().to_numpy()
    if v.size == 0:
        return (np.nan, np.nan, np.nan)
    q25, q50, q75 = np.percentile(v, [25, 50, 75])
    return float(q50), float(q25), float(q75)


def summary(units: pd.DataFrame) -> pd.DataFrame:
    """Per signal and area (and all units): the noise ceiling and the best layer's predictivity
    (see the module docstring), with the number of units behind each median."""
    rows = []
    everyone = units.assign(area="all")
    areas = sorted(units["area"].unique())
    frame = pd.concat([everyone, units], ignore_index=True) if len(areas) > 1 else units
    for (signal, area), part in frame.groupby(["signal", "area"], sort=False):
        per_unit = part.drop_duplicates("unit")
        ceiling = _quartiles(per_unit["noise_ceiling"])
        medians = part.groupby("layer_index")["r2"].median()
        best = int(medians.idxmax())
        at_best = part[part["layer_index"] == best]
        r2 = _quartiles(at_best["r2"])
        normalized = _quartiles(at_best["normalized_score"])
        rows.append(
            [
                signal,
                area,
                int(per_unit["unit"].nunique()),
                int(per_unit["noise_ceiling"].notna().sum()),
                *ceiling,
                str(at_best["layer"].iloc[0]),
                best,
                *r2,
                *normalized,
            ]
        )
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    order = {s: i for i, s in enumerate(dict.fromkeys(units["signal"]))}
    table["_s"] = table["signal"].map(order)
    table["_a"] = (table["area"] != "all").astype(int)
    return table.sort_values(["_a", "area", "_s"]).drop(columns=["_s", "_a"]).reset_index(drop=True)


def compare_signals(
    projection_path: str | os.PathLike,
    responses_paths: Mapping[str, str | os.PathLike],
    encoding_paths: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Any],
    summary_path: str | os.PathLike,
    units_path: str | os.PathLike,
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rule signal_comparison: encode every signal, write the unit table and the summary."""
    responses = {s: io.read_store(p, "responses", load=True) for s, p in responses_paths.items()}
    encodings = encode_signals(projection_path, responses_paths, encoding_paths, settings)
    units = unit_table(encodings, responses)
    table = summary(units)
    for i, (key, value) in enumerate((labels or {}).items()):
        table.insert(i, key, value)
        units.insert(i, key, value)
    with io.atomic_path(units_path) as tmp:
        units.to_csv(tmp, index=False)
    with io.atomic_path(summary_path) as tmp:
        table.to_csv(tmp, index=False)
    logger.info("per area:\n%s", table.to_string(index=False))
    return table
