# Similarity stage: per (model, stimulus set) one streamed pass per layer -> RDMs, layer x
# layer second-order similarity and CKA, sparseness, intrinsic/linear dimension; RSA of every
# layer against neural RDMs per unit group for every (model, dataset) on the same stimuli.

SIMILARITY_FIGURES = ("layer_matrices", "rdms", "sparseness", "dimension", "histograms")


def similarity_settings():
    """What the per-layer results depend on: the section minus figure and RSA settings."""
    section = config.get("similarity", {})
    return {k: v for k, v in section.items() if k not in ("plot_layers", "rsa")}


def _model_sets(spec):
    sets = spec.get("stimuli") if isinstance(spec, dict) else None
    return None if sets is None else ([sets] if isinstance(sets, str) else list(sets))


def similarity_runs():
    """(model, stimulus set) pairs: every model with every stimulus set it is run on."""
    out = []
    for model, spec in (config.get("models") or {}).items():
        sets = _model_sets(spec)
        out += [(model, s) for s in config["stimulus_sets"] if sets is None or s in sets]
    return out


def similarity_rsa_runs():
    """(model, dataset) pairs whose stimulus set has a similarity store."""
    runs = set(similarity_runs())
    return [
        (m, d) for m in (config.get("models") or {}) for d in config["datasets"]
        if (m, stimulus_set_of(d)) in runs
    ]


def similarity_source(wildcards):
    """The features store, or the projection store when similarity.use_projection is set."""
    kind = "projection" if config.get("similarity", {}).get("use_projection") else "features"
    return f"{RESULTS}/{kind}/{wildcards.model}/{wildcards.stimuli}.zarr"


def _small_set(stimuli):
    return config["stimulus_sets"][stimuli].get("n_images", 10**9) <= 1000


def similarity_threads(wildcards):
    """1 for small stimulus sets (their products run on one BLAS thread anyway), else 2."""
    return 1 if _small_set(wildcards.stimuli) else 2


def similarity_mem_mb(wildcards):
    """Memory: small sets need little; N = 5,000 x 20 layers needs ~8 GB (RDMs + Grams)."""
    return 2000 if _small_set(wildcards.stimuli) else 16000


def _names(section):
    return "|".join(config.get(section) or {}) or "(?!x)x"


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
        stimuli=_names("stimulus_sets"),
    threads: similarity_threads
    log:
        log_path("similarity_layers", "model", "stimuli"),
    resources:
        mem_mb=similarity_mem_mb,
        runtime=120,
    script:
        "../scripts/similarity_layers.py"


rule similarity_rsa:
    """Spearman RSA of every layer's RDM with the neural RDM of every unit group."""
    input:
        similarity=lambda w: f"{RESULTS}/similarity/{w.model}/{stimulus_set_of(w.dataset)}.zarr",
        responses=f"{RESULTS}/responses/{{dataset}}.zarr",
    output:
        store=directory(f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.zarr"),
        table=f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.csv",
    params:
        rsa=lambda w: config.get("similarity", {}).get("rsa", {}),
        seed=lambda w: config.get("similarity", {}).get("seed", 0),
    wildcard_constraints:
        dataset=_names("datasets"),
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
        f"{RESULTS}/similarity/{{model}}/{{stimuli}}.zarr",
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
        figures={
            _figure: config.get("figures", {}).get(f"similarity_{_figure}", {})
            for _figure in SIMILARITY_FIGURES
        },
        plot_layers=config.get("similarity", {}).get("plot_layers", []),
    wildcard_constraints:
        stimuli=_names("stimulus_sets"),
    log:
        log_path("similarity_figures", "model", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/similarity_figures.py"


rule similarity_figure_rsa:
    """Layer x unit-group RSA matrix."""
    input:
        f"{RESULTS}/similarity/{{model}}/{{dataset}}_rsa.zarr",
    output:
        report(
            f"{RESULTS}/figures/similarity/{{model}}/{{dataset}}_rsa.png",
            caption="../report/similarity_rsa.rst",
            category="Similarity",
            subcategory="{model}",
        ),
    params:
        figure=config.get("figures", {}).get("similarity_rsa", {}),
    wildcard_constraints:
        dataset=_names("datasets"),
    log:
        log_path("similarity_figure_rsa", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/similarity_figure_rsa.py"


for _model, _stimuli in similarity_runs():
    TARGETS.extend(
        [
            f"{RESULTS}/similarity/{_model}/{_stimuli}_layers.csv",
            f"{RESULTS}/similarity/{_model}/{_stimuli}_layer_pairs.csv",
        ]
    )
    TARGETS.extend(
        f"{RESULTS}/figures/similarity/{_model}/{_stimuli}_{_figure}.png"
        for _figure in SIMILARITY_FIGURES
    )
for _model, _dataset in similarity_rsa_runs():
    TARGETS.extend(
        [
            f"{RESULTS}/similarity/{_model}/{_dataset}_rsa.csv",
            f"{RESULTS}/figures/similarity/{_model}/{_dataset}_rsa.png",
        ]
    )
