# Encoding stage: nested cross-validated ridge of every unit on every layer's projected
# features; the encoding store, its tidy CSV, and figures per (model, dataset).


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
        "../scripts/encoding_scores.py"


rule encoding_figure_layers:
    """Median score per layer per area, inter-quartile range shaded."""
    input:
        encoding=f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        layers=report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_layers.png",
            caption="../report/encoding_layers.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        stage="encoding",
        settings=lambda w: {"layers": figure_settings("encoding_layers")},
        title=lambda w: f"{w.model} vs {w.dataset}",
    log:
        log_path("encoding_figure_layers", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule encoding_figure_best_layer:
    """Fraction of each area's units best predicted by each layer."""
    input:
        encoding=f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        best_layer=report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_best_layer.png",
            caption="../report/encoding_best_layer.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        stage="encoding",
        settings=lambda w: {"best_layer": figure_settings("encoding_best_layer")},
        title=lambda w: f"{w.model} vs {w.dataset}",
    log:
        log_path("encoding_figure_best_layer", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule encoding_figure_distribution:
    """Distribution of normalised scores per area."""
    input:
        encoding=f"{RESULTS}/encoding/{{model}}/{{dataset}}.zarr",
    output:
        distribution=report(
            f"{RESULTS}/figures/encoding/{{model}}/{{dataset}}_distribution.png",
            caption="../report/encoding_distribution.rst",
            category="Encoding",
            subcategory="{model}",
        ),
    params:
        stage="encoding",
        settings=lambda w: {"distribution": figure_settings("encoding_distribution")},
        title=lambda w: f"{w.model} vs {w.dataset}",
    log:
        log_path("encoding_figure_distribution", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
