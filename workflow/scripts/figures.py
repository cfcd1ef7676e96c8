"""Every figure rule: draw the rule's named outputs from its inputs (brainreps.plots registry)."""

from brainreps.logs import log_to
from brainreps.plots.registry import draw_figures

with log_to(snakemake.log[0]):
    draw_figures(
        stage=snakemake.params.stage,
        outputs=dict(snakemake.output.items()),
        inputs=dict(snakemake.input.items()),
        settings=snakemake.params.settings,
        title=snakemake.params.title,
    )
