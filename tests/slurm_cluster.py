"""A real one-node SLURM cluster (munged + slurmctld + slurmd) in a temporary directory.

Used by tests/test_slurm.py and benchmarks/bench_slurm_overhead.py. Needs root (slurmd runs
jobs as their user) and Debian's `slurmctld slurmd munge` packages, which `ensure_installed`
installs with apt-get when they are missing. Every daemon writes its pid file into the
cluster's directory and `stop()` ends exactly those pids.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scontrol", "sinfo", "scancel")
PACKAGES = ("munge", "slurmctld", "slurmd", "slurm-client")


class ClusterUnavailable(RuntimeError):
    """This machine cannot run the one-node cluster; the message says why."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def ensure_installed(timeout: float = 900) -> None:
    """Install munge and the SLURM daemons with apt-get when missing, or raise ClusterUnavailable."""
    missing = [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise ClusterUnavailable(f"{', '.join(missing)} missing and not root to apt-get them")
    if _which("apt-get") is None:
        raise ClusterUnavailable(f"{', '.join(missing)} missing and no apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ClusterUnavailable(f"{' '.join(cmd)} timed out") from exc
        if proc.returncode != 0:
            raise ClusterUnavailable(
                f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
            )
    still = [n for n in (*DAEMONS, *CLIENTS) if _which(n) is None]
    if still:
        raise ClusterUnavailable(f"after apt-get, still missing: {', '.join(still)}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_total_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 4096


@dataclass
class OneNodeCluster:
    """A one-node SLURM cluster living in `root`; `start()`, use `env`, `stop()`."""

    root: Path
    partitions: tuple[str, ...] = ("main",)  # all on the one node; the first is the default
    gpus: int = 1  # a fake GPU (gres without devices) so GPU requests schedule on this node
    min_job_age: int = 3600  # s a finished job stays visible to squeue/scontrol
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment variables a SLURM client (sbatch, squeue, snakemake) needs."""
        return self.environ(os.environ)

    def environ(self, base: Mapping[str, str]) -> dict[str, str]:
        """`base` plus what a SLURM client needs: SLURM_CONF, and this cluster's bin/ on PATH.

        Inside a job the slurm-jobstep plugin runs `srun` with every SLURM_* variable removed,
        so srun would look for /etc/slurm/slurm.conf; bin/srun points it at this cluster's.
        """
        env = dict(base)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def write_config(self) -> None:
        """slurm.conf (+ gres.conf), munge key: one node with this machine's cores."""
        r = self.root
        for sub in ("state", "spool", "munge", "log"):
            (r / sub).mkdir(parents=True, exist_ok=True)
        (r / "munge").chmod(0o700)
        key = r / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        cpus = os.cpu_count() or 1
        # config_overrides: the node is what slurm.conf says (memory large enough for every
        # rule's mem_mb request; the daemons do not enforce it without cgroups anyway).
        mem = max(_mem_total_mb(), 64000)
        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        lines = [
            "ClusterName=brainreps-test",
            f"SlurmctldHost={self.node}(127.0.0.1)",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={r / 'munge' / 'munge.socket'}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            f"SlurmctldPidFile={r / 'slurmctld.pid'}",
            f"SlurmdPidFile={r / 'slurmd.pid'}",
            f"SlurmctldLogFile={r / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={r / 'log' / 'slurmd.log'}",
            f"StateSaveLocation={r / 'state'}",
            f"SlurmdSpoolDir={r / 'spool'}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={r / 'log' / 'jobcomp.txt'}",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MpiDefault=none",
            f"MinJobAge={self.min_job_age}",
            "SchedulerParameters=sched_interval=2",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "KillWait=5",
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
        ]
        if self.gpus:
            lines.append("GresTypes=gpu")
        lines += [
            f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem}{gres} State=UNKNOWN",
        ]
        lines += [
            f"PartitionName={name} Nodes={self.node} Default={'YES' if i == 0 else 'NO'} "
            "MaxTime=INFINITE State=UP"
            for i, name in enumerate(dict.fromkeys(self.partitions))
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        (r / "bin").mkdir(exist_ok=True)
        srun = r / "bin" / "srun"
        srun.write_text(
            f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec {_which("srun") or "/usr/bin/srun"} "$@"\n'
        )
        srun.chmod(0o755)
        # a GPU without a device file: enough for the scheduler to grant --gpus=1
        (r / "gres.conf").write_text(
            f"NodeName={self.node} Name=gpu File=/dev/null Count={self.gpus}\n" if self.gpus else ""
        )

    def _spawn(self, name: str, cmd: list[str], pidfile: Path, timeout: float = 20) -> None:
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise ClusterUnavailable(
                f"{name} did not start ({proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}"
                + self._log_tail(name)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pidfile.is_file() and pidfile.read_text().strip():
                self.pids[name] = int(pidfile.read_text().split()[0])
                return
            time.sleep(0.1)
        raise ClusterUnavailable(f"{name} wrote no pid file {pidfile}" + self._log_tail(name))

    def _log_tail(self, name: str) -> str:
        log = self.root / "log" / f"{name}.log"
        return f"\n{log}:\n{log.read_text()[-1500:]}" if log.is_file() else ""

    def start(self, timeout: float = 60) -> OneNodeCluster:
        """Start munged, slurmctld and slurmd; wait until the node is idle."""
        if os.geteuid() != 0:
            raise ClusterUnavailable("the SLURM daemons need root (slurmd runs jobs as their user)")
        ensure_installed()
        self.write_config()
        r = self.root
        try:
            self._spawn(
                "munged",
                [
                    _which("munged") or "munged",
                    "--force",
                    f"--key-file={r / 'munge' / 'munge.key'}",
                    f"--socket={r / 'munge' / 'munge.socket'}",
                    f"--pid-file={r / 'munged.pid'}",
                    f"--log-file={r / 'log' / 'munged.log'}",
                    f"--seed-file={r / 'munge' / 'munged.seed'}",
                ],
                r / "munged.pid",
            )
            self._spawn(
                "slurmctld",
                [_which("slurmctld") or "slurmctld", "-f", str(self.conf), "-i"],
                r / "slurmctld.pid",
            )
            self._spawn(
                "slurmd",
                [_which("slurmd") or "slurmd", "-f", str(self.conf), "-N", self.node],
                r / "slurmd.pid",
            )
            self.wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def client(self, *args: str, check: bool = True) -> str:
        """Run a SLURM client command (sinfo, squeue, scontrol, ...) against this cluster."""
        proc = subprocess.run(list(args), env=self.env, capture_output=True, text=True, timeout=30)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until sinfo shows the node idle."""
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            for name, pid in self.pids.items():
                if not _alive(pid):
                    raise ClusterUnavailable(f"{name} (pid {pid}) died" + self._log_tail(name))
            state = self.client("sinfo", "-h", "-N", "-o", "%t", check=False).strip()
            if state and set(state.split()) == {"idle"}:  # one line per partition
                return
            time.sleep(0.5)
        raise ClusterUnavailable(
            f"node {self.node} not idle after {timeout} s (sinfo: {state!r})"
            + self._log_tail("slurmd")
            + self._log_tail("slurmctld")
        )

    def job_records(self) -> list[dict[str, str]]:
        """Finished and running jobs as slurmctld knows them (scontrol show job, one dict each)."""
        out = self.client("scontrol", "show", "job", "-o", check=False)
        records = []
        for line in out.splitlines():
            if not line.strip() or line.startswith("No jobs"):
                continue
            rec = {}
            for token in line.split():
                if "=" in token:
                    key, _, value = token.partition("=")
                    rec[key] = value
            records.append(rec)
        return records

    def completed_jobs(self) -> list[dict[str, str]]:
        """Jobs in the jobcomp log (one dict per finished job), which outlives MinJobAge."""
        path = self.root / "log" / "jobcomp.txt"
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            rec = {}
            for token in line.split():
                key, sep, value = token.partition("=")
                if sep:
                    rec[key] = value
            records.append(rec)
        return records

    def stop(self) -> None:
        """Stop the daemons this object started, by their pids (slurmd first)."""
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); check its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return False
