# Every path, wildcard constraint, input function and config helper the stage files share
# (the workflow-catalog convention: stage files hold rules only), the local rules, and
# `final_targets()`, the one list of what the default target builds.
import json
import os
import shlex
import urllib.parse
from pathlib import Path

from snakemake.settings.types import DeploymentMethod

from brainreps.config_checks import model_stimulus_sets as _model_stimulus_sets
from brainreps.config_expand import TRAINING_DIR as _TRAINING_DIR
from brainreps.config_expand import checkpoint_dir, checkpoint_model_name, saved_epochs
from brainreps.download import archive_name
from brainreps.encoding.runs import encoding_runs as _encoding_runs
from brainreps.plots import figure_settings as _figure_settings
from brainreps.report import software_versions
from brainreps.spikes import SUPERVISED

RESULTS = "results"
LOGS = "logs"
DOWNLOADS_DIR = f"{RESULTS}/downloads"
SPIKES_DIR = f"{RESULTS}/spikes"
TRAINING_DIR = f"{RESULTS}/training"
assert TRAINING_DIR == _TRAINING_DIR, "config_expand names checkpoint files under results/"
REPO = Path(workflow.basedir)


wildcard_constraints:
    stimuli="[A-Za-z0-9_-]+",
    dataset="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    gt="[A-Za-z0-9_-]+",


# Downloads and the run record run on the submit host: compute nodes often have no internet.
localrules:
    fetch_weights,
    download_archive,
    extract_archive,
    spikes_download,
    allen_env,
    allen_extract,
    report_config,
    report_versions,


# ---- names and paths ---------------------------------------------------------------------


def log_path(rule_name, *wildcard_names):
    """logs/{rule}/{wildcard}_{wildcard}.log, the one log file of a rule."""
    stem = "_".join(f"{{{w}}}" for w in wildcard_names) or "all"
    return f"{LOGS}/{rule_name}/{stem}.log"


def alternatives(names):
    """Regex matching exactly the given names (longest first), or nothing."""
    return "|".join(sorted(names, key=len, reverse=True)) if names else "(?!x)x"


def names_of(section):
    """Regex matching every name of a config section."""
    return alternatives(config.get(section) or {})


def names_with_source(section, source):
    """Regex matching the names in a config section whose `source` is `source`."""
    return alternatives([n for n, e in config.get(section, {}).items() if e["source"] == source])


def stimulus_set_of(dataset):
    """Name of the stimulus set a dataset was recorded with."""
    return config["datasets"][dataset]["stimuli"]


def figure_settings(name, **stage_options):
    """A figure's config entry (figures.<name>) with defaults, plus options of its stage."""
    settings = _figure_settings(config["figures"].get(name), f"figures.{name}")
    return {**stage_options, **settings}


# ---- models, features, projection --------------------------------------------------------


def model_stimulus_sets(model):
    """Names of the stimulus sets a model runs on (its optional `stimuli`; absent = all)."""
    return _model_stimulus_sets(config, model)


def model_runs():
    """(model, stimulus set) pairs: every model with every stimulus set it runs on."""
    return [(m, s) for m in config["models"] for s in model_stimulus_sets(m)]


def model_settings(model):
    """A model's config entry minus where it runs and what is drawn: what its features depend on."""
    return {k: v for k, v in config["models"][model].items() if k not in ("stimuli", "figures")}


def features_settings():
    """The features section minus the GPU request: what the stored activations depend on."""
    return {k: v for k, v in config["features"].items() if k != "gpu"}


def gpu_request(wildcards):
    """GPUs a features/projection job asks for on SLURM: features.gpu (0 locally)."""
    return int(config["features"]["gpu"])


def model_weights_input(wildcards):
    """What a model's features need besides the stimuli: its weights file (a checkpoint of a
    training run, or the user's file), or the marker of its fetched library weights."""
    spec = config["models"][wildcards.model]
    if "checkpoint" in spec:
        return checkpoint_dir(spec["checkpoint"]["run"])  # the train rule's output folder
    if spec.get("weights_file"):
        return spec["weights_file"]
    return f"{RESULTS}/weights/{wildcards.model}.json"


def imagenet_sets_of(model):
    """The ImageNet subsets a pretrained model runs on (scored for task accuracy)."""
    sets = config["stimulus_sets"]
    return [s for s in model_stimulus_sets(model) if sets[s]["source"] == "imagenet"]


def pretrained_accuracy_runs():
    """(model, stimulus set) pairs: pretrained models on the ImageNet subsets they run on."""
    return [
        (m, s) for m, spec in config["models"].items() if spec.get("weights", "none") != "none"
        for s in imagenet_sets_of(m)
    ]


# ---- encoding ----------------------------------------------------------------------------

ENCODING_RUNS = _encoding_runs(config)
ENCODING_FIGURES = ("layers", "best_layer", "distribution")


def encoding_settings():
    """The encoding section minus `runs` and the fitted model: exactly what a score depends on."""
    return {k: v for k, v in config["encoding"].items() if k not in ("runs", "fitted_model")}


# ---- similarity --------------------------------------------------------------------------

SIMILARITY_FIGURES = (
    "layer_matrices", "rdms", "sparseness", "dimension", "histograms", "sparseness_decorrelation",
)


def similarity_settings():
    """What the per-layer results depend on: the section minus figure and RSA settings."""
    return {k: v for k, v in config["similarity"].items() if k not in ("plot_layers", "rsa")}


def similarity_rsa_runs():
    """(model, dataset) pairs whose stimulus set has a similarity store."""
    runs = set(model_runs())
    return [
        (m, d) for m in config["models"] for d in config["datasets"]
        if (m, stimulus_set_of(d)) in runs
    ]


def similarity_source(wildcards):
    """The features store, or the projection store when similarity.use_projection is set."""
    kind = "projection" if config["similarity"]["use_projection"] else "features"
    return f"{RESULTS}/{kind}/{wildcards.model}/{wildcards.stimuli}.zarr"


def _small_set(stimuli):
    return config["stimulus_sets"][stimuli].get("n_images", 10**9) <= 1000


def similarity_threads(wildcards):
    """1 for small stimulus sets (their products run on one BLAS thread anyway), else 2."""
    return 1 if _small_set(wildcards.stimuli) else 2


def similarity_mem_mb(wildcards):
    """Memory: small sets need little; N = 5,000 x 20 layers needs ~8 GB (RDMs + Grams)."""
    return 2000 if _small_set(wildcards.stimuli) else 16000


# ---- ImageNet archives -------------------------------------------------------------------

# archive file name -> its URL and checksum (config_checks makes the names unique)
DOWNLOADS = {
    archive_name(entry["url"]): {k: entry.get(k) for k in ("url", "sha256", "md5")}
    for entry in config["stimulus_sets"].values()
    if entry["source"] == "imagenet" and "url" in entry
}


def download_entry(archive):
    """The registered URL and checksum of an archive file name."""
    if archive not in DOWNLOADS:
        raise WorkflowError(
            f"no download is configured for {DOWNLOADS_DIR}/{archive} "
            f"(configured: {', '.join(sorted(DOWNLOADS)) or 'none'})"
        )
    return DOWNLOADS[archive]


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


# ---- Allen Brain Observatory ---------------------------------------------------------------
# allen_extract runs in the allensdk environment, which pins an old numpy/pandas:
#   - with `--sdm conda` (clusters): the `conda:` env envs/allensdk.yaml, its `python`;
#   - otherwise: $BRAINREPS_ALLEN_PYTHON if set, else the repo's .venv-allen, which the rule
#     allen_env builds with `make allen-env` the first time it runs (a no-op once built).

ALLEN_ENV_STAMP = REPO / ".venv-allen" / ".installed"
ALLEN_EXTRACT = REPO / "src" / "brainreps" / "data" / "allen_extract.py"


def allen_python():
    """The interpreter that runs allen_extract.py, and whether it is the make-built venv."""
    explicit = os.environ.get("BRAINREPS_ALLEN_PYTHON")
    if explicit:
        return explicit, False
    if DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method:
        return "python", False
    return str(REPO / ".venv-allen" / "bin" / "python"), True


ALLEN_PYTHON, ALLEN_LOCAL_VENV = allen_python()


def allen_dataset_of(stimuli):
    """The allen dataset whose templates a stimulus set of source allen uses."""
    return config["stimulus_sets"][stimuli]["dataset"]


def allen_selection(dataset):
    """The container selection of an allen dataset, as JSON for allen_extract.py."""
    entry = config["datasets"][dataset]
    skip = ("source", "stimuli", "segment_window")
    return json.dumps({k: v for k, v in entry.items() if k not in skip}, sort_keys=True)


# ---- spike inference ---------------------------------------------------------------------

GROUND_TRUTH = config["spikes"]["ground_truth"]
SPIKES_METHODS = config["spikes"]["methods"]
SPIKES_TRAINING = config["spikes"]["training"]


def spikes_data_input(wildcards):
    """What a ground-truth store is made from: a download, a simulated recording, or files."""
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
        found = spikefinder_paths(path, str(entry["dataset_id"]), entry["split"])
    except FileNotFoundError:
        return []  # the rule reports what is missing
    return [str(p) for p in found if p is not None]


def spikes_method_name(label):
    """Registered method behind a configured label (default: the label itself)."""
    return (SPIKES_METHODS.get(label) or {}).get("method", label)


def spikes_train_labels(bank=None):
    """Configured method labels with a supervised method that get a final model (bank: only
    the labels of banks, whose model is a directory, or only the others)."""
    wanted = SPIKES_TRAINING["methods"]
    labels = [l for l in SPIKES_METHODS if spikes_method_name(l) in SUPERVISED]
    labels = [l for l in labels if wanted is None or l in wanted]
    if bank is not None:
        labels = [l for l in labels if (spikes_method_name(l) == "bank") == bank]
    return labels


def spikes_train_params(label, trainset):
    """The train() settings of a label's final model; a bank is tagged with its set's
    indicator: the one its datasets share, `any` for a set of every dataset, else the set's
    name (e.g. a family of several red indicators)."""
    train = dict((SPIKES_METHODS.get(label) or {}).get("train", {}))
    if spikes_method_name(label) == "bank" and "indicator" not in train:
        names = spikes_train_sets()[trainset]
        indicators = {GROUND_TRUTH[n].get("indicator") for n in names}
        if set(names) == set(GROUND_TRUTH):
            train["indicator"] = "any"
        elif len(indicators) == 1 and None not in indicators:
            train["indicator"] = indicators.pop()
        else:
            train["indicator"] = trainset
    return train


def spikes_model_targets():
    """Every final model: one per supervised label and training set (a bank: a directory),
    and the merged banks."""
    targets = [
        f"{SPIKES_DIR}/models/{label}_{trainset}"
        + ("" if spikes_method_name(label) == "bank" else ".pt")
        for label in spikes_train_labels()
        for trainset in spikes_train_sets()
    ]
    targets += [
        f"{SPIKES_DIR}/models/{label}_{merged}"
        for label in spikes_train_labels(bank=True)
        for merged in SPIKES_TRAINING["merge"]
    ]
    return targets


def spikes_train_sets():
    """Training-set name -> ground-truth dataset names (default: one set per dataset)."""
    return SPIKES_TRAINING["sets"] or {gt: [gt] for gt in GROUND_TRUTH}


# ---- training ----------------------------------------------------------------------------

TRAINING = config["training"]


def training_settings(run):
    """What a run's weights depend on: its entry minus where and how fast it runs."""
    skip = ("analyse", "gpu", "threads", "device")
    return {k: v for k, v in TRAINING[run].items() if k not in skip}


def neural_target_input(wildcards, training=False):
    """What a brain-guided run's target is made of: what its accuracy rule measures the RSA
    against, and what its training needs when the loss is applied (lambda > 0)."""
    ns = TRAINING[wildcards.run].get("neural_similarity")
    if ns is None or (training and ns["lambda"] == 0):
        return {}
    if ns["source"] == "encoding":
        enc = ns["encoding"]
        stimuli = TRAINING[wildcards.run]["stimuli"]
        return {"target": f"{RESULTS}/neural_targets/{enc['model']}/{enc['dataset']}/{stimuli}.zarr"}
    dataset = ns["dataset"]
    return {
        "target": [
            f"{RESULTS}/rdms/{dataset}.zarr",
            f"{RESULTS}/stimuli/{stimulus_set_of(dataset)}.zarr",
        ]
    }


def brain_guided_runs():
    """Training runs with a neural_similarity section (baseline, regularised and control)."""
    return [r for r, e in TRAINING.items() if e.get("neural_similarity")]


def training_arms():
    """Each run's arm for the figures: baseline (lambda 0), regularised, control or plain."""
    arms = {}
    for run, entry in TRAINING.items():
        ns = entry.get("neural_similarity")
        if ns is None:
            arms[run] = "plain" if entry["labels"] == "given" else "shuffled labels"
        elif ns["control"] == "shuffled":
            arms[run] = "control"
        else:
            arms[run] = "regularised" if ns["lambda"] > 0 else "baseline"
    return arms


def checkpoint_models():
    """Checkpoint model name -> (run, epoch), for the saved epochs of the analysed runs."""
    out = {}
    for name, spec in config["models"].items():
        ref = spec.get("checkpoint")
        if ref and name == checkpoint_model_name(ref["run"], ref["epoch"]):
            out[name] = (ref["run"], ref["epoch"])
    return out


def dynamics_inputs(wildcards):
    """The per-checkpoint similarity and encoding tables the learning dynamics join."""
    out = {"accuracy": f"{RESULTS}/accuracy.csv", "layers": [], "pairs": [], "encoding": []}
    for model in checkpoint_models():
        for stimuli in model_stimulus_sets(model)[:1]:
            out["layers"].append(f"{RESULTS}/similarity/{model}/{stimuli}_layers.csv")
            out["pairs"].append(f"{RESULTS}/similarity/{model}/{stimuli}_layer_pairs.csv")
        out["encoding"] += [
            f"{RESULTS}/encoding/{model}/{dataset}.csv" for dataset, m in ENCODING_RUNS if m == model
        ]
    return out


def accuracy_inputs(wildcards):
    """Every accuracy table: each training run's, each pretrained model's on ImageNet subsets,
    and each run's robustness table."""
    return {
        "accuracy": [f"{TRAINING_DIR}/{run}/accuracy.csv" for run in TRAINING]
        + [f"{RESULTS}/accuracy/{m}/{s}.csv" for m, s in pretrained_accuracy_runs()],
        "robustness": [f"{TRAINING_DIR}/{run}/robustness.csv" for run in TRAINING],
    }


TRAINING_FIGURES = ("dimension_depth", "dimension_accuracy")


def analysed_runs():
    """Training runs whose checkpoints are models (features, encoding, similarity)."""
    return list(dict.fromkeys(run for run, _ in checkpoint_models().values()))


def analysed_set_of(run):
    """The stimulus set a run's checkpoints are analysed on (the first of its analyse sets)."""
    return model_stimulus_sets(checkpoint_model_name(run, 0))[0]


def training_chance():
    """The number of classes of the runs' stimulus sets, for the chance line (one set only)."""
    sets = {TRAINING[r]["stimuli"] for r in TRAINING}
    entry = config["stimulus_sets"][next(iter(sets))] if len(sets) == 1 else {}
    if entry.get("source") == "photographs":
        from brainreps.data.photographs import ALL_PHOTOGRAPHS

        return {"n_classes": len(entry["photographs"] or ALL_PHOTOGRAPHS)}
    return {}


def training_targets():
    """The training stage's outputs of the default target."""
    if not TRAINING and not pretrained_accuracy_runs():
        return []
    targets = [f"{RESULTS}/accuracy.csv"]
    if TRAINING:
        targets += [f"{RESULTS}/figures/training/accuracy.png"]
        targets += [f"{RESULTS}/figures/training/robustness.png"]
        if brain_guided_runs():
            targets += [f"{RESULTS}/figures/training/target_rsa.png"]
    if analysed_runs():
        targets += [f"{RESULTS}/figures/training/{f}.png" for f in TRAINING_FIGURES]
        for run in analysed_runs():
            targets += [
                f"{RESULTS}/figures/training/{run}_layer_matrices.png",
                f"{RESULTS}/figures/training/{run}_sparseness.png",
            ]
        datasets = {d for d, m in ENCODING_RUNS if m in checkpoint_models()}
        targets += [f"{RESULTS}/figures/training/predictivity_{d}.png" for d in sorted(datasets)]
    return targets


# ---- zoo, inception branches, textures ---------------------------------------------------
# results/zoo.csv: one row per (model, dataset) of the encoding runs; branched models (a
# `branches` list) draw their layer x layer matrices with module borders; every texture model
# on every texture set: Gram matrices classified per layer (results/textures/).

ZOO_FIGURES = ("predictivity_accuracy", "predictivity_depth", "predictivity_features", "trained_random")
TEXTURE_FIGURES = ("accuracy", "confusion", "grams")


def zoo_runs():
    """Every encoding run with its encoding table and the features store of its stimuli."""
    return [
        {
            "model": model,
            "dataset": dataset,
            "encoding": f"{RESULTS}/encoding/{model}/{dataset}.csv",
            "features": f"{RESULTS}/features/{model}/{stimulus_set_of(dataset)}.zarr",
        }
        for dataset, model in ENCODING_RUNS
    ]


def zoo_inputs(wildcards):
    """The zoo table's inputs: encoding tables, features stores, the accuracy table if any."""
    runs = zoo_runs()
    out = {"encoding": [r["encoding"] for r in runs], "features": [r["features"] for r in runs]}
    if TRAINING or pretrained_accuracy_runs():
        out["accuracy"] = f"{RESULTS}/accuracy.csv"
    return out


def zoo_specs():
    """Each zoo model's entry minus where it runs: what its row depends on."""
    return {m: model_settings(m) for m in dict.fromkeys(r["model"] for r in zoo_runs())}


def branched_models():
    """Models with inception branches exposed, whose figures are drawn."""
    return [m for m, s in config["models"].items() if s.get("branches") and s["figures"]]


def branch_note(model):
    """How the model's architecture deviates from its paper, for the branch figure."""
    from brainreps.branches import paper_note

    return paper_note(config["models"][model]["arch"])


def plot_layers_of(model):
    """The layers whose stimulus x stimulus matrices a model's figure draws ([] = default)."""
    chosen = config["similarity"]["plot_layers"]
    return list(chosen.get(model, [])) if isinstance(chosen, dict) else list(chosen)


TEXTURES = config["textures"]


def texture_models():
    """The models of the texture analysis: textures.models, or every model drawn."""
    if TEXTURES["models"] is not None:
        return list(TEXTURES["models"])
    return [m for m, spec in config["models"].items() if spec["figures"]]


def texture_runs():
    """(model, texture set) pairs of the texture analysis."""
    return [(m, s) for m in texture_models() for s in TEXTURES["stimuli"]]


def zoo_targets():
    """The zoo table and figures, branch figures and texture analyses of the default target."""
    targets = []
    if ENCODING_RUNS:
        targets += [f"{RESULTS}/zoo.csv"]
        targets += [f"{RESULTS}/figures/zoo/{f}.png" for f in ZOO_FIGURES]
    for model in branched_models():
        targets += [
            f"{RESULTS}/figures/similarity/{model}/{s}_branches.png"
            for s in model_stimulus_sets(model)
        ]
    for model, stimuli in texture_runs():
        targets += [f"{RESULTS}/textures/{model}/{stimuli}.csv"]
        targets += [f"{RESULTS}/figures/textures/{model}/{stimuli}_{f}.png" for f in TEXTURE_FIGURES]
    return targets


# ---- user data: images, neural RDMs; calcium to cortex ----------------------------------
# Stimulus sets of source npy/folder and datasets of source rdms (brainreps.data.images,
# brainreps.data.rdms); trial responses from a signal (responses.signal: dff, spikes:<label>,
# spikes:truth) and the comparison of responses.compare.signals (brainreps.signals).

from brainreps.data.images import IMAGE_EXTENSIONS
from brainreps.data.responses import parse_signal, signal_slug

RESPONSES = config["responses"]
COMPARE = RESPONSES["compare"]


def rdm_datasets():
    """Names of the datasets of neural RDMs (source rdms): no recording, no units."""
    return [d for d, e in config["datasets"].items() if e["source"] == "rdms"]


def recording_datasets():
    """Names of the datasets with a recording (and so trial responses)."""
    return [d for d in config["datasets"] if d not in rdm_datasets()]


def user_images_input(wildcards):
    """The files a npy/folder stimulus set is read from, so that a changed image re-runs it."""
    path = Path(config["stimulus_sets"][wildcards.stimuli]["path"]).expanduser()
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        return sorted(str(p) for p in found) or [str(path)]  # an empty folder: the rule says so
    return [str(path)]


def responses_settings(signal=None):
    """What a responses store depends on: windows, splits, seed and its signal."""
    keep = ("response_window", "baseline_window", "n_splits", "seed")
    return {**{k: RESPONSES[k] for k in keep}, "signal": signal or RESPONSES["signal"]}


def spike_model_path(signal):
    """The model file (bank directory) a supervised spikes signal needs, else None: the one
    named in responses.spike_models, else the workflow's own (config_checks: one training set)."""
    kind, label = parse_signal(signal)
    if kind != "spikes" or label == "truth" or spikes_method_name(label) not in SUPERVISED:
        return None
    if label in RESPONSES["spike_models"]:
        return RESPONSES["spike_models"][label]
    trainset = next(iter(spikes_train_sets()))
    suffix = "" if spikes_method_name(label) == "bank" else ".pt"
    return f"{SPIKES_DIR}/models/{label}_{trainset}{suffix}"


def responses_model_input(signal):
    """Input function: the spike model file of a signal, when it needs one."""

    def inputs(wildcards):
        path = spike_model_path(signal(wildcards))
        return {"model": path} if path else {}

    return inputs


def signal_of_slug(slug):
    """The compared signal whose file name is `slug`."""
    return next(s for s in COMPARE["signals"] if signal_slug(s) == slug)


def signal_responses(dataset, signal):
    """The responses store of a dataset from one signal (the main store for responses.signal)."""
    if signal == RESPONSES["signal"]:
        return f"{RESULTS}/responses/{dataset}.zarr"
    return f"{RESULTS}/responses/{dataset}/{signal_slug(signal)}.zarr"


def comparison_runs():
    """(model, dataset) pairs whose signals are compared: every recording dataset with each
    model of responses.compare.models that runs on its stimulus set ([] = every model encoded
    on it)."""
    if not COMPARE["signals"]:
        return []
    runs = []
    for dataset in recording_datasets():
        if COMPARE["models"]:
            stimuli = stimulus_set_of(dataset)
            runs += [(m, dataset) for m in COMPARE["models"] if stimuli in model_stimulus_sets(m)]
        else:
            runs += [(m, d) for d, m in ENCODING_RUNS if d == dataset]
    return runs


def comparison_inputs(wildcards):
    """Projection, each signal's responses, and the encoding store of the main signal where
    the workflow encodes it anyway (the comparison encodes the others)."""
    stimuli = stimulus_set_of(wildcards.dataset)
    inputs = {
        "projection": f"{RESULTS}/projection/{wildcards.model}/{stimuli}.zarr",
        "responses": [signal_responses(wildcards.dataset, s) for s in COMPARE["signals"]],
    }
    main_encoded = (wildcards.dataset, wildcards.model) in ENCODING_RUNS
    if main_encoded and RESPONSES["signal"] in COMPARE["signals"]:
        inputs["encoding"] = f"{RESULTS}/encoding/{wildcards.model}/{wildcards.dataset}.zarr"
    return inputs


def neural_input(wildcards):
    """What RSA compares layers with: a dataset's responses, or its checked RDM store."""
    if wildcards.dataset in rdm_datasets():
        return {"rdms": f"{RESULTS}/rdms/{wildcards.dataset}.zarr"}
    return {"responses": f"{RESULTS}/responses/{wildcards.dataset}.zarr"}


def user_data_targets():
    """The RDM datasets' figures and the calcium-to-cortex comparisons of the default target."""
    targets = [f"{RESULTS}/figures/data/rdms_{d}.png" for d in rdm_datasets()]
    for model, dataset in comparison_runs():
        targets += [
            f"{RESULTS}/signals/{model}/{dataset}.csv",
            f"{RESULTS}/figures/signals/{model}/{dataset}_comparison.png",
        ]
    return targets


# ---- the default target --------------------------------------------------------------------


def final_targets():
    """Everything `snakemake` builds by default: every stage's tables, stores and figures."""
    targets = [f"{RESULTS}/figures/data/stimuli_{s}.png" for s in config["stimulus_sets"]]
    targets += [f"{RESULTS}/figures/data/recording_{d}.png" for d in recording_datasets()]
    drawn = {m for m, spec in config["models"].items() if spec["figures"]}
    for model, stimuli in model_runs():
        targets += [
            f"{RESULTS}/features/{model}/{stimuli}.zarr",
            f"{RESULTS}/projection/{model}/{stimuli}.zarr",
            f"{RESULTS}/similarity/{model}/{stimuli}_layers.csv",
            f"{RESULTS}/similarity/{model}/{stimuli}_layer_pairs.csv",
        ]
        targets += [
            f"{RESULTS}/figures/similarity/{model}/{stimuli}_{figure}.png"
            for figure in SIMILARITY_FIGURES
            if model in drawn
        ]
    for model, dataset in similarity_rsa_runs():
        targets.append(f"{RESULTS}/similarity/{model}/{dataset}_rsa.csv")
        if model in drawn:
            targets.append(f"{RESULTS}/figures/similarity/{model}/{dataset}_rsa.png")
    for dataset, model in ENCODING_RUNS:
        targets.append(f"{RESULTS}/encoding/{model}/{dataset}.csv")
        targets += [
            f"{RESULTS}/figures/encoding/{model}/{dataset}_{figure}.png"
            for figure in ENCODING_FIGURES
            if model in drawn
        ]
    if GROUND_TRUTH:
        targets += [f"{RESULTS}/figures/spikes/{f}.png" for f in ("scores", "noise", "comparison")]
        targets += [f"{RESULTS}/figures/spikes/examples_{gt}.png" for gt in GROUND_TRUTH]
    targets += spikes_model_targets()
    targets += training_targets()
    targets += zoo_targets()
    targets += user_data_targets()
    targets += [f"{RESULTS}/report/config.yaml", f"{RESULTS}/report/versions.txt"]
    return targets
