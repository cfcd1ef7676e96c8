"""Rule allen_recording: the extracted natural-scenes session(s) as the recording store."""

from brainreps.data.allen import recording_from_extract
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    window = tuple(snakemake.params.segment_window)
    recording = recording_from_extract(snakemake.input[0], segment_window=window)
    write_store(
        recording,
        snakemake.output[0],
        kind="recording",
        params={"segment_window": list(window)},
        inputs=[snakemake.input[0]],
    )
    log.info(
        "%d units x %d frames, %d natural-scenes trials (%d blank presentations dropped)%s",
        recording.sizes["unit"],
        recording.sizes["time"],
        recording.sizes["trial"],
        recording.attrs["n_blank_presentations"],
        ", pseudo-population of several sessions" if recording.attrs["pseudo_population"] else "",
    )
