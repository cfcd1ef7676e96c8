"""Rule imagenet_stimuli: N images per class from an ImageNet-style folder, as a stimuli store."""

from brainreps.data.imagenet import imagenet_stimuli
from brainreps.io import write_store
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    params = snakemake.params.stimulus_set
    folder = snakemake.input.get("folder") or params["folder"]
    stimuli = imagenet_stimuli(
        folder,
        n_per_class=params["n_per_class"],
        size=params["size"],
        seed=params["seed"],
        classes=params.get("classes"),
        max_classes=params.get("max_classes"),
        subdir=params.get("subdir"),
        origin=params.get("url") or params.get("folder"),
    )
    write_store(stimuli, snakemake.output[0], kind="stimuli", params=params, inputs=[folder])
    log.info(
        "wrote %d stimuli of %d classes",
        stimuli.sizes["stimulus"],
        len(set(stimuli["label"].values)),
    )
