"""Rule extract_archive: unpack a downloaded archive, atomically and safely."""

from brainreps.download import extract_archive
from brainreps.logs import log_to

with log_to(snakemake.log[0]):
    extract_archive(snakemake.input[0], snakemake.output[0])
