"""Rule spikes_data: a ground-truth dataset as a recording store with spikes."""

from brainreps.data.ground_truth import ground_truth_recording
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    entry = dict(snakemake.params.entry)
    inputs = dict(snakemake.input.items())
    recording = ground_truth_recording(
        entry, recording=inputs.get("recording"), download=inputs.get("download")
    )
    write_store(
        recording, snakemake.output[0], kind="recording", params=entry, inputs=list(snakemake.input)
    )
    log.info(
        "%s: %d units x %d frames at %g Hz",
        snakemake.wildcards.gt,
        recording.sizes["unit"],
        recording.sizes["time"],
        recording.attrs["frame_rate"],
    )
