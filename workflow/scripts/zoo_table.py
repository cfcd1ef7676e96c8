"""Rule zoo_table: one row per (model, dataset): depth, widths, best layer, accuracy, twin."""

import torch

from brainreps.logs import log_to
from brainreps.zoo import write_zoo_table

with log_to(snakemake.log[0]):
    torch.set_num_threads(snakemake.threads)
    write_zoo_table(
        runs=snakemake.params.runs,
        specs=snakemake.params.specs,
        accuracy_csv=snakemake.input.get("accuracy"),
        out=snakemake.output[0],
    )
