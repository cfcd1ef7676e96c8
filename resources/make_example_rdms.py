"""Write resources/example_rdms.npz: an RDM file in the brainreps format (brainreps.data.rdms).

The neural RDMs of a small simulated experiment (the embedded default's simulation, 60 units,
6 repeats) on 24 embedded stimuli (`brainreps stimuli --n-images 24 --size 32 --seed 0`), one per
unit group (all units, each area, Cre line and depth), with their split-half reliabilities.
Deterministic: running it again writes the same arrays.

    .venv/bin/python resources/make_example_rdms.py [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

from brainreps.config import definition_defaults
from brainreps.data.embedded import embedded_stimuli
from brainreps.data.rdms import write_rdm_file
from brainreps.data.responses import responses_dataset
from brainreps.data.simulate import simulate_recording
from brainreps.similarity.rsa import neural_rdms

OUT = Path(__file__).resolve().with_name("example_rdms.npz")


def example_rdms():
    """The example's RDM Dataset."""
    stimuli = embedded_stimuli(24, 32, seed=0)
    simulation = {**definition_defaults("data#simulation"), "n_units": 60, "n_repeats": 6}
    recording = simulate_recording(stimuli["pixels"].values, stimuli["stimulus"].values, simulation)
    windows = definition_defaults("data#responses")
    responses = responses_dataset(
        recording,
        stimuli["stimulus"].values,
        tuple(windows["response_window"]),
        tuple(windows["baseline_window"]),
    )
    rsa = definition_defaults("similarity")
    rdms = neural_rdms(
        responses,
        dataset_name="simulated example",
        kinds=rsa["rsa"]["groups"],
        depth_bins=None,
        min_units=rsa["rsa"]["min_units"],
        n_splits=rsa["rsa"]["n_splits"],
        seed=rsa["seed"],
    )
    rdms.attrs["stimulus_set"] = "embedded, 24 images of 32 px, seed 0"
    return rdms


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    ds = example_rdms()
    write_rdm_file(ds, out, dtype="float32")
    print(f"{out}: {ds.sizes['group']} RDMs of {ds.sizes['stimulus']} stimuli")
