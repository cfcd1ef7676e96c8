"""Logging for rules and CLI commands: one log file per job, progress bars included."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
logger = logging.getLogger("brainreps")


@contextlib.contextmanager
def log_to(path: str | os.PathLike | None) -> Iterator[logging.Logger]:
    """Send logging, warnings, stderr and progress bars to `path` (or stderr when None)."""
    if path is None:
        _configure(sys.stderr)
        yield logger
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", buffering=1) as fh, contextlib.redirect_stderr(fh):
        _configure(fh)
        try:
            yield logger
        except BaseException:
            logger.exception("failed")
            raise


def _configure(stream) -> None:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """A progress bar on stderr (the job's log file inside a rule), updated at most every 2 s."""
    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, mininterval=2.0, ascii=True)
