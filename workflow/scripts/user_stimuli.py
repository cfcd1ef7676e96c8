"""Rule user_stimuli: user images (an array file or a folder) as the stimuli store."""

from brainreps.data.images import user_stimuli
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params.stimulus_set
    stimuli = user_stimuli(params)
    write_store(
        stimuli, snakemake.output[0], kind="stimuli", params=params, inputs=[params["path"]]
    )
    log.info(
        "wrote %d images of %s px (%s) to %s",
        stimuli.sizes["stimulus"],
        stimuli["pixels"].shape[1:],
        "blank " + params["blank"] if params["blank"] != "none" else "no blank",
        snakemake.output[0],
    )
