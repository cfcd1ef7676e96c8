"""The embedded default stimuli: grayscale crops of the photographs inside the scikit-image wheel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

# Photographs of natural scenes and objects shipped as files inside the scikit-image wheel
# (no fetching: skimage.data's other images are downloaded on demand). Synthetic images,
# drawings and microscopy are left out.
PHOTOGRAPHS = (
    "astronaut.png",
    "brick.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "coins.png",
    "grass.png",
    "gravel.png",
    "hubble_deep_field.jpg",
    "moon.png",
    "motorcycle_left.png",
    "rocket.jpg",
)

MIN_CROP_STD = 8.0  # grey levels; crops flatter than this (sky, background) are redrawn


# the two photographs inside the scikit-learn wheel (sklearn.datasets.load_sample_images)
SKLEARN_PHOTOGRAPHS = ("china.jpg", "flower.jpg")


def photograph_dir() -> Path:
    """Folder of the image files inside the installed scikit-image package."""
    import skimage.data

    return Path(skimage.data.__file__).parent


def photograph_path(name: str) -> Path:
    """The file of a bundled photograph ('camera.png' or scikit-learn's 'china.jpg')."""
    if name in SKLEARN_PHOTOGRAPHS:
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).parent / "images" / name
    return photograph_dir() / name


def load_photographs(names: tuple[str, ...] = PHOTOGRAPHS) -> dict[str, np.ndarray]:
    """Bundled photographs as float grayscale arrays in [0, 255], by file stem."""
    from skimage.color import rgb2gray
    from skimage.io import imread

    photos = {}
    for name in names:
        path = photograph_path(name)
        if not path.is_file():
            raise FileNotFoundError(
                f"photograph {path} is missing: are scikit-image and scikit-learn installed whole?"
            )
        image = imread(path)
        if image.ndim == 3:
            image = rgb2gray(image[..., :3]) * 255.0
        photos[Path(name).stem] = image.astype(np.float64)
    return photos


def random_crops(
    photos: dict[str, np.ndarray], n_images: int, size: int, seed: int
) -> tuple[np.ndarray, list[str], list[str]]:
    """Square crops (a quarter to half of the shorter side), resized to `size`, as uint8.

    Returns pixels (n, size, size), stimulus ids and the source photograph of each crop.
    """
    from skimage.transform import resize

    rng = np.random.default_rng(seed)
    names = sorted(photos)
    pixels = np.empty((n_images, size, size), dtype=np.uint8)
    ids, sources = [], []
    i = 0
    while i < n_images:
        name = names[rng.integers(len(names))]
        image = photos[name]
        short = min(image.shape[:2])
        side = int(rng.integers(short // 4, short // 2 + 1))
        top = int(rng.integers(0, image.shape[0] - side + 1))
        left = int(rng.integers(0, image.shape[1] - side + 1))
        crop = image[top : top + side, left : left + side]
        if crop.std() < MIN_CROP_STD:
            continue
        small = resize(crop, (size, size), order=1, anti_aliasing=True, preserve_range=True)
        pixels[i] = np.clip(np.rint(small), 0, 255).astype(np.uint8)
        ids.append(f"{name}_{i:05d}")
        sources.append(f"skimage:{name}:{top},{left},{side}")
        i += 1
    return pixels, ids, sources


def embedded_stimuli(n_images: int, size: int, seed: int) -> xr.Dataset:
    """The `stimuli` Dataset of the embedded default: grayscale crops, deterministic from `seed`."""
    if n_images < 1:
        raise ValueError(f"n_images must be positive, got {n_images}")
    pixels, ids, sources = random_crops(load_photographs(), n_images, size, seed)
    return xr.Dataset(
        {"pixels": (("stimulus", "y", "x"), pixels)},
        coords={
            "stimulus": ids,
            "source": ("stimulus", sources),
            "label": ("stimulus", [s.split(":")[1] for s in sources]),
        },
        attrs={"description": "grayscale crops of the photographs inside scikit-image"},
    )
