"""Compare two results trees bit for bit: every array of every Zarr store, every CSV table.

`brainreps compare-results OLD NEW` is how a refactoring shows it changed no number: it lists
stores or tables present in one tree only, and every array or table whose bytes differ (with
the largest absolute difference), and exits with status 1 when anything differs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd


def store_arrays(results: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every array of every Zarr store under `results`, keyed 'store.zarr/group/array'."""
    import zarr

    results = Path(results)
    arrays: dict[str, np.ndarray] = {}
    stores = sorted(p for p in results.rglob("*.zarr") if (p / "zarr.json").is_file())
    for store in stores:
        if any(parent.suffix == ".zarr" for parent in store.relative_to(results).parents):
            continue  # a group inside a store
        root = zarr.open_group(str(store), mode="r")
        with warnings.catch_warnings():  # Snakemake's .snakemake_timestamp inside a store
            warnings.simplefilter("ignore")
            members = list(root.members(max_depth=None))
        for name, node in members:
            if isinstance(node, zarr.Array):
                arrays[f"{store.relative_to(results)}/{name}"] = np.asarray(node[...])
    return arrays


def csv_tables(results: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Every CSV table under `results` (outside stores), keyed by its relative path."""
    results = Path(results)
    return {
        str(p.relative_to(results)): pd.read_csv(p)
        for p in sorted(results.rglob("*.csv"))
        if not any(parent.suffix == ".zarr" for parent in p.relative_to(results).parents)
    }


def array_differences(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> list[str]:
    """What differs between two sets of named arrays, bit for bit (NaNs equal to NaNs)."""
    differ = [f"{key}: only in the first" for key in sorted(set(a) - set(b))]
    differ += [f"{key}: only in the second" for key in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.dtype != y.dtype or x.shape != y.shape:
            differ.append(f"{key}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
        elif x.dtype.kind in "OUST":
            if [str(v) for v in x.ravel()] != [str(v) for v in y.ravel()]:
                differ.append(f"{key}: values differ")
        elif x.tobytes() != y.tobytes():
            diff = np.nanmax(np.abs(x.astype(float) - y.astype(float))) if x.size else 0
            differ.append(f"{key}: bytes differ (max abs diff {diff:.3g})")
    return differ


def table_differences(
    a: Mapping[str, pd.DataFrame], b: Mapping[str, pd.DataFrame], ignore: tuple[str, ...] = ()
) -> list[str]:
    """What differs between two sets of named tables (columns in `ignore` are skipped)."""
    differ = [f"{key}: only in the first" for key in sorted(set(a) - set(b))]
    differ += [f"{key}: only in the second" for key in sorted(set(b) - set(a))]
    for key in sorted(set(a) & set(b)):
        x = a[key].drop(columns=[c for c in ignore if c in a[key]])
        y = b[key].drop(columns=[c for c in ignore if c in b[key]])
        if list(x.columns) != list(y.columns) or x.shape != y.shape:
            differ.append(f"{key}: columns or shape differ")
        elif not x.equals(y):
            differ.append(f"{key}: values differ")
    return differ


def compare_results(
    first: str | os.PathLike, second: str | os.PathLike, ignore_columns: tuple[str, ...] = ()
) -> list[str]:
    """Every difference between two results trees: store arrays and CSV tables."""
    return array_differences(store_arrays(first), store_arrays(second)) + table_differences(
        csv_tables(first), csv_tables(second), ignore_columns
    )
