"""Rule recording_figure: example traces and reliability per area."""

from brainreps.io import read_store
from brainreps.logs import log_to
from brainreps.plots import recording_overview, save_figure

with log_to(snakemake.log[0]):
    recording = read_store(snakemake.input.recording, "recording", load=True)
    responses = read_store(snakemake.input.responses, "responses", load=True)
    fig = recording_overview(recording, responses, snakemake.params.figure)
    save_figure(fig, snakemake.output[0], snakemake.params.figure)
