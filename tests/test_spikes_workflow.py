"""The spikes rules: downloads from a local HTTP server, ground-truth stores, benchmark, noise."""

from __future__ import annotations

import functools
import hashlib
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import default_config, run_snakemake
from test_spikes_data import cascade_file, write_pair

from brainreps.config import ConfigError, validate_config
from brainreps.io import read_store, store_groups


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_folder(tmp_path):
    """(folder, base URL): files in `folder` served on 127.0.0.1."""
    folder = tmp_path / "served"
    folder.mkdir()
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def ar1_columns(n_time=1500, n_neurons=4, seed=0):
    rng = np.random.default_rng(seed)
    spikes = rng.poisson(0.03, (n_time, n_neurons)).astype(float)
    calcium = np.zeros_like(spikes)
    for t in range(n_time):
        calcium[t] = (0.96 * calcium[t - 1] if t else 0) + spikes[t]
    calcium += 0.2 * rng.standard_normal(calcium.shape)
    calcium[1200:, 1], spikes[1200:, 1] = np.nan, np.nan
    return calcium.round(5), spikes


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def spikes_config(ground_truth: dict, **extra) -> dict:
    config = default_config()
    config["responses"].pop("compare")  # calcium to cortex needs the spikes stage's cnn
    config["spikes"] = {
        "ground_truth": ground_truth,
        "methods": {"oasis": {}, "derivative": {}},
        "noise": {"snr": [1.0, 4.0], "max_units": 2},
        **extra,
    }
    return config


def test_download_archive_and_mat_then_benchmark(tmp_path, http_folder):
    folder, base = http_folder
    staging = tmp_path / "staging" / "spikefinder.train"
    staging.mkdir(parents=True)
    calcium, spikes = ar1_columns()
    write_pair(staging, calcium, spikes, gz=False, dset="7")
    archive = folder / "spikefinder.train.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(staging.iterdir()):
            zf.write(p, f"spikefinder.train/{p.name}")
    t = np.arange(900) / 30.0
    mat = cascade_file(folder / "cell1_mini.mat", [(t, np.sin(t) + 1, [5000.0, 90000.0])])
    config = spikes_config(
        {
            "sf7": {
                "source": "spikefinder",
                "url": f"{base}/{archive.name}",
                "sha256": sha256(archive),
                "dataset_id": "7",
            },
            "cas": {
                "source": "cascade",
                "url": f"{base}/{mat.name}",
                "md5": hashlib.md5(mat.read_bytes()).hexdigest(),
            },
        },
        # a list of cross-validations (as config/spikefinder.yaml has) reaches the rule whole
        cv=[
            {"name": "lono", "scheme": "leave_one_neuron_out"},
            {"name": "lodo", "scheme": "leave_one_dataset_out", "datasets": ["sf7"]},
        ],
    )
    work = tmp_path / "wf"
    run_snakemake(
        work,
        "--nolock",
        "results/spikes/benchmark.csv",
        "results/spikes/noise_summary.csv",
        "results/figures/spikes/examples_sf7.png",
        "results/figures/spikes/scores.png",
        "results/figures/spikes/noise.png",
        config=config,
    )
    results = work / "results"
    for figure in ("examples_sf7", "scores", "noise"):
        assert (results / f"figures/spikes/{figure}.png").read_bytes()[:4] == b"\x89PNG"
    assert (results / "downloads/spikes/sf7.download").read_bytes() == archive.read_bytes()
    rec = read_store(results / "spikes/data/sf7.zarr", "recording", load=True)
    np.testing.assert_allclose(rec["dff"].values, calcium.T.astype(np.float32), equal_nan=True)
    cas = read_store(results / "spikes/data/cas.zarr", "recording", load=True)
    assert float(np.nansum(cas["spikes"].values)) == 2.0 and cas.attrs["frame_rate"] == 30.0
    scores = pd.read_csv(results / "spikes/benchmark.csv")
    sf = scores[(scores.dataset == "sf7") & (scores.measure == "corr")]
    assert sorted(set(sf.method)) == ["derivative", "oasis"] and len(sf) == 8
    oasis_corr = sf[sf.method == "oasis"].set_index("unit")["value"]
    assert (oasis_corr > 0.8).all()  # AR(1) ground truth: OASIS's own model
    assert store_groups(results / "spikes/rates/sf7.zarr") == ["oasis", "derivative"]
    rate = read_store(results / "spikes/rates/sf7.zarr", "spikes", group="oasis", load=True)
    assert np.isnan(rate["rate"].values[1, 1200:]).all()
    assert [c["name"] for c in rate.attrs["params"]["cv"]] == ["lono", "lodo"]
    assert np.isfinite(rate["rate"].values[1, :1200]).all()
    noise = pd.read_csv(results / "spikes/noise_summary.csv")
    sub = noise[(noise.dataset == "sf7") & (noise.method == "oasis")].set_index("snr")
    assert sub.loc[1.0, "corr_truth"] < sub.loc[4.0, "corr_truth"] < sub.loc[np.inf, "corr_truth"]


def test_bad_checksum_fails_the_download_and_leaves_no_file(tmp_path, http_folder):
    folder, base = http_folder
    mat = cascade_file(folder / "c.mat", [(np.arange(90) / 30.0, np.arange(90.0), [100.0])])
    config = spikes_config(
        {"cas": {"source": "cascade", "url": f"{base}/{mat.name}", "sha256": "0" * 64}}
    )
    work = tmp_path / "wf"
    proc = run_snakemake(
        work, "--nolock", "results/spikes/data/cas.zarr", config=config, check=False
    )
    assert proc.returncode != 0
    log = (work / "logs/spikes_download/cas.log").read_text()
    assert "checksum" in log.lower() and mat.name in log
    assert not (work / "results/downloads/spikes/cas.download").exists()


def test_config_errors_name_the_key(tmp_path):
    config = spikes_config({"x": {"source": "spikefinder", "dataset_id": "4"}})
    with pytest.raises(ConfigError, match="spikes.ground_truth.x"):
        validate_config(config)
    config = spikes_config({"x": {"source": "cascade", "path": str(tmp_path / "none.mat")}})
    with pytest.raises(ConfigError, match="does not exist"):
        validate_config(config)
    config = spikes_config({}, cv={"scheme": "random"})
    with pytest.raises(ConfigError, match="spikes.cv.scheme"):
        validate_config(config)
    # checked before any rule, by validate_config (so by check-config too: test_config_checks)
    config = spikes_config({"s": {"source": "simulated", "dataset": "missing"}})
    with pytest.raises(ConfigError, match="spikes.ground_truth.s.dataset: 'missing' is not a"):
        validate_config(config)


def test_defaults_fill_in():
    config = validate_config(spikes_config({"s": {"source": "simulated", "dataset": "simulated"}}))
    spikes = config["spikes"]
    assert spikes["cv"] == {
        "scheme": "kfold_neurons",
        "n_folds": 3,
        "train_on": "same_dataset",
        "seed": 0,
        "name": None,
        "datasets": None,
        "methods": None,
    }
    assert spikes["ground_truth"]["s"]["max_units"] is None
    assert spikes["measures"] == ["corr", "rank"]


def test_default_run_benchmarks_the_simulated_recording(default_run):
    scores = pd.read_csv(default_run / "results/spikes/benchmark.csv")
    corr = scores[scores.measure == "corr"].groupby("method")["value"].mean()
    assert {"oasis", "derivative"} <= set(corr.index)
    assert corr["oasis"] > corr["derivative"] + 0.1  # deconvolution clears the floor
    assert (default_run / "results/figures/spikes/noise.png").stat().st_size > 0
    # the noise-matched bank and the vae are methods like the others, with their counts
    assert {"bank", "vae", "cnn"} <= set(corr.index)
    counts = scores[scores.measure == "count_bias"].groupby("method")["value"].median()
    assert abs(counts["cnn"]) < 0.25  # spikes per frame: counts right to 25% (measured -0.03)
    versus = pd.read_csv(default_run / "results/spikes/benchmark_vs_oasis.csv")
    assert set(versus["method"]) >= {"bank", "vae", "cnn"} and "oasis" not in set(versus["method"])
    assert (default_run / "results/figures/spikes/comparison.png").stat().st_size > 0
    from brainreps.spikes import bank

    final = bank.load(default_run / "results/spikes/models/bank_simulated")
    assert [m.level for m in final.members] == [1.5, 3.0, 6.0] and final.rates() == [30.0]
    noise = pd.read_csv(default_run / "results/spikes/noise_summary.csv")
    assert {"bank", "vae"} <= set(noise["method"])
