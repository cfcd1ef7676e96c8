"""Rule photographs_stimuli: the labelled crops of the bundled photographs, as a stimuli store."""

from brainreps.data.photographs import photograph_stimuli
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params.stimulus_set
    stimuli = photograph_stimuli(
        params["photographs"],
        params["n_train_per_class"],
        params["n_test_per_class"],
        params["size"],
        params["seed"],
    )
    write_store(stimuli, snakemake.output[0], kind="stimuli", params=params)
    log.info(
        "wrote %d crops of %d classes (%s)",
        stimuli.sizes["stimulus"],
        len(stimuli.attrs["classes"]),
        ", ".join(stimuli.attrs["classes"]),
    )
