"""Train a network on a labelled split: seeded, checkpointed, resumable to the same bits.

Determinism: the data order, the augmentation and any random layer of epoch e are drawn from
generators seeded by (seed, e) alone, and the learning rate of epoch e is a closed form of e.
So a run restarted from its checkpoint of epoch k replays epochs k+1.. exactly as the
uninterrupted run did, and ends with the same weights, bit for bit on a CPU (same threads).
Checkpoints are written atomically into a work folder as they are reached; a resumed run
takes the latest one whose fingerprint (settings and data) matches, and earlier checkpoints
survive a failure (a NaN loss stops the run naming the epoch and the batch).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainreps.checkpoints import read_model_file, save_checkpoint
from brainreps.config import fill_defaults
from brainreps.device import resolve_device
from brainreps.logs import progress
from brainreps.models import load_model
from brainreps.training.data import LabelledSplit, augment, batches, preprocess_all, shuffled
from brainreps.training.neural import (
    LayerTap,
    NeuralTarget,
    fisher_z,
    layer_similarity,
    rsa,
    similarity_loss,
)
from brainreps.training.robustness import fgsm_top1, noisy_top1, pixel_space

logger = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (a NaN loss, epochs out of order); earlier checkpoints are kept."""


def checkpoint_name(epoch: int) -> str:
    """File name of a saved epoch."""
    return f"epoch_{epoch:04d}.pt"


def saved_epochs(epochs) -> list[int]:
    """The epochs a run saves: its list, checked to increase, with epoch 0 always included."""
    epochs = [int(e) for e in epochs]
    if any(b <= a for a, b in zip(epochs, epochs[1:], strict=False)):
        raise TrainingError(f"epochs must be increasing, got {epochs}")
    return sorted({0, *epochs})


def learning_rate(settings: Mapping[str, Any], epoch: int) -> float:
    """The learning rate of epoch `epoch` (1-based): constant, or cosine-annealed to 0."""
    base = float(settings["optimizer"]["learning_rate"])
    last = max(settings["epochs"])
    if settings["schedule"] == "constant" or last <= 1:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / last))


def _epoch_seed(seed: int, epoch: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch)]).generate_state(1)[0])


def make_optimizer(model: torch.nn.Module, settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum) or AdamW, with the run's learning rate and weight decay."""
    opt = settings["optimizer"]
    if opt["name"] == "adamw":
        return torch.optim.AdamW(
            model.parameters(), lr=opt["learning_rate"], weight_decay=opt["weight_decay"]
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=opt["learning_rate"],
        momentum=opt["momentum"],
        nesterov=opt["momentum"] > 0,
        weight_decay=opt["weight_decay"],
    )


@torch.inference_mode()
def evaluate(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int, batch: int = 256
) -> dict[str, Any]:
    """Mean cross-entropy, top-1 and top-5 accuracy and per-class top-1 on (x, y)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    loss, top1, top5 = 0.0, 0, 0
    per_class = np.zeros(n_classes)
    for start in range(0, len(x), batch):
        logits = model(x[start : start + batch].to(device)).float().cpu()
        target = y[start : start + batch]
        loss += float(torch.nn.functional.cross_entropy(logits, target, reduction="sum"))
        ranked = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit1 = ranked[:, 0] == target
        top1 += int(hit1.sum())
        top5 += int((ranked == target[:, None]).any(dim=1).sum())
        np.add.at(per_class, target[hit1].numpy(), 1)
    model.train(was_training)
    counts = np.bincount(y.numpy(), minlength=n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        class_top1 = per_class / counts
    n = max(len(x), 1)
    return {
        "loss": loss / n,
        "top1": top1 / n,
        "top5": top5 / n,
        "n_images": len(x),
        "class_top1": class_top1.tolist(),
    }


@dataclass
class Prepared:
    """What a run trains on, in memory: preprocessed inputs, labels and their fingerprint."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    input_size: int
    fingerprint: str
    preprocess: Any = None
    target: NeuralTarget | None = None  # the similarity the run is regularised towards
    x_target: torch.Tensor | None = None  # target images, preprocessed
    target_z: torch.Tensor | None = None  # arctanh of the (control's) target similarity


def prepare(
    split: LabelledSplit, settings: Mapping[str, Any], target: NeuralTarget | None = None
) -> tuple[torch.nn.Module, Prepared]:
    """The untrained network (seeded), the preprocessed training and test tensors and, for a
    brain-guided run, its target (the shuffled control's when the run is the control)."""
    size = settings["input_size"] or int(split.images.shape[1])
    model, preprocess = load_model(
        settings["arch"],
        "none",
        seed=settings["seed"],
        input_size=size,
        num_classes=len(split.classes),
        arch_params=settings["arch_params"],
    )
    x = preprocess_all(split.images, preprocess)
    labels = split.labels.copy()
    train_labels = labels[split.train]
    if settings["labels"] == "shuffled":
        train_labels = shuffled(train_labels, settings["seed"])
    parts = {"settings": _fingerprinted(settings), "data": split.fingerprint()}
    x_target = target_z = None
    ns = settings.get("neural_similarity")
    if ns is not None and ns["lambda"] > 0 and target is None:
        raise TrainingError("a run regularised by neural_similarity needs its neural target")
    if ns is not None and target is not None:
        # with lambda 0 (the baseline) the weights do not depend on the target: it is only
        # used to measure the layers' RSA, and left out of the fingerprint
        if ns["control"] == "shuffled":
            target = target.controlled(settings["seed"])
        if ns["lambda"] > 0:
            parts["target"] = target.fingerprint()
        x_target = x if target.same_images else preprocess_all(target.images, preprocess)
        target_z = fisher_z(torch.as_tensor(target.similarity, dtype=torch.float32))
    return model, Prepared(
        x[split.train],
        torch.as_tensor(train_labels),
        x[split.test],
        torch.as_tensor(labels[split.test]),
        list(split.classes),
        size,
        json.dumps(parts, sort_keys=True),
        preprocess,
        target,
        x_target,
        target_z,
    )


def _fingerprinted(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings the weights depend on (not where or how fast they are computed)."""
    skip = {"threads", "device", "gpu", "analyse"}
    return {k: v for k, v in settings.items() if k not in skip}


def latest_checkpoint(work_dir: Path, fingerprint: str, last: int) -> tuple[int, dict] | None:
    """The latest checkpoint in `work_dir` of a run with this fingerprint (None if there is none)."""
    if not work_dir.is_dir():
        return None
    for path in sorted(work_dir.glob("epoch_*.pt"), reverse=True):
        try:
            payload = read_model_file(path)
        except ValueError as exc:
            logger.warning("ignoring unreadable checkpoint %s: %s", path, exc)
            continue
        if payload.get("fingerprint") == fingerprint and int(payload["epoch"]) <= last:
            return int(payload["epoch"]), payload
        logger.info("ignoring %s: it belongs to other settings or data", path)
    return None


def train_run(
    split: LabelledSplit,
    settings: Mapping[str, Any],
    work_dir: str | os.PathLike,
    run: str = "run",
    on_epoch: Callable[[int, torch.nn.Module], None] | None = None,
    target: NeuralTarget | None = None,
) -> dict[int, Path]:
    """Train (or resume) one run; the checkpoint file of every saved epoch, in `work_dir`.

    `settings` is a training.<run> config entry (defaults filled in from the schema);
    `on_epoch(epoch, model)` is called after every epoch (tests, progress hooks).
    """
    settings = fill_defaults("training#run", settings, f"training.{run}")
    saves = saved_epochs(settings["epochs"])
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    if settings["threads"]:
        torch.set_num_threads(int(settings["threads"]))
    try:
        return _train(split, settings, work_dir, run, on_epoch, saves, target)
    finally:
        torch.set_num_threads(threads)


def _train(split, settings, work_dir, run, on_epoch, saves, target) -> dict[int, Path]:
    last = saves[-1]
    device = resolve_device(settings["device"])
    model, data = prepare(split, settings, target)
    model = model.to(device)
    optimizer = make_optimizer(model, settings)
    history: list[dict[str, Any]] = []
    start = 1
    resumed = latest_checkpoint(work_dir, data.fingerprint, last)
    if resumed is not None:
        epoch, payload = resumed
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        history = list(payload["history"])
        start = epoch + 1
        logger.info("%s: resuming after epoch %d from %s", run, epoch, work_dir)
    elif 0 in saves:
        _save(work_dir, model, optimizer, settings, data, run, 0, history)
    n_classes = len(data.classes)
    ns = settings.get("neural_similarity")
    weight = float(ns["lambda"]) if ns is not None else 0.0
    tap = LayerTap(model, ns["layers"]) if weight > 0 else None
    global_train = torch.as_tensor(split.train)
    for epoch in range(start, last + 1):
        t0 = time.perf_counter()
        lr = learning_rate(settings, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        generator = torch.Generator().manual_seed(_epoch_seed(settings["seed"], epoch))
        torch.manual_seed(_epoch_seed(settings["seed"], epoch))
        model.train()
        total, correct, seen, sim_total = 0.0, 0, 0, 0.0
        order = batches(len(data.x_train), settings["batch_size"], generator)
        for b, index in enumerate(progress(order, f"{run} epoch {epoch}/{last}")):
            x = augment(
                data.x_train[index],
                settings["augmentation"]["crop_padding"],
                settings["augmentation"]["flip"],
                generator,
            ).to(device)
            y = data.y_train[index].to(device)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            if tap is not None:
                sim_loss = _similarity_term(model, tap, data, global_train[index], ns, generator)
                loss = loss + weight * sim_loss
                sim_total += float(sim_loss.detach()) * len(index)
            if not torch.isfinite(loss):
                kept = sorted(int(p.stem.split("_")[1]) for p in work_dir.glob("epoch_*.pt"))
                raise TrainingError(
                    f"training run {run!r}: the loss became {float(loss)} at epoch {epoch}, "
                    f"batch {b} (learning rate {lr:g}); checkpoints of epochs {kept} are kept "
                    f"in {work_dir}. Lower training.{run}.optimizer.learning_rate."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(index)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(index)
        history.append(
            {
                "epoch": epoch,
                "learning_rate": lr,
                "train_loss": total / seen,
                "train_top1_augmented": correct / seen,
                "similarity_loss": sim_total / seen if tap is not None else float("nan"),
                "seconds": time.perf_counter() - t0,
            }
        )
        logger.info(
            "%s epoch %d: loss %.4f%s, augmented training top-1 %.3f (%.1f s)",
            run,
            epoch,
            total / seen,
            f" (similarity loss {sim_total / seen:.4f})" if tap is not None else "",
            correct / seen,
            history[-1]["seconds"],
        )
        if epoch in saves:
            _save(work_dir, model, optimizer, settings, data, run, epoch, history, n_classes)
        if on_epoch is not None:
            on_epoch(epoch, model)
    if tap is not None:
        tap.remove()
    return {e: work_dir / checkpoint_name(e) for e in saves}


def _similarity_term(model, tap, data: Prepared, images, ns, generator) -> torch.Tensor:
    """The similarity loss of one step: the task batch's own pairs when the target images are
    the training images (Li et al.), else a batch drawn from the target's training images."""
    if data.target.same_images:
        index = images
    else:
        members = torch.as_tensor(data.target.train)
        index = members[torch.randperm(len(members), generator=generator)[: ns["batch_size"]]]
        model(data.x_target[index].to(next(model.parameters()).device))
    model_similarity = tap.similarity()
    target = data.target_z[index][:, index].to(model_similarity.device)
    return similarity_loss(model_similarity, target)


def _save(work_dir, model, optimizer, settings, data, run, epoch, history, n_classes=None):
    save_checkpoint(
        work_dir / checkpoint_name(epoch),
        model={k: v.detach().cpu() for k, v in model.state_dict().items()},
        optimizer=optimizer.state_dict(),
        epoch=epoch,
        run=run,
        arch=settings["arch"],
        arch_params=dict(settings["arch_params"]),
        num_classes=n_classes or len(data.classes),
        input_size=data.input_size,
        classes=[str(c) for c in data.classes],
        labels=settings["labels"],
        fingerprint=data.fingerprint,
        history=list(history),
    )
    logger.info("%s: saved epoch %d", run, epoch)


def evaluate_checkpoints(
    split: LabelledSplit,
    settings: Mapping[str, Any],
    checkpoints: Mapping[int, Path],
    run: str,
    target: NeuralTarget | None = None,
) -> dict[int, dict[str, dict[str, Any]]]:
    """Per checkpoint: held-out and training-set loss and accuracy (the training set with the
    labels the run trained on: shuffled ones for a shuffled-label run), held-out top-1 under
    pixel noise and FGSM, and for a brain-guided run the regularised layers' RSA with the true
    neural similarity on held-out images."""
    settings = fill_defaults("training#run", settings, f"training.{run}")
    model, data = prepare(split, settings, target)
    device = resolve_device(settings["device"])
    model = model.to(device)
    robust = settings["robustness"]
    pre = data.preprocess
    x01 = pixel_space(data.x_test, pre.mean, pre.std)
    out = {}
    for epoch, path in sorted(checkpoints.items()):
        payload = read_model_file(path)
        if payload.get("fingerprint") != data.fingerprint:
            raise TrainingError(f"{path} was not trained with these settings and data")
        model.load_state_dict(payload["model"])
        n = len(data.classes)
        result = {
            "test": evaluate(model, data.x_test.to(device), data.y_test, n),
            "train": evaluate(model, data.x_train.to(device), data.y_train, n),
            "noise": noisy_top1(
                model, x01, data.y_test, robust["noise_std"], pre.mean, pre.std, robust["seed"]
            ),
            "fgsm": fgsm_top1(model, x01, data.y_test, robust["fgsm_eps"], pre.mean, pre.std),
        }
        if target is not None:
            result["rsa"] = held_out_rsa(model, data, target, settings, device)
        out[epoch] = result
        logger.info(
            "%s epoch %d: held-out top-1 %.3f, training-set top-1 %.3f%s",
            run,
            epoch,
            result["test"]["top1"],
            result["train"]["top1"],
            f", held-out RSA with the target {result['rsa']:.3f}" if "rsa" in result else "",
        )
    return out


@torch.inference_mode()
def held_out_rsa(model, data: Prepared, target: NeuralTarget, settings, device) -> float:
    """Spearman RSA between the regularised layers' similarity and the (true) neural
    similarity over the target's held-out images."""
    test = torch.as_tensor(target.test)
    x = (
        preprocess_all(target.images[target.test], data.preprocess)
        if target.same_images
        else data.x_target[test]
    )
    tap = LayerTap(model, settings["neural_similarity"]["layers"])
    try:
        model.eval()
        acts: dict[str, list[torch.Tensor]] = {name: [] for name in tap.layers}
        for start in range(0, len(x), 256):
            model(x[start : start + 256].to(device))
            for name in tap.layers:
                acts[name].append(tap.outputs[name].flatten(1).float().cpu())
        sims = [layer_similarity(torch.cat(acts[name])) for name in tap.layers]
    finally:
        tap.remove()
    layer = torch.stack(sims).mean(0).numpy()
    return rsa(layer, target.similarity[np.ix_(target.test, target.test)])
