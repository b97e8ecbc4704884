"""The visible self-checks do not lie: what passes them also passes the hidden cases.

A student sees only the visible part of each graded cell. If it prints a confirmation while the
hidden cases of the same cell fail, the student loses points after being told all was well. Each
plausible wrong answer below is run through the visible code of every graded cell (as released to
students) and through the hidden cases of that cell (the grading spec, compared as the grader
compares). A cell whose visible check passes a mistake that its hidden cases fail is a bug: either
the self-check is too weak or the hidden cases test something the notebook never asks for.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

import numpy as np
import pytest

from rnncourse.checks import ex01 as check_ex01
from rnncourse.grading.spec import load_spec

from _hidden import Mistake, hidden_problems, visible_problem
from _notebooks import ROOT

ASSIGNMENT = "ex01_elman"
SPEC, SECRET = load_spec(ROOT, ASSIGNMENT)
PARTS = {part.cell: part for part in SPEC.parts}


def _cells(path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


#: The visible code of each graded cell, exactly as students get it.
VISIBLE = {
    c["metadata"]["nbgrader"]["grade_id"]: _source(c)
    for c in _cells(ROOT / "exercises" / ASSIGNMENT / f"{SPEC.notebook}.ipynb")
    if c["metadata"].get("nbgrader", {}).get("grade")
}
#: The instructor's answer cells (their grade_id is the function's name); the markers are comments.
SOLUTION = {
    c["metadata"]["nbgrader"]["grade_id"]: _source(c)
    for c in _cells(ROOT / "solutions" / ASSIGNMENT / f"{SPEC.notebook}.ipynb")
    if c["metadata"].get("nbgrader", {}).get("solution")
}
FUNCTIONS = ("softmax", "elman_step", "elman_forward", "jordan_step")


def _m(name: str, function: str, body: str) -> Mistake:
    return Mistake(name, function, textwrap.dedent(body).strip() + "\n")


SOFTMAX = "def softmax(o):\n"
STEP = "def elman_step(x, h_prev, W, U, b):\n"
FORWARD = "def elman_forward(x, h0, W, U, b):\n"
JORDAN = "def jordan_step(x, y_hat_prev, W, U, b, V, c):\n"

MISTAKES = [
    # softmax
    _m("softmax: over axis 0", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=0, keepdims=True))
        return e / np.sum(e, axis=0, keepdims=True)"""),
    _m("softmax: axis=1 (fails on a single vector)", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=1, keepdims=True))
        return e / np.sum(e, axis=1, keepdims=True)"""),
    _m("softmax: no max subtraction (overflows)", "softmax", SOFTMAX + """
        e = np.exp(o)
        return e / np.sum(e, axis=-1, keepdims=True)"""),
    _m("softmax: sum over the whole array", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o))
        return e / np.sum(e)"""),
    _m("softmax: exp without normalising", "softmax", SOFTMAX + """
        return np.exp(o - np.max(o, axis=-1, keepdims=True))"""),
    _m("softmax: sum without keepdims", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=-1, keepdims=True))
        return e / np.sum(e, axis=-1)"""),
    _m("softmax: max without keepdims", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=-1))
        return e / np.sum(e, axis=-1, keepdims=True)"""),
    _m("softmax: max over the wrong axis", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=0))
        return e / np.sum(e, axis=-1, keepdims=True)"""),
    _m("softmax: divides by the max instead of the sum", "softmax", SOFTMAX + """
        e = np.exp(o - np.max(o, axis=-1, keepdims=True))
        return e / np.max(e, axis=-1, keepdims=True)"""),
    # elman_step
    _m("elman_step: W not transposed", "elman_step", STEP + """
        return np.tanh(b + h_prev @ W + x @ U.T)"""),
    _m("elman_step: U not transposed", "elman_step", STEP + """
        return np.tanh(b + h_prev @ W.T + x @ U)"""),
    _m("elman_step: transposes U only when the shapes need it", "elman_step", STEP + """
        xu = x @ U if U.shape[0] == x.shape[1] else x @ U.T
        return np.tanh(b + h_prev @ W.T + xu)"""),
    _m("elman_step: W and U swapped", "elman_step", STEP + """
        return np.tanh(b + h_prev @ U.T + x @ W.T)"""),
    _m("elman_step: missing bias", "elman_step", STEP + """
        return np.tanh(h_prev @ W.T + x @ U.T)"""),
    _m("elman_step: bias added outside tanh", "elman_step", STEP + """
        return np.tanh(h_prev @ W.T + x @ U.T) + b"""),
    _m("elman_step: relu instead of tanh", "elman_step", STEP + """
        return np.maximum(0.0, b + h_prev @ W.T + x @ U.T)"""),
    _m("elman_step: sigmoid instead of tanh", "elman_step", STEP + """
        return 1.0 / (1.0 + np.exp(-(b + h_prev @ W.T + x @ U.T)))"""),
    _m("elman_step: no activation", "elman_step", STEP + """
        return b + h_prev @ W.T + x @ U.T"""),
    _m("elman_step: squeezes the result (breaks B=1)", "elman_step", STEP + """
        return np.squeeze(np.tanh(b + h_prev @ W.T + x @ U.T))"""),
    _m("elman_step: the first example's state for the whole batch", "elman_step", STEP + """
        return np.tanh(b + h_prev[0] @ W.T + x @ U.T)"""),
    _m("elman_step: returns a list", "elman_step", STEP + """
        return np.tanh(b + h_prev @ W.T + x @ U.T).tolist()"""),
    # elman_forward
    _m("elman_forward: returns only the last state", "elman_forward", FORWARD + """
        h = h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
        return h"""),
    _m("elman_forward: includes h0 (T+1 states)", "elman_forward", FORWARD + """
        states = [h0]
        for x_t in x:
            states.append(elman_step(x_t, states[-1], W, U, b))
        return np.stack(states)"""),
    _m("elman_forward: drops the first state", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.stack(states)[1:]"""),
    _m("elman_forward: skips the first input", "elman_forward", FORWARD + """
        states, h = [h0], h0
        for t in range(1, len(x)):
            h = elman_step(x[t], h, W, U, b)
            states.append(h)
        return np.stack(states)"""),
    _m("elman_forward: misses the last state (stores before updating)", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            states.append(h)
            h = elman_step(x_t, h, W, U, b)
        return np.stack(states)"""),
    _m("elman_forward: stops one step early", "elman_forward", FORWARD + """
        states, h = [], h0
        for t in range(len(x) - 1):
            h = elman_step(x[t], h, W, U, b)
            states.append(h)
        return np.stack(states)"""),
    _m("elman_forward: h0 at every step", "elman_forward", FORWARD + """
        return np.stack([elman_step(x_t, h0, W, U, b) for x_t in x])"""),
    _m("elman_forward: updates h in place (h0 changed, every state the last)", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h[...] = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.stack(states)"""),
    _m("elman_forward: writes the states into x", "elman_forward", FORWARD + """
        out, h = x, h0
        for t in range(len(x)):
            h = elman_step(x[t], h, W, U, b)
            out[t] = h
        return out"""),
    _m("elman_forward: stacks on axis 1 (B, T, H)", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.stack(states, axis=1)"""),
    _m("elman_forward: transposed result (H, B, T)", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.stack(states).T"""),
    _m("elman_forward: concatenates instead of stacking", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.concatenate(states)"""),
    _m("elman_forward: returns the list of states", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return states"""),
    _m("elman_forward: returns (states, last) like torch", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_t in x:
            h = elman_step(x_t, h, W, U, b)
            states.append(h)
        return np.stack(states), h"""),
    _m("elman_forward: loops over the batch, not time", "elman_forward", FORWARD + """
        states, h = [], h0
        for x_b in np.swapaxes(x, 0, 1):
            h = elman_step(x_b, h, W, U, b)
            states.append(h)
        return np.stack(states)"""),
    # jordan_step
    _m("jordan_step: W not transposed", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W + x @ U.T)
        return h, softmax(c + h @ V.T)"""),
    _m("jordan_step: V not transposed", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return h, softmax(c + h @ V)"""),
    _m("jordan_step: no feedback of y_hat_prev", "jordan_step", JORDAN + """
        h = np.tanh(b + x @ U.T)
        return h, softmax(c + h @ V.T)"""),
    _m("jordan_step: output from the pre-activation", "jordan_step", JORDAN + """
        a = b + y_hat_prev @ W.T + x @ U.T
        return np.tanh(a), softmax(c + a @ V.T)"""),
    _m("jordan_step: no tanh", "jordan_step", JORDAN + """
        h = b + y_hat_prev @ W.T + x @ U.T
        return h, softmax(c + h @ V.T)"""),
    _m("jordan_step: forgets softmax", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return h, c + h @ V.T"""),
    _m("jordan_step: softmax over the wrong axis", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        e = np.exp(c + h @ V.T)
        return h, e / e.sum(axis=0, keepdims=True)"""),
    _m("jordan_step: returns (y_hat, h)", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return softmax(c + h @ V.T), h"""),
    _m("jordan_step: missing c", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return h, softmax(h @ V.T)"""),
    _m("jordan_step: missing b", "jordan_step", JORDAN + """
        h = np.tanh(y_hat_prev @ W.T + x @ U.T)
        return h, softmax(c + h @ V.T)"""),
    _m("jordan_step: returns a list", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return [h, softmax(c + h @ V.T)]"""),
    _m("jordan_step: returns only y_hat", "jordan_step", JORDAN + """
        h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
        return softmax(c + h @ V.T)"""),
]

#: Other correct ways of writing the functions: the checks must not be stricter than the maths.
CORRECT_VARIANTS = [
    _m("softmax: through the transpose", "softmax", SOFTMAX + """
        e = np.exp(o.T - o.T.max(axis=0))
        return (e / e.sum(axis=0)).T"""),
    _m("softmax: in place on a copy", "softmax", SOFTMAX + """
        e = o.astype(float)
        e -= e.max(axis=-1, keepdims=True)
        np.exp(e, out=e)
        e /= e.sum(axis=-1, keepdims=True)
        return e"""),
    _m("elman_step: einsum", "elman_step", STEP + """
        return np.tanh(np.einsum("ij,bj->bi", W, h_prev) + np.einsum("id,bd->bi", U, x) + b)"""),
    _m("elman_step: column vectors", "elman_step", STEP + """
        return np.tanh(W @ h_prev.T + U @ x.T + b[:, None]).T"""),
    _m("elman_forward: preallocated", "elman_forward", FORWARD + """
        T, B = x.shape[:2]
        states = np.empty((T, B, h0.shape[1]))
        h = h0
        for t in range(T):
            h = np.tanh(b + h @ W.T + x[t] @ U.T)
            states[t] = h
        return states"""),
    _m("elman_forward: input projections first", "elman_forward", FORWARD + """
        drive = x @ U.T + b
        states = [h0]
        for t in range(x.shape[0]):
            states.append(np.tanh(drive[t] + states[-1] @ W.T))
        return np.array(states[1:])"""),
    _m("jordan_step: through elman_step", "jordan_step", JORDAN + """
        h = elman_step(x, y_hat_prev, W, U, b)
        return (h, softmax(c + h @ V.T))"""),
]


def _namespace(replacement: Mistake | None) -> dict[str, Any]:
    """A student's notebook namespace: the instructor's answers, with one function replaced."""
    namespace: dict[str, Any] = {"np": np, "check": check_ex01, "__name__": "__main__"}
    for function in FUNCTIONS:
        exec(compile(SOLUTION[function], f"<solution {function}>", "exec"), namespace)
    if replacement is not None:
        exec(compile(replacement.source, f"<{replacement.name}>", "exec"), namespace)
    return namespace


def _visible_problem(cell: str, namespace: dict[str, Any]) -> str | None:
    """None if the cell's visible self-check passes, else what it raised."""
    return visible_problem(VISIBLE[cell], namespace)


def _hidden_problems(cell: str, namespace: dict[str, Any]) -> list[str]:
    """The hidden cases of ``cell`` that fail, for every student in STUDENTS."""
    return hidden_problems(SPEC, SECRET, cell, namespace)


def _cells_to_try(mistake: Mistake) -> list[str]:
    """Every graded cell: a mistake in one function can break the cells of another that calls it."""
    return list(PARTS)


@pytest.mark.parametrize(
    "mistake, cell",
    [(m, cell) for m in MISTAKES for cell in _cells_to_try(m)],
    ids=[f"{m.name} | {cell}" for m in MISTAKES for cell in _cells_to_try(m)],
)
def test_visible_check_fails_where_hidden_cases_fail(mistake, cell):
    namespace = _namespace(mistake)
    hidden = _hidden_problems(cell, namespace)
    if not hidden:
        return
    visible = _visible_problem(cell, namespace)
    assert visible is not None, (
        f"'{mistake}' passes the visible self-check of {cell} but loses points in its hidden cases: {hidden[0]}"
    )


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_mistake_loses_points(mistake):
    namespace = _namespace(mistake)
    lost = {cell: problems for cell in PARTS if (problems := _hidden_problems(cell, namespace))}
    assert lost, f"'{mistake}' loses no points: it is not a mistake the grader sees, drop it from the list"


@pytest.mark.parametrize("variant", [None, *CORRECT_VARIANTS], ids=lambda v: "solution" if v is None else str(v))
@pytest.mark.parametrize("cell", list(PARTS))
def test_correct_code_passes_visible_and_hidden(variant, cell):
    namespace = _namespace(variant)
    assert _visible_problem(cell, namespace) is None
    assert _hidden_problems(cell, namespace) == []


def test_every_graded_cell_has_a_visible_check_and_hidden_cases():
    assert set(VISIBLE) == set(PARTS)
    assert set(SOLUTION) >= set(FUNCTIONS)
    assert {m.function for m in MISTAKES} == set(FUNCTIONS)
