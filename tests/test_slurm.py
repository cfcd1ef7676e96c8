"""The workflow on a real one-node SLURM cluster, through `snakemake --profile profiles/slurm`.

The module starts munged, slurmctld and slurmd (tests/slurm_cluster.py; Debian's packages are
apt-get installed when missing) with the partitions the profile names, all on this machine's
one node, a fake GPU included so GPU requests schedule; it stops exactly the daemons it
started. Where the machine cannot run them (no root, no apt, a daemon does not start) it skips
with the reason.

ONE SLURM run of the embedded default's representative sub-target (data, one model's features
-> projection -> ridge on the GPU partition, one training run and its accuracy, figures, the
run record; every non-local rule an sbatch job) is checked against the session's local run of
the same config: the same stores, bit for bit (which is also the check that two runs of the
same config agree). Set BRAINREPS_SLURM_TARGETS=all to run the whole default target through
SLURM instead (about twice the local run: every job pays SLURM's and Snakemake's start-up;
benchmarks/README.md).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import (
    REPO,
    SNAKEMAKE,
    assert_same_arrays,
    default_subtarget,
    run_config,
    run_snakemake,
    store_arrays,
    workflow_env,
)

sys.path.insert(0, str(Path(__file__).parent))
from slurm_cluster import ClusterUnavailable, OneNodeCluster  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

PROFILE = REPO / "profiles" / "slurm"
# plugin options for a cluster without accounting (no slurmdbd): squeue sees finished jobs for
# MinJobAge seconds; the first status check after 2 s instead of 40 s; keep every job's log.
SLURM_ARGS = (
    "--slurm-status-command=squeue",
    "--slurm-init-seconds-before-status-checks=2",
    "--slurm-keep-successful-logs",
)


def profile_settings() -> dict:
    with open(PROFILE / "config.yaml") as fh:
        return yaml.safe_load(fh)


def profile_partitions() -> tuple[str, ...]:
    """The partitions the profile sends jobs to, the default partition first."""
    prof = profile_settings()
    names = [prof["default-resources"]["slurm_partition"]]
    for resources in (prof.get("set-resources") or {}).values():
        if resources.get("slurm_partition"):
            names.append(resources["slurm_partition"])
    return tuple(dict.fromkeys(names))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("slurm")
    c = OneNodeCluster(root, partitions=profile_partitions())
    try:
        c.start()
    except ClusterUnavailable as exc:
        pytest.skip(f"no one-node SLURM cluster here: {exc}")
    yield c
    c.stop()


def slurm_snakemake(
    cluster: OneNodeCluster, workdir: Path, *args: str, snakefile: Path | None = None
) -> subprocess.CompletedProcess:
    """Run snakemake with the SLURM profile against `cluster` in `workdir`."""
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(snakefile or REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--profile",
        str(PROFILE),
        *SLURM_ARGS,
        *args,
    ]
    return subprocess.run(
        cmd,
        env=cluster.environ(workflow_env()),
        capture_output=True,
        text=True,
        timeout=1800,
    )


def submissions(output: str) -> dict[str, tuple[str, Path]]:
    """SLURM job id -> (rule, SLURM log) from the plugin's 'has been submitted' lines."""
    found = {}
    for jobid, log in re.findall(
        r"has been submitted with SLURM jobid (\d+) \(log: ([^)]+)\)", output
    ):
        rule = re.search(r"/rule_(\w+)/", log)
        found[jobid] = (rule.group(1) if rule else "?", Path(log))
    return found


def planned_rules(output: str) -> tuple[list[str], list[str]]:
    """(rules run as cluster jobs, rules run locally) from a run's log."""
    remote = re.findall(r"^rule (\w+):", output, flags=re.M)
    local = re.findall(r"^localrule (\w+):", output, flags=re.M)
    return remote, local


@pytest.fixture(scope="module")
def slurm_run(cluster, default_run, tmp_path_factory):
    """ONE run through the SLURM profile with the local run's config; -> (workdir, output)."""
    workdir = tmp_path_factory.mktemp("slurm-run")
    config = run_config(default_run)
    cfg = workdir / "run_config.yaml"
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    quick = os.environ.get("BRAINREPS_SLURM_TARGETS", "subtarget") != "all"
    targets = default_subtarget(config) if quick else []
    proc = slurm_snakemake(cluster, workdir, f"--configfile={cfg}", *targets)
    output = proc.stdout + "\n" + proc.stderr
    assert proc.returncode == 0, (
        f"SLURM run failed ({proc.returncode}):\n{output[-15000:]}" + cluster._log_tail("slurmctld")
    )
    return workdir, output


def test_cluster_has_the_profiles_partitions(cluster):
    lines = cluster.client("sinfo", "-h", "-o", "%R").split()
    assert set(lines) == set(profile_partitions())


def test_every_cluster_job_went_through_sbatch(cluster, slurm_run):
    workdir, output = slurm_run
    remote, local = planned_rules(output)
    submitted = submissions(output)
    assert remote, "no job ran as a cluster job"
    # every non-local job became exactly one sbatch submission, with its SLURM log kept
    assert sorted(rule for rule, _ in submitted.values()) == sorted(remote)
    for jobid, (rule, log) in submitted.items():
        assert log.is_file(), f"no SLURM log for job {jobid} ({rule})"
        assert log.is_relative_to(workdir / ".snakemake" / "slurm_logs")
    # slurmctld saw them all, and they completed (MinJobAge keeps finished jobs visible)
    records = {r["JobId"]: r for r in cluster.job_records()}
    for jobid, (rule, _) in submitted.items():
        assert jobid in records, f"slurmctld does not know job {jobid} ({rule})"
        assert records[jobid]["JobState"] == "COMPLETED", (rule, records[jobid])
    # downloads and the run record stayed on the submit host
    submitted_rules = {rule for rule, _ in submitted.values()}
    assert "fetch_weights" not in submitted_rules
    assert {"report_config", "report_versions"} <= set(local)


def test_gpu_rules_asked_for_a_gpu_on_the_gpu_partition(cluster, slurm_run):
    _, output = slurm_run
    gpu_partition = {
        rule: res.get("slurm_partition")
        for rule, res in (profile_settings().get("set-resources") or {}).items()
        if res.get("gpu")
    }
    records = {r["JobId"]: r for r in cluster.job_records()}
    gpu_jobs = [
        (jobid, rule) for jobid, (rule, _) in submissions(output).items() if rule in gpu_partition
    ]
    if not gpu_jobs:
        pytest.skip("no GPU stage in the default target yet")
    for jobid, rule in gpu_jobs:
        rec = records[jobid]
        assert "gpu" in rec.get("TresPerJob", ""), (rule, rec)
        assert rec["Partition"] == gpu_partition[rule], (rule, rec)
    cpu_jobs = [j for j, (rule, _) in submissions(output).items() if rule not in gpu_partition]
    for jobid in cpu_jobs:
        assert "gpu" not in records[jobid].get("TresPerJob", ""), records[jobid]


def test_job_resources_follow_the_rules(cluster, slurm_run):
    """A job asks for its rule's threads and mem_mb (attempt 1), and the runtime in minutes."""
    _, output = slurm_run
    records = {r["JobId"]: r for r in cluster.job_records()}
    checked = 0
    for jobid, (rule, _) in submissions(output).items():
        block = re.search(rf"^rule {rule}:\n(?:    .*\n)*?    resources: (.*)$", output, flags=re.M)
        if not block:
            continue
        res = dict(item.split("=", 1) for item in block.group(1).split(", ") if "=" in item)
        rec = records[jobid]
        assert rec["MinMemoryNode"] == f"{res['mem_mb']}M", (rule, rec["MinMemoryNode"], res)
        assert rec["CPUs/Task"] == res["cpus_per_task"], (rule, rec["CPUs/Task"], res)
        hours, minutes, _ = (int(x) for x in rec["TimeLimit"].split(":")[-3:])
        assert hours * 60 + minutes == int(res["runtime"]), (rule, rec["TimeLimit"])
        checked += 1
    assert checked


def test_outputs_equal_the_local_run(default_run, slurm_run):
    workdir, _ = slurm_run
    on_cluster = store_arrays(workdir / "results")
    local = store_arrays(default_run / "results")
    assert on_cluster, "the SLURM run wrote no store"
    missing = sorted(set(on_cluster) - set(local))
    assert not missing, f"stores the local run does not have: {missing[:10]}"
    if os.environ.get("BRAINREPS_SLURM_TARGETS") == "all":
        assert set(on_cluster) == set(local), sorted(set(local) - set(on_cluster))[:10]
    assert_same_arrays(on_cluster, {k: local[k] for k in on_cluster})
    for png in (workdir / "results").rglob("*.png"):
        assert (default_run / "results" / png.relative_to(workdir / "results")).is_file()


FLAKY_SNAKEFILE = """
# Fails on its first attempt (writing an error to its log), succeeds on the second.
rule all:
    input: "flaky.txt"

rule flaky:
    output: "flaky.txt"
    log: "logs/flaky.log"
    resources: mem_mb=1000, runtime=5
    shell:
        "echo attempt >> attempts.txt; "
        "if [ $(wc -l < attempts.txt) -lt 2 ]; then "
        "echo 'flaky: simulated failure on the first attempt' > {log}; exit 3; fi; "
        "echo done > {output}"

include: "%s"
"""


def test_failed_job_is_retried_with_more_memory_and_its_error_logged(cluster, tmp_path):
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(FLAKY_SNAKEFILE % (REPO / "workflow" / "rules" / "cluster.smk"))
    proc = slurm_snakemake(cluster, tmp_path, snakefile=snakefile)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    assert (tmp_path / "flaky.txt").read_text().strip() == "done"
    jobs = sorted(submissions(output).items(), key=lambda kv: int(kv[0]))
    assert [rule for _, (rule, _) in jobs] == ["flaky", "flaky"], jobs
    (first, (_, first_log)), (second, _) = jobs
    records = {r["JobId"]: r for r in cluster.job_records()}
    assert records[first]["JobState"] == "FAILED"
    assert records[second]["JobState"] == "COMPLETED"
    # attempt 2 asks for twice the memory and runtime (workflow/rules/cluster.smk)
    assert records[first]["MinMemoryNode"] == "1000M"
    assert records[second]["MinMemoryNode"] == "2000M"
    assert records[second]["TimeLimit"] == "00:10:00"
    # the failure is in the kept SLURM log of the failed attempt and shown in the run's output
    assert "Error in rule flaky" in first_log.read_text()
    assert "simulated failure on the first attempt" in output
    assert profile_settings()["retries"] >= 1


def test_profile_names_only_existing_rules_and_every_gpu_stage(tmp_path):
    """set-resources silently ignores an unknown rule name: a renamed rule would lose its GPU."""
    proc = run_snakemake(tmp_path, "--list-rules", cores=0)
    rules = set(proc.stdout.split())
    named = set(profile_settings().get("set-resources") or {})
    assert named <= rules, f"profile names rules the workflow lacks: {sorted(named - rules)}"
    gpu = {r for r, res in profile_settings()["set-resources"].items() if res.get("gpu")}
    stages = {
        "extract_features",
        "project_features",
        "encoding_scores",
        "spikes_train",
        "train",
        "training_accuracy",
        "model_accuracy",
    }
    assert stages & rules <= gpu, sorted((stages & rules) - gpu)
