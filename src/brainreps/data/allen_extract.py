"""Extract Allen Brain Observatory natural-scenes sessions into a plain HDF5 file.

Runs inside the allensdk environment (`.venv-allen`, or `envs/allensdk.yaml` with
`--sdm conda`): allensdk 2.16.2 pins numpy<1.24 and pandas 1.5.3, so this module imports only
numpy and h5py at module level (allensdk inside the functions that need it) and must not
import xarray, zarr or the rest of brainreps. The main environment turns its output into
the `recording` and `stimuli` stores (`brainreps.data.allen`).

Run it as a file, which imports nothing else from the package::

    .venv-allen/bin/python src/brainreps/data/allen_extract.py --out x.h5 --nwb a.nwb b.nwb
    .venv-allen/bin/python src/brainreps/data/allen_extract.py --out x.h5 \
        --selection '{"cache_dir": "allen_cache", "targeted_structures": ["VISp"], ...}'

Output layout (HDF5): `/templates (image, y, x) uint8`, and per session
`/sessions/<i>/{dff, timestamps, cell_specimen_ids, trial_frame, trial_start_frame,
trial_end_frame}` with attrs nwb_file, ophys_experiment_id, container, area, depth,
cre_line, session_type. Trial frames index the imaging frames (the timestamps).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

logger = logging.getLogger("brainreps.allen_extract")

NATURAL_SCENES = "natural_scenes"
# The one Visual Coding 2P session type that shows natural scenes (allensdk stimulus_info).
NATURAL_SCENES_SESSION_TYPES = ("three_session_B",)
FORMAT = "brainreps-allen-extract"
FORMAT_VERSION = 1


def select_containers(
    table: Iterable[Mapping],
    areas: Sequence[str] | None = None,
    depths: Sequence[int] | None = None,
    cre_lines: Sequence[str] | None = None,
    include_failed: bool = False,
    max_containers: int | None = None,
) -> list[dict]:
    """Experiment containers matching area, depth and Cre line (empty/None = any), by id.

    `table` holds one mapping per container with keys id, targeted_structure,
    imaging_depth, cre_line and optionally failed (as BrainObservatoryCache returns them).
    Raises ValueError listing what is available when nothing matches.
    """
    rows = [dict(r) for r in table]
    usable = [r for r in rows if include_failed or not r.get("failed", False)]
    chosen = [
        r
        for r in usable
        if (not areas or r["targeted_structure"] in areas)
        and (not depths or int(r["imaging_depth"]) in {int(d) for d in depths})
        and (not cre_lines or r["cre_line"] in cre_lines)
    ]
    if not chosen:
        combos = sorted(
            {(r["targeted_structure"], int(r["imaging_depth"]), str(r["cre_line"])) for r in usable}
        )
        listing = "; ".join(f"{a} {d} um {c}" for a, d, c in combos[:60])
        more = f" (and {len(combos) - 60} more)" if len(combos) > 60 else ""
        raise ValueError(
            f"no experiment container matches targeted_structures={list(areas or [])}, "
            f"imaging_depths={list(depths or [])}, cre_lines={list(cre_lines or [])}"
            f"{'' if include_failed else ' (failed containers excluded)'}. "
            f"{len(usable)} containers are available: areas {sorted({r['targeted_structure'] for r in usable})}, "
            f"depths {sorted({int(r['imaging_depth']) for r in usable})}, "
            f"cre lines {sorted({str(r['cre_line']) for r in usable})}; "
            f"combinations (area depth cre line): {listing}{more}"
        )
    chosen.sort(key=lambda r: int(r["id"]))
    return chosen[:max_containers] if max_containers else chosen


def check_session(
    dff: np.ndarray,
    timestamps: np.ndarray,
    cell_specimen_ids: np.ndarray,
    trial_frame: np.ndarray,
    trial_start_frame: np.ndarray,
    trial_end_frame: np.ndarray,
    n_templates: int | None,
    source: str,
) -> None:
    """Raise ValueError naming `source` when a session's traces or stimulus table are unusable."""
    if dff.ndim != 2 or dff.shape[1] != timestamps.shape[0]:
        raise ValueError(
            f"{source}: dF/F traces have shape {dff.shape} but there are "
            f"{timestamps.shape[0]} timestamps; expected (cell, {timestamps.shape[0]})"
        )
    if cell_specimen_ids.shape[0] != dff.shape[0]:
        raise ValueError(
            f"{source}: {cell_specimen_ids.shape[0]} cell specimen ids for {dff.shape[0]} traces"
        )
    if dff.shape[0] == 0 or dff.shape[1] == 0:
        raise ValueError(f"{source}: no dF/F traces (shape {dff.shape})")
    if len(set(cell_specimen_ids.tolist())) != cell_specimen_ids.shape[0]:
        raise ValueError(f"{source}: cell specimen ids are not unique")
    finite = np.isfinite(dff)
    if not finite.any():
        raise ValueError(f"{source}: every dF/F trace is NaN ({dff.shape[0]} cells)")
    empty = np.flatnonzero(~finite.any(axis=1))
    if empty.size:
        raise ValueError(
            f"{source}: {empty.size} of {dff.shape[0]} dF/F traces are NaN-only "
            f"(cell specimen ids {cell_specimen_ids[empty[:10]].tolist()})"
        )
    if not np.all(np.isfinite(timestamps)) or np.any(np.diff(timestamps) <= 0):
        raise ValueError(f"{source}: the dF/F timestamps are not finite and increasing")
    n_time = timestamps.shape[0]
    if trial_frame.shape[0] == 0:
        raise ValueError(f"{source}: the natural_scenes stimulus table is empty")
    bad = np.flatnonzero(
        (trial_start_frame < 0)
        | (trial_end_frame >= n_time)
        | (trial_end_frame < trial_start_frame)
    )
    if bad.size:
        i = int(bad[0])
        raise ValueError(
            f"{source}: the natural_scenes stimulus table points past the end of the traces: "
            f"{bad.size} presentation(s) outside frames 0..{n_time - 1}, first: presentation {i} "
            f"frames {int(trial_start_frame[i])}..{int(trial_end_frame[i])}"
        )
    if n_templates is not None:
        wrong = np.flatnonzero((trial_frame < -1) | (trial_frame >= n_templates))
        if wrong.size:
            raise ValueError(
                f"{source}: natural_scenes presentation {int(wrong[0])} shows image "
                f"{int(trial_frame[wrong[0]])}, but the template stack has {n_templates} images"
            )


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return "" if value is None else str(value)


def read_nwb_session(nwb_file: str | os.PathLike, container_row: Mapping | None = None) -> dict:
    """Read one natural-scenes session through allensdk's BrainObservatoryNwbDataSet."""
    from allensdk.core.brain_observatory_nwb_data_set import BrainObservatoryNwbDataSet

    source = str(nwb_file)
    if not Path(source).is_file():
        raise ValueError(f"{source}: NWB file does not exist")
    data = BrainObservatoryNwbDataSet(source)
    try:
        stimuli = data.list_stimuli()
    except KeyError as exc:
        raise ValueError(f"{source}: no stimulus presentations in this NWB file ({exc})") from None
    if NATURAL_SCENES not in stimuli:
        raise ValueError(
            f"{source}: no natural_scenes stimulus in this NWB file (it has {sorted(stimuli)}); "
            f"natural scenes are shown in {', '.join(NATURAL_SCENES_SESSION_TYPES)} sessions"
        )
    timestamps, dff = data.get_dff_traces()
    ids = np.asarray(data.get_cell_specimen_ids())
    if ids.dtype == object:
        if any(i is None for i in ids):
            raise ValueError(f"{source}: some ROIs have no cell specimen id")
        ids = ids.astype(np.int64)
    table = data.get_stimulus_table(NATURAL_SCENES)
    templates = np.asarray(data.get_stimulus_template(NATURAL_SCENES))
    meta = data.get_metadata()
    trial_frame = np.asarray(table["frame"].values).astype(np.int64)
    start = np.asarray(table["start"].values).astype(np.int64)
    end = np.asarray(table["end"].values).astype(np.int64)
    dff = np.asarray(dff)
    timestamps = np.asarray(timestamps, dtype=np.float64)
    check_session(dff, timestamps, ids, trial_frame, start, end, templates.shape[0], source)
    row = dict(container_row or {})
    try:
        session_type = data.get_session_type()
    except KeyError:
        session_type = ""
    return {
        "dff": dff,
        "timestamps": timestamps,
        "cell_specimen_ids": ids.astype(np.int64),
        "trial_frame": trial_frame,
        "trial_start_frame": start,
        "trial_end_frame": end,
        "templates": templates,
        "attrs": {
            "nwb_file": source,
            "ophys_experiment_id": int(meta.get("ophys_experiment_id") or -1),
            "container": int(row.get("id") or meta.get("experiment_container_id") or -1),
            "area": _text(row.get("targeted_structure") or meta.get("targeted_structure")),
            "depth": int(row.get("imaging_depth") or meta.get("imaging_depth_um") or -1),
            # allensdk's NWB cre_line is the genotype's first allele ("Cux2-CreERT2/wt")
            "cre_line": _text(row.get("cre_line") or meta.get("cre_line")).split("/")[0],
            "session_type": _text(session_type),
        },
    }


def sessions_from_cache(selection: Mapping) -> list[dict]:
    """Select containers with BrainObservatoryCache and read each one's natural-scenes session."""
    from allensdk.core.brain_observatory_cache import BrainObservatoryCache

    cache_dir = Path(os.path.expanduser(selection.get("cache_dir", "allen_cache")))
    cache_dir.mkdir(parents=True, exist_ok=True)
    boc = BrainObservatoryCache(manifest_file=str(cache_dir / "manifest.json"))
    table = boc.get_experiment_containers(include_failed=True)
    rows = select_containers(
        table,
        selection.get("targeted_structures"),
        selection.get("imaging_depths"),
        selection.get("cre_lines"),
        include_failed=bool(selection.get("include_failed", False)),
        max_containers=selection.get("max_containers"),
    )
    session_type = selection.get("session_type", NATURAL_SCENES_SESSION_TYPES[0])
    sessions = []
    for row in rows:
        exps = boc.get_ophys_experiments(
            experiment_container_ids=[row["id"]],
            stimuli=[NATURAL_SCENES],
            include_failed=bool(selection.get("include_failed", False)),
        )
        exps = [e for e in exps if e.get("session_type") == session_type]
        if not exps:
            raise ValueError(
                f"experiment container {row['id']} ({row['targeted_structure']}, "
                f"{row['imaging_depth']} um, {row['cre_line']}) has no {session_type} session "
                f"with {NATURAL_SCENES}"
            )
        exp = sorted(exps, key=lambda e: int(e["id"]))[0]
        logger.info("container %s: downloading/reading experiment %s", row["id"], exp["id"])
        data = boc.get_ophys_experiment_data(exp["id"])
        session = read_nwb_session(data.nwb_file, row)
        session["attrs"]["ophys_experiment_id"] = int(exp["id"])
        sessions.append(session)
    return sessions


def write_extract(sessions: Sequence[dict], out: str | os.PathLike, selection: Mapping) -> Path:
    """Write sessions and the template stack to `out` (HDF5), atomically."""
    out = Path(out)
    if not sessions:
        raise ValueError(f"{out}: no sessions to write")
    templates = sessions[0]["templates"]
    for s in sessions[1:]:
        if s["templates"].shape != templates.shape:
            raise ValueError(
                f"{s['attrs']['nwb_file']}: natural_scenes templates have shape "
                f"{s['templates'].shape}, but {sessions[0]['attrs']['nwb_file']} has {templates.shape}"
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["selection"] = json.dumps(dict(selection), sort_keys=True, default=str)
            f.create_dataset("templates", data=np.asarray(templates, dtype=np.uint8))
            group = f.create_group("sessions")
            for i, s in enumerate(sessions):
                g = group.create_group(f"{i:03d}")
                for key in (
                    "dff",
                    "timestamps",
                    "cell_specimen_ids",
                    "trial_frame",
                    "trial_start_frame",
                    "trial_end_frame",
                ):
                    g.create_dataset(key, data=s[key])
                for key, value in s["attrs"].items():
                    g.attrs[key] = value
        os.replace(tmp, out)
    except BaseException:
        if tmp.exists():
            tmp.unlink()
        raise
    return out


def extract(selection: Mapping, out: str | os.PathLike) -> Path:
    """Read the sessions a dataset's config names (local NWB files or the cache) into `out`."""
    nwb_files = list(selection.get("nwb_files") or [])
    if nwb_files:
        sessions = [read_nwb_session(path) for path in nwb_files]
    else:
        sessions = sessions_from_cache(selection)
    for s in sessions:
        a = s["attrs"]
        logger.info(
            "%s: %d cells, %d frames, %d natural_scenes presentations (%s %s um %s, container %s)",
            a["nwb_file"],
            s["dff"].shape[0],
            s["dff"].shape[1],
            s["trial_frame"].shape[0],
            a["area"],
            a["depth"],
            a["cre_line"],
            a["container"],
        )
    return write_extract(sessions, out, selection)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the extract of local NWB files or of a cache selection."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="output HDF5 file")
    parser.add_argument("--nwb", nargs="+", help="local NWB files (instead of the cache)")
    parser.add_argument("--selection", default="{}", help="dataset config as JSON")
    parser.add_argument("--log", help="append log messages to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=args.log,
    )
    selection = json.loads(args.selection)
    if args.nwb:
        selection["nwb_files"] = args.nwb
    try:
        extract(selection, args.out)
    except ValueError as exc:
        logger.error("%s", exc)
        print(f"allen_extract: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
