"""Rule encoding_model: one layer's ridge weights of a dataset's reliable units, saved."""

from brainreps.encoding.fitted import fit_encoding_model
from brainreps.logs import log_to

with log_to(snakemake.log[0]):
    fitted = snakemake.params.fitted
    fit_encoding_model(
        snakemake.input.projection,
        snakemake.input.responses,
        snakemake.input.encoding,
        snakemake.params.network,
        snakemake.wildcards.model,
        snakemake.wildcards.dataset,
        fitted["min_reliability"],
        fitted["layer"],
    ).save(snakemake.output[0])
