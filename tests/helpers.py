"""Helpers the tests share: running the workflow in a temporary directory, comparing stores,
synthetic spike-inference ground truth. Fixtures live in conftest.py; tests import these."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml

from brainreps.compare import array_differences, store_arrays  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"
VENV_BIN = Path(sys.executable).parent
SNAKEMAKE = VENV_BIN / "snakemake"


# the real Allen Brain Observatory RDMs and natural scenes (../shared/data/allen_rdms)
ALLEN_RDMS = REPO.parent / "shared" / "data" / "allen_rdms"


def with_allen_rdms(config: dict) -> dict:
    """`config` plus the Allen scenes (stimulus set allen_scenes, blank last) and their RDMs
    (dataset allen_rdms, source rdms)."""
    config["stimulus_sets"]["allen_scenes"] = {
        "source": "npy",
        "path": str(ALLEN_RDMS / "scenes_31x31.npy"),
        "blank": "last",
    }
    config["datasets"]["allen_rdms"] = {
        "source": "rdms",
        "path": str(ALLEN_RDMS),
        "stimuli": "allen_scenes",
    }
    return config


def default_config() -> dict:
    """The embedded default configuration (config/config.yaml) as a fresh dict."""
    with open(DEFAULT_CONFIG) as fh:
        return yaml.safe_load(fh)


def workflow_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a Snakemake run: the venv's bin first on PATH, at most 2 BLAS threads."""
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MPLBACKEND", "Agg")
    env.update(extra or {})
    return env


def snakemake_command(
    workdir: Path,
    *args: str,
    config: Mapping | None = None,
    cores: int = 2,
    config_name: str = "config.yaml",
) -> list[str]:
    """The snakemake command line for the repo's Snakefile run in `workdir`.

    With `config`, it is written to `workdir/config.yaml` and passed with --configfile (which
    replaces the embedded default rather than being merged into it).
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [str(SNAKEMAKE), "-s", str(SNAKEFILE), "-d", str(workdir)]
    if cores:
        cmd += ["--cores", str(cores)]
    if config is not None:
        cfg = workdir / config_name
        cfg.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        cmd += [f"--configfile={cfg}"]
    return cmd + list(args)


def run_snakemake(
    workdir: Path,
    *args: str,
    config: Mapping | None = None,
    cores: int = 2,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 1500,
    config_name: str = "config.yaml",
) -> subprocess.CompletedProcess:
    """Run snakemake on the repo's Snakefile in `workdir`; on failure show its output."""
    cmd = snakemake_command(workdir, *args, config=config, cores=cores, config_name=config_name)
    proc = subprocess.run(
        cmd, env=workflow_env(env), capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-12000:]}"
        )
    return proc


RUN_CONFIG = "run_config.yaml"


def run_config(workdir: Path) -> dict:
    """The config a fixture's run used (a fresh dict), e.g. run_config(default_run)."""
    with open(Path(workdir) / RUN_CONFIG) as fh:
        return yaml.safe_load(fh)


def assert_same_arrays(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> None:
    """The same arrays under the same keys, bit for bit (NaNs included)."""
    differ = array_differences(a, b)
    assert not differ, "arrays differ:\n  " + "\n  ".join(differ)


def default_subtarget(config: Mapping) -> list[str]:
    """Every kind of job of the default target on one model's branch: data, features,
    projection, ridge, one training run and its accuracy, a figure per data store, the run
    record (a fast stand-in for `all`)."""
    targets = [f"results/figures/data/stimuli_{s}.png" for s in config["stimulus_sets"]]
    targets += [f"results/figures/data/recording_{d}.png" for d in config["datasets"]]
    targets += ["results/report/config.yaml", "results/report/versions.txt"]
    models = list(config.get("models") or {})
    if models:
        dataset = next(iter(config["datasets"]))
        targets.append(f"results/encoding/{models[0]}/{dataset}.zarr")
    runs = list(config.get("training") or {})
    if runs:
        targets.append(f"results/training/{runs[0]}/accuracy.csv")
    return targets


# Ground truth for the spike-inference tests (cnn, stm).
def synthetic(n: int, seconds: float, fs: float, seed: int, tau: float = 0.5, snr: float = 2.0):
    """Poisson spikes (rate varying in time) convolved with an exponential kernel, plus noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * fs)) / fs
    calcium, spikes = [], []
    for _ in range(n):
        rate = 2.0 * (1 + np.sin(2 * np.pi * rng.uniform(0.05, 0.2) * t + rng.uniform(0, 6)))
        s = rng.poisson(rate / fs).astype(float)
        c = np.convolve(s, np.exp(-np.arange(int(5 * tau * fs)) / (tau * fs)))[: t.size]
        c = c + rng.normal(0, c.std() / snr, t.size) + 1.0
        calcium.append(c)
        spikes.append(s)
    return calcium, spikes
