"""Rules trial_responses and signal_responses: per-trial responses from a signal (dF/F,
inferred spike rates, true spikes), their mean and split-half reliability."""

import numpy as np

from brainreps.data.responses import responses_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    if "model" in snakemake.input.keys():
        import torch

        torch.set_num_threads(snakemake.threads)
    responses = responses_store(
        snakemake.input.recording,
        snakemake.input.stimuli,
        snakemake.params.responses,
        snakemake.output[0],
        methods=snakemake.params.methods,
        model_path=snakemake.input.get("model"),
    )
    rel = responses["split_half_reliability"].values
    log.info(
        "%s: %d units, median split-half reliability %.3f, %d with a noise ceiling",
        responses.attrs["signal"],
        rel.size,
        np.nanmedian(rel),
        np.isfinite(responses["noise_ceiling"].values).sum(),
    )
