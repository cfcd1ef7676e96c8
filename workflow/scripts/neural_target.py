"""Rule neural_target: an encoding model's predicted responses to every image of a set."""

from brainreps.logs import log_to
from brainreps.training.pipeline import neural_target_store

with log_to(snakemake.log[0]):
    neural_target_store(
        snakemake.input.model,
        snakemake.input.stimuli,
        snakemake.output[0],
        expected_arch=snakemake.params.arch,
        device=snakemake.params.device,
    )
