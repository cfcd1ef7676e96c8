"""Allen Brain Observatory natural scenes: extracted sessions -> recording and stimuli stores.

The allensdk part (container selection, NWB download and reading) runs in its own
environment (`brainreps.data.allen_extract`); this module reads its HDF5 output with h5py
and never imports allensdk.

Decisions:
- Trials are the natural_scenes presentations; blank-screen presentations (image index -1)
  are dropped (their count is kept in the attr `n_blank_presentations`), so
  `trial_stimulus` indexes the stimuli store: stimulus i = template i.
- Stimulus-table frames index the imaging frames; trial_start/trial_end in seconds are the
  timestamps of the start and end frames.
- One session: the recording is that session's dF/F traces on their own time axis.
  Several sessions (containers) were not recorded together, so they are merged into a
  pseudo-population: for every (image, repeat) shown in all sessions, a segment of
  `segment_window` seconds around each session's own presentation is cut out and the
  segments are laid end to end on a common 1/frame_rate time axis (attr
  `pseudo_population`); trial k is the k-th segment for every unit.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import xarray as xr

from brainreps.data.allen_extract import FORMAT, check_session

logger = logging.getLogger(__name__)

# Native size of the Allen natural scenes templates (allensdk stimulus_info.NATURAL_SCENES_PIXELS).
TEMPLATE_SHAPE = (918, 1174)


@dataclass
class Session:
    """One extracted natural-scenes session."""

    dff: np.ndarray  # (cell, time)
    timestamps: np.ndarray  # (time,) s
    cell_specimen_ids: np.ndarray  # (cell,)
    trial_frame: np.ndarray  # (presentation,) template index, -1 = blank
    trial_start_frame: np.ndarray
    trial_end_frame: np.ndarray
    attrs: dict

    @property
    def source(self) -> str:
        """The NWB file the session came from."""
        return str(self.attrs.get("nwb_file", "?"))


def read_extract(path: str | os.PathLike) -> tuple[list[Session], np.ndarray]:
    """Sessions and the template stack of an allen_extract HDF5 file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: Allen extract file does not exist")
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(
                f"{path}: not an allen_extract file (format {f.attrs.get('format')!r})"
            )
        templates = f["templates"][()]
        sessions = []
        for name in sorted(f["sessions"]):
            g = f["sessions"][name]
            attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in g.attrs.items()}
            sessions.append(
                Session(
                    dff=g["dff"][()],
                    timestamps=g["timestamps"][()].astype(np.float64),
                    cell_specimen_ids=g["cell_specimen_ids"][()].astype(np.int64),
                    trial_frame=g["trial_frame"][()].astype(np.int64),
                    trial_start_frame=g["trial_start_frame"][()].astype(np.int64),
                    trial_end_frame=g["trial_end_frame"][()].astype(np.int64),
                    attrs=attrs,
                )
            )
    if not sessions:
        raise ValueError(f"{path}: holds no sessions")
    for s in sessions:
        check_session(
            s.dff,
            s.timestamps,
            s.cell_specimen_ids,
            s.trial_frame,
            s.trial_start_frame,
            s.trial_end_frame,
            templates.shape[0],
            f"{s.source} (in {path})",
        )
    return sessions, templates


def frame_rate(timestamps: np.ndarray) -> float:
    """Imaging frame rate (Hz) from the median frame interval."""
    return float(1.0 / np.median(np.diff(timestamps)))


def shown_trials(session: Session) -> np.ndarray:
    """Indices of the presentations that show an image (not a blank), in time order."""
    keep = np.flatnonzero(session.trial_frame >= 0)
    return keep[np.argsort(session.trial_start_frame[keep], kind="stable")]


def repeat_index(stimulus: np.ndarray) -> np.ndarray:
    """For each trial, how many earlier trials showed the same stimulus (0 for the first)."""
    order = np.argsort(stimulus, kind="stable")
    sorted_stim = stimulus[order]
    first = np.searchsorted(sorted_stim, sorted_stim, side="left")
    out = np.empty_like(stimulus)
    out[order] = np.arange(stimulus.size) - first
    return out


def _unit_coords(sessions: Sequence[Session]) -> dict[str, tuple]:
    def per_unit(key, dtype):
        return np.concatenate(
            [np.full(s.dff.shape[0], s.attrs.get(key), dtype=dtype) for s in sessions]
        )

    ids = np.concatenate([s.cell_specimen_ids for s in sessions])
    dup = np.flatnonzero(np.bincount(np.unique(ids, return_inverse=True)[1]) > 1)
    if dup.size:
        raise ValueError(
            f"cell specimen id {np.unique(ids)[dup[0]]} occurs in more than one session "
            f"({', '.join(s.source for s in sessions)})"
        )
    return {
        "unit": ("unit", ids),
        "area": ("unit", per_unit("area", object)),
        "depth": ("unit", per_unit("depth", np.int64)),
        "cre_line": ("unit", per_unit("cre_line", object)),
        "container": ("unit", per_unit("container", np.int64)),
        "ophys_experiment": ("unit", per_unit("ophys_experiment_id", np.int64)),
    }


def single_session_recording(session: Session) -> xr.Dataset:
    """The recording Dataset of one session on its own time axis."""
    keep = shown_trials(session)
    ts = session.timestamps
    data = {
        "dff": (("unit", "time"), session.dff.astype(np.float32)),
        "timestamps": (("time",), ts),
        "trial_stimulus": (("trial",), session.trial_frame[keep]),
        "trial_start": (("trial",), ts[session.trial_start_frame[keep]]),
        "trial_end": (("trial",), ts[session.trial_end_frame[keep]]),
    }
    return xr.Dataset(
        data,
        coords=_unit_coords([session]),
        attrs={
            "frame_rate": frame_rate(ts),
            "pseudo_population": 0,
            "n_blank_presentations": int((session.trial_frame < 0).sum()),
        },
    )


def pseudo_population_recording(
    sessions: Sequence[Session], segment_window: tuple[float, float] = (-0.5, 1.0)
) -> xr.Dataset:
    """Merge sessions recorded separately: per (image, repeat), segments end to end in time."""
    if segment_window[0] > 0 or segment_window[1] <= 0:
        raise ValueError(
            f"segment_window {segment_window} must contain the onset (low <= 0 < high)"
        )
    rate = float(np.median([frame_rate(s.timestamps) for s in sessions]))
    pre = int(round(-segment_window[0] * rate))
    post = int(round(segment_window[1] * rate))
    length = pre + post
    per_session = []
    for s in sessions:
        keep = shown_trials(s)
        stim = s.trial_frame[keep]
        per_session.append((keep, stim, repeat_index(stim)))
    n_images = int(max(stim.max() for _, stim, _ in per_session)) + 1
    counts = np.stack([np.bincount(stim, minlength=n_images) for _, stim, _ in per_session])
    common = counts.min(axis=0)  # repeats of each image shown in every session
    # canonical trial order: the first session's order, restricted to the common (image, repeat)
    _, stim0, rep0 = per_session[0]
    canon = np.flatnonzero(rep0 < common[stim0])
    canon_stim, canon_rep = stim0[canon], rep0[canon]
    if canon.size == 0:
        raise ValueError(
            "the sessions share no natural_scenes image: " + ", ".join(s.source for s in sessions)
        )
    n_trials = canon.size
    blocks = []
    durations = []
    for s, (keep, stim, rep) in zip(sessions, per_session, strict=True):
        # position of each (image, repeat) among this session's shown trials
        lookup = np.full((n_images, int(rep.max()) + 1), -1, dtype=np.int64)
        lookup[stim, rep] = np.arange(stim.size)
        idx = keep[lookup[canon_stim, canon_rep]]
        onset = s.trial_start_frame[idx]
        frames = onset[:, None] + np.arange(-pre, post)[None, :]  # (trial, length)
        inside = (frames >= 0) & (frames < s.dff.shape[1])
        seg = s.dff[:, np.clip(frames, 0, s.dff.shape[1] - 1)].astype(np.float32)
        seg[:, ~inside] = np.nan
        blocks.append(seg.reshape(s.dff.shape[0], n_trials * length))
        durations.append(s.timestamps[s.trial_end_frame[idx]] - s.timestamps[onset])
    timestamps = np.arange(n_trials * length, dtype=np.float64) / rate
    trial_start = (np.arange(n_trials) * length + pre) / rate
    return xr.Dataset(
        {
            "dff": (("unit", "time"), np.concatenate(blocks, axis=0)),
            "timestamps": (("time",), timestamps),
            "trial_stimulus": (("trial",), canon_stim.astype(np.int64)),
            "trial_start": (("trial",), trial_start),
            "trial_end": (("trial",), trial_start + np.median(durations, axis=0)),
            "trial_repeat": (("trial",), canon_rep.astype(np.int64)),
        },
        coords=_unit_coords(sessions),
        attrs={
            "frame_rate": rate,
            "pseudo_population": 1,
            "segment_window_s": list(segment_window),
            "n_blank_presentations": int(sum((s.trial_frame < 0).sum() for s in sessions)),
        },
    )


def recording_from_extract(
    path: str | os.PathLike, segment_window: tuple[float, float] = (-0.5, 1.0)
) -> xr.Dataset:
    """The `recording` Dataset of an allen_extract file (one session, or a pseudo-population)."""
    sessions, _ = read_extract(path)
    if len(sessions) == 1:
        ds = single_session_recording(sessions[0])
    else:
        ds = pseudo_population_recording(sessions, tuple(segment_window))
    ds.attrs["nwb_files"] = json.dumps([s.source for s in sessions])
    ds.attrs["sessions"] = json.dumps([s.attrs for s in sessions], default=str)
    return ds


def resize_templates(
    templates: np.ndarray, size: int | None = None, square: bool = False
) -> np.ndarray:
    """Resize (image, y, x) uint8 templates so the height is `size` (aspect kept), then crop.

    Resizing averages over areas (PIL's box filter), the anti-aliased choice for shrinking
    photographs. `size=None` keeps the native size. `square=True` centre-crops the width (or height) to
    a square after resizing.
    """
    from PIL import Image

    templates = np.asarray(templates)
    if templates.ndim != 3 or templates.dtype != np.uint8:
        raise ValueError(
            f"templates must be (image, y, x) uint8, got {templates.shape} {templates.dtype}"
        )
    n, h, w = templates.shape
    if size is not None and size != h:
        new_w = max(1, int(round(w * size / h)))
        # box filter: each output pixel is the area-weighted mean of the input pixels it covers
        templates = np.stack(
            [
                np.asarray(Image.fromarray(img).resize((new_w, size), Image.Resampling.BOX))
                for img in templates
            ]
        )
    if square:
        h, w = templates.shape[1:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        templates = templates[:, top : top + side, left : left + side]
    return np.ascontiguousarray(templates)


def stimuli_from_extract(
    path: str | os.PathLike, size: int | None = None, square: bool = False
) -> xr.Dataset:
    """The `stimuli` Dataset of the natural scenes templates: stimulus i = template i."""
    path = Path(path)
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != FORMAT:
            raise ValueError(
                f"{path}: not an allen_extract file (format {f.attrs.get('format')!r})"
            )
        templates = f["templates"][()]
    if templates.shape[1:] != TEMPLATE_SHAPE:
        logger.warning(
            "%s: templates are %s, not the Allen natural scenes size %s",
            path,
            templates.shape[1:],
            TEMPLATE_SHAPE,
        )
    pixels = resize_templates(templates, size, square)
    n = pixels.shape[0]
    return xr.Dataset(
        {"pixels": (("stimulus", "y", "x"), pixels)},
        coords={
            "stimulus": [f"allen_ns_{i:03d}" for i in range(n)],
            "source": ("stimulus", [f"allen:natural_scenes:{i}" for i in range(n)]),
            "label": ("stimulus", [str(i) for i in range(n)]),
            "template_index": ("stimulus", np.arange(n, dtype=np.int64)),
        },
        attrs={"native_shape": list(templates.shape[1:])},
    )


def selection_of(dataset_config: Mapping) -> dict:
    """The part of an allen dataset's config that the extraction depends on."""
    keys = (
        "targeted_structures",
        "imaging_depths",
        "cre_lines",
        "max_containers",
        "session_type",
        "include_failed",
        "nwb_files",
        "cache_dir",
    )
    return {k: dataset_config[k] for k in keys if k in dataset_config}
