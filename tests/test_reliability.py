"""Reliability: a job killed mid-write leaves nothing that looks complete; runs are reproducible.

A fresh run of the embedded default's first model's features (stimuli, weights, feature
extraction) has its feature extraction SIGKILLed while it writes its store; then neither
`brainreps.io.read_store` nor Snakemake takes the store as complete, and re-running the
workflow finishes it. The finished run is a second run of the same config as the session's
local default run: its stores are bit-identical to that run's (test_slurm.py compares every
store of a third run of the default target, through SLURM). A failed *cluster* job retried
per the profile is tested in test_slurm.py.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml
from helpers import (
    assert_same_arrays,
    run_config,
    run_snakemake,
    snakemake_command,
    store_arrays,
    workflow_env,
)

from brainreps.io import StoreError, read_store, store_groups

pytestmark = pytest.mark.slow  # runs the workflow


def _rule_process(snakemake: psutil.Process, script: str) -> psutil.Process | None:
    """The python process running `script` under this snakemake process, if any."""
    try:
        children = snakemake.children(recursive=True)
    except psutil.NoSuchProcess:
        return None
    for child in children:
        try:
            if child.name().startswith("python") and script in " ".join(child.cmdline()):
                return child
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


@pytest.fixture(scope="module")
def killed_run(default_run, tmp_path_factory):
    """Start the sub-target in a fresh dir; SIGKILL extract_features once its temp store exists."""
    config = run_config(default_run)
    models = list(config.get("models") or {})
    if not models:
        pytest.skip("no models in the default config yet")
    model, stimuli = models[0], next(iter(config["stimulus_sets"]))
    workdir = tmp_path_factory.mktemp("killed")
    cfg = workdir / "run_config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    store = workdir / "results" / "features" / model / f"{stimuli}.zarr"
    cmd = snakemake_command(workdir, f"--configfile={cfg}", str(store.relative_to(workdir)))
    proc = subprocess.Popen(
        cmd, env=workflow_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    parent = psutil.Process(proc.pid)
    killed = None
    deadline = time.monotonic() + 900
    while proc.poll() is None and time.monotonic() < deadline:
        partial = list(store.parent.glob(f".{store.name}.tmp-*")) if store.parent.is_dir() else []
        if partial:
            target = _rule_process(parent, "extract_features")
            if target is not None:
                target.send_signal(signal.SIGKILL)
                killed = (target.pid, [p.name for p in partial])
                break
        time.sleep(0.01)
    output, _ = proc.communicate(timeout=300)
    if killed is None:
        pytest.fail(f"extract_features finished before it could be killed:\n{output[-4000:]}")
    return {
        "workdir": workdir,
        "store": store,
        "output": output,
        "rc": proc.returncode,
        "config": cfg,
        "killed": killed,
    }


def test_killed_job_fails_the_run(killed_run):
    assert killed_run["rc"] != 0
    assert "Error in rule extract_features" in killed_run["output"]


def test_killed_store_is_not_taken_as_complete(killed_run):
    store: Path = killed_run["store"]
    # the store never reached its final name; a reader refuses it
    assert not store.exists()
    with pytest.raises(StoreError):
        read_store(store, "features", group="pixels")
    # Snakemake plans the job again
    proc = run_snakemake(
        killed_run["workdir"],
        "--dry-run",
        f"--configfile={killed_run['config']}",
        str(store.relative_to(killed_run["workdir"])),
    )
    assert "rule extract_features:" in proc.stdout


def test_rerun_finishes_with_the_same_result_as_the_default_run(default_run, killed_run):
    """Re-running completes the killed job; the second run's stores equal the first run's."""
    workdir = killed_run["workdir"]
    store = killed_run["store"]
    run_snakemake(workdir, f"--configfile={killed_run['config']}", str(store.relative_to(workdir)))
    read_store(store, "features", group=store_groups(store)[0])
    rerun = store_arrays(workdir / "results")
    first = store_arrays(default_run / "results")
    assert killed_run["store"].relative_to(workdir / "results").as_posix() in {
        k.split(".zarr/")[0] + ".zarr" for k in rerun
    }
    missing = sorted(set(rerun) - set(first))
    assert not missing, missing[:10]
    assert_same_arrays(rerun, {k: first[k] for k in rerun})
    # the leftover of the killed write is a hidden temp sibling, never read as the store
    for leftover in killed_run["store"].parent.glob(".*.tmp-*"):
        assert leftover.name.startswith(f".{killed_run['store'].name}.tmp-")
