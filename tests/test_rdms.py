"""Neural RDM files: the Allen (DeepMouseTrap) folder, the documented .npz format, bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainreps.data.rdms import (
    FORMAT_ALLEN,
    FORMAT_FILE,
    RDMFileError,
    align_to_stimuli,
    allen_stimulus_ids,
    as_similarity,
    load_rdms,
    rdm_dataset,
    write_rdm_file,
)

ALLEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "allen_rdms"
needs_allen = pytest.mark.skipif(
    not (ALLEN / "similarity.npz").is_file(), reason=f"reference data {ALLEN} absent"
)


def correlation_matrices(n_groups: int, n_stimuli: int, seed: int = 0) -> np.ndarray:
    """Symmetric Pearson correlation matrices of random patterns."""
    rng = np.random.default_rng(seed)
    return np.stack([np.corrcoef(rng.normal(size=(n_stimuli, 20))) for _ in range(n_groups)])


def write_npz(path: Path, **arrays) -> Path:
    base = {
        "rdms": correlation_matrices(2, 5),
        "group": np.array(["VISp_l23", "VISl_l23"]),
        "stimulus": np.array([f"s{i}" for i in range(5)]),
        "kind": np.array("similarity"),
    }
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


@needs_allen
def test_the_allen_folder_loads_with_its_sites_and_ceilings():
    ds = load_rdms(ALLEN)
    assert ds.attrs["format"] == FORMAT_ALLEN and ds.attrs["kind"] == "similarity"
    assert ds.sizes == {"group": 21, "stimulus": 119, "stimulus_b": 119}
    assert list(ds["stimulus"].values) == allen_stimulus_ids()
    assert ds["stimulus"].values[-1] == "blank"
    visp = ds.sel(group="VISp_layer23")
    assert (str(visp["area"].values), str(visp["layer"].values)) == ("VISp", "layer23")
    np.testing.assert_allclose(float(visp["rdm_reliability"]), 0.9214628304875211)
    np.testing.assert_allclose(float(visp["noise_ceiling"]), np.sqrt(0.9214628304875211))
    np.testing.assert_allclose(
        float(ds["noise_ceiling"].sel(group="VISrl_layer5")), 0.35649, atol=1e-5
    )
    raw = np.load(ALLEN / "similarity.npz", allow_pickle=False)["VISam_layer4"]
    np.testing.assert_array_equal(ds["rdm"].sel(group="VISam_layer4").values, raw)
    assert sorted(set(ds["area"].values)) == ["VISal", "VISam", "VISl", "VISp", "VISpm", "VISrl"]


@needs_allen
def test_an_allen_folder_with_a_wrong_sized_matrix_names_the_file_and_site(tmp_path):
    folder = tmp_path / "allen"
    shutil.copytree(ALLEN, folder, ignore=shutil.ignore_patterns("*.npy"))
    arrays = dict(np.load(folder / "similarity.npz", allow_pickle=False))
    arrays["VISl_layer4"] = arrays["VISl_layer4"][:118, :118]
    np.savez(folder / "similarity.npz", **arrays)
    with pytest.raises(RDMFileError, match=r"similarity\.npz: entry 'VISl_layer4': 118 x 118 "):
        load_rdms(folder)


def test_the_documented_format_round_trips(tmp_path):
    m = correlation_matrices(3, 6, seed=1)
    ds = rdm_dataset(
        m,
        ["a", "b", "c"],
        [f"img{i}" for i in range(6)],
        "similarity",
        metadata={
            "area": ["VISp", "VISp", "VISl"],
            "cre_line": ["Cux2", "Rorb", ""],
            "depth": [175.0, 275.0, np.nan],
            "n_units": [12, 30, 7],
        },
        reliability=np.array([0.81, 0.64, np.nan]),
        attrs={"stimulus_set": "mine"},
    )
    path = write_rdm_file(ds, tmp_path / "rdms.npz")
    back = load_rdms(path)
    assert back.attrs["format"] == FORMAT_FILE and back.attrs["stimulus_set"] == "mine"
    np.testing.assert_array_equal(back["rdm"].values, m)
    np.testing.assert_allclose(back["noise_ceiling"].values, [0.9, 0.8, np.nan])
    assert list(back["cre_line"].values) == ["Cux2", "Rorb", ""]
    assert list(back["n_units"].values) == [12, 30, 7]
    np.testing.assert_array_equal(back["depth"].values, [175.0, 275.0, np.nan])
    assert not list(tmp_path.glob(".*tmp*")), "a temporary file was left behind"


def test_a_given_noise_ceiling_is_taken_as_it_is(tmp_path):
    ds = load_rdms(write_npz(tmp_path / "r.npz", noise_ceiling=np.array([0.7, np.nan])))
    np.testing.assert_array_equal(ds["noise_ceiling"].values, [0.7, np.nan])
    assert np.isnan(ds["rdm_reliability"].values).all()


BAD = {
    "non-square": (
        {"rdms": np.ones((2, 5, 4))},
        r"r\.npz: entry 'rdms', group 'VISp_l23': shape \(5, 4\) is not a square",
    ),
    "wrong stimulus count": (
        {"stimulus": np.array(["s0", "s1", "s2", "s3"])},
        r"r\.npz: entry 'rdms', group 'VISp_l23': 5 x 5 matrix, but there are 4 stimuli",
    ),
    "non-symmetric": (
        {"rdms": correlation_matrices(2, 5) + 0.01 * (np.arange(25).reshape(5, 5) == 1)},
        r"r\.npz: entry 'rdms', group 'VISp_l23': not symmetric \(entry \[0, 1\]",
    ),
    "NaN": (
        {"rdms": np.where(np.eye(5, dtype=bool)[None] & [[[False]], [[True]]], np.nan, 0.5)},
        r"r\.npz: entry 'rdms', group 'VISl_l23': 5 NaN or infinite entries",
    ),
    "missing entry": ({"kind": None}, r"r\.npz: lacks \['kind'\]"),
    "unknown kind": ({"kind": np.array("distance")}, r"entry 'kind' is 'distance'"),
    "duplicate group": (
        {"group": np.array(["a", "a"])},
        r"r\.npz: entry 'group': 'a' appears more than once",
    ),
    "unknown entry": ({"areas": np.array(["x", "y"])}, r"unknown entries \['areas'\]"),
    "reliability out of range": (
        {"reliability": np.array([0.5, 1.5])},
        r"entry 'reliability': 1\.5 for group 'VISl_l23' is outside \[-1, 1\]",
    ),
    "both ceilings": (
        {"reliability": np.array([0.5, 0.5]), "noise_ceiling": np.array([0.7, 0.7])},
        "give 'reliability' or 'noise_ceiling', not both",
    ),
    "python objects": (
        {"area": np.array(["VISp", {"depth": 175}], dtype=object)},
        r"r\.npz: entry 'area' holds Python objects, which brainreps never unpickles",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_rdm_file_is_refused_naming_the_file_and_entry(case, tmp_path):
    arrays, message = BAD[case]
    path = write_npz(tmp_path / "r.npz", **arrays)
    with pytest.raises(RDMFileError, match=message):
        load_rdms(path)


def test_an_npz_of_objects_is_never_unpickled(tmp_path):
    """A pickle inside the file would run code on load: it must not even be loaded."""
    marker = tmp_path / "unpickled"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    path = write_npz(tmp_path / "r.npz", stimulus=np.array([Exploit()] * 5, dtype=object))
    with pytest.raises(RDMFileError, match="entry 'stimulus' holds Python objects"):
        load_rdms(path)
    assert not marker.exists()


def test_missing_files_and_folders_are_named(tmp_path):
    with pytest.raises(RDMFileError, match="does not exist"):
        load_rdms(tmp_path / "absent.npz")
    (tmp_path / "folder").mkdir()
    with pytest.raises(RDMFileError, match="similarity.npz, sites.csv missing"):
        load_rdms(tmp_path / "folder")
    (tmp_path / "one.npz").write_bytes(b"not a zip")
    with pytest.raises(RDMFileError, match="one.npz: not a readable .npz file"):
        load_rdms(tmp_path / "one.npz")


def test_an_allen_folder_whose_sites_and_matrices_differ_is_refused(tmp_path):
    np.savez(tmp_path / "similarity.npz", VISp_layer23=correlation_matrices(1, 119)[0])
    pd.DataFrame(
        {
            "key": ["VISp_layer23", "VISl_layer23"],
            "area": ["VISp", "VISl"],
            "layer": ["layer23"] * 2,
        }
    ).to_csv(tmp_path / "sites.csv", index=False)
    with pytest.raises(RDMFileError, match=r"no matrix for sites \['VISl_layer23'\]"):
        load_rdms(tmp_path)


def test_alignment_reorders_to_the_stimulus_set_and_names_mismatches(tmp_path):
    ds = load_rdms(write_npz(tmp_path / "r.npz", stimulus=np.array(["a", "b", "c", "d", "blank"])))
    aligned = align_to_stimuli(ds, ["d", "c", "b", "a"], exclude=["blank"])
    assert list(aligned["stimulus"].values) == ["d", "c", "b", "a"]
    np.testing.assert_array_equal(
        aligned["rdm"].values[0], ds["rdm"].values[0][np.ix_([3, 2, 1, 0], [3, 2, 1, 0])]
    )
    with pytest.raises(
        RDMFileError, match=r"1 of its stimulus ids are not in .*'blank'.*blank: last"
    ):
        align_to_stimuli(ds, ["a", "b", "c", "d"], stimulus_set="stimulus set 'scenes'")
    with pytest.raises(RDMFileError, match=r"1 stimuli of set X are not in it \(e\.g\. \['e'\]\)"):
        align_to_stimuli(ds, ["a", "b", "c", "d", "e"], exclude=["blank"], stimulus_set="set X")
    with pytest.raises(RDMFileError, match=r"exclude_stimuli names \['grey'\]"):
        align_to_stimuli(ds, ["a"], exclude=["grey"])


def test_a_dissimilarity_becomes_one_minus_d():
    m = 1 - correlation_matrices(1, 4)
    ds = rdm_dataset(m, ["g"], list("abcd"), "dissimilarity")
    np.testing.assert_allclose(as_similarity(ds), 1 - m)
    np.testing.assert_allclose(np.diagonal(as_similarity(ds)[0]), 1.0)


def test_the_example_rdm_file_is_what_its_script_makes():
    """resources/example_rdms.npz loads, and its script writes the same matrices again."""
    import importlib.util

    resources = Path(__file__).resolve().parents[1] / "resources"
    spec = importlib.util.spec_from_file_location("make", resources / "make_example_rdms.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    stored = load_rdms(resources / "example_rdms.npz")
    assert stored.sizes == {"group": 8, "stimulus": 24, "stimulus_b": 24}
    assert stored["rdm"].dtype == np.float64  # read as float64, stored as float32
    fresh = make.example_rdms()
    assert list(fresh["stimulus"].values) == list(stored["stimulus"].values)
    np.testing.assert_allclose(stored["rdm"].values, fresh["rdm"].values, atol=1e-6)
    np.testing.assert_allclose(stored["rdm_reliability"], fresh["rdm_reliability"], atol=1e-12)
    assert (
        0.15
        < float(stored["rdm_reliability"].min())
        < float(stored["rdm_reliability"].max())
        < 0.55
    )
