"""Rule training_accuracy: every checkpoint's held-out and training-set accuracy."""

import torch

from brainreps.logs import log_to
from brainreps.training.pipeline import checkpoint_accuracy

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    settings = {**snakemake.params.settings, "device": snakemake.params.device}
    checkpoint_accuracy(
        snakemake.input.stimuli,
        settings["stimuli"],
        settings,
        snakemake.wildcards.run,
        snakemake.input.checkpoints,
        snakemake.output.store,
        snakemake.output.table,
        snakemake.output.robustness,
        target_path=snakemake.input.get("target"),
    )
