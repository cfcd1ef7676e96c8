"""Rule similarity_figure_rsa: the layer x unit-group RSA matrix."""

from brainreps import plots_similarity as plots
from brainreps.io import read_store
from brainreps.logs import log_to
from brainreps.plots import save_figure

with log_to(snakemake.log[0]):
    ds = read_store(snakemake.input[0], "similarity", load=True)
    w, settings = snakemake.wildcards, snakemake.params.figure
    fig = plots.rsa_matrix(ds, settings, f"RSA: {w.model} vs {w.dataset} (* best layer)")
    save_figure(fig, snakemake.output[0], settings)
