# ImageNet subsets: archives fetched by URL (checksum-verified, resumed, retried) into
# results/downloads/ (git-ignored), extracted once, then sampled into a stimuli store.
# Downloads and extraction are local rules (common.smk): a login node has the internet
# access compute nodes often lack.


rule download_archive:
    """Fetch an archive by URL: resumed with HTTP Range, retried, checksum-verified."""
    output:
        f"{DOWNLOADS_DIR}/{{archive}}",
    params:
        download=lambda w: download_entry(w.archive),
    wildcard_constraints:
        archive="[^/]+",
    log:
        log_path("download_archive", "archive"),
    resources:
        mem_mb=500,
        runtime=240,
    script:
        "../scripts/download_archive.py"


rule extract_archive:
    """Unpack a downloaded .tar/.tar.gz/.tgz/.zip, refusing members outside the folder."""
    input:
        f"{DOWNLOADS_DIR}/{{archive}}",
    output:
        directory(f"{DOWNLOADS_DIR}/extracted/{{archive}}"),
    wildcard_constraints:
        archive="[^/]+",
    log:
        log_path("extract_archive", "archive"),
    resources:
        mem_mb=500,
        runtime=120,
    script:
        "../scripts/extract_archive.py"


rule imagenet_stimuli:
    """N images per class from an ImageNet-style folder, RGB, resized and centre-cropped."""
    input:
        unpack(imagenet_folder_input),
    output:
        directory(f"{RESULTS}/stimuli/{{stimuli}}.zarr"),
    params:
        stimulus_set=lambda w: config["stimulus_sets"][w.stimuli],
    wildcard_constraints:
        stimuli=names_with_source("stimulus_sets", "imagenet"),
    log:
        log_path("imagenet_stimuli", "stimuli"),
    threads: 1
    resources:
        mem_mb=imagenet_mem_mb,
        runtime=60,
    script:
        "../scripts/imagenet_stimuli.py"
