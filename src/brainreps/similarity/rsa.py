"""Model vs brain RSA: neural RDMs per unit group, their split-half noise ceiling, Spearman RSA.

Neural patterns are the trial-averaged responses of a group of units (all units, one brain
area, one Cre line, one depth group); the neural RDM is the stimulus x stimulus Pearson
correlation of those patterns (1 - r dissimilarity). Its reliability is the Spearman
correlation between the RDMs of two random halves of the repeats (averaged over splits),
Spearman-Brown corrected to the full number of repeats; the noise ceiling is its square
root (the highest Spearman correlation any model RDM could reach with a noisy neural RDM),
NaN where the reliability is <= 0. `normalized_rsa` = rsa / noise_ceiling.

Neural RDMs may also come from a file (`brainreps.data.rdms`: a dataset with `source: rdms`,
or `brainreps rsa --neural-rdms FILE`). Both paths meet in `rsa_against`: `neural_rdms` turns
responses into the same RDM Dataset a file loads into, so the RSA of a layer with an RDM is the
same number whether the RDM was computed here or read from a file.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from brainreps.data.rdms import as_similarity, rdm_dataset
from brainreps.similarity import rdm, second_order

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnitGroup:
    """A set of units: kind (all/area/cre_line/depth), value, and their indices."""

    kind: str
    value: str
    index: np.ndarray

    @property
    def name(self) -> str:
        return "all" if self.kind == "all" else f"{self.kind}:{self.value}"


def align_stimuli(
    model_ids: Sequence[str], neural_ids: Sequence[str], model_name: str, neural_name: str
) -> np.ndarray:
    """Index into the neural stimuli that puts them in the model's order, or a clear error."""
    model_ids = [str(s) for s in model_ids]
    neural_ids = [str(s) for s in neural_ids]
    if len(model_ids) != len(neural_ids):
        raise rdm.SimilarityInputError(
            f"stimulus sets differ in size: {model_name} has {len(model_ids)} stimuli, "
            f"{neural_name} has {len(neural_ids)}"
        )
    rdm.check_n_stimuli(len(model_ids), model_name)
    pos = {s: i for i, s in enumerate(neural_ids)}
    missing = [s for s in model_ids if s not in pos]
    if missing:
        raise rdm.SimilarityInputError(
            f"stimulus ids of {model_name} are not those of {neural_name}: "
            f"{len(missing)} missing, e.g. {missing[:3]}"
        )
    return np.array([pos[s] for s in model_ids])


def unit_groups(
    units: xr.Dataset | pd.DataFrame,
    kinds: Sequence[str] = ("area", "cre_line", "depth"),
    depth_bins: Sequence[float] | None = None,
    min_units: int = 5,
) -> list[UnitGroup]:
    """All units, then one group per value of each unit coordinate in `kinds`.

    Depth is grouped by its distinct values, or into [low, high) bins when `depth_bins`
    (edges, µm) is given. Groups with fewer than `min_units` units are left out.
    """
    if isinstance(units, xr.Dataset):
        table = pd.DataFrame({k: units[k].values for k in kinds if k in units.coords or k in units})
        n = units.sizes["unit"]
    else:
        table, n = units, len(units)
    groups = [UnitGroup("all", "all", np.arange(n))]
    for kind in kinds:
        if kind not in table:
            continue
        values = table[kind].to_numpy()
        if kind == "depth" and depth_bins:
            edges = np.asarray(depth_bins, dtype=float)
            which = np.digitize(values.astype(float), edges) - 1
            labels = np.array(
                [
                    f"{edges[i]:g}-{edges[i + 1]:g}" if 0 <= i < len(edges) - 1 else ""
                    for i in which
                ],
                dtype=object,
            )
        else:
            labels = np.array(
                [f"{v:g}" if isinstance(v, float) else str(v) for v in values], dtype=object
            )
        uniq = [v for v in pd.unique(labels) if v != ""]
        if len(uniq) < 2 and kind != "area":
            continue  # one value: the same as "all"
        for value in sorted(uniq, key=_natural):
            idx = np.flatnonzero(labels == value)
            if len(idx) >= min_units:
                groups.append(UnitGroup(kind, str(value), idx))
    return groups


def _natural(v: str) -> tuple:
    try:
        return (0, float(str(v).split("-")[0]), str(v))
    except ValueError:
        return (1, 0.0, str(v))


def neural_correlation(mean_response: np.ndarray, where: str = "neural") -> np.ndarray:
    """Stimulus x stimulus correlation of population patterns from (unit, stimulus) means.

    Units with a non-finite mean for any stimulus are left out (with a warning).
    """
    x = np.asarray(mean_response, dtype=np.float64)
    ok = np.isfinite(x).all(axis=1)
    if not ok.all():
        warnings.warn(
            f"{where}: leaving out {int((~ok).sum())} units with missing responses",
            RuntimeWarning,
            stacklevel=2,
        )
    x = x[ok]
    if x.shape[0] < 2:
        raise rdm.SimilarityInputError(f"{where}: {x.shape[0]} usable units; need >= 2")
    return rdm.correlation_matrix(x.T, layer=where)


def split_half_reliability(
    trial_responses: np.ndarray, n_splits: int = 20, seed: int = 0, where: str = "neural"
) -> tuple[float, float]:
    """(mean split-half Spearman r of the neural RDM, its Spearman-Brown corrected value)."""
    x = np.asarray(trial_responses, dtype=np.float64)
    n_rep = x.shape[2]
    if n_rep < 2:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    rs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(n_splits):
            perm = rng.permutation(n_rep)
            a = np.nanmean(x[:, :, perm[: n_rep // 2]], axis=2)
            b = np.nanmean(x[:, :, perm[n_rep // 2 :]], axis=2)
            ok = np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1)
            if ok.sum() < 2:
                continue
            ra = rdm.correlation_matrix(a[ok].T, layer=where)
            rb = rdm.correlation_matrix(b[ok].T, layer=where)
            rs.append(second_order.second_order([ra, rb], "spearman")[0, 1])
    r = float(np.nanmean(rs)) if rs and np.isfinite(rs).any() else float("nan")
    corrected = 2 * r / (1 + r) if np.isfinite(r) and r > -1 else float("nan")
    return r, corrected


def _group_metadata(groups: Sequence[UnitGroup]) -> dict[str, list]:
    """The RDM Dataset's per-group metadata of unit groups (area, Cre line, depth)."""
    meta: dict[str, list] = {"area": [], "layer": [], "cre_line": [], "depth": [], "n_units": []}
    for g in groups:
        meta["area"].append(g.value if g.kind == "area" else "")
        meta["layer"].append("")
        meta["cre_line"].append(g.value if g.kind == "cre_line" else "")
        try:
            depth = float(g.value) if g.kind == "depth" else np.nan
        except ValueError:  # a depth bin "100-200"
            depth = np.nan
        meta["depth"].append(depth)
        meta["n_units"].append(len(g.index))
    return meta


def neural_rdms(
    responses: xr.Dataset,
    *,
    dataset_name: str = "dataset",
    kinds: Sequence[str],
    depth_bins: Sequence[float] | None,
    min_units: int,
    n_splits: int,
    seed: int,
) -> xr.Dataset:
    """One neural RDM (Pearson r of the mean responses) per unit group, with its split-half
    reliability and noise ceiling: the RDM Dataset of `brainreps.data.rdms`, in the responses'
    stimulus order. The settings are the config's similarity.rsa and similarity.seed."""
    mean = np.asarray(responses["mean_response"].transpose("unit", "stimulus").values)
    trials = np.asarray(responses["trial_responses"].transpose("unit", "stimulus", "repeat").values)
    n = mean.shape[1]
    with rdm.blas_threads_for(float(n) * n * responses.sizes["unit"]):
        groups = unit_groups(responses, kinds, depth_bins, min_units)
        matrices, rel_half, rel = [], [], []
        for g in groups:
            where = f"{dataset_name} {g.name}"
            matrices.append(neural_correlation(mean[g.index], where))
            h, sb = split_half_reliability(trials[g.index], n_splits, seed, where)
            rel_half.append(h)
            rel.append(sb)
            logger.info("%s: %d units, RDM reliability %.3f", where, len(g.index), sb)
    ds = rdm_dataset(
        np.stack(matrices),
        [g.name for g in groups],
        [str(v) for v in responses["stimulus"].values],
        "similarity",
        metadata=_group_metadata(groups),
        reliability=np.array(rel),
        attrs={"source": dataset_name},
    )
    return ds.assign(split_half_r=("group", np.array(rel_half))).assign_coords(
        group_kind=("group", [g.kind for g in groups]),
        group_value=("group", [g.value for g in groups]),
    )


def rsa(
    similarity: xr.Dataset,
    responses: xr.Dataset,
    *,
    model_name: str = "model",
    dataset_name: str = "dataset",
    kinds: Sequence[str],
    depth_bins: Sequence[float] | None,
    min_units: int,
    n_splits: int,
    seed: int,
) -> xr.Dataset:
    """Spearman correlation of every layer's RDM with every unit group's, plus noise ceilings.

    The settings are the config's similarity.rsa (groups, depth_bins, min_units, n_splits)
    and similarity.seed.
    """
    align_stimuli(  # a clear error before any work
        similarity["stimulus"].values,
        responses["stimulus"].values,
        f"{model_name} (similarity store)",
        f"{dataset_name} (responses)",
    )
    neural = neural_rdms(
        responses,
        dataset_name=dataset_name,
        kinds=kinds,
        depth_bins=depth_bins,
        min_units=min_units,
        n_splits=n_splits,
        seed=seed,
    )
    return rsa_against(
        similarity,
        neural,
        model_name=model_name,
        dataset_name=f"{dataset_name} (responses)",
    )


def rsa_against(
    similarity: xr.Dataset,
    rdms: xr.Dataset,
    *,
    model_name: str = "model",
    dataset_name: str = "neural RDMs",
) -> xr.Dataset:
    """Spearman RSA of every layer's RDM with every neural RDM (an RDM Dataset, from a file or
    from `neural_rdms`), normalised by each RDM's noise ceiling where it is known."""
    order = align_stimuli(
        similarity["stimulus"].values,
        rdms["stimulus"].values,
        f"{model_name} (similarity store)",
        dataset_name,
    )
    neural = as_similarity(rdms)[:, order][:, :, order]
    layers = [str(v) for v in similarity["layer"].values]
    layer_corrs = [np.asarray(similarity["correlation"].sel(layer=name).values) for name in layers]
    n = len(order)
    with rdm.blas_threads_for(float(n) * n * (len(layers) + len(neural))):
        scores = second_order.corr_between(layer_corrs, list(neural), "spearman")
    ceiling = np.asarray(rdms["noise_ceiling"].values, np.float64)
    names = [str(g) for g in rdms["group"].values]
    g = len(names)

    def coord(name: str, default):
        return rdms[name].values if name in rdms.coords else np.full(g, default)

    stimuli = [str(v) for v in similarity["stimulus"].values]
    data = {
        "rsa": (("layer", "group"), scores),
        "normalized_rsa": (("layer", "group"), scores / ceiling[None, :]),
        "noise_ceiling": (("group",), ceiling),
        "rdm_reliability": (("group",), np.asarray(rdms["rdm_reliability"].values, np.float64)),
        "neural_correlation": (("group", "stimulus", "stimulus_b"), neural.astype(np.float32)),
    }
    if "split_half_r" in rdms:
        data["split_half_r"] = (("group",), np.asarray(rdms["split_half_r"].values))
    ds = xr.Dataset(
        data,
        coords={
            "layer": layers,
            "group": names,
            "group_kind": ("group", coord("group_kind", "given")),
            "group_value": ("group", coord("group_value", "")),
            "n_units": ("group", coord("n_units", -1).astype(np.int64)),
            "area": ("group", [str(v) for v in coord("area", "")]),
            "cortical_layer": ("group", [str(v) for v in coord("layer", "")]),
            "cre_line": ("group", [str(v) for v in coord("cre_line", "")]),
            "imaging_depth": ("group", np.asarray(coord("depth", np.nan), np.float64)),
            "depth": (
                "layer",
                similarity["depth"].values
                if "depth" in similarity.coords
                else np.arange(len(layers)),
            ),
            "stimulus": stimuli,
            "stimulus_b": stimuli,
        },
        attrs={"rdm_kind": str(rdms.attrs.get("kind", "similarity"))},
    )
    if "group_value" not in rdms.coords:  # groups of a file: their own names
        ds = ds.assign_coords(group_value=("group", names))
    ds["rsa"].attrs["description"] = "Spearman r between the layer's and the group's RDM"
    ds["noise_ceiling"].attrs["description"] = (
        "sqrt(Spearman-Brown corrected split-half RDM reliability)"
    )
    ds["neural_correlation"].attrs["description"] = (
        "the neural matrix as a similarity (1 - d for a dissimilarity), in the model's order"
    )
    return ds


def rsa_table(ds: xr.Dataset, **labels: str) -> pd.DataFrame:
    """Tidy RSA: one row per (layer, group)."""
    df = ds[["rsa", "normalized_rsa"]].to_dataframe().reset_index()
    extra = ds[["noise_ceiling", "rdm_reliability"]].to_dataframe().reset_index()
    df = df.merge(extra, on=[c for c in extra.columns if c in df.columns])
    cols = [
        "layer",
        "depth",
        "group",
        "group_kind",
        "group_value",
        "area",
        "cortical_layer",
        "cre_line",
        "imaging_depth",
        "n_units",
        "rsa",
        "noise_ceiling",
        "normalized_rsa",
        "rdm_reliability",
    ]
    df = df[[c for c in cols if c in df.columns]]
    for i, (key, value) in enumerate(labels.items()):
        df.insert(i, key, value)
    return df


def rsa_from_mapping(
    layer_corrs: Mapping[str, np.ndarray], neural: Mapping[str, np.ndarray]
) -> pd.DataFrame:
    """Spearman RSA between named model and neural correlation matrices (layer x group)."""
    scores = second_order.corr_between(
        list(layer_corrs.values()), list(neural.values()), "spearman"
    )
    return pd.DataFrame(scores, index=list(layer_corrs), columns=list(neural))
