"""`brainreps spikes infer | score`: Spikefinder-format CSV in and out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainreps.cli import main
from brainreps.data.spikefinder import write_csv_columns
from brainreps.spikes import metrics
from brainreps.spikes import oasis as oasis_method

SPIKEFINDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spikefinder"


def calcium_csv(path: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(600, 3)).cumsum(axis=0) * 0.1
    data[450:, 1] = np.nan  # NaN padding of a shorter recording
    data[100:110, 2] = np.nan  # an interior gap
    frame = pd.DataFrame(data, columns=["0", "1", "7"])
    write_csv_columns(frame, path)
    return frame


@pytest.mark.parametrize("name", ["pred.csv.gz", "pred.csv"])
def test_infer_keeps_columns_and_nan_padding(tmp_path, name, capsys):
    frame = calcium_csv(tmp_path / "ca.csv.gz")
    out = tmp_path / name
    assert (
        main(
            [
                "spikes",
                "infer",
                "--method",
                "oasis",
                "--calcium",
                str(tmp_path / "ca.csv.gz"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert (out.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    pred = pd.read_csv(out)
    assert list(pred.columns) == ["0", "1", "7"] and pred.shape == frame.shape
    np.testing.assert_array_equal(pred.isna().to_numpy(), frame.isna().to_numpy())
    expected = oasis_method.infer(frame["0"].to_numpy(), 100.0)
    np.testing.assert_allclose(pred["0"].to_numpy(), expected, rtol=1e-5, atol=1e-6)
    assert "3 neurons x 600 frames" in capsys.readouterr().out


def test_infer_param_and_errors(tmp_path, capsys):
    calcium_csv(tmp_path / "ca.csv")
    args = [
        "spikes",
        "infer",
        "--calcium",
        str(tmp_path / "ca.csv"),
        "--out",
        str(tmp_path / "o.csv"),
    ]
    assert main([*args, "--method", "oasis", "--param", "p=2"]) == 0
    assert main([*args, "--method", "oasis", "--fs", "-1"]) == 2
    assert "--fs must be a positive frame rate" in capsys.readouterr().err
    assert main([*args, "--method", "cnn"]) == 2
    assert "give --model" in capsys.readouterr().err
    assert main([*args, "--method", "oasis", "--model", "x"]) == 2
    assert (
        main(
            [
                "spikes",
                "infer",
                "--method",
                "oasis",
                "--calcium",
                str(tmp_path / "no.csv"),
                "--out",
                str(tmp_path / "o2.csv"),
            ]
        )
        == 2
    )
    assert "no such Spikefinder CSV" in capsys.readouterr().err
    assert not (tmp_path / "o2.csv").exists()


def test_score_prints_per_cell_and_mean(tmp_path, capsys):
    rng = np.random.default_rng(0)
    truth = pd.DataFrame(rng.poisson(0.2, (400, 2)).astype(float), columns=["0", "1"])
    pred = truth + rng.uniform(0, 0.5, truth.shape)
    truth.iloc[300:, 1] = np.nan
    pred.iloc[300:, 1] = np.nan
    write_csv_columns(truth, tmp_path / "t.csv")
    write_csv_columns(pred, tmp_path / "p.csv")
    assert (
        main(
            [
                "spikes",
                "score",
                "--truth",
                str(tmp_path / "t.csv"),
                "--pred",
                str(tmp_path / "p.csv"),
                "--out",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    table = pd.read_csv(tmp_path / "s.csv")
    expected = [metrics.corr(truth[c].to_numpy(), pred[c].round(6).to_numpy()) for c in "01"]
    np.testing.assert_allclose(table["corr"], expected, atol=1e-5)
    assert f"corr={np.mean(table['corr']):.4f}" in out
    write_csv_columns(pred[["0"]], tmp_path / "p1.csv")
    assert (
        main(
            [
                "spikes",
                "score",
                "--truth",
                str(tmp_path / "t.csv"),
                "--pred",
                str(tmp_path / "p1.csv"),
            ]
        )
        == 2
    )
    assert "differ from prediction columns" in capsys.readouterr().err


def test_score_reproduces_published_mean_from_the_shared_files(capsys):
    if not SPIKEFINDER.is_dir():
        pytest.skip("shared Spikefinder data absent")
    truth = SPIKEFINDER / "truth" / "5.train.spikes.csv.gz"
    pred = SPIKEFINDER / "predictions" / "friedrich.5.train.spikes.csv.gz"
    assert main(["spikes", "score", "--truth", str(truth), "--pred", str(pred)]) == 0
    published = pd.read_csv(SPIKEFINDER / "published_train_scores.csv")
    sel = published[
        (published.algo == "friedrich") & (published.dset == 5) & (published.measure == "corr")
    ]
    assert f"corr={sel['value'].mean():.4f}" in capsys.readouterr().out  # 0.481 in the paper


def test_train_requires_matching_file_lists(tmp_path, capsys):
    calcium_csv(tmp_path / "ca.csv")
    assert (
        main(
            [
                "spikes",
                "train",
                "--method",
                "cnn",
                "--calcium",
                str(tmp_path / "ca.csv"),
                "--spikes",
                str(tmp_path / "a.csv"),
                str(tmp_path / "b.csv"),
                "--out",
                str(tmp_path / "m"),
            ]
        )
        == 2
    )
    assert "1 --calcium files but 2 --spikes files" in capsys.readouterr().err
