# Data stage: stimulus sets (embedded, ImageNet subsets, Allen templates, user images),
# recordings (simulated, Allen), neural RDM files, trial responses from dF/F or spikes, and the
# data figures.


rule stimuli_embedded:
    """Grayscale crops of the photographs inside the scikit-image wheel."""
    output:
        directory(f"{RESULTS}/stimuli/{{stimuli}}.zarr"),
    params:
        stimulus_set=lambda w: config["stimulus_sets"][w.stimuli],
    wildcard_constraints:
        stimuli=names_with_source("stimulus_sets", "embedded"),
    log:
        log_path("stimuli_embedded", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/stimuli_embedded.py"


rule photographs_stimuli:
    """A labelled set: crops of the bundled photographs, class = photograph, test crops held out."""
    output:
        directory(f"{RESULTS}/stimuli/{{stimuli}}.zarr"),
    params:
        stimulus_set=lambda w: config["stimulus_sets"][w.stimuli],
    wildcard_constraints:
        stimuli=names_with_source("stimulus_sets", "photographs"),
    log:
        log_path("photographs_stimuli", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/photographs_stimuli.py"


rule user_stimuli:
    """User images: an array file (source npy) or a folder of image files (source folder)."""
    input:
        user_images_input,
    output:
        directory(f"{RESULTS}/stimuli/{{stimuli}}.zarr"),
    params:
        stimulus_set=lambda w: config["stimulus_sets"][w.stimuli],
    wildcard_constraints:
        stimuli=alternatives(
            [n for n, e in config["stimulus_sets"].items() if e["source"] in ("npy", "folder")]
        ),
    log:
        log_path("user_stimuli", "stimuli"),
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/user_stimuli.py"


rule neural_rdms:
    """A file of neural RDMs, checked and put in its stimulus set's order."""
    input:
        rdms=lambda w: config["datasets"][w.dataset]["path"],
        stimuli=lambda w: f"{RESULTS}/stimuli/{stimulus_set_of(w.dataset)}.zarr",
    output:
        directory(f"{RESULTS}/rdms/{{dataset}}.zarr"),
    params:
        dataset=lambda w: config["datasets"][w.dataset],
    wildcard_constraints:
        dataset=names_with_source("datasets", "rdms"),
    log:
        log_path("neural_rdms", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/neural_rdms.py"


rule simulate_recording:
    """A model V1 population imaged at 30 Hz, with its ground-truth spikes."""
    input:
        stimuli=lambda w: f"{RESULTS}/stimuli/{stimulus_set_of(w.dataset)}.zarr",
    output:
        directory(f"{RESULTS}/recordings/{{dataset}}.zarr"),
    params:
        simulation=lambda w: config["datasets"][w.dataset]["simulation"],
        stimulus_set=lambda w: stimulus_set_of(w.dataset),
    wildcard_constraints:
        dataset=names_with_source("datasets", "simulated"),
    log:
        log_path("simulate_recording", "dataset"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/simulate_recording.py"


rule trial_responses:
    """Per-trial responses (from responses.signal), their mean, split-half reliability per unit."""
    input:
        unpack(responses_model_input(lambda w: RESPONSES["signal"])),
        recording=f"{RESULTS}/recordings/{{dataset}}.zarr",
        stimuli=lambda w: f"{RESULTS}/stimuli/{stimulus_set_of(w.dataset)}.zarr",
    output:
        directory(f"{RESULTS}/responses/{{dataset}}.zarr"),
    params:
        responses=responses_settings(),
        methods=config["spikes"]["methods"],
    wildcard_constraints:
        dataset=alternatives(recording_datasets()),
    threads: 1
    log:
        log_path("trial_responses", "dataset"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/trial_responses.py"


rule signal_responses:
    """Trial responses of a recording from another signal of responses.compare.signals (the
    rates a spikes method infers from dF/F, or the true spikes)."""
    input:
        unpack(responses_model_input(lambda w: signal_of_slug(w.signal))),
        recording=f"{RESULTS}/recordings/{{dataset}}.zarr",
        stimuli=lambda w: f"{RESULTS}/stimuli/{stimulus_set_of(w.dataset)}.zarr",
    output:
        directory(f"{RESULTS}/responses/{{dataset}}/{{signal}}.zarr"),
    params:
        responses=lambda w: responses_settings(signal_of_slug(w.signal)),
        methods=config["spikes"]["methods"],
    wildcard_constraints:
        dataset=alternatives(recording_datasets()),
        signal=alternatives([signal_slug(s) for s in COMPARE["signals"]]),
    threads: 1
    log:
        log_path("signal_responses", "dataset", "signal"),
    resources:
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/trial_responses.py"


rule signal_comparison:
    """Calcium to cortex: per area, the noise ceiling and best-layer predictivity of a model
    from each signal of responses.compare.signals."""
    input:
        unpack(comparison_inputs),
    output:
        summary=f"{RESULTS}/signals/{{model}}/{{dataset}}.csv",
        units=f"{RESULTS}/signals/{{model}}/{{dataset}}_units.csv",
    params:
        signals=COMPARE["signals"],
        main=RESPONSES["signal"],
        encoding=lambda w: encoding_settings(),
    wildcard_constraints:
        dataset=alternatives(recording_datasets()),
    threads: 2
    log:
        log_path("signal_comparison", "model", "dataset"),
    resources:
        mem_mb=8000,
        runtime=60,
    script:
        "../scripts/signal_comparison.py"


rule signal_comparison_figure:
    """Noise ceiling and best-layer predictivity per area, one bar per signal."""
    input:
        summary=f"{RESULTS}/signals/{{model}}/{{dataset}}.csv",
    output:
        comparison=report(
            f"{RESULTS}/figures/signals/{{model}}/{{dataset}}_comparison.png",
            caption="../report/signals_comparison.rst",
            category="Data",
            subcategory="calcium to cortex",
        ),
    params:
        stage="signals",
        settings=lambda w: {"comparison": figure_settings("signals_comparison")},
        title=lambda w: f"{w.dataset}: responses from dF/F vs spikes, encoded by {w.model}",
    log:
        log_path("signal_comparison_figure", "model", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule stimuli_figure:
    """A montage of a stimulus set."""
    input:
        stimuli=f"{RESULTS}/stimuli/{{stimuli}}.zarr",
    output:
        stimuli=report(
            f"{RESULTS}/figures/data/stimuli_{{stimuli}}.png",
            caption="../report/stimuli.rst",
            category="Data",
        ),
    params:
        stage="data",
        settings=lambda w: {"stimuli": figure_settings("stimuli")},
        title=lambda w: f"stimulus set {w.stimuli}",
    log:
        log_path("stimuli_figure", "stimuli"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule rdms_figure:
    """The neural matrices of a dataset of RDMs, with their noise ceilings."""
    input:
        rdms=f"{RESULTS}/rdms/{{dataset}}.zarr",
    output:
        rdms=report(
            f"{RESULTS}/figures/data/rdms_{{dataset}}.png",
            caption="../report/rdms.rst",
            category="Data",
        ),
    params:
        stage="data",
        settings=lambda w: {"rdms": figure_settings("rdms")},
        title=lambda w: f"neural RDMs {w.dataset}",
    log:
        log_path("rdms_figure", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


rule recording_figure:
    """Example dF/F traces (with ground-truth spikes when known) and reliability per area."""
    input:
        recording=f"{RESULTS}/recordings/{{dataset}}.zarr",
        responses=f"{RESULTS}/responses/{{dataset}}.zarr",
    output:
        recording=report(
            f"{RESULTS}/figures/data/recording_{{dataset}}.png",
            caption="../report/recording.rst",
            category="Data",
        ),
    params:
        stage="data",
        settings=lambda w: {"recording": figure_settings("recording")},
        title=lambda w: f"recording {w.dataset}",
    log:
        log_path("recording_figure", "dataset"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/figures.py"


include: "data_imagenet.smk"
include: "data_allen.smk"
