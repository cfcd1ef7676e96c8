"""The floor any method must clear: the rectified first difference of the trace."""

from __future__ import annotations

import numpy as np

from brainreps.spikes import apply_on_segments, check_trace


def rectified_difference(y: np.ndarray) -> np.ndarray:
    """max(y[t] - y[t-1], 0), with 0 at the first sample."""
    return np.maximum(np.diff(y, prepend=y[:1]), 0.0)


def infer(trace: np.ndarray, fs: float) -> np.ndarray:
    """Rectified first difference of `trace`; NaN gaps are skipped and stay NaN."""
    y = check_trace(trace, fs)
    return apply_on_segments(y, rectified_difference)
