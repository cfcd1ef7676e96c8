"""Rule learning_dynamics: the similarity and encoding tables of every checkpoint, joined."""

from pathlib import Path

from brainreps.logs import log_to
from brainreps.training.pipeline import dynamics_tables


def model_of(path: str) -> str:
    """results/<stage>/<model>/<file>: the model a table belongs to."""
    return Path(path).parent.name


with log_to(snakemake.log[0]):
    dynamics_tables(
        checkpoints={m: tuple(re) for m, re in snakemake.params.checkpoints.items()},
        layer_csvs={model_of(p): p for p in snakemake.input.layers},
        pair_csvs={model_of(p): p for p in snakemake.input.pairs},
        encoding_csvs={(model_of(p), Path(p).stem): p for p in snakemake.input.encoding},
        accuracy_csv=snakemake.input.accuracy,
        outputs=dict(snakemake.output.items()),
    )
