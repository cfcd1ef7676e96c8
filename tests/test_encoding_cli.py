"""`brainreps encode` on a user's arrays: end to end, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainreps import io
from brainreps.cli import main

N_IMAGES, N_UNITS, N_REPEATS = 30, 5, 4


@pytest.fixture
def arrays(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N_IMAGES, 20, 20), dtype=np.uint8)
    drive = images.reshape(N_IMAGES, -1)[:, :N_UNITS].astype(float) / 64
    trials = np.concatenate([drive + rng.normal(size=drive.shape) for _ in range(N_REPEATS)])
    trial_stim = np.tile(np.arange(N_IMAGES), N_REPEATS)
    paths = {}
    for name, arr in {
        "images": images,
        "resp": drive,
        "trials": trials,
        "idx": trial_stim,
        "area": np.array(["VISp", "VISl", "VISp", "VISal", "VISp"]),
    }.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    return paths, drive, trials, trial_stim


def _run(capsys, *argv):
    code = main(["encode", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


BASE = (
    "--model",
    "resnet18",
    "--weights",
    "none",
    "--input-size",
    "32",
    "--n-components",
    "64",
    "--alphas",
    "-1",
    "4",
    "6",
    "--outer-folds",
    "3",
    "--inner-folds",
    "3",
)


def test_encode_end_to_end_with_trials(arrays, tmp_path, capsys):
    paths, drive, trials, trial_stim = arrays
    out = tmp_path / "out"
    code, stdout, err = _run(
        capsys,
        "--stimuli",
        paths["images"],
        "--trials",
        paths["trials"],
        "--trial-stimulus",
        paths["idx"],
        "--unit-area",
        paths["area"],
        *BASE,
        "--layers",
        "layer1",
        "layer3",
        "--out",
        out,
    )
    assert code == 0, err
    ds = io.read_store(out / "encoding.zarr", "encoding", load=True)
    assert list(ds["layer"].values) == ["layer1", "layer3"]
    assert ds.sizes["unit"] == N_UNITS
    # the noise ceiling is the foundation's split-half reliability of the trials given
    from brainreps.data.responses import (
        by_stimulus,
        noise_ceiling_from_reliability,
        split_half_reliability,
    )

    arranged, _ = by_stimulus(trials.T, trial_stim, N_IMAGES)
    expected = noise_ceiling_from_reliability(split_half_reliability(arranged, 20, seed=0))
    np.testing.assert_allclose(ds["noise_ceiling"].values, expected)
    np.testing.assert_allclose(ds["normalized_score"].values, ds["r2"].values / expected[:, None])
    table = pd.read_csv(out / "encoding.csv")
    assert len(table) == N_UNITS * 2 and list(table.area[:2]) == ["VISp", "VISp"]
    assert (out / "projection.zarr").is_dir() and not (out / "features.zarr").exists()
    assert sorted(p.name for p in (out / "figures").iterdir()) == [
        "encoding_best_layer.png",
        "encoding_distribution.png",
        "encoding_layers.png",
    ]
    assert "layer3\tmedian r" in stdout


def test_stimulus_count_mismatch_names_both_files(arrays, tmp_path, capsys):
    paths, drive, *_ = arrays
    np.save(tmp_path / "short.npy", drive[:-1])
    code, _, err = _run(
        capsys,
        "--stimuli",
        paths["images"],
        "--responses",
        tmp_path / "short.npy",
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2
    assert "short.npy has 29 stimuli" in err and f"images.npy has {N_IMAGES} images" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda d: np.where(np.arange(d.size).reshape(d.shape) == 7, np.nan, d),
            "responses hold 1 NaN/inf value",
        ),
        (lambda d: np.ones_like(d), "all responses are constant"),
        (
            lambda d: np.column_stack([d[:, :2], np.full(len(d), 3.0), d[:, 3:]]),
            "1 unit\\(s\\) have the same response to every stimulus \\(2\\)",
        ),
        (lambda d: d[:, 0], "expected N stimuli x units, got shape \\(30,\\)"),
    ],
)
def test_bad_responses(arrays, tmp_path, capsys, make, message):
    paths, drive, *_ = arrays
    np.save(tmp_path / "bad.npy", make(drive))
    code, _, err = _run(
        capsys,
        "--stimuli",
        paths["images"],
        "--responses",
        tmp_path / "bad.npy",
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2
    assert "bad.npy" in err
    assert pytest.importorskip("re").search(message, err), err
    assert not (tmp_path / "o").exists()


def test_bad_trials_and_images(arrays, tmp_path, capsys):
    paths, drive, trials, trial_stim = arrays
    np.save(tmp_path / "idx_short.npy", trial_stim[:-3])
    code, _, err = _run(
        capsys,
        "--stimuli",
        paths["images"],
        "--trials",
        paths["trials"],
        "--trial-stimulus",
        tmp_path / "idx_short.npy",
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "idx_short.npy has shape (117,)" in err
    np.save(tmp_path / "idx_big.npy", np.where(trial_stim == 3, 99, trial_stim))
    code, _, err = _run(
        capsys,
        "--stimuli",
        paths["images"],
        "--trials",
        paths["trials"],
        "--trial-stimulus",
        tmp_path / "idx_big.npy",
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "stimulus index 99" in err
    np.save(tmp_path / "flat.npy", np.zeros((N_IMAGES, 400), dtype=np.uint8))
    code, _, err = _run(
        capsys,
        "--stimuli",
        tmp_path / "flat.npy",
        "--responses",
        paths["resp"],
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "flat.npy: images must be N x H x W" in err
    code, _, err = _run(
        capsys,
        "--stimuli",
        tmp_path / "nope.npy",
        "--responses",
        paths["resp"],
        *BASE,
        "--out",
        tmp_path / "o",
    )
    assert code == 2 and "nope.npy does not exist" in err
    code, _, err = _run(capsys, "--stimuli", paths["images"], *BASE, "--out", tmp_path / "o")
    assert code == 2 and "give --responses" in err


def test_unknown_model_and_layer(arrays, tmp_path, capsys):
    paths, *_ = arrays
    args = ["--stimuli", paths["images"], "--responses", paths["resp"], "--out", tmp_path / "o"]
    code, _, err = _run(capsys, *args, "--model", "resnet_nonexistent")
    assert code == 2 and "resnet_nonexistent" in err
    code, _, err = _run(
        capsys, *args, "--model", "resnet18", "--input-size", "32", "--layers", "layer9"
    )
    assert code == 2 and "layer9" in err and "layer4" in err  # lists valid names
    assert not (tmp_path / "o").exists()
