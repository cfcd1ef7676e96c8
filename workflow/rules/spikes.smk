# Spike inference: ground-truth datasets (Spikefinder, CASCADE, the simulated recording) into
# recording stores, every configured method cross-validated on them (tidy scores + inferred
# rates), a noise-robustness sweep, and figures.
from pathlib import Path

SPIKES = config.get("spikes", {})
GROUND_TRUTH = SPIKES.get("ground_truth", {})
SPIKES_DIR = f"{RESULTS}/spikes"

for _gt, _entry in GROUND_TRUTH.items():
    if _entry["source"] == "simulated":
        _ds = config["datasets"].get(_entry["dataset"])
        if _ds is None or _ds["source"] != "simulated":
            raise WorkflowError(
                f"config key spikes.ground_truth.{_gt}.dataset: {_entry['dataset']!r} is not a "
                f"simulated dataset in `datasets` (simulated: "
                f"{', '.join(n for n, d in config['datasets'].items() if d['source'] == 'simulated') or 'none'})"
            )


localrules:
    spikes_download,


def spikes_data_input(wildcards):
    """What a ground-truth store is made from: a download, a simulated recording, or nothing."""
    entry = GROUND_TRUTH[wildcards.gt]
    if entry["source"] == "simulated":
        return {"recording": f"{RESULTS}/recordings/{entry['dataset']}.zarr"}
    if "url" in entry:
        return {"download": f"{RESULTS}/downloads/spikes/{wildcards.gt}.download"}
    return {"files": local_ground_truth_files(entry)}


def local_ground_truth_files(entry):
    """The local files a path entry reads, so that a changed file re-runs its store."""
    path = Path(entry["path"])
    if path.is_file():
        return [str(path)]
    if entry["source"] == "cascade":
        return sorted(str(p) for p in path.rglob("*.mat"))
    from brainreps.data.spikefinder import spikefinder_paths

    try:
        found = spikefinder_paths(path, str(entry["dataset_id"]), entry.get("split", "train"))
    except FileNotFoundError:
        return []  # the rule reports what is missing
    return [str(p) for p in found if p is not None]


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
    params:
        names=list(GROUND_TRUTH),
        methods=SPIKES.get("methods", {}),
        cv=SPIKES.get("cv", {}),
        measures=SPIKES.get("measures", ["corr", "rank"]),
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
        methods=SPIKES.get("methods", {}),
        noise=SPIKES.get("noise", {}),
    threads: 2
    log:
        log_path("spikes_noise"),
    resources:
        mem_mb=4000,
        runtime=240,
    script:
        "../scripts/spikes_noise.py"


rule spikes_figure_scores:
    """Per-method score distributions per dataset."""
    input:
        f"{SPIKES_DIR}/benchmark.csv",
    output:
        report(
            f"{RESULTS}/figures/spikes/scores.png",
            caption="../report/spikes_scores.rst",
            category="Spike inference",
        ),
    params:
        figure=config.get("figures", {}).get("spikes_scores", {}),
        kind="scores",
    log:
        log_path("spikes_figure_scores"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/spikes_figure.py"


rule spikes_figure_examples:
    """Example traces with ground truth and every method's inferred rate."""
    input:
        data=f"{SPIKES_DIR}/data/{{gt}}.zarr",
        rates=f"{SPIKES_DIR}/rates/{{gt}}.zarr",
    output:
        report(
            f"{RESULTS}/figures/spikes/examples_{{gt}}.png",
            caption="../report/spikes_examples.rst",
            category="Spike inference",
        ),
    params:
        figure=config.get("figures", {}).get("spikes_examples", {}),
        n_examples=SPIKES.get("examples", 3),
        kind="examples",
    log:
        log_path("spikes_figure_examples", "gt"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/spikes_figure.py"


rule spikes_figure_noise:
    """Score vs SNR per method, with the SNR where each method's score halves."""
    input:
        f"{SPIKES_DIR}/noise_summary.csv",
    output:
        report(
            f"{RESULTS}/figures/spikes/noise.png",
            caption="../report/spikes_noise.rst",
            category="Spike inference",
        ),
    params:
        figure=config.get("figures", {}).get("spikes_noise", {}),
        kind="noise",
    log:
        log_path("spikes_figure_noise"),
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/spikes_figure.py"


if GROUND_TRUTH:
    TARGETS.extend(
        [
            f"{RESULTS}/figures/spikes/scores.png",
            f"{RESULTS}/figures/spikes/noise.png",
            *expand(f"{RESULTS}/figures/spikes/examples_{{gt}}.png", gt=GROUND_TRUTH),
        ]
    )
