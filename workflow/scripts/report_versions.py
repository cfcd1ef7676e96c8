"""Write the software versions of this run (results/report/versions.txt)."""

from brainreps.logs import log_to
from brainreps.report import write_versions

with log_to(snakemake.log[0]) as log:
    write_versions(snakemake.output[0], snakemake.params.versions)
    log.info("wrote %s", snakemake.output[0])
