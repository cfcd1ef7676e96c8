"""Rule texture_analysis: Gram matrices of a model's layers on a labelled set, classified."""

import torch

from brainreps.logs import log_to
from brainreps.similarity.textures import texture_analysis

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    texture_analysis(
        snakemake.input.stimuli,
        snakemake.params.model,
        snakemake.params.textures,
        snakemake.output.store,
        snakemake.output.table,
        name=snakemake.wildcards.stimuli,
        model_name=snakemake.wildcards.model,
        device=snakemake.params.device,
        params={"model": snakemake.params.model, "textures": snakemake.params.textures},
    )
