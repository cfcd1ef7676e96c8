# Data stage: stimulus sets (embedded, ImageNet subsets, Allen templates), recordings
# (simulated, Allen), trial responses, and the data figures.


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
    """Per-trial responses, their mean over repeats, and split-half reliability per unit."""
    input:
        recording=f"{RESULTS}/recordings/{{dataset}}.zarr",
        stimuli=lambda w: f"{RESULTS}/stimuli/{stimulus_set_of(w.dataset)}.zarr",
    output:
        directory(f"{RESULTS}/responses/{{dataset}}.zarr"),
    params:
        responses=config["responses"],
    log:
        log_path("trial_responses", "dataset"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/trial_responses.py"


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
