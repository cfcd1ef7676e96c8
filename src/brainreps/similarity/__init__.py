"""Layer-wise representational similarity, sparseness, intrinsic dimension and RSA vs brain."""

from brainreps.similarity.cka import cka_matrix, linear_cka, linear_cka_gram
from brainreps.similarity.dimension import linear_dimension, twonn, twonn_points
from brainreps.similarity.rdm import (
    GramAccumulator,
    SimilarityInputError,
    correlation_matrix,
    correlation_rdm,
    gram_stats,
)
from brainreps.similarity.sparseness import (
    fraction_nonzero,
    lifetime_sparseness,
    population_sparseness,
)

__all__ = [
    "GramAccumulator",
    "SimilarityInputError",
    "cka_matrix",
    "correlation_matrix",
    "correlation_rdm",
    "fraction_nonzero",
    "gram_stats",
    "lifetime_sparseness",
    "linear_cka",
    "linear_cka_gram",
    "linear_dimension",
    "population_sparseness",
    "twonn",
    "twonn_points",
]
