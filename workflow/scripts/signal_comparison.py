"""Rule signal_comparison: each signal's responses encoded by one model; per area the noise
ceiling and the best layer's predictivity."""

from threadpoolctl import threadpool_limits

from brainreps.logs import log_to
from brainreps.signals import compare_signals

with log_to(snakemake.log[0]), threadpool_limits(snakemake.threads):
    signals = snakemake.params.signals
    compare_signals(
        snakemake.input.projection,
        dict(zip(signals, snakemake.input.responses, strict=True)),
        {snakemake.params.main: snakemake.input.encoding}
        if "encoding" in snakemake.input.keys()
        else {},
        snakemake.params.encoding,
        snakemake.output.summary,
        snakemake.output.units,
        labels={"model": snakemake.wildcards.model, "dataset": snakemake.wildcards.dataset},
    )
