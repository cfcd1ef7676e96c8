"""Sparse random projection of every layer of a features store -> projection store."""

from brainreps.logs import log_to
from brainreps.projection import project_store

with log_to(snakemake.log[0]):
    settings = snakemake.params.projection
    project_store(
        snakemake.input[0],
        snakemake.output[0],
        n_components=settings["n_components"],
        eps=settings["eps"],
        density=settings["density"],
        seed=settings["seed"],
        small_layers=settings["small_layers"],
        device=snakemake.params.device,
        params={"projection": settings, "device": snakemake.params.device},
        inputs=[snakemake.input[0]],
    )
