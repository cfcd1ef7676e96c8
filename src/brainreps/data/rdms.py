"""Neural RDMs supplied as files: named stimulus x stimulus matrices with their metadata.

A lab that holds its recordings as representational (dis)similarity matrices, one per brain
area, layer or Cre line, brings them to the pipeline as a dataset with `source: rdms`. Two
layouts are read, both without unpickling anything (`numpy.load(..., allow_pickle=False)`; an
array of Python objects is refused, naming the file and the entry):

**The brainreps RDM file** (`.npz`, written by `write_rdm_file` and `brainreps neural-rdms`):

| array | shape | content |
| --- | --- | --- |
| `rdms` | (G, N, N) float | one symmetric matrix per group, rows/columns in `stimulus` order |
| `group` | (G,) str | a unique name per matrix, e.g. `VISp_layer23` |
| `stimulus` | (N,) str | the stimulus ids, as in the stimulus set the dataset names |
| `kind` | () str | `similarity` (e.g. Pearson r) or `dissimilarity` (e.g. 1 - r) |
| `stimulus_set` | () str, optional | the name of the stimulus set the matrices are over |
| `area`, `layer`, `cre_line` | (G,) str, optional | metadata of each matrix (`""` = unknown) |
| `depth` | (G,) float, optional | imaging depth in µm (NaN = unknown) |
| `n_units` | (G,) int, optional | cells behind each matrix (-1 = unknown) |
| `reliability` | (G,) float, optional | Spearman-Brown corrected split-half reliability of each matrix |
| `noise_ceiling` | (G,) float, optional | the ceiling itself (instead of `reliability`) |

**The Allen layout** of `../shared/data/allen_rdms` (DeepMouseTrap's RDMs): a folder with
`similarity.npz` (one Pearson correlation matrix per key `{area}_{layer}`, 119 x 119: scenes
0-117 in template order, then the blank), `sites.csv` (key, area, layer) and optionally
`noise_ceiling.csv` (area, layer, mean = the split-half reliability, sem). Its stimulus ids
are the scene indices `"0"` ... `"117"` and `"blank"`: the ids a `source: npy` stimulus set
gives the rows of `scenes_31x31.npy` with `blank: last`.

Either loads into one xarray Dataset (`load_rdms`): `rdm` (group, stimulus, stimulus_b),
`rdm_reliability` and `noise_ceiling` (group; NaN where not given), coords `area`, `layer`,
`cre_line`, `depth`, `n_units` per group, and attrs `kind`, `stimulus_set`, `path`, `format`.

Decisions:
- the noise ceiling of a matrix whose file gives its reliability is sqrt(reliability), as for
  the RDMs the pipeline computes from responses (`brainreps.similarity.rsa`): the highest
  correlation a model RDM can reach with a matrix of that reliability. DeepMouseTrap's file
  gives the Spearman-Brown corrected split-half reliability of each site's matrix, so its
  ceilings are sqrt(mean); a file may instead give `noise_ceiling` itself.
- a matrix is symmetric when |M - M^T| <= 1e-6 max|M| (float32 round-off passes); the
  diagonal is not checked (a similarity's diagonal need not be 1).
- stimulus ids must match the stimulus set's exactly (as a set; the order is taken from the
  stimulus set); ids to leave out (the blank, when the images have none) are named by the
  dataset's `exclude_stimuli`, never dropped silently.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

KINDS = ("similarity", "dissimilarity")
FORMAT_FILE = "brainreps-rdms"  # the .npz format above
FORMAT_ALLEN = "allen-deepmousetrap"  # the folder layout of ../shared/data/allen_rdms
ALLEN_FILES = ("similarity.npz", "sites.csv")
ALLEN_N_SCENES = 118
BLANK = "blank"  # stimulus id of the blank (grey) presentation
SYMMETRY_TOLERANCE = 1e-6  # relative to max |M|
METADATA = ("area", "layer", "cre_line")


class RDMFileError(ValueError):
    """An RDM file cannot be used; the message names the file and the offending entry."""


def allen_stimulus_ids() -> list[str]:
    """The Allen layout's row order: scenes "0" ... "117", then "blank"."""
    return [str(i) for i in range(ALLEN_N_SCENES)] + [BLANK]


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, read without unpickling; object arrays refused by name."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise RDMFileError(f"{path}: not a readable .npz file ({exc})") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise RDMFileError(f"{path}: holds one array, not an .npz archive of named arrays")
    out = {}
    with archive:
        for key in archive.files:
            try:
                out[key] = archive[key]
            except ValueError as exc:  # "Object arrays cannot be loaded when allow_pickle=False"
                raise RDMFileError(
                    f"{path}: entry {key!r} holds Python objects, which brainreps never "
                    f"unpickles; store numbers and strings as plain arrays ({exc})"
                ) from exc
    return out


def check_matrix(matrix: np.ndarray, where: str, n_stimuli: int | None = None) -> np.ndarray:
    """`matrix` as float64 after checking it is square, of `n_stimuli`, finite and symmetric."""
    m = np.asarray(matrix)
    if m.dtype.kind not in "fiu":
        raise RDMFileError(f"{where}: dtype {m.dtype} is not numeric")
    m = m.astype(np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise RDMFileError(f"{where}: shape {m.shape} is not a square stimulus x stimulus matrix")
    if n_stimuli is not None and m.shape[0] != n_stimuli:
        raise RDMFileError(
            f"{where}: {m.shape[0]} x {m.shape[1]} matrix, but there are {n_stimuli} stimuli"
        )
    bad = ~np.isfinite(m)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise RDMFileError(
            f"{where}: {int(bad.sum())} NaN or infinite entries (first at row {i}, column {j})"
        )
    scale = float(np.abs(m).max()) or 1.0
    asym = np.abs(m - m.T)
    if asym.max() > SYMMETRY_TOLERANCE * scale:
        i, j = np.unravel_index(int(np.argmax(asym)), asym.shape)
        raise RDMFileError(
            f"{where}: not symmetric (entry [{i}, {j}] = {m[i, j]:.6g} but [{j}, {i}] = "
            f"{m[j, i]:.6g})"
        )
    return m


def _strings(values: np.ndarray, where: str, n: int | None = None) -> list[str]:
    arr = np.asarray(values)
    if arr.dtype.kind not in "US":
        raise RDMFileError(f"{where}: dtype {arr.dtype} is not a string array")
    if arr.ndim != 1 or (n is not None and arr.size != n):
        expected = f" of length {n}" if n is not None else ""
        raise RDMFileError(f"{where}: shape {arr.shape}, expected a 1-D array{expected}")
    return [v.decode() if isinstance(v, bytes) else str(v) for v in arr.tolist()]


def _scalar_string(values: np.ndarray, where: str) -> str:
    arr = np.asarray(values)
    if arr.dtype.kind not in "US" or arr.size != 1:
        raise RDMFileError(f"{where}: expected one string, got {arr.dtype} of shape {arr.shape}")
    value = arr.reshape(()).item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _unique(names: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name == "":
            raise RDMFileError(f"{where}: an empty name")
        if name in seen:
            raise RDMFileError(f"{where}: {name!r} appears more than once")
        seen.add(name)


def _numbers(values: np.ndarray, where: str, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu" or arr.shape != (n,):
        raise RDMFileError(f"{where}: expected {n} numbers, got {arr.dtype} of shape {arr.shape}")
    return arr.astype(np.float64)


def rdm_dataset(
    matrices: np.ndarray,
    groups: Sequence[str],
    stimuli: Sequence[str],
    kind: str,
    *,
    metadata: Mapping[str, Sequence[Any]] | None = None,
    reliability: np.ndarray | None = None,
    noise_ceiling: np.ndarray | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """The RDM Dataset from checked parts: ceilings from reliabilities when not given."""
    g = len(groups)
    rel = np.full(g, np.nan) if reliability is None else np.asarray(reliability, np.float64)
    if noise_ceiling is None:
        with np.errstate(invalid="ignore"):
            ceiling = np.where(rel > 0, np.sqrt(np.clip(rel, 0, None)), np.nan)
    else:
        ceiling = np.asarray(noise_ceiling, np.float64)
    meta = dict(metadata or {})
    coords: dict[str, Any] = {
        "group": list(groups),
        "stimulus": list(stimuli),
        "stimulus_b": list(stimuli),
    }
    for name in METADATA:
        coords[name] = ("group", [str(v) for v in meta.get(name, [""] * g)])
    coords["depth"] = ("group", np.asarray(meta.get("depth", np.full(g, np.nan)), np.float64))
    coords["n_units"] = ("group", np.asarray(meta.get("n_units", np.full(g, -1)), np.int64))
    ds = xr.Dataset(
        {
            "rdm": (("group", "stimulus", "stimulus_b"), np.asarray(matrices, np.float64)),
            "rdm_reliability": (("group",), rel),
            "noise_ceiling": (("group",), ceiling),
        },
        coords=coords,
        attrs={"kind": kind, **dict(attrs or {})},
    )
    ds["rdm"].attrs["description"] = f"stimulus x stimulus {kind} matrix of each group"
    ds["rdm_reliability"].attrs["description"] = (
        "Spearman-Brown corrected split-half reliability of the matrix (NaN: not given)"
    )
    ds["noise_ceiling"].attrs["description"] = (
        "highest correlation a model RDM can reach with this matrix: sqrt(reliability), or as "
        "given (NaN: unknown)"
    )
    return ds


def _from_file(path: Path) -> xr.Dataset:
    arrays = _load_npz(path)
    missing = [k for k in ("rdms", "group", "stimulus", "kind") if k not in arrays]
    if missing:
        raise RDMFileError(
            f"{path}: lacks {missing} (has {sorted(arrays)}); see brainreps.data.rdms for the "
            "format"
        )
    known = {"rdms", "group", "stimulus", "kind", "stimulus_set", "depth", "n_units"}
    known |= {"reliability", "noise_ceiling", *METADATA}
    unknown = sorted(set(arrays) - known)
    if unknown:
        raise RDMFileError(f"{path}: unknown entries {unknown} (known: {sorted(known)})")
    kind = _scalar_string(arrays["kind"], f"{path}: entry 'kind'")
    if kind not in KINDS:
        raise RDMFileError(f"{path}: entry 'kind' is {kind!r}; expected one of {KINDS}")
    stimuli = _strings(arrays["stimulus"], f"{path}: entry 'stimulus'")
    _unique(stimuli, f"{path}: entry 'stimulus'")
    rdms = np.asarray(arrays["rdms"])
    if rdms.ndim != 3:
        raise RDMFileError(
            f"{path}: entry 'rdms' has shape {rdms.shape}; expected (groups, stimuli, stimuli)"
        )
    groups = _strings(arrays["group"], f"{path}: entry 'group'", rdms.shape[0])
    _unique(groups, f"{path}: entry 'group'")
    matrices = np.stack(
        [
            check_matrix(rdms[i], f"{path}: entry 'rdms', group {name!r}", len(stimuli))
            for i, name in enumerate(groups)
        ]
    )
    g = len(groups)
    meta: dict[str, Any] = {
        name: _strings(arrays[name], f"{path}: entry {name!r}", g)
        for name in METADATA
        if name in arrays
    }
    if "depth" in arrays:
        meta["depth"] = _numbers(arrays["depth"], f"{path}: entry 'depth'", g)
    if "n_units" in arrays:
        meta["n_units"] = _numbers(arrays["n_units"], f"{path}: entry 'n_units'", g)
    if "reliability" in arrays and "noise_ceiling" in arrays:
        raise RDMFileError(f"{path}: give 'reliability' or 'noise_ceiling', not both")
    reliability = ceiling = None
    if "reliability" in arrays:
        reliability = _numbers(arrays["reliability"], f"{path}: entry 'reliability'", g)
        _check_range(reliability, -1.0, 1.0, f"{path}: entry 'reliability'", groups)
    if "noise_ceiling" in arrays:
        ceiling = _numbers(arrays["noise_ceiling"], f"{path}: entry 'noise_ceiling'", g)
        _check_range(ceiling, 0.0, 1.0, f"{path}: entry 'noise_ceiling'", groups)
    stimulus_set = (
        _scalar_string(arrays["stimulus_set"], f"{path}: entry 'stimulus_set'")
        if "stimulus_set" in arrays
        else ""
    )
    return rdm_dataset(
        matrices,
        groups,
        stimuli,
        kind,
        metadata=meta,
        reliability=reliability,
        noise_ceiling=ceiling,
        attrs={"stimulus_set": stimulus_set, "path": str(path), "format": FORMAT_FILE},
    )


def _check_range(values: np.ndarray, low: float, high: float, where: str, groups) -> None:
    """NaN (unknown) is allowed; anything else must lie in [low, high]."""
    bad = np.isfinite(values) & ((values < low) | (values > high)) | np.isinf(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RDMFileError(
            f"{where}: {values[i]:g} for group {groups[i]!r} is outside [{low:g}, {high:g}]"
        )


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise RDMFileError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise RDMFileError(f"{path}: lacks columns {missing} (has {list(table.columns)})")
    return table


def _from_allen_folder(folder: Path) -> xr.Dataset:
    arrays = _load_npz(folder / "similarity.npz")
    sites = _read_csv(folder / "sites.csv", ("key", "area", "layer"))
    keys = list(sites["key"])
    _unique(keys, f"{folder / 'sites.csv'}: column 'key'")
    absent = [k for k in keys if k not in arrays]
    if absent:
        raise RDMFileError(
            f"{folder / 'similarity.npz'}: no matrix for sites {absent} listed in sites.csv"
        )
    unlisted = sorted(set(arrays) - set(keys))
    if unlisted:
        raise RDMFileError(
            f"{folder / 'similarity.npz'}: matrices {unlisted} are not listed in sites.csv"
        )
    stimuli = allen_stimulus_ids()
    matrices = np.stack(
        [
            check_matrix(arrays[k], f"{folder / 'similarity.npz'}: entry {k!r}", len(stimuli))
            for k in keys
        ]
    )
    reliability = np.full(len(keys), np.nan)
    ceiling_file = folder / "noise_ceiling.csv"
    if ceiling_file.is_file():
        table = _read_csv(ceiling_file, ("area", "layer", "mean"))
        by_site = {
            (a, layer): value
            for a, layer, value in zip(table["area"], table["layer"], table["mean"], strict=True)
        }
        for i, (area, layer) in enumerate(zip(sites["area"], sites["layer"], strict=True)):
            if (area, layer) in by_site:
                try:
                    reliability[i] = float(by_site[(area, layer)])
                except ValueError as exc:
                    raise RDMFileError(
                        f"{ceiling_file}: 'mean' of {area} {layer} is not a number"
                    ) from exc
        _check_range(reliability, -1.0, 1.0, f"{ceiling_file}: column 'mean'", keys)
    return rdm_dataset(
        matrices,
        keys,
        stimuli,
        "similarity",
        metadata={"area": list(sites["area"]), "layer": list(sites["layer"])},
        reliability=reliability,
        attrs={
            "stimulus_set": "allen_natural_scenes_118_and_blank",
            "path": str(folder),
            "format": FORMAT_ALLEN,
        },
    )


def rdm_format(path: str | os.PathLike) -> str:
    """Which layout `path` is: FORMAT_FILE (an .npz file) or FORMAT_ALLEN (a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        missing = [name for name in ALLEN_FILES if not (p / name).is_file()]
        if missing:
            raise RDMFileError(
                f"{p}: a folder of RDMs must hold {' and '.join(ALLEN_FILES)} (the Allen "
                f"layout); {', '.join(missing)} missing"
            )
        return FORMAT_ALLEN
    if not p.exists():
        raise RDMFileError(f"RDM file {p} does not exist")
    return FORMAT_FILE


def load_rdms(path: str | os.PathLike) -> xr.Dataset:
    """Read and check an RDM file or Allen folder (see the module docstring)."""
    p = Path(path).expanduser()
    return _from_allen_folder(p) if rdm_format(p) == FORMAT_ALLEN else _from_file(p)


def align_to_stimuli(
    rdms: xr.Dataset,
    stimulus_ids: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    where: str = "RDM file",
    stimulus_set: str = "the stimulus set",
) -> xr.Dataset:
    """The matrices reordered to the stimulus set's order, after leaving out `exclude`.

    Raises RDMFileError naming what is missing on either side when the ids differ.
    """
    ids = [str(s) for s in rdms["stimulus"].values]
    unknown = [s for s in exclude if s not in ids]
    if unknown:
        raise RDMFileError(f"{where}: exclude_stimuli names {unknown}, which it does not have")
    keep = [s for s in ids if s not in set(exclude)]
    wanted = [str(s) for s in stimulus_ids]
    extra = [s for s in keep if s not in set(wanted)]
    absent = [s for s in wanted if s not in set(keep)]
    if extra or absent:
        parts = []
        if extra:
            parts.append(
                f"{len(extra)} of its stimulus ids are not in {stimulus_set} (e.g. {extra[:3]})"
            )
        if absent:
            parts.append(
                f"{len(absent)} stimuli of {stimulus_set} are not in it (e.g. {absent[:3]})"
            )
        hint = (
            f"; leave the blank out with exclude_stimuli: [{BLANK}] or add it to the images "
            "with blank: last"
            if BLANK in extra or BLANK in absent
            else ""
        )
        raise RDMFileError(
            f"{where}: stimulus ids do not match {stimulus_set}: " + "; ".join(parts) + hint
        )
    return rdms.sel(stimulus=wanted, stimulus_b=wanted)


def as_similarity(rdms: xr.Dataset) -> np.ndarray:
    """(group, stimulus, stimulus) similarities: the matrices, or 1 - d for dissimilarities.

    Spearman RSA depends only on ranks, so 1 - d gives the same RSA as any decreasing map of
    d (and is exactly r for a correlation distance d = 1 - r).
    """
    m = np.asarray(rdms["rdm"].values, np.float64)
    return 1.0 - m if rdms.attrs.get("kind") == "dissimilarity" else m


def write_rdm_file(rdms: xr.Dataset, path: str | os.PathLike, dtype: str = "float64") -> Path:
    """Write an RDM Dataset in the brainreps RDM file format (.npz), atomically."""
    from brainreps.io import atomic_path

    kind = rdms.attrs.get("kind")
    if kind not in KINDS:
        raise RDMFileError(f"{path}: the RDMs' kind attribute is {kind!r}; expected one of {KINDS}")
    arrays: dict[str, np.ndarray] = {
        "rdms": np.asarray(rdms["rdm"].transpose("group", "stimulus", "stimulus_b").values, dtype),
        "group": np.asarray([str(g) for g in rdms["group"].values], dtype=str),
        "stimulus": np.asarray([str(s) for s in rdms["stimulus"].values], dtype=str),
        "kind": np.asarray(kind, dtype=str),
    }
    if rdms.attrs.get("stimulus_set"):
        arrays["stimulus_set"] = np.asarray(str(rdms.attrs["stimulus_set"]), dtype=str)
    for name in METADATA:
        if name in rdms.coords:
            arrays[name] = np.asarray([str(v) for v in rdms[name].values], dtype=str)
    if "depth" in rdms.coords:
        arrays["depth"] = np.asarray(rdms["depth"].values, np.float64)
    if "n_units" in rdms.coords:
        arrays["n_units"] = np.asarray(rdms["n_units"].values, np.int64)
    rel = rdms["rdm_reliability"].values if "rdm_reliability" in rdms else None
    if rel is not None and np.isfinite(rel).any():
        arrays["reliability"] = np.asarray(rel, np.float64)
    elif "noise_ceiling" in rdms:
        arrays["noise_ceiling"] = np.asarray(rdms["noise_ceiling"].values, np.float64)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return Path(path)
