"""Spike-inference commands: `brainreps spikes infer | score | train` on Spikefinder-format CSVs.

Spikefinder format: one column per neuron (header = neuron id), one row per frame, NaN padding
(empty fields) at the end of shorter recordings; plain or gzipped (.gz) CSV. A CSV carries
no time column, so a wrong --fs cannot be detected from the file: give the rate it was
recorded at (100 Hz for every Spikefinder dataset).
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

import numpy as np
import pandas as pd
import yaml

from brainreps.cli import CLIError
from brainreps.data.spikefinder import SPIKEFINDER_RATE, read_csv_columns, write_csv_columns
from brainreps.io import atomic_path
from brainreps.spikes import METHODS, SUPERVISED, get_method, metrics


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `spikes` command group."""
    p = sub.add_parser("spikes", help="spike inference from calcium traces (Spikefinder CSVs)")
    group = p.add_subparsers(dest="spikes_command", required=True)

    q = group.add_parser("infer", help="infer spike rates from a calcium CSV")
    q.add_argument("--method", required=True, choices=sorted(METHODS))
    q.add_argument("--calcium", required=True, help="Spikefinder calcium CSV (.csv or .csv.gz)")
    q.add_argument("--fs", type=float, default=SPIKEFINDER_RATE, help="frame rate, Hz")
    q.add_argument(
        "--model",
        help="trained model file (supervised methods), or a bank directory written by "
        "`spikes train --method bank` (its members are chosen per trace)",
    )
    q.add_argument(
        "--indicator",
        help="calcium indicator of the recording (bank: prefer members trained for it)",
    )
    q.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the method's infer(), e.g. p=2 (repeatable)",
    )
    q.add_argument("--out", required=True, help="output CSV (same columns, NaN padding kept)")
    q.set_defaults(func=_infer)

    s = group.add_parser("score", help="per-cell scores of a prediction CSV against the truth")
    s.add_argument("--truth", required=True, help="Spikefinder spikes CSV")
    s.add_argument("--pred", required=True, help="prediction CSV, same columns")
    s.add_argument("--fs", type=float, default=SPIKEFINDER_RATE, help="frame rate, Hz")
    s.add_argument("--measures", default="corr,rank", help="comma-separated: corr,rank,info")
    s.add_argument("--out", help="also write the per-cell table to this CSV")
    s.set_defaults(func=_score)

    t = group.add_parser("train", help="train a supervised method on calcium + spike CSVs")
    t.add_argument("--method", required=True, choices=sorted(SUPERVISED))
    t.add_argument("--calcium", required=True, nargs="+", help="calcium CSV(s)")
    t.add_argument("--spikes", required=True, nargs="+", help="spike CSV(s), same order")
    t.add_argument(
        "--fs",
        type=float,
        nargs="+",
        default=[SPIKEFINDER_RATE],
        help="frame rate(s), Hz: one for all files or one per file",
    )
    t.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the method's train() (repeatable)",
    )
    t.add_argument(
        "--indicator",
        help="bank: tag its members with this indicator (default: the schema's, any)",
    )
    t.add_argument(
        "--indicators",
        nargs="+",
        help="bank: the indicator of each file (same order as --calcium); a trace of an "
        "indicator none of them is falls back to OASIS at inference",
    )
    t.add_argument(
        "--out", required=True, help="model file to write (bank: the directory to write)"
    )
    t.set_defaults(func=_train)


def parse_params(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE strings to a dict, values parsed as YAML scalars (2 -> int, 0.5 -> float)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise CLIError(f"--param {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _check_fs(fs: float) -> float:
    if not np.isfinite(fs) or fs <= 0:
        raise CLIError(f"--fs must be a positive frame rate in Hz, got {fs}")
    return fs


def infer_frame(frame: pd.DataFrame, method: str, fs: float, **kwargs) -> pd.DataFrame:
    """Infer every column of a Spikefinder-format DataFrame; NaN samples stay NaN.

    A method whose infer() takes `name` (the bank) gets the column's name for its messages.
    """
    module = get_method(method)
    named = "name" in inspect.signature(module.infer).parameters
    out = {
        col: module.infer(
            frame[col].to_numpy(), fs, **kwargs, **({"name": f"column {col}"} if named else {})
        )
        for col in frame.columns
    }
    return pd.DataFrame(out, columns=frame.columns, index=frame.index)


def _load_model(method: str, path: str) -> tuple[str, Any]:
    """(method, model) for --model: a bank directory serves `cnn` and `bank` alike."""
    from pathlib import Path

    if Path(path).is_dir():
        if method not in ("cnn", "bank"):
            raise CLIError(f"--model {path} is a directory (a bank): use --method bank")
        method = "bank"
    elif method == "bank":
        raise CLIError(f"--model {path}: a bank is a directory written by `spikes train`")
    try:
        return method, get_method(method).load(path)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from exc


def _infer(args: argparse.Namespace) -> int:
    fs = _check_fs(args.fs)
    kwargs = parse_params(args.param)
    method = args.method
    if method in SUPERVISED:
        if not args.model:
            raise CLIError(f"method {method!r} is supervised: give --model (see `spikes train`)")
        method, kwargs["model"] = _load_model(method, args.model)
    elif args.model:
        raise CLIError(f"method {method!r} takes no --model")
    if args.indicator is not None:
        if method != "bank":
            raise CLIError("--indicator chooses members of a bank: give --model DIR")
        kwargs["indicator"] = args.indicator
    frame = read_csv_columns(args.calcium)
    rates = infer_frame(frame, method, fs, **kwargs)
    with atomic_path(args.out) as tmp:
        write_csv_columns(rates, tmp, gzip=str(args.out).endswith(".gz"))
    print(f"{args.out}: {rates.shape[1]} neurons x {rates.shape[0]} frames ({args.method})")
    return 0


def score_frames(
    truth: pd.DataFrame, pred: pd.DataFrame, fs: float, measures: tuple[str, ...]
) -> pd.DataFrame:
    """Per-cell scores of `pred` against `truth` (same columns, same number of rows)."""
    if list(truth.columns) != list(pred.columns):
        raise ValueError(
            f"truth columns {list(truth.columns)} differ from prediction columns "
            f"{list(pred.columns)}"
        )
    if truth.shape[0] != pred.shape[0]:
        raise ValueError(f"truth has {truth.shape[0]} rows but the prediction has {pred.shape[0]}")
    rows = []
    for col in truth.columns:
        scores = metrics.score_all(truth[col].to_numpy(), pred[col].to_numpy(), fs, measures)
        rows.append({"cell": col, **scores})
    return pd.DataFrame(rows)


def _score(args: argparse.Namespace) -> int:
    fs = _check_fs(args.fs)
    measures = tuple(m.strip() for m in args.measures.split(",") if m.strip())
    unknown = [m for m in measures if m not in metrics.SCORES]
    if unknown:
        raise CLIError(f"--measures: unknown {unknown}; known: {sorted(metrics.SCORES)}")
    truth, pred = read_csv_columns(args.truth), read_csv_columns(args.pred)
    try:
        table = score_frames(truth, pred, fs, measures)
    except ValueError as exc:
        raise CLIError(f"{args.pred} vs {args.truth}: {exc}") from exc
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    means = "  ".join(f"{m}={table[m].mean():.4f}" for m in measures)
    print(f"mean over {len(table)} cells: {means}")
    if args.out:
        with atomic_path(args.out) as tmp:
            table.to_csv(tmp, index=False)
    return 0


def _train(args: argparse.Namespace) -> int:
    if len(args.calcium) != len(args.spikes):
        raise CLIError(f"{len(args.calcium)} --calcium files but {len(args.spikes)} --spikes files")
    if len(args.fs) not in (1, len(args.calcium)):
        raise CLIError(f"give one --fs or one per file ({len(args.calcium)}), got {len(args.fs)}")
    rates = [_check_fs(f) for f in args.fs] * (len(args.calcium) if len(args.fs) == 1 else 1)
    from brainreps.data.spikefinder import load_spikefinder
    from brainreps.spikes.benchmark import trim_nan_tail

    calcium, spikes, fs, groups = [], [], [], []
    for k, (ca_path, sp_path, rate) in enumerate(
        zip(args.calcium, args.spikes, rates, strict=True)
    ):
        rec = load_spikefinder(ca_path, sp_path, frame_rate=rate)
        for i in range(rec.sizes["unit"]):
            trace = trim_nan_tail(rec["dff"].values[i].astype(np.float64))
            calcium.append(trace)
            spikes.append(rec["spikes"].values[i, : trace.size].astype(np.float64))
            fs.append(rate)
            groups.append(f"file{k}")
    module = get_method(args.method)
    params = parse_params(args.param)
    if args.indicator is not None or args.indicators is not None:
        if args.method != "bank":
            raise CLIError("--indicator(s) describe the members of a bank: use --method bank")
    if args.indicator is not None:
        params["indicator"] = args.indicator
    if args.indicators is not None:
        if len(args.indicators) != len(args.calcium):
            raise CLIError(
                f"{len(args.indicators)} --indicators for {len(args.calcium)} --calcium files"
            )
        params["indicators"] = [args.indicators[int(g[4:])] for g in groups]
    if "groups" in inspect.signature(module.train).parameters:
        params["groups"] = groups  # every file (dataset) weighs the same in an epoch
    try:
        model = module.train(calcium, spikes, fs, **params)
    except ValueError as exc:
        raise CLIError(f"spikes train --method {args.method}: {exc}") from exc
    module.save(model, args.out)
    print(f"{args.out}: {args.method} model trained on {len(calcium)} neurons")
    return 0
