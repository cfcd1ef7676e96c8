"""Gram matrices of every layer of GoogLeNet: the streamed stage vs a plain torch.einsum loop.

The stage (brainreps.similarity.gram.stream_grams) computes each layer's Gram matrices inside
its forward hook, packs their upper triangles and writes them to a Zarr store while the next
batch runs, so memory holds one batch. The peer is the loop a scientist would write:

    for x in batches:
        acts = {}; model(x)                      # hooks keep every layer's output
        for layer, a in acts.items():
            grams[layer].append(torch.einsum("nchw,ndhw->ncd", a, a) / (h * w))

Every method runs in a fresh process (its peak resident memory is its own): wall and CPU
seconds, and peak RSS above the process's RSS after loading the model and one warm-up batch.
The timed peer discards its matrices (`--keep no`: pure compute, the fastest an einsum loop can
be); the memory of a peer that keeps them, as the loop above does, is measured at smaller N
(it grows by the matrices' size, ~20 MB an image for GoogLeNet). Before timing, the two are
checked to give the same matrices on a few images.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_gram.py [--n-images 500] [--pairs 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from brainreps import io
from brainreps.models import load_model
from brainreps.similarity.gram import pack, read_grams, stream_grams

# every top-level module of GoogLeNet with feature maps, in forward order (17 layers)
LAYERS = [
    "conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b", "maxpool3",
    "inception4a", "inception4b", "inception4c", "inception4d", "inception4e", "maxpool4",
    "inception5a", "inception5b",
]  # fmt: skip


def rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def setup(size: int, n: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model, pre = load_model("googlenet", input_size=size)
    images = np.random.default_rng(0).integers(0, 256, (n, size, size), dtype=np.uint8)
    return model, pre, images


def plain_loop(model, pre, images, batch_size: int, keep: bool):
    """The einsum loop above; the matrices kept (in memory) or discarded."""
    modules = dict(model.named_modules())
    acts: dict[str, torch.Tensor] = {}
    hooks = [
        modules[n].register_forward_hook(lambda m, a, o, n=n: acts.__setitem__(n, o))
        for n in LAYERS
    ]
    grams: dict[str, list] = {n: [] for n in ["pixels", *LAYERS]}
    try:
        with torch.inference_mode():
            for start in range(0, len(images), batch_size):
                x = pre(images[start : start + batch_size])
                acts.clear()
                model(x)
                for name, a in [("pixels", x), *acts.items()]:
                    g = torch.einsum("nchw,ndhw->ncd", a, a) / (a.shape[2] * a.shape[3])
                    if keep:
                        grams[name].append(g)
    finally:
        for h in hooks:
            h.remove()
    return grams


def child(args) -> None:
    """One method in this process; prints a JSON line."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, pre, images = setup(args.size, args.n_images)
    plain_loop(model, pre, images[: args.batch_size], args.batch_size, keep=False)  # warm-up
    base = rss_mb()
    w0, c0 = time.perf_counter(), time.process_time()
    if args.method == "streamed":
        out = Path(args.tmp) / f"g{args.n_images}.zarr"
        stream_grams(model, pre, images, LAYERS, out, batch_size=args.batch_size)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        shutil.rmtree(out)  # removing the benchmark's store is not part of the stage
    else:
        plain_loop(model, pre, images, args.batch_size, keep=args.keep == "yes")
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        size = 0
    print(json.dumps({"method": args.method, "keep": args.keep, "n": args.n_images,
                      "wall": wall, "cpu": cpu, "base_mb": base, "peak_mb": rss_mb(),
                      "store_mb": size / 2**20}))  # fmt: skip


def check_equal(size: int, batch_size: int) -> float:
    """Largest relative difference between the two methods' matrices on 6 images."""
    model, pre, images = setup(size, 6)
    tmp = Path(tempfile.mkdtemp(prefix="bench_gram_check_"))
    try:
        out = stream_grams(model, pre, images, LAYERS, tmp / "g.zarr", batch_size=batch_size)
        plain = plain_loop(model, pre, images, batch_size, keep=True)
        worst = 0.0
        for name in io.store_groups(out):
            ref = pack(torch.cat(plain[name]))
            got = read_grams(out, name)
            worst = max(worst, float(np.abs(got - ref).max() / max(np.abs(ref).max(), 1e-30)))
        return worst
    finally:
        shutil.rmtree(tmp)


def run(method: str, n: int, args, keep: str = "no") -> dict:
    cmd = [sys.executable, __file__, "--child", "--method", method, "--keep", keep,
           "--n-images", str(n), "--size", str(args.size), "--batch-size", str(args.batch_size),
           "--tmp", args.tmp]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-images", type=int, default=500)
    parser.add_argument("--size", type=int, default=224, help="input side in pixels")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--keep-n", type=int, nargs="+", default=[50, 100],
                        help="N for the memory of the loop that keeps its matrices")  # fmt: skip
    parser.add_argument("--pairs", type=int, default=2, help="timed pairs at --n-images")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", default="streamed", help=argparse.SUPPRESS)
    parser.add_argument("--keep", default="no", help=argparse.SUPPRESS)
    parser.add_argument("--tmp", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    args.tmp = tempfile.mkdtemp(prefix="bench_gram_")
    try:
        print(f"googlenet (random init), {args.size}x{args.size} px, batch {args.batch_size}, "
              f"{torch.get_num_threads()} threads; pixels + {len(LAYERS)} layers")  # fmt: skip
        print(f"same matrices: max relative difference {check_equal(args.size, 3):.1e}")
        pairs = []
        for i in range(args.pairs):  # alternate which goes first: the disk and the load drift
            order = ["plain", "streamed"] if i % 2 else ["streamed", "plain"]
            pair = {m: run(m, args.n_images, args) for m in order}
            pairs.append(pair)
        rows = [
            *[r for pair in pairs for r in pair.values()],
            run("streamed", max(args.keep_n), args),
            *[run("plain", n, args, keep="yes") for n in args.keep_n],
        ]
        for r in rows:
            label = r["method"] + (" (keeps matrices)" if r["keep"] == "yes" else "")
            print(f"{label:28s} N={r['n']:4d}  wall {r['wall']:7.1f} s  cpu {r['cpu']:7.1f} s  "
                  f"peak RSS {r['peak_mb']:7.0f} MB (+{r['peak_mb'] - r['base_mb']:6.0f} over "
                  f"{r['base_mb']:.0f})  store {r['store_mb']:.0f} MB")  # fmt: skip
        ratios = [pair["plain"]["wall"] / pair["streamed"]["wall"] for pair in pairs]
        print(
            f"plain / streamed wall time at N={args.n_images}: "
            f"{', '.join(f'{r:.3f}' for r in ratios)} (median {np.median(ratios):.3f}; > 1: "
            "streamed faster)"
        )
    finally:
        shutil.rmtree(args.tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
