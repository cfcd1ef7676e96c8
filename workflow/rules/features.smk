# Feature extraction: pretrained weights fetched on the submit host (fetch_weights, a local
# rule), then every model's layer activations on every stimulus set it runs on (a model's
# optional `stimuli` key: a name or a list; absent = all sets).


rule fetch_weights:
    """Download a model's pretrained weights into the torch/timm cache; a marker file records it."""
    output:
        f"{RESULTS}/weights/{{model}}.json",
    params:
        arch=lambda w: config["models"][w.model]["arch"],
        weights=lambda w: config["models"][w.model]["weights"],
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
        weights=model_weights_input,
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
