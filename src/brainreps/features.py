"""Layer activations of a network, streamed batch by batch into a grouped `features` store."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from brainreps import io
from brainreps.device import resolve_device
from brainreps.logs import progress
from brainreps.models import _first_tensor, deterministic_torch, list_layers

logger = logging.getLogger(__name__)

PIXELS = "pixels"  # group of the preprocessed network input
OUTPUT = "output"  # group of the network's final output
DTYPES = {"float32": (np.float32, torch.float32), "float16": (np.float16, torch.float16)}
CHUNK_BYTES = 8 * 2**20  # target size of one stored chunk (batch rows x feature columns)
FEATURE_CHUNK_MULTIPLE = 8192  # = projection.ROW_BLOCK, so projection reads whole chunks


def check_images(images: Any) -> Any:
    """Images as an array-like (N, H, W) or (N, H, W, C); a clear error for ragged input."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError("no images given")
        shapes = [np.shape(im) for im in images]
        first = shapes[0]
        bad = [i for i, s in enumerate(shapes) if s != first]
        if bad:
            raise ValueError(
                f"images of inconsistent size: image 0 has shape {first}, image {bad[0]} has "
                f"shape {shapes[bad[0]]} ({len(bad)} of {len(shapes)} differ); resize or crop "
                "them to one size first"
            )
        images = np.stack([np.asarray(im) for im in images])
    if not hasattr(images, "shape") or not hasattr(images, "__getitem__"):
        raise ValueError(f"images must be an array (N, H, W[, C]); got {type(images).__name__}")
    if getattr(getattr(images, "dtype", None), "kind", None) == "O":
        return check_images(list(images))
    shape = tuple(images.shape)
    if len(shape) not in (3, 4):
        raise ValueError(f"images must have shape (N, H, W) or (N, H, W, C); got {shape}")
    if len(shape) == 4 and shape[-1] not in (1, 3, 4):
        raise ValueError(f"images must have 1, 3 or 4 channels on the last axis; got {shape}")
    if shape[0] == 0:
        raise ValueError("no images given (first axis has length 0)")
    return images


def _feature_chunk(n_features: int, batch_size: int, itemsize: int) -> int:
    """Feature columns per stored chunk: ~CHUNK_BYTES, a multiple of 8192, or all of them."""
    per = CHUNK_BYTES // (itemsize * max(1, batch_size))
    per = max(FEATURE_CHUNK_MULTIPLE, (per // FEATURE_CHUNK_MULTIPLE) * FEATURE_CHUNK_MULTIPLE)
    return min(n_features, per)


class _Recorder:
    """Forward hooks keeping a copy of each chosen module's output of the current batch."""

    def __init__(self, model: torch.nn.Module, layers: Sequence[str], dtype: torch.dtype):
        modules = dict(model.named_modules())
        self.dtype = dtype
        self.outputs: dict[str, torch.Tensor] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}  # per-stimulus shape before flattening
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def _hook(self, name: str) -> Callable:
        def hook(module, args, output):
            if name in self.outputs:  # a module called twice: keep its first call
                return
            t = _first_tensor(output)
            if t is None:
                raise ValueError(f"layer {name!r} returned no tensor ({type(output).__name__})")
            # copy now: a later in-place op (e.g. ReLU(inplace=True)) would change it
            self.shapes[name] = tuple(int(d) for d in t.shape[1:])
            self.outputs[name] = t.detach().flatten(1).to(self.dtype, copy=True)

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def extract_features(
    model: torch.nn.Module,
    preprocess: Callable[[np.ndarray], torch.Tensor],
    images: np.ndarray,
    layers: Sequence[str],
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    dtype: str = "float32",
    device: str | torch.device | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
    include_pixels: bool = True,
    include_output: bool = True,
    stimulus_ids: Sequence[str] | None = None,
    compress: bool = False,
) -> Path:
    """Run `images` through `model` and stream each layer's flattened activations to a store.

    Groups, in forward order: `pixels` (the preprocessed input), the chosen `layers`, `output`
    (the final output); each holds `activations (stimulus, feature)` of `dtype`, chunked
    (batch_size, ~8 MB of features). Only one batch of activations is held in memory; the
    store appears at `out_path` only when complete.
    """
    images = check_images(images)
    n = int(images.shape[0])
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}; got {dtype!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    np_dtype, torch_dtype = DTYPES[dtype]
    layers = list(layers)
    order = {name: i for i, name in enumerate(list_layers(model))}
    missing = [name for name in layers if name not in order]
    if missing:
        from brainreps.models import _unknown_layer_message

        raise ValueError(_unknown_layer_message(missing, list(order), model))
    layers.sort(key=order.__getitem__)
    for reserved in (PIXELS, OUTPUT):
        if reserved in layers:
            raise ValueError(f"a layer named {reserved!r} clashes with the {reserved} group")
    groups = ([PIXELS] if include_pixels else []) + layers + ([OUTPUT] if include_output else [])
    if not groups:
        raise ValueError("nothing to extract: no layers, no pixels, no output")
    if stimulus_ids is None:
        stimulus_ids = [str(i) for i in range(n)]
    stimulus_ids = np.asarray([str(s) for s in stimulus_ids], dtype=object)
    if stimulus_ids.shape != (n,):
        raise ValueError(f"{len(stimulus_ids)} stimulus ids for {n} images")
    dev = resolve_device(device)
    model = model.eval().to(dev)
    settings = {
        "layers": layers,
        "batch_size": batch_size,
        "dtype": dtype,
        "include_pixels": include_pixels,
        "include_output": include_output,
        "preprocess": getattr(preprocess, "as_dict", lambda: repr(preprocess))(),
    }
    recorder = _Recorder(model, layers, torch_dtype)
    writer = ThreadPoolExecutor(max_workers=1)
    try:
        with io.atomic_path(out_path) as tmp, torch.inference_mode(), deterministic_torch():
            store: _Store | None = None
            pending = None
            for start in progress(range(0, n, batch_size), "features", -(-n // batch_size)):
                batch = np.asarray(images[start : start + batch_size])
                x = preprocess(batch).to(dev)
                recorder.outputs.clear()
                out = model(x)
                acts: dict[str, torch.Tensor] = {}
                if include_pixels:
                    acts[PIXELS] = x.flatten(1).to(torch_dtype)
                    recorder.shapes[PIXELS] = tuple(int(d) for d in x.shape[1:])
                for name in layers:
                    if name not in recorder.outputs:
                        raise ValueError(f"layer {name!r} was not called in the forward pass")
                    acts[name] = recorder.outputs[name]
                if include_output:
                    t = _first_tensor(out)
                    if t is None:
                        raise ValueError(f"model output holds no tensor ({type(out).__name__})")
                    acts[OUTPUT] = t.flatten(1).to(torch_dtype)
                    recorder.shapes[OUTPUT] = tuple(int(d) for d in t.shape[1:])
                host = {g: acts[g].cpu().numpy() for g in groups}
                if store is None:
                    widths = {g: host[g].shape[1] for g in groups}
                    store = _Store(
                        tmp, groups, widths, n, batch_size, np_dtype, stimulus_ids, compress
                    )
                    for g in groups:
                        store.arrays[g].attrs["shape"] = list(recorder.shapes[g])
                if pending is not None:
                    pending.result()
                pending = writer.submit(store.write_rows, start, host)
            if pending is not None:
                pending.result()
            store.finish(params if params is not None else settings, inputs, settings)
    finally:
        writer.shutdown(wait=True)
        recorder.remove()
    return Path(out_path)


class _Store:
    """The Zarr arrays of a features store under construction."""

    def __init__(self, path: Path, groups, widths, n, batch_size, np_dtype, ids, compress):
        import zarr
        from zarr.codecs import ZstdCodec

        self.path = path
        self.groups = list(groups)
        self.widths = dict(widths)
        itemsize = np.dtype(np_dtype).itemsize
        xr.Dataset().to_zarr(path, mode="w", zarr_format=3, consolidated=False)
        root = zarr.open_group(str(path), mode="r+", zarr_format=3)
        self.arrays = {}
        for g in self.groups:
            xr.Dataset(coords={"stimulus": ids}).to_zarr(
                path, group=g, mode="a", zarr_format=3, consolidated=False
            )
            width = self.widths[g]
            self.arrays[g] = root[g].create_array(
                "activations",
                shape=(n, width),
                chunks=(min(batch_size, n), _feature_chunk(width, batch_size, itemsize)),
                dtype=np_dtype,
                dimension_names=("stimulus", "feature"),
                compressors=ZstdCodec(level=1) if compress else None,
                fill_value=0,
            )
            self.arrays[g].attrs["n_features"] = int(width)

    def write_rows(self, start: int, host: Mapping[str, np.ndarray]) -> None:
        for g in self.groups:
            rows = host[g]
            self.arrays[g][start : start + rows.shape[0]] = rows

    def finish(self, params, inputs, settings) -> None:
        import zarr

        prov = io.provenance("features", params, inputs)
        prov["groups"] = json.dumps(self.groups)
        prov["layers"] = json.dumps(self.groups)
        prov["n_features"] = json.dumps({g: int(self.widths[g]) for g in self.groups})
        prov["extraction"] = json.dumps(io._jsonable(settings), sort_keys=True)
        root = zarr.open_group(str(self.path), mode="r+", zarr_format=3)
        root.attrs.update(prov)


def layer_names(path: str | os.PathLike) -> list[str]:
    """The groups of a features store in forward order (pixels, layers..., output)."""
    return io.store_groups(path)


def n_features(path: str | os.PathLike, layer: str) -> int:
    """Number of features of one layer of a features store."""
    import zarr

    return int(zarr.open_group(str(path), mode="r")[layer]["activations"].shape[1])


def iter_layer_blocks(
    path: str | os.PathLike, layer: str, columns: int | None = None
) -> Iterator[np.ndarray]:
    """Column blocks (stimulus, <=columns features) of one layer's activations, in order.

    Default block width: the store's feature chunk, so each block reads whole chunks.
    """
    import zarr

    if layer not in io.store_groups(path):
        raise ValueError(f"{path} has no layer {layer!r}; it has {io.store_groups(path)}")
    arr = zarr.open_group(str(path), mode="r")[layer]["activations"]
    width = columns or arr.chunks[1]
    for i in range(0, arr.shape[1], width):
        yield np.asarray(arr[:, i : i + width])


def open_images(path: str | os.PathLike) -> tuple[Any, list[str]]:
    """Images and stimulus ids from a stimuli store (.zarr, read lazily) or a .npy array."""
    path = Path(path)
    if path.suffix == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"no image file {path}")
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        return check_images(images), [str(i) for i in range(images.shape[0])]
    ds = io.read_store(path, "stimuli")
    return check_images(ds["pixels"]), [str(s) for s in ds["stimulus"].values]


def extract_model_features(
    stimuli_path: str | os.PathLike,
    out_path: str | os.PathLike,
    spec: Mapping[str, Any],
    *,
    device: str | None = None,
    compress: bool = False,
    params: Mapping[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
) -> Path:
    """The features store of one model config entry (arch, weights, layers, ...) on a stimulus set.

    Settings the entry leaves out take the schema's defaults (models.<name> in the config).
    """
    from brainreps.config import fill_defaults
    from brainreps.models import model_from_spec, spec_layers

    spec = fill_defaults("models#model", spec, "model")
    model, preprocess = model_from_spec(spec)
    layers = spec_layers(model, spec)
    images, ids = open_images(stimuli_path)
    logger.info(
        "%s (%s weights) on %d images: layers %s",
        spec["arch"],
        spec["weights"],
        images.shape[0],
        layers,
    )
    return extract_features(
        model,
        preprocess,
        images,
        layers,
        out_path,
        batch_size=int(spec["batch_size"]),
        dtype=spec["dtype"],
        device=device,
        params=params if params is not None else dict(spec),
        inputs=inputs if inputs is not None else [str(stimuli_path)],
        include_pixels=bool(spec["include_pixels"]),
        include_output=bool(spec["include_output"]),
        stimulus_ids=ids,
        compress=compress,
    )
