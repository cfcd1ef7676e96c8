"""User images as stimulus sets: arrays (source npy) and folders (source folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from brainreps import io
from brainreps.config import definition_defaults
from brainreps.data.images import ImageInputError, folder_stimuli, npy_stimuli, user_stimuli
from brainreps.data.rdms import align_to_stimuli, allen_stimulus_ids, load_rdms

ALLEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "allen_rdms"
NPY = {"key": None, "labels": None, "blank": "none", "blank_value": 127}
FOLDER = {"labels": None, "color": "auto", "blank": "none", "blank_value": 127}


def test_the_option_defaults_here_are_the_schemas():
    assert {k: v for k, v in definition_defaults("data#npy_stimuli").items()} == NPY
    assert definition_defaults("data#folder_stimuli") == FOLDER


def test_an_array_becomes_a_stimulus_set_with_an_explicit_blank(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 9), dtype=np.uint8)
    np.save(tmp_path / "x.npy", images)
    ds = npy_stimuli(tmp_path / "x.npy", **{**NPY, "blank": "last", "blank_value": 120})
    io.validate(ds, "stimuli")
    assert list(ds["stimulus"].values) == ["0", "1", "2", "3", "4", "blank"]
    np.testing.assert_array_equal(ds["pixels"].values[:5], images)
    assert (ds["pixels"].values[5] == 120).all() and ds["pixels"].dtype == np.uint8
    assert ds["label"].values[5] == "blank" and ds["source"].values[5] == "blank:120"
    first = npy_stimuli(tmp_path / "x.npy", **{**NPY, "blank": "first"})
    assert first["stimulus"].values[0] == "blank" and (first["pixels"].values[0] == 127).all()
    plain = npy_stimuli(tmp_path / "x.npy", **NPY)
    assert plain.sizes["stimulus"] == 5  # no blank unless asked for


def test_float_and_channel_arrays(tmp_path):
    rgb = np.random.default_rng(1).random((3, 4, 4, 3))
    np.savez(tmp_path / "x.npz", images=rgb, other=np.zeros(2))
    ds = npy_stimuli(tmp_path / "x.npz", **{**NPY, "key": "images"})
    assert ds["pixels"].dims == ("stimulus", "y", "x", "channel")
    np.testing.assert_array_equal(ds["pixels"].values, np.rint(rgb * 255).astype(np.uint8))
    np.save(tmp_path / "one.npy", np.full((2, 4, 4, 1), 200.0))
    one = npy_stimuli(tmp_path / "one.npy", **NPY)
    assert one["pixels"].dims == ("stimulus", "y", "x") and (one["pixels"].values == 200).all()


BAD_ARRAYS = {
    "RGBA": (np.zeros((2, 4, 4, 4), np.uint8), "4 channels"),
    "2-D": (np.zeros((4, 4), np.uint8), r"shape \(4, 4\) is not N x H x W"),
    "empty": (np.zeros((0, 4, 4), np.uint8), "holds no images"),
    "out of range": (np.full((2, 4, 4), 300), "values 300 to 300 are outside 0-255"),
    "NaN": (np.full((2, 4, 4), np.nan), "NaN"),
    "bool": (np.zeros((2, 4, 4), bool), "not a numeric image type"),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_a_bad_array_is_refused_naming_the_file(case, tmp_path):
    array, message = BAD_ARRAYS[case]
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ImageInputError, match=message) as err:
        npy_stimuli(tmp_path / "bad.npy", **NPY)
    assert "bad.npy" in str(err.value)


def test_an_npz_needs_a_key_when_it_holds_several_arrays(tmp_path):
    np.savez(tmp_path / "x.npz", a=np.zeros((2, 4, 4)), b=np.zeros((2, 4, 4)))
    with pytest.raises(ImageInputError, match=r"holds arrays \['a', 'b'\]; name one with `key`"):
        npy_stimuli(tmp_path / "x.npz", **NPY)
    with pytest.raises(ImageInputError, match="has no array 'c'"):
        npy_stimuli(tmp_path / "x.npz", **{**NPY, "key": "c"})


class Exploit:
    """Unpickling this would create a file: the marker of code run from user data."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_arrays_of_python_objects_are_never_unpickled(suffix, tmp_path):
    marker = tmp_path / "unpickled"
    array = np.array([Exploit(marker)] * 3, dtype=object)
    path = tmp_path / f"images.{suffix}"
    if suffix == "npy":
        np.save(path, array, allow_pickle=True)
    else:
        np.savez(path, images=array)
    with pytest.raises(ImageInputError, match="holds Python objects, which brainreps never"):
        npy_stimuli(path, **NPY)
    assert not marker.exists()


def test_labels_from_a_file(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 4, 4), np.uint8))
    (tmp_path / "labels.txt").write_text("cat\ndog\ncat\n")
    ds = npy_stimuli(tmp_path / "x.npy", **{**NPY, "labels": tmp_path / "labels.txt"})
    assert list(ds["label"].values) == ["cat", "dog", "cat"]
    (tmp_path / "labels.csv").write_text("stimulus,label\n2,c\n0,a\n1,b\n")
    ds = npy_stimuli(tmp_path / "x.npy", **{**NPY, "labels": tmp_path / "labels.csv"})
    assert list(ds["label"].values) == ["a", "b", "c"]
    (tmp_path / "short.txt").write_text("cat\n")
    with pytest.raises(ImageInputError, match="short.txt: 1 labels for 3 images"):
        npy_stimuli(tmp_path / "x.npy", **{**NPY, "labels": tmp_path / "short.txt"})


def save_image(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_a_folder_of_images_in_class_folders(tmp_path):
    rng = np.random.default_rng(2)
    gray = {f"dog/{i}.png": rng.integers(0, 256, (6, 7), dtype=np.uint8) for i in range(2)}
    gray["cat/a.png"] = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    for name, array in gray.items():
        save_image(tmp_path / "img" / name, array)
    (tmp_path / "img" / "notes.txt").write_text("not an image")
    ds = folder_stimuli(tmp_path / "img", **{**FOLDER, "labels": "folders", "blank": "last"})
    io.validate(ds, "stimuli")
    assert list(ds["stimulus"].values) == ["cat/a", "dog/0", "dog/1", "blank"]
    assert list(ds["label"].values) == ["cat", "dog", "dog", "blank"]
    np.testing.assert_array_equal(ds["pixels"].values[1], gray["dog/0.png"])
    assert ds["pixels"].dims == ("stimulus", "y", "x")
    # one colour image makes the set RGB (gray images repeated on the channels)
    save_image(tmp_path / "img" / "cat/b.png", rng.integers(0, 256, (6, 7, 3), dtype=np.uint8))
    rgb = folder_stimuli(tmp_path / "img", **FOLDER)
    assert rgb["pixels"].dims == ("stimulus", "y", "x", "channel")
    np.testing.assert_array_equal(rgb["pixels"].values[2, ..., 1], gray["dog/0.png"])
    assert folder_stimuli(tmp_path / "img", **{**FOLDER, "color": "gray"})["pixels"].ndim == 3


def test_images_of_mixed_sizes_are_refused_naming_both(tmp_path):
    save_image(tmp_path / "a.png", np.zeros((6, 7), np.uint8))
    save_image(tmp_path / "b.jpg", np.zeros((8, 7), np.uint8))
    with pytest.raises(ImageInputError, match=r"mixed sizes .*a.png is 6 x 7 px, b.jpg is 8 x 7"):
        folder_stimuli(tmp_path, **FOLDER)


def test_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "readme.md").write_text("no images here")
    with pytest.raises(ImageInputError, match=r"holds no image files \(.png"):
        folder_stimuli(tmp_path, **FOLDER)
    with pytest.raises(ImageInputError, match="does not exist"):
        folder_stimuli(tmp_path / "absent", **FOLDER)


def test_an_unreadable_image_is_named(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ImageInputError, match="broken.png: not a readable image"):
        folder_stimuli(tmp_path, **FOLDER)


@pytest.mark.skipif(not (ALLEN / "scenes_31x31.npy").is_file(), reason=f"{ALLEN} absent")
def test_the_allen_scenes_with_the_blank_line_up_with_the_allen_rdms():
    """The first user: the 118 scenes + the blank (last) are the 119 rows of the matrices."""
    ds = user_stimuli(
        {"source": "npy", "path": str(ALLEN / "scenes_31x31.npy"), **NPY, "blank": "last"}
    )
    assert ds["pixels"].shape == (119, 31, 31)
    assert list(ds["stimulus"].values) == allen_stimulus_ids()
    aligned = align_to_stimuli(load_rdms(ALLEN), ds["stimulus"].values)
    assert aligned.sizes["stimulus"] == 119
    without = user_stimuli({"source": "npy", "path": str(ALLEN / "scenes_31x31.npy"), **NPY})
    assert without.sizes["stimulus"] == 118
    assert (
        align_to_stimuli(load_rdms(ALLEN), without["stimulus"].values, exclude=["blank"]).sizes[
            "stimulus"
        ]
        == 118
    )
