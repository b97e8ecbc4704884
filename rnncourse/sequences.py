"""Sequence data and the classical hidden-state models that recurrent networks are compared with
(chapter 1, *Sequences and dynamical systems*).

- :func:`delayed_recall_series`: a 1-D series whose values at some times are fixed by what happened
  ``delay`` steps earlier, so a model with fewer than ``delay`` delay taps cannot predict them.
- :func:`simulate_scalar_lds` and :func:`kalman_filter_1d`: the scalar linear dynamical system

  .. math::

      z^{(t)} = a\\, z^{(t-1)} + \\varepsilon^{(t)}, \\quad \\varepsilon^{(t)} \\sim \\mathcal N(0, q),
      \\qquad x^{(t)} = z^{(t)} + \\delta^{(t)}, \\quad \\delta^{(t)} \\sim \\mathcal N(0, r),

  and the exact (Kalman) recursion for the Gaussian posterior over its hidden state.

Everything is NumPy; series are 1-D arrays indexed by time, ``(N,)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

__all__ = ["delayed_recall_series", "kalman_filter_1d", "lagged_bit_stream", "simulate_scalar_lds"]


def delayed_recall_series(
    n_trials: int,
    delay: int,
    rng: np.random.Generator,
    noise: float = 0.05,
    gap: tuple[int, int] = (5, 15),
) -> tuple[Array, NDArray[np.int_]]:
    """A series of trials in which a random cue must be reproduced ``delay`` steps later.

    Each trial is ``delay + 1`` samples long: a cue of ``+1`` or ``-1`` (equally likely) at its
    first sample, small Gaussian noise in between and a copy of the cue at its last sample. A
    quiet stretch of noise, ``gap[0] <= length < gap[1]`` samples, follows each trial. Everything
    except the cue is noise of standard deviation ``noise``.

    Args:
        n_trials: number of trials.
        delay: steps between a cue and its copy (at least 1).
        rng: source of randomness.
        noise: standard deviation of the background noise.
        gap: half-open range of the quiet stretch's length after each trial.

    Returns:
        ``(series, recall_times)``: the series ``(N,)`` and the indices of the copies,
        ``(n_trials,)``; ``series[recall_times] == series[recall_times - delay]``.
    """
    if delay < 1:
        raise ValueError(f"delay must be at least 1, got {delay}")
    if not 0 <= gap[0] < gap[1]:
        raise ValueError(f"gap must be a range 0 <= low < high, got {gap}")
    pieces: list[Array] = []
    recall_times = np.empty(n_trials, dtype=int)
    start = 0
    for trial in range(n_trials):
        cue = rng.choice([-1.0, 1.0])
        segment = noise * rng.standard_normal(delay + 1 + int(rng.integers(gap[0], gap[1])))
        segment[0] = cue
        segment[delay] = cue
        pieces.append(segment)
        recall_times[trial] = start + delay
        start += len(segment)
    series = np.concatenate(pieces) if pieces else np.zeros(0)
    return series, recall_times


def simulate_scalar_lds(
    steps: int, a: float, q: float, r: float, rng: np.random.Generator, z0: float = 0.0
) -> tuple[Array, Array]:
    """Sample the scalar linear dynamical system of this module.

    Args:
        steps: number of time steps ``N``.
        a: state transition coefficient.
        q: variance of the state noise.
        r: variance of the observation noise.
        rng: source of randomness.
        z0: the state before the first step.

    Returns:
        ``(z, x)``: hidden states and observations, each ``(N,)``.
    """
    z = np.empty(steps)
    state = z0
    for t in range(steps):
        state = a * state + np.sqrt(q) * rng.standard_normal()
        z[t] = state
    x = z + np.sqrt(r) * rng.standard_normal(steps)
    return z, x


def kalman_filter_1d(
    x: Array, a: float, q: float, r: float, mean0: float = 0.0, var0: float = 1.0
) -> tuple[Array, Array]:
    """Filtered posterior ``p(z^(t) | x^(1), ..., x^(t)) = N(means[t], variances[t])``.

    The recursion (Kalman, 1960) predicts ``m = a * mean``, ``P = a**2 * var + q``, then corrects
    with the gain ``k = P / (P + r)``: ``mean = m + k * (x - m)`` and ``var = (1 - k) * P``. The
    prior ``N(mean0, var0)`` is over the state before the first observation.

    Args:
        x: observations ``(N,)``.
        a, q, r: the model's transition coefficient and noise variances.
        mean0, var0: prior over the initial state.

    Returns:
        ``(means, variances)``, each ``(N,)``.
    """
    x = np.asarray(x, dtype=float)
    means = np.empty(len(x))
    variances = np.empty(len(x))
    mean, var = float(mean0), float(var0)
    for t, observation in enumerate(x):
        predicted_mean = a * mean
        predicted_var = a * a * var + q
        gain = predicted_var / (predicted_var + r)
        mean = predicted_mean + gain * (observation - predicted_mean)
        var = (1.0 - gain) * predicted_var
        means[t] = mean
        variances[t] = var
    return means, variances


def lagged_bit_stream(
    length: int, lag: int, rng: np.random.Generator, batch_size: int = 1
) -> tuple[NDArray[np.int_], NDArray[np.int_]]:
    """Parallel streams of fair random bits whose target is the bit seen ``lag`` steps earlier.

    .. math::

        x^{(t)} \\sim \\mathrm{Bernoulli}(1/2) \\text{ independently}, \\qquad y^{(t)} = x^{(t - \\mathrm{lag})}.

    Nothing else in the stream predicts :math:`y^{(t)}`, so a model can beat chance (1/2) only by
    remembering each bit for exactly ``lag`` steps: the task of the *truncation* experiment (book:
    *Backpropagation through time*, section *Truncated BPTT*). The streams can be cut into chunks and
    fed one after the other to a model that carries its state across the cuts.

    The first ``lag`` targets are bits drawn *before* the stream begins (independent of ``x``, so
    unpredictable): every target is a fair bit, and a score should skip ``t < lag``.

    Args:
        length: ``N``, time steps.
        lag: the memory the task needs, at least 1.
        rng: source of randomness.
        batch_size: ``B``, independent streams.

    Returns:
        ``(x, y)``: inputs and targets of 0s and 1s, each ``(N, B)``;
        ``y[t] == x[t - lag]`` for ``t >= lag``.
    """
    if lag < 1 or length < 1 or batch_size < 1:
        raise ValueError(f"need lag, length and batch_size >= 1, got {lag}, {length}, {batch_size}")
    bits = rng.integers(0, 2, size=(length + lag, batch_size))
    return bits[lag:], bits[:length]

