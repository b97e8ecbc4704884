"""Echo state networks: a fixed random reservoir and a linear readout (chapter 4, *Echo state networks*).

An echo state network (Jaeger, 2001) is a recurrent network whose input and recurrent weights are drawn at
random and never trained. Only the readout is learned, by linear regression on the states. In the course's
notation (``book/notation.md``), with leak rate :math:`\\gamma \\in (0, 1]`:

.. math::

    \\tilde h^{(t)} &= \\tanh\\big(W h^{(t-1)} + U x^{(t)} + F y^{(t-1)} + b\\big), \\\\
    h^{(t)} &= (1 - \\gamma)\\, h^{(t-1)} + \\gamma\\, \\tilde h^{(t)}, \\\\
    \\hat y^{(t)} &= V \\begin{bmatrix} 1 \\\\ x^{(t)} \\\\ h^{(t)} \\end{bmatrix}.

:math:`W` (``units x units``) is sparse with a fraction ``density`` of nonzero entries drawn from
:math:`\\mathcal N(0, 1)` and then rescaled so that its spectral radius (largest eigenvalue modulus) is
``spectral_radius``; :math:`U` has entries uniform in ``[-input_scaling, input_scaling]``; :math:`b` is uniform
in ``[-bias, bias]``; :math:`F` (output feedback, ``units x K``) is uniform in ``[-feedback, feedback]`` and absent
when ``feedback == 0``. The readout :math:`V` is the ridge-regression solution of eq. ``ch04-eq-ridge``,

.. math::

    V^\\top = (\\Phi^\\top \\Phi + \\beta I_0)^{-1} \\Phi^\\top Y,

where the rows of :math:`\\Phi` are the features :math:`[1, x^{(t)}, h^{(t)}]` after the warm-up and :math:`I_0` is
the identity with a zero for the constant feature (the readout's bias is not shrunk).

Speed. The recurrence is sequential, so the time goes into one matrix-vector product per step (a matrix-matrix
product for a batch of sequences). On the CPU the loop runs in NumPy, whose BLAS ``gemv`` is about three times
faster than ``torch.mv`` here; on CUDA it runs in torch. The code of the loop is the same for both (it is written
against the array module ``xp``). The input projection :math:`U x^{(t)}` of the whole sequence is one matrix
product, and the readout never stores the states: the normal equations :math:`\\Phi^\\top \\Phi` and :math:`\\Phi^\\top Y` are
accumulated in float64 over chunks of steps, so memory is :math:`O(\\text{units}^2)` whatever the length. That
also makes re-solving for another :math:`\\beta` (:meth:`ESN.refit`) cost one linear solve.

Data: :func:`mackey_glass` (integrated accurately, see there) and :func:`frequency_generator`. Error measures:
:func:`nrmse` (normalised by the standard deviation of the target) and :func:`r2`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ESN",
    "choose_ridge",
    "frequency_generator",
    "mackey_glass",
    "nrmse",
    "r2",
    "random_reservoir",
    "reservoir_states",
    "ridge_readout",
    "scale_spectral_radius",
    "spectral_radius",
]

ArrayLike = np.ndarray | Tensor

#: steps per chunk when the normal equations are accumulated
_CHUNK = 1024


# --------------------------------------------------------------------------------------------------------------
# Building blocks (the reference for exercise 4)
# --------------------------------------------------------------------------------------------------------------


def spectral_radius(matrix: ArrayLike) -> float:
    """The spectral radius :math:`\\rho(W) = \\max_i |\\lambda_i(W)|` of a square matrix, in float64."""
    array = _as_numpy(matrix).astype(np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1]:
        raise ValueError(f"spectral_radius needs a square matrix, got shape {tuple(array.shape)}")
    if array.size == 0:
        return 0.0
    # a full eigendecomposition: about 1 s for 1000 units on one core (ARPACK would need SciPy)
    return float(torch.linalg.eigvals(torch.from_numpy(array)).abs().max())


def scale_spectral_radius(matrix: np.ndarray, radius: float) -> np.ndarray:
    """Return ``matrix`` multiplied by a positive scalar so that its spectral radius is ``radius``.

    Scaling by :math:`c > 0` scales every eigenvalue by :math:`c`, so :math:`\\rho(cW) = c\\,\\rho(W)` and
    :math:`c = \\text{radius} / \\rho(W)`. Raises ``ValueError`` for a nilpotent matrix (:math:`\\rho = 0`), which
    no scaling can fix.
    """
    if radius < 0:
        raise ValueError(f"a spectral radius is >= 0, got {radius}")
    current = spectral_radius(matrix)
    if current == 0.0:
        raise ValueError("the matrix has spectral radius 0 (it is nilpotent): no scaling reaches another radius")
    return np.asarray(matrix) * (radius / current)


def random_reservoir(
    units: int, spectral_radius: float, density: float, rng: np.random.Generator
) -> np.ndarray:
    """A sparse random recurrent matrix ``(units, units)`` in float64 with the given spectral radius.

    Each entry is nonzero with probability ``density`` and then drawn from :math:`\\mathcal N(0, 1)`; the matrix
    is rescaled by :func:`scale_spectral_radius`. A sparse matrix is a set of loosely coupled units (the lectures'
    "loosely coupled oscillators"); the density changes little else once the radius is fixed.
    """
    if not 0 < density <= 1:
        raise ValueError(f"density is the fraction of nonzero weights, in (0, 1]; got {density}")
    mask = rng.random((units, units)) < density
    weights = rng.standard_normal((units, units)) * mask
    if not mask.any() or spectral_radius == 0:
        return weights * 0.0
    return scale_spectral_radius(weights, spectral_radius)


def reservoir_states(
    inputs: np.ndarray,
    W: np.ndarray,
    U: np.ndarray,
    b: np.ndarray,
    leak_rate: float,
    h0: np.ndarray | None = None,
) -> np.ndarray:
    """Run a leaky reservoir over one sequence and return the states, NumPy, ``(T, H)``.

    ``inputs`` is ``(T, D)``, ``W`` is ``(H, H)``, ``U`` is ``(H, D)``, ``b`` is ``(H,)``; ``h0`` defaults to zeros.
    Each step is :math:`h^{(t)} = (1-\\gamma) h^{(t-1)} + \\gamma \\tanh(W h^{(t-1)} + U x^{(t)} + b)`.
    A plain, readable loop; :class:`ESN` runs the same recurrence faster.
    """
    inputs = np.asarray(inputs, dtype=np.float64)
    h = np.zeros(W.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    states = np.empty((inputs.shape[0], W.shape[0]))
    for t, x_t in enumerate(inputs):
        h = (1.0 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x_t + b)
        states[t] = h
    return states


def ridge_readout(states: np.ndarray, targets: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """Fit :math:`\\hat y = V_0 + V_h h` by ridge regression; return ``(V_h (K, H), V_0 (K,))``.

    Solves :math:`\\min_V \\sum_t \\lVert y^{(t)} - V_0 - V_h h^{(t)} \\rVert^2 + \\beta \\lVert V_h \\rVert_F^2`
    in closed form; the bias :math:`V_0` is not shrunk. ``states`` is ``(T, H)``, ``targets`` ``(T, K)`` or
    ``(T,)`` (then ``K = 1``).
    """
    states = np.asarray(states, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64).reshape(states.shape[0], -1)
    features = np.concatenate([np.ones((states.shape[0], 1)), states], axis=1)
    penalty = np.full(features.shape[1], float(ridge))
    penalty[0] = 0.0
    weights = np.linalg.solve(features.T @ features + np.diag(penalty), features.T @ targets)
    return weights[1:].T, weights[0]


def choose_ridge(
    train_states: np.ndarray,
    train_targets: np.ndarray,
    val_states: np.ndarray,
    val_targets: np.ndarray,
    ridges: Sequence[float],
) -> tuple[float, np.ndarray]:
    """Pick the ridge :math:`\\beta` with the lowest validation NRMSE; return ``(best, errors per ridge)``.

    The readout is fitted on the training states for every candidate (:func:`ridge_readout`) and scored on the
    validation states with :func:`nrmse`; ties go to the larger :math:`\\beta` (the simpler readout).
    The reservoir runs once: only the cheap linear solve is repeated, which is why tuning an ESN is fast.
    """
    if len(ridges) == 0:
        raise ValueError("give at least one candidate ridge")
    errors = []
    for ridge in ridges:
        V_h, V_0 = ridge_readout(train_states, train_targets, ridge)
        predictions = np.asarray(val_states, dtype=np.float64) @ V_h.T + V_0
        errors.append(nrmse(np.asarray(val_targets, dtype=np.float64).reshape(predictions.shape), predictions))
    errors_array = np.asarray(errors)
    best = min(range(len(ridges)), key=lambda i: (errors_array[i], -ridges[i]))
    return float(ridges[best]), errors_array


# --------------------------------------------------------------------------------------------------------------
# Error measures
# --------------------------------------------------------------------------------------------------------------


def nrmse(targets: ArrayLike, predictions: ArrayLike) -> float:
    """Normalised root-mean-square error, :math:`\\sqrt{\\operatorname{mean}((y - \\hat y)^2)} / \\operatorname{std}(y)`.

    Computed per output dimension (over time and batch) and averaged over dimensions. 0 is perfect; predicting
    the mean gives 1. ReservoirPy's default ``nrmse`` divides by the range ``max(y) - min(y)`` instead, so its
    value is ours times ``std(y) / (max(y) - min(y))`` (about 0.26 on the Mackey-Glass series);
    ``norm="var"`` there divides by the variance, not the standard deviation.
    """
    y, y_hat = _paired(targets, predictions)
    return float(np.mean(np.sqrt(np.mean((y - y_hat) ** 2, axis=0)) / np.std(y, axis=0)))


def r2(targets: ArrayLike, predictions: ArrayLike) -> float:
    """Coefficient of determination :math:`1 - \\sum (y - \\hat y)^2 / \\sum (y - \\bar y)^2`, averaged over outputs.

    For one output, :math:`R^2 = 1 - \\mathrm{NRMSE}^2`.
    """
    y, y_hat = _paired(targets, predictions)
    return float(np.mean(1.0 - np.sum((y - y_hat) ** 2, axis=0) / np.sum((y - y.mean(axis=0)) ** 2, axis=0)))


def _paired(targets: ArrayLike, predictions: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = _as_numpy(targets).astype(np.float64)
    y_hat = _as_numpy(predictions).astype(np.float64)
    if y.shape != y_hat.shape:
        raise ValueError(f"targets {tuple(y.shape)} and predictions {tuple(y_hat.shape)} differ in shape")
    width = y.shape[-1] if y.ndim > 1 else 1
    return y.reshape(-1, width), y_hat.reshape(-1, width)


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


def mackey_glass(
    steps: int,
    tau: float = 17.0,
    beta: float = 0.2,
    gamma: float = 0.1,
    n: float = 10.0,
    x0: float = 1.2,
    dt: float = 1.0,
    step: float = 0.1,
    discard: int = 0,
) -> np.ndarray:
    """The Mackey-Glass series (Mackey and Glass, 1977), sampled every ``dt``: a float64 array ``(steps,)``.

    .. math::

        \\frac{dx}{dt} = \\beta \\frac{x(t - \\tau)}{1 + x(t - \\tau)^{n}} - \\gamma\\, x(t),
        \\qquad x(t) = x_0 \\text{ for } t \\le 0.

    With :math:`\\tau = 17` it is chaotic. The delay equation is integrated by the classical fourth-order
    Runge-Kutta method with a fixed internal ``step`` (default 0.1, so that :math:`\\tau` and ``dt`` are whole
    numbers of steps). The stages need :math:`x` half a step between grid points :math:`\\tau` back; they take it
    from the cubic Hermite interpolant through the two neighbouring grid values and their derivatives, which keeps
    the method fourth order (a frozen delayed value, as in a plain RK4 call, makes it first order in the delay).
    ``tests/test_esn.py`` checks that halving ``step`` changes the first 300 time units by less than 1e-7.
    ``discard`` samples are dropped from the start (the transient from the constant history).
    """
    per_sample = round(dt / step)
    lag = round(tau / step)
    if not math.isclose(per_sample * step, dt) or not math.isclose(lag * step, tau):
        raise ValueError(f"dt={dt} and tau={tau} must be whole multiples of step={step}")
    total = (steps + discard - 1) * per_sample + 1
    x = np.empty(total + lag)
    slope = np.zeros(total + lag)
    x[: lag + 1] = x0  # the constant history, then x(0) = x0

    def field(value: float, delayed: float) -> float:
        return beta * delayed / (1.0 + delayed**n) - gamma * value

    slope[lag] = field(x0, x0)
    h = step
    for k in range(lag, total + lag - 1):
        j = k - lag  # the grid index tau back
        past, past_next = x[j], x[j + 1]
        # the history is constant: its slope just before t = 0 is 0, whatever the slope just after
        right_slope = 0.0 if j + 1 == lag else slope[j + 1]
        # cubic Hermite value half-way between grid points j and j + 1
        middle = 0.5 * (past + past_next) + h * (slope[j] - right_slope) / 8.0
        k1 = field(x[k], past)
        k2 = field(x[k] + 0.5 * h * k1, middle)
        k3 = field(x[k] + 0.5 * h * k2, middle)
        k4 = field(x[k] + h * k3, past_next)
        x[k + 1] = x[k] + h * (k1 + 2 * k2 + 2 * k3 + k4) / 6.0
        slope[k + 1] = field(x[k + 1], x[j + 1])
    return x[lag::per_sample][discard : discard + steps].copy()


def frequency_generator(
    steps: int,
    rng: np.random.Generator,
    min_period: float = 10.0,
    max_period: float = 40.0,
    hold: tuple[int, int] = (100, 300),
) -> tuple[np.ndarray, np.ndarray]:
    """The lectures' frequency-generator task: ``(inputs (steps, 1), targets (steps, 1))``, float64.

    The input is a level in ``[0, 1]`` held for a random number of steps (uniform in ``hold``), then redrawn;
    it sets the frequency of the target, a sine :math:`y^{(t)} = \\sin \\phi^{(t)}` whose phase advances by
    :math:`2\\pi / P` per step, with the period :math:`P` running from ``max_period`` (input 0) to ``min_period``
    (input 1) in equal steps of frequency. The phase is continuous across changes, so the target never jumps.
    A network that solves it must *generate* an oscillation whose speed its input sets; an echo state network
    does so with output feedback (``ESN(feedback=...)``).
    """
    levels = np.empty(steps)
    t = 0
    while t < steps:
        length = int(rng.integers(hold[0], hold[1] + 1))
        levels[t : t + length] = rng.random()
        t += length
    frequency = 1.0 / max_period + levels * (1.0 / min_period - 1.0 / max_period)
    phase = 2.0 * np.pi * np.cumsum(frequency)
    return levels[:, None], np.sin(phase)[:, None]


# --------------------------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------------------------


class ESN:
    """An echo state network: fixed random reservoir, output feedback if asked, ridge readout.

    Args:
        units: reservoir size :math:`H`.
        spectral_radius: spectral radius of the recurrent matrix :math:`W`. Below 1 (with ``leak_rate = 1`` and no
            feedback) the states forget their initial condition, the *echo state property* in practice.
        leak_rate: :math:`\\gamma` in ``(0, 1]``; small values make slow units (a low-pass filter of the drive).
        input_scaling: half-width of the uniform input weights :math:`U`.
        density: fraction of nonzero entries of :math:`W`.
        ridge: :math:`\\beta` of the readout.
        seed: seeds every random weight (an ``int`` or a NumPy ``Generator``); the same seed gives the same
            network on every device.
        bias: half-width of the uniform reservoir bias :math:`b` (``0``, the default, for none; ``True`` means 1).
        feedback: half-width of the uniform output-feedback weights :math:`F` (``0``, the default, for none).
            With feedback, :meth:`fit` feeds back the *targets* (teacher forcing) and :meth:`predict` and
            :meth:`generate` the network's own outputs.
        noise: standard deviation of noise added to the reservoir's pre-activation while fitting (not while
            predicting); a little noise makes a feedback loop stable when it runs on its own outputs.
        readout_input: whether the readout sees :math:`x^{(t)}` besides :math:`h^{(t)}` (default ``True``).
        device: where the arrays live (``None``: the CPU). On the CPU the loop runs in NumPy, elsewhere in torch.
        dtype: ``torch.float32`` (default) or ``torch.float64`` for the reservoir; the readout is always solved
            in float64.

    Shapes. ``fit`` and ``predict`` take one sequence ``(T, D)`` (or ``(T,)`` when ``D = 1``), a batch of
    independent sequences ``(T, B, D)``, or a list of sequences of any lengths. Outputs have the same layout with
    ``K`` for ``D``, as NumPy arrays for NumPy inputs and tensors (on ``device``) for tensors. The input size
    ``D`` and output size ``K`` are taken from the first ``fit``.

    Attributes (after ``fit``): ``W (H, H)``, ``U (H, D)``, ``b (H,)``, ``F (H, K)`` or ``None``,
    ``readout (K, 1 + D + H)`` (or ``(K, 1 + H)``), ``state`` — the last state ``(H,)`` or ``(B, H)`` — and
    ``last_output``. :meth:`states` runs the reservoir and returns every state.
    """

    def __init__(
        self,
        units: int = 500,
        spectral_radius: float = 0.9,
        leak_rate: float = 1.0,
        input_scaling: float = 1.0,
        density: float = 0.1,
        ridge: float = 1e-6,
        seed: int | np.random.Generator | None = None,
        bias: float = 0.0,
        feedback: float = 0.0,
        noise: float = 0.0,
        readout_input: bool = True,
        device: str | torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if units < 1:
            raise ValueError(f"units must be >= 1, got {units}")
        if not 0 < leak_rate <= 1:
            raise ValueError(f"leak_rate must be in (0, 1], got {leak_rate}")
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.units = units
        self.spectral_radius = float(spectral_radius)
        self.leak_rate = float(leak_rate)
        self.input_scaling = float(input_scaling)
        self.density = float(density)
        self.ridge = float(ridge)
        self.bias_scaling = float(bias)
        self.feedback_scaling = float(feedback)
        self.noise = float(noise)
        self.readout_input = readout_input
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.dtype = dtype
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self._xp: Any = np if self.device.type == "cpu" else torch
        self.W: Any = None
        self.U: Any = None
        self.b: Any = None
        self.F: Any = None
        self.readout: Any = None
        self.state: Any = None
        self.last_output: Any = None
        self._gram: np.ndarray | None = None
        self._cross: np.ndarray | None = None
        self.input_size: int | None = None
        self.output_size: int | None = None
        self._kind = "numpy"

    # ---- construction --------------------------------------------------------------------------------------

    def initialize(self, input_size: int, output_size: int) -> ESN:
        """Draw the fixed weights for ``input_size`` inputs and ``output_size`` outputs (done by the first
        ``fit``; call it yourself to time the construction apart, or to reuse one reservoir)."""
        rng = self._rng
        W = random_reservoir(self.units, self.spectral_radius, self.density, rng)
        U = rng.uniform(-self.input_scaling, self.input_scaling, (self.units, input_size))
        b = rng.uniform(-self.bias_scaling, self.bias_scaling, self.units)
        F = rng.uniform(-self.feedback_scaling, self.feedback_scaling, (self.units, output_size))
        self.W, self.U, self.b = self._array(W), self._array(U), self._array(b)
        self.F = self._array(F) if self.feedback_scaling > 0 else None
        self.input_size, self.output_size = input_size, output_size
        return self

    @classmethod
    def from_weights(
        cls, W: ArrayLike, U: ArrayLike, b: ArrayLike | None = None, F: ArrayLike | None = None, **kwargs: Any
    ) -> ESN:
        """An ESN with given fixed weights (e.g. another library's reservoir); ``kwargs`` as for the constructor."""
        W_ = _as_numpy(W).astype(np.float64)
        model = cls(units=W_.shape[0], **kwargs)
        U_ = _as_numpy(U).astype(np.float64).reshape(W_.shape[0], -1)
        model.W, model.U = model._array(W_), model._array(U_)
        model.b = model._array(np.zeros(W_.shape[0]) if b is None else _as_numpy(b).astype(np.float64).ravel())
        model.F = None if F is None else model._array(_as_numpy(F).astype(np.float64).reshape(W_.shape[0], -1))
        model.input_size = U_.shape[1]
        model.output_size = None if F is None else model.F.shape[1]
        return model

    # ---- running the reservoir -----------------------------------------------------------------------------

    def states(self, inputs: ArrayLike, h0: ArrayLike | None = None) -> ArrayLike:
        """Run the reservoir over ``inputs`` (no feedback of outputs) and return every state,
        ``(T, H)`` or ``(T, B, H)``, in the input's kind. The run starts from ``h0`` (default zeros)."""
        self._need_weights()
        if self.F is not None:
            raise ValueError("this ESN feeds its outputs back: use predict(); states() has no outputs to feed")
        xs, kind = self._prepare(inputs, self.input_size)
        h = self._initial(h0, xs)
        collected = []
        for start in range(0, xs.shape[0], _CHUNK):
            chunk, h, _ = self._run_chunk(xs[start : start + _CHUNK], h, None, None, noise=False)
            collected.append(chunk)
        self.state = h
        out = self._xp.concatenate(collected) if self._xp is np else torch.cat(collected)
        return self._deliver(out, kind)

    # ---- training ------------------------------------------------------------------------------------------

    def fit(
        self,
        inputs: ArrayLike | Sequence[ArrayLike],
        targets: ArrayLike | Sequence[ArrayLike],
        warmup: int = 0,
    ) -> ESN:
        """Fit the readout by ridge regression; the first ``warmup`` steps of each sequence are run but not used.

        Returns ``self``. The normal equations are kept, so :meth:`refit` solves for another ``ridge`` at once.
        """
        pairs = self._pairs(inputs, targets)
        if self.W is None:
            self.initialize(pairs[0][0].shape[-1], pairs[0][1].shape[-1])
        elif self.output_size is None:
            self.output_size = pairs[0][1].shape[-1]
        width = 1 + self.units + (self.input_size if self.readout_input else 0)
        gram = np.zeros((width, width))
        cross = np.zeros((width, self.output_size))
        used = 0
        for xs, ys in pairs:
            if xs.shape[-1] != self.input_size or ys.shape[-1] != self.output_size:
                raise ValueError(
                    f"expected inputs (..., {self.input_size}) and targets (..., {self.output_size}), "
                    f"got {tuple(xs.shape)} and {tuple(ys.shape)}"
                )
            h = self._initial(None, xs)
            previous = self._zeros_like_output(xs)
            for start in range(0, xs.shape[0], _CHUNK):
                x_chunk, y_chunk = xs[start : start + _CHUNK], ys[start : start + _CHUNK]
                fed = None
                if self.F is not None:  # teacher forcing: the target of the previous step
                    fed = self._xp.concatenate([previous[None], y_chunk[:-1]]) if self._xp is np else torch.cat(
                        [previous[None], y_chunk[:-1]]
                    )
                    previous = y_chunk[-1]
                chunk, h, _ = self._run_chunk(x_chunk, h, fed, None, noise=True)
                last_target = y_chunk[-1]
                skip = max(0, warmup - start)
                if skip >= chunk.shape[0]:
                    continue
                features = self._features(x_chunk[skip:], chunk[skip:])
                targets_used = _to_numpy64(y_chunk[skip:]).reshape(-1, self.output_size)
                gram += features.T @ features
                cross += features.T @ targets_used
                used += features.shape[0]
            self.state, self.last_output = h, last_target
        if used == 0:
            raise ValueError(f"warmup={warmup} leaves no training steps")
        self._gram, self._cross = gram, cross
        return self.refit(self.ridge)

    def refit(self, ridge: float) -> ESN:
        """Solve the readout again for another :math:`\\beta`, from the normal equations of the last ``fit``."""
        if self._gram is None or self._cross is None:
            raise RuntimeError("call fit() before refit()")
        penalty = np.full(self._gram.shape[0], float(ridge))
        penalty[0] = 0.0
        solution = np.linalg.solve(self._gram + np.diag(penalty), self._cross)
        self.ridge = float(ridge)
        self.readout = self._array(solution.T)
        return self

    # ---- prediction ----------------------------------------------------------------------------------------

    def predict(
        self,
        inputs: ArrayLike | Sequence[ArrayLike],
        h0: ArrayLike | None = None,
        resume: bool = False,
        return_states: bool = False,
    ) -> Any:
        """Outputs for ``inputs``, ``(T, K)`` (or ``(T, B, K)``, or a list).

        The run starts from ``h0`` (default zeros), or with ``resume=True`` from where the last ``fit`` or
        ``predict`` stopped (``state`` and ``last_output``): use it to continue a series past its training part.
        From zeros the first outputs are a transient; discard them as ``fit`` discards its warm-up.
        With feedback, each step feeds back the previous *prediction* (from zeros, the first step feeds zeros).
        Leaves ``state`` and ``last_output`` at the end of the sequence, ready for :meth:`generate`.
        With ``return_states=True`` returns ``(outputs, states)``, the states ``(T, H)`` (or ``(T, B, H)``).
        """
        self._need_readout()
        if isinstance(inputs, (list, tuple)):
            return [self.predict(item, h0, return_states=return_states) for item in inputs]
        xs, kind = self._prepare(inputs, self.input_size)
        if resume:
            if self.state is None or h0 is not None:
                raise ValueError("resume=True continues from the last run's state: give no h0, and fit() first")
            if tuple(self.state.shape) != tuple(self._initial(None, xs).shape):
                raise ValueError(
                    f"cannot resume: the last run's state has shape {tuple(self.state.shape)}, these inputs need "
                    f"{tuple(self._initial(None, xs).shape)}"
                )
            h, previous = self.state, self.last_output
        else:
            h = self._initial(h0, xs)
            previous = self._zeros_like_output(xs)
        outputs, states = [], []
        for start in range(0, xs.shape[0], _CHUNK):
            x_chunk = xs[start : start + _CHUNK]
            if self.F is None:
                chunk, h, _ = self._run_chunk(x_chunk, h, None, None, noise=False)
                y_chunk = self._readout(x_chunk, chunk)
            else:
                chunk, h, y_chunk = self._run_chunk(x_chunk, h, None, previous, noise=False)
            previous = y_chunk[-1]
            outputs.append(y_chunk)
            if return_states:
                states.append(chunk)
        self.state, self.last_output, self._kind = h, previous, kind
        join = np.concatenate if self._xp is np else torch.cat
        out = self._deliver(join(outputs), kind)
        if return_states:
            return out, self._deliver(join(states), kind)
        return out

    def generate(self, steps: int, inputs: ArrayLike | None = None) -> Any:
        """Run closed-loop for ``steps`` steps from the current ``state`` and ``last_output``.

        Without ``inputs``, each output becomes the next input (the network predicts its own input one step ahead,
        so ``K`` must equal ``D``): free-running generation of a series. With ``inputs`` ``(steps, D)`` the network
        is driven by them and only its output feedback closes the loop. Returns ``(steps, K)`` (or batched).
        """
        self._need_readout()
        if self.state is None or self.last_output is None:
            raise RuntimeError("call predict() on a lead-in sequence first: generate() continues from its end")
        xp = self._xp
        if inputs is None:
            if self.input_size != self.output_size:
                raise ValueError(
                    f"free-running generation feeds each output back as the next input, so it needs as many "
                    f"outputs as inputs; this ESN has {self.input_size} inputs and {self.output_size} outputs"
                )
            kind = self._kind
        else:
            xs, kind = self._prepare(inputs, self.input_size)
            steps = xs.shape[0]
        h, previous = self.state, self.last_output
        outputs = []
        for t in range(steps):
            x_t = previous if inputs is None else xs[t]
            pre = self._project(x_t[None])[0] + h @ self.W.T
            if self.F is not None:
                pre = pre + previous @ self.F.T
            h = (1.0 - self.leak_rate) * h + self.leak_rate * xp.tanh(pre)
            previous = self._readout(x_t[None], h[None])[0]
            outputs.append(previous)
        self.state, self.last_output = h, previous
        out = xp.stack(outputs)
        return self._deliver(out, kind)

    # ---- internals -----------------------------------------------------------------------------------------

    def _run_chunk(self, xs: Any, h: Any, fed: Any, previous: Any, noise: bool) -> tuple[Any, Any, Any]:
        """Run steps over ``xs``; feed back ``fed`` (given outputs) or, if ``previous`` is set, the readout's own
        outputs. Returns ``(states, last state, outputs or None)``."""
        xp = self._xp
        drive = self._project(xs)  # U x + b for the whole chunk: one matrix product
        if fed is not None:
            drive = drive + fed @ self.F.T
        if noise and self.noise > 0:
            drive = drive + self._array(self._rng.normal(0.0, self.noise, tuple(drive.shape)))
        states = xp.empty_like(drive) if xp is np else torch.empty_like(drive)
        a, keep = self.leak_rate, 1.0 - self.leak_rate
        W_T = self.W.T
        outputs = None
        if previous is None:
            for t in range(drive.shape[0]):
                h = keep * h + a * xp.tanh(h @ W_T + drive[t])
                states[t] = h
        else:  # closed loop on the outputs: the readout runs inside the loop
            outputs = []
            F_T = self.F.T
            for t in range(drive.shape[0]):
                h = keep * h + a * xp.tanh(h @ W_T + drive[t] + previous @ F_T)
                states[t] = h
                previous = self._readout(xs[t][None], h[None])[0]
                outputs.append(previous)
            outputs = xp.stack(outputs)
        return states, h, outputs

    def _project(self, xs: Any) -> Any:
        return xs @ self.U.T + self.b

    def _features(self, xs: Any, hs: Any) -> np.ndarray:
        parts = [np.ones((*hs.shape[:-1], 1))]
        if self.readout_input:
            parts.append(_to_numpy64(xs))
        parts.append(_to_numpy64(hs))
        return np.concatenate(parts, axis=-1).reshape(-1, self._gram_width())

    def _gram_width(self) -> int:
        return 1 + self.units + (self.input_size or 0) * self.readout_input

    def _readout(self, xs: Any, hs: Any) -> Any:
        V = self.readout
        out = hs @ V[:, -self.units :].T + V[:, 0]
        if self.readout_input:
            out = out + xs @ V[:, 1 : 1 + self.input_size].T
        return out

    def _array(self, value: np.ndarray) -> Any:
        if self._xp is np:
            return np.ascontiguousarray(value, dtype=_NUMPY_DTYPES[self.dtype])
        return torch.as_tensor(value, dtype=self.dtype, device=self.device)

    def _initial(self, h0: ArrayLike | None, xs: Any) -> Any:
        shape = (xs.shape[1], self.units) if xs.ndim == 3 else (self.units,)
        if h0 is None:
            return self._array(np.zeros(shape))
        h = _as_numpy(h0).astype(np.float64)
        if h.shape != shape:
            raise ValueError(f"h0 should have shape {shape}, got {tuple(h.shape)}")
        return self._array(h)

    def _zeros_like_output(self, xs: Any) -> Any:
        size = self.output_size or 1
        shape = (xs.shape[1], size) if xs.ndim == 3 else (size,)
        return self._array(np.zeros(shape))

    def _prepare(self, inputs: ArrayLike, width: int | None) -> tuple[Any, str]:
        kind = "tensor" if isinstance(inputs, Tensor) else "numpy"
        array = _as_numpy(inputs).astype(np.float64)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim not in (2, 3):
            raise ValueError(f"expected inputs of shape (T, D) or (T, B, D), got {tuple(array.shape)}")
        if width is not None and array.shape[-1] != width:
            raise ValueError(f"this ESN was fitted with {width} input features, got {array.shape[-1]}")
        if not np.isfinite(array).all():
            raise ValueError("the inputs contain NaN or infinite values")
        return self._array(array), kind

    def _pairs(self, inputs: Any, targets: Any) -> list[tuple[Any, Any]]:
        if isinstance(inputs, (list, tuple)):
            if not isinstance(targets, (list, tuple)) or len(inputs) != len(targets):
                raise ValueError("a list of input sequences needs a list of target sequences of the same length")
            pairs = list(zip(inputs, targets))
        else:
            pairs = [(inputs, targets)]
        prepared = []
        for x, y in pairs:
            xs, _ = self._prepare(x, self.input_size)
            ys, _ = self._prepare(y, self.output_size)
            if ys.shape[:-1] != xs.shape[:-1]:
                raise ValueError(
                    f"inputs {tuple(xs.shape)} and targets {tuple(ys.shape)} must agree in every axis but the last"
                )
            prepared.append((xs, ys))
        return prepared

    def _deliver(self, out: Any, kind: str) -> Any:
        if kind == "tensor":
            return out if isinstance(out, Tensor) else torch.from_numpy(np.ascontiguousarray(out))
        # NumPy in, NumPy out (a copy, so that later runs cannot change what was returned)
        return out.detach().cpu().numpy() if isinstance(out, Tensor) else out

    def _need_weights(self) -> None:
        if self.W is None:
            raise RuntimeError("the reservoir has no weights yet: call fit() or initialize() first")

    def _need_readout(self) -> None:
        if self.readout is None:
            raise RuntimeError("the readout is not trained yet: call fit() first")

    def __repr__(self) -> str:
        return (
            f"ESN(units={self.units}, spectral_radius={self.spectral_radius}, leak_rate={self.leak_rate}, "
            f"input_scaling={self.input_scaling}, density={self.density}, ridge={self.ridge}, "
            f"bias={self.bias_scaling}, feedback={self.feedback_scaling}, device={self.device}, dtype={self.dtype})"
        )


_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def _as_numpy(value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _to_numpy64(value: Any) -> np.ndarray:
    return _as_numpy(value).astype(np.float64)
