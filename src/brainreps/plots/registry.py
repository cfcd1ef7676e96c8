"""The figures of every stage, by stage and name, with one call signature.

A figure is drawn by `function(*inputs, settings=..., title=...)`: its inputs in the order of
`reads` (each read from a file by kind: a store kind, "csv", or "groups:<kind>" for a grouped
store as {group: Dataset}), the figure's config entry (figures.<name>, defaults filled, plus
any stage option the rule adds) and a title naming the model and the data. A new stage adds
figures by adding entries here and rules that call `draw_figures`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from brainreps import io
from brainreps.plots import data, encoding, signals, similarity, spikes, textures, training, zoo
from brainreps.plots.style import save_figure


@dataclass(frozen=True)
class Figure:
    """How to draw one figure: the function and what each of its inputs is."""

    function: Callable[..., Any]
    reads: tuple[tuple[str, str], ...]  # (input name, kind) in the function's argument order

    def draw(self, inputs: Mapping[str, Any], settings: Mapping[str, Any], title: str):
        """The matplotlib figure from loaded inputs."""
        args = [inputs[name] for name, _ in self.reads]
        return self.function(*args, settings=settings, title=title)


FIGURES: dict[str, dict[str, Figure]] = {
    "data": {
        "stimuli": Figure(data.stimuli_montage, (("stimuli", "stimuli"),)),
        "recording": Figure(
            data.recording_overview, (("recording", "recording"), ("responses", "responses"))
        ),
        "rdms": Figure(similarity.neural_rdm_matrices, (("rdms", "rdms"),)),
    },
    "signals": {
        "comparison": Figure(signals.signal_comparison, (("summary", "csv"),)),
    },
    "encoding": {
        name: Figure(function, (("encoding", "encoding"),))
        for name, function in encoding.FIGURES.items()
    },
    "similarity": {
        "layer_matrices": Figure(similarity.layer_matrices, (("similarity", "similarity"),)),
        "rdms": Figure(similarity.stimulus_matrices, (("similarity", "similarity"),)),
        "sparseness": Figure(similarity.sparseness_vs_depth, (("similarity", "similarity"),)),
        "dimension": Figure(similarity.dimension_vs_depth, (("similarity", "similarity"),)),
        "histograms": Figure(similarity.activation_histograms, (("similarity", "similarity"),)),
        "rsa": Figure(similarity.rsa_matrix, (("rsa", "similarity"),)),
        "sparseness_decorrelation": Figure(
            similarity.sparseness_decorrelation, (("similarity", "similarity"),)
        ),
        "branches": Figure(similarity.branch_matrices, (("similarity", "similarity"),)),
    },
    "zoo": {name: Figure(function, (("zoo", "csv"),)) for name, function in zoo.FIGURES.items()},
    "textures": {
        name: Figure(function, (("textures", "textures"),))
        for name, function in textures.FIGURES.items()
    },
    "training": {
        "accuracy": Figure(training.accuracy_curves, (("accuracy", "csv"),)),
        "layer_matrices": Figure(training.checkpoint_matrices, (("pairs", "csv"),)),
        "sparseness": Figure(training.sparseness_vs_epoch, (("layers", "csv"),)),
        "dimension_depth": Figure(training.dimension_vs_depth, (("layers", "csv"),)),
        "dimension_accuracy": Figure(training.dimension_vs_accuracy, (("layers", "csv"),)),
        "predictivity": Figure(training.predictivity_vs_training, (("predictivity", "csv"),)),
        "robustness": Figure(training.robustness_curves, (("robustness", "csv"),)),
        "target_rsa": Figure(training.target_rsa, (("robustness", "csv"),)),
    },
    "spikes": {
        "scores": Figure(spikes.score_distributions, (("scores", "csv"),)),
        "noise": Figure(spikes.noise_curves, (("summary", "csv"),)),
        "comparison": Figure(spikes.baseline_differences, (("comparison", "csv"),)),
        "examples": Figure(
            spikes.spike_examples, (("data", "recording"), ("rates", "groups:spikes"))
        ),
    },
}


def read_input(path: str | os.PathLike, kind: str) -> Any:
    """One figure input from its file: a store (validated), a CSV table, or a store's groups."""
    if kind == "csv":
        return pd.read_csv(path)
    if kind.startswith("groups:"):
        store_kind = kind.split(":", 1)[1]
        return {
            group: io.read_store(path, store_kind, group=group, load=True)
            for group in io.store_groups(path)
        }
    return io.read_store(path, kind, load=True)


def figure(stage: str, name: str) -> Figure:
    """A registered figure; a clear error naming the valid ones otherwise."""
    if stage not in FIGURES:
        raise ValueError(f"no figures of stage {stage!r}; stages: {', '.join(FIGURES)}")
    if name not in FIGURES[stage]:
        raise ValueError(
            f"no figure {name!r} in stage {stage!r}; figures: {', '.join(FIGURES[stage])}"
        )
    return FIGURES[stage][name]


def draw_figures(
    stage: str,
    outputs: Mapping[str, str | os.PathLike],
    inputs: Mapping[str, str | os.PathLike],
    settings: Mapping[str, Mapping[str, Any]],
    title: str,
) -> None:
    """Draw figures of one stage (name -> output PNG) from input files, each file read once."""
    figures = {name: figure(stage, name) for name in outputs}
    kinds = {key: kind for f in figures.values() for key, kind in f.reads}
    missing = sorted(set(kinds) - set(inputs))
    if missing:
        raise ValueError(f"{stage} figures {list(outputs)} need inputs {missing}")
    loaded = {key: read_input(inputs[key], kind) for key, kind in kinds.items()}
    for name, fig in figures.items():
        save_figure(fig.draw(loaded, settings[name], title), outputs[name], settings[name])
