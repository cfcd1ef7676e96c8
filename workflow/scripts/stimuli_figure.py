"""Rule stimuli_figure: a montage of a stimulus set."""

from brainreps.io import read_store
from brainreps.logs import log_to
from brainreps.plots import save_figure, stimuli_montage

with log_to(snakemake.log[0]):
    stimuli = read_store(snakemake.input[0], "stimuli", load=True)
    save_figure(
        stimuli_montage(stimuli, snakemake.params.figure),
        snakemake.output[0],
        snakemake.params.figure,
    )
