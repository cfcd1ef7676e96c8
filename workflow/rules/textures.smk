# Texture stage: per model and labelled texture set, each layer's Gram matrices (streamed,
# one batch in memory) classified by a nearest-class-mean classifier; figures of the accuracy
# per layer, the best layer's confusion matrix and its Gram matrices.


rule texture_analysis:
    """Gram matrices of every layer on a labelled set; accuracy and confusion per layer."""
    input:
        stimuli=f"{RESULTS}/stimuli/{{stimuli}}.zarr",
        weights=model_weights_input,
    output:
        store=directory(f"{RESULTS}/textures/{{model}}/{{stimuli}}.zarr"),
        table=f"{RESULTS}/textures/{{model}}/{{stimuli}}.csv",
    params:
        model=lambda w: model_settings(w.model),
        textures={k: v for k, v in TEXTURES.items() if k not in ("stimuli", "models")},
        device=config["features"]["device"],
    wildcard_constraints:
        stimuli=alternatives(TEXTURES["stimuli"]),
    threads: 2
    log:
        log_path("texture_analysis", "model", "stimuli"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpu_request,
    script:
        "../scripts/texture_analysis.py"


rule texture_figures:
    """Accuracy per layer, the best layer's confusion matrix and Gram matrices."""
    input:
        textures=f"{RESULTS}/textures/{{model}}/{{stimuli}}.zarr",
    output:
        **{
            _figure: report(
                f"{RESULTS}/figures/textures/{{model}}/{{stimuli}}_{_figure}.png",
                caption=f"../report/textures_{_figure}.rst",
                category="Textures",
                subcategory="{model}",
            )
            for _figure in TEXTURE_FIGURES
        },
    params:
        stage="textures",
        settings={_f: figure_settings(f"textures_{_f}") for _f in TEXTURE_FIGURES},
        title=lambda w: f"Gram-matrix texture classification: {w.model} on {w.stimuli}",
    wildcard_constraints:
        stimuli=alternatives(TEXTURES["stimuli"]),
    log:
        log_path("texture_figures", "model", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
