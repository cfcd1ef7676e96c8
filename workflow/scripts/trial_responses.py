"""Rule trial_responses: per-trial responses, their mean and split-half reliability."""

import numpy as np

from brainreps.data.responses import responses_dataset
from brainreps.io import read_store, write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    recording = read_store(snakemake.input.recording, "recording", load=True)
    stimuli = read_store(snakemake.input.stimuli, "stimuli")
    params = snakemake.params.responses
    responses = responses_dataset(
        recording,
        stimuli["stimulus"].values,
        tuple(params["response_window"]),
        tuple(params["baseline_window"]),
        params["n_splits"],
        params["seed"],
        source=snakemake.input.recording,
    )
    write_store(
        responses,
        snakemake.output[0],
        kind="responses",
        params=params,
        inputs=[snakemake.input.recording, snakemake.input.stimuli],
    )
    rel = responses["split_half_reliability"].values
    log.info(
        "%d units, median split-half reliability %.3f, %d with a noise ceiling",
        rel.size,
        np.nanmedian(rel),
        np.isfinite(responses["noise_ceiling"].values).sum(),
    )
