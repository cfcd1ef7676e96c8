"""Neural RDMs through the workflow: the real Allen RDMs against random-init and trained
networks, and an RDM file made from the default run's responses, which must give the RSA the
default run computed from those responses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ALLEN_RDMS as ALLEN
from helpers import VENV_BIN, run_config, run_snakemake, with_allen_rdms

from brainreps import io

# random init: resnet18 and the convnet before training; trained: the convnet after 10 epochs;
# control: the convnet trained on shuffled labels
MODELS = ("resnet18", "convnet_e0", "convnet_e10", "convnet-shuffled_e40")


def real_data_config(config: dict, simulated_rdms: Path) -> dict:
    """The default run's config plus the Allen scenes (blank last) and RDMs, and an RDM file
    over the embedded stimuli."""
    with_allen_rdms(config)
    config["datasets"]["simulated_rdms"] = {
        "source": "rdms",
        "path": str(simulated_rdms),
        "stimuli": "embedded",
    }
    config["models"]["resnet18"]["stimuli"] = ["embedded", "allen_scenes"]
    return config


@pytest.fixture(scope="module")
def real_run(default_run, tmp_path_factory):
    """A copy of the default run, extended by the real-data datasets and run to their RSA."""
    if not (ALLEN / "similarity.npz").is_file():
        pytest.skip(f"reference data {ALLEN} absent")
    work = tmp_path_factory.mktemp("real") / "run"
    shutil.copytree(default_run, work, symlinks=True)
    config = run_config(default_run)
    rsa = config["similarity"]["rsa"]
    rdm_file = work / "simulated_rdms.npz"
    subprocess.run(
        [str(VENV_BIN / "brainreps"), "neural-rdms", "--responses",
         str(work / "results/responses/simulated.zarr"), "--out", str(rdm_file),
         "--n-splits", str(rsa["n_splits"]), "--min-units", str(rsa["min_units"]),
         "--seed", str(config["similarity"]["seed"]), "--groups", *rsa["groups"]],
        check=True,
    )  # fmt: skip
    config = real_data_config(config, rdm_file)
    targets = [f"results/similarity/{m}/allen_rdms_rsa.csv" for m in MODELS]
    targets += [
        "results/similarity/resnet18/simulated_rdms_rsa.csv",
        "results/figures/data/rdms_allen_rdms.png",
        "results/figures/similarity/convnet_e10/allen_rdms_rsa.png",
    ]
    run_snakemake(work, *targets, config=config, config_name="real_config.yaml")
    return work, config


def test_an_rdm_file_of_the_responses_gives_the_rsa_of_the_responses(real_run):
    work, _ = real_run
    computed = pd.read_csv(work / "results/similarity/resnet18/simulated_rsa.csv")
    provided = pd.read_csv(work / "results/similarity/resnet18/simulated_rdms_rsa.csv")
    both = computed.merge(provided, on=["layer", "group"], suffixes=("", "_file"))
    assert len(both) == len(computed) == len(provided) > 10
    for column in ("rsa", "noise_ceiling", "normalized_rsa"):
        np.testing.assert_allclose(both[f"{column}_file"], both[column], rtol=0, atol=1e-9)


def test_real_allen_rdms_against_random_and_trained_networks(real_run):
    work, _ = real_run
    store = io.read_store(work / "results/rdms/allen_rdms.zarr", "rdms", load=True)
    assert store.sizes["group"] == 21 and store["stimulus"].values[-1] == "blank"
    tables = {m: pd.read_csv(work / f"results/similarity/{m}/allen_rdms_rsa.csv") for m in MODELS}
    for table in tables.values():
        assert set(table["area"]) == {"VISp", "VISl", "VISal", "VISpm", "VISam", "VISrl"}
        assert table["group"].nunique() == 21 and table["rsa"].notna().all()
        expected = table["rsa"] / np.sqrt(table["rdm_reliability"])
        np.testing.assert_allclose(table["normalized_rsa"], expected, rtol=1e-9)
    # the input layer (the 31 px scenes, the blank a constant image left out by its NaN row)
    # correlates weakly and positively with every site: the reference data's own check
    pixels = tables["resnet18"].query("layer == 'pixels'")["rsa"]
    assert pixels.min() > 0 and 0.05 < pixels.mean() < 0.12
    # what the README reports: per site the best layer's normalised RSA, per model layer the
    # mean over the 21 sites
    best = pd.DataFrame(
        {
            m: t.loc[t.groupby("group")["normalized_rsa"].idxmax()]
            .set_index("group")[["normalized_rsa", "layer"]]
            .apply(lambda r: f"{r['normalized_rsa']:.3f} ({r['layer']})", axis=1)
            for m, t in tables.items()
        }
    )
    print("\nper site: best layer's normalised RSA (layer)\n" + best.to_string())
    per_area = pd.DataFrame(
        {
            m: t.groupby("group")
            .agg(area=("area", "first"), best=("normalized_rsa", "max"))
            .groupby("area")["best"]
            .mean()
            for m, t in tables.items()
        }
    )
    print("\nper area: mean over its sites of the best layer's normalised RSA\n", per_area.round(3))
    for m, t in tables.items():
        profile = t.groupby("layer", sort=False)["normalized_rsa"].mean().round(3)
        print(f"\n{m}: normalised RSA per layer, mean over the 21 sites\n" + profile.to_string())
    assert (per_area.abs() < 0.5).all().all()  # weak at 31 px, whatever the network
    for png in ("data/rdms_allen_rdms.png", "similarity/convnet_e10/allen_rdms_rsa.png"):
        assert (work / "results/figures" / png).stat().st_size > 20_000


def test_rdm_ids_that_do_not_match_the_stimulus_set_stop_the_rule(real_run):
    work, config = real_run
    config["datasets"]["scenes_as_embedded"] = {
        "source": "rdms",
        "path": str(ALLEN),
        "stimuli": "embedded",
    }
    proc = run_snakemake(
        work,
        "results/rdms/scenes_as_embedded.zarr",
        config=config,
        config_name="bad_config.yaml",
        check=False,
    )
    assert proc.returncode != 0
    log = (work / "logs/neural_rdms/scenes_as_embedded.log").read_text()
    assert "stimulus ids do not match stimulus set 'embedded'" in log
    assert "119 of its stimulus ids are not in stimulus set 'embedded'" in log
    assert not list((work / "results/rdms").glob("*scenes_as_embedded*"))
