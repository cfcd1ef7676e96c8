"""Rule spikes_noise: scores vs SNR per method and the SNR where each score halves."""

from brainreps.logs import log_to
from brainreps.spikes.pipeline import noise_stores

with log_to(snakemake.log[0]):
    noise_stores(
        names=snakemake.params.names,
        data=list(snakemake.input.data),
        models_dir=snakemake.input.models,
        methods=snakemake.params.methods,
        noise=snakemake.params.noise,
        sweep_path=snakemake.output.sweep,
        summary_path=snakemake.output.summary,
        threads=snakemake.threads,
    )
