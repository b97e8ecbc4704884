"""Exercise 4 (echo state networks): honest self-checks, unusual correct answers keep their marks, and
plausible mistakes lose points — including every small mutation of the solution.

Everything runs in this process, with the hidden cases compared exactly as the grader compares them after
the wire (tests/_hidden.py); tests/test_grading_ex04.py grades real notebooks in the sandbox.
"""

from __future__ import annotations

import ast
import copy
import warnings
from typing import Any

import numpy as np
import pytest

from rnncourse import esn
from rnncourse.checks import ex04 as check_ex04
from rnncourse.grading.inkernel import case_problem, fresh_copies
from rnncourse.grading.spec import case_rng, load_spec

from _hidden import STUDENTS, Mistake, answer_cells, hidden_problems, mistake, visible_cells, visible_problem
from _notebooks import ROOT
from test_ex02 import _changed_line, _function_body, _replacements, _swap

ASSIGNMENT = "ex04_esn"
SPEC, SECRET = load_spec(ROOT, ASSIGNMENT)
PARTS = {part.cell: part for part in SPEC.parts}
SOLUTION_PATH = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
VISIBLE = visible_cells(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
SOLUTION = answer_cells(SOLUTION_PATH)
FUNCTIONS = ("scale_to_radius", "leaky_states", "ridge_readout", "choose_ridge")

SCALE = "def scale_to_radius(W, radius):\n"
LEAKY = "def leaky_states(inputs, W, U, b, leak_rate, h0=None):\n"
RIDGE = "def ridge_readout(states, targets, ridge):\n"
CHOOSE = "def choose_ridge(train_states, train_targets, val_states, val_targets, ridges):\n"

LEAKY_START = """
    h = np.zeros(W.shape[0]) if h0 is None else h0
    states = []
"""
RIDGE_START = """
    T, H = states.shape
    Phi = np.hstack([np.ones((T, 1)), states])
"""
CHOOSE_LOOP = """
    errors = []
    for ridge in ridges:
        V_h, V_0 = ridge_readout(train_states, train_targets, ridge)
        P = val_states @ V_h.T + V_0
"""
CHOOSE_END = """
    errors = np.array(errors)
    V_h, V_0 = ridge_readout(train_states, train_targets, ridges[np.argmin(errors)])
    return V_h, V_0, errors
"""


def _choose(error_line: str, end: str = CHOOSE_END) -> str:
    return CHOOSE_LOOP + "        " + error_line.strip() + "\n" + end


MISTAKES = [
    mistake("scale: the spectral norm", "scale_to_radius", SCALE, """
        return W * (radius / np.linalg.norm(W, 2))"""),
    mistake("scale: the Frobenius norm", "scale_to_radius", SCALE, """
        return W * (radius / np.linalg.norm(W))"""),
    mistake("scale: the largest real part", "scale_to_radius", SCALE, """
        return W * (radius / np.max(np.linalg.eigvals(W).real))"""),
    mistake("scale: the largest |real part|", "scale_to_radius", SCALE, """
        return W * (radius / np.max(np.abs(np.linalg.eigvals(W).real)))"""),
    mistake("scale: divided by the eigenvalue itself (a complex result)", "scale_to_radius", SCALE, """
        values = np.linalg.eigvals(W)
        return W * radius / values[np.argmax(np.abs(values))]"""),
    mistake("scale: the factor upside down", "scale_to_radius", SCALE, """
        return W * (np.max(np.abs(np.linalg.eigvals(W))) / radius)"""),
    mistake("scale: the radius ignored", "scale_to_radius", SCALE, """
        return W / np.max(np.abs(np.linalg.eigvals(W)))"""),
    mistake("scale: the largest |entry|", "scale_to_radius", SCALE, """
        return W * (radius / np.abs(W).max())"""),
    mistake("scale: power iteration", "scale_to_radius", SCALE, """
        v = np.ones(W.shape[0])
        for _ in range(100):
            w = W @ v
            rho = np.linalg.norm(w) / np.linalg.norm(v)
            v = w / np.linalg.norm(w)
        return W * (radius / rho)"""),
    mistake("leaky: the leak the wrong way round", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = leak_rate * h + (1 - leak_rate) * np.tanh(W @ h + U @ x + b)
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: tanh after leaking", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = np.tanh((1 - leak_rate) * h + leak_rate * (W @ h + U @ x + b))
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: the leak rate ignored", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = np.tanh(W @ h + U @ x + b)
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: h0 ignored", "leaky_states", LEAKY, """
        h = np.zeros(W.shape[0])
        states = []
        for x in inputs:
            h = (1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x + b)
            states.append(h)
        return np.array(states)"""),
    mistake("leaky: h0 as the first row", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        states.append(h)
        h = (1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x + b)
    return np.array(states)"""),
    mistake("leaky: T + 1 rows with h0", "leaky_states", LEAKY, LEAKY_START + """
    states.append(h)
    for x in inputs:
        h = (1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x + b)
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: only the last state", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = (1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x + b)
    return h"""),
    mistake("leaky: no bias", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = (1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x)
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: h @ W (W transposed)", "leaky_states", LEAKY, LEAKY_START + """
    for x in inputs:
        h = (1 - leak_rate) * h + leak_rate * np.tanh(h @ W + U @ x + b)
        states.append(h)
    return np.array(states)"""),
    mistake("leaky: the state not carried", "leaky_states", LEAKY, """
        h = np.zeros(W.shape[0]) if h0 is None else h0
        return np.array([(1 - leak_rate) * h + leak_rate * np.tanh(W @ h + U @ x + b) for x in inputs])"""),
    mistake("ridge: the bias penalised", "ridge_readout", RIDGE, RIDGE_START + """
    V = np.linalg.solve(Phi.T @ Phi + ridge * np.eye(H + 1), Phi.T @ targets)
    return V[1:].T, V[0]"""),
    mistake("ridge: no bias", "ridge_readout", RIDGE, """
        V_h = np.linalg.solve(states.T @ states + ridge * np.eye(states.shape[1]), states.T @ targets).T
        return V_h, np.zeros(targets.shape[1])"""),
    mistake("ridge: the ridge forgotten", "ridge_readout", RIDGE, RIDGE_START + """
    V = np.linalg.solve(Phi.T @ Phi, Phi.T @ targets)
    return V[1:].T, V[0]"""),
    mistake("ridge: least squares without the ridge", "ridge_readout", RIDGE, RIDGE_START + """
    V = np.linalg.lstsq(Phi, targets, rcond=None)[0]
    return V[1:].T, V[0]"""),
    mistake("ridge: augmented rows with ridge, not sqrt(ridge)", "ridge_readout", RIDGE, RIDGE_START + """
    A = np.vstack([Phi, ridge * np.eye(H + 1)[1:]])
    Y = np.vstack([targets, np.zeros((H, targets.shape[1]))])
    V = np.linalg.lstsq(A, Y, rcond=None)[0]
    return V[1:].T, V[0]"""),
    mistake("ridge: ridge times T", "ridge_readout", RIDGE, RIDGE_START + """
    penalty = ridge * T * np.eye(H + 1)
    penalty[0, 0] = 0
    V = np.linalg.solve(Phi.T @ Phi + penalty, Phi.T @ targets)
    return V[1:].T, V[0]"""),
    mistake("ridge: V_h transposed", "ridge_readout", RIDGE, RIDGE_START + """
    penalty = ridge * np.eye(H + 1)
    penalty[0, 0] = 0
    V = np.linalg.solve(Phi.T @ Phi + penalty, Phi.T @ targets)
    return V[1:], V[0]"""),
    mistake("ridge: returns (V_0, V_h)", "ridge_readout", RIDGE, RIDGE_START + """
    penalty = ridge * np.eye(H + 1)
    penalty[0, 0] = 0
    V = np.linalg.solve(Phi.T @ Phi + penalty, Phi.T @ targets)
    return V[0], V[1:].T"""),
    mistake("ridge: the bias is the mean target", "ridge_readout", RIDGE, """
        centred = states - states.mean(axis=0)
        V_h = np.linalg.solve(centred.T @ centred + ridge * np.eye(states.shape[1]),
                              centred.T @ (targets - targets.mean(axis=0))).T
        return V_h, targets.mean(axis=0)"""),
    mistake("choose: errors on the training data", "choose_ridge", CHOOSE, """
    errors = []
    for ridge in ridges:
        V_h, V_0 = ridge_readout(train_states, train_targets, ridge)
        P = train_states @ V_h.T + V_0
        errors.append(np.mean(np.sqrt(np.mean((train_targets - P) ** 2, axis=0)) / np.std(train_targets, axis=0)))
""" + CHOOSE_END),
    mistake("choose: chosen by the training error", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))",
        """
    train = [np.mean((train_targets - train_states @ ridge_readout(train_states, train_targets, r)[0].T
                      - ridge_readout(train_states, train_targets, r)[1]) ** 2) for r in ridges]
    V_h, V_0 = ridge_readout(train_states, train_targets, ridges[int(np.argmin(train))])
    return V_h, V_0, np.array(errors)
""")),
    mistake("choose: RMSE, not normalised", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0))))")),
    mistake("choose: normalised by the variance", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.mean((val_targets - P) ** 2, axis=0) / np.var(val_targets, axis=0)))")),
    mistake("choose: std with ddof=1", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0, ddof=1)))")),
    mistake("choose: the outputs pooled", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.sqrt(np.mean((val_targets - P) ** 2)) / np.std(val_targets))")),
    mistake("choose: the largest error (argmax)", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))",
        """
    V_h, V_0 = ridge_readout(train_states, train_targets, ridges[np.argmax(errors)])
    return V_h, V_0, np.array(errors)
""")),
    mistake("choose: the last candidate's readout", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))",
        """
    return V_h, V_0, np.array(errors)
""")),
    mistake("choose: the errors as a list", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))",
        """
    V_h, V_0 = ridge_readout(train_states, train_targets, ridges[np.argmin(errors)])
    return V_h, V_0, errors
""")),
    mistake("choose: returns (best ridge, errors)", "choose_ridge", CHOOSE, _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))",
        """
    return ridges[np.argmin(errors)], np.array(errors)
""")),
    mistake("choose: the candidates sorted first", "choose_ridge", CHOOSE, "\n    ridges = np.sort(ridges)" + _choose(
        "errors.append(np.mean(np.sqrt(np.mean((val_targets - P) ** 2, axis=0)) / np.std(val_targets, axis=0)))")),
]

CORRECT_VARIANTS = [
    mistake("scale: eig of W.T, moduli by hypot, a copy scaled in place", "scale_to_radius", SCALE, """
        values = np.linalg.eig(W.T)[0]
        rho = max(np.hypot(v.real, v.imag) for v in values)
        out = np.array(W, dtype=float, copy=True)
        out *= radius / rho
        return out"""),
    mistake("scale: radius * W / rho from conj products, float32 never", "scale_to_radius", SCALE, """
        lam = np.linalg.eigvals(W)
        rho = np.sqrt(np.max((lam * lam.conj()).real))
        return radius * W / rho"""),
    mistake("leaky: row vectors, all drives at once, h += leak * (new - h)", "leaky_states", LEAKY, """
        T, H = inputs.shape[0], W.shape[0]
        drive = inputs @ U.T + b
        out = np.empty((T, H))
        h = np.zeros(H) if h0 is None else np.array(h0, dtype=float)
        for t in range(T):
            h = h + leak_rate * (np.tanh(h @ W.T + drive[t]) - h)
            out[t] = h
        return out"""),
    mistake("leaky: a while loop, einsum, a (T+1, H) buffer", "leaky_states", LEAKY, """
        states = np.zeros((len(inputs) + 1, len(b)))
        if h0 is not None:
            states[0] = h0
        t = 0
        while t < len(inputs):
            pre = np.einsum("ij,j->i", W, states[t]) + np.einsum("ij,j->i", U, inputs[t]) + b
            states[t + 1] = (1.0 - leak_rate) * states[t] + leak_rate * np.tanh(pre)
            t += 1
        return states[1:]"""),
    mistake("ridge: lstsq with sqrt(ridge) rows appended", "ridge_readout", RIDGE, """
        T, H = states.shape
        Phi = np.column_stack([np.ones(T), states])
        A = np.vstack([Phi, np.sqrt(ridge) * np.eye(H + 1)[1:]])
        Y = np.vstack([targets, np.zeros((H, targets.shape[1]))])
        V, *_ = np.linalg.lstsq(A, Y, rcond=None)
        return V[1:].T.copy(), V[0].copy()"""),
    mistake("ridge: centred states, then the bias", "ridge_readout", RIDGE, """
        mean_h, mean_y = states.mean(axis=0), targets.mean(axis=0)
        Hc, Yc = states - mean_h, targets - mean_y
        V_h = np.linalg.solve(Hc.T @ Hc + ridge * np.eye(Hc.shape[1]), Hc.T @ Yc).T
        return V_h, mean_y - V_h @ mean_h"""),
    mistake("ridge: normal equations summed step by step, inverted", "ridge_readout", RIDGE, """
        H, K = states.shape[1], targets.shape[1]
        G, C = np.zeros((H + 1, H + 1)), np.zeros((H + 1, K))
        for h, y in zip(states, targets):
            phi = np.concatenate([[1.0], h])
            G += np.outer(phi, phi)
            C += np.outer(phi, y)
        G[1:, 1:] += ridge * np.eye(H)
        V = np.linalg.inv(G) @ C
        return V[1:].T, V[0]"""),
    mistake("choose: fits kept in a list, a nested nrmse", "choose_ridge", CHOOSE, """
        fits = [ridge_readout(train_states, train_targets, r) for r in ridges]

        def nrmse(y, p):
            return (np.sqrt(((y - p) ** 2).mean(0)) / y.std(0)).mean()

        errors = np.array([nrmse(val_targets, val_states @ Vh.T + V0) for Vh, V0 in fits])
        best = int(errors.argmin())
        return fits[best][0], fits[best][1], errors"""),
    mistake("choose: best so far, norms and variances, einsum", "choose_ridge", CHOOSE, """
        best_error, best_fit, errors = np.inf, None, np.empty(len(ridges))
        T = len(val_targets)
        for i, ridge in enumerate(ridges):
            V_h, V_0 = ridge_readout(train_states, train_targets, ridge)
            residual = val_targets - (V_0 + np.einsum("kh,th->tk", V_h, val_states))
            per_output = np.linalg.norm(residual, axis=0) / np.sqrt(T) / np.sqrt(np.var(val_targets, axis=0))
            errors[i] = per_output.sum() / per_output.size
            if errors[i] < best_error:
                best_error, best_fit = errors[i], (V_h, V_0)
        return best_fit[0], best_fit[1], errors"""),
]

#: Right results, but an argument changed in place: the grader sees only results, the self-check refuses.
IN_PLACE = [
    mistake("scale: W scaled in place", "scale_to_radius", SCALE, """
        W *= radius / np.max(np.abs(np.linalg.eigvals(W)))
        return W"""),
    mistake("leaky: h0 updated in place", "leaky_states", LEAKY, """
        h = np.zeros(W.shape[0]) if h0 is None else h0
        states = []
        for x in inputs:
            new = np.tanh(W @ h + U @ x + b)
            h *= 1 - leak_rate
            h += leak_rate * new
            states.append(h.copy())
        return np.array(states)"""),
    mistake("ridge: the states centred in place", "ridge_readout", RIDGE, """
        mean_h, mean_y = states.mean(axis=0), targets.mean(axis=0)
        states -= mean_h
        V_h = np.linalg.solve(states.T @ states + ridge * np.eye(states.shape[1]), states.T @ (targets - mean_y)).T
        return V_h, mean_y - V_h @ mean_h"""),
]


def _namespace(replacement: Mistake | None = None, sources: dict[str, str] | None = None) -> dict[str, Any]:
    """A student's notebook namespace: the instructor's answers, one function replaced."""
    namespace: dict[str, Any] = {"np": np, "check": check_ex04, "__name__": "__main__"}
    for function in FUNCTIONS:
        exec(compile((sources or SOLUTION)[function], f"<solution {function}>", "exec"), namespace)
    if replacement is not None:
        exec(compile(replacement.source, f"<{replacement.name}>", "exec"), namespace)
    return namespace


def _hidden(cell: str, namespace: dict[str, Any]) -> list[str]:
    return hidden_problems(SPEC, SECRET, cell, namespace)


def _cells_of(function: str) -> list[str]:
    return [cell for cell, part in PARTS.items() if part.function == function]


# --------------------------------------------------------------------------- honesty


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_mistake_loses_points_and_the_visible_check_says_so(mistake):
    namespace = _namespace(mistake)
    lost = [cell for cell in PARTS if _hidden(cell, namespace)]
    assert set(lost) & set(_cells_of(mistake.function)), f"'{mistake}' loses no points in its own part"
    for cell in lost:  # its own cells, and choose_ridge's where a wrong ridge_readout is called
        assert visible_problem(VISIBLE[cell], namespace) is not None, (
            f"'{mistake}' passes the visible self-check of {cell} but loses points in its hidden cases"
        )


@pytest.mark.parametrize("variant", [None, *CORRECT_VARIANTS], ids=lambda v: "solution" if v is None else str(v))
def test_correct_code_passes_visible_and_hidden(variant):
    namespace = _namespace(variant)
    for cell in PARTS:
        assert visible_problem(VISIBLE[cell], namespace) is None, (cell, visible_problem(VISIBLE[cell], namespace))
        assert _hidden(cell, namespace) == [], (cell, _hidden(cell, namespace))


@pytest.mark.parametrize("variant", IN_PLACE, ids=str)
def test_in_place_changes_are_refused_by_the_self_check(variant):
    namespace = _namespace(variant)
    for cell in _cells_of(variant.function):
        problem = visible_problem(VISIBLE[cell], namespace)
        assert problem is not None and "in place" in problem, (cell, problem)
        assert _hidden(cell, namespace) == [], cell  # the grader sees only the (right) results
    for cell in PARTS:  # a part that calls it again on the same arrays does lose points, and says why
        if _hidden(cell, namespace):
            assert "in place" in (visible_problem(VISIBLE[cell], namespace) or ""), cell


NAMED = {
    "scale: the spectral norm": "largest singular value",
    "scale: the largest real part": "largest real part",
    "scale: the largest |real part|": "|real part|",
    "scale: divided by the eigenvalue itself (a complex result)": "complex",
    "scale: the factor upside down": "upside down",
    "leaky: the leak the wrong way round": "wrong way round",
    "leaky: tanh after leaking": "tanh is applied after leaking",
    "leaky: h0 ignored": "h0 is ignored",
    "leaky: h0 as the first row": "one step late",
    "leaky: T + 1 rows with h0": "leave h0 out",
    "leaky: only the last state": "only one state",
    "leaky: no bias": "bias b is missing",
    "leaky: h @ W (W transposed)": "W is transposed",
    "ridge: the bias penalised": "bias is penalised",
    "ridge: no bias": "no bias",
    "ridge: the ridge forgotten": "ridge is missing",
    "ridge: augmented rows with ridge, not sqrt(ridge)": "sqrt(ridge)",
    "ridge: ridge times T": "ridge * T",
    "ridge: V_h transposed": "(K, H)",
    "ridge: returns (V_0, V_h)": "the order is",
    "choose: errors on the training data": "measured on the training data",
    "choose: chosen by the training error": "lowest training error",
    "choose: RMSE, not normalised": "not normalised",
    "choose: normalised by the variance": "variance",
    "choose: std with ddof=1": "ddof=1",
    "choose: the outputs pooled": "pooled",
    "choose: the errors as a list": "as a list",
    "choose: returns (best ridge, errors)": "returned 2 items",
}


@pytest.mark.parametrize("name, words", NAMED.items())
def test_the_self_check_names_the_mistake(name, words):
    wrong = next(m for m in MISTAKES if m.name == name)
    namespace = _namespace(wrong)
    problems = [visible_problem(VISIBLE[cell], namespace) for cell in _cells_of(wrong.function)]
    assert any(p and words in p for p in problems), problems


def test_the_reference_is_refused_by_the_self_check():
    answer = mistake("ridge: rnncourse's own", "ridge_readout", "from rnncourse.esn import ridge_readout as _fit\n\n" + RIDGE,
                     "return _fit(states, targets, ridge)")
    problem = visible_problem(VISIBLE["test_ridge_values"], _namespace(answer))
    assert problem is not None and "rnncourse" in problem


def test_the_unanswered_stub_says_so():
    stub = mistake("stub", "scale_to_radius", SCALE, "raise NotImplementedError()")
    problem = visible_problem(VISIBLE["test_scale_values"], _namespace(stub))
    assert problem is not None and "not implemented" in problem


def test_every_graded_cell_has_a_visible_check_and_hidden_cases():
    assert set(VISIBLE) == set(PARTS)
    assert set(SOLUTION) >= set(FUNCTIONS)
    assert {m.function for m in MISTAKES} == set(FUNCTIONS)
    assert {part.function for part in SPEC.parts} == set(FUNCTIONS) and 10 <= SPEC.max_score <= 12
    assert all("rnncourse" in part.forbidden and "torch" in part.forbidden for part in SPEC.parts)


# --------------------------------------------------------------------------- the references and the cases


def _drawn(cell: str):
    """Every hidden case's arguments of ``cell``, as each test student gets them."""
    part = PARTS[cell]
    for student in STUDENTS:
        for index, case in enumerate(part.cases):
            yield case, case.make_args(case_rng(SECRET, student, cell, index))


def test_the_references_agree_with_independent_computations():
    for cell in ("test_scale_values", "test_scale_general"):
        for case, (W, radius) in _drawn(cell):
            scaled = check_ex04.reference_scale_to_radius(W.copy(), radius)
            assert np.isclose(np.max(np.abs(np.linalg.eigvals(scaled))), radius, rtol=1e-10, atol=1e-12), case.name
            assert np.allclose(scaled * np.max(np.abs(np.linalg.eigvals(W))), W * radius, rtol=1e-10, atol=1e-14)
    for cell in ("test_ridge_values", "test_ridge_general"):
        for case, (states, targets, ridge) in _drawn(cell):
            V_h, V_0 = check_ex04.reference_ridge_readout(states, targets, ridge)
            residual = targets - states @ V_h.T - V_0
            # the gradient of the objective is zero: with respect to V_0, and to V_h (penalty included)
            assert np.allclose(residual.sum(axis=0), 0.0, atol=1e-8), case.name
            assert np.allclose(-residual.T @ states + ridge * V_h, 0.0, atol=1e-8), case.name
    for cell in ("test_choose_values", "test_choose_general"):
        for case, args in _drawn(cell):
            V_h, V_0, errors = check_ex04.reference_choose_ridge(*fresh_copies(args))
            train_states, train_targets, val_states, val_targets, ridges = args
            by_hand = [esn.nrmse(val_targets, val_states @ fit[0].T + fit[1])
                       for fit in (esn.ridge_readout(train_states, train_targets, r) for r in ridges)]
            assert np.allclose(errors, by_hand, rtol=1e-12), case.name
            best = esn.ridge_readout(train_states, train_targets, ridges[int(np.argmin(by_hand))])
            assert np.allclose(V_h, best[0]) and np.allclose(V_0, best[1]), case.name


def test_the_hidden_cases_separate_what_they_claim():
    for case, (W, radius) in _drawn("test_scale_general"):
        values = np.linalg.eigvals(W)
        rho = np.max(np.abs(values))
        assert np.linalg.norm(W, 2) > 1.01 * rho or W.shape == (1, 1), case.name  # not normal: norm != radius
        if "complex pair" in case.name:
            assert abs(values[np.argmax(np.abs(values))].imag) > 0.1 * rho
            assert np.max(np.abs(values.real)) < 0.9 * rho
        if "negative" in case.name:
            assert values[np.argmax(np.abs(values))].real < 0 and np.max(values.real) > 0.5 * rho
    for cell in ("test_choose_values", "test_choose_general"):
        for case, args in _drawn(cell):
            if len(args[4]) == 1:
                continue
            valid = check_ex04._errors(args, check_ex04.validation_nrmse)
            training = check_ex04._errors(args, check_ex04.validation_nrmse, on_training=True)
            ordered = np.sort(valid)
            assert ordered[1] - ordered[0] > 1e-3 * ordered[0], case.name  # no near-tie at the top
            assert np.argmin(valid) != np.argmin(training), case.name
            if "scales" in case.name:
                assert np.argmin(valid) != np.argmin(check_ex04._errors(args, check_ex04._rmse)), case.name
    assert any(np.any(np.diff(args[4]) > 0) and np.any(np.diff(args[4]) < 0) for _, args in _drawn("test_choose_general"))


# --------------------------------------------------------------------------- mutations of the solution
#
# As in exercises 2 and 3: every small mechanical change to an answer (an operator swapped, a term or a
# transpose dropped, a wrong axis, argmin for argmax, an off-by-one constant) must cost points, unless it
# is listed here as equivalent, with the reason.

#: Mutants that keep full marks because they compute the same function on every input the exercise allows.
EQUIVALENT: dict[str, set[str]] = {}


def _spectral_replacements(node: ast.AST):
    """Mutations that matter for a spectral radius: the modulus dropped or replaced by the real part, and a
    solver that assumes a symmetric matrix."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "abs" and node.args:
        yield node.args[0]
        yield ast.Attribute(node.args[0], "real", ast.Load())
    elif isinstance(node, ast.Attribute) and node.attr == "eigvals":
        yield ast.Attribute(node.value, "eigvalsh", node.ctx)


def mutants(function: str):
    """``(changed line, mutated source)`` for every single mutation inside the answer's body (exercise 2's
    operators, and for the spectral radius the modulus dropped or made a real part, and ``eigvalsh``)."""
    source = SOLUTION[function]
    _, owner = _function_body(source)
    count = sum(1 for _ in ast.walk(ast.Module(body=owner.body[1:], type_ignores=[])))
    for index in range(count):
        tree, owner = _function_body(source)
        nodes = list(ast.walk(ast.Module(body=owner.body[1:], type_ignores=[])))  # [1:]: not the docstring
        target = nodes[index]
        for replacement in [*_replacements(target), *_spectral_replacements(target)]:
            mutated = copy.deepcopy(tree)
            if _swap(mutated, target, replacement, tree) is None:
                continue
            yield _changed_line(ast.unparse(tree), ast.unparse(mutated)), ast.unparse(mutated)


def _score(namespace: dict[str, Any]) -> float:
    total = 0.0
    for part in SPEC.parts:
        passed = 0
        for index, case in enumerate(part.cases):
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    passed += case_problem(namespace[part.function], part, case,
                                           case_rng(SECRET, "mutant", part.cell, index)) is None
            except Exception:
                continue
        total += part.points * passed / len(part.cases)
    return total


def test_the_unmutated_solution_scores_full_marks_here():
    assert _score(_namespace()) == SPEC.max_score


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_mutation_of_the_solution_loses_points(function):
    survivors, tried = [], 0
    for line, source in mutants(function):
        try:
            namespace = _namespace(sources={**SOLUTION, function: source})
        except Exception:
            continue  # does not even define the function: the student would see that at once
        tried += 1
        if _score(namespace) >= SPEC.max_score and line not in EQUIVALENT.get(function, set()):
            survivors.append(line)
    assert tried >= 4, f"only {tried} mutants of {function}: the mutation operators found nothing to change"
    assert not survivors, f"mutants of {function} that keep full marks (add a hidden case, or list them as equivalent): {survivors}"


def test_equivalent_mutants_are_real_mutants():
    for function, expected in EQUIVALENT.items():
        lines = {line for line, _ in mutants(function)}
        assert expected <= lines, f"stale entries in EQUIVALENT[{function!r}]: {expected - lines}"
