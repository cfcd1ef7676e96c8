"""Re-running stages on config change: exactly the rules whose params changed, and their descendants.

After ONE real local run of the default target (the session's `default_run`), each test changes
one config value and asks Snakemake for its plan (`--dry-run`): the planned jobs must be the
changed rule's jobs plus everything downstream of them in the rule graph (and `report_config`,
the run's record of its config), and nothing upstream.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import run_config, run_snakemake

pytestmark = pytest.mark.slow  # runs the workflow

# rules that re-run whenever any config value changes (the report's copy of the config)
CONFIG_RECORD = {"report_config"}


@dataclass(frozen=True)
class PlannedJob:
    """One job of a dry run: its rule and wildcards."""

    rule: str
    wildcards: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


def parse_dry_run(text: str) -> list[PlannedJob]:
    """The jobs a `snakemake --dry-run` output plans, with their wildcards."""
    jobs: list[PlannedJob] = []
    current: PlannedJob | None = None
    for line in text.splitlines():
        head = re.match(r"^(?:local)?rule (\w+):\s*$", line)
        if head:
            current = PlannedJob(head.group(1), {})
            jobs.append(current)
            continue
        if current is not None:
            wc = re.match(r"^\s+wildcards: (.*)$", line)
            if wc:
                for item in wc.group(1).split(", "):
                    key, _, value = item.partition("=")
                    current.wildcards[key.strip()] = value.strip()
            elif not line.startswith((" ", "\t")):
                current = None
    return jobs


def planned_jobs(workdir: Path, config: dict, *targets: str) -> list[PlannedJob]:
    """The jobs Snakemake would run in `workdir` with `config` (a dry run)."""
    proc = run_snakemake(workdir, "--dry-run", *targets, config=config)
    return parse_dry_run(proc.stdout + "\n" + proc.stderr)


def rule_graph(workdir: Path, config: dict | None = None) -> dict[str, set[str]]:
    """Rule -> the rules that consume its outputs, from `snakemake --rulegraph`."""
    proc = run_snakemake(workdir, "--rulegraph", config=config)
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', proc.stdout, flags=re.M))
    children: dict[str, set[str]] = {name: set() for name in names.values()}
    for src, dst in re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, flags=re.M):
        children[names[src]].add(names[dst])
    return children


def downstream(graph: dict[str, set[str]], rules: Iterable[str]) -> set[str]:
    """The rules in `rules` and every rule that (transitively) uses their outputs."""
    seen: set[str] = set()
    todo = list(rules)
    while todo:
        rule = todo.pop()
        if rule not in seen:
            seen.add(rule)
            todo.extend(graph.get(rule, ()))
    return seen


def job_graph(workdir: Path, config: dict) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The jobs of the whole DAG (done or not) from `snakemake --dag`: node -> rule, and node ->
    the nodes that consume its outputs."""
    proc = run_snakemake(workdir, "--dag", config=config)
    rule = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)', proc.stdout, flags=re.M))
    children: dict[str, set[str]] = {node: set() for node in rule}
    for src, dst in re.findall(r"^\s*(\d+) -> (\d+)", proc.stdout, flags=re.M):
        children[src].add(dst)
    return rule, children


def rules_of(jobs: Iterable[PlannedJob]) -> set[str]:
    return {job.rule for job in jobs}


@pytest.fixture(scope="module")
def graph(default_run) -> dict[str, set[str]]:
    return rule_graph(default_run, run_config(default_run))


def assert_reruns_exactly(default_run, graph, config, changed: set[str]) -> list[PlannedJob]:
    """The dry run with `config` plans exactly the jobs of the `changed` rules + the jobs that
    use their outputs (job by job: a training run whose checkpoints are not analysed does not
    make features re-run) + the config record; `graph` (rule level) bounds it from above."""
    jobs = planned_jobs(default_run, config)
    planned = rules_of(jobs)
    rule, children = job_graph(default_run, config)
    descendants = downstream(children, [node for node, r in rule.items() if r in changed])
    expected = {rule[node] for node in descendants} | CONFIG_RECORD
    assert expected <= downstream(graph, changed) | CONFIG_RECORD
    assert planned == expected, (
        f"planned {sorted(planned)}; expected {sorted(expected)} "
        f"(extra: {sorted(planned - expected)}, missing: {sorted(expected - planned)})"
    )
    return jobs


def test_parse_dry_run_reads_rules_and_wildcards():
    text = (
        "rule trial_responses:\n    input: a\n    wildcards: dataset=simulated, x=1\n"
        "    resources: tmpdir=/tmp\n\nlocalrule all:\n    input: b\n"
    )
    jobs = parse_dry_run(text)
    assert [j.rule for j in jobs] == ["trial_responses", "all"]
    assert jobs[0].wildcards == {"dataset": "simulated", "x": "1"}
    assert jobs[1].wildcards == {}


def test_unchanged_config_plans_nothing(default_run):
    assert planned_jobs(default_run, run_config(default_run)) == []


def test_response_window_reruns_trial_responses_and_descendants(default_run, graph):
    config = run_config(default_run)
    start, end = config["responses"]["response_window"]
    config["responses"]["response_window"] = [start, end - 0.1]
    # signal_responses computes the other signals' responses in the same windows
    changed = {"trial_responses", "signal_responses"}
    jobs = assert_reruns_exactly(default_run, graph, config, changed)
    planned = rules_of(jobs)
    assert "stimuli_embedded" not in planned and "simulate_recording" not in planned
    assert sum(j.rule == "trial_responses" for j in jobs) == len(config["datasets"])


def test_simulation_change_reruns_recording_not_stimuli(default_run, graph):
    config = run_config(default_run)
    config["datasets"]["simulated"]["simulation"]["baseline_rate"] += 0.25
    jobs = assert_reruns_exactly(default_run, graph, config, {"simulate_recording"})
    assert "stimuli_embedded" not in rules_of(jobs)


def test_figure_setting_reruns_only_that_figure(default_run, graph):
    config = run_config(default_run)
    config["figures"]["recording"]["dpi"] = config["figures"]["recording"]["dpi"] + 10
    jobs = assert_reruns_exactly(default_run, graph, config, {"recording_figure"})
    assert rules_of(jobs) == {"recording_figure", "all", *CONFIG_RECORD}
    assert sum(j.rule == "recording_figure" for j in jobs) == len(config["datasets"])


def test_srp_dimension_reruns_projection_and_descendants_not_features(default_run, graph):
    config = run_config(default_run)
    section = config.get("projection")
    if not section:
        pytest.skip("no projection stage in the default config yet")
    dim_key = next((k for k in ("n_components", "dimension", "dim") if k in section), None)
    if dim_key is None:
        pytest.skip(f"projection section has no dimension key: {sorted(section)}")
    section[dim_key] = int(section[dim_key]) // 2
    projection_rules = {r for r in graph if r.startswith(("project", "srp"))}
    assert projection_rules, f"no projection rule in {sorted(graph)}"
    jobs = assert_reruns_exactly(default_run, graph, config, projection_rules)
    planned = rules_of(jobs)
    assert not {r for r in planned if r.startswith(("extract", "features"))}, planned
    encoding = {r for r in graph if r.startswith("encoding")}
    assert encoding <= planned, f"encoding does not re-run: {sorted(encoding - planned)}"


def test_new_model_runs_only_its_branch(default_run, graph):
    config = run_config(default_run)
    models = config.get("models")
    if not models:
        pytest.skip("no models in the default config yet")
    existing = sorted(models)
    new = copy.deepcopy(models[existing[0]])
    models["extra_model"] = new
    jobs = planned_jobs(default_run, config)
    per_model = [j for j in jobs if "model" in j.wildcards]
    assert per_model, f"no per-model job planned: {sorted(rules_of(jobs))}"
    assert {j.wildcards["model"] for j in per_model} == {"extra_model"}
    model_rules = rules_of(per_model)
    allowed = downstream(graph, model_rules) | CONFIG_RECORD
    assert rules_of(jobs) <= allowed, sorted(rules_of(jobs) - allowed)
    for upstream in ("stimuli_embedded", "simulate_recording", "trial_responses"):
        assert upstream not in rules_of(jobs)


def test_encoding_setting_reruns_encoding_not_features_or_projection(default_run, graph):
    config = run_config(default_run)
    if not config.get("encoding") or "encoding_scores" not in graph:
        pytest.skip("no encoding stage in the default config yet")
    config["encoding"]["outer_folds"] = int(config["encoding"]["outer_folds"]) + 1
    jobs = assert_reruns_exactly(default_run, graph, config, {"encoding_scores"})
    planned = rules_of(jobs)
    for upstream in ("extract_features", "project_features", "trial_responses"):
        assert upstream not in planned
    runs = [
        (j.wildcards["model"], j.wildcards["dataset"]) for j in jobs if j.rule == "encoding_scores"
    ]
    stores = (default_run / "results" / "encoding").glob("*/*.zarr")
    assert sorted(runs) == sorted((p.parent.name, p.stem) for p in stores)


def test_similarity_setting_reruns_similarity_not_features(default_run, graph):
    config = run_config(default_run)
    if not config.get("similarity") or "similarity_layers" not in graph:
        pytest.skip("no similarity stage in the default config yet")
    config["similarity"]["seed"] = int(config["similarity"].get("seed", 0)) + 1
    changed = {r for r in graph if r.startswith("similarity") and "figure" not in r}
    jobs = planned_jobs(default_run, config)
    planned = rules_of(jobs)
    assert planned & changed, f"no similarity rule re-runs: {sorted(planned)}"
    assert planned <= downstream(graph, changed) | CONFIG_RECORD, sorted(planned)
    for upstream in ("extract_features", "project_features", "trial_responses", "encoding_scores"):
        assert upstream not in planned
