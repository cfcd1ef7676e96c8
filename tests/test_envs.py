"""The environments: every requirement pinned; conda env files agree with the pip pins."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def pins(lines):
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_every_requirement_is_pinned():
    for name in ("requirements.txt", "envs/allensdk-requirements.txt"):
        for line in pins((REPO / name).read_text().splitlines()):
            assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[0-9][0-9A-Za-z.+]*", line), (name, line)


def test_conda_envs_install_the_pinned_requirements():
    main = yaml.safe_load((REPO / "envs/brainreps.yaml").read_text())
    pip = next(d["pip"] for d in main["dependencies"] if isinstance(d, dict))
    assert "-r ../requirements.txt" in pip and "-e .." in pip
    allen = yaml.safe_load((REPO / "envs/allensdk.yaml").read_text())
    pip = next(d["pip"] for d in allen["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(
        pins((REPO / "envs/allensdk-requirements.txt").read_text().splitlines())
    )
    assert "python=3.11" in main["dependencies"]
