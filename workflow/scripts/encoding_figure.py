"""One encoding figure (layers, best_layer or distribution) of a (model, dataset)."""

from brainreps.io import read_store
from brainreps.logs import log_to
from brainreps.plots import save_figure
from brainreps.plots_encoding import FIGURES

with log_to(snakemake.log[0]):
    ds = read_store(snakemake.input[0], "encoding", load=True)
    settings = snakemake.params.figure
    title = f"{snakemake.wildcards.model} vs {snakemake.wildcards.dataset}"
    fig = FIGURES[snakemake.params.kind](ds, title=title, settings=settings)
    save_figure(fig, snakemake.output[0], settings)
