# Very sparse random projection of every layer of every features store (same groups, same order).


rule project_features:
    """Every layer's features times a seeded sparse random matrix, streamed over feature chunks."""
    input:
        f"{RESULTS}/features/{{model}}/{{stimuli}}.zarr",
    output:
        directory(f"{RESULTS}/projection/{{model}}/{{stimuli}}.zarr"),
    params:
        projection=config["projection"],
        device=config["features"]["device"],
    threads: 2
    log:
        log_path("project_features", "model", "stimuli"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=gpu_request,
    script:
        "../scripts/project_features.py"
