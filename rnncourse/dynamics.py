"""Recurrent maps and the first recurrent networks (chapter 1, *Sequences and dynamical systems*).

Course notation (see the book's notation page): the state update is

.. math::

    a^{(t)} = b + W h^{(t-1)} + U x^{(t)}, \\qquad h^{(t)} = \\tanh(a^{(t)}),
    \\qquad o^{(t)} = c + V h^{(t)}, \\qquad \\hat y^{(t)} = \\mathrm{softmax}(o^{(t)}),

with ``y_hat`` the network's prediction (the maths writes :math:`\\hat y`), ``W`` the recurrent (hidden-to-hidden) matrix, ``U`` input-to-hidden and ``V``
hidden-to-output. In ``torch.nn.RNN`` terms ``W`` is ``weight_hh_l0``, ``U`` is
``weight_ih_l0`` and ``b`` is ``bias_ih_l0 + bias_hh_l0``.

Everything here is NumPy and works on a batch: vectors are rows, so the code computes
``h @ W.T`` where the maths writes ``W h``. Shapes use ``T`` (time), ``B`` (batch),
``D`` (input size), ``H`` (hidden size) and ``K`` (output size).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

__all__ = [
    "DynamicsReport",
    "classify_dynamics",
    "elman_forward",
    "elman_step",
    "fit_autoregressive",
    "growth_rate",
    "iterate_network",
    "jordan_forward",
    "jordan_step",
    "largest_lyapunov_exponent",
    "output_layer",
    "predict_autoregressive",
    "random_recurrent_matrix",
    "rotation_matrix",
    "rotation_per_step",
    "softmax",
    "spectral_radius",
]


# --------------------------------------------------------------------------- building blocks


def softmax(o: Array, axis: int = -1) -> Array:
    """Numerically stable softmax along ``axis``: ``exp(o - max o) / sum exp(o - max o)``.

    Shapes: any; the result has the shape of ``o`` and sums to one along ``axis``.
    """
    shifted = o - np.max(o, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def elman_step(x: Array, h_prev: Array, W: Array, U: Array, b: Array) -> Array:
    """One Elman update ``h = tanh(b + W h_prev + U x)`` for a batch.

    Args:
        x: input at this step, ``(B, D)``.
        h_prev: previous hidden state, ``(B, H)``.
        W: recurrent weights, ``(H, H)``.
        U: input weights, ``(H, D)``.
        b: hidden bias, ``(H,)``.

    Returns:
        The new hidden state, ``(B, H)``.
    """
    return np.tanh(b + h_prev @ W.T + x @ U.T)


def elman_forward(x: Array, h0: Array, W: Array, U: Array, b: Array) -> Array:
    """Unroll :func:`elman_step` over a whole sequence.

    Args:
        x: inputs, ``(T, B, D)`` (time first, as ``torch.nn.RNN`` with ``batch_first=False``).
        h0: initial state, ``(B, H)``.

    Returns:
        Hidden states ``h^{(1)} .. h^{(T)}``, ``(T, B, H)``; the last one is the final state.
    """
    states = []
    h = h0
    for x_t in x:
        h = elman_step(x_t, h, W, U, b)
        states.append(h)
    return np.stack(states) if states else np.zeros((0,) + h0.shape, dtype=h0.dtype)


def output_layer(h: Array, V: Array, c: Array) -> Array:
    """Read-out ``y_hat = softmax(c + V h)``: ``h`` is ``(..., H)``, ``V`` is ``(K, H)``, ``c`` is ``(K,)``; returns ``(..., K)``."""
    return softmax(c + h @ V.T, axis=-1)


def jordan_step(
    x: Array, y_hat_prev: Array, W: Array, U: Array, b: Array, V: Array, c: Array
) -> tuple[Array, Array]:
    """One step of a Jordan network: the state fed back is the previous *output*.

    ``h = tanh(b + W y_hat_prev + U x)`` and ``y_hat = softmax(c + V h)``.

    Args:
        x: input, ``(B, D)``.
        y_hat_prev: previous output, ``(B, K)`` (zeros, or a start token, at the first step).
        W: output-to-hidden weights, ``(H, K)``.
        U: input weights, ``(H, D)``; ``b``: ``(H,)``; ``V``: ``(K, H)``; ``c``: ``(K,)``.

    Returns:
        ``(h, y_hat)`` with shapes ``(B, H)`` and ``(B, K)``.
    """
    h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
    return h, output_layer(h, V, c)


def jordan_forward(
    x: Array, y_hat0: Array, W: Array, U: Array, b: Array, V: Array, c: Array
) -> tuple[Array, Array]:
    """Unroll :func:`jordan_step`: ``x`` is ``(T, B, D)``; returns hidden states ``(T, B, H)`` and outputs ``(T, B, K)``."""
    states, outputs = [], []
    y_hat = y_hat0
    for x_t in x:
        h, y_hat = jordan_step(x_t, y_hat, W, U, b, V, c)
        states.append(h)
        outputs.append(y_hat)
    return np.stack(states), np.stack(outputs)


# --------------------------------------------------------------------------- memoryless models


def fit_autoregressive(series: Array, order: int) -> Array:
    """Least-squares fit of an autoregressive model with ``order`` delay taps.

    The model predicts ``x[t] = w_0 + w_1 x[t-1] + ... + w_order x[t-order]``.

    Args:
        series: a 1-D series, ``(N,)`` with ``N > order``.
        order: number of delay taps.

    Returns:
        The coefficients ``(order + 1,)``: the intercept first, then the tap weights.
    """
    series = np.asarray(series, dtype=float)
    if series.ndim != 1 or series.shape[0] <= order:
        raise ValueError(f"need a 1-D series longer than order={order}, got shape {series.shape}")
    rows = np.stack([series[order - k - 1 : len(series) - k - 1] for k in range(order)], axis=1)
    design = np.hstack([np.ones((rows.shape[0], 1)), rows])
    coeffs, *_ = np.linalg.lstsq(design, series[order:], rcond=None)
    return coeffs


def predict_autoregressive(series: Array, coeffs: Array) -> Array:
    """One-step-ahead predictions of :func:`fit_autoregressive`'s model for ``t = order .. N-1``; returns ``(N - order,)``."""
    order = len(coeffs) - 1
    series = np.asarray(series, dtype=float)
    prediction = np.full(len(series) - order, coeffs[0])
    for k in range(order):
        prediction += coeffs[k + 1] * series[order - k - 1 : len(series) - k - 1]
    return prediction


# --------------------------------------------------------------------------- what recurrent dynamics can do


def spectral_radius(W: Array) -> float:
    """Largest absolute eigenvalue of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def random_recurrent_matrix(
    hidden_size: int, spectral_radius_target: float, rng: np.random.Generator
) -> Array:
    """Gaussian ``(H, H)`` matrix rescaled so that its spectral radius is exactly ``spectral_radius_target``."""
    W = rng.standard_normal((hidden_size, hidden_size)) / np.sqrt(hidden_size)
    return W * (spectral_radius_target / spectral_radius(W))


def rotation_matrix(angle: float, gain: float = 1.0) -> Array:
    """``gain`` times the 2-D rotation by ``angle`` radians: eigenvalues ``gain * exp(+-i angle)``."""
    cos, sin = np.cos(angle), np.sin(angle)
    return gain * np.array([[cos, -sin], [sin, cos]])


def iterate_network(
    W: Array,
    h0: Array,
    steps: int,
    U: Array | None = None,
    inputs: Array | None = None,
    input_gain: float = 1.0,
) -> Array:
    """Run ``h[t] = tanh(W h[t-1] + input_gain * U x[t])`` for one network (no batch).

    Args:
        W: recurrent weights, ``(H, H)``.
        h0: initial state, ``(H,)``.
        steps: number of updates.
        U, inputs: optional input weights ``(H, D)`` and inputs ``(steps, D)``; omitted means
            the network runs autonomously.
        input_gain: scales the input drive.

    Returns:
        The trajectory including ``h0``, ``(steps + 1, H)``.
    """
    trajectory = np.empty((steps + 1, len(h0)))
    trajectory[0] = h0
    drive = None if U is None or inputs is None else input_gain * (inputs @ U.T)
    h = np.asarray(h0, dtype=float)
    for t in range(steps):
        a = W @ h
        if drive is not None:
            a = a + drive[t]
        h = np.tanh(a)
        trajectory[t + 1] = h
    return trajectory


def rotation_per_step(trajectory: Array) -> float:
    """Mean angle, in radians, by which a 2-D trajectory turns about the origin per step.

    The angle of each state is unwrapped, so full turns count, and the total turn is divided by
    the number of steps. On an attracting closed curve this is ``2 pi`` times the rotation number:
    a rational multiple of ``2 pi`` for a periodic orbit (``2 pi / 12`` for one that repeats every
    12 steps), an irrational one for a quasi-periodic orbit, which never repeats exactly.

    Args:
        trajectory: states ``(steps + 1, 2)``, as returned by :func:`iterate_network`; none at the origin.

    Returns:
        The mean angle per step (positive for anticlockwise turning).
    """
    trajectory = np.asarray(trajectory, dtype=float)
    if trajectory.ndim != 2 or trajectory.shape[1] != 2 or len(trajectory) < 2:
        raise ValueError(f"need a 2-D trajectory of at least two states, got shape {trajectory.shape}")
    angle = np.unwrap(np.arctan2(trajectory[:, 1], trajectory[:, 0]))
    return float((angle[-1] - angle[0]) / (len(trajectory) - 1))


def growth_rate(distance: Array, ceiling: float) -> tuple[float, float]:
    """Exponential growth rate of a distance, from a straight-line fit of its logarithm.

    Fits ``log distance[t] = intercept + rate * t`` by least squares over the steps before
    ``distance`` first exceeds ``ceiling`` (all steps if it never does). With a tiny initial
    distance between two runs and a ceiling well below the size of the attractor, ``rate`` is the
    finite-time Lyapunov exponent of that stretch of trajectory, and ``-intercept / rate`` the step
    at which the fitted line reaches 1 (chapter 1, *Chaos*).

    Args:
        distance: positive distances, ``(steps + 1,)``, one per step from step 0.
        ceiling: the fit stops before the first step at which ``distance > ceiling``.

    Returns:
        ``(rate, intercept)``, per step and in natural log units.
    """
    distance = np.asarray(distance, dtype=float)
    above = np.flatnonzero(distance > ceiling)
    stop = int(above[0]) if above.size else len(distance)
    if stop < 2:
        raise ValueError(f"need at least two steps below the ceiling {ceiling}, got {stop}")
    rate, intercept = np.polyfit(np.arange(stop), np.log(distance[:stop]), 1)
    return float(rate), float(intercept)


def largest_lyapunov_exponent(
    W: Array,
    h0: Array,
    steps: int = 2000,
    burn_in: int = 500,
    U: Array | None = None,
    inputs: Array | None = None,
    input_gain: float = 1.0,
) -> float:
    """Average exponential growth rate (per step, natural log) of a small perturbation.

    The book writes it :math:`\\chi` (chapter 1, *Chaos*):

    .. math::

        \\chi = \\lim_{t \\to \\infty} \\frac{1}{t}
        \\ln \\frac{\\lVert J^{(t)} \\cdots J^{(1)} \\Delta h \\rVert}{\\lVert \\Delta h \\rVert},
        \\qquad J^{(t)} = \\operatorname{diag}\\big(1 - (h^{(t)})^2\\big)\\, W .

    A tangent vector (the perturbation :math:`\\Delta h`, ``v`` in the code) is pushed through
    the Jacobian of each step and renormalised (Benettin's method); the average runs over
    ``steps`` steps after ``burn_in`` steps that let the state reach its attractor and the
    tangent vector align with the most unstable direction. For an iterated map, negative means a
    stable fixed point or a stable periodic orbit, zero a neutral direction (a quasi-periodic
    orbit on an invariant closed curve, say), positive chaos.
    ``inputs`` (if given) must have ``burn_in + steps`` rows.
    """
    rng = np.random.default_rng(0)
    h = np.asarray(h0, dtype=float)
    v = rng.standard_normal(len(h))
    v /= np.linalg.norm(v)
    drive = None if U is None or inputs is None else input_gain * (inputs @ U.T)
    total = 0.0
    for t in range(burn_in + steps):
        a = W @ h
        if drive is not None:
            a = a + drive[t]
        h = np.tanh(a)
        v = (1.0 - h**2) * (W @ v)
        norm = np.linalg.norm(v)
        if norm == 0.0:
            return float("-inf")
        v /= norm
        if t >= burn_in:
            total += np.log(norm)
    return float(total / steps)


Regime = Literal["point attractor", "oscillation", "chaos"]


@dataclass(frozen=True)
class DynamicsReport:
    """What :func:`classify_dynamics` found: the regime, the Lyapunov exponent and the late-time spread."""

    regime: Regime
    lyapunov: float
    spread: float


def classify_dynamics(
    W: Array, h0: Array, steps: int = 1500, burn_in: int = 500, tolerance: float = 1e-3
) -> DynamicsReport:
    """Name the long-run behaviour of the autonomous network ``h <- tanh(W h)``.

    A positive largest Lyapunov exponent (above ``tolerance``) is chaos; otherwise a
    trajectory that stops moving is a point attractor and one that keeps moving is an
    oscillation (periodic or quasi-periodic).
    """
    lyapunov = largest_lyapunov_exponent(W, h0, steps=steps, burn_in=burn_in)
    tail = iterate_network(W, h0, burn_in + steps)[-steps // 4 :]
    spread = float(np.max(np.std(tail, axis=0)))
    if lyapunov > tolerance:
        regime: Regime = "chaos"
    elif spread < tolerance:
        regime = "point attractor"
    else:
        regime = "oscillation"
    return DynamicsReport(regime=regime, lyapunov=lyapunov, spread=spread)
