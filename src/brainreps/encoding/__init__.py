"""Ridge-regression encoding models: how well each layer predicts each neuron.

`ridge` (nested cross-validated multi-target ridge, one decomposition per fold), `scores`
(Pearson r, r², noise-ceiling normalisation), `pipeline` (stores in, encoding store out),
`backend` (numpy or torch), `runs` (which dataset x model pairs the workflow scores).
Names are imported lazily so that `brainreps.encoding.runs` stays light for Snakemake.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "align_responses": "pipeline",
    "check_responses": "pipeline",
    "encode_layers": "pipeline",
    "encode_stores": "pipeline",
    "encoding_table": "pipeline",
    "resolve_settings": "pipeline",
    "write_results": "pipeline",
    "encoding_runs": "runs",
    "CrossValidatedRidge": "ridge",
    "RidgeCVFit": "ridge",
    "alpha_grid": "ridge",
    "cross_validated_ridge": "ridge",
    "kfold_splits": "ridge",
    "ridge_cv_predict": "ridge",
    "coefficient_of_determination": "scores",
    "normalized_score": "scores",
    "pearson_r": "scores",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"brainreps.encoding.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'brainreps.encoding' has no attribute {name!r}")
