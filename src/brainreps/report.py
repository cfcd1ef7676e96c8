"""What a run used, for the report: the configuration and the software versions."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path

import yaml

from brainreps.io import atomic_path

# The packages whose versions the results depend on (reported when installed).
REPORTED_PACKAGES = (
    "brainreps",
    "numpy",
    "scipy",
    "pandas",
    "xarray",
    "zarr",
    "numcodecs",
    "scikit-learn",
    "scikit-image",
    "torch",
    "torchvision",
    "timm",
    "himalaya",
    "rsatoolbox",
    "scikit-dimension",
    "oasis-deconv",
    "h5py",
    "matplotlib",
    "snakemake",
    "snakemake-executor-plugin-slurm",
)


def software_versions(packages: Iterable[str] = REPORTED_PACKAGES) -> dict[str, str]:
    """Python and the installed version of each package (missing ones are left out)."""
    versions = {"python": platform.python_version()}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_versions(path: str | os.PathLike, versions: Mapping[str, str]) -> Path:
    """Write `name==version` lines plus the platform, atomically."""
    lines = [f"# platform: {platform.platform()}", f"# executable: {sys.executable}"]
    lines += [f"{name}=={version}" for name, version in versions.items()]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    return Path(path)


def write_config(path: str | os.PathLike, config: Mapping) -> Path:
    """Write the validated configuration of the run (defaults filled in) as YAML, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(_plain(config), sort_keys=False))
    return Path(path)


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
