"""Write the configuration this run used (results/report/config.yaml)."""

from brainreps.logs import log_to
from brainreps.report import write_config

with log_to(snakemake.log[0]) as log:
    write_config(snakemake.output[0], snakemake.params.config)
    log.info("wrote %s", snakemake.output[0])
