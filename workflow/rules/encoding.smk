# Encoding stage: nested cross-validated ridge of every unit on every layer's projected
# features; the encoding store, its tidy CSV, and figures per (model, dataset).
from brainreps.encoding.runs import encoding_runs as _encoding_runs


def encoding_settings():
    """The encoding section minus `runs`: exactly what a score depends on."""
    return {k: v for k, v in config.get("encoding", {}).items() if k != "runs"}


try:
    ENCODING_RUNS = _encoding_runs(config)
except ValueError as exc:
    raise WorkflowError(str(exc)) from None

ENCODING_FIGURES = ("layers", "best_layer", "distribution")


rule encoding_scores:
    """Ridge (alpha per unit by inner CV) of each unit's mean response on each layer; held-out scores."""
    input:
        projection=lambda w: f"{RESULTS}/projection/{w.model}/{stimulus_set_of(w.dataset)}.zarr",
        responses=f"{RESULTS}/responses/{{dataset}}.zarr",
    output:
        store=directory(f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr"),
        table=f"{RESULTS}/encoding/{{model}}/{{dataset}}.csv",
    params:
        encoding=lambda w: encoding_settings(),
    threads: 2
    log:
        log_path("encoding_scores", "model", "dataset"),
    resources:
        mem_mb=8000,
        runtime=120,
    script:
        "../scripts/encoding.py"


rule encoding_figure_layers:
    """Median score per layer per area, inter-quartile range shaded."""
    input:
        f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_layers.png",
            caption="../report/encoding_layers.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        figure=config.get("figures", {}).get("encoding_layers", {}),
        kind="layers",
    log:
        log_path("encoding_figure_layers", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/encoding_figure.py"


rule encoding_figure_best_layer:
    """Fraction of each area's units best predicted by each layer."""
    input:
        f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_best_layer.png",
            caption="../report/encoding_best_layer.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        figure=config.get("figures", {}).get("encoding_best_layer", {}),
        kind="best_layer",
    log:
        log_path("encoding_figure_best_layer", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/encoding_figure.py"


rule encoding_figure_distribution:
    """Distribution of normalised scores per area."""
    input:
        f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_distribution.png",
            caption="../report/encoding_distribution.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        figure=config.get("figures", {}).get("encoding_distribution", {}),
        kind="distribution",
    log:
        log_path("encoding_figure_distribution", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/encoding_figure.py"


for _dataset, _model in ENCODING_RUNS:
    TARGETS.append(f"{RESULTS}/encoding/{_model}/{_dataset}.csv")
    TARGETS.extend(
        f"{RESULTS}/figures/encoding/{_model}/{_dataset}_{_figure}.png"
        for _figure in ENCODING_FIGURES
    )
