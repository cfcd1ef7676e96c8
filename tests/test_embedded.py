"""The embedded default stimuli: photographs inside the scikit-image wheel, cropped from a seed."""

import numpy as np
import pytest

from brainreps.data import embedded
from brainreps.data.embedded import PHOTOGRAPHS, embedded_stimuli, photograph_dir


def test_at_least_100_grayscale_crops_deterministic_from_seed():
    a = embedded_stimuli(120, 64, seed=0)
    b = embedded_stimuli(120, 64, seed=0)
    c = embedded_stimuli(120, 64, seed=1)
    assert a["pixels"].shape == (120, 64, 64)
    assert a["pixels"].dtype == np.uint8
    np.testing.assert_array_equal(a["pixels"].values, b["pixels"].values)
    assert list(a["stimulus"].values) == list(b["stimulus"].values)
    assert (a["pixels"].values != c["pixels"].values).any()
    assert len(set(a["stimulus"].values)) == 120
    # crops are textured, and drawn from many photographs
    assert a["pixels"].values.reshape(120, -1).std(axis=1).min() >= embedded.MIN_CROP_STD - 1
    assert len(set(a["label"].values)) >= 8


def test_only_files_inside_the_wheel(monkeypatch):
    import socket

    import skimage.data._fetchers as fetchers

    for name in PHOTOGRAPHS:
        assert (photograph_dir() / name).is_file()
    # a fetch would go through skimage.data's downloader or a socket: make both fail loudly
    monkeypatch.setattr(fetchers, "_fetch", lambda *a, **k: pytest.fail("fetched"))
    monkeypatch.setattr(socket.socket, "connect", lambda *a, **k: pytest.fail("network"))
    embedded_stimuli(10, 32, seed=0)


def test_crop_matches_its_recorded_source_region():
    from skimage.transform import resize

    ds = embedded_stimuli(5, 32, seed=3)
    photos = embedded.load_photographs()
    for source, pixels in zip(ds["source"].values, ds["pixels"].values, strict=True):
        _, name, box = str(source).split(":")
        top, left, side = map(int, box.split(","))
        crop = photos[name][top : top + side, left : left + side]
        expected = resize(crop, (32, 32), order=1, anti_aliasing=True, preserve_range=True)
        np.testing.assert_array_equal(pixels, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
