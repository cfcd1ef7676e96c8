"""Feature extraction: images/s through the whole stage vs a bare `model(x)` loop.

The stage (brainreps.features.extract_features) preprocesses each batch, runs the model with
forward hooks on the chosen layers, copies each layer's activations and streams them (plus
the input and output) into the Zarr store, compressed or not. The peer is the bare loop
`for x in batches: model(x)` under torch.inference_mode over the same, already preprocessed
batches. Runs alternate (stage, bare, stage, bare, ...) and the ratio is taken pair by pair.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_features.py [--size 224] [--repeats 3]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from brainreps.features import extract_features
from brainreps.models import load_model, select_layers


def timed(fn) -> tuple[float, float]:
    """(wall seconds, process CPU seconds of all threads) of fn()."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bare_loop(model, batches) -> None:
    """model(x) over the batches."""
    with torch.inference_mode():
        for x in batches:
            model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--layers", default='{"pattern": "^layer[1-4]$|^avgpool$"}')
    parser.add_argument("--n-images", type=int, default=128)
    parser.add_argument("--size", type=int, default=224, help="input side in pixels")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compress", choices=["yes", "no", "both"], default="both")
    args = parser.parse_args()
    import json

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, pre = load_model(args.model, input_size=args.size)
    layers = select_layers(model, json.loads(args.layers))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.n_images, args.size, args.size), dtype=np.uint8)
    batches = [pre(images[i : i + args.batch_size]) for i in range(0, len(images), args.batch_size)]
    n = len(images)
    settings = {"yes": [True], "no": [False], "both": [True, False]}[args.compress]
    print(
        f"{args.model}, {n} images {args.size}x{args.size}, batch {args.batch_size}, "
        f"{torch.get_num_threads()} threads, layers {layers} (+ pixels, output)"
    )
    bare_loop(model, batches[:1])  # warm-up
    tmp = Path(tempfile.mkdtemp(prefix="bench_features_"))
    try:
        for compress in settings:
            wall, cpu, sizes = [], [], []
            for r in range(args.repeats):
                out = tmp / f"f{r}.zarr"
                stage = timed(
                    lambda out=out, c=compress: extract_features(
                        model, pre, images, layers, out, batch_size=args.batch_size, compress=c
                    )
                )
                sizes.append(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()))
                shutil.rmtree(out)
                bare = timed(lambda: bare_loop(model, batches))
                wall.append(bare[0] / stage[0])
                cpu.append(bare[1] / stage[1])
                print(
                    f"compress={compress} run {r}: stage {n / stage[0]:.1f} img/s "
                    f"({stage[0]:.2f} s wall, {stage[1]:.2f} s cpu), bare model(x) "
                    f"{n / bare[0]:.1f} img/s ({bare[0]:.2f} s wall, {bare[1]:.2f} s cpu); "
                    f"throughput stage/bare: wall {wall[-1]:.3f}, cpu {cpu[-1]:.3f}"
                )
            print(
                f"compress={compress}: store {sizes[0] / 2**20:.0f} MiB; median throughput "
                f"ratio stage/bare over {args.repeats} pairs: wall {np.median(wall):.3f}, "
                f"cpu {np.median(cpu):.3f} (target >= 0.90)"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
