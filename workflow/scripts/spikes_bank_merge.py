"""Rule spikes_bank_merge: one bank directory from several training sets' banks."""

from brainreps.logs import log_to
from brainreps.spikes import bank

with log_to(snakemake.log[0]) as log:
    banks = [bank.load(path) for path in snakemake.input.banks]
    bank.merge(banks, snakemake.output[0])
    log.info(
        "%s: %d members from %d banks (indicators %s)",
        snakemake.output[0],
        sum(len(b.members) for b in banks),
        len(banks),
        sorted({i for b in banks for i in b.indicators()}),
    )
