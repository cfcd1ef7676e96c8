# Allen Brain Observatory natural scenes: extraction (allensdk env, see common.smk) ->
# recording + stimuli stores.


rule allen_env:
    """Build the local allensdk virtual environment (.venv-allen) with `make allen-env`."""
    input:
        str(REPO / "envs" / "allensdk-requirements.txt"),
    output:
        str(ALLEN_ENV_STAMP),
    log:
        log_path("allen_env"),
    resources:
        mem_mb=2000,
        runtime=60,
    conda:
        # only without --sdm conda is the venv built (with it, envs/allensdk.yaml is used)
        "../../envs/brainreps.yaml"
    shell:
        f"make -C {shlex.quote(str(REPO))} --no-print-directory allen-env > {{log:q}} 2>&1"


rule allen_extract:
    """Select containers, download their natural-scenes NWB files and read them with allensdk."""
    input:
        nwb=lambda w: config["datasets"][w.dataset].get("nwb_files", []),
        # the make-built venv, only when it is the interpreter; ancient: rebuilding it
        # does not re-run the extraction
        env=[ancient(str(ALLEN_ENV_STAMP))] if ALLEN_LOCAL_VENV else [],
    output:
        f"{RESULTS}/raw/allen/{{dataset}}.h5",
    params:
        selection=lambda w: allen_selection(w.dataset),
    wildcard_constraints:
        dataset=names_with_source("datasets", "allen"),
    log:
        log_path("allen_extract", "dataset"),
    resources:
        mem_mb=16000,
        runtime=240,
    conda:
        "../../envs/allensdk.yaml"
    shell:
        # the interpreter is not a param: which environment runs the extraction does not change it
        f"{shlex.quote(ALLEN_PYTHON)} {shlex.quote(str(ALLEN_EXTRACT))} "
        "--out {output:q} --selection {params.selection:q} --log {log:q} 2>> {log:q}"


rule allen_recording:
    """dF/F traces, natural-scenes trial table and unit metadata as the recording store."""
    input:
        f"{RESULTS}/raw/allen/{{dataset}}.h5",
    output:
        directory(f"{RESULTS}/recordings/{{dataset}}.zarr"),
    params:
        segment_window=lambda w: config["datasets"][w.dataset]["segment_window"],
    wildcard_constraints:
        dataset=names_with_source("datasets", "allen"),
    log:
        log_path("allen_recording", "dataset"),
    resources:
        mem_mb=16000,
        runtime=60,
    script:
        "../scripts/allen_recording.py"


rule allen_stimuli:
    """The 118 natural scenes templates (grayscale, resized) as the stimuli store."""
    input:
        lambda w: f"{RESULTS}/raw/allen/{allen_dataset_of(w.stimuli)}.h5",
    output:
        directory(f"{RESULTS}/stimuli/{{stimuli}}.zarr"),
    params:
        stimulus_set=lambda w: config["stimulus_sets"][w.stimuli],
    wildcard_constraints:
        stimuli=names_with_source("stimulus_sets", "allen"),
    log:
        log_path("allen_stimuli", "stimuli"),
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "../scripts/allen_stimuli.py"
