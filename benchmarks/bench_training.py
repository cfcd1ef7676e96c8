"""Training throughput: images/s through the train rule's code vs a bare PyTorch loop.

The stage is what the `train` rule runs (brainreps.training.pipeline.train_from_store): read
the labelled stimuli store, preprocess, train with the run's augmentation, write a checkpoint
(weights and optimizer state) at every saved epoch, then copy them into place with the
history table. Accuracy is another rule (training_accuracy), not timed here. The peer is the
bare loop `for x, y in batches: loss(model(x), y).backward(); opt.step()` over the same
network (same initial weights), batch size and already preprocessed in-memory tensors, with no
augmentation, evaluation or checkpoint. Runs alternate (stage, bare, ...) and the ratio is
taken pair by pair; the target is >= 0.9.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_training.py [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from brainreps.config import load_config
from brainreps.data.photographs import photograph_stimuli
from brainreps.io import write_store
from brainreps.models import load_model
from brainreps.training.data import labelled_split, preprocess_all
from brainreps.training.loop import make_optimizer
from brainreps.training.pipeline import train_from_store

REPO = Path(__file__).resolve().parents[1]


def bare_loop(settings, split, epochs: int) -> float:
    """Seconds of a plain training loop over in-memory tensors (the peer)."""
    size = settings["input_size"] or int(split.images.shape[1])
    model, pre = load_model(
        settings["arch"], "none", settings["seed"], size, len(split.classes),
        settings["arch_params"],
    )  # fmt: skip
    x = preprocess_all(split.images[split.train], pre)
    y = torch.as_tensor(split.labels[split.train])
    opt = make_optimizer(model, settings)
    model.train()
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for index in order.split(settings["batch_size"]):
            loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", default="convnet", help="a training run of config/config.yaml")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--augment", action="store_true", help="the stage augments (pad 4, flip)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config = load_config(REPO / "config" / "config.yaml")
    settings = dict(config["training"][args.run])
    settings["device"] = args.device
    settings["epochs"] = sorted({0, 1, 2, 5, args.epochs} & set(range(args.epochs + 1)))
    if args.augment:
        settings["augmentation"] = {"crop_padding": 4, "flip": True}
    sset = config["stimulus_sets"][settings["stimuli"]]
    stimuli = photograph_stimuli(
        sset["photographs"], sset["n_train_per_class"], sset["n_test_per_class"], sset["size"],
        sset["seed"],
    )  # fmt: skip
    split = labelled_split(stimuli, "photographs", 0.2, 0)
    n = split.train.size * args.epochs
    tmp = Path(tempfile.mkdtemp(prefix="bench_training_"))
    store = tmp / "stimuli.zarr"
    write_store(stimuli, store, kind="stimuli")
    print(
        f"{settings['arch']} {settings['arch_params']} on {split.train.size} training images, "
        f"{args.epochs} epochs, batch {settings['batch_size']}, {torch.get_num_threads()} "
        f"thread(s), checkpoints at {settings['epochs']}, augmentation {settings['augmentation']}"
    )
    ratios = []
    try:
        for r in range(args.repeats):
            out = tmp / f"run{r}"
            t0 = time.perf_counter()
            train_from_store(
                store, "photographs", settings, "bench", out / "work", out / "checkpoints",
                out / "history.csv",
            )  # fmt: skip
            stage = time.perf_counter() - t0
            bare = bare_loop(settings, split, args.epochs)
            ratios.append(bare / stage)
            print(
                f"run {r}: stage {n / stage:.0f} img/s ({stage:.1f} s), bare loop "
                f"{n / bare:.0f} img/s ({bare:.1f} s); throughput stage/bare {ratios[-1]:.3f}",
                flush=True,
            )
            shutil.rmtree(out)
        print(
            f"median throughput ratio stage/bare over {args.repeats} pairs: "
            f"{np.median(ratios):.3f} (target >= 0.90)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
