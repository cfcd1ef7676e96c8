"""Rule spikes_benchmark: every method on every ground-truth dataset, cross-validated."""

from brainreps.logs import log_to
from brainreps.spikes.pipeline import benchmark_stores

with log_to(snakemake.log[0]):
    benchmark_stores(
        names=snakemake.params.names,
        data=list(snakemake.input.data),
        methods=snakemake.params.methods,
        cv=snakemake.params.cv,
        measures=snakemake.params.measures,
        scores_path=snakemake.output.scores,
        timing_path=snakemake.output.timing,
        rates_paths=list(snakemake.output.rates),
        models_dir=snakemake.output.models,
        comparison_path=snakemake.output.comparison,
        threads=snakemake.threads,
    )
