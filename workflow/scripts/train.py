"""Rule train: one training run -> its checkpoint folder and training history."""

import torch

from brainreps.logs import log_to
from brainreps.training.pipeline import train_from_store

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    settings = {**snakemake.params.settings, "device": snakemake.params.device}
    train_from_store(
        snakemake.input.stimuli,
        settings["stimuli"],
        settings,
        snakemake.wildcards.run,
        snakemake.params.work_dir,
        snakemake.output.checkpoints,
        snakemake.output.history,
        target_path=snakemake.input.get("target"),
    )
