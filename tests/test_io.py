"""brainreps.io: Zarr v3 stores with named dims, provenance, atomic writes, validating reader."""

import json

import numpy as np
import pytest
import xarray as xr
import zarr

from brainreps import __version__
from brainreps.io import (
    StoreError,
    atomic_path,
    read_store,
    store_attrs,
    store_groups,
    validate,
    write_store,
)


def stimuli(n=5, size=8):
    rng = np.random.default_rng(0)
    return xr.Dataset(
        {"pixels": (("stimulus", "y", "x"), rng.integers(0, 255, (n, size, size), dtype=np.uint8))},
        coords={"stimulus": [f"s{i}" for i in range(n)], "label": ("stimulus", ["a"] * n)},
    )


def test_round_trip_keeps_values_dims_and_provenance(tmp_path):
    ds = stimuli()
    path = write_store(
        ds, tmp_path / "s.zarr", kind="stimuli", params={"n": 5, "w": (1, 2)}, inputs=["a.zarr"]
    )
    back = read_store(path, "stimuli", load=True)
    np.testing.assert_array_equal(back["pixels"].values, ds["pixels"].values)
    assert back["pixels"].dims == ("stimulus", "y", "x")
    assert list(back["stimulus"].values) == list(ds["stimulus"].values)
    attrs = store_attrs(path)
    assert attrs["params"] == {"n": 5, "w": [1, 2]}
    assert attrs["inputs"] == ["a.zarr"]
    assert attrs["brainreps_version"] == __version__
    assert zarr.open_group(str(path), mode="r").metadata.zarr_format == 3


def test_large_arrays_are_chunked_on_the_large_axis(tmp_path):
    ds = xr.Dataset(
        {
            "dff": (("unit", "time"), np.zeros((64, 200_000), np.float32)),
            "timestamps": (("time",), np.arange(200_000, dtype=np.float64)),
        }
    )
    path = write_store(ds, tmp_path / "r.zarr", kind="recording")
    chunks = zarr.open_group(str(path), mode="r")["dff"].chunks
    assert chunks[0] * chunks[1] * 4 <= 8 * 2**20
    assert chunks[1] < 200_000


def test_failed_write_leaves_previous_store_untouched(tmp_path):
    path = tmp_path / "s.zarr"
    write_store(stimuli(3), path, kind="stimuli")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.mkdir()
            (tmp / "partial").write_text("x")
            raise RuntimeError("killed")
    assert read_store(path, "stimuli").sizes["stimulus"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]


def test_invalid_dataset_is_not_written(tmp_path):
    bad = xr.Dataset({"pixels": (("stimulus", "y", "x"), np.zeros((2, 3, 3), np.float32))})
    with pytest.raises(StoreError, match="'pixels' has dtype float32"):
        write_store(bad, tmp_path / "s.zarr", kind="stimuli")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "ds, message",
    [
        (
            xr.Dataset({"pixels": (("y", "stimulus", "x"), np.zeros((2, 3, 3), np.uint8))}),
            r"dims \('y', 'stimulus', 'x'\)",
        ),
        (
            xr.Dataset({"image": (("stimulus", "y", "x"), np.zeros((2, 3, 3), np.uint8))}),
            "lacks variable 'pixels'",
        ),
        (
            xr.Dataset({"pixels": (("stimulus", "y", "x"), np.zeros((0, 3, 3), np.uint8))}),
            "dimension 'stimulus' is empty",
        ),
    ],
)
def test_validate_names_the_problem(ds, message):
    with pytest.raises(StoreError, match=message):
        validate(ds, "stimuli")


def test_reader_rejects_wrong_kind_and_missing_store(tmp_path):
    path = write_store(stimuli(), tmp_path / "s.zarr", kind="stimuli")
    with pytest.raises(StoreError, match="is a 'stimuli' store, expected a 'recording' store"):
        read_store(path, "recording")
    with pytest.raises(StoreError, match="no store at"):
        read_store(tmp_path / "missing.zarr", "stimuli")


def test_reader_rejects_store_edited_to_wrong_shape(tmp_path):
    path = write_store(stimuli(), tmp_path / "s.zarr", kind="stimuli")
    group = zarr.open_group(str(path), mode="a")
    del group["pixels"]
    group.create_array("pixels", shape=(5, 8), dtype="uint8", dimension_names=["stimulus", "y"])
    with pytest.raises(StoreError, match=r"'pixels' has dims \('stimulus', 'y'\)"):
        read_store(path, "stimuli")


def test_grouped_store_keeps_group_order(tmp_path):
    layers = {
        name: xr.Dataset(
            {"activations": (("stimulus", "feature"), np.full((4, i + 2), i, np.float32))}
        )
        for i, name in enumerate(["pixels", "conv1", "layer1.0", "output"])
    }
    path = write_store(layers, tmp_path / "f.zarr", kind="features", params={"model": "m"})
    assert store_groups(path) == ["pixels", "conv1", "layer1.0", "output"]
    back = read_store(path, "features", group="layer1.0", load=True)
    assert back["activations"].shape == (4, 4)
    assert float(back["activations"][0, 0]) == 2.0
    assert json.loads(json.dumps(back.attrs["params"])) == {"model": "m"}
    with pytest.raises(StoreError, match="holds groups"):
        read_store(path, "features")
    with pytest.raises(StoreError, match="no group 'fc'"):
        read_store(path, "features", group="fc")
