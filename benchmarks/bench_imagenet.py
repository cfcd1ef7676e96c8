"""Time brainreps' ImageNet loader and downloader against their peers on the same data, one run.

1. imagenet_stimuli (sample, load, RGB, resize shorter side + centre crop) vs torchvision
   ImageFolder + Resize + CenterCrop on the same sampled files: seconds and ratio, and that the
   pixels are identical.
2. fetch (Range-resumable, checksum-verified) vs urllib.request.urlretrieve of the same file
   from a local http.server on 127.0.0.1: seconds and ratio.

Usage: python benchmarks/bench_imagenet.py [--images 400] [--mib 200]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

from brainreps.data.imagenet import imagenet_stimuli
from brainreps.download import fetch


def make_folder(root: Path, n_images: int, n_classes: int = 10) -> None:
    """ImageNet-like JPEGs (500 x 375 and 375 x 500, smooth noise) in n_classes folders."""
    rng = np.random.default_rng(0)
    for i in range(n_images):
        d = root / f"n{i % n_classes:08d}"
        d.mkdir(parents=True, exist_ok=True)
        h, w = (375, 500) if i % 3 else (500, 375)
        small = rng.integers(0, 256, (h // 25 + 1, w // 25 + 1, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        img.save(d / f"img_{i:05d}.JPEG", quality=90)


def bench_loader(root: Path, n_images: int, size: int = 224) -> None:
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    n_per_class = n_images // 10
    t0 = time.perf_counter()
    ours = imagenet_stimuli(root, n_per_class=n_per_class, size=size, seed=0)
    t_ours = time.perf_counter() - t0

    chosen = {root / f"{s}.JPEG" for s in ours["stimulus"].values}
    t0 = time.perf_counter()
    folder = ImageFolder(
        str(root),
        transform=T.Compose([T.Resize(size), T.CenterCrop(size)]),
        is_valid_file=lambda p: Path(p) in chosen,
    )
    theirs = np.stack([np.asarray(img) for img, _ in folder])
    t_theirs = time.perf_counter() - t0

    order = [str(Path(p).relative_to(root).with_suffix("")) for p, _ in folder.samples]
    index = {s: i for i, s in enumerate(ours["stimulus"].values)}
    same = np.array_equal(ours["pixels"].values[[index[s] for s in order]], theirs)
    print(
        f"loader: {len(chosen)} JPEGs -> {size}px: brainreps {t_ours:.2f} s, "
        f"torchvision ImageFolder {t_theirs:.2f} s, ratio {t_ours / t_theirs:.2f}, "
        f"identical pixels: {same}"
    )


def bench_fetch(tmp: Path, mib: int) -> None:
    serve = tmp / "serve"
    serve.mkdir()
    data = np.random.default_rng(1).integers(0, 256, mib * 2**20, dtype=np.uint8).tobytes()
    (serve / "blob.bin").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = partial(Quiet, directory=str(serve))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/blob.bin"
    try:
        t0 = time.perf_counter()
        fetch(url, tmp / "ours.bin", sha256=sha, progress=False)
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        urllib.request.urlretrieve(url, tmp / "theirs.bin")
        t_theirs = time.perf_counter() - t0
        assert hashlib.sha256((tmp / "theirs.bin").read_bytes()).hexdigest() == sha
        t_theirs_sha = time.perf_counter() - t0
    finally:
        httpd.shutdown()
        httpd.server_close()
    print(
        f"fetch: {mib} MiB from 127.0.0.1: brainreps fetch (incl. sha256) {t_ours:.2f} s, "
        f"urllib urlretrieve {t_theirs:.2f} s (ratio {t_ours / t_theirs:.2f}), "
        f"urlretrieve + sha256 of the file {t_theirs_sha:.2f} s (ratio {t_ours / t_theirs_sha:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--mib", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-imagenet-") as tmp:
        root = Path(tmp) / "images"
        make_folder(root, args.images)
        bench_loader(root, args.images)
        bench_fetch(Path(tmp), args.mib)


if __name__ == "__main__":
    main()
