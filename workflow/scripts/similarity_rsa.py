"""Rule similarity_rsa: neural RDMs per unit group, noise ceilings, Spearman RSA per layer."""

from threadpoolctl import threadpool_limits

from brainreps import io
from brainreps.logs import log_to
from brainreps.similarity.rsa import rsa, rsa_table

with log_to(snakemake.log[0]), threadpool_limits(snakemake.threads):
    settings = snakemake.params.rsa
    model, dataset = snakemake.wildcards.model, snakemake.wildcards.dataset
    ds = rsa(
        io.read_store(snakemake.input.similarity, "similarity", load=True),
        io.read_store(snakemake.input.responses, "responses", load=True),
        model_name=f"{model} ({snakemake.input.similarity})",
        dataset_name=f"{dataset} ({snakemake.input.responses})",
        kinds=settings["groups"],
        depth_bins=settings["depth_bins"] or None,
        min_units=settings["min_units"],
        n_splits=settings["n_splits"],
        seed=snakemake.params.seed,
    )
    labels = {"model": model, "dataset": dataset}
    io.write_store(
        ds,
        snakemake.output.store,
        kind="similarity",
        params={"rsa": settings, "seed": snakemake.params.seed},
        inputs=[snakemake.input.similarity, snakemake.input.responses],
        attrs=labels,
    )
    with io.atomic_path(snakemake.output.table) as tmp:
        rsa_table(ds, **labels).to_csv(tmp, index=False)
