"""Rule similarity_layers: one streamed pass per layer -> the similarity store and tidy CSVs."""

from threadpoolctl import threadpool_limits

from brainreps import io
from brainreps.logs import log_to
from brainreps.similarity.analysis import SimilarityParams, analyze_store, layer_table, pair_table

with log_to(snakemake.log[0]), threadpool_limits(snakemake.threads):
    settings = snakemake.params.similarity
    kind = "projection" if settings.get("use_projection") else "features"
    ds = analyze_store(snakemake.input[0], SimilarityParams.from_config(settings), kind=kind)
    labels = {"model": snakemake.wildcards.model, "stimuli": snakemake.wildcards.stimuli}
    io.write_store(
        ds,
        snakemake.output.store,
        kind="similarity",
        params=settings,
        inputs=[snakemake.input[0]],
        attrs={**labels, "source": kind},
    )
    with io.atomic_path(snakemake.output.layers) as tmp:
        layer_table(ds, **labels).to_csv(tmp, index=False)
    with io.atomic_path(snakemake.output.pairs) as tmp:
        pair_table(ds, **labels).to_csv(tmp, index=False)
