"""Fixtures shared by the tests: a workflow run in a temporary directory, and one run of the
embedded default per session. Helpers are in helpers.py (tests import them from there)."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest
from helpers import RUN_CONFIG, default_config, run_snakemake


@pytest.fixture
def workflow_run(tmp_path_factory) -> Callable[..., Path]:
    """Run the workflow in a fresh temp dir: workflow_run(config=None, targets=(), args=()) -> dir."""

    def run(
        config: Mapping | None = None,
        targets: Sequence[str] = (),
        args: Sequence[str] = (),
        workdir: Path | None = None,
    ) -> Path:
        workdir = Path(workdir) if workdir else tmp_path_factory.mktemp("wf")
        run_snakemake(workdir, *args, *targets, config=copy.deepcopy(config) if config else None)
        return workdir

    return run


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> Path:
    """ONE local run of the default target with the embedded default config, shared by tests.

    Tests must not modify this directory (copy it first); dry runs in it are fine. The config
    it ran with is `run_config(default_run)` (a snapshot of config/config.yaml).
    """
    reuse = os.environ.get("BRAINREPS_TEST_DEFAULT_RUN")  # developers: a finished run's dir
    if reuse and (Path(reuse) / RUN_CONFIG).is_file():
        return Path(reuse)
    workdir = tmp_path_factory.mktemp("default-run")
    run_snakemake(workdir, config=default_config(), config_name=RUN_CONFIG)
    return workdir


# Tests that run the workflow are slow (`make test-fast` leaves them out); a test that asks for
# one of these fixtures is marked so even when its module forgets to say it.
WORKFLOW_FIXTURES = {"default_run", "workflow_run", "cluster", "allen_python"}


def pytest_collection_modifyitems(config, items) -> None:
    """Mark every test using a workflow fixture as slow."""
    for item in items:
        if WORKFLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
