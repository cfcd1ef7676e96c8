"""`snakemake --report` from the embedded default: every figure, its caption, the config, versions.

The report is built as a zip archive (the same report as the .html, with its files kept apart)
from the session's local default run; its `results` table (output path -> caption, file) is
read from report.html.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import RUN_CONFIG, run_config, run_snakemake

from brainreps.config import validate_config

pytestmark = pytest.mark.slow  # runs the workflow

FIGURE_SUFFIXES = (".png", ".svg", ".pdf", ".jpg")


@pytest.fixture(scope="module")
def report(default_run, tmp_path_factory) -> dict:
    """{'zip': the archive, 'root': its top folder, 'results': output path -> entry}."""
    path = tmp_path_factory.mktemp("report") / "report.zip"
    run_snakemake(
        default_run, f"--configfile={default_run / RUN_CONFIG}", f"--report={path}", cores=0
    )
    with zipfile.ZipFile(path) as zf:
        html = next(n for n in zf.namelist() if n.endswith("/report.html"))
        text = zf.read(html).decode()
    found = re.search(r"var results = (\{.*?\});?\s*</script>", text, flags=re.S)
    assert found, "no results table in report.html"
    return {"zip": path, "root": html.rsplit("/", 1)[0], "results": json.loads(found.group(1))}


def figures_of(run: Path) -> list[str]:
    """Every figure the default target produced, as paths relative to the run's directory."""
    return sorted(
        p.relative_to(run).as_posix()
        for p in (run / "results").rglob("*")
        if p.suffix in FIGURE_SUFFIXES and p.is_file()
    )


def _words(html: str) -> list[str]:
    return re.findall(r"[A-Za-z]{3,}", re.sub(r"<[^>]+>", " ", html or ""))


def _file_bytes(report: dict, entry: dict) -> bytes:
    with zipfile.ZipFile(report["zip"]) as zf:
        return zf.read(f"{report['root']}/{entry['data_uri']}")


def test_report_holds_every_figure_of_the_default_target(default_run, report):
    figures = figures_of(default_run)
    assert figures, "the default run produced no figure"
    missing = [f for f in figures if f not in report["results"]]
    assert not missing, f"figures not in the report: {missing}"
    for fig in figures:
        # the report holds the figure itself, byte for byte
        assert _file_bytes(report, report["results"][fig]) == (default_run / fig).read_bytes(), fig


def test_every_figure_has_a_caption(default_run, report):
    for fig in figures_of(default_run):
        entry = report["results"][fig]
        assert len(_words(entry.get("caption"))) >= 8, f"{fig}: caption {entry.get('caption')!r}"
        assert entry["job_properties"]["rule"], fig


def test_report_holds_the_config_and_software_versions(default_run, report):
    results = report["results"]
    cfg, versions = results["results/report/config.yaml"], results["results/report/versions.txt"]
    assert _words(cfg.get("caption")) and _words(versions.get("caption"))
    config = yaml.safe_load(_file_bytes(report, cfg))
    ran_with = validate_config(run_config(default_run))  # defaults filled, as the run saw it
    assert config["datasets"] == ran_with["datasets"]
    assert config["responses"] == ran_with["responses"]
    text = _file_bytes(report, versions).decode()
    for package in ("python", "numpy", "torch", "xarray", "zarr", "snakemake"):
        assert re.search(rf"^{package}==\d+\.\d+", text, flags=re.M), (package, text)
