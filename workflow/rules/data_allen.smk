# Allen Brain Observatory natural scenes: extraction (allensdk env) -> recording + stimuli stores.
#
# allen_extract runs in the allensdk environment, which pins an old numpy/pandas:
#   - with `--sdm conda` (clusters): the `conda:` env envs/allensdk.yaml, its `python`;
#   - otherwise: $BRAINREPS_ALLEN_PYTHON if set, else the repo's .venv-allen, which the rule
#     builds with `make allen-env` the first time it runs (a no-op once built).
import json
import os
import shlex

from snakemake.settings.types import DeploymentMethod


def allen_python():
    """The interpreter that runs allen_extract.py, and whether it is the make-built venv."""
    explicit = os.environ.get("BRAINREPS_ALLEN_PYTHON")
    if explicit:
        return explicit, False
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python", False
    return str(Path(workflow.basedir) / ".venv-allen" / "bin" / "python"), True


def allen_dataset_of(stimuli):
    """The allen dataset whose templates a stimulus set of source allen uses."""
    name = config["stimulus_sets"][stimuli]["dataset"]
    entry = config["datasets"].get(name)
    if entry is None or entry["source"] != "allen":
        raise WorkflowError(
            f"config key stimulus_sets.{stimuli}.dataset: {name!r} is not a dataset with "
            "source allen (allen datasets: "
            + (", ".join(n for n, d in config["datasets"].items() if d["source"] == "allen") or "none")
            + ")"
        )
    return name


# every allen stimulus set must name an allen dataset: checked before any rule runs
for _name, _entry in config["stimulus_sets"].items():
    if _entry["source"] == "allen":
        allen_dataset_of(_name)

_ALLEN_PYTHON, _ALLEN_LOCAL_VENV = allen_python()
_ALLEN_EXTRACT = Path(workflow.basedir) / "src" / "brainreps" / "data" / "allen_extract.py"
_ALLEN_ENV_STAMP = Path(workflow.basedir) / ".venv-allen" / ".installed"


localrules:
    allen_env,
    allen_extract,


rule allen_env:
    """Build the local allensdk virtual environment (.venv-allen) with `make allen-env`."""
    input:
        str(Path(workflow.basedir) / "envs" / "allensdk-requirements.txt"),
    output:
        str(_ALLEN_ENV_STAMP),
    log:
        log_path("allen_env"),
    resources:
        mem_mb=2000,
        runtime=60,
    shell:
        f"make -C {shlex.quote(str(workflow.basedir))} --no-print-directory allen-env "
        "> {log:q} 2>&1"


rule allen_extract:
    """Select containers, download their natural-scenes NWB files and read them with allensdk."""
    input:
        nwb=lambda w: config["datasets"][w.dataset].get("nwb_files", []),
        # the make-built venv, only when it is the interpreter; ancient: rebuilding it
        # does not re-run the extraction
        env=[ancient(str(_ALLEN_ENV_STAMP))] if _ALLEN_LOCAL_VENV else [],
    output:
        f"{RESULTS}/raw/allen/{{dataset}}.h5",
    params:
        selection=lambda w: json.dumps(
            {
                k: v
                for k, v in config["datasets"][w.dataset].items()
                if k not in ("source", "stimuli", "segment_window")
            },
            sort_keys=True,
        ),
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
        f"{shlex.quote(_ALLEN_PYTHON)} {shlex.quote(str(_ALLEN_EXTRACT))} "
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
