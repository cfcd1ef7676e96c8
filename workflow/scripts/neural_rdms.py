"""Rule neural_rdms: a file of neural RDMs, checked against its stimulus set, as a store."""

from brainreps.data.rdms import align_to_stimuli, load_rdms
from brainreps.io import read_store, write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    entry = snakemake.params.dataset
    stimuli = read_store(snakemake.input.stimuli, "stimuli")
    rdms = align_to_stimuli(
        load_rdms(snakemake.input.rdms),
        [str(s) for s in stimuli["stimulus"].values],
        exclude=entry["exclude_stimuli"],
        where=f"RDM file {snakemake.input.rdms} (datasets.{snakemake.wildcards.dataset})",
        stimulus_set=f"stimulus set {entry['stimuli']!r}",
    )
    inputs = [snakemake.input.rdms, snakemake.input.stimuli]
    write_store(rdms, snakemake.output[0], kind="rdms", params=entry, inputs=inputs)
    log.info(
        "%d %s matrices of %d stimuli (%s), %d with a noise ceiling",
        rdms.sizes["group"],
        rdms.attrs["kind"],
        rdms.sizes["stimulus"],
        rdms.attrs["format"],
        int(rdms["noise_ceiling"].notnull().sum()),
    )
