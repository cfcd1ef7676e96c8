"""Every figure of the pipeline: one style file, one atomic save, one registry per stage.

`style` sets the look (brainreps.mplstyle) and writes figures (`save_figure`); each stage's
module draws from arrays (`data`, `encoding`, `similarity`, `spikes`); `registry` names every
figure by stage with one call signature, and `draw_figures` is what the figure rules run.
"""

from brainreps.plots.style import figure_settings, save_figure

__all__ = ["figure_settings", "save_figure"]
