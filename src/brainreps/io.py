"""Zarr stores with named dims, provenance and atomic writes; validating readers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainreps import __version__


class StoreError(ValueError):
    """A store is missing, incomplete or does not match the schema of its kind."""


@dataclass(frozen=True)
class VarSpec:
    """What one variable of a store must look like."""

    dims: tuple[tuple[str, ...], ...]
    kinds: str  # numpy dtype kinds allowed, e.g. "f" for floats, "u" for unsigned ints
    required: bool = True


# Per kind of store: variable name -> spec. Grouped kinds (features, projection, similarity
# per layer) validate each group with the same spec; see GROUPED_KINDS.
SCHEMAS: dict[str, dict[str, VarSpec]] = {
    "stimuli": {
        "pixels": VarSpec((("stimulus", "y", "x"), ("stimulus", "y", "x", "channel")), "u"),
    },
    "recording": {
        "dff": VarSpec((("unit", "time"),), "f"),
        "timestamps": VarSpec((("time",),), "f"),
        "trial_stimulus": VarSpec((("trial",),), "iu", required=False),
        "trial_start": VarSpec((("trial",),), "f", required=False),
        "trial_end": VarSpec((("trial",),), "f", required=False),
        "spikes": VarSpec((("unit", "time"),), "fiu", required=False),
    },
    "responses": {
        "trial_responses": VarSpec((("unit", "stimulus", "repeat"),), "f"),
        "mean_response": VarSpec((("unit", "stimulus"),), "f"),
        "split_half_reliability": VarSpec((("unit",),), "f"),
        "noise_ceiling": VarSpec((("unit",),), "f"),
    },
    "features": {
        "activations": VarSpec((("stimulus", "feature"),), "f"),
    },
    "projection": {
        "components": VarSpec((("stimulus", "component"),), "f"),
    },
    "encoding": {
        "r": VarSpec((("unit", "layer"),), "f"),
        "r2": VarSpec((("unit", "layer"),), "f"),
        "alpha": VarSpec((("unit", "layer"),), "f"),
        "normalized_score": VarSpec((("unit", "layer"),), "f"),
    },
    # results/training/{run}/accuracy.zarr: held-out and training-set accuracy per checkpoint
    "training": {
        "test_top1": VarSpec((("checkpoint",),), "f"),
        "test_top5": VarSpec((("checkpoint",),), "f"),
        "test_loss": VarSpec((("checkpoint",),), "f"),
        "train_top1": VarSpec((("checkpoint",),), "f"),
        "train_loss": VarSpec((("checkpoint",),), "f"),
        "class_top1": VarSpec((("checkpoint", "class"),), "f"),
        "noise_top1": VarSpec((("checkpoint", "noise_std"),), "f", required=False),
        "fgsm_top1": VarSpec((("checkpoint", "fgsm_eps"),), "f", required=False),
        "rsa": VarSpec((("checkpoint",),), "f", required=False),
    },
    # results/neural_targets/{model}/{dataset}/{set}.zarr: an encoding model's predicted responses
    "neural_target": {
        "predicted": VarSpec((("stimulus", "unit"),), "f"),
    },
    # results/rdms/{dataset}.zarr: the neural RDMs of a dataset with source rdms, checked and in
    # its stimulus set's order (brainreps.data.rdms); attrs kind, path, stimulus_set
    "rdms": {
        "rdm": VarSpec((("group", "stimulus", "stimulus_b"),), "f"),
        "rdm_reliability": VarSpec((("group",),), "f"),
        "noise_ceiling": VarSpec((("group",),), "f"),
    },
    # results/spikes/rates/{gt}.zarr: one group per method label, each with the inferred
    # rate at the input's frame rate (NaN where the calcium trace is NaN)
    "spikes": {
        "rate": VarSpec((("unit", "time"),), "f"),
    },
    # results/similarity/{model}/{stimuli}.zarr (per layer + layer x layer) and
    # results/similarity/{model}/{dataset}_rsa.zarr (layer x unit group); all optional so
    # that both validate, but each present variable must have these dims/dtypes.
    "similarity": {
        "correlation": VarSpec((("layer", "stimulus", "stimulus_b"),), "f", required=False),
        "pearson": VarSpec((("layer", "layer_b"),), "f", required=False),
        "spearman": VarSpec((("layer", "layer_b"),), "f", required=False),
        "cka": VarSpec((("layer", "layer_b"),), "f", required=False),
        "histogram": VarSpec((("layer", "bin"),), "iu", required=False),
        "fraction_nonzero": VarSpec((("layer",),), "f", required=False),
        "population_sparseness": VarSpec((("layer",),), "f", required=False),
        "lifetime_sparseness": VarSpec((("layer",),), "f", required=False),
        "decorrelation": VarSpec((("layer",),), "f", required=False),
        "twonn": VarSpec((("layer",),), "f", required=False),
        "linear_dimension": VarSpec((("layer",),), "iu", required=False),
        "rsa": VarSpec((("layer", "group"),), "f", required=False),
        "noise_ceiling": VarSpec((("group",),), "f", required=False),
        "neural_correlation": VarSpec((("group", "stimulus", "stimulus_b"),), "f", required=False),
    },
    # scratch of the textures rule (brainreps.similarity.gram): per layer each image's Gram
    # matrix, packed as its upper triangle (attr n_channels)
    "gram": {
        "gram": VarSpec((("stimulus", "entry"),), "f"),
    },
    # results/textures/{model}/{stimuli}.zarr: per layer how well Gram matrices classify the
    # textures, and the best layer's class-mean Gram matrices (brainreps.similarity.textures)
    "textures": {
        "accuracy": VarSpec((("layer",),), "f"),
        "cv_accuracy": VarSpec((("layer",),), "f"),
        "n_channels": VarSpec((("layer",),), "iu"),
        "confusion": VarSpec((("layer", "class", "class_b"),), "iu"),
        "best_gram": VarSpec((("class", "channel", "channel_b"),), "f"),
    },
}

GROUPED_KINDS = {"features", "projection", "gram"}

# Snakemake marks finished directory outputs with this file; zarr warns about any unknown entry.
warnings.filterwarnings("ignore", message=r"Object at \.snakemake_timestamp is not recognized")


def provenance(kind: str, params: Mapping[str, Any] | None, inputs: Sequence[str] | None) -> dict:
    """Attributes recording what made a store: kind, parameters, package version, inputs."""
    return {
        "brainreps_kind": kind,
        "brainreps_version": __version__,
        "params": json.dumps(_jsonable(params or {}), sort_keys=True),
        "inputs": json.dumps([str(p) for p in (inputs or [])]),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it into place only if the block succeeds.

    Works for files and directories (Zarr stores). On error the temporary path is removed
    and whatever was at `path` before is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(final)
    try:
        yield tmp
        if not tmp.exists():
            raise StoreError(f"nothing was written for {final}")
        if final.exists() or final.is_symlink():
            old = _tmp_sibling(final)
            os.rename(final, old)
            os.rename(tmp, final)
            _remove(old)
        else:
            os.rename(tmp, final)
    except BaseException:
        _remove(tmp)
        raise


def default_chunks(ds: xr.Dataset, target_bytes: int = 8 * 2**20) -> dict[str, dict[str, int]]:
    """Chunk each variable on its first (large) axes so a chunk holds about `target_bytes`."""
    encoding: dict[str, dict[str, int]] = {}
    for name, var in ds.data_vars.items():
        if var.ndim == 0:
            continue
        shape = list(var.shape)
        chunks = list(shape)
        itemsize = var.dtype.itemsize
        # shrink the largest axis until the chunk fits
        while int(np.prod(chunks)) * itemsize > target_bytes:
            axis = int(np.argmax(chunks))
            chunks[axis] = max(1, chunks[axis] // 2)
        encoding[name] = {"chunks": tuple(int(c) for c in chunks)}
    return encoding


def _portable_strings(ds: xr.Dataset) -> xr.Dataset:
    """Fixed-width numpy strings have no Zarr v3 spec; store them as variable-length strings."""
    fixed = [name for name, var in ds.variables.items() if var.dtype.kind == "U"]
    return ds.assign_coords({n: ds[n].astype(object) for n in fixed if n in ds.coords}).assign(
        {n: ds[n].astype(object) for n in fixed if n in ds.data_vars}
    )


def _to_zarr(ds: xr.Dataset, path: Path, group: str | None, mode: str) -> None:
    ds = _portable_strings(ds)
    enc = default_chunks(ds)
    # string/object coords must not inherit chunk encodings from a source store
    for name in ds.variables:
        ds[name].encoding.pop("chunks", None)
        ds[name].encoding.pop("preferred_chunks", None)
    ds.to_zarr(path, group=group, mode=mode, zarr_format=3, consolidated=False, encoding=enc)


def write_store(
    data: xr.Dataset | Mapping[str, xr.Dataset],
    path: str | os.PathLike,
    *,
    kind: str,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> Path:
    """Validate and write a Dataset (or named groups of Datasets) as a Zarr v3 store, atomically."""
    groups = {"": data} if isinstance(data, xr.Dataset) else dict(data)
    if not groups:
        raise StoreError(f"{kind} store {path}: nothing to write")
    for name, ds in groups.items():
        validate(ds, kind, where=f"{path}{'/' + name if name else ''}")
    prov = provenance(kind, params, inputs)
    prov.update(attrs or {})
    prov["groups"] = json.dumps([g for g in groups if g])
    with atomic_path(path) as tmp:
        if "" in groups:
            root = groups[""].copy()
            root.attrs = {**root.attrs, **prov}
            _to_zarr(root, tmp, None, "w")
        else:
            xr.Dataset(attrs=prov).to_zarr(tmp, mode="w", zarr_format=3, consolidated=False)
        for name, ds in groups.items():
            if name:
                _to_zarr(ds, tmp, name, "a")
    return Path(path)


def store_attrs(path: str | os.PathLike) -> dict[str, Any]:
    """Root attributes of a store (provenance), with JSON fields decoded."""
    import zarr

    path = Path(path)
    if not path.is_dir():
        raise StoreError(f"no store at {path}")
    attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    for key in ("params", "inputs", "groups"):
        if isinstance(attrs.get(key), str):
            attrs[key] = json.loads(attrs[key])
    return attrs


def read_store(
    path: str | os.PathLike, kind: str, group: str | None = None, load: bool = False
) -> xr.Dataset:
    """Open a store (or one group of it), checking that it is a complete store of `kind`."""
    path = Path(path)
    attrs = store_attrs(path)
    if attrs.get("brainreps_kind") != kind:
        raise StoreError(
            f"{path} is a {attrs.get('brainreps_kind')!r} store, expected a {kind!r} store"
        )
    groups = attrs.get("groups") or []
    if group is not None and group not in groups:
        raise StoreError(f"{path} has no group {group!r}; it has {groups}")
    if group is None and groups:
        raise StoreError(f"{path} holds groups {groups}; name one with group=")
    ds = xr.open_zarr(path, group=group, consolidated=False, zarr_format=3)
    if group is not None:
        ds.attrs = {**attrs, **ds.attrs}
    validate(ds, kind, where=f"{path}{'/' + group if group else ''}")
    return ds.load() if load else ds


def store_groups(path: str | os.PathLike) -> list[str]:
    """Names of the groups in a grouped store, in the order they were written."""
    return list(store_attrs(path).get("groups") or [])


def validate(ds: xr.Dataset, kind: str, where: str = "dataset") -> None:
    """Raise StoreError naming the variable when `ds` does not match the schema of `kind`."""
    if kind not in SCHEMAS:
        raise StoreError(f"unknown store kind {kind!r}; known: {sorted(SCHEMAS)}")
    for name, spec in SCHEMAS[kind].items():
        if name not in ds.variables:
            if spec.required:
                raise StoreError(
                    f"{where}: {kind} store lacks variable {name!r} "
                    f"(has {sorted(map(str, ds.variables))})"
                )
            continue
        var = ds[name]
        if tuple(var.dims) not in spec.dims:
            raise StoreError(
                f"{where}: variable {name!r} has dims {tuple(var.dims)} shape {var.shape}; "
                f"expected one of {list(spec.dims)}"
            )
        if var.dtype.kind not in spec.kinds:
            raise StoreError(
                f"{where}: variable {name!r} has dtype {var.dtype}; expected kind {spec.kinds!r}"
            )
    for dim, size in ds.sizes.items():
        if size == 0:
            raise StoreError(f"{where}: dimension {dim!r} is empty")
