# Feature extraction: pretrained weights fetched on the submit host (fetch_weights, a local
# rule), then every model's layer activations on every stimulus set it runs on (a model's
# optional `stimuli` key: a name or a list; absent = all sets).


def model_stimulus_sets(model):
    """Names of the stimulus sets a model runs on."""
    sets = config["models"][model].get("stimuli")
    if sets is None:
        return list(config["stimulus_sets"])
    return [sets] if isinstance(sets, str) else list(sets)


def model_settings(model):
    """A model's config entry minus `stimuli`: exactly what its features depend on."""
    return {k: v for k, v in config["models"][model].items() if k != "stimuli"}


def features_settings():
    """The features section minus the GPU request: what the stored activations depend on."""
    return {k: v for k, v in config.get("features", {}).items() if k != "gpu"}


def gpu_request(wildcards):
    """GPUs a features/projection job asks for: config features.gpu (0 by default)."""
    return int(config.get("features", {}).get("gpu", 0))


for _model in config.get("models") or {}:
    for _set in model_stimulus_sets(_model):
        if _set not in config["stimulus_sets"]:
            raise WorkflowError(
                f"config key models.{_model}.stimuli: stimulus set {_set!r} is not defined in "
                f"stimulus_sets (defined: {', '.join(config['stimulus_sets'])})"
            )


rule fetch_weights:
    """Download a model's pretrained weights into the torch/timm cache; a marker file records it."""
    output:
        f"{RESULTS}/weights/{{model}}.json",
    params:
        arch=lambda w: config["models"][w.model]["arch"],
        weights=lambda w: config["models"][w.model].get("weights", "none"),
    log:
        log_path("fetch_weights", "model"),
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/fetch_weights.py"


rule extract_features:
    """Each chosen layer's flattened activations (plus input and output), batch by batch."""
    input:
        stimuli=f"{RESULTS}/stimuli/{{stimuli}}.zarr",
        weights=f"{RESULTS}/weights/{{model}}.json",
    output:
        directory(f"{RESULTS}/features/{{model}}/{{stimuli}}.zarr"),
    params:
        model=lambda w: model_settings(w.model),
        features=lambda w: features_settings(),
    threads: 2
    log:
        log_path("extract_features", "model", "stimuli"),
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=gpu_request,
    script:
        "../scripts/extract_features.py"


TARGETS.extend(
    f"{RESULTS}/features/{_model}/{_set}.zarr"
    for _model in config.get("models") or {}
    for _set in model_stimulus_sets(_model)
)
