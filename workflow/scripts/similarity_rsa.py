"""Rule similarity_rsa: Spearman RSA of every layer's RDM with neural RDMs, per unit group of
a responses store (and their split-half noise ceilings), or per matrix of an RDM dataset."""

from threadpoolctl import threadpool_limits

from brainreps import io
from brainreps.logs import log_to
from brainreps.similarity.rsa import rsa, rsa_against, rsa_table

with log_to(snakemake.log[0]), threadpool_limits(snakemake.threads):
    settings = snakemake.params.rsa
    model, dataset = snakemake.wildcards.model, snakemake.wildcards.dataset
    similarity = io.read_store(snakemake.input.similarity, "similarity", load=True)
    if "rdms" in snakemake.input.keys():
        neural = snakemake.input.rdms
        ds = rsa_against(
            similarity,
            io.read_store(neural, "rdms", load=True),
            model_name=f"{model} ({snakemake.input.similarity})",
            dataset_name=f"{dataset} ({neural})",
        )
        params = {}
    else:
        neural = snakemake.input.responses
        ds = rsa(
            similarity,
            io.read_store(neural, "responses", load=True),
            model_name=f"{model} ({snakemake.input.similarity})",
            dataset_name=f"{dataset} ({neural})",
            kinds=settings["groups"],
            depth_bins=settings["depth_bins"] or None,
            min_units=settings["min_units"],
            n_splits=settings["n_splits"],
            seed=snakemake.params.seed,
        )
        params = {"rsa": settings, "seed": snakemake.params.seed}
    labels = {"model": model, "dataset": dataset}
    io.write_store(
        ds,
        snakemake.output.store,
        kind="similarity",
        params=params,
        inputs=[snakemake.input.similarity, neural],
        attrs=labels,
    )
    with io.atomic_path(snakemake.output.table) as tmp:
        rsa_table(ds, **labels).to_csv(tmp, index=False)
