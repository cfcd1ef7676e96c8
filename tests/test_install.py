"""`pip install .` into a fresh virtual environment outside the checkout validates configs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import REPO

pytestmark = pytest.mark.slow


def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with brainreps installed from a wheel built from a copy of the tracked files.

    The package's dependencies come from the test environment through a .pth line (no network);
    the checkout's own src/ is not on the new interpreter's path.
    """
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    tracked = _run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO).stdout.split()
    for name in tracked:
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    wheels = root / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-q", "-w", wheels, source]
    )
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    site = Path(
        _run(
            [venv / "bin/python", "-c", "import site; print(site.getsitepackages()[0])"]
        ).stdout.strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (wheel,) = wheels.glob("brainreps-*.whl")
    _run(
        [sys.executable, "-m", "pip", "--python", venv / "bin/python", "install", "-q"]
        + ["--no-deps", "--no-index", wheel]
    )
    return venv


def test_the_installed_package_is_not_the_checkout(installed, tmp_path):
    where = _run(
        [installed / "bin/python", "-c", "import brainreps; print(brainreps.__file__)"],
        cwd=tmp_path,
    ).stdout.strip()
    assert Path(where).is_relative_to(installed), where
    schemas = Path(where).parent / "schemas"
    assert (schemas / "config.schema.yaml").is_file()
    assert (Path(where).parent / "plots" / "brainreps.mplstyle").is_file()


def test_the_installed_command_checks_a_config(installed, tmp_path):
    config = tmp_path / "config.yaml"
    shutil.copy(REPO / "config" / "config.yaml", config)
    out = _run([installed / "bin/brainreps", "check-config", config], cwd=tmp_path)
    assert f"{config}: valid" in out.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(config.read_text().replace("n_units: 240", "n_units: -1"))
    proc = subprocess.run(
        [installed / "bin/brainreps", "check-config", bad],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "datasets.simulated.simulation.n_units: -1 is less than the minimum of 1" in proc.stderr
