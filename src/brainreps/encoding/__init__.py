"""Ridge-regression encoding models: how well each layer predicts each neuron.

`ridge` (nested cross-validated multi-target ridge, one decomposition per fold), `scores`
(Pearson r, r², noise-ceiling normalisation), `pipeline` (stores in, encoding store out),
`backend` (numpy or torch).
"""

from brainreps.encoding.pipeline import (
    align_responses,
    check_responses,
    encode_layers,
    encode_stores,
    encoding_runs,
    encoding_table,
    resolve_settings,
    write_results,
)
from brainreps.encoding.ridge import (
    CrossValidatedRidge,
    RidgeCVFit,
    alpha_grid,
    cross_validated_ridge,
    kfold_splits,
    ridge_cv_predict,
)
from brainreps.encoding.scores import coefficient_of_determination, normalized_score, pearson_r

__all__ = [
    "CrossValidatedRidge",
    "RidgeCVFit",
    "align_responses",
    "alpha_grid",
    "check_responses",
    "coefficient_of_determination",
    "cross_validated_ridge",
    "encode_layers",
    "encode_stores",
    "encoding_runs",
    "encoding_table",
    "kfold_splits",
    "normalized_score",
    "pearson_r",
    "resolve_settings",
    "ridge_cv_predict",
    "write_results",
]
