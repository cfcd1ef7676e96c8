"""Gram matrices of feature maps (Gatys et al. 2015), streamed batch by batch into a store.

The Gram matrix of one image at one layer is the channel x channel matrix of spatially
averaged products of its feature maps, G_cd = (1/S) sum_s F_cs F_ds (S spatial positions):
the second-order statistics that texture synthesis matches and that tell textures apart.

`stream_grams` runs images through a network once and computes each chosen layer's Gram
matrices inside its forward hook, so a layer's activations are dropped as soon as its Gram
matrices exist; each batch's matrices go to a grouped `gram` store (one group per layer,
`gram (stimulus, entry)`: the upper triangle, diagonal included, row by row) while the next
batch runs. Memory is one batch of one layer's activations plus one batch of Gram matrices,
whatever the number of images. Layers whose output is not a feature map (N, C, H, W) with
at least `min_positions` positions (a classifier's vector, a 1x1 map) have no texture
statistics and are skipped, with a log line, as are layers above `max_channels` channels.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr

from brainreps import io
from brainreps.device import resolve_device
from brainreps.logs import progress

logger = logging.getLogger(__name__)

PIXELS = "pixels"
CHUNK_BYTES = 8 * 2**20  # target size of one stored chunk


def gram_matrices(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, C) Gram matrices of feature maps (N, C, *spatial): products averaged over positions."""
    if maps.ndim < 3:
        raise ValueError(f"feature maps must be (N, C, H, W); got shape {tuple(maps.shape)}")
    f = maps.flatten(2)
    if not f.is_floating_point() or f.dtype in (torch.float16, torch.bfloat16):
        f = f.float()
    return torch.bmm(f, f.transpose(1, 2)) / f.shape[2]


ROW_BLOCK = 128  # channels per row block of packed_gram: ~(C^2 + 128 C)/2 products, not C^2


def _row_offsets(c: int) -> np.ndarray:
    """Where each row's entries start in a packed C x C matrix (row r holds columns r..C-1)."""
    r = np.arange(c + 1)
    return r * c - r * (r - 1) // 2


def packed_gram(maps: torch.Tensor, row_block: int = ROW_BLOCK) -> torch.Tensor:
    """Packed Gram matrices (N, C(C+1)/2) of feature maps (N, C, *spatial), upper triangle
    row by row: the same numbers as pack(gram_matrices(maps)), computed block row by block
    row so that the lower triangle is (mostly) never computed, and copied row by row."""
    f = maps.flatten(2)
    if not f.is_floating_point() or f.dtype in (torch.float16, torch.bfloat16):
        f = f.float()
    n, c, positions = f.shape
    offsets = _row_offsets(c)
    out = torch.empty(n, int(offsets[-1]), dtype=f.dtype, device=f.device)
    for r0 in range(0, c, row_block):
        r1 = min(c, r0 + row_block)
        block = torch.bmm(f[:, r0:r1], f[:, r0:].transpose(1, 2))  # rows r0..r1, cols r0..C
        for k in range(r1 - r0):
            out[:, int(offsets[r0 + k]) : int(offsets[r0 + k + 1])] = block[:, k, k:]
    return out.div_(positions)


def n_entries(n_channels: int) -> int:
    """Length of a packed Gram matrix (upper triangle with the diagonal)."""
    return n_channels * (n_channels + 1) // 2


def n_channels_of(entries: int) -> int:
    """The number of channels whose packed Gram matrix has `entries` entries."""
    c = int(round((np.sqrt(8 * entries + 1) - 1) / 2))
    if n_entries(c) != entries:
        raise ValueError(f"{entries} entries are no packed Gram matrix")
    return c


def pack(grams: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, C, C) symmetric matrices -> (N, C(C+1)/2): the upper triangle, row by row."""
    g = grams.detach().cpu().numpy() if torch.is_tensor(grams) else np.asarray(grams)
    rows, cols = np.triu_indices(g.shape[-1])
    return g[:, rows, cols]


def unpack(packed: np.ndarray) -> np.ndarray:
    """(N, E) packed Gram matrices -> (N, C, C) symmetric matrices."""
    packed = np.asarray(packed)
    c = n_channels_of(packed.shape[-1])
    rows, cols = np.triu_indices(c)
    out = np.empty((packed.shape[0], c, c), dtype=packed.dtype)
    out[:, rows, cols] = packed
    out[:, cols, rows] = packed
    return out


def has_texture(
    shape: Sequence[int], min_positions: int = 2, max_channels: int | None = None
) -> bool:
    """Whether a per-image activation shape is a feature map (C, H, W) with enough positions
    (and at most `max_channels` channels, when given)."""
    if len(shape) != 3 or int(np.prod(shape[1:])) < max(2, int(min_positions)):
        return False
    return max_channels is None or int(shape[0]) <= int(max_channels)


class GramRecorder:
    """Forward hooks that turn each chosen module's output into packed Gram matrices at once."""

    def __init__(
        self,
        model: torch.nn.Module,
        layers: Sequence[str],
        min_positions: int = 2,
        max_channels: int | None = None,
    ):
        modules = dict(model.named_modules())
        self.min_positions = int(min_positions)
        self.max_channels = max_channels
        self.grams: dict[str, np.ndarray] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.handles = [modules[name].register_forward_hook(self._hook(name)) for name in layers]

    def add(self, name: str, maps: torch.Tensor) -> None:
        """Record the Gram matrices of one batch of feature maps (skipped if not a map)."""
        from brainreps.models import _first_tensor

        if name in self.shapes and name in self.grams:  # a module called twice: keep its first
            return
        t = _first_tensor(maps)
        if t is None:
            raise ValueError(f"layer {name!r} returned no tensor")
        self.shapes[name] = tuple(int(d) for d in t.shape[1:])
        if not has_texture(self.shapes[name], self.min_positions, self.max_channels):
            return
        self.grams[name] = packed_gram(t.detach()).cpu().numpy()

    def _hook(self, name: str) -> Callable:
        def hook(module, args, output):
            self.add(name, output)

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def stream_grams(
    model: torch.nn.Module,
    preprocess: Callable[[np.ndarray], torch.Tensor],
    images: Any,
    layers: Sequence[str],
    out_path: str | os.PathLike,
    *,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    include_pixels: bool = True,
    min_positions: int = 2,
    max_channels: int | None = None,
    stimulus_ids: Sequence[str] | None = None,
    params: dict[str, Any] | None = None,
    inputs: Sequence[str] | None = None,
) -> Path:
    """Each layer's Gram matrices of every image, streamed into a grouped `gram` store.

    Groups (in forward order, `pixels` = the preprocessed input first): the layers whose
    output is a feature map of at least `min_positions` positions (and at most
    `max_channels` channels, when given); each holds `gram (stimulus, entry)` float32 and the attrs
    `n_channels` and `shape` (the per-image activation shape). One batch is in memory at a
    time; the store appears at `out_path` only when complete.
    """
    from brainreps.features import check_images
    from brainreps.models import deterministic_torch, list_layers

    images = check_images(images)
    n = int(images.shape[0])
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive; got {batch_size}")
    order = {name: i for i, name in enumerate(list_layers(model))}
    missing = [name for name in layers if name not in order]
    if missing:
        from brainreps.models import _unknown_layer_message

        raise ValueError(_unknown_layer_message(missing, list(order), model))
    layers = sorted(layers, key=order.__getitem__)
    ids = np.asarray(
        [str(s) for s in (stimulus_ids if stimulus_ids is not None else range(n))], dtype=object
    )
    dev = resolve_device(device)
    model = model.eval().to(dev)
    recorder = GramRecorder(model, layers, min_positions, max_channels)
    writer = ThreadPoolExecutor(max_workers=1)
    store: _GramStore | None = None
    try:
        with io.atomic_path(out_path) as tmp, torch.inference_mode(), deterministic_torch():
            pending = None
            for start in progress(range(0, n, batch_size), "gram", -(-n // batch_size)):
                x = preprocess(np.asarray(images[start : start + batch_size])).to(dev)
                recorder.grams.clear()
                model(x)
                if include_pixels:
                    recorder.add(PIXELS, x)
                if store is None:
                    groups = ([PIXELS] if include_pixels else []) + [
                        g for g in layers if g in recorder.grams
                    ]
                    skipped = [g for g in layers if g not in recorder.grams]
                    if skipped:
                        logger.info(
                            "left out (no feature maps, too few positions or too many "
                            "channels): %s",
                            ", ".join(f"{g} {recorder.shapes.get(g)}" for g in skipped),
                        )
                    if not groups:
                        raise ValueError(f"none of the layers {list(layers)} has feature maps")
                    store = _GramStore(tmp, groups, recorder.shapes, n, batch_size, ids)
                batch = {g: recorder.grams[g] for g in store.groups}
                if pending is not None:
                    pending.result()
                pending = writer.submit(store.write_rows, start, batch)
            if pending is not None:
                pending.result()
            settings = {"layers": list(layers), "batch_size": batch_size}
            left_out = {
                g: list(recorder.shapes.get(g, ())) for g in layers if g not in store.groups
            }
            store.finish(params if params is not None else settings, inputs, left_out)
    finally:
        writer.shutdown(wait=True)
        recorder.remove()
    return Path(out_path)


class _GramStore:
    """The Zarr arrays of a gram store under construction."""

    def __init__(self, path: Path, groups, shapes, n: int, batch_size: int, ids):
        import zarr

        self.path = path
        self.groups = list(groups)
        xr.Dataset().to_zarr(path, mode="w", zarr_format=3, consolidated=False)
        root = zarr.open_group(str(path), mode="r+", zarr_format=3)
        self.arrays = {}
        rows = min(batch_size, n)
        for g in self.groups:
            c = int(shapes[g][0])
            width = n_entries(c)
            xr.Dataset(coords={"stimulus": ids}).to_zarr(
                path, group=g, mode="a", zarr_format=3, consolidated=False
            )
            cols = min(width, max(1, CHUNK_BYTES // (4 * rows)))
            arr = root[g].create_array(
                "gram",
                shape=(n, width),
                chunks=(rows, cols),
                dtype=np.float32,
                dimension_names=("stimulus", "entry"),
                compressors=None,  # Gram matrices compress poorly; zstd would double the time
                fill_value=0,
            )
            arr.attrs["n_channels"] = c
            arr.attrs["shape"] = list(shapes[g])
            self.arrays[g] = arr

    def write_rows(self, start: int, batch) -> None:
        for g in self.groups:
            rows = np.asarray(batch[g], dtype=np.float32)  # no copy when float32 already
            self.arrays[g][start : start + rows.shape[0]] = rows

    def finish(self, params, inputs, left_out) -> None:
        import zarr

        prov = io.provenance("gram", params, inputs)
        prov["groups"] = json.dumps(self.groups)
        prov["left_out"] = json.dumps(left_out)  # layer -> per-image activation shape
        zarr.open_group(str(self.path), mode="r+", zarr_format=3).attrs.update(prov)


def read_grams(path: str | os.PathLike, layer: str) -> np.ndarray:
    """One layer's packed Gram matrices (stimulus, entry) from a gram store."""
    return io.read_store(path, "gram", group=layer)["gram"].values
