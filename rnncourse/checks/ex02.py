"""Self-checks for exercise 2 (*Backpropagation through time*).

Each check draws small random problems from a fixed seed (several sizes: a batch of one, ``D == H``,
``H = 1``, one step and long sequences), runs the student's function and the reference, compares
every returned array, checks that the inputs are left unchanged, and explains any difference. The
BPTT checks also compare with centred finite differences in float64, computed here from the loss
alone, so a student can see that the reference itself is right.

The references in this module adapt :mod:`rnncourse.bptt` and :mod:`rnncourse.sampling` to the
exercise's signatures (arrays in, a tuple of arrays out). The grading spec
(``solutions/ex02_bptt/grading.py``) uses the same references, diagnoses and hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnncourse import bptt, dynamics, sampling
from rnncourse.checks import SelfCheckError, check_array, check_own_code, check_unchanged, self_check
from rnncourse.checks.ex01 import _call, _close, _is_float_array, _is_list, _never_raises, _sizes
from rnncourse.gradcheck import numerical_gradient

__all__ = [
    "BPTT_HINT",
    "BPTT_ITEMS",
    "CLIP_HINT",
    "SAMPLE_HINT",
    "STEP_BACKWARD_HINT",
    "STEP_ITEMS",
    "TEMPERATURE_HINT",
    "check_bptt",
    "check_bptt_general",
    "check_clip_gradients",
    "check_clip_gradients_general",
    "check_sample",
    "check_softmax_with_temperature",
    "check_softmax_with_temperature_limits",
    "check_step_backward",
    "check_step_backward_general",
    "diagnose_gradients",
    "diagnose_sample",
    "finite_difference_bptt",
    "random_bptt_problem",
    "reference_bptt",
    "reference_clip_gradients",
    "reference_step_backward",
]

#: What each item of step_backward's result is, in order.
STEP_ITEMS = ("dx (B, D)", "dh_prev (B, H)", "dW (H, H)", "dU (H, D)", "db (H,)")
#: What each item of bptt's result is, in order.
BPTT_ITEMS = ("dW (H, H)", "dU (H, D)", "db (H,)", "dV (K, H)", "dc (K,)", "dh0 (B, H)")

STEP_BACKWARD_HINT = (
    "First da = dh * (1 - h**2) (the derivative of tanh, from the cached output h, not tanh of it); then "
    "dx = da @ U, dh_prev = da @ W, dW = da.T @ h_prev, dU = da.T @ x and db = da summed over the batch."
)
BPTT_HINT = (
    "do = y_hat - Y at every step; walk t from T-1 down to 0 with dh = do[t] @ V + (the dh_prev that came "
    "back from step t+1); add each step's dW, dU, db (and dV, dc) into running sums; dh0 is the dh_prev "
    "of the first step."
)
CLIP_HINT = (
    "The norm is over all the gradients together: sqrt of the sum of every squared entry of every array. "
    "Scale all of them by max_norm / norm only when norm > max_norm; otherwise return them unchanged."
)
TEMPERATURE_HINT = (
    "Divide the scores by the temperature before a numerically stable softmax over the last axis; "
    "temperature 0 means the one-hot vector of the largest score."
)
SAMPLE_HINT = (
    "Read every burn-in character first (h = tanh(b + W h + U x)), then for each draw: p from the scores "
    "c + V h at the temperature, the first index whose cumulative probability exceeds u, and feed that "
    "character back in as a one-hot input."
)


# --------------------------------------------------------------------------- references


def reference_step_backward(dh, x, h_prev, h, W, U):
    """``(dx, dh_prev, dW, dU, db)`` of one step, from :func:`rnncourse.bptt.step_backward`."""
    g = bptt.step_backward(dh, (x, h_prev, h), W, U)
    return g["x"], g["h_prev"], g["W"], g["U"], g["b"]


def _loss(x, Y, h0, W, U, b, V, c) -> float:
    """The summed cross-entropy, written out directly (the finite differences differentiate this)."""
    h, total = h0, 0.0
    for t in range(x.shape[0]):
        h = np.tanh(b + h @ W.T + x[t] @ U.T)
        total -= float(np.sum(Y[t] * np.log(dynamics.softmax(c + h @ V.T))))
    return total


def reference_bptt(x, Y, h0, W, U, b, V, c):
    """``(dW, dU, db, dV, dc, dh0)`` of the summed cross-entropy, from :mod:`rnncourse.bptt`."""
    params = bptt.ElmanParams(W=W, U=U, b=b, V=V, c=c, h0=h0)
    _, g = bptt.loss_and_gradients(x, np.argmax(Y, axis=-1), params)
    return g["W"], g["U"], g["b"], g["V"], g["c"], g["h0"]


def finite_difference_bptt(x, Y, h0, W, U, b, V, c):
    """The same six gradients by centred finite differences in float64 (independent of the reference)."""
    arrays = [a.astype(np.float64, copy=True) for a in (x, Y, h0, W, U, b, V, c)]
    grads = []
    for index in (3, 4, 5, 6, 7, 2):  # W, U, b, V, c, h0
        grads.append(numerical_gradient(lambda: _loss(*arrays), arrays[index], eps=1e-6))
    return tuple(grads)


def reference_clip_gradients(max_norm, *grads):
    """Every gradient scaled by ``max_norm / norm`` when their global norm exceeds ``max_norm``."""
    clipped, _ = bptt.clip_by_norm({str(i): g for i, g in enumerate(grads)}, max_norm)
    return tuple(clipped[str(i)] for i in range(len(grads)))


def random_bptt_problem(rng: np.random.Generator, T: int, B: int, D: int, H: int, K: int) -> list[np.ndarray]:
    """``[x, Y, h0, W, U, b, V, c]``: inputs, one-hot targets ``(T, B, K)`` and weights large enough that
    gradients reach far back (a recurrent gain near 1)."""
    targets = rng.integers(0, K, size=(T, B))
    return [
        rng.standard_normal((T, B, D)),
        np.eye(K)[targets],
        np.tanh(rng.standard_normal((B, H))),
        0.9 * rng.standard_normal((H, H)) / np.sqrt(H),
        0.8 * rng.standard_normal((H, D)) / np.sqrt(D),
        0.2 * rng.standard_normal(H),
        rng.standard_normal((K, H)) / np.sqrt(H),
        0.2 * rng.standard_normal(K),
    ]


def random_step_problem(rng: np.random.Generator, B: int, D: int, H: int) -> list[np.ndarray]:
    """``[dh, x, h_prev, h, W, U]`` for one step: ``h`` really is the step's output."""
    x = rng.standard_normal((B, D))
    h_prev = np.tanh(rng.standard_normal((B, H)))
    W = rng.standard_normal((H, H)) / np.sqrt(H)
    U = rng.standard_normal((H, D)) / np.sqrt(D)
    b = 0.3 * rng.standard_normal(H)
    h = np.tanh(b + h_prev @ W.T + x @ U.T)
    return [rng.standard_normal((B, H)), x, h_prev, h, W, U]


def random_gradients(rng: np.random.Generator, shapes: Sequence[tuple[int, ...]], scale: float) -> list[np.ndarray]:
    return [scale * rng.standard_normal(shape) for shape in shapes]


def random_sampling_problem(
    rng: np.random.Generator, P: int, n: int, K: int, H: int, temperature: float,
    recurrent: float = 1.2, drive: float = 1.5,
) -> list[Any]:
    """``[burn_in, n, temperature, uniforms, h0, W, U, b, V, c]`` for :func:`rnncourse.sampling.sample_elman`.

    ``recurrent`` scales ``W`` (times ``1/sqrt(H)``) and ``drive`` scales ``U``: a strong recurrence and a
    weak drive make the state, and so the samples, remember the burn-in for long.
    """
    return [
        np.eye(K)[rng.integers(0, K, size=P)],
        n,
        temperature,
        rng.random(n),
        np.tanh(rng.standard_normal(H)),
        recurrent * rng.standard_normal((H, H)) / np.sqrt(H),
        drive * rng.standard_normal((H, K)),
        rng.standard_normal(H),
        2.0 * rng.standard_normal((K, H)) / np.sqrt(H),
        0.5 * rng.standard_normal(K),
    ]


# --------------------------------------------------------------------------- diagnoses


def _items_description(items: Sequence[str]) -> str:
    return "(" + ", ".join(item.split(" ")[0] for item in items) + ")"


def diagnose_gradients(items: Sequence[str] = (), hint_for: dict[str, str] | None = None) -> Callable[[Any, Any], str | None]:
    """A diagnosis for a function that returns the tuple of gradients named by ``items``
    (``"dW (H, H)"``; empty: ``grads[i]`` with the expected shapes).

    Recognises: a list or a single array instead of a tuple, too few or too many items, items in
    another order, a transposed gradient, a gradient with the wrong sign, and a gradient kept per
    example (not summed over the batch).
    """

    @_never_raises
    def diagnose(value: Any, expected: Any) -> str | None:
        expected = tuple(np.asarray(e) for e in expected)
        described = tuple(items) or tuple(f"grads[{i}] {e.shape}" for i, e in enumerate(expected))
        names = [item.split(" ")[0] for item in described]
        want = f"the tuple {_items_description(described)}"
        if _is_list(value):
            return f"returned a list; expected {want}: `return {', '.join(names)}`"
        if isinstance(value, np.ndarray):
            return f"returned one array of shape {value.shape}; expected {want}"
        if not isinstance(value, tuple):
            return None
        if len(value) != len(expected):
            return f"returned {len(value)} items; expected {len(expected)}: {want}"
        for i, (item, wanted) in enumerate(zip(value, expected)):
            if not _is_float_array(item) or _close(item, wanted):
                continue
            for j, other in enumerate(expected):
                if j != i and item.shape == other.shape and _close(item, other) and not _close(wanted, other):
                    return f"returned {names[j]} where {names[i]} (item {i}) belongs: the order is {want}"
            if item.shape == wanted.T.shape and wanted.ndim == 2 and _close(item, wanted.T):
                return f"returned {names[i]} (item {i}) transposed: it must have the shape of its parameter, {described[i].split(' ', 1)[1]}"
            if item.shape == wanted.shape and _close(-item, wanted):
                return f"returned {names[i]} (item {i}) with the wrong sign: a gradient points uphill, d(loss)/d(parameter)"
            if item.ndim == wanted.ndim + 1 and item.shape[1:] == wanted.shape and _close(item.sum(axis=0), wanted):
                return f"returned {names[i]} (item {i}) per example, shape {item.shape}: sum it over the batch (axis 0)"
            extra = (hint_for or {}).get(names[i])
            if extra and item.shape == wanted.shape:
                return f"returned a wrong {names[i]} (item {i}): {extra}"
        return None

    return diagnose


@_never_raises
def diagnose_sample(value: Any, expected: Any) -> str | None:
    """The usual sampling mistakes: a list, probabilities instead of indices, a shifted sequence."""
    expected = np.asarray(expected)
    if _is_list(value):
        return "returned a list; expected a NumPy array of n character indices: `return np.array(chosen)`"
    if not isinstance(value, np.ndarray):
        return None
    if value.ndim == 2 and value.shape[0] == expected.shape[0]:
        return f"returned shape {value.shape}: return the n chosen indices (n,) = {expected.shape}, not the probabilities"
    if value.shape == expected.shape and np.array_equal(value, expected):
        return None
    if value.shape == expected.shape and len(value) > 2 and np.array_equal(value[1:], expected[:-1]):
        return "returned every character one draw late: draw the first character from the prediction after the burn-in"
    return None


# --------------------------------------------------------------------------- running a check


def _check_tuple_call(
    task: str,
    func: Callable[..., Any],
    names: Sequence[str],
    args: Sequence[Any],
    reference: Callable[..., Any],
    *,
    items: Sequence[str],
    hint: str,
    diagnose: Callable[[Any, Any], str | None],
    rtol: float = 1e-6,
    atol: float = 1e-8,
) -> Any:
    """Call ``func``, compare each returned array with ``reference``'s, and check no argument changed."""
    copy = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    expected = reference(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    got = _call(task, func, *copy, hint=hint)
    problem = diagnose(got, expected)
    if problem:
        raise SelfCheckError(f"{task} {problem}.")
    if not (isinstance(got, tuple) and len(got) == len(expected)):
        raise SelfCheckError(
            f"{task} should return the tuple {_items_description(items)}; got {type(got).__name__}."
        )
    for index, (item, item_expected, meaning) in enumerate(zip(got, expected, items)):
        name, shape = meaning.split(" ", 1)
        check_array(f"item {index} ({name}) of {task}", item, item_expected, meaning=shape, hint=hint, rtol=rtol, atol=atol)
    check_unchanged(task, names, args, copy)
    return got


# --------------------------------------------------------------------------- part 1: one step backward

STEP_NAMES = ["dh", "x", "h_prev", "h", "W", "U"]
_diagnose_step = diagnose_gradients(STEP_ITEMS, {"dW": STEP_BACKWARD_HINT, "dU": STEP_BACKWARD_HINT})


def _check_step_backward_on(step_backward: Callable[..., Any], rng: np.random.Generator, sizes) -> None:
    task = "step_backward(dh, x, h_prev, h, W, U)"
    check_own_code(step_backward, task)
    for B, D, H in sizes:
        _check_tuple_call(
            f"{task} with {_sizes(B=B, D=D, H=H)}", step_backward, STEP_NAMES, random_step_problem(rng, B, D, H),
            reference_step_backward, items=STEP_ITEMS, hint=STEP_BACKWARD_HINT, diagnose=_diagnose_step,
        )


@self_check
def check_step_backward(step_backward: Callable[..., Any], seed: int = 20) -> None:
    """``step_backward`` returns the five gradients of one step for a batch."""
    _check_step_backward_on(step_backward, np.random.default_rng(seed), [(3, 4, 5), (2, 3, 2)])
    print("step_backward: dx, dh_prev, dW, dU and db all correct for B=3, D=4, H=5 and B=2, D=3, H=2.")


@self_check
def check_step_backward_general(step_backward: Callable[..., Any], seed: int = 21) -> None:
    """``step_backward`` on a batch of one, ``D == H``, ``H = 1`` and a wide batch; inputs unchanged."""
    sizes = [(1, 2, 3), (4, 5, 5), (6, 3, 1), (9, 1, 4)]
    _check_step_backward_on(step_backward, np.random.default_rng(seed), sizes)
    print("step_backward: correct for a batch of one, D == H, H = 1 and D = 1; the inputs are untouched.")


# --------------------------------------------------------------------------- part 2: BPTT

BPTT_NAMES = ["x", "Y", "h0", "W", "U", "b", "V", "c"]
_diagnose_bptt = diagnose_gradients(BPTT_ITEMS, {name: BPTT_HINT for name in ("dW", "dU", "db", "dh0")})


def _check_bptt_on(bptt_fn: Callable[..., Any], rng: np.random.Generator, sizes, finite_differences: bool) -> None:
    task = "bptt(x, Y, h0, W, U, b, V, c)"
    check_own_code(bptt_fn, task)
    for T, B, D, H, K in sizes:
        args = random_bptt_problem(rng, T, B, D, H, K)
        label = f"{task} with {_sizes(T=T, B=B, D=D, H=H, K=K)}"
        _check_tuple_call(label, bptt_fn, BPTT_NAMES, args, reference_bptt, items=BPTT_ITEMS, hint=BPTT_HINT,
                          diagnose=_diagnose_bptt)
        if finite_differences:
            _check_tuple_call(label + ", against finite differences", bptt_fn, BPTT_NAMES, args,
                              finite_difference_bptt, items=BPTT_ITEMS, hint=BPTT_HINT, diagnose=_diagnose_bptt,
                              rtol=1e-5, atol=1e-7)


@self_check
def check_bptt(bptt_fn: Callable[..., Any], seed: int = 22) -> None:
    """``bptt`` returns all six gradients of the summed cross-entropy, also against finite differences."""
    _check_bptt_on(bptt_fn, np.random.default_rng(seed), [(4, 3, 3, 5, 4)], finite_differences=True)
    print("bptt: dW, dU, db, dV, dc and dh0 correct for T=4, B=3, D=3, H=5, K=4, and they agree with "
          "centred finite differences of the loss.")


@self_check
def check_bptt_general(bptt_fn: Callable[..., Any], seed: int = 23) -> None:
    """``bptt`` for one step, a batch of one, ``H = 1``, ``D == H``, two classes and a long sequence."""
    sizes = [(1, 2, 3, 4, 3), (6, 1, 2, 3, 2), (5, 2, 1, 1, 3), (3, 2, 4, 4, 5), (25, 3, 3, 6, 4)]
    _check_bptt_on(bptt_fn, np.random.default_rng(seed), sizes, finite_differences=False)
    _check_bptt_on(bptt_fn, np.random.default_rng(seed + 100), [(7, 2, 2, 3, 3)], finite_differences=True)
    print("bptt: correct for T=1 and T=25, a batch of one, H=1, D == H and K=2, and against finite differences "
          "on a 7-step sequence; the inputs are untouched.")


# --------------------------------------------------------------------------- part 3: clipping

def _check_clip_on(clip_gradients: Callable[..., Any], cases) -> None:
    task = "clip_gradients(max_norm, *grads)"
    check_own_code(clip_gradients, task)
    for label, max_norm, grads in cases:
        items = tuple(f"grads[{i}] {g.shape}" for i, g in enumerate(grads))
        _check_tuple_call(
            f"{task} with {label}", clip_gradients, ["max_norm", *(f"grads[{i}]" for i in range(len(grads)))],
            [max_norm, *grads], reference_clip_gradients, items=items, hint=CLIP_HINT,
            diagnose=diagnose_gradients(items),
        )


@self_check
def check_clip_gradients(clip_gradients: Callable[..., Any], seed: int = 24) -> None:
    """``clip_gradients`` rescales a too-large set of gradients to ``max_norm`` and leaves a small one alone."""
    rng = np.random.default_rng(seed)
    shapes = [(4, 4), (4, 3), (4,), (2, 4), (2,)]
    cases = [
        ("a global norm far above max_norm=1", 1.0, random_gradients(rng, shapes, 5.0)),
        ("a global norm below max_norm=100", 100.0, random_gradients(rng, shapes, 1.0)),
    ]
    _check_clip_on(clip_gradients, cases)
    print("clip_gradients: rescales five gradients together when their global norm is too large, and leaves "
          "them unchanged when it is not.")


@self_check
def check_clip_gradients_general(clip_gradients: Callable[..., Any], seed: int = 25) -> None:
    """One gradient, many, all zero (no division by zero), exactly at the threshold; inputs unchanged."""
    rng = np.random.default_rng(seed)
    exact = random_gradients(rng, [(3, 3), (3,)], 1.0)
    exact_norm = float(np.sqrt(sum(np.sum(g**2) for g in exact)))
    cases = [
        ("a single gradient", 0.5, random_gradients(rng, [(6, 2)], 1.0)),
        ("all-zero gradients", 1.0, [np.zeros((3, 3)), np.zeros(3)]),
        ("a norm exactly equal to max_norm", exact_norm, exact),
        ("seven gradients and max_norm=0.01", 0.01, random_gradients(rng, [(2, 2)] * 7, 1.0)),
    ]
    _check_clip_on(clip_gradients, cases)
    print("clip_gradients: correct for one gradient and for seven, for all-zero gradients and at the threshold; "
          "the inputs are untouched.")


# --------------------------------------------------------------------------- part 4: temperature and sampling


def _check_temperature_on(softmax_with_temperature: Callable[..., Any], cases) -> None:
    task = "softmax_with_temperature(o, temperature)"
    check_own_code(softmax_with_temperature, task)
    for label, o, temperature in cases:
        expected = sampling.softmax_with_temperature(o.copy(), temperature)
        before = o.copy()
        got = _call(f"{task} with {label}", softmax_with_temperature, o, temperature, hint=TEMPERATURE_HINT)
        check_array(f"{task} with {label}", got, expected, meaning="(B, K)" if o.ndim == 2 else "(K,)",
                    hint=TEMPERATURE_HINT)
        check_unchanged(f"{task} with {label}", ["o"], [before], [o])


@self_check
def check_softmax_with_temperature(softmax_with_temperature: Callable[..., Any], seed: int = 26) -> None:
    """Temperatures 1, 0.5 and 2 on a batch of scores."""
    rng = np.random.default_rng(seed)
    o = 2.0 * rng.standard_normal((3, 5))
    _check_temperature_on(softmax_with_temperature, [(f"temperature {t:g}", o, t) for t in (1.0, 0.5, 2.0)])
    print("softmax_with_temperature: correct at temperatures 1, 0.5 and 2; a lower temperature sharpens.")


@self_check
def check_softmax_with_temperature_limits(softmax_with_temperature: Callable[..., Any], seed: int = 27) -> None:
    """Temperature 0 (greedy), a tiny temperature on large scores (no overflow), a single vector, a huge one."""
    rng = np.random.default_rng(seed)
    cases = [
        ("temperature 0 (the one-hot vector of the largest score)", rng.standard_normal((4, 6)), 0.0),
        ("temperature 0.001 and scores near 50", 50.0 + rng.standard_normal((2, 7)), 0.001),
        ("a single vector (K,) at temperature 0.7", rng.standard_normal(9), 0.7),
        ("temperature 1000 (nearly uniform)", rng.standard_normal((2, 4)), 1000.0),
    ]
    _check_temperature_on(softmax_with_temperature, cases)
    print("softmax_with_temperature: greedy at temperature 0, stable at 0.001, nearly uniform at 1000, and works "
          "for a single vector.")


SAMPLE_TASK = "sample(burn_in, n, temperature, uniforms, h0, W, U, b, V, c)"
SAMPLE_NAMES = ["burn_in", "n", "temperature", "uniforms", "h0", "W", "U", "b", "V", "c"]


@self_check
def check_sample(sample: Callable[..., Any], seed: int = 28) -> None:
    """``sample`` generates the same characters as the reference from the same uniforms."""
    check_own_code(sample, SAMPLE_TASK)
    rng = np.random.default_rng(seed)
    problems = [(3, 12, 5, 6, 1.0, 1.2, 1.5), (1, 8, 4, 3, 0.6, 1.2, 1.5), (4, 10, 6, 5, 0.0, 1.2, 1.5),
                (2, 1, 3, 2, 1.5, 1.2, 1.5), (6, 20, 4, 8, 1.0, 2.5, 0.5)]
    for P, n, K, H, temperature, recurrent, drive in problems:
        args = random_sampling_problem(rng, P, n, K, H, temperature, recurrent, drive)
        label = f"{SAMPLE_TASK} with P={P} burn-in characters, n={n}, K={K}, H={H}, temperature {temperature:g}"
        expected = sampling.sample_elman(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
        before = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        got = _call(label, sample, *args, hint=SAMPLE_HINT)
        problem = diagnose_sample(got, expected)
        if problem:
            raise SelfCheckError(f"{label} {problem}.")
        if not isinstance(got, np.ndarray):
            raise SelfCheckError(f"{label} returned a {type(got).__name__}; expected a NumPy array of shape (n,) = ({n},).")
        if got.shape != expected.shape:
            raise SelfCheckError(f"{label} returned shape {got.shape}; expected (n,) = {expected.shape}.")
        if not np.array_equal(got, expected):
            first = int(np.argmax(got != expected))
            raise SelfCheckError(
                f"{label} generated {got.tolist()}; expected {expected.tolist()} (the first difference is draw "
                f"{first}). {SAMPLE_HINT}"
            )
        check_unchanged(label, SAMPLE_NAMES, before, args)
    print("sample: the same characters as the reference for five networks (one with a long memory of its "
          "burn-in), temperatures 0 to 1.5, with one to six burn-in characters.")
