"""Rule model_accuracy: a pretrained classifier's top-1/top-5 on a labelled ImageNet subset."""

import torch

from brainreps.logs import log_to
from brainreps.training.pipeline import pretrained_accuracy

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    pretrained_accuracy(
        snakemake.params.model,
        snakemake.input.stimuli,
        snakemake.wildcards.model,
        snakemake.wildcards.stimuli,
        snakemake.output[0],
        device=snakemake.params.device,
    )
