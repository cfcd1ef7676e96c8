"""Rule download_archive: fetch one archive by URL, resumed, retried and checksum-verified."""

from brainreps.download import fetch
from brainreps.logs import log_to

with log_to(snakemake.log[0]):
    entry = snakemake.params.download
    fetch(entry["url"], snakemake.output[0], sha256=entry.get("sha256"), md5=entry.get("md5"))
