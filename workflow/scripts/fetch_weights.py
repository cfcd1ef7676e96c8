"""Download a model's pretrained weights into the library cache (submit host); write a marker."""

import json

from brainreps.io import atomic_path
from brainreps.logs import log_to
from brainreps.models import prefetch_weights

with log_to(snakemake.log[0]) as log:
    info = prefetch_weights(snakemake.params.arch, snakemake.params.weights)
    log.info("weights: %s", info)
    with atomic_path(snakemake.output[0]) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
