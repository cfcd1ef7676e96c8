"""Layer activations of one model on one stimulus set -> features store."""

import torch

from brainreps.features import extract_model_features
from brainreps.logs import log_to

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    extract_model_features(
        snakemake.input.stimuli,
        snakemake.output[0],
        snakemake.params.model,
        device=snakemake.params.features["device"],
        compress=snakemake.params.features["compress"],
        params={"model": snakemake.params.model, "features": snakemake.params.features},
        inputs=[snakemake.input.stimuli],
    )
