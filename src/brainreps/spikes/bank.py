"""Noise-matched model banks, chosen per trace (as CASCADE does: Rupprecht et al. 2021).

A bank is a set of `cnn` members over a grid of frame rates and noise levels. Member (f, nu)
runs at the model rate f: its ground truth is resampled to f and, in every epoch, made noisier
to a CASCADE noise level drawn from the member's band around nu (the geometric midpoints to the
neighbouring levels of the grid); recordings already noisier than the band are left out, as
CASCADE leaves them out. At inference each trace's own noise level (CASCADE's definition,
`preprocess.noise_level`: 100 median |frame-to-frame dF/F difference| / sqrt(frame rate), in
% s^-1/2) and frame rate pick the member:

- the frame rate: a member of the same rate (within 5%); else the nearest rate in log within a
  factor `max_rate_ratio`, to which the trace is resampled (a warning says so); else refused
  (ValueError naming the rates the bank serves);
- the noise level: the member whose band holds it; outside every band, the nearest member and a
  warning naming the trace and that member (never a silent extrapolation);
- the indicator, when the caller names one: the members trained for it, else (warning) the
  members trained on every indicator ("any");
- the kinetics the members learnt: a trace imaged more than `max_rate_ratio` times faster than
  any training recording of its indicator (of any indicator, when none is named) holds
  transients finer than the members ever saw (a 100 Hz member trained only on 7.8 Hz
  recordings upsampled); like an indicator no member saw, it falls back to OASIS (setting
  `fallback`), with a warning naming the trace and the rates.

On disk a bank is a directory: `bank.json` (format, version, settings, members) and one cnn
model file per member under `members/`, so `brainreps spikes infer --model DIR` needs nothing
else. Directories of several banks (one per indicator family, one for all) merge into one.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainreps.config import definition_defaults, fill_defaults
from brainreps.io import atomic_path
from brainreps.spikes import check_trace, cnn, finite_segments
from brainreps.spikes import preprocess as pp

logger = logging.getLogger(__name__)

FORMAT = "brainreps-spikes-bank"
FORMAT_VERSION = 1
MANIFEST = "bank.json"
ANY = "any"  # indicator tag of members trained on every indicator
SAME_RATE = 0.05  # a trace within 5% of a member's rate is served at that rate as it is

# every bank setting and its default: spikes.schema.yaml#/$defs/bank
DEFAULTS: dict[str, Any] = definition_defaults("spikes#bank")


@dataclass
class Member:
    """One model of the bank: its frame rate (Hz), noise level and band, indicator, file."""

    rate: float
    level: float
    band: tuple[float, float]
    indicator: str
    file: str
    info: dict[str, Any] = field(default_factory=dict)
    model: cnn.CNNModel | None = field(default=None, repr=False, compare=False)

    def name(self) -> str:
        return f"{self.indicator} {self.rate:g} Hz, noise level {self.level:g}"

    def record(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "level": self.level,
            "band": list(self.band),
            "indicator": self.indicator,
            "file": self.file,
            "info": self.info,
        }


@dataclass
class Bank:
    """The members, the settings they were trained with, and where the bank was read from."""

    members: list[Member]
    settings: dict[str, Any]
    root: Path | None = None

    def rates(self) -> list[float]:
        return sorted({m.rate for m in self.members})

    def indicators(self) -> list[str]:
        """The members' tags."""
        return sorted({m.indicator for m in self.members})

    def trained_indicators(self) -> list[str] | None:
        """Every indicator some member saw in training (None: not recorded)."""
        seen = [m.info.get("indicators") for m in self.members]
        if any(s is None for s in seen):
            return None
        return sorted({i for s in seen for i in s})

    def model(self, member: Member) -> cnn.CNNModel:
        """The member's trained cnn (read from the bank directory on first use)."""
        if member.model is None:
            if self.root is None:
                raise ValueError(f"bank member {member.name()} has no model and no directory")
            member.model = cnn.load(self.root / member.file)
        return member.model


def resolve_settings(settings: dict[str, Any] | None = None) -> dict[str, Any]:
    """The bank settings with the schema's defaults filled in (unknown keys name themselves)."""
    return fill_defaults("spikes#bank", settings or {}, "spikes bank settings")


def bands(levels: Sequence[float]) -> list[tuple[float, float]]:
    """Each grid level's band: from the geometric midpoint to its lower neighbour to that to its
    upper one; the ends extend as far as the neighbouring step (a factor 2 for a lone level)."""
    lv = sorted(float(v) for v in levels)
    if len(lv) != len(set(lv)) or lv[0] <= 0:
        raise ValueError(f"bank noise_levels must be distinct and positive, got {list(levels)}")
    mids = [float(np.sqrt(a * b)) for a, b in zip(lv[:-1], lv[1:], strict=True)]
    first = lv[0] / (mids[0] / lv[0]) if mids else lv[0] / np.sqrt(2.0)
    last = lv[-1] * (lv[-1] / mids[-1]) if mids else lv[-1] * np.sqrt(2.0)
    edges = [float(first), *mids, float(last)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def _member_file(indicator: str, rate: float, level: float) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in indicator)
    return f"members/{safe}_{rate:g}Hz_noise{level:g}.pt"


def grid(settings: dict[str, Any]) -> list[Member]:
    """The untrained members the (resolved) settings name, by rate, then noise level."""
    levels = sorted(float(v) for v in settings["noise_levels"])
    return [
        Member(
            rate,
            level,
            band,
            settings["indicator"],
            _member_file(settings["indicator"], rate, level),
        )
        for rate in sorted(float(r) for r in settings["frame_rates"])
        for level, band in zip(levels, bands(levels), strict=True)
    ]


def imaged_rates(
    fs: float | Sequence[float], n: int, indicators: Sequence[str] | None = None
) -> dict[str, float]:
    """The highest frame rate the training recordings of each indicator were imaged at, and
    of all of them under `*` (`indicators`: one per recording, or one for all)."""
    rates = [float(fs)] * n if np.isscalar(fs) else [float(r) for r in fs]  # type: ignore[arg-type]
    if len(rates) != n:
        raise ValueError(f"bank: {len(rates)} frame rates for {n} recordings")
    tags = list(indicators or [""])  # "": no indicator
    if len(tags) == 1:
        tags = tags * n
    if len(tags) != n:
        raise ValueError(
            f"bank: {len(tags)} indicators for {n} recordings (give one per recording)"
        )
    out = {"*": max(rates)}
    for tag, rate in zip(tags, rates, strict=True):
        if tag:
            out[str(tag)] = max(out.get(str(tag), 0.0), rate)
    return out


def imaged_ceiling(members: Sequence[Member], indicator: str | None) -> float | None:
    """The highest rate the members' training recordings of `indicator` (any, if None) were
    imaged at; None when a member does not record it (older banks, untrained plans)."""
    records = [m.info.get("imaged_rates") for m in members]
    if not records or any(not r for r in records):
        return None
    found = [
        rate
        for r in records
        for tag, rate in r.items()
        if indicator is not None and tag.lower() == indicator.lower()
    ]
    return float(max(found)) if found else float(max(r["*"] for r in records))


def plan(settings: dict[str, Any], serve: Sequence[tuple[float, float]]) -> list[Member]:
    """The members of the grid that would serve traces of these (frame rate, noise level)s."""
    full = Bank(grid(settings), settings)
    chosen = {id(choose(full, level, fs, name="planned trace").member) for fs, level in serve}
    return [m for m in full.members if id(m) in chosen]


def train(
    calcium: list[np.ndarray],
    spikes: list[np.ndarray],
    fs: float | list[float],
    groups: list[str] | None = None,
    serve: Sequence[tuple[float, float]] | None = None,
    indicators: Sequence[str] | None = None,
    **settings: Any,
) -> Bank:
    """Train the members of the grid the settings name on ground truth at rate(s) `fs`.

    `groups` (each recording's dataset) balances the epochs of every member (cnn.train).
    `serve`, (frame rate, noise level) of the traces the bank is for (a benchmark fold's test
    traces: no labels), trains only the members that will serve them when the setting
    `members` is `served`; otherwise every member of the grid is trained. `indicators` (each
    recording's indicator) are recorded, so that a trace of an indicator no member saw falls
    back to OASIS (setting `fallback`); without them the tag stands for what was seen.
    """
    s = resolve_settings(settings)
    todo = grid(s) if serve is None or s["members"] == "all" else plan(s, serve)
    if indicators is not None:
        seen = sorted({str(i) for i in indicators if i})
    else:
        seen = None if s["indicator"] == ANY else [s["indicator"]]
    imaged = imaged_rates(fs, len(calcium), indicators if indicators is not None else seen)
    members = []
    t0 = time.perf_counter()
    for planned in todo:
        rate, level, band = planned.rate, planned.level, planned.band
        params = {**s["cnn"], "rate": rate, "noise_level": list(band), "drop_noisier": True}
        start = time.perf_counter()
        try:
            model = cnn.train(calcium, spikes, fs, groups=groups, **params)
        except ValueError as exc:
            if "noisier than noise_level" not in str(exc):
                raise
            logger.warning("bank member %g Hz / %g: %s; keeping them", rate, level, exc)
            params["drop_noisier"] = False
            model = cnn.train(calcium, spikes, fs, groups=groups, **params)
        seconds = time.perf_counter() - start
        logger.info(
            "bank member %s %g Hz, noise level %g (band %.3g-%.3g): %d recordings, %.0f s",
            s["indicator"],
            rate,
            level,
            *band,
            model.info["n_recordings"],
            seconds,
        )
        info = {
            "train_seconds": seconds,
            "n_recordings": model.info["n_recordings"],
            "n_dropped_noisier": model.info["n_dropped_noisier"],
            "groups": model.info["groups"],
            "indicators": seen,
            "imaged_rates": imaged,
        }
        planned.info, planned.model = info, model
        members.append(planned)
    logger.info("bank of %d members trained in %.0f s", len(members), time.perf_counter() - t0)
    return Bank(members, s)


def save(bank: Bank, path: str | Path) -> Path:
    """Write the bank as a directory (bank.json + members/), atomically."""
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "members").mkdir()
        for m in bank.members:
            cnn.save(bank.model(m), tmp / m.file)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "settings": bank.settings,
            "members": [m.record() for m in bank.members],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return Path(path)


def is_bank(path: str | Path) -> bool:
    """Whether `path` is a directory (a bank, or meant to be one) rather than a model file."""
    return Path(path).is_dir()


def load(path: str | Path) -> Bank:
    """Read a bank directory; errors name the directory and what is wrong with it."""
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"model bank directory {root} does not exist")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        found = sorted(p.name for p in root.iterdir())[:10]
        raise ValueError(
            f"{root} holds no model bank: {MANIFEST} is missing (found {found}); write one with "
            "`brainreps spikes train --method bank --out DIR`"
        )
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{manifest_path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"{manifest_path} is not a brainreps model bank (format {FORMAT!r})")
    version = manifest.get("version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{root} is a model bank of format version {version!r}; this brainreps reads "
            f"version {FORMAT_VERSION}: retrain it with `brainreps spikes train --method bank`"
        )
    members = []
    for record in manifest.get("members") or []:
        member = Member(
            float(record["rate"]),
            float(record["level"]),
            (float(record["band"][0]), float(record["band"][1])),
            str(record["indicator"]),
            str(record["file"]),
            dict(record.get("info") or {}),
        )
        if not (root / member.file).is_file():
            raise ValueError(f"{root}: the file of bank member {member.name()} is missing")
        members.append(member)
    if not members:
        raise ValueError(f"{manifest_path} lists no members: the bank is empty")
    return Bank(members, dict(manifest.get("settings") or {}), root)


def merge(banks: Sequence[Bank], path: str | Path) -> Path:
    """Write one bank directory holding the members of several (e.g. one per indicator)."""
    seen: dict[tuple[str, float, float], str] = {}
    for bank in banks:
        for m in bank.members:
            key = (m.indicator, m.rate, m.level)
            if key in seen:
                raise ValueError(f"two banks both hold a member {m.name()}; tag them apart")
            seen[key] = m.file
    with atomic_path(path) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "members").mkdir()
        records = []
        for bank in banks:
            for m in bank.members:
                if bank.root is not None:
                    shutil.copyfile(bank.root / m.file, tmp / m.file)
                else:
                    cnn.save(bank.model(m), tmp / m.file)
                records.append(m.record())
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "settings": {"merged": [b.settings for b in banks]},
            "members": records,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return Path(path)


@dataclass
class Choice:
    """The member serving one trace (None: OASIS serves it) and why: its level, whether it is
    resampled, and any warning given."""

    member: Member | None
    level: float
    resampled: bool
    warnings: list[str]


def trace_level(trace: np.ndarray, fs: float) -> float:
    """CASCADE noise level of a trace's finite runs at its own rate (NaN if it has none)."""
    x = np.asarray(trace, dtype=np.float64)
    runs = [x[a:b] for a, b in finite_segments(np.isfinite(x)) if b - a >= 2]
    return pp.noise_level(runs, fs) if runs else float("nan")


def choose(
    bank: Bank,
    level: float,
    fs: float,
    indicator: str | None = None,
    name: str = "trace",
    max_rate_ratio: float | None = None,
) -> Choice:
    """The member for a trace of noise level `level` at `fs` Hz (see the module docstring)."""
    warnings: list[str] = []
    pool = bank.members
    if indicator is not None:
        wanted = [m for m in pool if m.indicator.lower() == indicator.lower()]
        if wanted:
            pool = wanted
        else:
            general = [m for m in pool if m.indicator == ANY] or pool
            seen = bank.trained_indicators()
            if seen is not None and indicator.lower() not in {i.lower() for i in seen}:
                if bank.settings.get("fallback", "oasis") == "oasis":
                    return Choice(
                        None,
                        level,
                        False,
                        [
                            f"{name}: no member of the bank was trained on indicator "
                            f"{indicator!r} (it saw {seen}); falling back to OASIS "
                            "deconvolution"
                        ],
                    )
                warnings.append(
                    f"{name}: no member of the bank was trained on indicator {indicator!r} "
                    f"(it saw {seen}); using the members of {general[0].indicator!r}"
                )
            elif seen is None:
                warnings.append(
                    f"{name}: the bank has no member tagged {indicator!r} (it has "
                    f"{bank.indicators()}); using the members of {general[0].indicator!r}"
                )
            pool = general  # (members that saw the indicator among others: no warning)
    else:
        pool = [m for m in pool if m.indicator == ANY] or pool
    ratio_limit = float(
        max_rate_ratio if max_rate_ratio is not None else bank.settings.get("max_rate_ratio", 2.0)
    )
    ceiling = imaged_ceiling(pool, indicator)
    if ceiling is not None and fs > ceiling * ratio_limit:
        what = f"{indicator} recordings" if indicator is not None else "recordings"
        message = (
            f"{name}: the bank's members learnt from {what} imaged at up to {ceiling:g} Hz; a "
            f"{fs:g} Hz trace holds faster transients than they saw (more than a factor "
            f"{ratio_limit:g})"
        )
        if bank.settings.get("fallback", "oasis") == "oasis":
            return Choice(None, level, False, [f"{message}; falling back to OASIS deconvolution"])
        warnings.append(f"{message}; serving it anyway (fallback: none)")
    rates = sorted({m.rate for m in pool})
    nearest = min(rates, key=lambda r: abs(np.log(fs / r)))
    resampled = abs(fs - nearest) / nearest > SAME_RATE
    if resampled:
        if max(fs / nearest, nearest / fs) > ratio_limit:
            raise ValueError(
                f"{name}: frame rate {fs:g} Hz is not served by this bank (its members run at "
                f"{', '.join(f'{r:g}' for r in rates)} Hz, and a trace is resampled by at most a "
                f"factor {ratio_limit:g}); refusing it: resample the trace or train a bank with "
                "frame_rates including it"
            )
        warnings.append(
            f"{name}: the bank has no {fs:g} Hz member; resampling the trace to its nearest, "
            f"{nearest:g} Hz"
        )
    pool = [m for m in pool if m.rate == nearest]
    if not np.isfinite(level):
        member = min(pool, key=lambda m: m.level)
        return Choice(member, level, resampled, warnings)
    inside = [m for m in pool if m.band[0] <= level < m.band[1]]
    if inside:
        member = inside[0]
    else:
        member = min(pool, key=lambda m: abs(np.log(level / m.level)))
        lo, hi = min(m.band[0] for m in pool), max(m.band[1] for m in pool)
        where = (
            f"is outside the bank's range {lo:.3g}-{hi:.3g}"
            if not lo <= level < hi
            else "falls between the bands of the bank's members "
            f"({', '.join(f'{m.level:g}' for m in sorted(pool, key=lambda m: m.level))})"
        )
        warnings.append(
            f"{name}: noise level {level:.3g} %·s^-1/2 {where} at {nearest:g} Hz; using the "
            f"nearest model ({member.name()})"
        )
    return Choice(member, level, resampled, warnings)


def infer(
    trace: np.ndarray,
    fs: float,
    model: Bank | str | Path | None = None,
    indicator: str | None = None,
    name: str = "trace",
    device: str = "auto",
) -> np.ndarray:
    """Expected spikes per sample of `trace` at `fs` Hz from the bank member matched to it."""
    if model is None:
        raise ValueError("bank is supervised: pass model= (a Bank or a bank directory)")
    bank = load(model) if isinstance(model, (str, Path)) else model
    x = check_trace(trace, fs)
    choice = choose(bank, trace_level(x, fs), fs, indicator=indicator, name=name)
    for message in choice.warnings:
        logger.warning(message)
    if choice.member is None:
        from brainreps.spikes import oasis

        return oasis.infer(x, fs)
    return cnn.infer(x, fs, model=bank.model(choice.member), device=device)
