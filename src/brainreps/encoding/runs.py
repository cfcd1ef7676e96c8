"""Which (dataset, model) pairs the workflow scores; light to import (read at DAG build)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def encoding_runs(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dataset, model) pairs the workflow scores: the config's encoding.runs, or by default
    every dataset of units (not the RDM datasets, source rdms) with every model whose stimulus
    sets (a model's optional `stimuli` key: a name or a list) include the dataset's stimulus
    set. The pairs' names are checked by brainreps.config_checks."""
    datasets = config.get("datasets", {})
    models = config.get("models", {}) or {}
    runs = (config.get("encoding") or {}).get("runs") or []
    if runs:
        return list(dict.fromkeys((run["dataset"], run["model"]) for run in runs))
    out = []
    for dataset, entry in datasets.items():
        if entry.get("source") == "rdms":
            continue
        for model, spec in models.items():
            sets = spec.get("stimuli") if isinstance(spec, Mapping) else None
            if sets is None or entry.get("stimuli") in ([sets] if isinstance(sets, str) else sets):
                out.append((dataset, model))
    return out
