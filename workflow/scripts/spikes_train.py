"""Rule spikes_train: a supervised method trained on whole ground-truth stores, saved."""

import torch

from brainreps.logs import log_to
from brainreps.spikes.training import train_model

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    train_model(
        method=snakemake.params.method,
        stores=list(snakemake.input.data),
        out=snakemake.output[0],
        params=snakemake.params.train,
        device=snakemake.params.device,
    )
