"""Self-checks for exercise 1 (*Elman and Jordan networks*).

Each check draws small random inputs from a fixed seed, runs the student's function and
the reference in :mod:`rnncourse.dynamics`, and explains any difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rnncourse import dynamics
from rnncourse.checks import SelfCheckError, check_array, check_own_code

__all__ = ["check_elman_forward", "check_elman_step", "check_jordan_step", "check_softmax", "random_elman"]


TRANSPOSE_HINT = "With vectors as rows, the maths W h is `h @ W.T` in code (and U x is `x @ U.T`)."


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


def _call(task: str, func: Callable[..., Any], *args: Any) -> Any:
    try:
        return func(*args)
    except NotImplementedError:
        raise SelfCheckError(f"{task} is not implemented yet: replace `raise NotImplementedError()`.") from None


def check_softmax(softmax: Callable[[np.ndarray], np.ndarray], seed: int = 0) -> None:
    """``softmax(o)`` over the last axis: rows sum to one and match the reference."""
    task = "softmax(o)"
    check_own_code(softmax, task)
    o = np.random.default_rng(seed).standard_normal((4, 5))
    got = _call(task, softmax, o.copy())
    check_array(task, got, dynamics.softmax(o), meaning="(B, K)")
    print(f"softmax: correct on a (4, 5) batch of logits; every row sums to {got.sum(axis=1)[0]:.6f}.")


def check_elman_step(elman_step: Callable[..., np.ndarray], seed: int = 1) -> None:
    """``elman_step(x, h_prev, W, U, b)`` matches the reference for one step of a batch."""
    task = "elman_step(x, h_prev, W, U, b)"
    check_own_code(elman_step, task)
    p = random_elman(np.random.default_rng(seed))
    got = _call(task, elman_step, p["x"][0], p["h0"], p["W"], p["U"], p["b"])
    expected = dynamics.elman_step(p["x"][0], p["h0"], p["W"], p["U"], p["b"])
    check_array(task, got, expected, meaning="(B, H)", hint=TRANSPOSE_HINT)
    print("elman_step: correct for a batch of 3 with D=4 inputs and H=6 hidden units.")


def check_elman_forward(elman_forward: Callable[..., np.ndarray], seed: int = 2) -> None:
    """``elman_forward(x, h0, W, U, b)`` returns every hidden state, ``(T, B, H)``."""
    task = "elman_forward(x, h0, W, U, b)"
    check_own_code(elman_forward, task)
    p = random_elman(np.random.default_rng(seed))
    got = _call(task, elman_forward, p["x"], p["h0"], p["W"], p["U"], p["b"])
    expected = dynamics.elman_forward(p["x"], p["h0"], p["W"], p["U"], p["b"])
    if isinstance(got, np.ndarray) and got.shape == expected.shape[1:]:
        raise SelfCheckError(
            f"{task} returned only one state, shape {got.shape}; expected all T states stacked, "
            f"(T, B, H) = {expected.shape}."
        )
    check_array(task, got, expected, meaning="(T, B, H)", hint=TRANSPOSE_HINT)
    print("elman_forward: correct over T=5 steps for a batch of 3.")


def check_jordan_step(jordan_step: Callable[..., tuple[np.ndarray, np.ndarray]], seed: int = 3) -> None:
    """``jordan_step(x, y_hat_prev, W, U, b, V, c)`` returns ``(h, y_hat)``."""
    task = "jordan_step(x, y_hat_prev, W, U, b, V, c)"
    check_own_code(jordan_step, task)
    p = random_elman(np.random.default_rng(seed))
    args = (p["x"][0], p["y_hat0"], p["W_y"], p["U"], p["b"], p["V"], p["c"])
    got = _call(task, jordan_step, *args)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise SelfCheckError(f"{task} should return a pair (h, y_hat); got {type(got).__name__}.")
    h_ref, y_ref = dynamics.jordan_step(*args)
    check_array(f"{task}[0] (the hidden state h)", got[0], h_ref, meaning="(B, H)")
    check_array(f"{task}[1] (the output y_hat)", got[1], y_ref, meaning="(B, K)")
    print("jordan_step: hidden state and output both correct.")
