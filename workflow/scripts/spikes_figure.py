"""Rules spikes_figure_*: score distributions, example traces, noise curves."""

from brainreps.logs import log_to
from brainreps.spikes.benchmark import figure_rule

with log_to(snakemake.log[0]):
    figure_rule(
        kind=snakemake.params.kind,
        inputs=dict(snakemake.input.items()) or {"table": snakemake.input[0]},
        output=snakemake.output[0],
        settings=snakemake.params.figure,
        n_examples=getattr(snakemake.params, "n_examples", 3),
    )
