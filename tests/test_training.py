"""Training: the offline labelled set, the loop (accuracy, random labels, determinism, resume),
checkpoints as models, task accuracy and the ImageNet class indices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from brainreps.checkpoints import CheckpointError, read_model_file
from brainreps.data.photographs import ALL_PHOTOGRAPHS, photograph_stimuli
from brainreps.features import extract_features
from brainreps.io import write_store
from brainreps.models import load_model_file, model_from_spec
from brainreps.training.accuracy import imagenet_description, imagenet_index, topk
from brainreps.training.data import LabelError, labelled_split
from brainreps.training.loop import (
    TrainingError,
    evaluate_checkpoints,
    saved_epochs,
    train_run,
)

CLASSES = ["brick", "camera", "coins", "grass", "moon", "rocket"]
NET = {
    "arch": "brainreps/convnet",
    "arch_params": {"widths": [8, 16, 32]},
    "stimuli": "toy",
    "threads": 1,
}
NO_AUGMENTATION = {"crop_padding": 0, "flip": False}


@pytest.fixture(scope="module")
def toy():
    """Six photographs, 40 training and 20 held-out crops each, 24 px."""
    return photograph_stimuli(CLASSES, 40, 20, 24, seed=0)


@pytest.fixture(scope="module")
def toy_split(toy):
    return labelled_split(toy, "toy", 0.2, 0)


def _evaluated(split, settings, work: dict, epoch: int) -> dict:
    return evaluate_checkpoints(split, settings, {epoch: work[epoch]}, "test")[epoch]


def test_the_offline_set_has_disjoint_train_and_test_regions():
    ds = photograph_stimuli(None, 150, 40, 32, seed=0)
    assert len(ALL_PHOTOGRAPHS) == 14 and ds.attrs["classes"] == sorted(ALL_PHOTOGRAPHS)
    split = ds["split"].values
    assert (split == "train").sum() == 2100 and (split == "test").sum() == 560
    for name in ALL_PHOTOGRAPHS:
        boxes = {s: [] for s in ("train", "test")}
        for src, sp in zip(ds["source"].values, split, strict=True):
            photo, rest = str(src).split(":")
            if photo == name:
                top, left, side = map(int, rest.split(","))
                boxes[sp].append((top, left, top + side, left + side))
        test = np.array(boxes["test"])
        t0, l0, b0, r0 = test[:, 0].min(), test[:, 1].min(), test[:, 2].max(), test[:, 3].max()
        for top, left, bottom, right in boxes["train"]:  # no training crop touches the test box
            assert bottom <= t0 or top >= b0 or right <= l0 or left >= r0, name
    again = photograph_stimuli(None, 150, 40, 32, seed=0)
    np.testing.assert_array_equal(ds["pixels"].values, again["pixels"].values)


def test_training_beats_chance_and_shuffled_labels_fit_without_generalising(toy_split, tmp_path):
    settings = {**NET, "epochs": [0, 8], "augmentation": NO_AUGMENTATION}
    given = train_run(toy_split, settings, tmp_path / "g")
    assert _evaluated(toy_split, settings, given, 8)["test"]["top1"] > 0.5  # chance is 1/6
    assert _evaluated(toy_split, settings, given, 0)["test"]["top1"] < 0.35
    settings = {**NET, "arch_params": {"widths": [16, 32, 64]}, "labels": "shuffled",
                "epochs": [0, 60], "augmentation": NO_AUGMENTATION}  # fmt: skip
    shuffled = train_run(toy_split, settings, tmp_path / "s")
    evaluation = _evaluated(toy_split, settings, shuffled, 60)
    assert evaluation["train"]["top1"] > 0.9  # memorised its (random) training labels
    assert evaluation["test"]["top1"] < 0.3  # chance on held-out images with their true labels


def test_features_of_a_checkpoint_equal_those_of_the_trained_network(toy, toy_split, tmp_path):
    trained = {}

    def keep(epoch, model):
        trained[epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    work = train_run(toy_split, {**NET, "epochs": [0, 2]}, tmp_path / "w", on_epoch=keep)
    images = toy["pixels"].values[:30]
    from_file, preprocess = model_from_spec(
        {"arch": NET["arch"], "weights_file": str(work[2]), "input_size": None}
    )
    in_memory, _ = load_model_file(NET["arch"], work[0])
    in_memory.load_state_dict(trained[2])
    stores = []
    for i, model in enumerate((in_memory, from_file)):
        path = tmp_path / f"f{i}.zarr"
        extract_features(model, preprocess, images, ["block2", "pool"], path, batch_size=7)
        stores.append(path)
    import zarr

    for layer in ("block2", "pool"):
        a = zarr.open_group(str(stores[0]))[layer]["activations"][...]
        b = zarr.open_group(str(stores[1]))[layer]["activations"][...]
        assert a.tobytes() == b.tobytes()
    assert preprocess.crop_size == 24  # the checkpoint carries the training input size


def _state(path) -> dict:
    return read_model_file(path)["model"]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_weights(toy, tmp_path):
    store = tmp_path / "toy.zarr"
    write_store(toy, store, kind="stimuli")
    cmd = [sys.executable, "-m", "brainreps.cli", "train", "--stimuli", store, "--arch",
           "brainreps/convnet", "--widths", "8", "16", "32", "--epochs", "0", "2", "4", "6",
           "--threads", "1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    straight = tmp_path / "straight"
    subprocess.run([*map(str, cmd), "--out", str(straight)], check=True, env=env)
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*map(str, cmd), "--out", str(killed)], env=env)
    marker = killed / ".work" / "epoch_0002.pt"
    deadline = time.time() + 300
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (killed / "checkpoints").exists()
    subprocess.run([*map(str, cmd), "--out", str(killed)], check=True, env=env)
    for epoch in (4, 6):
        a = _state(straight / "checkpoints" / f"epoch_{epoch:04d}.pt")
        b = _state(killed / "checkpoints" / f"epoch_{epoch:04d}.pt")
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert not (killed / ".work").exists()


def test_a_nan_loss_stops_the_run_and_keeps_earlier_checkpoints(toy_split, tmp_path):
    settings = {**NET, "epochs": [0, 1, 3], "optimizer": {"learning_rate": 1e12}}
    with pytest.raises(TrainingError, match=r"loss became nan at epoch \d+, batch \d+"):
        train_run(toy_split, settings, tmp_path / "w")
    assert (tmp_path / "w" / "epoch_0000.pt").is_file()


def test_bad_runs_are_refused_with_the_setting_named(toy, toy_split, tmp_path):
    with pytest.raises(TrainingError, match=r"epochs must be increasing, got \[0, 3, 2\]"):
        train_run(toy_split, {**NET, "epochs": [0, 3, 2]}, tmp_path / "w")
    with pytest.raises(ValueError, match="unknown model 'brainreps/mlp'"):
        train_run(toy_split, {**NET, "arch": "brainreps/mlp"}, tmp_path / "w")
    with pytest.raises(LabelError, match="stimulus set 'toy' has no class labels"):
        labelled_split(toy.drop_vars("label"), "toy", 0.2, 0)
    no_moon_test = toy.isel(stimulus=~((toy["label"] == "moon") & (toy["split"] == "test")).values)
    with pytest.raises(LabelError, match=r"class\(es\) \['moon'\] have no test images"):
        labelled_split(no_moon_test, "toy", 0.2, 0)
    assert saved_epochs([3, 7]) == [0, 3, 7]


def test_a_checkpoint_of_another_architecture_is_refused_naming_both(toy_split, tmp_path):
    work = train_run(toy_split, {**NET, "epochs": [0]}, tmp_path / "w")
    with pytest.raises(CheckpointError, match="of architecture brainreps/convnet, not of resnet18"):
        load_model_file("resnet18", work[0])
    state = read_model_file(work[0])["model"]
    torch.save(state, tmp_path / "plain.pt")  # a bare state dict: no arch recorded
    with pytest.raises(CheckpointError, match="do not fit architecture resnet18"):
        load_model_file("resnet18", tmp_path / "plain.pt")
    model, _ = load_model_file(
        "brainreps/convnet", tmp_path / "plain.pt", 24, {"widths": [8, 16, 32]}
    )
    assert model.fc.out_features == 6  # the read-out size comes from the file


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit is deprecated, users have files
def test_torchscript_and_state_dict_files_load_into_a_known_architecture(tmp_path):
    from brainreps.models import load_model

    net, _ = load_model("resnet18", seed=3, input_size=32, num_classes=7)
    torch.jit.save(torch.jit.script(net), tmp_path / "net.ts")
    torch.save(net.state_dict(), tmp_path / "net.pt")
    for name in ("net.ts", "net.pt"):
        loaded, _ = load_model_file("resnet18", tmp_path / name, 32)
        assert loaded.fc.out_features == 7
        assert all(torch.equal(a, b) for a, b in
                   zip(loaded.state_dict().values(), net.state_dict().values(), strict=True))  # fmt: skip


def test_imagenet_indices_of_known_wnids():
    wnids = ["n01440764", "n01443537", "n02123045", "n15075141"]
    assert imagenet_index(wnids).tolist() == [0, 1, 281, 999]
    assert "tench" in imagenet_description(0) and "tabby" in imagenet_description(281)
    with pytest.raises(ValueError, match="not ImageNet-1k wnids \\(n00000000\\)"):
        imagenet_index(["n00000000"])


def test_topk_closed_form():
    logits = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5]])
    assert topk(logits, np.array([1, 1, 0]), 1) == pytest.approx(1 / 3)
    assert topk(logits, np.array([1, 1, 0]), 2) == pytest.approx(2 / 3)
    assert topk(logits, np.array([1, 1, 0]), 5) == 1.0


def test_the_train_command_on_a_folder_of_class_folders(tmp_path, capsys):
    from PIL import Image

    from brainreps.cli import main

    rng = np.random.default_rng(0)
    for k, name in enumerate(("dark", "light")):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 100, (20, 20, 3)) + 150 * k
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "images" / name / f"{i}.png")
    out = tmp_path / "run"
    argv = ["train", "--stimuli", str(tmp_path / "images"), "--n-per-class", "6", "--size",
            "16", "--arch", "brainreps/convnet", "--widths", "4", "8", "--epochs", "0", "3",
            "--threads", "1", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    table = __import__("pandas").read_csv(out / "accuracy.csv")
    assert sorted(set(table["epoch"])) == [0, 3] and set(table["split"]) == {"test", "train"}
    assert (out / "checkpoints" / "epoch_0003.pt").is_file() and (out / "history.csv").is_file()
    assert "held-out top-1" in capsys.readouterr().out
    bad = ["train", "--stimuli", str(tmp_path / "images"), "--n-per-class", "6", "--arch",
           "nonet", "--out", str(tmp_path / "bad")]  # fmt: skip
    assert main(bad) == 2
    assert "unknown model 'nonet'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
