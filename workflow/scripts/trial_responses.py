"""Rule trial_responses: per-trial responses, their mean and split-half reliability."""

import numpy as np

from brainreps.data.responses import responses_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    responses = responses_store(
        snakemake.input.recording,
        snakemake.input.stimuli,
        snakemake.params.responses,
        snakemake.output[0],
    )
    rel = responses["split_half_reliability"].values
    log.info(
        "%d units, median split-half reliability %.3f, %d with a noise ceiling",
        rel.size,
        np.nanmedian(rel),
        np.isfinite(responses["noise_ceiling"].values).sum(),
    )
