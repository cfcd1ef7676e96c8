"""Rule allen_stimuli: the natural scenes templates (grayscale, resized) as the stimuli store."""

from brainreps.data.allen import stimuli_from_extract
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params.stimulus_set
    stimuli = stimuli_from_extract(snakemake.input[0], params.get("size"), params.get("square"))
    write_store(
        stimuli, snakemake.output[0], kind="stimuli", params=params, inputs=[snakemake.input[0]]
    )
    log.info(
        "wrote %d templates of %s px to %s",
        stimuli.sizes["stimulus"],
        stimuli["pixels"].shape[1:],
        snakemake.output[0],
    )
