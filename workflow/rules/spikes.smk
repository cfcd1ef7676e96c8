# Spike inference: ground-truth datasets (Spikefinder, CASCADE, the simulated recording) into
# recording stores, every configured method cross-validated on them (tidy scores + inferred
# rates), a noise-robustness sweep, figures, and the final supervised models (spikes_train).


rule spikes_download:
    """Fetch a ground-truth file or archive by URL: resumed, retried, checksum-verified."""
    output:
        f"{RESULTS}/downloads/spikes/{{gt}}.download",
    params:
        url=lambda w: GROUND_TRUTH[w.gt]["url"],
        sha256=lambda w: GROUND_TRUTH[w.gt].get("sha256"),
        md5=lambda w: GROUND_TRUTH[w.gt].get("md5"),
    log:
        log_path("spikes_download", "gt"),
    resources:
        mem_mb=500,
        runtime=120,
    script:
        "../scripts/spikes_download.py"


rule spikes_data:
    """A ground-truth dataset as a recording store with spikes (capped in units and seconds)."""
    input:
        unpack(spikes_data_input),
    output:
        directory(f"{SPIKES_DIR}/data/{{gt}}.zarr"),
    params:
        entry=lambda w: GROUND_TRUTH[w.gt],
    log:
        log_path("spikes_data", "gt"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/spikes_data.py"


rule spikes_benchmark:
    """Every method on every ground-truth dataset; supervised ones cross-validated."""
    input:
        data=expand(f"{SPIKES_DIR}/data/{{gt}}.zarr", gt=GROUND_TRUTH),
    output:
        scores=f"{SPIKES_DIR}/benchmark.csv",
        timing=f"{SPIKES_DIR}/benchmark_timing.csv",
        rates=[directory(p) for p in expand(f"{SPIKES_DIR}/rates/{{gt}}.zarr", gt=GROUND_TRUTH)],
        models=directory(f"{SPIKES_DIR}/cv_models"),
        comparison=f"{SPIKES_DIR}/benchmark_vs_oasis.csv",
    params:
        names=list(GROUND_TRUTH),
        methods=SPIKES_METHODS,
        cv=config["spikes"]["cv"],
        measures=config["spikes"]["measures"],
    threads: 2
    log:
        log_path("spikes_benchmark"),
    resources:
        mem_mb=8000,
        runtime=240,
    script:
        "../scripts/spikes_benchmark.py"


rule spikes_noise:
    """Scores vs SNR per method: against the truth and against the method's clean output."""
    input:
        data=expand(f"{SPIKES_DIR}/data/{{gt}}.zarr", gt=GROUND_TRUTH),
        models=f"{SPIKES_DIR}/cv_models",
    output:
        sweep=f"{SPIKES_DIR}/noise.csv",
        summary=f"{SPIKES_DIR}/noise_summary.csv",
    params:
        names=list(GROUND_TRUTH),
        methods=SPIKES_METHODS,
        noise=config["spikes"]["noise"],
    threads: 2
    log:
        log_path("spikes_noise"),
    resources:
        mem_mb=4000,
        runtime=240,
    script:
        "../scripts/spikes_noise.py"


rule spikes_train:
    """A supervised method trained on every unit of a training set: the reusable model file."""
    input:
        data=lambda w: expand(f"{SPIKES_DIR}/data/{{gt}}.zarr", gt=spikes_train_sets()[w.trainset]),
    output:
        f"{SPIKES_DIR}/models/{{method}}_{{trainset}}.pt",
    params:
        method=lambda w: spikes_method_name(w.method),
        train=lambda w: spikes_train_params(w.method, w.trainset),
        device=SPIKES_TRAINING["device"],
    wildcard_constraints:
        method=alternatives(spikes_train_labels(bank=False)),
        trainset=alternatives(spikes_train_sets()),
    threads: 2
    log:
        log_path("spikes_train", "method", "trainset"),
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=int(SPIKES_TRAINING["gpu"]),
    script:
        "../scripts/spikes_train.py"


use rule spikes_train as spikes_train_bank with:
    output:
        directory(f"{SPIKES_DIR}/models/{{method}}_{{trainset}}"),
    wildcard_constraints:
        method=alternatives(spikes_train_labels(bank=True)),
        trainset=alternatives(spikes_train_sets()),
    log:
        log_path("spikes_train_bank", "method", "trainset"),
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=int(SPIKES_TRAINING["gpu"]),


rule spikes_bank_merge:
    """One bank directory holding the members of several training sets' banks (e.g. one per
    indicator family and one for all), chosen per trace by indicator, rate and noise level."""
    input:
        banks=lambda w: expand(
            f"{SPIKES_DIR}/models/{w.method}_{{s}}", s=SPIKES_TRAINING["merge"][w.merged]
        ),
    output:
        directory(f"{SPIKES_DIR}/models/{{method}}_{{merged}}"),
    wildcard_constraints:
        method=alternatives(spikes_train_labels(bank=True)),
        merged=alternatives(SPIKES_TRAINING["merge"]),
    log:
        log_path("spikes_bank_merge", "method", "merged"),
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/spikes_bank_merge.py"


rule spikes_figure_scores:
    """Per-method score distributions per dataset."""
    input:
        scores=f"{SPIKES_DIR}/benchmark.csv",
    output:
        scores=report(
            f"{RESULTS}/figures/spikes/scores.png",
            caption="../report/spikes_scores.rst",
            category="Spike inference",
        ),
    params:
        stage="spikes",
        settings=lambda w: {"scores": figure_settings("spikes_scores")},
        title=lambda w: f"spike inference, cross-validated: {', '.join(GROUND_TRUTH)}",
    log:
        log_path("spikes_figure_scores"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule spikes_figure_comparison:
    """Each method's mean corr minus OASIS's per dataset and cross-validation."""
    input:
        comparison=f"{SPIKES_DIR}/benchmark_vs_oasis.csv",
    output:
        comparison=report(
            f"{RESULTS}/figures/spikes/comparison.png",
            caption="../report/spikes_comparison.rst",
            category="Spike inference",
        ),
    params:
        stage="spikes",
        settings=lambda w: {"comparison": figure_settings("spikes_comparison")},
        title=lambda w: f"spike inference against OASIS, per held-out dataset: {len(GROUND_TRUTH)} sets",
    log:
        log_path("spikes_figure_comparison"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule spikes_figure_examples:
    """Example traces with ground truth and every method's inferred rate."""
    input:
        data=f"{SPIKES_DIR}/data/{{gt}}.zarr",
        rates=f"{SPIKES_DIR}/rates/{{gt}}.zarr",
    output:
        examples=report(
            f"{RESULTS}/figures/spikes/examples_{{gt}}.png",
            caption="../report/spikes_examples.rst",
            category="Spike inference",
        ),
    params:
        stage="spikes",
        settings=lambda w: {
            "examples": figure_settings(
                "spikes_examples", n_examples=config["spikes"]["examples"]
            )
        },
        title=lambda w: f"spike inference on {w.gt}: example neurons",
    log:
        log_path("spikes_figure_examples", "gt"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule spikes_figure_noise:
    """Score vs SNR per method, with the SNR where each method's score halves."""
    input:
        summary=f"{SPIKES_DIR}/noise_summary.csv",
    output:
        noise=report(
            f"{RESULTS}/figures/spikes/noise.png",
            caption="../report/spikes_noise.rst",
            category="Spike inference",
        ),
    params:
        stage="spikes",
        settings=lambda w: {"noise": figure_settings("spikes_noise")},
        title=lambda w: f"noise robustness of spike inference: {', '.join(GROUND_TRUTH)}",
    log:
        log_path("spikes_figure_noise"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"
