"""Self-checks for exercise 4 (*Echo state networks*).

Four NumPy functions: scaling a matrix to a spectral radius, running a leaky reservoir over a sequence, the
ridge-regression readout with an unpenalised bias, and choosing the ridge on validation data by the NRMSE.
The references adapt :mod:`rnncourse.esn` to the exercise's signatures: ``choose_ridge`` here returns the
readout fitted with the chosen ridge and the validation error of every candidate, ``(V_h, V_0, errors)``, where
:func:`rnncourse.esn.choose_ridge` returns ``(best, errors)``. Only arrays cross the grader's sandbox boundary, so
the chosen ridge is graded through the readout it gives rather than as a bare number.

Each check draws its problems from a fixed seed, covering what the hidden cases cover: matrices whose largest
eigenvalue is a complex pair or negative, a radius of 0, ``H = 1``; leak rates below 1 and exactly 1, a given and a
missing ``h0``, one step, ``D == H``; more units than steps, ``H == K``, no ridge and a large one; outputs on very
different scales, candidates in no particular order and a single candidate. When a value is wrong, the checks try
the usual mistakes (the spectral norm for the radius, the leak the wrong way round, the bias penalised, errors
measured on the training data or not normalised, ...) and name the one that matches. The grading spec
(``solutions/ex04_esn/grading.py``) uses the same problems, references, diagnoses and hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnncourse.checks import SelfCheckError, check_items, check_own_code, check_unchanged, self_check
from rnncourse.checks.ex01 import _call, _close, _is_float_array, _is_list, _never_raises, _sizes

__all__ = [
    "CHOOSE_GRID",
    "CHOOSE_HINT",
    "LEAKY_HINT",
    "RIDGE_HINT",
    "SCALE_HINT",
    "check_choose_ridge",
    "check_choose_ridge_general",
    "check_leaky_states",
    "check_leaky_states_general",
    "check_ridge_readout",
    "check_ridge_readout_general",
    "check_scale_to_radius",
    "check_scale_to_radius_general",
    "choice_mistakes",
    "diagnose_choice",
    "diagnose_readout",
    "diagnose_scale",
    "diagnose_states",
    "leaky_mistakes",
    "random_choice_problem",
    "random_leaky_problem",
    "random_matrix",
    "random_ridge_problem",
    "random_scale_problem",
    "reference_choose_ridge",
    "reference_leaky_states",
    "reference_ridge_readout",
    "reference_scale_to_radius",
    "ridge_mistakes",
    "scale_mistakes",
    "validation_nrmse",
]

SCALE_HINT = (
    "The spectral radius is the largest modulus of an eigenvalue, rho = max |eigenvalue| "
    "(np.abs of np.linalg.eigvals(W): the eigenvalues of a non-symmetric matrix can be complex or negative); "
    "return the new, real matrix W * (radius / rho)."
)
LEAKY_HINT = (
    "Start from h0 (zeros when h0 is None); at every step h = (1 - leak_rate) * h + leak_rate * "
    "np.tanh(W @ h + U @ x + b), and store that new h. The rows are h(1), ..., h(T): h0 itself is not one."
)
RIDGE_HINT = (
    "Put a column of ones before the states, Phi = [1, states] of shape (T, 1 + H); solve "
    "(Phi.T @ Phi + ridge * I0) V = Phi.T @ targets, where I0 is the identity with a 0 in the first diagonal entry "
    "(the bias is not penalised); then V_0 is the first row of V and V_h the other rows, transposed to (K, H)."
)
CHOOSE_HINT = (
    "For each ridge, in the order given: fit on the training states and targets, predict the validation targets "
    "with val_states @ V_h.T + V_0, and score with the NRMSE (per output: the root of the mean squared error over "
    "time divided by np.std of that output's validation targets; then the mean over outputs). Return the readout "
    "of the ridge with the lowest validation NRMSE and the array of all the errors."
)




def _esn():
    """:mod:`rnncourse.esn`, imported when first needed: it imports torch, which a NumPy exercise need not wait for."""
    from rnncourse import esn

    return esn


# --------------------------------------------------------------------------- random problems


def _well_conditioned(rng: np.random.Generator, H: int) -> np.ndarray:
    """A random, clearly non-orthogonal basis (so the matrices built on it are not normal) with a modest
    condition number (so their eigenvalues are accurate to ~1e-14)."""
    while True:
        Q = np.eye(H) + 0.5 * rng.standard_normal((H, H)) / np.sqrt(H)
        if np.linalg.cond(Q) < 20:
            return Q


def random_matrix(rng: np.random.Generator, H: int, kind: str = "gaussian") -> np.ndarray:
    """A square matrix ``(H, H)`` with a nonzero spectral radius.

    ``kind``: ``"gaussian"`` (dense, random scale), ``"sparse"`` (80% zeros, like a reservoir), ``"complex"`` (the
    largest eigenvalues are a complex pair, and a real eigenvalue has a larger real part than theirs),
    ``"negative"`` (the largest eigenvalue is negative, a positive one nearly as large), ``"tiny"`` (entries near
    1e-3, so the scale factor is large).
    """
    if kind == "gaussian":
        return rng.uniform(0.3, 3.0) * rng.standard_normal((H, H)) / np.sqrt(H)
    if kind == "tiny":
        return 1e-3 * rng.standard_normal((H, H)) / np.sqrt(H)
    if kind == "sparse":
        while True:
            W = rng.standard_normal((H, H)) * (rng.random((H, H)) < 0.2)
            if np.max(np.abs(np.linalg.eigvals(W))) > 0.1:
                return W
    r = rng.uniform(0.5, 2.0)
    if kind == "complex":
        if H < 3:
            raise ValueError("a complex pair and a real eigenvalue need H >= 3")
        angle = rng.uniform(0.9, 2.2)  # the pair's real part r cos(angle) is at most 0.62 r in size
        block = np.zeros((H, H))
        block[:2, :2] = r * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        block[2, 2] = 0.8 * r
        block[3:, 3:] = np.diag(rng.uniform(-0.6 * r, 0.6 * r, H - 3))
    elif kind == "negative":
        if H < 2:
            raise ValueError("a negative and a positive eigenvalue need H >= 2")
        block = np.diag(np.concatenate([[-r, 0.8 * r], rng.uniform(-0.6 * r, 0.6 * r, H - 2)]))
    else:
        raise ValueError(f"unknown kind of matrix {kind!r}")
    Q = _well_conditioned(rng, H)
    return Q @ block @ np.linalg.inv(Q)


def random_scale_problem(rng: np.random.Generator, H: int, kind: str = "gaussian", radius: float | None = None) -> list[Any]:
    """``[W, radius]``: a matrix of :func:`random_matrix` and a target radius (random in [0.5, 1.5] unless given)."""
    W = np.array([[-rng.uniform(0.5, 2.0)]]) if kind == "scalar" else random_matrix(rng, H, kind)
    return [W, float(rng.uniform(0.5, 1.5)) if radius is None else float(radius)]


def random_leaky_problem(rng: np.random.Generator, T: int, D: int, H: int, leak_rate: float, initial: bool = True) -> list[Any]:
    """``[inputs (T, D), W (H, H), U (H, D), b (H,), leak_rate]`` and, with ``initial``, ``h0 (H,)`` (nonzero)."""
    args = [
        rng.standard_normal((T, D)),
        1.1 * rng.standard_normal((H, H)) / np.sqrt(H),
        rng.uniform(-1.0, 1.0, (H, D)),
        0.5 * rng.standard_normal(H),
        float(leak_rate),
    ]
    if initial:
        args.append(np.tanh(2.0 * rng.standard_normal(H)))
    return args


def _states(rng: np.random.Generator, T: int, H: int) -> np.ndarray:
    """Reservoir-like states: in (-1, 1), correlated, each unit with its own nonzero mean."""
    mix = rng.standard_normal((H, H)) / np.sqrt(H)
    return np.tanh(rng.standard_normal((T, H)) @ mix.T + 0.5 * rng.standard_normal(H))


def random_ridge_problem(rng: np.random.Generator, T: int, H: int, K: int, ridge: float) -> list[Any]:
    """``[states (T, H), targets (T, K), ridge]``: noisy linear targets with means far from 0 (so the bias matters)."""
    states = _states(rng, T, H)
    targets = states @ rng.standard_normal((K, H)).T + (2.0 + rng.standard_normal(K)) + 0.3 * rng.standard_normal((T, K))
    return [states, targets, float(ridge)]


def validation_nrmse(targets: np.ndarray, predictions: np.ndarray) -> float:
    """The exercise's error: per output, RMSE over time / the standard deviation of the target; mean over outputs."""
    return float(np.mean(np.sqrt(np.mean((targets - predictions) ** 2, axis=0)) / np.std(targets, axis=0)))


def _errors(args: Sequence[Any], measure: Callable[[np.ndarray, np.ndarray], float], on_training: bool = False) -> np.ndarray:
    train_states, train_targets, val_states, val_targets, ridges = args
    states, targets = (train_states, train_targets) if on_training else (val_states, val_targets)
    errors = []
    for ridge in ridges:
        V_h, V_0 = _esn().ridge_readout(train_states, train_targets, ridge)
        errors.append(measure(targets, states @ V_h.T + V_0))
    return np.array(errors)


def _rmse(targets: np.ndarray, predictions: np.ndarray) -> float:
    return float(np.mean(np.sqrt(np.mean((targets - predictions) ** 2, axis=0))))


def _separated(errors: np.ndarray, margin: float = 1e-3) -> bool:
    """The best error is clearly below the second best, so rounding cannot change which ridge is chosen."""
    ordered = np.sort(errors)
    return len(ordered) == 1 or bool(ordered[1] - ordered[0] > margin * ordered[0])


def random_choice_problem(
    rng: np.random.Generator, H: int, T_train: int, T_val: int, K: int, ridges: Sequence[float], kind: str = "noisy",
) -> list[Any]:
    """``[train_states, train_targets, val_states, val_targets, ridges]`` for :func:`reference_choose_ridge`.

    ``kind``:

    - ``"noisy"``: noisy linear targets and few training steps, so the smallest ridge overfits: the ridge with the
      lowest validation error is not the one with the lowest training error;
    - ``"scales"``: ``K = 2`` outputs on scales about 10^4 apart, the large one noiseless and the small one pure
      noise, so the NRMSE and the plain RMSE choose different ridges (and so do training and validation error);
    - ``"any"``: no condition (for a single candidate).

    Drawn again until the case separates what it is meant to: the best validation NRMSE is also at least 0.1%
    below the second best, so that no rounding can change the choice.
    """
    ridges = np.array(ridges, dtype=np.float64)
    for _ in range(500):
        states = _states(rng, T_train + T_val, H)
        if kind == "scales":
            if K != 2:
                raise ValueError("the 'scales' problem has K = 2 outputs")
            large = 100.0 * (states @ rng.standard_normal(H) + 1.0)
            small = 0.01 * (rng.standard_normal(T_train + T_val) + 0.5)
            targets = np.stack([large, small], axis=1)
        else:
            noise = 0.3 if kind == "any" else rng.uniform(1.0, 2.0)
            targets = (states @ (0.5 * rng.standard_normal((K, H))).T + rng.standard_normal(K)
                       + noise * rng.standard_normal((T_train + T_val, K))) * rng.uniform(0.5, 3.0, K)
        args = [states[:T_train], targets[:T_train], states[T_train:], targets[T_train:], ridges]
        if kind == "any":
            return args
        valid = _errors(args, validation_nrmse)
        if not _separated(valid):
            continue
        choice = int(np.argmin(valid))
        if choice == int(np.argmin(_errors(args, validation_nrmse, on_training=True))):
            continue
        if kind == "scales" and choice == int(np.argmin(_errors(args, _rmse))):
            continue
        return args
    raise RuntimeError(f"no {kind!r} problem found for H={H}, T_train={T_train}, ridges={ridges}")


# --------------------------------------------------------------------------- references


def reference_scale_to_radius(W, radius):
    """``W`` scaled to spectral radius ``radius``, from :func:`rnncourse.esn.scale_spectral_radius`."""
    return _esn().scale_spectral_radius(W, radius)


def reference_leaky_states(inputs, W, U, b, leak_rate, h0=None):
    """The states ``(T, H)``, from :func:`rnncourse.esn.reservoir_states`."""
    return _esn().reservoir_states(inputs, W, U, b, leak_rate, h0)


def reference_ridge_readout(states, targets, ridge):
    """``(V_h (K, H), V_0 (K,))``, from :func:`rnncourse._esn().ridge_readout`."""
    return _esn().ridge_readout(states, targets, ridge)


def reference_choose_ridge(train_states, train_targets, val_states, val_targets, ridges):
    """``(V_h, V_0, errors)``: the readout fitted with the ridge :func:`rnncourse.esn.choose_ridge` chooses, and its
    validation NRMSE for every candidate (in the order given)."""
    best, errors = _esn().choose_ridge(train_states, train_targets, val_states, val_targets, list(ridges))
    V_h, V_0 = _esn().ridge_readout(train_states, train_targets, best)
    return V_h, V_0, errors


# --------------------------------------------------------------------------- the usual mistakes


def scale_mistakes(W, radius) -> dict[str, np.ndarray]:
    """What a plausible wrong ``scale_to_radius`` returns, by the sentence that explains it."""
    eigenvalues = np.linalg.eigvals(W)
    rho = np.max(np.abs(eigenvalues))
    mistakes = {
        "it divides by the largest singular value (np.linalg.norm(W, 2), the spectral norm), which is at least the "
        "spectral radius and larger for a non-symmetric W: use the largest modulus of an eigenvalue":
            W * (radius / np.linalg.norm(W, 2)),
        "it divides by the Frobenius norm of W, not by its spectral radius (the largest |eigenvalue|)":
            W * (radius / np.linalg.norm(W)),
        "it divides by the largest real part of an eigenvalue: the radius is the largest modulus, np.abs(...), "
        "which counts negative and complex eigenvalues too": W * (radius / np.max(eigenvalues.real)),
        "it divides by the largest |real part| of an eigenvalue: for a complex eigenvalue the modulus is "
        "np.abs(lambda) = sqrt(re^2 + im^2), not |re|": W * (radius / np.max(np.abs(eigenvalues.real))),
        "it divides by the largest |entry| of W, not by its spectral radius": W * (radius / np.max(np.abs(W))),
        "the factor is upside down: multiply by radius / rho(W)": W * (rho / radius) if radius else W * np.inf,
        "the radius argument is ignored (the result has radius 1)": W / rho,
        "it multiplies by the radius without dividing by rho(W)": W * radius,
    }
    return {sentence: value for sentence, value in mistakes.items() if np.all(np.isfinite(value))}


def _leaky(inputs, W, U, b, leak_rate, h0=None, *, swap=False, tanh_after=False, use_h0=True, bias=True,
           transpose=False, leak=True):
    h = np.zeros(W.shape[0]) if h0 is None or not use_h0 else h0
    a = leak_rate if leak else 1.0
    M = W.T if transpose else W
    states = []
    for x in inputs:
        drive = M @ h + U @ x + (b if bias else 0.0)
        if tanh_after:
            h = np.tanh((1 - a) * h + a * drive)
        elif swap:
            h = a * h + (1 - a) * np.tanh(drive)
        else:
            h = (1 - a) * h + a * np.tanh(drive)
        states.append(h)
    return np.array(states)


def leaky_mistakes(inputs, W, U, b, leak_rate, h0=None) -> dict[str, np.ndarray]:
    """What a plausible wrong ``leaky_states`` returns, by the sentence that explains it."""
    args = (inputs, W, U, b, leak_rate, h0)
    right = _leaky(*args)
    start = np.zeros(W.shape[0]) if h0 is None else h0
    mistakes = {
        "the leak is the wrong way round: the old state keeps the share (1 - leak_rate) and the new tanh(...) gets "
        "leak_rate, h = (1 - leak_rate) * h + leak_rate * tanh(W h + U x + b)": _leaky(*args, swap=True),
        "tanh is applied after leaking: leak the tanh, h = (1 - leak_rate) * h + leak_rate * tanh(W h + U x + b)":
            _leaky(*args, tanh_after=True),
        "the leak rate is ignored (as if it were 1): h = (1 - leak_rate) * h + leak_rate * tanh(...)": _leaky(*args, leak=False),
        "h0 is ignored: the run starts from the given h0 (from zeros only when h0 is None)": _leaky(*args, use_h0=False),
        "the rows are one step late: the first row is h0 and h(T) is missing; store each state after computing it":
            np.vstack([start[None], right[:-1]]),
        "the bias b is missing: h = (1 - leak_rate) * h + leak_rate * tanh(W h + U x + b)": _leaky(*args, bias=False),
        "W is transposed: for a 1-D state h the maths W h is `W @ h` (`h @ W` is W^T h)": _leaky(*args, transpose=True),
        "the state is not carried from step to step: every step starts again from h0; each step must start from "
        "the h the previous step computed": np.array([_leaky(x[None], W, U, b, leak_rate, h0)[0] for x in inputs]),
    }
    return {sentence: value for sentence, value in mistakes.items() if not _close(value, right)}


def _ridge(states, targets, ridge, *, bias=True, penalise_bias=False):
    features = np.hstack([np.ones((states.shape[0], 1)), states]) if bias else states
    penalty = ridge * np.eye(features.shape[1])
    if bias and not penalise_bias:
        penalty[0, 0] = 0.0
    weights = np.linalg.solve(features.T @ features + penalty, features.T @ targets)
    if not bias:
        return weights.T, np.zeros(targets.shape[1])
    return weights[1:].T, weights[0]


def _least_squares(states, targets):
    Phi = np.hstack([np.ones((states.shape[0], 1)), states])
    V = np.linalg.lstsq(Phi, targets, rcond=None)[0]
    return V[1:].T, V[0]


def _centred_bias_mean(states, targets, ridge):
    V_h, _ = _ridge(states, targets, ridge)
    return V_h, targets.mean(axis=0)


def ridge_mistakes(states, targets, ridge) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What a plausible wrong ``ridge_readout`` returns, by the sentence that explains it."""
    T = states.shape[0]
    candidates = {
        "the bias is penalised too: the first diagonal entry of the penalty (the bias's) must be 0":
            lambda: _ridge(states, targets, ridge, penalise_bias=True),
        "there is no bias (V_0 is zero): put a column of ones before the states, and V_0 is the weight it gets":
            lambda: _ridge(states, targets, ridge, bias=False),
        "the ridge is missing (this is ordinary least squares): add ridge * I0 to Phi.T @ Phi":
            lambda: _least_squares(states, targets),
        "the penalty is ridge squared: with extra rows appended to Phi, they are sqrt(ridge) * I0, not ridge * I0":
            lambda: _ridge(states, targets, ridge**2),
        "the penalty is the square root of the ridge: it is ridge * I0 on the diagonal of Phi.T @ Phi":
            lambda: _ridge(states, targets, np.sqrt(ridge)),
        "the penalty is ridge * T (as for the mean squared error): here the squared errors are summed, so it is ridge":
            lambda: _ridge(states, targets, ridge * T),
        "the penalty is ridge / T: here the squared errors are summed, so it is ridge":
            lambda: _ridge(states, targets, ridge / T),
        "V_0 is the mean of the targets: the bias also makes up for the mean of the states, "
        "V_0 = mean(targets) - V_h @ mean(states) (the first row of the solution)":
            lambda: _centred_bias_mean(states, targets, ridge),
    }
    right = _ridge(states, targets, ridge)
    mistakes = {}
    for sentence, make in candidates.items():
        try:
            value = make()
        except np.linalg.LinAlgError:
            continue
        if not (_close(value[0], right[0]) and _close(value[1], right[1])):
            mistakes[sentence] = value
    return mistakes


def choice_mistakes(train_states, train_targets, val_states, val_targets, ridges) -> dict[str, tuple[np.ndarray, ...]]:
    """What a plausible wrong ``choose_ridge`` returns, by the sentence that explains it."""
    args = (train_states, train_targets, val_states, val_targets, ridges)
    right = reference_choose_ridge(*args)

    def readout(errors: np.ndarray, pick: Callable[[np.ndarray], int] = np.argmin) -> tuple[np.ndarray, np.ndarray]:
        return _esn().ridge_readout(train_states, train_targets, ridges[pick(errors)])

    def with_errors(errors: np.ndarray) -> tuple[np.ndarray, ...]:
        return (*readout(errors), errors)

    def ddof1(y, p):
        return float(np.mean(np.sqrt(np.mean((y - p) ** 2, axis=0)) / np.std(y, axis=0, ddof=1)))

    def pooled(y, p):
        return float(np.sqrt(np.mean((y - p) ** 2)) / np.std(y))

    def variance(y, p):
        return float(np.mean(np.mean((y - p) ** 2, axis=0) / np.var(y, axis=0)))

    training = _errors(args, validation_nrmse, on_training=True)
    order = np.argsort(ridges, kind="stable")
    by_training, worst = int(np.argmin(training)), int(np.argmax(right[2]))
    mistakes = {
        "the errors are measured on the training data: fit on the training data, but score on the validation data":
            with_errors(training),
        "the errors are in the order of the sorted candidates: give them in the order of `ridges`, and take the ridge "
        "from `ridges` at the position of the smallest error": (*right[:2], right[2][order]),
    }
    if by_training == worst:
        mistakes["the readout is that of the ridge with the lowest training error, which here is also the one with the "
                 "highest validation error: choose the ridge whose validation error is the lowest (np.argmin)"] = (
            *readout(training), right[2])
    else:
        mistakes["the ridge is chosen by its training error: choose the one with the lowest validation error"] = (
            *readout(training), right[2])
        mistakes["the worst ridge is chosen (argmax): keep the one with the lowest validation error"] = (
            *readout(right[2], np.argmax), right[2])
    mistakes |= {
        "the errors are not normalised (RMSE): divide each output's RMSE by np.std of its validation targets":
            with_errors(_errors(args, _rmse)),
        "the errors are normalised by the variance (a normalised MSE): the NRMSE is sqrt(mean squared error) / std":
            with_errors(_errors(args, variance)),
        "the standard deviation has ddof=1: the NRMSE divides by np.std(targets, axis=0), with the default ddof=0":
            with_errors(_errors(args, ddof1)),
        "the outputs are pooled: compute the RMSE and the standard deviation per output (axis=0), divide, and then "
        "average the ratios over outputs": with_errors(_errors(args, pooled)),
        "the readout returned is the last candidate's: refit (or keep) the one with the lowest validation error":
            (*_esn().ridge_readout(train_states, train_targets, ridges[-1]), right[2]),
    }
    return {
        s: v for s, v in mistakes.items()
        if not all(_close(np.asarray(a), np.asarray(b)) for a, b in zip(v, right))
    }


def _listish(value: Any) -> bool:
    """A list, in this kernel or as the grader describes it after the wire ("a list (expected a NumPy array)")."""
    return _is_list(value) or (isinstance(value, str) and value.startswith("a list"))


def _matching_mistake(value: Any, mistakes: dict[str, Any]) -> str | None:
    for sentence, wrong in mistakes.items():
        if isinstance(wrong, tuple):
            if isinstance(value, tuple) and len(value) == len(wrong) and all(
                _is_float_array(v) and _close(v, np.asarray(w)) for v, w in zip(value, wrong)
            ):
                return sentence
        elif _is_float_array(value) and _close(value, wrong):
            return sentence
    return None


# --------------------------------------------------------------------------- diagnoses (from the result alone)


@_never_raises
def diagnose_scale(value: Any, expected: Any) -> str | None:
    """A complex result, or a multiple of the right matrix by the wrong factor."""
    expected = np.asarray(expected)
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        return ("returned a complex array: the eigenvalues may be complex, but the radius is their largest modulus "
                "(np.abs), a real number, and the result is W times a real factor")
    if not (_is_float_array(value) and value.shape == expected.shape) or _close(value, expected):
        return None
    if not np.any(expected):
        if np.all(np.isfinite(value)):
            return "returned a nonzero matrix for radius 0: the only matrix of spectral radius 0 that is a multiple of W is 0 * W"
        return None
    where = np.abs(expected) > 1e-12 * np.max(np.abs(expected))
    ratio = value[where] / expected[where]
    if np.all(np.isfinite(ratio)) and np.allclose(ratio, ratio[0], rtol=1e-6) and abs(ratio[0]) > 1e-12:
        return (f"returned {ratio[0]:.6g} times the right matrix: the factor is radius / rho(W), where rho(W) is the "
                "largest |eigenvalue| of W")
    return None


@_never_raises
def diagnose_states(value: Any, expected: Any) -> str | None:
    """The usual shape mistakes of ``leaky_states``: a list, only the last state, h0 included, rows one step late."""
    expected = np.asarray(expected)
    T, H = expected.shape
    want = f"the T states stacked as rows, (T, H) = {expected.shape}"
    if _listish(value):
        return f"returned a list; expected one array of {want}: `np.array(states)`"
    if isinstance(value, tuple):
        return f"returned a tuple of {len(value)} items; expected only the array of {want}"
    if not _is_float_array(value):
        return None
    if value.shape == (H,):
        return f"returned only one state, shape {value.shape}; expected {want}: keep every new state"
    if value.shape == (T + 1, H):
        return f"returned T+1 = {T + 1} rows: leave h0 out; the rows are h(1), ..., h(T), (T, H) = {expected.shape}"
    if value.shape == (H, T) and H != T:
        return f"returned shape (H, T) = {value.shape}: one row per time step, (T, H) = {expected.shape}"
    if value.shape == expected.shape and T > 1 and not _close(value, expected) and _close(value[1:], expected[:-1]):
        return "returned every state one step late (the first row is h0, h(T) is missing): store each state after computing it"
    return None


@_never_raises
def diagnose_readout(value: Any, expected: Any) -> str | None:
    """The usual shape mistakes of ``ridge_readout``: one array, the pair swapped, V_h transposed, V_0 not (K,)."""
    V_h, V_0 = (np.asarray(e) for e in expected)
    K, H = V_h.shape
    want = f"the tuple (V_h, V_0), shapes (K, H) = {V_h.shape} and (K,) = {V_0.shape}"
    if _listish(value):
        return f"returned a list; expected {want}: `return V_h, V_0`"
    if _is_float_array(value):
        if value.shape in ((K, H + 1), (H + 1, K)):
            return f"returned one array of shape {value.shape} with the bias and the weights together; expected {want}"
        return f"returned one array of shape {value.shape}; expected {want}"
    if not isinstance(value, tuple):
        return None
    if len(value) != 2:
        return f"returned {len(value)} items; expected {want}"
    got_h, got_0 = value
    if not (_is_float_array(got_h) and _is_float_array(got_0)):
        return None
    if got_h.shape == V_0.shape and got_0.shape == V_h.shape and V_h.shape != V_0.shape:
        return f"returned (V_0, V_h): the order is {want}"
    if got_h.shape == (H, K) and H != K:
        return f"returned V_h (item 0) with shape (H, K) = {got_h.shape}: it is (K, H) = {V_h.shape}, one row per output"
    if H == K and got_h.shape == V_h.shape and _close(got_h, V_h.T) and not _close(got_h, V_h):
        return "returned V_h (item 0) transposed: it is (K, H), one row per output, so that predictions are states @ V_h.T + V_0"
    if got_0.shape != V_0.shape and got_0.size == V_0.size:
        return f"returned V_0 (item 1) with shape {got_0.shape}: it is a vector, (K,) = {V_0.shape}"
    if got_0.shape == V_0.shape and not np.any(got_0) and np.any(V_0):
        return "returned V_0 = 0: the readout has a bias, the weight of a constant feature 1 put before the states"
    return None


@_never_raises
def diagnose_choice(value: Any, expected: Any) -> str | None:
    """The usual shape mistakes of ``choose_ridge``: not three items (the best ridge returned), errors as a list."""
    V_h, V_0, errors = (np.asarray(e) for e in expected)
    want = f"the tuple (V_h, V_0, errors), shapes (K, H) = {V_h.shape}, (K,) = {V_0.shape} and (number of ridges,) = {errors.shape}"
    if _listish(value) or _is_float_array(value):
        return f"returned {'a list' if _listish(value) else 'one array'}; expected {want}"
    if not isinstance(value, tuple):
        return None
    if len(value) != 3:
        return (f"returned {len(value)} items; expected {want}: the readout fitted with the best ridge, and the "
                "validation error of every candidate")
    if _listish(value[2]):
        return "returned the errors (item 2) as a list: return them as a NumPy array, `np.array(errors)`"
    if _is_float_array(value[2]) and value[2].shape != errors.shape:
        return f"returned errors (item 2) of shape {value[2].shape}: one number per candidate ridge, {errors.shape}"
    return None


# --------------------------------------------------------------------------- running a check


def _copy(args: Sequence[Any]) -> list[Any]:
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _check_numpy_call(task, func, names, args, reference, items, hint, diagnose, mistakes, rtol=1e-9, atol=1e-11):
    """Call ``func`` on copies of ``args``; refuse in-place changes; if the result is wrong, name the mistake or
    the problem with its form; then compare every item as the grader does."""
    expected = reference(*_copy(args))
    copies = _copy(args)
    got = _call(task, func, *copies, hint=hint)
    check_unchanged(task, names, args, copies)
    is_tuple = isinstance(expected, tuple)
    right = (
        (is_tuple and isinstance(got, tuple) and len(got) == len(expected)
         and all(_is_float_array(g) and g.shape == np.shape(e) and np.allclose(g, e, rtol=rtol, atol=atol)
                 for g, e in zip(got, expected)))
        or (not is_tuple and _is_float_array(got) and got.shape == expected.shape
            and np.allclose(got, expected, rtol=rtol, atol=atol))
    )
    if not right:
        with np.errstate(all="ignore"):
            sentence = _matching_mistake(got, mistakes(*_copy(args)))
        if sentence:
            raise SelfCheckError(f"{task} is wrong: {sentence}.")
        problem = diagnose(got, expected)
        if problem:
            raise SelfCheckError(f"{task} {problem}.")
    check_items(task, got, expected, items, hint=hint, rtol=rtol, atol=atol)
    return got


# --------------------------------------------------------------------------- part 1: spectral radius

SCALE_TASK = "scale_to_radius(W, radius)"


def _check_scale_on(scale_to_radius, cases) -> None:
    check_own_code(scale_to_radius, SCALE_TASK)
    for label, args in cases:
        _check_numpy_call(f"{SCALE_TASK} with {label}", scale_to_radius, ["W", "radius"], args,
                          reference_scale_to_radius, ("W_scaled (H, H)",), SCALE_HINT, diagnose_scale, scale_mistakes)


@self_check
def check_scale_to_radius(scale_to_radius: Callable[..., Any], seed: int = 40) -> None:
    """Dense random matrices of two sizes and a sparse one, scaled up and down."""
    rng = np.random.default_rng(seed)
    _check_scale_on(scale_to_radius, [
        ("a dense 5 x 5 W, radius 0.9", random_scale_problem(rng, 5, "gaussian", 0.9)),
        ("a dense 20 x 20 W, radius 1.3", random_scale_problem(rng, 20, "gaussian", 1.3)),
        ("a sparse 30 x 30 W, radius 0.95", random_scale_problem(rng, 30, "sparse", 0.95)),
    ])
    print("scale_to_radius: the result has the requested spectral radius for dense 5 x 5 and 20 x 20 matrices and "
          "a sparse 30 x 30 one.")


@self_check
def check_scale_to_radius_general(scale_to_radius: Callable[..., Any], seed: int = 41) -> None:
    """Largest eigenvalues a complex pair, or negative; ``H = 1``; radius 0; a large factor; inputs unchanged."""
    rng = np.random.default_rng(seed)
    _check_scale_on(scale_to_radius, [
        ("a 6 x 6 W whose largest eigenvalues are a complex pair", random_scale_problem(rng, 6, "complex")),
        ("a 5 x 5 W whose largest eigenvalue is negative", random_scale_problem(rng, 5, "negative")),
        ("a 1 x 1 W with a negative entry", random_scale_problem(rng, 1, "scalar")),
        ("radius 0", random_scale_problem(rng, 4, "gaussian", 0.0)),
        ("a 7 x 7 W with entries near 0.001, radius 2", random_scale_problem(rng, 7, "tiny", 2.0)),
    ])
    print("scale_to_radius: correct when the largest eigenvalues are complex or negative, for H = 1, radius 0 and "
          "a large factor; W is untouched.")


# --------------------------------------------------------------------------- part 2: the leaky reservoir

LEAKY_TASK = "leaky_states(inputs, W, U, b, leak_rate, h0)"
LEAKY_NAMES = ["inputs", "W", "U", "b", "leak_rate", "h0"]


def _leaky_label(T, D, H, leak_rate, initial) -> str:
    return f"{_sizes(T=T, D=D, H=H)}, leak_rate={leak_rate:g}, " + ("h0 given" if initial else "h0=None")


def _check_leaky_on(leaky_states, rng, cases) -> None:
    check_own_code(leaky_states, LEAKY_TASK)
    for T, D, H, leak_rate, initial in cases:
        args = random_leaky_problem(rng, T, D, H, leak_rate, initial)
        task = LEAKY_TASK if initial else LEAKY_TASK.replace(", h0)", ")")
        _check_numpy_call(f"{task} with {_leaky_label(T, D, H, leak_rate, initial)}", leaky_states, LEAKY_NAMES, args,
                          reference_leaky_states, ("states (T, H)",), LEAKY_HINT, diagnose_states, leaky_mistakes)


@self_check
def check_leaky_states(leaky_states: Callable[..., Any], seed: int = 42) -> None:
    """Two leaky runs, one from a given ``h0`` and one from zeros."""
    _check_leaky_on(leaky_states, np.random.default_rng(seed), [(20, 2, 5, 0.3, True), (12, 1, 8, 0.7, False)])
    print("leaky_states: correct for T=20, D=2, H=5, leak rate 0.3 from a given h0, and T=12, D=1, H=8, leak rate "
          "0.7 from zeros.")


@self_check
def check_leaky_states_general(leaky_states: Callable[..., Any], seed: int = 43) -> None:
    """Leak rate 1, one step, ``D == H``, ``H = 1``, a long slow run from ``h0``; inputs unchanged."""
    cases = [(8, 3, 4, 1.0, False), (1, 2, 3, 0.4, True), (10, 4, 4, 0.6, True), (15, 2, 1, 0.25, True),
             (150, 1, 10, 0.05, True)]
    _check_leaky_on(leaky_states, np.random.default_rng(seed), cases)
    print("leaky_states: correct with leak rate 1 (no leak), for one step, D == H, H = 1 and a slow 150-step run; "
          "the inputs, h0 included, are untouched.")


# --------------------------------------------------------------------------- part 3: the ridge readout

RIDGE_TASK = "ridge_readout(states, targets, ridge)"
RIDGE_ITEMS = ("V_h (K, H)", "V_0 (K,)")


def _check_ridge_on(ridge_readout, rng, cases) -> None:
    check_own_code(ridge_readout, RIDGE_TASK)
    for T, H, K, ridge in cases:
        args = random_ridge_problem(rng, T, H, K, ridge)
        _check_numpy_call(f"{RIDGE_TASK} with {_sizes(T=T, H=H, K=K)}, ridge={ridge:g}", ridge_readout,
                          ["states", "targets", "ridge"], args, reference_ridge_readout, RIDGE_ITEMS, RIDGE_HINT,
                          diagnose_readout, ridge_mistakes, rtol=1e-7, atol=1e-9)


@self_check
def check_ridge_readout(ridge_readout: Callable[..., Any], seed: int = 44) -> None:
    """Two readouts: two outputs and one."""
    _check_ridge_on(ridge_readout, np.random.default_rng(seed), [(50, 6, 2, 0.5), (40, 4, 1, 2.0)])
    print("ridge_readout: V_h and V_0 correct for T=50, H=6, K=2, ridge 0.5 and T=40, H=4, K=1, ridge 2.")


@self_check
def check_ridge_readout_general(ridge_readout: Callable[..., Any], seed: int = 45) -> None:
    """More units than steps, ``H == K``, no ridge, a large ridge; inputs unchanged."""
    cases = [(8, 15, 2, 0.3), (30, 3, 3, 1.5), (25, 4, 2, 0.0), (20, 5, 1, 50.0)]
    _check_ridge_on(ridge_readout, np.random.default_rng(seed), cases)
    print("ridge_readout: correct with more units than steps, H == K, ridge 0 and ridge 50 (where penalising the "
          "bias would show); the inputs are untouched.")


# --------------------------------------------------------------------------- part 4: choosing the ridge

CHOOSE_TASK = "choose_ridge(train_states, train_targets, val_states, val_targets, ridges)"
CHOOSE_NAMES = ["train_states", "train_targets", "val_states", "val_targets", "ridges"]
CHOOSE_ITEMS = ("V_h (K, H)", "V_0 (K,)", "errors (number of ridges,)")
CHOOSE_GRID = (1e-6, 1e-3, 0.03, 1.0, 30.0)


def _check_choice_on(choose_ridge, rng, cases) -> None:
    check_own_code(choose_ridge, CHOOSE_TASK)
    for label, (H, T_train, T_val, K, ridges, kind) in cases:
        args = random_choice_problem(rng, H, T_train, T_val, K, ridges, kind)
        _check_numpy_call(f"{CHOOSE_TASK} with {label}", choose_ridge, CHOOSE_NAMES, args, reference_choose_ridge,
                          CHOOSE_ITEMS, CHOOSE_HINT, diagnose_choice, choice_mistakes, rtol=1e-7, atol=1e-9)


@self_check
def check_choose_ridge(choose_ridge: Callable[..., Any], seed: int = 46) -> None:
    """One output, noisy targets: the validation error, not the training error, picks the ridge."""
    cases = [
        ("H=10, 20 training and 30 validation steps, K=1, five ridges", (10, 20, 30, 1, CHOOSE_GRID, "noisy")),
        ("H=6, 14 training and 40 validation steps, K=1, four ridges", (6, 14, 40, 1, (1e-4, 0.01, 1.0, 100.0), "noisy")),
    ]
    _check_choice_on(choose_ridge, np.random.default_rng(seed), cases)
    print("choose_ridge: the readout of the ridge with the lowest validation NRMSE and every candidate's error are "
          "right for two single-output problems.")


@self_check
def check_choose_ridge_general(choose_ridge: Callable[..., Any], seed: int = 47) -> None:
    """Outputs on different scales, candidates in no order, one candidate, three outputs; inputs unchanged."""
    cases = [
        ("K=2 outputs on scales 10^4 apart (the NRMSE and the RMSE prefer different ridges)",
         (10, 14, 40, 2, CHOOSE_GRID, "scales")),
        ("K=2, the candidates in no particular order", (8, 16, 30, 2, (1.0, 1e-6, 30.0, 0.03, 1e-3), "noisy")),
        ("K=1, a single candidate", (5, 30, 20, 1, (0.1,), "any")),
        ("K=3, H=6", (6, 12, 25, 3, (10.0, 0.1, 1e-5), "noisy")),
    ]
    _check_choice_on(choose_ridge, np.random.default_rng(seed), cases)
    print("choose_ridge: correct for outputs on very different scales, candidates in any order, a single candidate "
          "and three outputs; the inputs are untouched.")
