# ImageNet subsets: archives fetched by URL (checksum-verified, resumed, retried) into
# results/downloads/ (git-ignored), extracted once, then sampled into a stimuli store.
# Downloads and extraction are localrules: on a cluster they run on the login node, which has
# the internet access compute nodes often lack.
import urllib.parse

from snakemake.exceptions import WorkflowError

DOWNLOADS_DIR = f"{RESULTS}/downloads"

# Archive file name -> {"url", "sha256" | "md5"}. Other stages may register their own archives
# here (DOWNLOADS["x.tar.gz"] = {...}) and ask for f"{DOWNLOADS_DIR}/x.tar.gz" (the file) or
# f"{DOWNLOADS_DIR}/extracted/x.tar.gz" (the unpacked folder).
DOWNLOADS = {}


def archive_name(url):
    """The file name a URL is downloaded to: the last segment of its path."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
    if not name or name in (".", "..") or "/" in name:
        raise WorkflowError(f"cannot name a download after the URL {url!r}")
    return name


def register_download(url, where, sha256=None, md5=None):
    """Add an archive to DOWNLOADS; the same file name from another URL/checksum is an error."""
    name = archive_name(url)
    entry = {"url": url, "sha256": sha256, "md5": md5}
    if DOWNLOADS.get(name, entry) != entry:
        raise WorkflowError(
            f"config key {where}: downloads {url} to {DOWNLOADS_DIR}/{name}, which another "
            f"entry downloads from {DOWNLOADS[name]['url']} (checksum "
            f"{DOWNLOADS[name]['sha256'] or DOWNLOADS[name]['md5']}); give the archives distinct "
            "file names or the same URL and checksum"
        )
    DOWNLOADS[name] = entry
    return name


def download_entry(archive):
    """The registered URL and checksum of an archive file name."""
    if archive not in DOWNLOADS:
        raise WorkflowError(
            f"no download is configured for {DOWNLOADS_DIR}/{archive} "
            f"(configured: {', '.join(sorted(DOWNLOADS)) or 'none'})"
        )
    return DOWNLOADS[archive]


for _name, _set in config["stimulus_sets"].items():
    if _set["source"] == "imagenet" and "url" in _set:
        register_download(
            _set["url"], f"stimulus_sets.{_name}.url", _set.get("sha256"), _set.get("md5")
        )


def imagenet_folder_input(wildcards):
    """The extracted archive a stimulus set samples from (nothing for a local folder)."""
    entry = config["stimulus_sets"][wildcards.stimuli]
    if "url" in entry:
        return {"folder": f"{DOWNLOADS_DIR}/extracted/{archive_name(entry['url'])}"}
    return {}


def imagenet_mem_mb(wildcards):
    """Memory for the pixel array plus a margin (1000 classes assumed when not limited)."""
    entry = config["stimulus_sets"][wildcards.stimuli]
    n_classes = entry.get("max_classes") or len(entry.get("classes") or []) or 1000
    pixel_mb = n_classes * entry["n_per_class"] * entry["size"] ** 2 * 3 / 2**20
    return int(1000 + 2 * pixel_mb)


localrules:
    download_archive,
    extract_archive,


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
        "../scripts/imagenet_download.py"


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
        "../scripts/imagenet_extract.py"


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
