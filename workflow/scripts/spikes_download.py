"""Rule spikes_download: fetch a ground-truth file or archive by URL (checksum, retries)."""

from brainreps.download import fetch
from brainreps.logs import log_to

with log_to(snakemake.log[0]) as log:
    p = snakemake.params
    fetch(p.url, snakemake.output[0], sha256=p.sha256, md5=p.md5, progress=True)
    log.info("fetched %s -> %s", p.url, snakemake.output[0])
