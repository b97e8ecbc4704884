"""Exercise 2 (backpropagation through time): honest self-checks, unusual correct answers keep their
marks, and plausible mistakes lose points — including every small mutation of the solution.

Everything here runs in this process, with the hidden cases compared exactly as the grader compares
them after the wire (tests/_hidden.py); tests/test_pipeline.py grades the notebooks end to end.
"""

from __future__ import annotations

import ast
import copy
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from rnncourse.checks import ex02 as check_ex02
from rnncourse.grading.grader import compare_result
from rnncourse.grading.inkernel import as_plain, fresh_copies
from rnncourse.grading.spec import case_rng, load_spec

from _hidden import Mistake, answer_cells, hidden_problems, mistake, notebook_cells, visible_cells, visible_problem
from _notebooks import ROOT

ASSIGNMENT = "ex02_bptt"
SPEC, SECRET = load_spec(ROOT, ASSIGNMENT)
PARTS = {part.cell: part for part in SPEC.parts}
SOLUTION_PATH = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
VISIBLE = visible_cells(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
SOLUTION = answer_cells(SOLUTION_PATH)
#: The locked cell that gives students `softmax` and `forward`.
GIVEN = next("".join(c["source"]) for c in notebook_cells(SOLUTION_PATH)
             if c["metadata"].get("nbgrader", {}).get("grade_id") == "forward")
FUNCTIONS = ("step_backward", "bptt", "clip_gradients", "softmax_with_temperature", "sample")

STEP = "def step_backward(dh, x, h_prev, h, W, U):\n"
BPTT = "def bptt(x, Y, h0, W, U, b, V, c):\n"
CLIP = "def clip_gradients(max_norm, *grads):\n"
TEMP = "def softmax_with_temperature(o, temperature):\n"
SAMPLE = "def sample(burn_in, n, temperature, uniforms, h0, W, U, b, V, c):\n"

BPTT_LOOP = """
    h, y_hat = forward(x, h0, W, U, b, V, c)
    do = y_hat - Y
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh_next = np.zeros_like(h0)
"""

MISTAKES = [
    mistake("step: tanh in place of its derivative", "step_backward", STEP, """
        da = dh * np.tanh(h)
        return da @ U, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=0)"""),
    mistake("step: derivative 1 - h", "step_backward", STEP, """
        da = dh * (1 - h)
        return da @ U, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=0)"""),
    mistake("step: tanh applied to the cached output again", "step_backward", STEP, """
        da = dh * (1 - np.tanh(h) ** 2)
        return da @ U, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=0)"""),
    mistake("step: dW transposed", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W, h_prev.T @ da, da.T @ x, da.sum(axis=0)"""),
    mistake("step: dh_prev through W.T", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W.T, da.T @ h_prev, da.T @ x, da.sum(axis=0)"""),
    mistake("step: db per example", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W, da.T @ h_prev, da.T @ x, da"""),
    mistake("step: db summed over units", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=1)"""),
    mistake("step: weights from dh, not da", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W, dh.T @ h_prev, dh.T @ x, dh.sum(axis=0)"""),
    mistake("step: dW and dU swapped", "step_backward", STEP, """
        da = dh * (1 - h**2)
        return da @ U, da @ W, da.T @ x, da.T @ h_prev, da.sum(axis=0)"""),
    mistake("bptt: no gradient through time", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: forward in time", "bptt", BPTT, BPTT_LOOP + """
    for t in range(x.shape[0]):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: no sum over time (last step kept)", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW_t, dU_t, db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: h_prev is the current state", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h[t], h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: every step starts from h0", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h0, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: dV transposed", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->hk", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: output error with the wrong sign", "bptt", BPTT, """
    h, y_hat = forward(x, h0, W, U, b, V, c)
    do = Y - y_hat
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh_next = np.zeros_like(h0)
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("bptt: dh0 left at zero", "bptt", BPTT, BPTT_LOOP + """
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), np.zeros_like(h0)"""),
    mistake("bptt: the mean loss over the batch", "bptt", BPTT, BPTT_LOOP + """
    do = do / x.shape[1]
    for t in reversed(range(x.shape[0])):
        h_prev = h[t - 1] if t > 0 else h0
        _, dh_next, dW_t, dU_t, db_t = step_backward(do[t] @ V + dh_next, x[t], h_prev, h[t], W, U)
        dW, dU, db = dW + dW_t, dU + dU_t, db + db_t
    return dW, dU, db, np.einsum("tbk,tbh->kh", do, h), do.sum(axis=(0, 1)), dh_next"""),
    mistake("clip: each gradient clipped on its own", "clip_gradients", CLIP, """
        out = []
        for g in grads:
            norm = np.sqrt(np.sum(g**2))
            out.append(g * max_norm / norm if norm > max_norm else g)
        return tuple(out)"""),
    mistake("clip: squared norm", "clip_gradients", CLIP, """
        norm = sum(np.sum(g**2) for g in grads)
        return tuple(g * max_norm / norm if norm > max_norm else g for g in grads)"""),
    mistake("clip: always rescaled to max_norm", "clip_gradients", CLIP, """
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        return tuple(g * max_norm / norm for g in grads)"""),
    mistake("clip: the condition backwards", "clip_gradients", CLIP, """
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        return tuple(g * max_norm / norm if norm < max_norm else g for g in grads)"""),
    mistake("clip: a list, not a tuple", "clip_gradients", CLIP, """
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        return [g * (max_norm / norm if norm > max_norm else 1.0) for g in grads]"""),
    mistake("temperature: multiplied", "softmax_with_temperature", TEMP, """
        if temperature == 0:
            return (o == o.max(axis=-1, keepdims=True)).astype(float)
        return softmax(o * temperature)"""),
    mistake("temperature: 0 not handled", "softmax_with_temperature", TEMP, """
        return softmax(o / temperature)"""),
    mistake("temperature: overflows", "softmax_with_temperature", TEMP, """
        if temperature == 0:
            return (o == o.max(axis=-1, keepdims=True)).astype(float)
        e = np.exp(o / temperature)
        return e / e.sum(axis=-1, keepdims=True)"""),
    mistake("temperature: greedy over the wrong axis", "softmax_with_temperature", TEMP, """
        if temperature == 0:
            return (o == o.max(axis=0, keepdims=True)).astype(float)
        return softmax(o / temperature)"""),
    mistake("sample: no burn-in", "sample", SAMPLE, """
        h = h0
        K = V.shape[0]
        chosen = []
        for i in range(n):
            p = softmax_with_temperature(c + V @ h, temperature)
            k = min(int(np.searchsorted(np.cumsum(p), uniforms[i], side="right")), K - 1)
            chosen.append(k)
            h = np.tanh(b + W @ h + U @ np.eye(K)[k])
        return np.array(chosen)"""),
    mistake("sample: the drawn character is not fed back", "sample", SAMPLE, """
        h = h0
        for x in burn_in:
            h = np.tanh(b + W @ h + U @ x)
        K = V.shape[0]
        chosen = []
        for i in range(n):
            p = softmax_with_temperature(c + V @ h, temperature)
            chosen.append(min(int(np.searchsorted(np.cumsum(p), uniforms[i], side="right")), K - 1))
            h = np.tanh(b + W @ h + U @ burn_in[-1])
        return np.array(chosen)"""),
    mistake("sample: first probability above u, not cumulative", "sample", SAMPLE, """
        h = h0
        for x in burn_in:
            h = np.tanh(b + W @ h + U @ x)
        K = V.shape[0]
        chosen = []
        for i in range(n):
            p = softmax_with_temperature(c + V @ h, temperature)
            k = int(np.argmax(p > uniforms[i]))
            chosen.append(k)
            h = np.tanh(b + W @ h + U @ np.eye(K)[k])
        return np.array(chosen)"""),
    mistake("sample: temperature ignored", "sample", SAMPLE, """
        h = h0
        for x in burn_in:
            h = np.tanh(b + W @ h + U @ x)
        K = V.shape[0]
        chosen = []
        for i in range(n):
            p = softmax(c + V @ h)
            k = min(int(np.searchsorted(np.cumsum(p), uniforms[i], side="right")), K - 1)
            chosen.append(k)
            h = np.tanh(b + W @ h + U @ np.eye(K)[k])
        return np.array(chosen)"""),
]

CORRECT_VARIANTS = [
    mistake("step: einsum and an explicit derivative", "step_backward", STEP, """
        derivative = 1.0 - np.square(h)
        da = np.multiply(dh, derivative)
        return (np.einsum("bh,hd->bd", da, U), np.einsum("bh,hk->bk", da, W),
                np.einsum("bh,bk->hk", da, h_prev), np.einsum("bh,bd->hd", da, x), np.einsum("bh->h", da))"""),
    mistake("step: a loop over the batch", "step_backward", STEP, """
        dW = np.zeros(W.shape); dU = np.zeros(U.shape); db = np.zeros(W.shape[0])
        dx = np.zeros(x.shape); dh_prev = np.zeros(h_prev.shape)
        for i in range(x.shape[0]):
            da = dh[i] * (1 - h[i] * h[i])
            dW += np.outer(da, h_prev[i]); dU += np.outer(da, x[i]); db += da
            dx[i] = U.T @ da; dh_prev[i] = W.T @ da
        return dx, dh_prev, dW, dU, db"""),
    mistake("bptt: everything inline, gradients stacked then summed", "bptt", BPTT, """
        T = len(x)
        states = [h0]
        for t in range(T):
            states.append(np.tanh(b + states[-1] @ W.T + x[t] @ U.T))
        o = np.stack([c + s @ V.T for s in states[1:]])
        p = np.exp(o - o.max(-1, keepdims=True)); p /= p.sum(-1, keepdims=True)
        do = p - Y
        parts = {"W": [], "U": [], "b": []}
        carry = 0
        for t in range(T - 1, -1, -1):
            da = (do[t] @ V + carry) * (1 - states[t + 1] ** 2)
            parts["W"].append(da.T @ states[t]); parts["U"].append(da.T @ x[t]); parts["b"].append(da.sum(0))
            carry = da @ W
        dV = sum(do[t].T @ states[t + 1] for t in range(T))
        return (np.sum(parts["W"], axis=0), np.sum(parts["U"], axis=0), np.sum(parts["b"], axis=0), dV,
                do.reshape(-1, do.shape[-1]).sum(0), carry)"""),
    # NumPy's 1.0 / 0.0 is inf with a warning, so the all-zero case still comes out right
    mistake("clip: min(1, max_norm / norm)", "clip_gradients", CLIP, """
        norm = np.sqrt(sum(np.sum(g**2) for g in grads))
        return tuple(g * min(1.0, max_norm / norm) for g in grads)"""),
    mistake("clip: one flat vector", "clip_gradients", CLIP, """
        flat = np.concatenate([np.ravel(g) for g in grads])
        norm = np.linalg.norm(flat)
        if norm <= max_norm:
            return tuple(np.array(g, copy=True) for g in grads)
        return tuple(g / norm * max_norm for g in grads)"""),
    mistake("temperature: log-sum-exp and an eye row", "softmax_with_temperature", TEMP, """
        if not temperature:
            return np.eye(o.shape[-1])[np.argmax(o, axis=-1)]
        z = o / temperature
        z = z - z.max(axis=-1, keepdims=True)
        return np.exp(z - np.log(np.exp(z).sum(axis=-1, keepdims=True)))"""),
    mistake("sample: a while loop over the cumulative sum, int32 result", "sample", SAMPLE, """
        state = h0.copy()
        for row in burn_in:
            state = np.tanh(b + W.dot(state) + U.dot(row))
        out = np.zeros(n, dtype=np.int32)
        for i in range(n):
            p = softmax_with_temperature(c + V.dot(state), temperature)
            k, total = 0, p[0]
            while total <= uniforms[i] and k < len(p) - 1:
                k += 1
                total += p[k]
            out[i] = k
            state = np.tanh(b + W.dot(state) + U[:, k])
        return out"""),
]


def _namespace(replacement: Mistake | None = None, sources: dict[str, str] | None = None) -> dict[str, Any]:
    """A student's notebook namespace: the given cell, the instructor's answers, one function replaced."""
    namespace: dict[str, Any] = {"np": np, "check": check_ex02, "__name__": "__main__"}
    exec(compile(GIVEN, "<given>", "exec"), namespace)
    for function in FUNCTIONS:
        exec(compile((sources or SOLUTION)[function], f"<solution {function}>", "exec"), namespace)
    if replacement is not None:
        exec(compile(replacement.source, f"<{replacement.name}>", "exec"), namespace)
    return namespace


def _hidden(cell: str, namespace: dict[str, Any]) -> list[str]:
    return hidden_problems(SPEC, SECRET, cell, namespace)


@pytest.mark.parametrize("mistake, cell", [(m, cell) for m in MISTAKES for cell in PARTS],
                         ids=[f"{m} | {cell}" for m in MISTAKES for cell in PARTS])
def test_visible_check_fails_where_hidden_cases_fail(mistake, cell):
    namespace = _namespace(mistake)
    hidden = _hidden(cell, namespace)
    if hidden:
        assert visible_problem(VISIBLE[cell], namespace) is not None, (
            f"'{mistake}' passes the visible self-check of {cell} but loses points in its hidden cases: {hidden[0]}"
        )


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_mistake_loses_points(mistake):
    namespace = _namespace(mistake)
    assert any(_hidden(cell, namespace) for cell in PARTS), f"'{mistake}' loses no points"


@pytest.mark.parametrize("variant", [None, *CORRECT_VARIANTS], ids=lambda v: "solution" if v is None else str(v))
def test_correct_code_passes_visible_and_hidden(variant):
    namespace = _namespace(variant)
    for cell in PARTS:
        assert visible_problem(VISIBLE[cell], namespace) is None, cell
        assert _hidden(cell, namespace) == [], cell


def test_every_graded_cell_has_a_visible_check_and_hidden_cases():
    assert set(VISIBLE) == set(PARTS)
    assert set(SOLUTION) >= set(FUNCTIONS)
    assert {m.function for m in MISTAKES} == set(FUNCTIONS)
    assert len({part.function for part in SPEC.parts}) >= 4 and SPEC.max_score >= 8


def test_bptt_hidden_cases_include_finite_differences_independent_of_the_reference():
    fd = [case for part in SPEC.parts if part.function == "bptt" for case in part.cases
          if case.reference is check_ex02.finite_difference_bptt]
    assert len(fd) >= 2
    args = fd[0].make_args(np.random.default_rng(0))
    numeric = check_ex02.finite_difference_bptt(*fresh_copies(args))
    exact = check_ex02.reference_bptt(*fresh_copies(args))
    for a, b in zip(numeric, exact):
        assert np.allclose(a, b, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- mutations of the solution
#
# Small, mechanical changes to each answer (an operator swapped, a term or a transpose dropped, a wrong
# axis, a comparison flipped, tanh in place of its derivative, the loop run forwards) must each cost
# points. A mutant that keeps full marks is either a gap in the hidden cases (add a case) or provably
# equivalent to the solution; the equivalent ones are listed below with the reason.

_OPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.MatMult: ast.Mult, ast.Pow: ast.Mult}
_COMPARE = {ast.Gt: [ast.GtE, ast.Lt], ast.GtE: [ast.Gt], ast.Lt: [ast.LtE], ast.Eq: [ast.NotEq], ast.NotEq: [ast.Eq]}
_AXIS = {0: [1, -1], 1: [0], -1: [0]}
_SWAPPED_CALLS = {"argmax": "argmin", "max": "min", "sum": "mean", "cumsum": "cumprod", "zeros_like": "ones_like"}

#: Mutants that keep full marks because they compute the same function on every input the
#: exercise allows (the key is the changed line, as ast.unparse writes it).
EQUIVALENT = {
    # at norm == max_norm the factor max_norm / norm is 1 either way
    "clip_gradients": {"scale = max_norm / norm if norm >= max_norm else 1.0"},
    # K - 1 only guards the last index against rounding: the cumulative sum reaches 1 up to an ulp, and
    # a uniform number that close to 1 has probability ~1e-16
    "sample": {"k = min(int(np.searchsorted(np.cumsum(p), uniforms[i], side='right')), K + 1)",
               "k = min(int(np.searchsorted(np.cumsum(p), uniforms[i], side='right')), K)"},
}


def _function_body(source: str) -> tuple[ast.Module, ast.FunctionDef]:
    tree = ast.parse(source)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef))
    return tree, function


def _replacements(node: ast.AST) -> Iterator[ast.AST]:
    """The mutations of one node."""
    if isinstance(node, ast.BinOp):
        if type(node.op) in _OPS:
            yield ast.BinOp(node.left, _OPS[type(node.op)](), node.right)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            yield node.left  # a dropped term
            if isinstance(node.op, ast.Add):
                yield node.right
        if (isinstance(node.op, ast.Sub) and isinstance(node.left, ast.Constant)
                and isinstance(node.right, ast.BinOp) and isinstance(node.right.op, ast.Pow)):
            yield ast.parse(f"np.tanh({ast.unparse(node.right.left)})", mode="eval").body  # tanh, not tanh'
    elif isinstance(node, ast.Attribute) and node.attr == "T":
        yield node.value  # a dropped transpose
    elif isinstance(node, ast.Compare) and len(node.ops) == 1:
        for op in _COMPARE.get(type(node.ops[0]), []):
            yield ast.Compare(node.left, [op()], node.comparators)
    elif isinstance(node, ast.keyword) and node.arg == "axis":
        value = node.value
        if isinstance(value, ast.Constant) and value.value in _AXIS:
            for other in _AXIS[value.value]:
                yield ast.keyword("axis", ast.Constant(other))
        elif isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub):
            yield ast.keyword("axis", ast.Constant(0))
        elif isinstance(value, ast.Tuple):
            yield ast.keyword("axis", ast.Constant(0))
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "reversed":
        yield node.args[0]  # the loop runs forwards
    elif isinstance(node, ast.Attribute) and node.attr in _SWAPPED_CALLS:
        yield ast.Attribute(node.value, _SWAPPED_CALLS[node.attr], node.ctx)
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
        yield ast.Constant(type(node.value)(node.value + 1))  # an off-by-one constant


def mutants(function: str) -> Iterator[tuple[str, str]]:
    """``(changed line, mutated source)`` for every single mutation inside the answer's body."""
    source = SOLUTION[function]
    _, body_owner = _function_body(source)
    count = sum(1 for _ in ast.walk(ast.Module(body=body_owner.body[1:], type_ignores=[])))
    for index in range(count):
        tree, owner = _function_body(source)
        nodes = list(ast.walk(ast.Module(body=owner.body[1:], type_ignores=[])))  # [1:]: not the docstring
        target = nodes[index]
        for replacement in list(_replacements(target)):
            mutated = copy.deepcopy(tree)
            swapped = _swap(mutated, target, replacement, tree)
            if swapped is None:
                continue
            line = _changed_line(ast.unparse(tree), ast.unparse(mutated))
            yield line, ast.unparse(mutated)


def _swap(mutated: ast.Module, target: ast.AST, replacement: ast.AST, original: ast.Module) -> bool | None:
    """Put ``replacement`` where ``target`` is, in the copy ``mutated`` of ``original``."""
    originals = list(ast.walk(original))
    copies = list(ast.walk(mutated))
    where = originals.index(target)
    node = copies[where]
    for parent in ast.walk(mutated):
        for field, value in ast.iter_fields(parent):
            if value is node:
                setattr(parent, field, copy.deepcopy(replacement))
                return True
            if isinstance(value, list) and any(item is node for item in value):
                setattr(parent, field, [copy.deepcopy(replacement) if item is node else item for item in value])
                return True
    return None


def _changed_line(before: str, after: str) -> str:
    for old, new in zip(before.splitlines(), after.splitlines()):
        if old != new:
            return new.strip()
    return after.splitlines()[-1].strip()


#: Hidden cases' arguments and expected results, computed once (finite differences are not free).
_CASES = {
    part.cell: [(args, case.reference(*fresh_copies(args)), case)
                for index, case in enumerate(part.cases)
                for args in [case.make_args(case_rng(SECRET, "mutant", part.cell, index))]]
    for part in SPEC.parts
}


def _score(namespace: dict[str, Any]) -> float:
    total = 0.0
    for part in SPEC.parts:
        function = namespace[part.function]
        passed = 0
        for args, expected, case in _CASES[part.cell]:
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    value = function(*fresh_copies(args))
            except Exception:
                continue
            passed += compare_result(as_plain(value, part.integer_result), expected, case, part=part) is None
        total += part.points * passed / len(_CASES[part.cell])
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
    lines = {function: {line for line, _ in mutants(function)} for function in EQUIVALENT}
    for function, expected in EQUIVALENT.items():
        assert expected <= lines[function], f"stale entries in EQUIVALENT[{function!r}]: {expected - lines[function]}"
