"""Rule accuracy_table: every checkpoint's and pretrained model's accuracy in one table."""

from brainreps.logs import log_to
from brainreps.training.pipeline import accuracy_table

with log_to(snakemake.log[0]):
    accuracy_table(
        list(snakemake.input.accuracy),
        snakemake.output.accuracy,
        list(snakemake.input.robustness),
        snakemake.output.robustness,
    )
