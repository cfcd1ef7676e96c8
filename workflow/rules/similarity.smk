# Similarity stage: per (model, stimulus set) one streamed pass per layer -> RDMs, layer x
# layer second-order similarity and CKA, sparseness, intrinsic/linear dimension; RSA of every
# layer against neural RDMs per unit group for every (model, dataset) on the same stimuli.


rule similarity_layers:
    """RDMs, layer x layer similarity and CKA, sparseness, TwoNN and linear dimension."""
    input:
        similarity_source,
    output:
        store=directory(f"{RESULTS}/similarity/{{model}}/{{stimuli}}.zarr"),
        layers=f"{RESULTS}/similarity/{{model}}/{{stimuli}}_layers.csv",
        pairs=f"{RESULTS}/similarity/{{model}}/{{stimuli}}_layer_pairs.csv",
    params:
        similarity=lambda w: similarity_settings(),
    wildcard_constraints:
        stimuli=names_of("stimulus_sets"),
    threads: similarity_threads
    log:
        log_path("similarity_layers", "model", "stimuli"),
    resources:
        mem_mb=similarity_mem_mb,
        runtime=120,
    script:
        "../scripts/similarity_layers.py"


rule similarity_rsa:
    """Spearman RSA of every layer's RDM with the neural RDM of every unit group (or every
    matrix of a dataset of RDMs)."""
    input:
        unpack(neural_input),
        similarity=lambda w: f"{RESULTS}/similarity/{w.model}/{stimulus_set_of(w.dataset)}.zarr",
    output:
        store=directory(f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.zarr"),
        table=f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.csv",
    params:
        rsa=config["similarity"]["rsa"],
        seed=config["similarity"]["seed"],
    wildcard_constraints:
        dataset=names_of("datasets"),
    threads: 1
    log:
        log_path("similarity_rsa", "model", "dataset"),
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/similarity_rsa.py"


rule similarity_figures:
    """Layer x layer matrices, ordered RDMs, sparseness, dimension and histograms (one job:
    with ~3 s of start-up per job, five figure jobs would cost more than the figures)."""
    input:
        similarity=f"{RESULTS}/similarity/{{model}}/{{stimuli}}.zarr",
    output:
        **{
            _figure: report(
                f"{RESULTS}/figures/similarity/{{model}}/{{stimuli}}_{_figure}.png",
                caption=f"../report/similarity_{_figure}.rst",
                category="Similarity",
                subcategory="{model}",
            )
            for _figure in SIMILARITY_FIGURES
        },
    params:
        stage="similarity",
        settings=lambda w: {
            _figure: figure_settings(f"similarity_{_figure}", plot_layers=plot_layers_of(w.model))
            if _figure == "rdms"
            else figure_settings(f"similarity_{_figure}")
            for _figure in SIMILARITY_FIGURES
        },
        title=lambda w: f"{w.model} on {w.stimuli}",
    wildcard_constraints:
        stimuli=names_of("stimulus_sets"),
    log:
        log_path("similarity_figures", "model", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule similarity_figure_branches:
    """Layer x layer matrices with inception branches as layers, module borders framed."""
    input:
        similarity=f"{RESULTS}/similarity/{{model}}/{{stimuli}}.zarr",
    output:
        branches=report(
            f"{RESULTS}/figures/similarity/{{model}}/{{stimuli}}_branches.png",
            caption="../report/similarity_branches.rst",
            category="Similarity",
            subcategory="{model}",
        ),
    params:
        stage="similarity",
        settings=lambda w: {
            "branches": figure_settings(
                "similarity_branches",
                branches=config["models"][w.model]["branches"],
                note=branch_note(w.model),
            )
        },
        title=lambda w: f"{w.model} on {w.stimuli}: inception branches",
    wildcard_constraints:
        stimuli=names_of("stimulus_sets"),
    log:
        log_path("similarity_figure_branches", "model", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule similarity_figure_rsa:
    """Layer x unit-group RSA matrix."""
    input:
        rsa=f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.zarr",
    output:
        rsa=report(
            f"{RESULTS}/figures/similarity/{{model}}/{{dataset}}_rsa.png",
            caption="../report/similarity_rsa.rst",
            category="Similarity",
            subcategory="{model}",
        ),
    params:
        stage="similarity",
        settings=lambda w: {"rsa": figure_settings("similarity_rsa")},
        title=lambda w: f"RSA: {w.model} vs {w.dataset} (* best layer)",
    wildcard_constraints:
        dataset=names_of("datasets"),
    log:
        log_path("similarity_figure_rsa", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
