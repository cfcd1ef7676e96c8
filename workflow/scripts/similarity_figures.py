"""Rule similarity_figures: the per-(model, stimulus set) figures of a similarity store."""

from brainreps import plots_similarity as plots
from brainreps.io import read_store
from brainreps.logs import log_to
from brainreps.plots import save_figure

with log_to(snakemake.log[0]):
    ds = read_store(snakemake.input[0], "similarity", load=True)
    settings = snakemake.params.figures
    title = f"{snakemake.wildcards.model} on {snakemake.wildcards.stimuli}"
    makers = {
        "layer_matrices": lambda s: plots.layer_matrices(ds, s, title),
        "rdms": lambda s: plots.stimulus_matrices(ds, snakemake.params.plot_layers, s, title),
        "sparseness": lambda s: plots.sparseness_vs_depth(ds, s, title),
        "dimension": lambda s: plots.dimension_vs_depth(ds, s, title),
        "histograms": lambda s: plots.activation_histograms(ds, s, title),
    }
    for name, make in makers.items():
        save_figure(make(settings[name]), snakemake.output[name], settings[name])
