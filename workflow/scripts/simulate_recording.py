"""Rule simulate_recording: a model V1 population imaged at the configured frame rate."""

from brainreps.data.simulate import simulate_recording
from brainreps.io import read_store, write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    stimuli = read_store(snakemake.input.stimuli, "stimuli", load=True)
    params = snakemake.params.simulation
    recording = simulate_recording(stimuli["pixels"].values, stimuli["stimulus"].values, params)
    recording.attrs["stimulus_set"] = snakemake.params.stimulus_set
    write_store(
        recording,
        snakemake.output[0],
        kind="recording",
        params=params,
        inputs=[snakemake.input.stimuli],
    )
    log.info("simulated %d units x %d frames", recording.sizes["unit"], recording.sizes["time"])
