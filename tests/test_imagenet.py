"""brainreps.data.imagenet: folder layouts, seeded sampling, resizing, bad folders, the workflow."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import default_config, run_snakemake
from PIL import Image
from test_download import CLASSES, make_tar_gz, server, toy_files, write_tree  # noqa: F401

from brainreps.cli import main as cli_main
from brainreps.config import ConfigError, validate_config
from brainreps.data.imagenet import (
    ImageFolderError,
    find_class_root,
    imagenet_stimuli,
    resize_and_crop,
)
from brainreps.io import read_store


@pytest.fixture
def toy_folder(tmp_path) -> Path:
    """An extracted Imagenette-like archive: toynet/val/<wnid>/*.JPEG|png (4, 5, 6 images)."""
    return write_tree(tmp_path / "toy", toy_files())


def ids_of(ds) -> list[str]:
    return [str(s) for s in ds["stimulus"].values]


# --- sampling ----------------------------------------------------------------------------------


def test_n_per_class_rgb_uint8_and_coords(toy_folder):
    ds = imagenet_stimuli(toy_folder, n_per_class=3, size=20, seed=0, subdir="toynet/val")
    assert ds["pixels"].dims == ("stimulus", "y", "x", "channel")
    assert ds["pixels"].shape == (9, 20, 20, 3)
    assert ds["pixels"].dtype == np.uint8
    labels = [str(v) for v in ds["label"].values]
    assert {c: labels.count(c) for c in CLASSES} == {c: 3 for c in CLASSES}
    for sid, label, source in zip(ids_of(ds), labels, ds["source"].values, strict=True):
        assert sid.startswith(f"{label}/{label}_")
        assert str(source) == f"imagenet:{sid}" + (
            ".JPEG" if (toy_folder / "toynet/val" / (sid + ".JPEG")).exists() else ".png"
        )
    assert len(set(ids_of(ds))) == 9


def test_every_pil_mode_becomes_rgb(tmp_path):
    images = {
        "a/gray.png": Image.new("L", (40, 30), 123),
        "a/rgba.png": Image.new("RGBA", (30, 40), (10, 200, 30, 0)),
        "a/palette.png": Image.new("RGB", (33, 33), (5, 6, 7)).convert(
            "P", palette=Image.Palette.ADAPTIVE
        ),
        "a/cmyk.tif": Image.new("CMYK", (20, 20), (0, 0, 0, 0)),
        "a/bw.bmp": Image.new("1", (25, 25), 1),
    }
    for name, img in images.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        img.save(tmp_path / name)
    ds = imagenet_stimuli(tmp_path, n_per_class=5, size=16)
    got = {sid: ds["pixels"].values[i] for i, sid in enumerate(ids_of(ds))}
    expected = {
        "a/gray": (123, 123, 123),
        "a/rgba": (10, 200, 30),
        "a/palette": (5, 6, 7),
        "a/cmyk": (255, 255, 255),
        "a/bw": (255, 255, 255),
    }
    assert sorted(got) == sorted(expected)
    for sid, rgb in expected.items():
        assert got[sid].shape == (16, 16, 3)
        np.testing.assert_array_equal(
            got[sid], np.broadcast_to(np.array(rgb, np.uint8), (16, 16, 3))
        )


def test_sampling_is_deterministic_and_seeded(toy_folder):
    kw = dict(n_per_class=2, size=16, subdir="toynet/val")
    a = imagenet_stimuli(toy_folder, seed=3, **kw)
    b = imagenet_stimuli(toy_folder, seed=3, **kw)
    c = imagenet_stimuli(toy_folder, seed=4, **kw)
    assert ids_of(a) == ids_of(b)
    np.testing.assert_array_equal(a["pixels"].values, b["pixels"].values)
    assert ids_of(a) != ids_of(c)
    # files are listed sorted, so the sample does not depend on directory order: reproduce it
    expected = []
    import zlib

    for wnid, n in CLASSES.items():
        rng = np.random.default_rng([3, zlib.crc32(wnid.encode())])
        idx = np.sort(rng.choice(n, 2, replace=False))
        expected += [f"{wnid}/{wnid}_{i:04d}" for i in idx]
    assert ids_of(a) == expected


def test_one_class_sample_does_not_depend_on_the_others(toy_folder):
    all_classes = imagenet_stimuli(toy_folder, n_per_class=2, size=16, seed=7, subdir="toynet/val")
    one = imagenet_stimuli(
        toy_folder, n_per_class=2, size=16, seed=7, subdir="toynet/val", classes=["n01000002"]
    )
    assert ids_of(one) == [s for s in ids_of(all_classes) if s.startswith("n01000002/")]


def test_max_classes_chooses_with_the_seed(toy_folder):
    ds = imagenet_stimuli(
        toy_folder, n_per_class=1, size=16, seed=0, max_classes=2, subdir="toynet/val"
    )
    labels = [str(v) for v in ds["label"].values]
    assert len(labels) == 2 and len(set(labels)) == 2 and set(labels) <= set(CLASSES)
    keep = sorted(np.random.default_rng(0).choice(3, 2, replace=False))
    assert labels == [list(CLASSES)[i] for i in keep]


def test_imagenetv2_layout_sorts_class_indices_numerically(tmp_path):
    files = {}
    for k in (0, 1, 2, 10):
        for j in range(2):
            buf = io.BytesIO()
            Image.new("RGB", (30, 20), (k * 20, j * 100, 5)).save(buf, format="JPEG")
            files[
                f"imagenetv2-matched-frequency-format-val/{k}/{hashlib.sha1(bytes([k, j])).hexdigest()}.jpeg"
            ] = buf.getvalue()
    root = write_tree(tmp_path / "v2", files)
    # the single top folder is found without a subdir
    assert find_class_root(root) == root / "imagenetv2-matched-frequency-format-val"
    ds = imagenet_stimuli(root, n_per_class=1, size=16)
    assert [str(v) for v in ds["label"].values] == ["0", "1", "2", "10"]
    # ImageNetV2 class indices may be given as integers (as YAML reads them), in that order
    picked = imagenet_stimuli(root, n_per_class=2, size=16, classes=[10, 2])
    assert [str(v) for v in picked["label"].values] == ["10", "10", "2", "2"]
    # a uniform colour stays that colour through resizing (JPEG error aside)
    np.testing.assert_allclose(ds["pixels"].values[:, 8, 8, 0], [0, 20, 40, 200], atol=4)


# --- resizing ----------------------------------------------------------------------------------


def gradient_image(width: int, height: int) -> Image.Image:
    """R = column index, G = 77, B = row index (exactly linear ramps)."""
    x = np.arange(width)[None, :].repeat(height, 0)
    y = np.arange(height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, np.full_like(x, 77), y], -1).astype(np.uint8), "RGB")


def test_resize_and_centre_crop_of_a_gradient_matches_closed_form():
    # 200 x 100 -> shorter side 50: 100 x 50 (factor 2), centre crop columns 25..74
    out = np.asarray(resize_and_crop(gradient_image(200, 100), 50)).astype(float)
    assert out.shape == (50, 50, 3)
    j = np.arange(50)
    # antialiased bilinear keeps a linear ramp linear: pixel c samples source 2c + 0.5
    np.testing.assert_allclose(
        out[:, :, 0], np.broadcast_to(2 * (j + 25) + 0.5, (50, 50)), atol=0.51
    )
    assert np.all(out[:, :, 1] == 77)
    # rows: same closed form away from the top/bottom border (clamped there)
    np.testing.assert_allclose(
        out[1:-1, :, 2], np.broadcast_to((2 * j + 0.5)[1:-1, None], (48, 50)), atol=0.51
    )


@pytest.mark.parametrize(
    "width, height, size", [(200, 100, 50), (37, 91, 24), (101, 50, 50), (20, 30, 64)]
)
def test_resize_and_crop_equals_torchvision(width, height, size):
    tv = pytest.importorskip("torchvision.transforms")
    img = Image.fromarray(
        np.random.default_rng(width).integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB"
    )
    ours = np.asarray(resize_and_crop(img, size))
    theirs = np.asarray(tv.CenterCrop(size)(tv.Resize(size)(img)))
    assert ours.shape == theirs.shape == (size, size, 3)
    np.testing.assert_array_equal(ours, theirs)


# --- bad folders -------------------------------------------------------------------------------


def test_empty_folder_raises_naming_it(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageFolderError, match=re.escape(str(empty))):
        imagenet_stimuli(empty, n_per_class=1, size=16)


def test_folder_without_images_raises_naming_it(tmp_path):
    root = write_tree(
        tmp_path / "noimg", {"a/notes.txt": b"x", "b/data.csv": b"1,2", "a/._x.jpg": b""}
    )
    with pytest.raises(
        ImageFolderError, match=rf"no images found in image folder {re.escape(str(root))}"
    ):
        imagenet_stimuli(root, n_per_class=1, size=16)


def test_flat_folder_of_images_says_they_need_class_folders(tmp_path, toy_folder):
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in list((toy_folder / "toynet/val/n01000001").iterdir())[:2]:
        (flat / p.name).write_bytes(p.read_bytes())
    with pytest.raises(ImageFolderError, match=r"holds 2 images directly.*one subfolder per class"):
        imagenet_stimuli(flat, n_per_class=1, size=16)


def test_split_folders_ask_for_subdir(tmp_path):
    files = toy_files("toynet/val") | toy_files("toynet/train")
    root = write_tree(tmp_path / "split", files)
    with pytest.raises(ImageFolderError, match=r"splits \['train', 'val'\].*subdir: toynet/val"):
        imagenet_stimuli(root, n_per_class=1, size=16)
    ds = imagenet_stimuli(root, n_per_class=1, size=16, subdir="toynet/train")
    assert ds.sizes["stimulus"] == 3


def test_missing_folder_subdir_class_and_too_few_images(tmp_path, toy_folder):
    with pytest.raises(ImageFolderError, match=re.escape(str(tmp_path / "nope"))):
        imagenet_stimuli(tmp_path / "nope", n_per_class=1, size=16)
    with pytest.raises(ImageFolderError, match=r"subdir 'toynet/test' .*it has: toynet"):
        imagenet_stimuli(toy_folder, n_per_class=1, size=16, subdir="toynet/test")
    with pytest.raises(ImageFolderError, match=r"classes \['n09999999'\]"):
        imagenet_stimuli(
            toy_folder, n_per_class=1, size=16, subdir="toynet/val", classes=["n09999999"]
        )
    with pytest.raises(
        ImageFolderError, match=r"class 'n01000001' .* has 4 images, fewer than n_per_class=5"
    ):
        imagenet_stimuli(toy_folder, n_per_class=5, size=16, subdir="toynet/val")


def test_unreadable_image_names_the_file(tmp_path):
    root = write_tree(tmp_path / "bad", {"cls/broken.jpg": b"this is not a jpeg"})
    with pytest.raises(ImageFolderError, match=re.escape(str(root / "cls" / "broken.jpg"))):
        imagenet_stimuli(root, n_per_class=1, size=16)


def test_config_schema_requires_exactly_one_source_of_images(tmp_path):
    config = default_config()
    good = {"source": "imagenet", "url": "http://127.0.0.1:9/toy.tar.gz", "md5": "0" * 32}
    config["stimulus_sets"]["inet"] = good
    out = validate_config(config)["stimulus_sets"]["inet"]
    assert (out["n_per_class"], out["size"], out["seed"]) == (10, 224, 0)
    bad = [
        ({"source": "imagenet"}, r"stimulus_sets\.inet: 'url' is a required property"),
        (
            {**good, "md5": None} | {"md5": "0" * 32, "folder": str(tmp_path)},
            r"stimulus_sets\.inet: .*'required': \['folder'\]",
        ),
        (
            {"source": "imagenet", "url": good["url"]},
            r"stimulus_sets\.inet: 'sha256' is a required",
        ),
        (
            {"source": "imagenet", "folder": str(tmp_path / "nope")},
            r"stimulus_sets\.inet\.folder: file or folder .* does not exist",
        ),
        (
            {"source": "imagenet", "folder": str(tmp_path), "n_per_clas": 2},
            r"unknown config key stimulus_sets\.inet\.n_per_clas",
        ),
    ]
    for entry, pattern in bad:
        config["stimulus_sets"]["inet"] = entry
        with pytest.raises(ConfigError, match=pattern):
            validate_config(config)


def test_cli_imagenet_writes_a_stimuli_store(toy_folder, tmp_path, capsys):
    out = tmp_path / "cli.zarr"
    rc = cli_main(
        [
            "imagenet",
            "--folder",
            str(toy_folder),
            "--subdir",
            "toynet/val",
            "--n-per-class",
            "2",
            "--size",
            "24",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    ds = read_store(out, "stimuli", load=True)
    direct = imagenet_stimuli(toy_folder, n_per_class=2, size=24, subdir="toynet/val")
    assert ids_of(ds) == ids_of(direct)
    np.testing.assert_array_equal(ds["pixels"].values, direct["pixels"].values)
    rc = cli_main(
        [
            "imagenet",
            "--folder",
            str(tmp_path / "nope"),
            "--n-per-class",
            "2",
            "--out",
            str(tmp_path / "x.zarr"),
        ]
    )
    assert rc == 2 and str(tmp_path / "nope") in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_cli_download_fetches_and_extracts(server, tmp_path, capsys):  # noqa: F811
    base, state = server
    archive = make_tar_gz(toy_files())
    state.files["/toy.tar.gz"] = archive
    sha = hashlib.sha256(archive).hexdigest()
    rc = cli_main(
        [
            "download",
            f"{base}/toy.tar.gz",
            "--sha256",
            sha,
            "--out",
            str(tmp_path / "t.tgz"),
            "--extract",
            str(tmp_path / "x"),
        ]
    )
    assert rc == 0 and (tmp_path / "t.tgz").read_bytes() == archive
    assert len(list((tmp_path / "x/toynet/val").rglob("*.png"))) == 7
    rc = cli_main(
        ["download", f"{base}/toy.tar.gz", "--md5", "0" * 32, "--out", str(tmp_path / "bad.tgz")]
    )
    assert rc == 2 and f"{base}/toy.tar.gz" in capsys.readouterr().err
    assert not (tmp_path / "bad.tgz").exists()


# --- the workflow ------------------------------------------------------------------------------


# --cores first: the helper puts --configfile (which takes several values) before the args
TARGET = ("--cores", "1", "results/stimuli/toynet.zarr")


def _workflow_config(url: str, **checksum) -> dict:
    config = default_config()
    config["stimulus_sets"]["toynet"] = {
        "source": "imagenet",
        "url": url,
        **checksum,
        "subdir": "toynet/val",
        "n_per_class": 2,
        "size": 32,
        "seed": 5,
    }
    return config


@pytest.mark.slow
def test_workflow_downloads_extracts_and_writes_the_store(server, tmp_path):  # noqa: F811
    base, state = server
    files = toy_files()
    archive = make_tar_gz(files)
    state.files["/toy.tar.gz"] = archive
    state.truncate["/toy.tar.gz"] = len(archive) // 2  # the first attempt is cut off
    url = f"{base}/toy.tar.gz"
    workdir = tmp_path / "wf"
    config = _workflow_config(url, sha256=hashlib.sha256(archive).hexdigest())
    run_snakemake(workdir, *TARGET, config=config, cores=0)
    assert state.ranges() == [None, f"bytes={len(archive) // 2}-"]
    assert (workdir / "results/downloads/toy.tar.gz").read_bytes() == archive
    ds = read_store(workdir / "results/stimuli/toynet.zarr", "stimuli", load=True)
    assert ds["pixels"].shape == (6, 32, 32, 3) and ds["pixels"].dtype == np.uint8
    direct = imagenet_stimuli(
        write_tree(tmp_path / "direct", files), n_per_class=2, size=32, seed=5, subdir="toynet/val"
    )
    assert ids_of(ds) == ids_of(direct)
    np.testing.assert_array_equal(ds["pixels"].values, direct["pixels"].values)
    assert ds.attrs["brainreps_kind"] == "stimuli" and url in ds.attrs["params"]
    # a bad checksum: the run fails naming the URL, and neither download nor store is left
    bad = tmp_path / "wf-bad"
    proc = run_snakemake(
        bad,
        *TARGET,
        config=_workflow_config(url, md5="0" * 32),
        cores=0,
        check=False,
    )
    assert proc.returncode != 0
    log = (bad / "logs/download_archive/toy.tar.gz.log").read_text()
    assert f"checksum mismatch for {url}" in log
    assert not (bad / "results/downloads/toy.tar.gz").exists()
    assert not (bad / "results/stimuli/toynet.zarr").exists()
