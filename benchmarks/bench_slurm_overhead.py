"""Scheduler overhead: the embedded default through a one-node SLURM cluster vs a local run.

Both runs start from a clean results/ in their own temp dir, with the same config and target
(the default target unless --subtarget). Prints wall times, the ratio SLURM / local, and the
per-job overhead ((SLURM - local) / number of SLURM jobs), plus where the overhead goes: the
queue wait (sbatch -> job start, from slurmctld's job-completion log), the job's own start-up
(Snakemake inside the job), and how late Snakemake notices a finished job (status polling).

Run as root (the daemons need it; Debian's slurm/munge packages are apt-get installed if missing):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_slurm_overhead.py [--subtarget]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from conftest import (  # noqa: E402
    SNAKEMAKE,
    assert_same_arrays,
    default_config,
    default_subtarget,
    store_arrays,
    workflow_env,
)
from slurm_cluster import OneNodeCluster  # noqa: E402
from test_slurm import PROFILE, SLURM_ARGS, profile_partitions  # noqa: E402


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{out[-5000:]}")
    return elapsed, out


def finished_times(output: str) -> dict[str, datetime]:
    """Snakemake's 'Finished jobid' timestamps, keyed by the SLURM job id of that job."""
    slurm_of = dict(
        (jobid, slurm)
        for jobid, slurm in re.findall(
            r"Job (\d+) has been submitted with SLURM jobid (\d+)", output
        )
    )
    times = {}
    for stamp, jobid in re.findall(
        r"\[(\w{3} \w{3} +\d+ [\d:]+ \d{4})\]\nFinished jobid: (\d+)", output
    ):
        if jobid in slurm_of:
            times[slurm_of[jobid]] = datetime.strptime(stamp, "%a %b %d %H:%M:%S %Y")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subtarget", action="store_true", help="the tests' sub-target, not all")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs")
    args = parser.parse_args()

    config = default_config()
    targets = default_subtarget(config) if args.subtarget else []
    base = Path(tempfile.mkdtemp(prefix="bench-slurm-"))
    cfg = base / "config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    common = ["-s", str(REPO / "Snakefile"), f"--configfile={cfg}"]

    local_dir = base / "local"
    t_local, _ = run(
        [str(SNAKEMAKE), *common, "-d", str(local_dir), "--cores", "2", *targets], workflow_env()
    )
    print(f"local run: {t_local:.1f} s", flush=True)

    cluster = OneNodeCluster(base / "cluster", partitions=profile_partitions())
    t_up = time.perf_counter()
    cluster.start()
    t_up = time.perf_counter() - t_up
    try:
        slurm_dir = base / "slurm"
        t_slurm, out = run(
            [
                str(SNAKEMAKE),
                *common,
                "-d",
                str(slurm_dir),
                "--profile",
                str(PROFILE),
                *SLURM_ARGS,
                *targets,
            ],
            cluster.environ(workflow_env()),
        )
        jobs = cluster.completed_jobs()
    finally:
        cluster.stop()
    n = len(jobs)
    fmt = "%Y-%m-%dT%H:%M:%S"
    waits = [
        (
            datetime.strptime(j["StartTime"], fmt) - datetime.strptime(j["SubmitTime"], fmt)
        ).total_seconds()
        for j in jobs
    ]
    runs = [
        (
            datetime.strptime(j["EndTime"], fmt) - datetime.strptime(j["StartTime"], fmt)
        ).total_seconds()
        for j in jobs
    ]
    seen = finished_times(out)
    lags = [
        (seen[j["JobId"]] - datetime.strptime(j["EndTime"], fmt)).total_seconds()
        for j in jobs
        if j["JobId"] in seen
    ]
    same = True
    try:
        assert_same_arrays(store_arrays(local_dir / "results"), store_arrays(slurm_dir / "results"))
    except AssertionError as exc:
        same = str(exc)[:500]
    result = {
        "target": "default_subtarget" if args.subtarget else "all",
        "cluster_start_s": round(t_up, 2),
        "local_s": round(t_local, 1),
        "slurm_s": round(t_slurm, 1),
        "ratio_slurm_over_local": round(t_slurm / t_local, 2),
        "slurm_jobs": n,
        "overhead_per_job_s": round((t_slurm - t_local) / max(n, 1), 1),
        "queue_wait_s_mean": round(statistics.mean(waits), 1) if waits else None,
        "job_wall_s_mean": round(statistics.mean(runs), 1) if runs else None,
        "status_lag_s_mean": round(statistics.mean(lags), 1) if lags else None,
        "outputs_bit_identical": same,
    }
    print(json.dumps(result, indent=2))
    if not args.keep:
        subprocess.run(["rm", "-rf", str(base)], check=False)


if __name__ == "__main__":
    main()
