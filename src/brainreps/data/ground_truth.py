"""Spike-inference ground truth by config entry: Spikefinder CSVs, CASCADE files, a simulation.

One `spikes.ground_truth` entry (a local path, a downloaded file or archive, or a simulated
recording store) becomes a recording store with `dff` and `spikes`, capped in units and
seconds, so that every spike-inference step downstream reads one format.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainreps.spikes.benchmark import check_frame_rate


def _find(folder: Path, patterns: Iterable[str]) -> list[Path]:
    found: list[Path] = []
    for pattern in patterns:
        found += sorted(p for p in folder.rglob(pattern) if p.is_file())
    return found


def ground_truth_recording(
    entry: Mapping[str, Any], recording: str | None = None, download: str | None = None
) -> xr.Dataset:
    """The recording (with spikes) a `spikes.ground_truth` config entry names, capped."""
    from brainreps.data.cascade import load_cascade
    from brainreps.data.spikefinder import load_spikefinder, spikefinder_paths
    from brainreps.io import read_store

    source = entry["source"]
    with tempfile.TemporaryDirectory() as scratch:
        folder = None
        if download is not None:
            from brainreps.download import ArchiveError, extract_archive

            try:
                folder = extract_archive(download, Path(scratch) / "files")
            except ArchiveError:
                folder = None  # a single file, not an archive
        if source == "simulated":
            if recording is None:
                raise ValueError("a simulated ground-truth entry needs its recording store")
            ds = read_store(recording, "recording", load=True)
            if "spikes" not in ds:
                raise ValueError(f"{recording}: the recording has no ground-truth 'spikes'")
            keep = [v for v in ("dff", "timestamps", "spikes") if v in ds]
            ds = ds[keep]
        elif source == "spikefinder":
            root = folder if folder is not None else Path(entry.get("path", download or ""))
            split, dset = entry.get("split", "train"), str(entry["dataset_id"])
            if download is not None and folder is None:
                raise ValueError(f"{entry.get('url')}: the Spikefinder download is not an archive")
            hits = _find(root, [f"{dset}.{split}.calcium.csv", f"{dset}.{split}.calcium.csv.gz"])
            if not hits:
                raise FileNotFoundError(
                    f"no {dset}.{split}.calcium.csv(.gz) under {entry.get('path') or entry.get('url')}"
                )
            calcium, spikes = spikefinder_paths(hits[0].parent, dset, split)
            if spikes is None:
                raise FileNotFoundError(f"no {dset}.{split}.spikes.csv(.gz) next to {calcium}")
            ds = load_spikefinder(
                calcium, spikes, frame_rate=entry.get("frame_rate", 100.0), dataset_id=dset
            )
        elif source == "cascade" and entry.get("dataset"):
            from brainreps.data.cascade import load_cascade_csv

            if download is not None:
                raise ValueError(
                    f"spikes.ground_truth cascade entry with dataset {entry['dataset']!r}: "
                    "the CSV form is read from a local `path`, not a url"
                )
            ds = load_cascade_csv(
                entry["path"],
                entry["dataset"],
                frame_rate=entry.get("frame_rate"),
                quality=entry.get("quality", ("ok", "weak")),
            )
        elif source == "cascade":
            if folder is not None:
                files = _find(folder, ["*.mat"])
            else:
                target = Path(download if download is not None else entry["path"])
                files = _find(target, ["*.mat"]) if target.is_dir() else [target]
            if not files:
                raise FileNotFoundError(f"no .mat files in {entry.get('path') or entry.get('url')}")
            rate = entry.get("frame_rate")
            ds = load_cascade(files, frame_rate=None if rate == "native" else rate)
        else:
            raise ValueError(f"unknown ground-truth source {source!r}")
    ds = ds.load()
    fs = check_frame_rate(ds, f"ground truth ({source})")
    n_units = entry.get("max_units") or ds.sizes["unit"]
    n_time = ds.sizes["time"]
    if entry.get("max_duration"):
        n_time = min(n_time, int(round(entry["max_duration"] * fs)))
    ds = ds.isel(unit=slice(0, n_units), time=slice(0, n_time))
    ds["dff"] = ds["dff"].astype(np.float32)
    ds["spikes"] = ds["spikes"].astype(np.float32)
    ds.attrs["frame_rate"] = fs
    if entry.get("indicator"):
        ds.attrs["indicator"] = str(entry["indicator"])
    return ds
