"""Cross-section config checks: `brainreps check-config` and the workflow give the same words."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from helpers import DEFAULT_CONFIG, REPO, default_config, run_snakemake

from brainreps.cli import main
from brainreps.config import ConfigError, validate_config
from brainreps.config_checks import CHECKS, reference_problems

SHA_A, SHA_B = "a" * 64, "b" * 64


def _imagenet(url, sha):
    return {"source": "imagenet", "url": url, "sha256": sha, "n_per_class": 1}


# the encoding model the default's brain-guided runs use stays scored when a case edits the runs
ALEXNET_SCORED = {"dataset": "simulated", "model": "alexnet"}

# (edit of the embedded default, the message both must print)
BAD = {
    "dataset stimuli": (
        lambda c: c["datasets"]["simulated"].update(stimuli="nope"),
        "config key datasets.simulated.stimuli: stimulus set 'nope' is not defined in "
        "stimulus_sets (defined: embedded, photographs, textures)",
    ),
    "model stimuli": (
        lambda c: c["models"]["alexnet"].update(stimuli=["embedded", "nope"]),
        "config key models.alexnet.stimuli: stimulus set 'nope' is not defined in "
        "stimulus_sets (defined: embedded, photographs, textures)",
    ),
    "allen set without allen dataset": (
        lambda c: c["stimulus_sets"].update(scenes={"source": "allen", "dataset": "simulated"}),
        "config key stimulus_sets.scenes.dataset: 'simulated' is not a dataset with source "
        "allen (allen datasets: none)",
    ),
    "encoding run": (
        lambda c: c["encoding"].update(
            runs=[{"dataset": "simulated", "model": "vgg"}, ALEXNET_SCORED]
        ),
        "config key encoding.runs.0.model: no model 'vgg' (defined: resnet18, alexnet)",
    ),
    "simulated ground truth": (
        lambda c: c["spikes"]["ground_truth"]["simulated"].update(dataset="nope"),
        "config key spikes.ground_truth.simulated.dataset: 'nope' is not a simulated dataset "
        "in `datasets` (simulated: simulated)",
    ),
    "training set": (
        lambda c: c["spikes"].update(training={"sets": {"all": ["simulated", "sf4"]}}),
        "config key spikes.training.sets.all: 'sf4' is not a dataset in spikes.ground_truth "
        "(defined: simulated)",
    ),
    "training method": (
        lambda c: c["spikes"].update(training={"methods": ["oasis", "cnn"]}),
        "config key spikes.training.methods: 'oasis' is not a supervised method label in "
        "spikes.methods (supervised: cnn, stm",
    ),
    "cv dataset": (
        lambda c: c["spikes"].update(cv=[{"scheme": "leave_one_neuron_out", "datasets": ["sf4"]}]),
        "config key spikes.cv.0.datasets: 'sf4' is not a dataset in spikes.ground_truth "
        "(defined: simulated)",
    ),
    "cv method": (
        lambda c: c["spikes"].update(cv={"scheme": "kfold_neurons", "methods": ["oasis"]}),
        "config key spikes.cv.methods: 'oasis' is not a supervised method label in "
        "spikes.methods (supervised: cnn, stm",
    ),
    "training on an unlabelled set": (
        lambda c: c["training"]["convnet"].update(stimuli="embedded"),
        "config key training.convnet.stimuli: stimulus set 'embedded' (source embedded) has no "
        "class labels (labelled sets: photographs, textures)",
    ),
    "training epochs out of order": (
        lambda c: c["training"]["convnet"].update(epochs=[0, 10, 5]),
        "config key training.convnet.epochs: [0, 10, 5] is not increasing",
    ),
    "checkpoint of an unknown run": (
        lambda c: c["models"].update(mine={"checkpoint": {"run": "resnet", "epoch": 3}}),
        "config key models.mine.checkpoint.run: no training run 'resnet' (defined: convnet, "
        "convnet-brain, convnet-brain-control, convnet-shuffled)",
    ),
    "brain-guided run towards an unscored encoding model": (
        lambda c: (
            c["training"]["convnet-brain"].update(
                neural_similarity={
                    **c["training"]["convnet-brain"]["neural_similarity"],
                    "encoding": {"model": "resnet18", "dataset": "simulated"},
                }
            )
            or c["encoding"].update(runs=[ALEXNET_SCORED])
        ),
        "config key training.convnet-brain.neural_similarity.encoding: model 'resnet18' is not "
        "scored on dataset 'simulated' (add it to encoding.runs",
    ),
    "brain-guided run towards a dataset without rdms": (
        lambda c: c["training"]["convnet-brain"].update(
            neural_similarity={
                **c["training"]["convnet-brain"]["neural_similarity"],
                "source": "rdms",
                "dataset": "simulated",
            }
        ),
        "config key training.convnet-brain.neural_similarity.dataset: 'simulated' is not a "
        "dataset with source rdms (rdms datasets: none)",
    ),
    "checkpoint of an unsaved epoch": (
        lambda c: c["models"].update(mine={"checkpoint": {"run": "convnet", "epoch": 3}}),
        "config key models.mine.checkpoint.epoch: run 'convnet' saves epochs [0, 1, 2, 5, 10], "
        "not 3",
    ),
    "encoding an RDM dataset": (
        lambda c: (
            c["datasets"].update(
                rdms={"source": "rdms", "path": str(DEFAULT_CONFIG), "stimuli": "embedded"}
            ),
            c["encoding"].update(runs=[{"dataset": "rdms", "model": "resnet18"}, ALEXNET_SCORED]),
        ),
        "config key encoding.runs.0.dataset: 'rdms' is a dataset of RDMs (source rdms), which "
        "has no units to encode",
    ),
    "unknown spikes signal": (
        lambda c: c["responses"].update(signal="spikes:mlspike"),
        "config key responses.signal: 'spikes:mlspike' names no spike-inference method (labels "
        "in spikes.methods: oasis, oasis_ar2, derivative, cnn, stm, bank, vae; methods: oasis,",
    ),
    "supervised signal without one model": (
        lambda c: c["spikes"].update(training={"sets": {"a": ["simulated"], "b": ["simulated"]}}),
        "config key responses.compare.signals.1: 'spikes:cnn' is supervised and the workflow "
        "trains one per training set (2); name its model file in responses.spike_models.cnn",
    ),
    "unused spike model": (
        lambda c: c["responses"].update(spike_models={"stm": str(DEFAULT_CONFIG)}),
        "config key responses.spike_models.stm: no supervised signal spikes:stm in "
        "responses.signal or responses.compare.signals",
    ),
    "zoo name taken": (
        lambda c: c["models"].update(googlenet_random=dict(c["models"]["alexnet"])),
        "config key zoo.architectures: the zoo's model 'googlenet_random' is defined twice (in "
        "models too); rename the model or drop one entry",
    ),
    "zoo stimuli": (
        lambda c: c["zoo"]["settings"].update(stimuli="nope"),
        "config key zoo.settings.stimuli: stimulus set 'nope' is not defined in stimulus_sets "
        "(defined: embedded, photographs, textures)",
    ),
    "texture set without labels": (
        lambda c: c["textures"].update(stimuli=["embedded"]),
        "config key textures.stimuli: texture set 'embedded' (source embedded) has no class labels",
    ),
    "texture set with fewer images than folds": (
        lambda c: c["stimulus_sets"]["textures"].update(n_train_per_class=4),
        "config key textures.stimuli: texture set 'textures' has 4 images per class, fewer "
        "than the 5 cross-validation folds (textures.n_folds)",
    ),
    "texture set with one class": (
        lambda c: (
            c["stimulus_sets"].update(
                nette={
                    "source": "imagenet",
                    "folder": ".",
                    "classes": ["n01440764"],
                    "n_per_class": 5,
                }
            )
            or c["textures"].update(stimuli=["nette"])
        ),
        "config key textures.stimuli: texture set 'nette' has 1 class; telling textures apart "
        "needs at least 2",
    ),
    "texture model": (
        lambda c: c["textures"].update(models=["googlenet"]),
        "config key textures.models: no model 'googlenet' (defined, the zoo's and checkpoints' "
        "included: resnet18, alexnet, googlenet_random, convnet_e0",
    ),
    "download names": (
        lambda c: c["stimulus_sets"].update(
            a=_imagenet("http://127.0.0.1:9/one/imagenette.tgz", SHA_A),
            b=_imagenet("http://127.0.0.1:9/two/imagenette.tgz", SHA_B),
        ),
        "config key stimulus_sets.b.url: downloads http://127.0.0.1:9/two/imagenette.tgz to "
        "the file imagenette.tgz, which stimulus_sets.a.url downloads from "
        "http://127.0.0.1:9/one/imagenette.tgz",
    ),
}


def bad_config(case: str) -> dict:
    config = default_config()
    BAD[case][0](config)
    return config


def test_every_registered_check_has_a_bad_config_here():
    assert len(CHECKS) == 15  # every check has a case above (some have two)
    messages = {problem for case in BAD for problem in reference_problems(bad_config(case))}
    assert len(messages) == len(BAD)


def test_the_default_config_passes_every_check():
    assert reference_problems(validate_config(default_config())) == []


@pytest.mark.parametrize("name", ["allen.yaml", "spikefinder.yaml"])
def test_the_shipped_configs_pass_every_check(name, monkeypatch):
    """The real run's configs, read from the repository root as their paths expect (the
    Allen datasets share one set of natural-scenes templates)."""
    if name == "spikefinder.yaml" and not (REPO.parent / "shared/data/cascade").is_dir():
        pytest.skip("reference data ../shared/data/cascade absent")
    monkeypatch.chdir(REPO)
    config = yaml.safe_load((REPO / "config" / name).read_text())
    assert reference_problems(validate_config(config)) == []


@pytest.mark.parametrize("case", sorted(BAD))
def test_check_config_names_the_key(case, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(bad_config(case), sort_keys=False))
    assert main(["check-config", str(path)]) == 2
    assert BAD[case][1] in capsys.readouterr().err
    with pytest.raises(ConfigError, match="invalid configuration"):
        validate_config(bad_config(case))


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD))
def test_the_workflow_refuses_with_the_same_message(case, tmp_path):
    proc = run_snakemake(tmp_path, "-n", config=copy.deepcopy(bad_config(case)), check=False)
    assert proc.returncode != 0
    assert BAD[case][1] in proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_real_run_plans_every_stage(tmp_path):
    """config/allen.yaml builds its whole DAG (a dry run), zoo, branches and textures included."""
    config = yaml.safe_load((REPO / "config" / "allen.yaml").read_text())
    for entry in config["spikes"]["ground_truth"].values():
        if "path" in entry:  # relative to the repository root
            entry["path"] = str((REPO / entry["path"]).resolve())
            if not Path(entry["path"]).exists():
                pytest.skip(f"reference data {entry['path']} absent")
    proc = run_snakemake(tmp_path, "-n", "--quiet", "rules", config=config)
    jobs = {}
    for line in (proc.stdout + proc.stderr).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs["allen_recording"] == 6 and jobs["trial_responses"] == 6  # one per area
    for rule in ("zoo_table", "similarity_figure_branches", "texture_analysis", "model_accuracy"):
        assert jobs.get(rule, 0) >= 1, rule
