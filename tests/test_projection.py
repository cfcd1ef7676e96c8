"""Sparse random projection: exactness, seeding, JL distortion, and scikit-learn's distribution."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from sklearn.random_projection import SparseRandomProjection
from sklearn.random_projection import johnson_lindenstrauss_min_dim as sk_jl

from brainreps import io
from brainreps.projection import (
    ROW_BLOCK,
    johnson_lindenstrauss_min_dim,
    nonzero_value,
    project,
    project_store,
    sparse_random_matrix,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _rand(n, f, seed=0):
    return np.random.default_rng(seed).standard_normal((n, f)).astype(np.float32)


def test_projection_equals_dense_multiply_by_the_same_matrix():
    n_features, k = 2 * ROW_BLOCK + 1234, 300  # spans three generated blocks
    x = _rand(15, n_features)
    dense = sparse_random_matrix(n_features, k, seed=3).toarray().astype(np.float64)
    expected = x.astype(np.float64) @ dense
    got = project(x, n_features, k, seed=3, chunk_features=5000)
    assert got.shape == (15, k) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_same_seed_same_matrix_and_projection_for_any_chunking():
    n_features, k = ROW_BLOCK + 777, 64
    full = sparse_random_matrix(n_features, k, seed=7)
    # rows generated on their own equal the same rows of the whole matrix
    for start, stop in [(0, 10), (ROW_BLOCK - 5, ROW_BLOCK + 5), (100, n_features)]:
        part = sparse_random_matrix(n_features, k, seed=7, rows=(start, stop))
        np.testing.assert_array_equal(part.toarray(), full[start:stop].toarray())
    x = _rand(9, n_features, seed=1)
    reference = project(x, n_features, k, seed=7)
    for width in (1, 13, 1000, ROW_BLOCK, n_features):
        chunks = (x[:, i : i + width] for i in range(0, n_features, width))
        np.testing.assert_array_equal(project(chunks, n_features, k, seed=7), reference)
    other = project(x, n_features, k, seed=8)
    assert not np.allclose(other, reference)


def test_pairwise_distances_within_jl_eps():
    n, n_features, eps = 40, 6000, 0.25
    k = johnson_lindenstrauss_min_dim(n, eps)
    x = _rand(n, n_features, seed=2).astype(np.float64)
    y = project(x.astype(np.float32), n_features, k, seed=0).astype(np.float64)
    i, j = np.triu_indices(n, 1)
    d_in = ((x[i] - x[j]) ** 2).sum(1)
    d_out = ((y[i] - y[j]) ** 2).sum(1)
    ratio = d_out / d_in
    assert ratio.min() > 1 - eps and ratio.max() < 1 + eps
    # and the distortion is not trivially zero: a random projection does spread the ratios
    assert ratio.std() > 0.01


@pytest.mark.parametrize("n_samples,eps", [(10, 0.1), (119, 0.1), (1000, 0.5), (5, 0.9)])
def test_jl_min_dim_equals_sklearn(n_samples, eps):
    assert johnson_lindenstrauss_min_dim(n_samples, eps) == int(sk_jl(n_samples, eps=eps))


@pytest.mark.parametrize(
    "n_features,k,density",
    [(20000, 400, "auto"), (3000, 200, 0.05), (200, 2000, "auto")],  # the last: dense regime
)
def test_nonzero_density_and_values_match_sklearn(n_features, k, density):
    ours = sparse_random_matrix(n_features, k, density=density, seed=0)
    srp = SparseRandomProjection(n_components=k, density=density, random_state=0)
    srp.fit(np.zeros((2, n_features)))
    theirs = srp.components_.T.tocsr()  # sklearn stores (k, n_features)
    d = 1 / np.sqrt(n_features) if density == "auto" else density
    assert srp.density_ == pytest.approx(d)
    total = n_features * k
    std = np.sqrt(total * d * (1 - d))  # binomial std of the number of nonzeros
    for m in (ours, theirs):
        assert abs(m.nnz - total * d) < 5 * std
    assert abs(ours.nnz - theirs.nnz) < 5 * np.sqrt(2) * std
    # the same two values, +-sqrt(1/density)/sqrt(k)
    v = nonzero_value(d, k)
    np.testing.assert_allclose(np.unique(ours.data), [-v, v], rtol=1e-6)
    np.testing.assert_allclose(np.unique(ours.data), np.unique(theirs.data), rtol=1e-6)
    # signs equally likely
    for m in (ours, theirs):
        frac_pos = (m.data > 0).mean()
        assert abs(frac_pos - 0.5) < 5 * np.sqrt(0.25 / m.nnz)
    # nonzeros per row ~ Binomial(k, d): its mean and variance, for ours as for sklearn's
    for m in (ours, theirs):
        counts = np.diff(m.indptr)
        assert abs(counts.mean() - k * d) < 5 * np.sqrt(k * d * (1 - d) / n_features)
        # sample variance of n normal-ish counts has relative std sqrt(2 / (n - 1))
        rel = 5 * np.sqrt(2 / (n_features - 1))
        assert counts.var(ddof=1) == pytest.approx(k * d * (1 - d), rel=rel)
    # columns used uniformly: nonzeros per component ~ Binomial(n_features, d)
    col_counts = np.bincount(ours.indices, minlength=k)
    chi2 = ((col_counts - col_counts.mean()) ** 2 / col_counts.mean()).sum()
    assert stats.chi2.sf(chi2, k - 1) > 1e-4
    # no entry drawn twice (column sampling is without replacement within a row)
    keys = np.repeat(np.arange(n_features), np.diff(ours.indptr)) * k + ours.indices
    assert np.unique(keys).size == keys.size


def test_projection_of_sklearn_matrix_agrees_in_scale():
    """Ours and sklearn's are different draws of one distribution: norms agree on average."""
    n_features, k = 5000, 800
    x = _rand(30, n_features, seed=4)
    ours = project(x, n_features, k, seed=0)
    srp = SparseRandomProjection(n_components=k, random_state=0).fit(x)
    theirs = srp.transform(x)
    ratio_ours = (ours**2).sum(1) / (x**2).sum(1)
    ratio_theirs = (theirs**2).sum(1) / (x**2).sum(1)
    assert abs(ratio_ours.mean() - 1) < 0.05 and abs(ratio_theirs.mean() - 1) < 0.05


def test_bad_arguments_raise():
    x = _rand(4, 100)
    with pytest.raises(ValueError, match="expected n_features=120"):
        project(x, 120, 10)
    with pytest.raises(ValueError, match="more than n_features"):
        project(x, 50, 10)
    with pytest.raises(ValueError, match="density"):
        project(x, 100, 10, density=1.5)
    with pytest.raises(ValueError, match="eps"):
        johnson_lindenstrauss_min_dim(10, 1.5)


def _features_store(path, widths, n=12):
    rng = np.random.default_rng(0)
    groups = {
        name: xr.Dataset(
            {"activations": (("stimulus", "feature"), rng.standard_normal((n, w), np.float32))},
            coords={"stimulus": [f"s{i}" for i in range(n)]},
        )
        for name, w in widths.items()
    }
    io.write_store(groups, path, kind="features")
    return groups


def test_project_store_groups_identity_for_small_layers(tmp_path):
    groups = _features_store(tmp_path / "f.zarr", {"pixels": 3000, "conv": 9000, "output": 10})
    out = project_store(tmp_path / "f.zarr", tmp_path / "p.zarr", n_components=64, seed=5)
    assert io.store_groups(out) == ["pixels", "conv", "output"]
    conv = io.read_store(out, "projection", group="conv", load=True)
    expected = project(groups["conv"]["activations"].values, 9000, 64, seed=5)
    np.testing.assert_allclose(conv["components"].values, expected, rtol=1e-6, atol=1e-6)
    assert list(conv["stimulus"].values) == [f"s{i}" for i in range(12)]
    assert conv.attrs["method"] == "sparse_random_projection"
    small = io.read_store(out, "projection", group="output", load=True)
    assert small.attrs["method"] == "identity"
    np.testing.assert_array_equal(small["components"].values, groups["output"]["activations"])
    # small_layers="project" keeps k for every layer
    out2 = project_store(
        tmp_path / "f.zarr", tmp_path / "p2.zarr", n_components=64, small_layers="project"
    )
    assert io.read_store(out2, "projection", group="output")["components"].shape == (12, 64)


def test_project_store_k_from_eps_and_errors(tmp_path):
    _features_store(tmp_path / "f.zarr", {"a": 5000})
    out = project_store(tmp_path / "f.zarr", tmp_path / "p.zarr", eps=0.5)
    k = johnson_lindenstrauss_min_dim(12, 0.5)
    assert io.read_store(out, "projection", group="a")["components"].shape == (12, k)
    with pytest.raises(ValueError, match="not both"):
        project_store(tmp_path / "f.zarr", tmp_path / "q.zarr", eps=0.5, n_components=10)
    with pytest.raises(ValueError, match="no layer"):
        project_store(tmp_path / "f.zarr", tmp_path / "q.zarr", layers=["b"])
    assert not (tmp_path / "q.zarr").exists()


def test_torch_and_fallback_kernels_agree_with_the_inplace_one(monkeypatch):
    """The GPU code path (torch sparse CSR x dense), run on the CPU, and scipy's public product."""
    import torch

    import brainreps.projection as projection

    n_features, k = 3000, 50
    x = _rand(7, n_features, seed=5)
    ours = project(x, n_features, k, seed=2)
    dense = sparse_random_matrix(n_features, k, seed=2)
    indptr = dense.indptr.astype(np.int64)
    cols = dense.indices.astype(np.int64)
    out_t = torch.zeros(k, 7)
    projection._accumulate(out_t, indptr, cols, dense.data, np.ascontiguousarray(x.T), k)
    np.testing.assert_allclose(out_t.numpy().T, ours, rtol=1e-5, atol=1e-5)
    monkeypatch.setattr(projection, "_csc_matvecs", None)
    np.testing.assert_allclose(project(x, n_features, k, seed=2), ours, rtol=1e-5, atol=1e-5)
