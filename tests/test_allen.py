"""Allen Brain Observatory ingestion: allensdk's real NWB reader on small NWB files we write.

The extraction runs in the allensdk environment (.venv-allen, built by `make allen-env` in a
session fixture); the conversion to stores runs here in the main environment.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import snakemake_command, workflow_env

from brainreps.data import allen
from brainreps.data.allen_extract import select_containers, write_extract
from brainreps.io import read_store, write_store

REPO = Path(__file__).resolve().parents[1]
ALLEN_PYTHON = REPO / ".venv-allen" / "bin" / "python"
EXTRACT_SCRIPT = REPO / "src" / "brainreps" / "data" / "allen_extract.py"
GENOTYPE = "Cux2-CreERT2/wt;Camk2a-tTA/wt;Ai93(TITL-GCaMP6f)/Ai93(TITL-GCaMP6f)"


# ---------------------------------------------------------------- a small Brain Observatory NWB


def make_session(
    seed: int,
    n_cells: int = 3,
    n_time: int = 400,
    n_images: int = 4,
    n_repeats: int = 6,
    n_blanks: int = 5,
    first_id: int = 517000000,
) -> dict:
    """Arrays of one natural-scenes session: traces, timestamps, ids, presentations, templates."""
    rng = np.random.default_rng(seed)
    frames = rng.permutation(np.r_[np.repeat(np.arange(n_images), n_repeats), -np.ones(n_blanks)])
    start = 20 + 8 * np.arange(frames.size)
    return {
        "dff": rng.normal(0, 0.3, (n_cells, n_time)).astype(np.float32),
        # ~30 Hz with jitter, starting late as real sessions do
        "timestamps": 7.5 + np.arange(n_time) / 30.0 + rng.uniform(0, 1e-3, n_time),
        "ids": first_id + np.arange(n_cells, dtype=np.int64) * 7,
        "frames": frames.astype(np.int64),
        "start": start.astype(np.int64),
        "end": (start + 7).astype(np.int64),
        "templates": rng.integers(0, 256, (n_images, 9, 12), dtype=np.uint8),
    }


def write_nwb(
    path: Path,
    s: dict,
    container: int = 511510670,
    experiment: int = 501000001,
    area: str = "VISp",
    depth: int = 175,
    natural_scenes: bool = True,
) -> Path:
    """A Brain Observatory NWB (HDF5) with the paths BrainObservatoryNwbDataSet reads."""
    pipe = "processing/brain_observatory_pipeline"
    with h5py.File(path, "w") as f:
        f["general/session_type"] = np.bytes_("three_session_B")
        f["general/session_id"] = np.bytes_(str(experiment))
        f["general/experiment_container_id"] = np.bytes_(str(container))
        f["general/subject/genotype"] = np.bytes_(GENOTYPE)
        f["general/subject/sex"] = np.bytes_("female")
        f["general/subject/age"] = np.bytes_("104 days")
        plane = "general/optophysiology/imaging_plane_1"
        f[f"{plane}/location"] = np.bytes_(area)
        f[f"{plane}/imaging depth"] = np.bytes_(f"{depth} microns")
        f[f"{plane}/indicator"] = np.bytes_("GCaMP6f")
        f[f"{pipe}/DfOverF/imaging_plane_1/data"] = s["dff"]
        f[f"{pipe}/DfOverF/imaging_plane_1/timestamps"] = s["timestamps"]
        f[f"{pipe}/ImageSegmentation/cell_specimen_ids"] = s["ids"]
        f[f"{pipe}/ImageSegmentation/roi_ids"] = np.array(
            [np.bytes_(str(i)) for i in range(len(s["ids"]))]
        )
        if natural_scenes:
            g = f.create_group("stimulus/presentation/natural_scenes_stimulus")
            g["data"] = s["frames"].astype(np.int32)
            g["frame_duration"] = np.stack([s["start"], s["end"]], axis=1).astype(np.float64)
            f["stimulus/templates/natural_scenes_image_stack/data"] = s["templates"]
        # another stimulus of the session, so the file has a presentation group either way
        g = f.create_group("stimulus/presentation/static_gratings_stimulus")
        g["data"] = np.array([[0.0, 0.02, 0.0]])
        g["features"] = np.array([b"orientation", b"spatial_frequency", b"phase"])
        g["frame_duration"] = np.array([[300.0, 307.0]])
    return path


# ---------------------------------------------------------------- the allensdk environment


@pytest.fixture(scope="session")
def allen_python() -> Path:
    """.venv-allen's python, built by `make allen-env` (skip when it cannot be built)."""
    if not (REPO / ".venv-allen" / ".installed").exists():
        proc = subprocess.run(
            ["make", "-C", str(REPO), "allen-env"],
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr)[-2000:]
            pytest.skip(f"`make allen-env` failed (no network to PyPI?): {tail}")
    return ALLEN_PYTHON


def run_extract(python: Path, out: Path, *nwb: Path) -> subprocess.CompletedProcess:
    """The extraction run as the workflow runs it: the file, in the allensdk environment."""
    return subprocess.run(
        [str(python), str(EXTRACT_SCRIPT), "--out", str(out), "--nwb", *map(str, nwb)],
        capture_output=True,
        text=True,
        timeout=300,
    )


# ---------------------------------------------------------------- container selection (pure)

CONTAINERS = [
    {
        "id": 30,
        "targeted_structure": "VISp",
        "imaging_depth": 175,
        "cre_line": "Cux2-CreERT2",
        "failed": False,
    },
    {
        "id": 10,
        "targeted_structure": "VISp",
        "imaging_depth": 175,
        "cre_line": "Cux2-CreERT2",
        "failed": False,
    },
    {
        "id": 20,
        "targeted_structure": "VISp",
        "imaging_depth": 275,
        "cre_line": "Rorb-IRES2-Cre",
        "failed": False,
    },
    {
        "id": 40,
        "targeted_structure": "VISl",
        "imaging_depth": 175,
        "cre_line": "Cux2-CreERT2",
        "failed": False,
    },
    {
        "id": 5,
        "targeted_structure": "VISp",
        "imaging_depth": 175,
        "cre_line": "Cux2-CreERT2",
        "failed": True,
    },
    {
        "id": 50,
        "targeted_structure": "VISal",
        "imaging_depth": 375,
        "cre_line": "Scnn1a-Tg3-Cre",
        "failed": False,
    },
]


def test_select_containers_filters_and_sorts_by_id():
    ids = lambda rows: [r["id"] for r in rows]  # noqa: E731
    assert ids(select_containers(CONTAINERS, ["VISp"], [175], ["Cux2-CreERT2"])) == [10, 30]
    assert ids(
        select_containers(CONTAINERS, ["VISp"], [175], ["Cux2-CreERT2"], include_failed=True)
    ) == [5, 10, 30]
    assert ids(select_containers(CONTAINERS, ["VISp"], [], [])) == [10, 20, 30]
    assert ids(select_containers(CONTAINERS, ["VISp", "VISl"], [175], None, max_containers=2)) == [
        10,
        30,
    ]
    assert ids(select_containers(CONTAINERS, None, [375, 275], None)) == [20, 50]
    assert ids(select_containers(CONTAINERS, [], [], ["Cux2-CreERT2"])) == [10, 30, 40]


def test_select_containers_nothing_matches_lists_what_is_available():
    with pytest.raises(ValueError, match="no experiment container matches") as err:
        select_containers(CONTAINERS, ["VISam"], [175], ["Cux2-CreERT2"])
    msg = str(err.value)
    for available in (
        "VISal",
        "VISl",
        "VISp",
        "275",
        "375",
        "Rorb-IRES2-Cre",
        "VISl 175 um Cux2-CreERT2",
    ):
        assert available in msg
    assert "5 containers are available" in msg  # the failed one is not offered


# ---------------------------------------------------------------- conversion (main env only)


def extract_file(tmp_path: Path, sessions: list[dict], name: str = "x.h5") -> Path:
    """An allen_extract file written directly (what the allensdk run writes)."""
    rows = []
    for i, s in enumerate(sessions):
        rows.append(
            {
                "dff": s["dff"],
                "timestamps": s["timestamps"],
                "cell_specimen_ids": s["ids"],
                "trial_frame": s["frames"],
                "trial_start_frame": s["start"],
                "trial_end_frame": s["end"],
                "templates": s["templates"],
                "attrs": {
                    "nwb_file": f"session{i}.nwb",
                    "ophys_experiment_id": 100 + i,
                    "container": 200 + i,
                    "area": "VISp",
                    "depth": 175,
                    "cre_line": "Cux2-CreERT2",
                    "session_type": "three_session_B",
                },
            }
        )
    return write_extract(
        rows, tmp_path / name, {"nwb_files": [f"session{i}.nwb" for i in range(len(sessions))]}
    )


def test_repeat_index():
    np.testing.assert_array_equal(
        allen.repeat_index(np.array([3, 1, 3, 3, 0, 1])), [0, 0, 1, 2, 0, 1]
    )


def test_pseudo_population_cuts_each_session_at_its_own_presentations(tmp_path):
    a = make_session(1, n_cells=2, first_id=1000)
    b = make_session(2, n_cells=3, first_id=2000, n_repeats=5)  # one repeat fewer
    rec = allen.recording_from_extract(extract_file(tmp_path, [a, b]), segment_window=(-0.2, 0.4))
    rate = rec.attrs["frame_rate"]
    pre, post = round(0.2 * rate), round(0.4 * rate)
    length = pre + post
    assert pre == 6 and post == 12
    assert rec.attrs["pseudo_population"] == 1
    # trials: every (image, repeat < 5), in the first session's order
    shown = a["frames"] >= 0
    stim_a = a["frames"][shown]
    rep_a = np.array([np.sum(stim_a[:k] == stim_a[k]) for k in range(stim_a.size)])
    keep = rep_a < 5
    np.testing.assert_array_equal(rec["trial_stimulus"], stim_a[keep])
    np.testing.assert_array_equal(rec["trial_repeat"], rep_a[keep])
    assert rec.sizes["trial"] == 4 * 5 and rec.sizes["time"] == 20 * length
    np.testing.assert_allclose(rec["trial_start"], (np.arange(20) * length + pre) / rate)
    np.testing.assert_array_equal(rec["unit"], np.r_[a["ids"], b["ids"]])
    np.testing.assert_array_equal(rec["container"], [200, 200, 201, 201, 201])
    dff = rec["dff"].values
    for session, rows in ((a, slice(0, 2)), (b, slice(2, 5))):
        for k, (s, r) in enumerate(zip(stim_a[keep], rep_a[keep], strict=True)):
            onset = session["start"][session["frames"] == s][r]  # its own r-th showing of s
            np.testing.assert_array_equal(
                dff[rows, k * length : (k + 1) * length],
                session["dff"][:, onset - pre : onset + post],
            )


def test_conversion_rejects_a_table_past_the_traces_and_nan_traces(tmp_path):
    s = make_session(3)
    s["end"][-1] = s["dff"].shape[1]  # one frame past the last
    path = extract_file(tmp_path, [s])
    with pytest.raises(ValueError, match="session0.nwb.*points past the end of the traces"):
        allen.recording_from_extract(path)
    s = make_session(3)
    s["dff"][1] = np.nan
    with pytest.raises(ValueError, match=r"session0.nwb.*NaN-only.*517000007"):
        allen.recording_from_extract(extract_file(tmp_path, [s], "nan.h5"))


def test_resize_templates_closed_forms():
    rng = np.random.default_rng(0)
    small = rng.integers(0, 256, (2, 6, 8), dtype=np.uint8)
    big = np.repeat(np.repeat(small, 3, axis=1), 3, axis=2)  # each pixel a 3x3 block
    # block-averaging back down reproduces the original exactly
    np.testing.assert_array_equal(allen.resize_templates(big, 6), small)
    const = np.full((1, 918, 1174), 77, dtype=np.uint8)
    out = allen.resize_templates(const, 64)
    assert out.shape == (1, 64, round(1174 * 64 / 918)) and (out == 77).all()
    sq = allen.resize_templates(big, None, square=True)
    np.testing.assert_array_equal(sq, big[:, :, 3:21])


def test_main_package_does_not_import_allensdk():
    code = "import sys, brainreps.data.allen; assert 'allensdk' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- through allensdk's reader


@pytest.mark.allen
@pytest.mark.slow
def test_extract_through_allensdk_round_trips_exactly(allen_python, tmp_path):
    s = make_session(0)
    nwb = write_nwb(tmp_path / "ns.nwb", s)
    out = tmp_path / "extract.h5"
    proc = run_extract(allen_python, out, nwb)
    assert proc.returncode == 0, proc.stderr[-3000:]

    rec = allen.recording_from_extract(out)
    write_store(rec, tmp_path / "rec.zarr", kind="recording")
    rec = read_store(tmp_path / "rec.zarr", "recording", load=True)
    np.testing.assert_array_equal(rec["dff"].values, s["dff"])
    assert rec["dff"].dtype == np.float32
    np.testing.assert_array_equal(rec["timestamps"].values, s["timestamps"])
    np.testing.assert_array_equal(rec["unit"].values, s["ids"])
    shown = s["frames"] >= 0
    np.testing.assert_array_equal(rec["trial_stimulus"].values, s["frames"][shown])
    np.testing.assert_array_equal(rec["trial_start"].values, s["timestamps"][s["start"][shown]])
    np.testing.assert_array_equal(rec["trial_end"].values, s["timestamps"][s["end"][shown]])
    assert rec.attrs["n_blank_presentations"] == 5
    assert rec.attrs["frame_rate"] == pytest.approx(30.0, rel=1e-3)
    assert set(rec["area"].values) == {"VISp"} and set(rec["depth"].values) == {175}
    assert set(rec["cre_line"].values) == {"Cux2-CreERT2"}
    assert set(rec["container"].values) == {511510670}
    assert set(rec["ophys_experiment"].values) == {501000001}

    stim = allen.stimuli_from_extract(out, size=None)
    write_store(stim, tmp_path / "stim.zarr", kind="stimuli")
    stim = read_store(tmp_path / "stim.zarr", "stimuli", load=True)
    np.testing.assert_array_equal(stim["pixels"].values, s["templates"])
    np.testing.assert_array_equal(stim["template_index"].values, np.arange(4))


@pytest.mark.allen
@pytest.mark.slow
def test_extract_of_two_containers_through_allensdk(allen_python, tmp_path):
    a, b = make_session(4, first_id=1000), make_session(5, first_id=2000, n_cells=2)
    nwb_a = write_nwb(tmp_path / "a.nwb", a, container=1, experiment=11, area="VISl", depth=275)
    nwb_b = write_nwb(tmp_path / "b.nwb", b, container=2, experiment=12, area="VISl", depth=275)
    proc = run_extract(allen_python, tmp_path / "ab.h5", nwb_a, nwb_b)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = allen.recording_from_extract(tmp_path / "ab.h5", segment_window=(-0.2, 0.4))
    np.testing.assert_array_equal(rec["container"].values, [1, 1, 1, 2, 2])
    np.testing.assert_array_equal(rec["ophys_experiment"].values, [11, 11, 11, 12, 12])
    assert set(rec["depth"].values) == {275} and set(rec["area"].values) == {"VISl"}
    # unit 1000's first segment is its own session's trace around the first shown image
    shown = np.flatnonzero(a["frames"] >= 0)
    onset = a["start"][shown[0]]
    np.testing.assert_array_equal(rec["dff"].values[0, :18], a["dff"][0, onset - 6 : onset + 12])


@pytest.mark.allen
@pytest.mark.slow
@pytest.mark.parametrize(
    "defect, message",
    [
        (
            "no_natural_scenes",
            r"no natural_scenes stimulus in this NWB file \(it has \['static_gratings'\]\)",
        ),
        (
            "past_the_end",
            r"points past the end of the traces: 1 presentation\(s\) outside frames 0\.\.399",
        ),
        ("nan_traces", r"every dF/F trace is NaN \(3 cells\)"),
    ],
)
def test_extract_bad_nwb_names_the_file_and_writes_nothing(allen_python, tmp_path, defect, message):
    s = make_session(6)
    if defect == "past_the_end":
        s["start"][-1], s["end"][-1] = 396, 403
    if defect == "nan_traces":
        s["dff"][:] = np.nan
    nwb = write_nwb(tmp_path / f"{defect}.nwb", s, natural_scenes=defect != "no_natural_scenes")
    out = tmp_path / "out.h5"
    proc = run_extract(allen_python, out, nwb)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert str(nwb) in proc.stderr
    assert re.search(message, proc.stderr), proc.stderr[-3000:]
    assert not out.exists() and not list(tmp_path.glob(".out.h5.tmp-*"))


@pytest.mark.allen
@pytest.mark.slow
def test_workflow_allen_rules_on_local_nwb(allen_python, tmp_path):
    """allen_extract -> allen_recording / allen_stimuli -> the shared trial_responses rule."""
    s = make_session(7, n_cells=4)
    nwb = write_nwb(tmp_path / "ns.nwb", s)
    config = {
        "stimulus_sets": {"allen_ns": {"source": "allen", "dataset": "allen_test", "size": None}},
        "datasets": {
            "allen_test": {"source": "allen", "stimuli": "allen_ns", "nwb_files": [str(nwb)]}
        },
        "responses": {"response_window": [0.05, 0.25], "baseline_window": [-0.1, 0.0]},
    }
    wf = tmp_path / "wf"
    cmd = snakemake_command(wf, config=config)
    # targets first: after --configfile they would be read as more config files
    cmd[1:1] = ["results/responses/allen_test.zarr", "results/stimuli/allen_ns.zarr"]
    proc = subprocess.run(
        cmd,
        # no BRAINREPS_ALLEN_PYTHON: the rule's default, the repo's make-built .venv-allen
        env={k: v for k, v in workflow_env().items() if k != "BRAINREPS_ALLEN_PYTHON"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-6000:]
    rec = read_store(wf / "results/recordings/allen_test.zarr", "recording", load=True)
    np.testing.assert_array_equal(rec["dff"].values, s["dff"])
    stim = read_store(wf / "results/stimuli/allen_ns.zarr", "stimuli", load=True)
    np.testing.assert_array_equal(stim["pixels"].values, s["templates"])
    resp = read_store(wf / "results/responses/allen_test.zarr", "responses", load=True)
    assert resp.sizes["unit"] == 4 and resp.sizes["stimulus"] == 4
    # the mean response of image 2 for unit 0 from the traces by hand
    ts, d = s["timestamps"], s["dff"][0].astype(np.float64)
    vals = []
    for onset in ts[s["start"][s["frames"] == 2]]:
        resp_win = d[(ts >= onset + 0.05) & (ts < onset + 0.25)].mean()
        base_win = d[(ts >= onset - 0.1) & (ts < onset)].mean()
        vals.append(resp_win - base_win)
    assert float(resp["mean_response"].values[0, 2]) == pytest.approx(np.mean(vals), rel=1e-5)


FAKE_CACHE_SCRIPT = """
import json, sys
import allensdk.core.brain_observatory_cache as boc_module
from allensdk.core.brain_observatory_nwb_data_set import BrainObservatoryNwbDataSet

containers, experiments, nwb_of, calls = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), []

class FakeCache:
    '''BrainObservatoryCache without the network: the container and experiment tables given.'''
    def __init__(self, manifest_file=None, **kw):
        calls.append(["init", manifest_file])
    def get_experiment_containers(self, include_failed=False, **kw):
        return [c for c in containers if include_failed or not c["failed"]]
    def get_ophys_experiments(self, experiment_container_ids=None, stimuli=None, **kw):
        calls.append(["experiments", experiment_container_ids, stimuli])
        return [e for e in experiments if e["experiment_container_id"] in experiment_container_ids]
    def get_ophys_experiment_data(self, ophys_experiment_id):
        calls.append(["data", ophys_experiment_id])
        return BrainObservatoryNwbDataSet(nwb_of[str(ophys_experiment_id)])

boc_module.BrainObservatoryCache = FakeCache
sys.path.insert(0, sys.argv[4])
import allen_extract
allen_extract.extract(json.loads(sys.argv[5]), sys.argv[6])
print(json.dumps(calls))
"""


@pytest.mark.allen
@pytest.mark.slow
def test_extract_selects_containers_through_the_cache(allen_python, tmp_path):
    """Selection -> the container's three_session_B experiment -> its NWB, without network."""
    import json

    s = make_session(8)
    nwb = write_nwb(tmp_path / "b.nwb", s, container=10, experiment=111)
    experiments = [
        {"id": 110, "experiment_container_id": 10, "session_type": "three_session_A"},
        {"id": 111, "experiment_container_id": 10, "session_type": "three_session_B"},
        {"id": 311, "experiment_container_id": 30, "session_type": "three_session_B"},
    ]
    selection = {
        "cache_dir": str(tmp_path / "cache"),
        "targeted_structures": ["VISp"],
        "imaging_depths": [175],
        "cre_lines": ["Cux2-CreERT2"],
        "max_containers": 1,
        "session_type": "three_session_B",
    }

    def run(sel, out):
        return subprocess.run(
            [
                str(allen_python),
                "-c",
                FAKE_CACHE_SCRIPT,
                json.dumps(CONTAINERS),
                json.dumps(experiments),
                json.dumps({"111": str(nwb)}),
                str(EXTRACT_SCRIPT.parent),
                json.dumps(sel),
                str(out),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )

    proc = run(selection, tmp_path / "sel.h5")
    assert proc.returncode == 0, proc.stderr[-3000:]
    calls = json.loads(proc.stdout.strip().splitlines()[-1])
    # container 10 is the lowest-id match (5 failed, 30 beyond max_containers)
    assert calls == [
        ["init", str(tmp_path / "cache" / "manifest.json")],
        ["experiments", [10], ["natural_scenes"]],
        ["data", 111],
    ]
    rec = allen.recording_from_extract(tmp_path / "sel.h5")
    np.testing.assert_array_equal(rec["dff"].values, s["dff"])
    assert set(rec["container"].values) == {10} and set(rec["ophys_experiment"].values) == {111}
    assert set(rec["cre_line"].values) == {"Cux2-CreERT2"}

    proc = run({**selection, "targeted_structures": ["VISam"]}, tmp_path / "none.h5")
    assert proc.returncode != 0
    assert "no experiment container matches targeted_structures=['VISam']" in proc.stderr
    assert "VISl 175 um Cux2-CreERT2" in proc.stderr
    assert not (tmp_path / "none.h5").exists()


def test_cli_recording_and_stimuli(tmp_path):
    from brainreps.cli import main

    s = make_session(9)
    path = extract_file(tmp_path, [s])
    assert main(["allen-recording", str(path), "--out", str(tmp_path / "r.zarr")]) == 0
    rec = read_store(tmp_path / "r.zarr", "recording", load=True)
    np.testing.assert_array_equal(rec["dff"].values, s["dff"])
    assert main(["allen-stimuli", str(path), "--out", str(tmp_path / "s.zarr"), "--size", "3"]) == 0
    stim = read_store(tmp_path / "s.zarr", "stimuli", load=True)
    # 9x12 templates -> 3x4: each output pixel is the mean of a 3x3 block
    blocks = s["templates"].reshape(4, 3, 3, 4, 3).astype(float).mean(axis=(2, 4))
    # (PIL's fixed-point box filter: within one grey level of the exact block mean)
    np.testing.assert_allclose(stim["pixels"].values, blocks, atol=1.0)
    assert main(["allen-recording", str(tmp_path / "missing.h5"), "--out", "x.zarr"]) == 2
