"""A simulated two-photon recording of a model V1 population, with ground-truth spikes.

Units have Gabor receptive fields (simple cells: rectified linear; complex cells: energy
model) of varied position, orientation, wavelength and phase. Each image is shown for
`stimulus_duration` seconds followed by a grey gap, every image once per repeat in shuffled
order. Spikes are Poisson at the frame rate; dF/F is the spike train convolved with a
GCaMP6-like kernel (fast rise, slow decay) plus Gaussian noise at a per-unit SNR.
Everything is linear after the spike rates, so the moments of each trial response have a
closed form (`expected_reliability`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from scipy.signal import fftconvolve

from brainreps.data.responses import trial_responses, window_bounds

AREAS = {"VISp": (0.04, 0.08), "VISl": (0.07, 0.13)}  # RF size (sigma) as a fraction of image
CRE_LINES = ("Cux2-CreERT2", "Rorb-IRES2-Cre", "Scnn1a-Tg3-Cre")
DEPTHS = (175, 275)
SPIKE_AMPLITUDE = 0.2  # peak dF/F of one spike (GCaMP6-like)
PRE_S = 1.0  # grey screen before the first trial
POST_S = 3.0  # recording after the last trial


@dataclass(frozen=True)
class Population:
    """Receptive-field parameters of the simulated units (one entry per unit)."""

    area: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    sigma: np.ndarray
    wavelength: np.ndarray
    orientation: np.ndarray
    phase: np.ndarray
    complex_cell: np.ndarray
    max_rate: np.ndarray
    decay_time: np.ndarray
    snr: np.ndarray
    depth: np.ndarray
    cre_line: np.ndarray


def _draw(rng: np.random.Generator, spec: Any, n: int, log: bool = False) -> np.ndarray:
    """n values from a [low, high] range (uniform, or log-uniform) or a constant."""
    if np.ndim(spec) == 0:
        return np.full(n, float(spec))
    low, high = float(spec[0]), float(spec[1])
    if low > high:
        raise ValueError(f"range [{low}, {high}] has low > high")
    if log:
        return np.exp(rng.uniform(np.log(low), np.log(high), n))
    return rng.uniform(low, high, n)


def draw_population(n_units: int, size: int, params: Mapping[str, Any], rng) -> Population:
    """Random receptive fields and response properties for `n_units` units."""
    areas = np.array(list(AREAS))[np.arange(n_units) * len(AREAS) // n_units]
    sigma_frac = np.array([rng.uniform(*AREAS[a]) for a in areas])
    sigma = sigma_frac * size
    max_rate = _draw(rng, params["max_rate"], n_units)
    unresponsive = rng.random(n_units) < params["fraction_unresponsive"]
    max_rate[unresponsive] = 0.0
    return Population(
        area=areas,
        x0=rng.uniform(0.3, 0.7, n_units) * size,
        y0=rng.uniform(0.3, 0.7, n_units) * size,
        sigma=sigma,
        wavelength=sigma * rng.uniform(1.5, 3.0, n_units),
        orientation=rng.uniform(0, np.pi, n_units),
        phase=rng.uniform(0, 2 * np.pi, n_units),
        complex_cell=rng.random(n_units) < params["fraction_complex"],
        max_rate=max_rate,
        decay_time=_draw(rng, params["decay_time"], n_units),
        snr=_draw(rng, params["snr"], n_units, log=True),
        depth=rng.choice(DEPTHS, n_units),
        cre_line=rng.choice(CRE_LINES, n_units),
    )


def gabor_filters(pop: Population, height: int, width: int, phase_offset: float = 0.0):
    """Gabor receptive fields (unit, y, x), unit-norm, at each unit's phase plus an offset."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    dx = x[None] - pop.x0[:, None, None]
    dy = y[None] - pop.y0[:, None, None]
    cos, sin = np.cos(pop.orientation)[:, None, None], np.sin(pop.orientation)[:, None, None]
    along = dx * cos + dy * sin
    across = -dx * sin + dy * cos
    sigma = pop.sigma[:, None, None]
    envelope = np.exp(-(along**2 + across**2) / (2 * sigma**2))
    carrier = np.cos(
        2 * np.pi * along / pop.wavelength[:, None, None] + pop.phase[:, None, None] + phase_offset
    )
    g = envelope * carrier
    g -= g.mean(axis=(1, 2), keepdims=True) * envelope / envelope.mean(axis=(1, 2), keepdims=True)
    return g / np.linalg.norm(g.reshape(len(g), -1), axis=1)[:, None, None]


def normalized_images(pixels: np.ndarray) -> np.ndarray:
    """Grayscale contrast images: (pixels - mean) / std over the whole set, (stimulus, y, x)."""
    images = pixels.astype(np.float64)
    if images.ndim == 4:
        images = images.mean(axis=-1)
    return (images - images.mean()) / (images.std() + 1e-12)


def stimulus_drive(pop: Population, images: np.ndarray) -> np.ndarray:
    """Rectified drive of every unit by every image (unit, stimulus), scaled to [0, ~1]."""
    n, h, w = images.shape
    flat = images.reshape(n, -1)
    even = gabor_filters(pop, h, w).reshape(len(pop.x0), -1) @ flat.T
    odd = gabor_filters(pop, h, w, np.pi / 2).reshape(len(pop.x0), -1) @ flat.T
    simple = np.maximum(even, 0.0)
    energy = np.sqrt(even**2 + odd**2)
    drive = np.where(pop.complex_cell[:, None], energy, simple)
    scale = np.percentile(drive, 95, axis=1, keepdims=True)
    return np.clip(drive / np.where(scale > 0, scale, 1.0), 0.0, 1.5)


def trial_schedule(
    n_stimuli: int, n_repeats: int, stimulus_duration: float, gap_duration: float, rng
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every stimulus once per repeat block, shuffled: (trial_stimulus, start, end) in seconds."""
    order = np.concatenate([rng.permutation(n_stimuli) for _ in range(n_repeats)])
    start = PRE_S + np.arange(order.size) * (stimulus_duration + gap_duration)
    return order, start, start + stimulus_duration


def expected_spike_counts(
    stimulus_rate: np.ndarray,
    baseline_rate: float,
    trial_stimulus: np.ndarray,
    trial_start: np.ndarray,
    duration: float,
    latency: float,
    frame_rate: float,
    n_frames: int,
) -> np.ndarray:
    """Expected spikes per frame (unit, time): the rate integrated over each frame's interval."""
    period = 1.0 / frame_rate
    counts = np.full((stimulus_rate.shape[0], n_frames), baseline_rate * period)
    for stim, onset in zip(trial_stimulus, trial_start, strict=True):
        t0, t1 = onset + latency, onset + latency + duration
        f0, f1 = int(np.floor(t0 * frame_rate)), int(np.ceil(t1 * frame_rate))
        edges = np.arange(f0, f1 + 1) * period
        overlap = np.clip(np.minimum(edges[1:], t1) - np.maximum(edges[:-1], t0), 0.0, period)
        counts[:, f0:f1] += stimulus_rate[:, stim, None] * overlap[None, :]
    return counts


def calcium_kernel(decay_time: float, rise_time: float, frame_rate: float) -> np.ndarray:
    """GCaMP-like response to one spike at frame resolution, peak 1: (1 - e^-t/rise) e^-t/decay."""
    t = (np.arange(int(np.ceil(6 * decay_time * frame_rate)) + 1) + 0.5) / frame_rate
    k = (1.0 - np.exp(-t / rise_time)) * np.exp(-t / decay_time)
    return k / k.max()


def _kernels(pop: Population, rise_time: float, frame_rate: float) -> list[np.ndarray]:
    return [calcium_kernel(d, rise_time, frame_rate) for d in pop.decay_time]


def _convolve(rows: np.ndarray, kernels: list[np.ndarray]) -> np.ndarray:
    n = rows.shape[1]
    return np.stack([fftconvolve(r, k)[:n] for r, k in zip(rows, kernels, strict=True)])


def simulate_recording(pixels: np.ndarray, stimulus_ids, params: Mapping[str, Any]) -> xr.Dataset:
    """The `recording` Dataset of a simulated experiment on the given stimuli.

    `params` holds the `simulation` config section (see workflow/schemas/data.schema.yaml).
    """
    rng = np.random.default_rng(params["seed"])
    images = normalized_images(pixels)
    n_stimuli, size = images.shape[0], images.shape[1]
    if n_stimuli != len(stimulus_ids):
        raise ValueError(f"{n_stimuli} images but {len(stimulus_ids)} stimulus ids")
    fr = float(params["frame_rate"])
    duration = float(params["stimulus_duration"])
    pop = draw_population(int(params["n_units"]), size, params, rng)
    stimulus_rate = pop.max_rate[:, None] * stimulus_drive(pop, images)
    trial_stimulus, start, end = trial_schedule(
        n_stimuli, int(params["n_repeats"]), duration, float(params["gap_duration"]), rng
    )
    n_frames = int(np.ceil((end[-1] + float(params["gap_duration"]) + POST_S) * fr))
    expected = expected_spike_counts(
        stimulus_rate,
        float(params["baseline_rate"]),
        trial_stimulus,
        start,
        duration,
        float(params["latency"]),
        fr,
        n_frames,
    )
    spikes = rng.poisson(expected).astype(np.float32)
    kernels = _kernels(pop, float(params["rise_time"]), fr)
    clean = SPIKE_AMPLITUDE * _convolve(spikes.astype(np.float64), kernels)
    noise_std = clean.std(axis=1) / pop.snr
    noise_std = np.where(noise_std > 0, noise_std, SPIKE_AMPLITUDE / pop.snr)
    dff = clean + noise_std[:, None] * rng.standard_normal(clean.shape)
    n_units = len(pop.x0)
    unit_ids = np.array([f"sim{u:05d}" for u in range(n_units)])
    return xr.Dataset(
        {
            "dff": (("unit", "time"), dff.astype(np.float32)),
            "timestamps": (("time",), np.arange(n_frames) / fr),
            "spikes": (("unit", "time"), spikes),
            "trial_stimulus": (("trial",), trial_stimulus.astype(np.int64)),
            "trial_start": (("trial",), start),
            "trial_end": (("trial",), end),
            "stimulus_rate": (("unit", "stimulus"), stimulus_rate.astype(np.float32)),
            "noise_std": (("unit",), noise_std.astype(np.float32)),
        },
        coords={
            "unit": unit_ids,
            "area": ("unit", pop.area),
            "depth": ("unit", pop.depth.astype(np.int64)),
            "cre_line": ("unit", pop.cre_line),
            "container": ("unit", np.array([f"simulated-{a}" for a in pop.area])),
            "stimulus": np.asarray(stimulus_ids),
            "rf_x": ("unit", pop.x0.astype(np.float32)),
            "rf_y": ("unit", pop.y0.astype(np.float32)),
            "rf_sigma": ("unit", pop.sigma.astype(np.float32)),
            "rf_wavelength": ("unit", pop.wavelength.astype(np.float32)),
            "rf_orientation": ("unit", pop.orientation.astype(np.float32)),
            "rf_phase": ("unit", pop.phase.astype(np.float32)),
            "complex_cell": ("unit", pop.complex_cell),
            "decay_time": ("unit", pop.decay_time.astype(np.float32)),
            "snr": ("unit", pop.snr.astype(np.float32)),
            "max_rate": ("unit", pop.max_rate.astype(np.float32)),
        },
        attrs={
            "frame_rate": fr,
            "source": "simulated",
            "spike_amplitude": SPIKE_AMPLITUDE,
            "stimulus_duration": duration,
            "latency": float(params["latency"]),
            "baseline_rate": float(params["baseline_rate"]),
            "rise_time": float(params["rise_time"]),
        },
    )


def expected_reliability(
    recording: xr.Dataset,
    response_window: tuple[float, float],
    baseline_window: tuple[float, float],
) -> np.ndarray:
    """Closed-form split-half reliability (Spearman-Brown corrected) implied by the simulation.

    A trial response R = sum_f w_f dF/F_f is linear in the Poisson spike counts s_g and the
    Gaussian noise, so E[R] = A sum_g lambda_g h_g and Var[R] = A^2 sum_g lambda_g h_g^2 +
    sigma^2 sum_f w_f^2 with h_g = sum_f w_f k_(f-g). Per unit, signal variance V is the
    variance over stimuli of the mean expected response; noise variance N is the mean trial
    variance plus the spread of expected responses between repeats (carry-over from the
    previous trial). With n repeats the reliability of the mean is V / (V + N / n).
    """
    fr = float(recording.attrs["frame_rate"])
    ts = recording["timestamps"].values
    onsets = recording["trial_start"].values
    stim = recording["trial_stimulus"].values
    n_frames = ts.size
    lam = expected_spike_counts(
        recording["stimulus_rate"].values.astype(np.float64),
        float(recording.attrs["baseline_rate"]),
        stim,
        onsets,
        float(recording.attrs["stimulus_duration"]),
        float(recording.attrs["latency"]),
        fr,
        n_frames,
    )
    amp = float(recording.attrs["spike_amplitude"])
    rise = float(recording.attrs["rise_time"])
    kernels = [calcium_kernel(d, rise, fr) for d in recording["decay_time"].values]
    mean_trace = amp * _convolve(lam, kernels)
    mean_resp = trial_responses(mean_trace, ts, onsets, response_window, baseline_window)

    r0, r1 = window_bounds(ts, onsets, response_window)
    b0, b1 = window_bounds(ts, onsets, baseline_window)
    noise_var = recording["noise_std"].values.astype(np.float64) ** 2
    n_units, n_trials = mean_resp.shape
    trial_var = np.empty((n_units, n_trials))
    for t in range(n_trials):
        lo, hi = b0[t], r1[t]
        w = np.zeros(hi - lo)
        w[r0[t] - lo : r1[t] - lo] += 1.0 / (r1[t] - r0[t])
        w[b0[t] - lo : b1[t] - lo] -= 1.0 / (b1[t] - b0[t])
        for u, k in enumerate(kernels):
            # h_g for spike frames g = hi - 1 - j (j >= 0): correlation of w with the kernel
            h = np.convolve(w[::-1], k)  # h[j] = sum_f w_f k_(f - g), g = hi - 1 - j
            g = hi - 1 - np.arange(h.size)
            keep = g >= 0
            trial_var[u, t] = amp**2 * np.sum(lam[u, g[keep]] * h[keep] ** 2)
        trial_var[:, t] += noise_var * np.sum(w**2)

    n_stimuli = int(stim.max()) + 1
    counts = np.bincount(stim, minlength=n_stimuli)
    shown = counts > 0
    sums = np.zeros((n_units, n_stimuli))
    np.add.at(sums.T, stim, mean_resp.T)
    stim_mean = sums[:, shown] / counts[shown]
    spread = mean_resp - (sums / np.maximum(counts, 1))[:, stim]
    noise = trial_var.mean(axis=1) + (spread**2).sum(axis=1) / (n_trials - n_stimuli)
    signal = stim_mean.var(axis=1, ddof=1)
    n_repeats = n_trials / shown.sum()
    return signal / (signal + noise / n_repeats)
