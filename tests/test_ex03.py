"""Exercise 3 (gated memory: LSTM and GRU): honest self-checks, unusual correct answers keep their
marks, and plausible mistakes lose points — including every small mutation of the solution.

Everything runs in this process, with the hidden cases compared exactly as the grader compares them
after the wire (tests/_hidden.py; tensors and gradients for the PyTorch parts);
tests/test_grading_ex03.py grades real notebooks in the sandbox.
"""

from __future__ import annotations

import ast
import warnings
from typing import Any

import numpy as np
import pytest
import torch

from rnncourse.checks import ex03 as check_ex03
from rnncourse.grading.inkernel import case_problem
from rnncourse.grading.spec import case_rng, load_spec

from _hidden import Mistake, answer_cells, hidden_problems, mistake, visible_cells, visible_problem
from _notebooks import ROOT
from test_ex02 import _changed_line, _function_body, _replacements, _swap

ASSIGNMENT = "ex03_gated"
SPEC, SECRET = load_spec(ROOT, ASSIGNMENT)
PARTS = {part.cell: part for part in SPEC.parts}
SOLUTION_PATH = ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
VISIBLE = visible_cells(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
SOLUTION = answer_cells(SOLUTION_PATH)
FUNCTIONS = ("lstm_cell", "gru_cell_lecture", "lstm_layer", "bidirectional_lstm", "pool_states")

LSTM = "def lstm_cell(x, h, C, W_ih, W_hh, b_ih, b_hh):\n"
GRU = "def gru_cell_lecture(x, h, U, W, b):\n"
LAYER = "def lstm_layer(x, h0, C0, W_ih, W_hh, b_ih, b_hh):\n"
BI = "def bidirectional_lstm(x, W_ih_f, W_hh_f, b_f, W_ih_b, W_hh_b, b_b):\n"
POOL = "def pool_states(states, mask):\n"

SIG = "        s = lambda a: 1 / (1 + np.exp(-a))\n"
GRU_START = """
    H = h.shape[1]
    s = lambda a: 1 / (1 + np.exp(-a))
    ax = x @ U.T + b
"""
LAYER_LOOP = """
    h, C = h0, C0
    states = []
    for t in range(x.shape[0]):
        i, f, g, o = (x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
"""
BI_START = """
    B, H = x.shape[1], W_hh_f.shape[1]
    zeros = torch.zeros(B, H, dtype=x.dtype)
"""

MISTAKES = [
    mistake("lstm: gates in the order f, i, g, o", "lstm_cell", LSTM, SIG + """
        f, i, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("lstm: gates in the order i, f, o, g", "lstm_cell", LSTM, SIG + """
        i, f, o, g = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("lstm: a sigmoid on the candidate", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * s(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("lstm: h = o * C, no tanh", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * C_new, C_new"""),
    mistake("lstm: b_hh forgotten", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("lstm: the forget gate on the candidate", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(i) * C + s(f) * np.tanh(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("lstm: h read from the old cell", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * np.tanh(C), C_new"""),
    mistake("lstm: returns (C, h)", "lstm_cell", LSTM, SIG + """
        i, f, g, o = np.split(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, 4, axis=1)
        C_new = s(f) * C + s(i) * np.tanh(g)
        return C_new, s(o) * np.tanh(C_new)"""),
    mistake("lstm: split along the batch", "lstm_cell", LSTM, SIG + """
        a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
        i, f, g, o = a[:, 0::4], a[:, 1::4], a[:, 2::4], a[:, 3::4]
        C_new = s(f) * C + s(i) * np.tanh(g)
        return s(o) * np.tanh(C_new), C_new"""),
    mistake("gru: torch's update convention", "gru_cell_lecture", GRU, GRU_START + """
    z = s(ax[:, :H] + h @ W[:H].T)
    r = s(ax[:, H:2*H] + h @ W[H:2*H].T)
    n = np.tanh(ax[:, 2*H:] + (r * h) @ W[2*H:].T)
    return z * h + (1 - z) * n"""),
    mistake("gru: reset after the matrix", "gru_cell_lecture", GRU, GRU_START + """
    z = s(ax[:, :H] + h @ W[:H].T)
    r = s(ax[:, H:2*H] + h @ W[H:2*H].T)
    n = np.tanh(ax[:, 2*H:] + r * (h @ W[2*H:].T))
    return (1 - z) * h + z * n"""),
    mistake("gru: reset gate forgotten", "gru_cell_lecture", GRU, GRU_START + """
    z = s(ax[:, :H] + h @ W[:H].T)
    n = np.tanh(ax[:, 2*H:] + h @ W[2*H:].T)
    return (1 - z) * h + z * n"""),
    mistake("gru: blocks read as r, z", "gru_cell_lecture", GRU, GRU_START + """
    r = s(ax[:, :H] + h @ W[:H].T)
    z = s(ax[:, H:2*H] + h @ W[H:2*H].T)
    n = np.tanh(ax[:, 2*H:] + (r * h) @ W[2*H:].T)
    return (1 - z) * h + z * n"""),
    mistake("gru: tanh on the update gate", "gru_cell_lecture", GRU, GRU_START + """
    z = np.tanh(ax[:, :H] + h @ W[:H].T)
    r = s(ax[:, H:2*H] + h @ W[H:2*H].T)
    n = np.tanh(ax[:, 2*H:] + (r * h) @ W[2*H:].T)
    return (1 - z) * h + z * n"""),
    mistake("layer: computed in NumPy", "lstm_layer", LAYER, """
        out, h, C = [], h0.detach().numpy(), C0.detach().numpy()
        for t in range(x.shape[0]):
            a = x[t].detach().numpy() @ W_ih.detach().numpy().T + b_ih.detach().numpy() + b_hh.detach().numpy() + h @ W_hh.detach().numpy().T
            i, f, g, o = np.split(1 / (1 + np.exp(-a)), 4, axis=1)
            g = np.tanh(np.split(a, 4, axis=1)[2])
            C = f * C + i * g
            h = o * np.tanh(C)
            out.append(h)
        return torch.from_numpy(np.stack(out)), torch.from_numpy(h), torch.from_numpy(C)"""),
    mistake("layer: the state detached between steps", "lstm_layer", LAYER, LAYER_LOOP + """
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        h = (torch.sigmoid(o) * torch.tanh(C))
        states.append(h)
        h, C = h.detach(), C.detach()
    return torch.stack(states), states[-1], C"""),
    mistake("layer: the cell not carried", "lstm_layer", LAYER, LAYER_LOOP + """
        c = torch.sigmoid(f) * C0 + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        states.append(h)
    return torch.stack(states), h, c"""),
    mistake("layer: h_n is the first state", "lstm_layer", LAYER, LAYER_LOOP + """
        C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(C)
        states.append(h)
    return torch.stack(states), states[0], C"""),
    mistake("layer: the initial state ignored", "lstm_layer", LAYER, """
        h, C = torch.zeros_like(h0), torch.zeros_like(C0)
        states = []
        for t in range(x.shape[0]):
            i, f, g, o = (x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
            C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(C)
            states.append(h)
        return torch.stack(states), h, C"""),
    mistake("bi: backward outputs left reversed", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    bw, hb, _ = lstm_layer(x.flip(0), zeros, zeros, W_ih_b, W_hh_b, b_b, torch.zeros_like(b_b))
    return torch.cat([fw, bw], dim=-1), torch.stack([hf, hb])"""),
    mistake("bi: the backward direction reads forwards", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    bw, hb, _ = lstm_layer(x, zeros, zeros, W_ih_b, W_hh_b, b_b, torch.zeros_like(b_b))
    return torch.cat([fw, bw], dim=-1), torch.stack([hf, hb])"""),
    mistake("bi: h_n in the wrong order", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    bw, hb, _ = lstm_layer(x.flip(0), zeros, zeros, W_ih_b, W_hh_b, b_b, torch.zeros_like(b_b))
    return torch.cat([fw, bw.flip(0)], dim=-1), torch.stack([hb, hf])"""),
    mistake("bi: each bias added twice", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, b_f)
    bw, hb, _ = lstm_layer(x.flip(0), zeros, zeros, W_ih_b, W_hh_b, b_b, b_b)
    return torch.cat([fw, bw.flip(0)], dim=-1), torch.stack([hf, hb])"""),
    mistake("bi: one set of weights for both directions", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    bw, hb, _ = lstm_layer(x.flip(0), zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    return torch.cat([fw, bw.flip(0)], dim=-1), torch.stack([hf, hb])"""),
    mistake("bi: the backward state is its last output in time order", "bidirectional_lstm", BI, BI_START + """
    fw, hf, _ = lstm_layer(x, zeros, zeros, W_ih_f, W_hh_f, b_f, torch.zeros_like(b_f))
    bw, hb, _ = lstm_layer(x.flip(0), zeros, zeros, W_ih_b, W_hh_b, b_b, torch.zeros_like(b_b))
    bw = bw.flip(0)
    return torch.cat([fw, bw], dim=-1), torch.stack([hf, bw[-1]])"""),
    mistake("pool: the last row of the padded batch", "pool_states", POOL, """
        lengths = mask.sum(axis=0)
        return states[-1], (states * mask[:, :, None]).sum(axis=0) / lengths[:, None]"""),
    mistake("pool: the mean over padding too", "pool_states", POOL, """
        lengths = mask.sum(axis=0).astype(int)
        return states[lengths - 1, np.arange(states.shape[1])], states.mean(axis=0)"""),
    mistake("pool: divided by T", "pool_states", POOL, """
        lengths = mask.sum(axis=0).astype(int)
        return states[lengths - 1, np.arange(states.shape[1])], (states * mask[:, :, None]).sum(axis=0) / len(states)"""),
    mistake("pool: one step too late", "pool_states", POOL, """
        lengths = mask.sum(axis=0).astype(int)
        last = states[np.minimum(lengths, len(states) - 1), np.arange(states.shape[1])]
        return last, (states * mask[:, :, None]).sum(axis=0) / lengths[:, None]"""),
]

CORRECT_VARIANTS = [
    mistake("lstm: one gate at a time with slices and np.reciprocal", "lstm_cell", LSTM, """
        H = h.shape[-1]
        def gate(k, f):
            rows = slice(k * H, (k + 1) * H)
            return f(np.dot(x, W_ih[rows].T) + np.dot(h, W_hh[rows].T) + b_ih[rows] + b_hh[rows])
        sig = lambda a: np.reciprocal(1.0 + np.exp(-a))
        i, f, g, o = gate(0, sig), gate(1, sig), gate(2, np.tanh), gate(3, sig)
        c = np.add(np.multiply(f, C), np.multiply(i, g))
        return (o * np.tanh(c), c)"""),
    mistake("lstm: a loop over the batch with einsum", "lstm_cell", LSTM, """
        h_out, c_out = np.empty_like(h), np.empty_like(C)
        for n in range(x.shape[0]):
            a = np.einsum("gd,d->g", W_ih, x[n]) + np.einsum("gk,k->g", W_hh, h[n]) + b_ih + b_hh
            i, f, g, o = a.reshape(4, -1)
            c_out[n] = C[n] / (1 + np.exp(-f)) + np.tanh(g) / (1 + np.exp(-i))
            h_out[n] = np.tanh(c_out[n]) / (1 + np.exp(-o))
        return h_out, c_out"""),
    mistake("gru: separate matrices and 0.5 * (1 + tanh(a / 2)) for the sigmoid", "gru_cell_lecture", GRU, """
        U_z, U_r, U_h = np.split(U, 3)
        W_z, W_r, W_h = np.split(W, 3)
        b_z, b_r, b_h = np.split(b, 3)
        sigma = lambda a: 0.5 * (1.0 + np.tanh(0.5 * a))
        z = sigma(x @ U_z.T + h @ W_z.T + b_z)
        r = sigma(x @ U_r.T + h @ W_r.T + b_r)
        return h + z * (np.tanh(x @ U_h.T + (h * r) @ W_h.T + b_h) - h)"""),
    mistake("layer: projected once, torch.split, a list comprehension of unsqueezed states", "lstm_layer", LAYER, """
        H = h0.shape[-1]
        pre = torch.matmul(x, W_ih.t()) + (b_ih + b_hh)
        h, C, seen = h0, C0, []
        for step in pre.unbind(0):
            i, f, g, o = torch.split(step + torch.mm(h, W_hh.t()), H, dim=1)
            C = f.sigmoid() * C + i.sigmoid() * g.tanh()
            h = o.sigmoid() * C.tanh()
            seen.append(h.unsqueeze(0))
        return torch.cat(seen, dim=0), h, C"""),
    mistake("layer: float32 inside is not allowed, but torch.nn.functional is", "lstm_layer", LAYER, """
        import torch.nn.functional as F
        h, C, out = h0, C0, []
        for t in range(len(x)):
            gates = F.linear(x[t], W_ih, b_ih) + F.linear(h, W_hh, b_hh)
            i, f, g, o = gates.chunk(4, 1)
            C = torch.addcmul(torch.sigmoid(f) * C, torch.sigmoid(i), torch.tanh(g))
            h = torch.sigmoid(o) * torch.tanh(C)
            out += [h]
        return torch.stack(out), out[-1], C"""),
    mistake("layer: a preallocated output filled in place, h_n and C_n cloned", "lstm_layer", LAYER, """
        T, B, H = x.shape[0], x.shape[1], h0.shape[1]
        output = torch.empty(T, B, H, dtype=x.dtype)
        h, C = h0.clone(), C0.clone()
        for t in range(T):
            gates = torch.addmm(b_ih + b_hh, x[t], W_ih.T) + h.matmul(W_hh.T)
            i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
            C = f.sigmoid() * C + i.sigmoid() * g.tanh()
            h = o.sigmoid() * C.tanh()
            output[t] = h
        return output, h.clone(), C.clone()"""),
    mistake("bi: reversed by indexing, backward cell written inline", "bidirectional_lstm", BI, """
        T, B = x.shape[0], x.shape[1]
        H = W_hh_b.shape[1]
        z = x.new_zeros(B, H)
        out_f, h_f, _ = lstm_layer(x, z, z, W_ih_f, W_hh_f, b_f, b_f * 0)
        h, C, back = z, z, [None] * T
        for t in reversed(range(T)):
            i, f, g, o = (x[t] @ W_ih_b.T + b_b + h @ W_hh_b.T).chunk(4, -1)
            C = torch.sigmoid(f) * C + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(C)
            back[t] = h
        return torch.cat((out_f, torch.stack(back)), 2), torch.stack((h_f, back[0]), 0)"""),
    mistake("pool: loops and argmax of the mask", "pool_states", POOL, """
        T, B, H = states.shape
        last = np.zeros((B, H)); mean = np.zeros((B, H))
        for b in range(B):
            n = int(round(mask[:, b].sum()))
            last[b] = states[n - 1, b]
            mean[b] = states[:n, b].mean(axis=0)
        return last, mean"""),
]


def _namespace(replacement: Mistake | None = None, sources: dict[str, str] | None = None) -> dict[str, Any]:
    """A student's notebook namespace: the instructor's answers, one function replaced."""
    namespace: dict[str, Any] = {"np": np, "torch": torch, "check": check_ex03, "__name__": "__main__"}
    for function in FUNCTIONS:
        exec(compile((sources or SOLUTION)[function], f"<solution {function}>", "exec"), namespace)
    if replacement is not None:
        exec(compile(replacement.source, f"<{replacement.name}>", "exec"), namespace)
    return namespace


def _hidden(cell: str, namespace: dict[str, Any]) -> list[str]:
    return hidden_problems(SPEC, SECRET, cell, namespace)


def _cells_of(function: str) -> list[str]:
    return [cell for cell, part in PARTS.items() if part.function == function]


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_mistake_loses_points_and_the_visible_check_says_so(mistake):
    namespace = _namespace(mistake)
    lost = [cell for cell in _cells_of(mistake.function) if _hidden(cell, namespace)]
    assert lost, f"'{mistake}' loses no points"
    for cell in lost:
        assert visible_problem(VISIBLE[cell], namespace) is not None, (
            f"'{mistake}' passes the visible self-check of {cell} but loses points in its hidden cases"
        )


@pytest.mark.parametrize("variant", [None, *CORRECT_VARIANTS], ids=lambda v: "solution" if v is None else str(v))
def test_correct_code_passes_visible_and_hidden(variant):
    namespace = _namespace(variant)
    cells = PARTS if variant is None else _cells_of(variant.function)
    for cell in cells:
        assert visible_problem(VISIBLE[cell], namespace) is None, (cell, visible_problem(VISIBLE[cell], namespace))
        assert _hidden(cell, namespace) == [], cell


NAMED = {
    "lstm: gates in the order f, i, g, o": "the order f, i, g, o",
    "lstm: a sigmoid on the candidate": "candidate g went through a sigmoid",
    "lstm: h = o * C, no tanh": "missing the tanh",
    "lstm: b_hh forgotten": "b_hh is missing",
    "lstm: returns (C, h)": "the order is (h_new, C_new)",
    "gru: torch's update convention": "z admits the candidate",
    "gru: reset after the matrix": "multiplies h before the matrix",
    "gru: reset gate forgotten": "the reset gate is missing",
    "gru: blocks read as r, z": "torch's order",
    "layer: computed in NumPy": "not connected to the inputs through autograd",
    "layer: the state detached between steps": "gradient with respect to",
    "pool: the last row of the padded batch": "padding for the shorter sequences",
    "pool: the mean over padding too": "the mean includes the padded steps",
}


@pytest.mark.parametrize("name, words", NAMED.items())
def test_the_self_check_names_the_mistake(name, words):
    wrong = next(m for m in MISTAKES if m.name == name)
    namespace = _namespace(wrong)
    problems = [visible_problem(VISIBLE[cell], namespace) for cell in _cells_of(wrong.function)]
    assert any(p and words in p for p in problems), problems


def test_torch_recurrent_layers_are_refused_by_the_self_check():
    answer = mistake("layer: torch.nn.LSTM", "lstm_layer", LAYER, """
        lstm = torch.nn.LSTM(x.shape[-1], h0.shape[-1])
        return lstm(x, (h0[None], C0[None]))""")
    problem = visible_problem(VISIBLE["test_lstm_layer_values"], _namespace(answer))
    assert problem is not None and "recurrent layers or kernels" in problem


def test_every_graded_cell_has_a_visible_check_and_hidden_cases():
    assert set(VISIBLE) == set(PARTS)
    assert set(SOLUTION) >= set(FUNCTIONS)
    assert {m.function for m in MISTAKES} == set(FUNCTIONS)
    assert len({part.function for part in SPEC.parts}) >= 4 and SPEC.max_score >= 10
    torch_parts = [p for p in SPEC.parts if any(c.tensors for c in p.cases)]
    assert {p.function for p in torch_parts} == {"lstm_layer", "bidirectional_lstm"}
    for part in torch_parts:
        assert "torch" not in part.forbidden and "torch.nn.LSTM" in part.forbidden and "torch._VF" in part.forbidden
    assert any(c.gradients for p in torch_parts for c in p.cases)


def test_gru_hidden_cases_include_torch_where_the_conventions_meet():
    cases = [c for p in SPEC.parts if p.function == "gru_cell_lecture" for c in p.cases
             if c.reference is check_ex03.reference_gru_cell_lecture_torch]
    assert len(cases) >= 2
    args = cases[0].make_args(np.random.default_rng(0))
    assert np.allclose(check_ex03.reference_gru_cell_lecture_torch(*args),
                       check_ex03.reference_gru_cell_lecture(*args), rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- mutations of the solution

#: Mutants that keep full marks because they compute the same function on every input the exercise allows.
EQUIVALENT: dict[str, set[str]] = {}


def mutants(function: str):
    """``(changed line, mutated source)`` for every single mutation inside the answer's body (as exercise 2's,
    with ``dim=`` treated like ``axis=``)."""
    import copy

    source = SOLUTION[function]
    _, owner = _function_body(source)
    count = sum(1 for _ in ast.walk(ast.Module(body=owner.body[1:], type_ignores=[])))
    for index in range(count):
        tree, owner = _function_body(source)
        nodes = list(ast.walk(ast.Module(body=owner.body[1:], type_ignores=[])))
        target = nodes[index]
        replacements = list(_replacements(target))
        if isinstance(target, ast.keyword) and target.arg == "dim":
            replacements = [ast.keyword("dim", ast.Constant(0))] if not (
                isinstance(target.value, ast.Constant) and target.value.value == 0) else [ast.keyword("dim", ast.Constant(1))]
        for replacement in replacements:
            mutated = copy.deepcopy(tree)
            if _swap(mutated, target, replacement, tree) is None:
                continue
            yield _changed_line(ast.unparse(tree), ast.unparse(mutated)), ast.unparse(mutated)


def _score(namespace: dict[str, Any], function: str) -> float:
    total = 0.0
    for part in SPEC.parts:
        if part.function != function:
            total += part.points
            continue
        passed = 0
        for index, case in enumerate(part.cases):
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    passed += case_problem(namespace[function], part, case, case_rng(SECRET, "mutant", part.cell, index)) is None
            except Exception:
                continue
        total += part.points * passed / len(part.cases)
    return total


def test_the_unmutated_solution_scores_full_marks_here():
    for function in FUNCTIONS:
        assert _score(_namespace(), function) == SPEC.max_score, function


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_mutation_of_the_solution_loses_points(function):
    survivors, tried = [], 0
    for line, source in mutants(function):
        try:
            namespace = _namespace(sources={**SOLUTION, function: source})
        except Exception:
            continue
        tried += 1
        if _score(namespace, function) >= SPEC.max_score and line not in EQUIVALENT.get(function, set()):
            survivors.append(line)
    assert tried >= 4, f"only {tried} mutants of {function}"
    assert not survivors, f"mutants of {function} that keep full marks (add a hidden case, or list them as equivalent): {survivors}"


def test_equivalent_mutants_are_real_mutants():
    for function, expected in EQUIVALENT.items():
        lines = {line for line, _ in mutants(function)}
        assert expected <= lines, f"stale entries in EQUIVALENT[{function!r}]: {expected - lines}"
