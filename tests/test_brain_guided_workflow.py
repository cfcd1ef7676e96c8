"""Brain-guided training through the workflow: the default run's three arms, and a run
regularised towards the real Allen Brain Observatory RDMs on the 118 natural scenes."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from helpers import ALLEN_RDMS as ALLEN
from helpers import run_config, run_snakemake, with_allen_rdms

pytestmark = pytest.mark.slow


def test_the_default_runs_baseline_regularised_and_control(default_run):
    results = default_run / "results"
    rob = pd.read_csv(results / "robustness.csv")
    arms = rob[rob["run"].isin(["convnet", "convnet-brain", "convnet-brain-control"])]
    last = arms[arms["epoch"] == arms.groupby("run")["epoch"].transform("max")]
    clean = last[last["perturbation"] == "clean"].set_index("run")
    assert clean["rsa"].notna().all() and (clean["top1"] > 0.3).all()
    # the regulariser moves its layers towards the target on images it never saw
    assert clean.loc["convnet-brain", "rsa"] > clean.loc["convnet", "rsa"]
    noise = last[last["perturbation"] == "noise"]
    assert sorted(set(noise["strength"])) == [0.05, 0.1, 0.2, 0.3]
    assert (noise.groupby("run")["top1"].apply(lambda t: t.is_monotonic_decreasing)).all()
    model = results / "encoding/alexnet/simulated_model.pt"
    assert model.is_file()
    for name in ("robustness", "target_rsa"):
        assert (results / f"figures/training/{name}.png").stat().st_size > 10_000


def test_a_run_regularised_towards_the_allen_rdms(default_run, tmp_path):
    if not (ALLEN / "similarity.npz").is_file():
        pytest.skip(f"reference data {ALLEN} absent")
    work = tmp_path / "run"
    shutil.copytree(default_run, work, symlinks=True)
    config = run_config(default_run)
    with_allen_rdms(config)
    run = dict(config["training"]["convnet-brain"])
    run.update(
        epochs=[0, 2],
        neural_similarity={
            "source": "rdms",
            "dataset": "allen_rdms",
            "groups": ["VISp_layer23", "VISp_layer4"],
            "layers": ["block3"],
            "lambda": 1.0,
        },  # fmt: skip
    )
    config["training"]["convnet-allen"] = run
    target = "results/training/convnet-allen/robustness.csv"
    run_snakemake(work, target, config=config, config_name="allen_config.yaml")
    rob = pd.read_csv(work / target)
    clean = rob[rob["perturbation"] == "clean"].set_index("epoch")
    assert list(clean.index) == [0, 2]
    assert np.isfinite(clean["rsa"]).all() and (np.abs(clean["rsa"]) < 1).all()
    assert clean.loc[2, "top1"] > 1 / 14
