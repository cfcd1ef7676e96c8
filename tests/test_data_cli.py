"""The data-stage commands: brainreps stimuli | simulate | responses | check-config."""

import numpy as np

from brainreps.cli import main
from brainreps.data.embedded import embedded_stimuli
from brainreps.data.responses import responses_dataset
from brainreps.io import read_store


def test_stimuli_simulate_responses_chain(tmp_path, capsys):
    s, r, out = tmp_path / "s.zarr", tmp_path / "r.zarr", tmp_path / "resp.zarr"
    assert (
        main(["stimuli", "--n-images", "12", "--size", "32", "--seed", "4", "--out", str(s)]) == 0
    )
    np.testing.assert_array_equal(
        read_store(s, "stimuli")["pixels"].values, embedded_stimuli(12, 32, 4)["pixels"].values
    )
    assert (
        main(
            ["simulate", "--stimuli", str(s), "--n-units", "7", "--n-repeats", "4", "--out", str(r)]
        )
        == 0
    )
    recording = read_store(r, "recording", load=True)
    assert recording.sizes["unit"] == 7
    assert np.bincount(recording["trial_stimulus"].values).tolist() == [4] * 12
    assert (
        main(
            [
                "responses",
                "--recording",
                str(r),
                "--stimuli",
                str(s),
                "--n-splits",
                "3",
                "--response-window",
                "0.05",
                "0.4",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    expected = responses_dataset(
        recording,
        read_store(s, "stimuli")["stimulus"].values,
        (0.05, 0.4),
        (-0.2, 0.0),
        n_splits=3,
        seed=0,
    )
    got = read_store(out, "responses", load=True)
    np.testing.assert_allclose(got["split_half_reliability"], expected["split_half_reliability"])
    np.testing.assert_allclose(got["mean_response"], expected["mean_response"])
    assert "median split-half reliability" in capsys.readouterr().out


def test_wrong_store_is_exit_2_with_the_file_named(tmp_path, capsys):
    s = tmp_path / "s.zarr"
    main(["stimuli", "--n-images", "3", "--size", "16", "--out", str(s)])
    code = main(
        ["responses", "--recording", str(s), "--stimuli", str(s), "--out", str(tmp_path / "x.zarr")]
    )
    assert code == 2
    assert f"{s} is a 'stimuli' store, expected a 'recording' store" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_check_config(tmp_path, capsys):
    bad = tmp_path / "c.yaml"
    bad.write_text("stimulus_sets: {}\n")
    assert main(["check-config", str(bad)]) == 2
    assert "stimulus_sets" in capsys.readouterr().err
