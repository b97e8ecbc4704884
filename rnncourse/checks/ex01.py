"""Self-checks for exercise 1 (*Elman and Jordan networks*).

Each check draws small random inputs from a fixed seed (several sizes: a batch of one, ``D != H``,
``D == H``, ``H = 1``, a nonzero bias, non-symmetric weights), runs the student's function and the
reference in :mod:`rnncourse.dynamics`, compares every value, checks that the inputs are left
unchanged, and explains any difference.

The ``diagnose_*`` functions recognise the usual mistakes from a result and the expected result
alone. The grading spec (``solutions/ex01_elman/grading.py``) uses the same functions and hints,
so the graded feedback says what the self-check says.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnncourse import dynamics
from rnncourse.checks import SelfCheckError, check_array, check_own_code, check_unchanged, self_check

__all__ = [
    "FORWARD_HINT",
    "JORDAN_HINT",
    "SOFTMAX_HINT",
    "STEP_HINT",
    "TRANSPOSE_HINT",
    "check_elman_forward",
    "check_elman_forward_general",
    "check_elman_step",
    "check_elman_step_general",
    "check_jordan_step",
    "check_jordan_step_general",
    "check_softmax",
    "check_softmax_stable",
    "diagnose_jordan",
    "diagnose_softmax",
    "diagnose_states",
    "diagnose_step",
    "random_elman",
]


TRANSPOSE_HINT = "With vectors as rows, the maths W h is `h @ W.T` in code (and U x is `x @ U.T`)."
#: Added when the values of softmax are wrong.
SOFTMAX_HINT = (
    "Subtract each row's maximum before exp() and divide by each row's sum, both over the last axis: "
    "`axis=-1, keepdims=True`."
)
#: Added when the values of elman_step (and so elman_forward) are wrong.
STEP_HINT = TRANSPOSE_HINT + " The bias b goes inside tanh: tanh(b + W h + U x)."
FORWARD_HINT = STEP_HINT
#: Added when the values of jordan_step are wrong.
JORDAN_HINT = (
    "With vectors as rows, W y_hat is `y_hat_prev @ W.T`, U x is `x @ U.T` and V h is `h @ V.T`; "
    "b goes inside tanh and c inside the softmax."
)


def random_elman(
    rng: np.random.Generator, T: int = 5, B: int = 3, D: int = 4, H: int = 6, K: int = 3
) -> dict[str, np.ndarray]:
    """Random inputs and weights for an Elman or Jordan network, keyed by the course's symbols."""
    scale = 0.7
    return {
        "x": rng.standard_normal((T, B, D)),
        "h0": np.tanh(rng.standard_normal((B, H))),
        "W": scale * rng.standard_normal((H, H)) / np.sqrt(H),
        "U": scale * rng.standard_normal((H, D)) / np.sqrt(D),
        "b": 0.1 * rng.standard_normal(H),
        "V": rng.standard_normal((K, H)) / np.sqrt(H),
        "c": 0.1 * rng.standard_normal(K),
        "W_y": scale * rng.standard_normal((H, K)),
        "y_hat0": dynamics.softmax(rng.standard_normal((B, K))),
    }


# --------------------------------------------------------------------------- diagnoses
#
# Each takes the student's result and the expected one, and returns a sentence starting with
# "returned ..." that names the likely mistake, or None (then the generic comparison speaks).
# The result may be an ndarray, a tuple, any other object, or (in the grader, which receives
# only arrays) a string describing a non-array such as "a list". None when the result is right.


def _never_raises(diagnose: Callable[[Any, Any], str | None]) -> Callable[[Any, Any], str | None]:
    """A diagnosis is a courtesy: whatever the student returned, it must not break the check."""

    @functools.wraps(diagnose)
    def safe(value: Any, expected: Any) -> str | None:
        try:
            with np.errstate(all="ignore"):
                return diagnose(value, expected)
        except Exception:
            return None

    return safe


def _is_float_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype.kind == "f"


def _is_list(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, str) and value == "a list")


def _close(value: np.ndarray, expected: np.ndarray) -> bool:
    return value.shape == np.shape(expected) and bool(np.allclose(value, expected, rtol=1e-6, atol=1e-8))


def _comparable(value: Any, expected: np.ndarray) -> bool:
    """Same shape, finite and wrong: the case where the values themselves can be diagnosed."""
    return (
        _is_float_array(value)
        and value.shape == expected.shape
        and bool(np.all(np.isfinite(value)))
        and not _close(value, expected)
    )


def _bias_after_tanh(value: np.ndarray, pre: np.ndarray) -> bool:
    """Whether ``value == tanh(pre - b) + b`` for one bias ``b`` per unit (``pre`` is b + W h + U x).

    Solved for ``b`` on one example per unit (``tanh(pre - b) + b`` grows with ``b``, so bisection
    finds it), then confirmed on the others; a batch of one cannot tell, so it needs two examples.
    """
    if value.ndim != 2 or value.shape[0] < 2:
        return False
    row = np.argmax(np.abs(pre), axis=0)  # the example where tanh is steepest away from its flat top
    columns = np.arange(pre.shape[1])
    v, p = value[row, columns], pre[row, columns]
    low, high = v - 1.0, v + 1.0
    for _ in range(80):
        middle = (low + high) / 2
        below = np.tanh(p - middle) + middle < v
        low, high = np.where(below, middle, low), np.where(below, high, middle)
    bias = (low + high) / 2
    return not np.allclose(bias, 0.0, atol=1e-6) and bool(
        np.allclose(np.tanh(pre - bias) + bias, value, rtol=1e-6, atol=1e-8)
    )


def _tanh_problem(value: np.ndarray, expected: np.ndarray) -> str | None:
    """What is wrong with states that should be tanh(b + W h + U x), or None if nothing recognisable.

    The expected states give the pre-activation ``b + W h + U x`` back (arctanh), so another
    activation, none at all, or the bias misplaced can be recognised exactly.
    """
    if np.max(np.abs(expected)) < 1:
        pre = np.arctanh(expected)
        if _close(value, pre):
            return "values equal to b + W h + U x itself: apply tanh to it"
        if _close(value, 1.0 / (1.0 + np.exp(-pre))):
            return "the sigmoid of b + W h + U x: use tanh, which is negative where its input is"
        if _close(value, np.maximum(pre, 0.0)):
            return "the ReLU of b + W h + U x: use tanh, which is negative where its input is"
        if _bias_after_tanh(value, pre):
            return "values with the bias b added after tanh: add it inside, tanh(b + W h + U x)"
        if value.ndim == 2 and value.shape[0] >= 2 and np.max(np.abs(value)) < 1:
            shift = np.arctanh(value) - pre
            if np.allclose(shift, shift[:1], rtol=1e-5, atol=1e-7):
                return (
                    "values off by the same amount (before tanh) for every example of the batch, as if the "
                    "bias b were missing or added twice: add b once, inside tanh"
                )
    largest = float(np.max(np.abs(value)))
    if largest > 1 + 1e-9:
        return (
            f"values outside [-1, 1] (up to {largest:.3g}), which tanh cannot give: apply tanh last, "
            "to the whole sum b + W h + U x"
        )
    return None


@_never_raises
def diagnose_softmax(value: Any, expected: Any) -> str | None:
    """The usual softmax mistakes: wrong axis, whole-array sum, no normalisation, a shift that is not per row."""
    expected = np.asarray(expected)
    if not _comparable(value, expected):
        return None
    row_sums = np.sum(value, axis=-1)
    if not np.allclose(row_sums, 1.0):
        if value.ndim >= 2 and np.allclose(np.sum(value, axis=0), 1.0):
            return (
                "returned columns that sum to 1 instead of rows: normalise over the last axis (`axis=-1`), "
                "not the first"
            )
        if np.isclose(np.sum(value), 1.0):
            return (
                "returned an array whose entries sum to 1 all together: each row should, so divide by each "
                "row's own sum (`axis=-1, keepdims=True`)"
            )
        return (
            f"returned rows that do not sum to 1 (the first sums to {float(np.ravel(row_sums)[0]):.6g}): divide "
            "the exponentials by their sum over the last axis"
        )
    if value.ndim >= 2 and value.shape[0] >= 2 and np.all(value > 0) and np.all(expected > 0):
        shift = np.log(value) - np.log(expected)
        shift -= shift.mean(axis=-1, keepdims=True)
        if np.allclose(shift, shift[:1], rtol=1e-5, atol=1e-7):  # o - s with s varying along the row
            return (
                "returned rows that sum to 1 but have the wrong values, as if what you subtract before exp() "
                "changed along each row: subtract each row's own maximum (`axis=-1, keepdims=True`)"
            )
    return None


@_never_raises
def diagnose_step(value: Any, expected: Any) -> str | None:
    """The usual elman_step mistakes: a squeezed batch axis, another activation, a bias missing or outside tanh."""
    expected = np.asarray(expected)
    if _is_float_array(value) and value.shape != expected.shape:
        if value.size == expected.size and value.ndim < expected.ndim:
            return (
                f"returned shape {value.shape} for a batch of {expected.shape[0]}: keep the batch axis, "
                f"(B, H) = {expected.shape}, even when B or H is 1 (do not squeeze)"
            )
        return None
    if not _comparable(value, expected):
        return None
    problem = _tanh_problem(value, expected)
    return f"returned {problem}" if problem else None


@_never_raises
def diagnose_states(value: Any, expected: Any) -> str | None:
    """The usual elman_forward mistakes: one state, T+1 or T-1 states, time not first, states shared or late."""
    expected = np.asarray(expected)
    T, B, H = expected.shape
    want = f"all T states stacked, (T, B, H) = {expected.shape}"
    if _is_list(value):
        return f"returned a list; expected one array of {want}: stack the states with `np.stack(states)`"
    if isinstance(value, tuple):
        return (
            f"returned a tuple of {len(value)} items (as torch.nn.RNN returns (output, h_n)); "
            f"expected only the array of {want}"
        )
    if not _is_float_array(value):
        return None
    shape = value.shape
    if B == 1 and T > 1 and shape == (T, H):
        return (
            f"returned shape {shape}: the batch axis is gone; expected (T, B, H) = {expected.shape} "
            "(is a size-1 axis squeezed, or were the states concatenated instead of stacked?)"
        )
    if shape == expected.shape[1:]:
        last = " (it is the last one)" if _close(value, expected[-1]) else ""
        return (
            f"returned only one state, shape {shape}{last}; expected {want}: keep every new state in a list "
            "and stack them"
        )
    if shape == (T + 1, B, H):
        return f"returned T+1 = {T + 1} states: do not include h0; expected h(1), ..., h(T), (T, B, H) = {expected.shape}"
    if shape == (T - 1, B, H):
        if T == 1:
            return f"returned no state at all, shape {shape}; expected {want}"
        return (
            f"returned T-1 = {T - 1} states: one is missing; expected one state per input step, "
            f"h(1), ..., h(T), (T, B, H) = {expected.shape}"
        )
    if shape == (T * B, H):
        return (
            f"returned shape {shape}: the states were concatenated; `np.stack(states)` adds the time axis, "
            f"(T, B, H) = {expected.shape}"
        )
    if shape == (B, T, H) and B != T:
        return (
            f"returned shape (B, T, H) = {shape}: time must be the first axis, (T, B, H) = {expected.shape}; "
            "stack along axis 0"
        )
    if len(shape) == 3 and shape != expected.shape and sorted(shape) == sorted(expected.shape):
        return f"returned shape {shape}: the axes are in the wrong order; expected (T, B, H) = {expected.shape}"
    if not _comparable(value, expected):
        return None
    if T > 1 and np.allclose(value, expected[-1], rtol=1e-6, atol=1e-8):
        return (
            "returned the last state at every time step: one array was changed in place and stored T times; "
            "make a new array at each step (`h = ...`, not `h[:] = ...`)"
        )
    if T > 1 and _close(value[1:], expected[:-1]):
        return "returned every state one step late (the first is h0, h(T) is missing): store each state after computing it"
    if not _close(value[0], expected[0]):  # the first step starts from h0, as the reference does
        problem = _tanh_problem(value[0], expected[0])
        return f"returned as the first state h(1) {problem}" if problem else None
    return None


@_never_raises
def diagnose_jordan(value: Any, expected: Any) -> str | None:
    """The usual jordan_step mistakes: not a pair, (y_hat, h), no or wrong softmax, a bias missing."""
    h_ref, y_ref = (np.asarray(e) for e in expected)
    want = f"the pair (h, y_hat), shapes (B, H) = {h_ref.shape} and (B, K) = {y_ref.shape}"
    if _is_list(value):
        return f"returned a list; expected a tuple, {want}: `return h, y_hat`"
    if isinstance(value, np.ndarray):
        return f"returned one array of shape {value.shape}; expected {want}"
    if not (isinstance(value, tuple) and len(value) == 2):
        return None
    h, y = value
    if not (_is_float_array(h) and _is_float_array(y)):
        return None
    if (h.shape == y_ref.shape and y.shape == h_ref.shape and h_ref.shape != y_ref.shape) or (
        _close(h, y_ref) and _close(y, h_ref)
    ):
        return f"returned (y_hat, h): the order is (h, y_hat), shapes (B, H) = {h_ref.shape} and (B, K) = {y_ref.shape}"
    if _comparable(h, h_ref):
        problem = _tanh_problem(h, h_ref)
        if problem:
            return f"returned as h (item 0) {problem}"
    if not _comparable(y, y_ref):
        return None
    if not np.allclose(np.sum(y, axis=-1), 1.0):
        if y.ndim >= 2 and np.allclose(np.sum(y, axis=0), 1.0):
            return "returned a y_hat (item 1) whose columns sum to 1: take the softmax over the last axis, each row summing to 1"
        return "returned a y_hat (item 1) whose rows do not sum to 1: apply your softmax to o = c + V h"
    if _close(h, h_ref) and y.shape[0] >= 2 and np.all(y > 0) and np.all(y_ref > 0):
        shift = np.log(y) - np.log(y_ref)
        shift -= shift.mean(axis=-1, keepdims=True)
        if np.allclose(shift, shift[:1], rtol=1e-5, atol=1e-7):
            return (
                "returned a y_hat (item 1) that is off the same way for every example, as if the bias c were "
                "missing: y_hat = softmax(c + V h)"
            )
    return None


# --------------------------------------------------------------------------- running a check


def _call(task: str, func: Callable[..., Any], *args: Any, hint: str = "") -> Any:
    try:
        return func(*args)
    except NotImplementedError:
        raise SelfCheckError(f"{task} is not implemented yet: replace `raise NotImplementedError()`.") from None
    except SelfCheckError:
        raise
    except Exception as error:  # shown with the student's traceback above it
        shapes = isinstance(error, (ValueError, IndexError)) and any(
            word in str(error) for word in ("matmul", "broadcast", "shape", "axis", "dimension")
        )
        raise SelfCheckError(
            f"{task} raised {type(error).__name__}: {str(error).strip()}." + (f" {hint}" if hint and shapes else "")
        ) from error


def _check_call(
    task: str,
    func: Callable[..., Any],
    names: Sequence[str],
    args: Sequence[np.ndarray],
    reference: Callable[..., Any],
    *,
    meaning: str,
    hint: str,
    diagnose: Callable[[Any, Any], str | None],
) -> Any:
    """Call ``func`` on ``args``, compare with ``reference`` and check that no argument was changed."""
    expected = reference(*[a.copy() for a in args])
    before = [a.copy() for a in args]
    got = _call(task, func, *args, hint=hint)
    problem = diagnose(got, expected)
    if problem:
        raise SelfCheckError(f"{task} {problem}.")
    if isinstance(expected, tuple):
        if not (isinstance(got, tuple) and len(got) == len(expected)):
            raise SelfCheckError(f"{task} should return a pair (h, y_hat); got {type(got).__name__}.")
        for index, (item, item_expected, item_meaning) in enumerate(zip(got, expected, meaning.split(";"))):
            what = ("the hidden state h", "the output y_hat")[index]
            check_array(f"item {index} ({what}) of {task}", item, item_expected, meaning=item_meaning.strip(), hint=hint)
    else:
        check_array(task, got, expected, meaning=meaning, hint=hint)
    check_unchanged(task, names, before, args)
    return got


def _sizes(**sizes: int) -> str:
    return ", ".join(f"{k}={v}" for k, v in sizes.items())


# --------------------------------------------------------------------------- softmax


def _check_softmax_on(softmax: Callable[[np.ndarray], np.ndarray], cases: Sequence[tuple[str, np.ndarray]]) -> None:
    for label, o in cases:
        meaning = "(K,)" if o.ndim == 1 else "(B, K)"
        _check_call(
            f"softmax(o) on {label}", softmax, ["o"], [o], dynamics.softmax,
            meaning=meaning, hint=SOFTMAX_HINT, diagnose=diagnose_softmax,
        )


@self_check
def check_softmax(softmax: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> None:
    """``softmax(o)`` over the last axis: rows sum to one and match the reference."""
    check_own_code(softmax, "softmax(o)")
    rng = np.random.default_rng(seed)
    cases = [
        ("a (4, 5) batch of logits", rng.standard_normal((4, 5))),
        ("a (3, 8) batch of logits", 3.0 * rng.standard_normal((3, 8))),
    ]
    _check_softmax_on(softmax, cases)
    print(f"softmax: correct on batches of logits of shapes (4, 5) and (3, 8); every row sums to "
          f"{np.sum(softmax(cases[0][1]), axis=-1)[0]:.6f}.")


@self_check
def check_softmax_stable(softmax: Callable[[np.ndarray], np.ndarray], seed: int = 10) -> None:
    """``softmax(o)`` does not overflow for logits near +1000 or -1000, for a batch or a single vector."""
    check_own_code(softmax, "softmax(o)")
    rng = np.random.default_rng(seed)
    cases = [
        ("[[1000, 1001, 1002]]", np.array([[1000.0, 1001.0, 1002.0]])),
        ("a (2, 6) batch of logits near +1000", 5.0 * rng.standard_normal((2, 6)) + 1000.0),
        ("a (3, 4) batch of logits near -1000", 5.0 * rng.standard_normal((3, 4)) - 1000.0),
        ("a single vector (K,) = (7,) of logits from about -600 to -400", 40.0 * rng.standard_normal(7) - 500.0),
    ]
    _check_softmax_on(softmax, cases)
    print("softmax: stable for logits near +1000 and -1000, for a batch and for a single vector.")


# --------------------------------------------------------------------------- Elman


def _step_cases(rng: np.random.Generator, sizes: Sequence[tuple[int, int, int]]):
    for B, D, H in sizes:
        p = random_elman(rng, T=1, B=B, D=D, H=H)
        yield _sizes(B=B, D=D, H=H), [p["x"][0].copy(), p["h0"], p["W"], p["U"], p["b"]]


def _check_elman_step_on(elman_step: Callable[..., np.ndarray], rng: np.random.Generator, sizes) -> None:
    check_own_code(elman_step, "elman_step(x, h_prev, W, U, b)")
    for label, args in _step_cases(rng, sizes):
        _check_call(
            f"elman_step(x, h_prev, W, U, b) with {label}", elman_step, ["x", "h_prev", "W", "U", "b"], args,
            dynamics.elman_step, meaning="(B, H)", hint=STEP_HINT, diagnose=diagnose_step,
        )


@self_check
def check_elman_step(elman_step: Callable[..., np.ndarray], seed: int = 1) -> None:
    """``elman_step(x, h_prev, W, U, b)`` matches the reference for one step of a batch."""
    _check_elman_step_on(elman_step, np.random.default_rng(seed), [(3, 4, 6), (5, 2, 3)])
    print("elman_step: correct for a batch of 3 with D=4 inputs and H=6 hidden units, and for B=5, D=2, H=3.")


@self_check
def check_elman_step_general(elman_step: Callable[..., np.ndarray], seed: int = 11) -> None:
    """``elman_step`` on a batch of one, ``D != H``, ``D == H`` and ``H = 1``, with random weights and bias."""
    sizes = [(1, 2, 3), (1, 1, 1), (8, 7, 2), (4, 3, 12), (2, 5, 5)]
    _check_elman_step_on(elman_step, np.random.default_rng(seed), sizes)
    print("elman_step: correct for a batch of one, D < H, D > H, D == H and H = 1, with a random bias.")


def _check_elman_forward_on(elman_forward: Callable[..., np.ndarray], rng: np.random.Generator, sizes) -> None:
    check_own_code(elman_forward, "elman_forward(x, h0, W, U, b)")
    for T, B, D, H in sizes:
        p = random_elman(rng, T=T, B=B, D=D, H=H)
        _check_call(
            f"elman_forward(x, h0, W, U, b) with {_sizes(T=T, B=B, D=D, H=H)}", elman_forward,
            ["x", "h0", "W", "U", "b"], [p["x"], p["h0"], p["W"], p["U"], p["b"]], dynamics.elman_forward,
            meaning="(T, B, H)", hint=FORWARD_HINT, diagnose=diagnose_states,
        )


@self_check
def check_elman_forward(elman_forward: Callable[..., np.ndarray], seed: int = 2) -> None:
    """``elman_forward(x, h0, W, U, b)`` returns every hidden state, ``(T, B, H)``."""
    _check_elman_forward_on(elman_forward, np.random.default_rng(seed), [(5, 3, 4, 6)])
    print("elman_forward: all T=5 states correct for a batch of 3.")


@self_check
def check_elman_forward_general(elman_forward: Callable[..., np.ndarray], seed: int = 12) -> None:
    """``elman_forward`` for one step, a batch of one, ``H = 1``, ``D == H`` and long sequences; inputs unchanged."""
    sizes = [(1, 1, 2, 3), (12, 5, 4, 8), (6, 2, 9, 1), (20, 1, 1, 4), (4, 2, 3, 3)]
    _check_elman_forward_on(elman_forward, np.random.default_rng(seed), sizes)
    print("elman_forward: every state correct for T=1 to 20, a batch of one, H=1 and D == H; inputs untouched.")


# --------------------------------------------------------------------------- Jordan


def _check_jordan_step_on(jordan_step: Callable[..., Any], rng: np.random.Generator, sizes) -> None:
    check_own_code(jordan_step, "jordan_step(x, y_hat_prev, W, U, b, V, c)")
    for B, D, H, K in sizes:
        p = random_elman(rng, T=1, B=B, D=D, H=H, K=K)
        _check_call(
            f"jordan_step(x, y_hat_prev, W, U, b, V, c) with {_sizes(B=B, D=D, H=H, K=K)}", jordan_step,
            ["x", "y_hat_prev", "W", "U", "b", "V", "c"],
            [p["x"][0].copy(), p["y_hat0"], p["W_y"], p["U"], p["b"], p["V"], p["c"]], dynamics.jordan_step,
            meaning="(B, H); (B, K)", hint=JORDAN_HINT, diagnose=diagnose_jordan,
        )


@self_check
def check_jordan_step(jordan_step: Callable[..., tuple[np.ndarray, np.ndarray]], seed: int = 3) -> None:
    """``jordan_step(x, y_hat_prev, W, U, b, V, c)`` returns ``(h, y_hat)``."""
    _check_jordan_step_on(jordan_step, np.random.default_rng(seed), [(3, 4, 6, 3)])
    print("jordan_step: hidden state and output both correct.")


@self_check
def check_jordan_step_general(jordan_step: Callable[..., tuple[np.ndarray, np.ndarray]], seed: int = 13) -> None:
    """``jordan_step`` on a batch of one, ``H == K`` and ``H != K``; every output row is a distribution."""
    _check_jordan_step_on(jordan_step, np.random.default_rng(seed), [(1, 1, 2, 2), (7, 3, 5, 9), (2, 3, 4, 4)])
    print("jordan_step: correct for a batch of one, H == K and H != K; every y_hat row is a probability distribution.")
