"""Rule stimuli_embedded: grayscale crops of the scikit-image photographs."""

from brainreps.data.embedded import embedded_stimuli
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params.stimulus_set
    stimuli = embedded_stimuli(params["n_images"], params["size"], params["seed"])
    write_store(stimuli, snakemake.output[0], kind="stimuli", params=params)
    log.info(
        "wrote %d stimuli of %d px to %s",
        stimuli.sizes["stimulus"],
        params["size"],
        snakemake.output[0],
    )
