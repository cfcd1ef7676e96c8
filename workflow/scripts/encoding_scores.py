"""Encoding store and tidy CSV of one (model, dataset): ridge per unit per layer."""

from brainreps.encoding.pipeline import encode_stores, write_results
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    settings = snakemake.params.encoding
    ds = encode_stores(snakemake.input.projection, snakemake.input.responses, settings)
    write_results(
        ds,
        snakemake.output.store,
        snakemake.output.table,
        params=settings,
        inputs=[snakemake.input.projection, snakemake.input.responses],
        labels={"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset},
    )
    log.info(
        "wrote %s (%d units x %d layers)",
        snakemake.output.store,
        ds.sizes["unit"],
        ds.sizes["layer"],
    )
