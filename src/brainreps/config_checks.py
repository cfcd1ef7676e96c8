"""Every check that relates one config section to another, in one place.

The JSON schema checks each entry on its own; these checks follow the names one entry uses to
point at another (a dataset's stimulus set, a model's stimulus sets, an encoding run's pair,
a spike ground truth's simulated dataset, ...). `validate_config` runs them after the schema
and raises ConfigError listing what they find, so the Snakefile at start-up and `brainreps
check-config` give the same message for the same config. Each check names the offending key
and lists what is defined. A new section adds its checks here with `@check`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

Config = Mapping[str, Any]
CHECKS: list[Callable[[Config], Iterator[str]]] = []


def check(fn: Callable[[Config], Iterator[str]]) -> Callable[[Config], Iterator[str]]:
    """Register a check: a generator of error messages for a validated config."""
    CHECKS.append(fn)
    return fn


def _defined(names) -> str:
    return ", ".join(names) or "none"


def _with_source(section: Mapping[str, Any], source: str) -> list[str]:
    return [n for n, entry in section.items() if entry.get("source") == source]


def model_stimulus_sets(config: Config, model: str) -> list[str]:
    """Names of the stimulus sets a model runs on (its optional `stimuli`; absent = all)."""
    sets = config["models"][model].get("stimuli")
    if sets is None:
        return list(config.get("stimulus_sets", {}))
    return [sets] if isinstance(sets, str) else list(sets)


@check
def dataset_stimuli(config: Config) -> Iterator[str]:
    """A dataset's stimulus set exists."""
    sets = config.get("stimulus_sets", {})
    for name, dataset in config.get("datasets", {}).items():
        stim = dataset.get("stimuli")
        if stim is not None and stim not in sets:
            yield (
                f"config key datasets.{name}.stimuli: stimulus set {stim!r} is not defined "
                f"in stimulus_sets (defined: {_defined(sets)})"
            )


@check
def model_stimuli(config: Config) -> Iterator[str]:
    """Every stimulus set a model names exists."""
    sets = config.get("stimulus_sets", {})
    for model in config.get("models") or {}:
        for name in model_stimulus_sets(config, model):
            if name not in sets:
                yield (
                    f"config key models.{model}.stimuli: stimulus set {name!r} is not defined "
                    f"in stimulus_sets (defined: {_defined(sets)})"
                )


@check
def allen_pairs(config: Config) -> Iterator[str]:
    """An allen stimulus set names an allen dataset. (Any allen dataset may use it: the
    natural-scenes templates are the same in every session.)"""
    sets, datasets = config.get("stimulus_sets", {}), config.get("datasets", {})
    allen_datasets = _with_source(datasets, "allen")
    for name in _with_source(sets, "allen"):
        target = sets[name]["dataset"]
        if target not in allen_datasets:
            yield (
                f"config key stimulus_sets.{name}.dataset: {target!r} is not a dataset with "
                f"source allen (allen datasets: {_defined(allen_datasets)})"
            )


@check
def encoding_runs(config: Config) -> Iterator[str]:
    """Every encoding run names an existing dataset and model."""
    datasets, models = config.get("datasets", {}), config.get("models") or {}
    for i, run in enumerate((config.get("encoding") or {}).get("runs") or []):
        if run["dataset"] not in datasets:
            yield (
                f"config key encoding.runs.{i}.dataset: no dataset {run['dataset']!r} "
                f"(defined: {_defined(datasets)})"
            )
        if run["model"] not in models:
            yield (
                f"config key encoding.runs.{i}.model: no model {run['model']!r} "
                f"(defined: {_defined(models)})"
            )


@check
def rdm_datasets(config: Config) -> Iterator[str]:
    """A dataset of RDMs has no units to encode: an encoding run must not name one."""
    rdms = _with_source(config.get("datasets", {}), "rdms")
    for i, run in enumerate((config.get("encoding") or {}).get("runs") or []):
        if run["dataset"] in rdms:
            yield (
                f"config key encoding.runs.{i}.dataset: {run['dataset']!r} is a dataset of RDMs "
                "(source rdms), which has no units to encode; its RSA runs without encoding"
            )


def _signals(responses: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(config key, signal) of responses.signal and every compared signal."""
    out = [("responses.signal", responses.get("signal", "dff"))]
    compared = (responses.get("compare") or {}).get("signals") or []
    out += [(f"responses.compare.signals.{i}", signal) for i, signal in enumerate(compared)]
    return out


@check
def response_signals(config: Config) -> Iterator[str]:
    """A spikes signal names a method; the true spikes exist; a supervised method has a model
    file (responses.spike_models, or the one model the workflow trains); compared models exist
    and run on a recording's stimulus set."""
    from brainreps.spikes import METHODS, SUPERVISED

    responses = config.get("responses") or {}
    spikes = config.get("spikes") or {}
    methods = spikes.get("methods") or {}
    training = spikes.get("training") or {}
    datasets = config.get("datasets", {})
    recordings = [d for d, e in datasets.items() if e.get("source") != "rdms"]
    given = responses.get("spike_models") or {}
    supervised_used = set()
    for key, signal in _signals(responses):
        if signal == "dff":
            continue
        label = signal.split(":", 1)[1]
        if label == "truth":
            lacking = [d for d in recordings if datasets[d]["source"] != "simulated"]
            if lacking:
                yield (
                    f"config key {key}: spikes:truth needs ground-truth spikes, which only "
                    f"simulated recordings have (not: {_defined(lacking)})"
                )
            continue
        if label not in methods and label not in METHODS:
            yield (
                f"config key {key}: {signal!r} names no spike-inference method (labels in "
                f"spikes.methods: {_defined(methods)}; methods: {_defined(METHODS)}; or "
                "spikes:truth)"
            )
            continue
        method = (methods.get(label) or {}).get("method", label)
        if method not in SUPERVISED:
            continue
        supervised_used.add(label)
        if label in given:
            continue
        trained = label in methods and (
            training.get("methods") is None or label in training["methods"]
        )
        n_sets = len(training.get("sets") or spikes.get("ground_truth") or {})
        if not trained or n_sets != 1:
            reason = (
                "the workflow trains no model for it"
                if not trained
                else f"the workflow trains one per training set ({n_sets})"
            )
            yield (
                f"config key {key}: {signal!r} is supervised and {reason}; name its model file "
                f"in responses.spike_models.{label}"
            )
    for label in given:
        if label not in supervised_used:
            yield (
                f"config key responses.spike_models.{label}: no supervised signal "
                f"spikes:{label} in responses.signal or responses.compare.signals"
            )
    compared = (responses.get("compare") or {}).get("models") or []
    sets = config.get("stimulus_sets", {})
    recorded = {datasets[d]["stimuli"] for d in recordings if datasets[d].get("stimuli") in sets}
    if compared and (responses.get("compare") or {}).get("signals") and recorded:
        models = config.get("models") or {}
        checkpoints = {
            f"{run}_e{epoch}"
            for run, entry in (config.get("training") or {}).items()
            for epoch in {0, *(entry.get("epochs") or [])}
        }
        for model in compared:
            if model in checkpoints and model not in models:
                continue  # a training run's checkpoint: analysed on the datasets' sets
            if model not in models:
                yield (
                    f"config key responses.compare.models: no model {model!r} (defined: "
                    f"{_defined(models)}, and the training runs' checkpoints)"
                )
            elif not recorded & set(model_stimulus_sets(config, model)):
                yield (
                    f"config key responses.compare.models: model {model!r} runs on none of "
                    f"the recordings' stimulus sets ({_defined(sorted(recorded))})"
                )


@check
def spikes_ground_truth(config: Config) -> Iterator[str]:
    """A simulated ground truth names a simulated dataset."""
    simulated = _with_source(config.get("datasets", {}), "simulated")
    spikes = config.get("spikes") or {}
    for name, entry in (spikes.get("ground_truth") or {}).items():
        if entry["source"] == "simulated" and entry["dataset"] not in simulated:
            yield (
                f"config key spikes.ground_truth.{name}.dataset: {entry['dataset']!r} is not a "
                f"simulated dataset in `datasets` (simulated: {_defined(simulated)})"
            )


def _supervised_labels(methods: Mapping[str, Any]) -> list[str]:
    """The labels of spikes.methods whose method is supervised."""
    from brainreps.spikes import SUPERVISED

    return [
        label
        for label, entry in methods.items()
        if (entry or {}).get("method", label) in SUPERVISED
    ]


@check
def spikes_cv(config: Config) -> Iterator[str]:
    """A cross-validation's datasets name ground-truth entries, its methods supervised ones."""
    spikes = config.get("spikes") or {}
    ground_truth = spikes.get("ground_truth") or {}
    supervised = _supervised_labels(spikes.get("methods") or {})
    cv = spikes.get("cv") or {}
    entries = (
        [("spikes.cv", cv)]
        if isinstance(cv, Mapping)
        else [(f"spikes.cv.{k}", entry) for k, entry in enumerate(cv)]
    )
    for where, entry in entries:
        for name in entry.get("datasets") or []:
            if name not in ground_truth:
                yield (
                    f"config key {where}.datasets: {name!r} is not a dataset in "
                    f"spikes.ground_truth (defined: {_defined(ground_truth)})"
                )
        for label in entry.get("methods") or []:
            if label not in supervised:
                yield (
                    f"config key {where}.methods: {label!r} is not a supervised method label "
                    f"in spikes.methods (supervised: {_defined(supervised)})"
                )


@check
def spikes_training(config: Config) -> Iterator[str]:
    """Training sets name ground-truth entries; trained labels name supervised methods."""
    spikes = config.get("spikes") or {}
    ground_truth = spikes.get("ground_truth") or {}
    methods = spikes.get("methods") or {}
    training = spikes.get("training") or {}
    for name, members in (training.get("sets") or {}).items():
        for gt in members:
            if gt not in ground_truth:
                yield (
                    f"config key spikes.training.sets.{name}: {gt!r} is not a dataset in "
                    f"spikes.ground_truth (defined: {_defined(ground_truth)})"
                )
    supervised = _supervised_labels(methods)
    for label in training.get("methods") or []:
        if label not in supervised:
            yield (
                f"config key spikes.training.methods: {label!r} is not a supervised method "
                f"label in spikes.methods (supervised: {_defined(supervised)})"
            )


LABELLED_SOURCES = ("photographs", "imagenet")


@check
def training_runs(config: Config) -> Iterator[str]:
    """A run trains on a labelled stimulus set, saves increasing epochs, analyses known sets."""
    sets = config.get("stimulus_sets", {})
    models = config.get("models") or {}
    for run, entry in (config.get("training") or {}).items():
        stim = entry["stimuli"]
        if stim not in sets:
            yield (
                f"config key training.{run}.stimuli: stimulus set {stim!r} is not defined in "
                f"stimulus_sets (defined: {_defined(sets)})"
            )
        elif sets[stim]["source"] not in LABELLED_SOURCES:
            labelled = [n for n, e in sets.items() if e["source"] in LABELLED_SOURCES]
            yield (
                f"config key training.{run}.stimuli: stimulus set {stim!r} (source "
                f"{sets[stim]['source']}) has no class labels (labelled sets: "
                f"{_defined(labelled)})"
            )
        epochs = list(entry.get("epochs") or [])
        if epochs != sorted(epochs):
            yield f"config key training.{run}.epochs: {epochs} is not increasing"
        for name in (entry.get("analyse") or {}).get("stimuli") or []:
            if name not in sets:
                yield (
                    f"config key training.{run}.analyse.stimuli: stimulus set {name!r} is not "
                    f"defined in stimulus_sets (defined: {_defined(sets)})"
                )
        for epoch in sorted({0, *epochs}):
            generated = f"{run}_e{epoch}"
            mine = {"run": run, "epoch": epoch}
            if generated in models and models[generated].get("checkpoint") != mine:
                yield (
                    f"config key models.{generated}: the name is taken by the checkpoint of "
                    f"training run {run!r} at epoch {epoch}; rename the model"
                )


@check
def neural_similarity(config: Config) -> Iterator[str]:
    """A brain-guided run names an encoding model the workflow fits, or an RDM dataset."""
    from brainreps.encoding.runs import encoding_runs

    datasets, models = config.get("datasets", {}), config.get("models") or {}
    for run, entry in (config.get("training") or {}).items():
        ns = entry.get("neural_similarity")
        if not ns:
            continue
        where = f"config key training.{run}.neural_similarity"
        if ns["source"] == "encoding":
            enc = ns.get("encoding")
            if enc is None:
                yield f"{where}.encoding: source encoding needs {{model: ..., dataset: ...}}"
            elif enc["model"] not in models:
                yield f"{where}.encoding.model: no model {enc['model']!r} (defined: {_defined(models)})"
            elif enc["dataset"] not in datasets:
                yield (
                    f"{where}.encoding.dataset: no dataset {enc['dataset']!r} "
                    f"(defined: {_defined(datasets)})"
                )
            elif datasets[enc["dataset"]].get("stimuli") not in config.get("stimulus_sets", {}):
                continue  # the dataset's own check names its stimulus set
            elif (enc["dataset"], enc["model"]) not in encoding_runs(config):
                yield (
                    f"{where}.encoding: model {enc['model']!r} is not scored on dataset "
                    f"{enc['dataset']!r} (add it to encoding.runs, or let the model run on "
                    "the dataset's stimulus set)"
                )
        else:
            rdm_sets = _with_source(datasets, "rdms")
            if ns.get("dataset") not in rdm_sets:
                yield (
                    f"{where}.dataset: {ns.get('dataset')!r} is not a dataset with source rdms "
                    f"(rdms datasets: {_defined(rdm_sets)})"
                )


@check
def checkpoint_models(config: Config) -> Iterator[str]:
    """A model's checkpoint names a training run and one of its saved epochs."""
    import os

    runs = config.get("training") or {}
    for name, spec in (config.get("models") or {}).items():
        ref = spec.get("checkpoint")
        if ref is None:
            path = spec.get("weights_file")
            if path is not None and not os.path.isfile(os.path.expanduser(path)):
                yield f"config key models.{name}.weights_file: file {path!r} does not exist"
            elif path is not None and spec.get("weights", "none") != "none":
                yield (
                    f"config key models.{name}: weights {spec['weights']!r} and a weights_file "
                    "exclude each other"
                )
            continue
        if spec.get("weights", "none") != "none":
            yield f"config key models.{name}: a checkpoint model takes no `weights`"
        if ref["run"] not in runs:
            yield (
                f"config key models.{name}.checkpoint.run: no training run {ref['run']!r} "
                f"(defined: {_defined(runs)})"
            )
            continue
        saved = sorted({0, *(runs[ref["run"]].get("epochs") or [])})
        if ref["epoch"] not in saved:
            yield (
                f"config key models.{name}.checkpoint.epoch: run {ref['run']!r} saves epochs "
                f"{saved}, not {ref['epoch']}"
            )


def defined_models(config: Config) -> list[str]:
    """Every model name the config defines: its models, the zoo's and the checkpoints'."""
    from brainreps.config_expand import checkpoint_model_name, saved_epochs, zoo_model_names

    names = list(config.get("models") or {})
    names += zoo_model_names(config.get("zoo") or {})
    for run, entry in (config.get("training") or {}).items():
        if (entry.get("analyse") or {}).get("stimuli") != []:  # [] = trained, not analysed
            names += [checkpoint_model_name(run, e) for e in saved_epochs(entry)]
    return list(dict.fromkeys(names))


@check
def zoo_entries(config: Config) -> Iterator[str]:
    """A zoo model's name is taken by no other model; its stimulus sets exist."""
    from brainreps.config_expand import zoo_forms, zoo_model_names

    zoo = config.get("zoo") or {}
    sets = config.get("stimulus_sets", {})
    models = config.get("models") or {}
    seen: set[str] = set()
    for (arch, weights), name in zip(zoo_forms(zoo), zoo_model_names(zoo), strict=True):
        other = models.get(name)
        # the same architecture and weights in models is the zoo's entry (or the user's own)
        taken = other is not None and (other.get("arch"), other.get("weights")) != (arch, weights)
        if taken or name in seen:
            yield (
                f"config key zoo.architectures: the zoo's model {name!r} is defined twice "
                f"({'in models too' if taken else 'by two zoo entries'}); rename the model "
                "or drop one entry"
            )
        seen.add(name)
    entries = [("zoo.settings", zoo.get("settings") or {})]
    entries += [
        (f"zoo.architectures.{i}", item)
        for i, item in enumerate(zoo.get("architectures") or [])
        if isinstance(item, Mapping)
    ]
    for where, entry in entries:
        chosen = entry.get("stimuli")
        for name in [chosen] if isinstance(chosen, str) else chosen or []:
            if name not in sets:
                yield (
                    f"config key {where}.stimuli: stimulus set {name!r} is not defined in "
                    f"stimulus_sets (defined: {_defined(sets)})"
                )


def _labelled_counts(entry: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """(classes, images per class in the cross-validated part) of a labelled set, if known."""
    if entry["source"] == "photographs":
        from brainreps.data.photographs import ALL_PHOTOGRAPHS

        return len(entry.get("photographs") or ALL_PHOTOGRAPHS), entry.get("n_train_per_class")
    if entry["source"] == "imagenet":
        classes = entry.get("classes")
        n = len(classes) if classes else None
        if entry.get("max_classes") is not None:
            n = min(n or entry["max_classes"], entry["max_classes"])
        return n, entry.get("n_per_class")
    return None, None


@check
def texture_sets(config: Config) -> Iterator[str]:
    """A texture set is a labelled stimulus set with two classes or more and at least as many
    images per class as folds; the texture models exist."""
    textures = config.get("textures") or {}
    sets = config.get("stimulus_sets", {})
    for name in textures.get("stimuli") or []:
        folds = textures["n_folds"]
        where = f"config key textures.stimuli: texture set {name!r}"
        entry = sets.get(name)
        if entry is None:
            yield f"{where} is not defined in stimulus_sets (defined: {_defined(sets)})"
            continue
        labelled = entry["source"] in LABELLED_SOURCES or entry.get("labels") is not None
        if not labelled:
            yield f"{where} (source {entry['source']}) has no class labels"
            continue
        classes, per_class = _labelled_counts(entry)
        if classes is not None and classes < 2:
            yield f"{where} has {classes} class; telling textures apart needs at least 2"
        if per_class is not None and per_class < folds:
            yield (
                f"{where} has {per_class} images per class, fewer than the {folds} "
                "cross-validation folds (textures.n_folds)"
            )
    models = defined_models(config)
    for name in textures.get("models") or []:
        if name not in models:
            yield (
                f"config key textures.models: no model {name!r} (defined, the zoo's and "
                f"checkpoints' included: {_defined(models)})"
            )


@check
def download_names(config: Config) -> Iterator[str]:
    """Archives downloaded by URL get distinct file names, or are the same download."""
    from brainreps.download import archive_name

    seen: dict[str, tuple[str, dict]] = {}
    for name, entry in config.get("stimulus_sets", {}).items():
        if entry.get("source") != "imagenet" or "url" not in entry:
            continue
        file = archive_name(entry["url"])
        key = {"url": entry["url"], "sha256": entry.get("sha256"), "md5": entry.get("md5")}
        if file in seen and seen[file][1] != key:
            other, first = seen[file]
            yield (
                f"config key stimulus_sets.{name}.url: downloads {entry['url']} to the file "
                f"{file}, which stimulus_sets.{other}.url downloads from {first['url']} "
                f"(checksum {first['sha256'] or first['md5']}); give the archives distinct "
                "file names or the same URL and checksum"
            )
        seen.setdefault(file, (name, key))


def reference_problems(config: Config) -> list[str]:
    """Every registered check's messages for a schema-valid config (empty when all hold)."""
    return [message for fn in CHECKS for message in fn(config)]
