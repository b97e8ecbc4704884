"""Exercise 5 (attention for sequence to sequence): honest self-checks, unusual correct answers keep their marks,
plausible mistakes lose points — including every small mutation of the solution — and the float64 references agree
with independent PyTorch computations.

Everything runs in this process, with the hidden cases compared exactly as the grader compares them after the wire
(tests/_hidden.py, tests/_exercise_tests.py); tests/test_grading_ex05.py grades real notebooks in the sandbox.

What counts as correct (and what the notebook says):

- any way of computing the same float64 numbers: einsum, loops, broadcasting, batch-first copies, ``np.where`` or a
  multiplication by the mask, the maximum over all positions of a row or over its real ones, a large negative fill
  with the fully padded rows zeroed afterwards, a 1e-12 in a denominator, an inline decoder step;
- greedy decoding by a for or a while loop, stopping early once every row has finished, decoding only the rows still
  running, or one row at a time, feeding anything to the finished rows.

What is not: float32 arithmetic inside (errors of 1e-7, where the cases compare to about 1e-9: the notebook says to
keep to float64), tokens returned as floats (the self-check refuses them; the hidden cases, which see values after the
wire, accept whole numbers), an argument changed in place (the self-check refuses it; the hidden cases cannot see it).
"""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest

from rnncourse.checks import ex05 as check_ex05
from rnncourse.grading.inkernel import fresh_copies

from _exercise_tests import Exercise
from _hidden import mistake, visible_problem

ASSIGNMENT = "ex05_seq2seq"
FUNCTIONS = ("additive_scores", "multiplicative_scores", "masked_softmax", "attention_context", "decoder_step",
             "greedy_decode")
EX = Exercise(ASSIGNMENT, FUNCTIONS, check_ex05, given=("given_gru_cell",))
PARTS, VISIBLE, SOLUTION = EX.parts, EX.visible, EX.solution

ADDITIVE = "def additive_scores(s_prev, enc, W_a, U_a, w_a):\n"
MULTIPLICATIVE = "def multiplicative_scores(s_prev, enc, M_a):\n"
SOFTMAX = "def masked_softmax(scores, mask):\n"
CONTEXT = "def attention_context(alpha, enc):\n"
DECODER = "def decoder_step(y_prev, s_prev, enc, mask, params):\n"
GREEDY = "def greedy_decode(enc, mask, s0, params, max_len, bos, eos):\n"

ATTEND = """
    p = params
    alpha = masked_softmax(additive_scores(s_prev, enc, p["W_a"], p["U_a"], p["w_a"]), mask)
    context = attention_context(alpha, enc)
"""
GRU = """
    s = gru_cell(x, s_prev, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
"""
EMBEDDING_FIRST = "    x = np.concatenate([p['E'][y_prev], context], axis=1)\n"
OUTPUT = "    o = p['c'] + np.concatenate([s, context], axis=1) @ p['V'].T\n"
GREEDY_START = """
    B = s0.shape[0]
    tokens = np.zeros((B, max_len), dtype=np.int64)
    finished = np.zeros(B, dtype=bool)
    y, s = np.full(B, bos), s0
"""


def _decoder(body: str) -> str:
    return ATTEND + body


MISTAKES = [
    # part 1
    mistake("additive: W_a and U_a swapped", "additive_scores", ADDITIVE, """
        return (np.tanh(s_prev @ U_a.T + enc @ W_a.T) @ w_a).T"""),
    mistake("additive: W_a not transposed", "additive_scores", ADDITIVE, """
        return (np.tanh(s_prev @ W_a + enc @ U_a.T) @ w_a).T"""),
    mistake("additive: tanh missing", "additive_scores", ADDITIVE, """
        return ((s_prev @ W_a.T + enc @ U_a.T) @ w_a).T"""),
    mistake("additive: the tanh units summed", "additive_scores", ADDITIVE, """
        return np.tanh(s_prev @ W_a.T + enc @ U_a.T).sum(axis=-1).T"""),
    mistake("additive: w_a before tanh", "additive_scores", ADDITIVE, """
        return np.tanh((s_prev @ W_a.T + enc @ U_a.T) @ w_a).T"""),
    mistake("additive: scores (T_x, B)", "additive_scores", ADDITIVE, """
        return np.tanh(s_prev @ W_a.T + enc @ U_a.T) @ w_a"""),
    mistake("additive: the query paired with the wrong example", "additive_scores", ADDITIVE, """
        return (np.tanh((s_prev @ W_a.T)[:, None, :] + enc @ U_a.T) @ w_a).T"""),
    # part 2
    mistake("multiplicative: M_a transposed", "multiplicative_scores", MULTIPLICATIVE, """
        return np.sum((s_prev @ M_a.T) * enc, axis=-1).T"""),
    mistake("multiplicative: scaled by sqrt(H_e)", "multiplicative_scores", MULTIPLICATIVE, """
        return np.sum((s_prev @ M_a) * enc, axis=-1).T / np.sqrt(enc.shape[-1])"""),
    mistake("multiplicative: M_a left out", "multiplicative_scores", MULTIPLICATIVE, """
        return np.sum(s_prev * enc, axis=-1).T"""),
    mistake("multiplicative: scores (T_x, B)", "multiplicative_scores", MULTIPLICATIVE, """
        return np.sum((s_prev @ M_a) * enc, axis=-1)"""),
    mistake("multiplicative: enc read batch first", "multiplicative_scores", MULTIPLICATIVE, """
        return np.einsum("bd,de,bte->bt", s_prev, M_a, enc)"""),
    # part 3
    mistake("softmax: over axis 0", "masked_softmax", SOFTMAX, """
        e = np.exp(scores - scores.max(axis=0, keepdims=True)) * mask
        total = e.sum(axis=0, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)"""),
    mistake("softmax: the mask ignored", "masked_softmax", SOFTMAX, """
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)"""),
    mistake("softmax: scores * mask", "masked_softmax", SOFTMAX, """
        masked = scores * mask
        e = np.exp(masked - masked.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)"""),
    mistake("softmax: masked but not renormalised", "masked_softmax", SOFTMAX, """
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * mask"""),
    mistake("softmax: -1e9 fill, a fully padded row gets 1/T_x", "masked_softmax", SOFTMAX, """
        masked = np.where(mask, scores, -1e9)
        e = np.exp(masked - masked.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)"""),
    mistake("softmax: -100 fill leaves small weights at padding", "masked_softmax", SOFTMAX, """
        masked = np.where(mask, scores, -100.0)
        e = np.exp(masked - masked.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * mask.any(axis=-1, keepdims=True)"""),
    mistake("softmax: NaN for a fully padded row", "masked_softmax", SOFTMAX, """
        e = np.exp(scores - np.max(np.where(mask, scores, -np.inf), axis=-1, keepdims=True)) * mask
        return e / e.sum(axis=-1, keepdims=True)"""),
    mistake("softmax: no maximum subtracted", "masked_softmax", SOFTMAX, """
        e = np.exp(scores) * mask
        total = e.sum(axis=-1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)"""),
    mistake("softmax: the mask inverted", "masked_softmax", SOFTMAX, """
        top = np.max(np.where(~mask, scores, -np.inf), axis=-1, keepdims=True)
        e = np.exp(np.where(~mask, scores - top, -np.inf))
        total = e.sum(axis=-1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)"""),
    # part 4
    mistake("context: enc read batch first", "attention_context", CONTEXT, """
        return np.einsum("bt,bth->bh", alpha, enc)"""),
    mistake("context: alpha read as (T_x, B)", "attention_context", CONTEXT, """
        return np.sum(alpha[:, :, None] * enc, axis=0)"""),
    mistake("context: the unweighted mean", "attention_context", CONTEXT, """
        return enc.mean(axis=0)"""),
    mistake("context: summed over the batch", "attention_context", CONTEXT, """
        return np.sum(alpha.T[:, :, None] * enc, axis=1)"""),
    # part 5
    mistake("decoder: the GRU fed [context; embedding]", "decoder_step", DECODER, _decoder(
        "    x = np.concatenate([context, p['E'][y_prev]], axis=1)\n" + GRU + OUTPUT + "    return o, s, alpha")),
    mistake("decoder: attention again from the new state", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + """
    alpha = masked_softmax(additive_scores(s, enc, p["W_a"], p["U_a"], p["w_a"]), mask)
    context = attention_context(alpha, enc)
""" + OUTPUT + "    return o, s, alpha")),
    mistake("decoder: the output from s only", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + "    o = p['c'] + s @ p['V'][:, :s.shape[1]].T\n    return o, s, alpha")),
    mistake("decoder: the output V [context; s]", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + "    o = p['c'] + np.concatenate([context, s], axis=1) @ p['V'].T\n    return o, s, alpha")),
    mistake("decoder: no output bias", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + "    o = np.concatenate([s, context], axis=1) @ p['V'].T\n    return o, s, alpha")),
    mistake("decoder: the output from s_prev", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + "    o = p['c'] + np.concatenate([s_prev, context], axis=1) @ p['V'].T\n"
        "    return o, s, alpha")),
    mistake("decoder: the mask ignored", "decoder_step", DECODER, """
    p = params
    alpha = masked_softmax(additive_scores(s_prev, enc, p["W_a"], p["U_a"], p["w_a"]), np.ones_like(mask))
    context = attention_context(alpha, enc)
""" + EMBEDDING_FIRST + GRU + OUTPUT + "    return o, s, alpha"),
    mistake("decoder: returns s_prev", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + OUTPUT + "    return o, s_prev, alpha")),
    mistake("decoder: returns (o, alpha, s)", "decoder_step", DECODER, _decoder(
        EMBEDDING_FIRST + GRU + OUTPUT + "    return o, alpha, s")),
    mistake("decoder: float32 inside", "decoder_step", DECODER, """
    p = {key: value.astype(np.float32) for key, value in params.items()}
    s_prev, enc = s_prev.astype(np.float32), enc.astype(np.float32)
    alpha = masked_softmax(additive_scores(s_prev, enc, p["W_a"], p["U_a"], p["w_a"]), mask)
    context = attention_context(alpha, enc)
""" + EMBEDDING_FIRST + GRU + OUTPUT + "    return o.astype(float), s.astype(float), alpha.astype(float)"),
    # part 6
    mistake("greedy: goes on after eos", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = y
    return tokens"""),
    mistake("greedy: pads with eos", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, eos, y)
        finished |= y == eos
    return tokens"""),
    mistake("greedy: stops every row at the first eos", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = y
        if np.any(y == eos):
            break
    return tokens"""),
    mistake("greedy: fewer columns when all rows finish", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
        if finished.all():
            return tokens[:, :t + 1]
    return tokens"""),
    mistake("greedy: eos left out", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        finished |= y == eos
        tokens[:, t] = np.where(finished, 0, y)
    return tokens"""),
    mistake("greedy: starts from PAD", "greedy_decode", GREEDY, GREEDY_START + """
    y = np.zeros(B, dtype=np.int64)
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
    return tokens"""),
    mistake("greedy: bos in the result", "greedy_decode", GREEDY, GREEDY_START + """
    tokens[:, 0] = bos
    for t in range(1, max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
    return tokens"""),
    mistake("greedy: the state not carried", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, _, _ = decoder_step(y, s0, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
    return tokens"""),
    mistake("greedy: the token not fed back", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(np.full(B, bos), s, enc, mask, params)
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
    return tokens"""),
    mistake("greedy: the argmin", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.argmax(-o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished |= y == eos
    return tokens"""),
]

CORRECT_VARIANTS = [
    mistake("additive: einsum throughout", "additive_scores", ADDITIVE, """
        pre = np.einsum("ad,bd->ba", W_a, s_prev)[None] + np.einsum("ae,tbe->tba", U_a, enc)
        return np.einsum("a,tba->bt", w_a, np.tanh(pre))"""),
    mistake("additive: loops over examples and positions", "additive_scores", ADDITIVE, """
        T_x, B = enc.shape[:2]
        out = np.empty((B, T_x))
        for b in range(B):
            query = W_a @ s_prev[b]
            for j in range(T_x):
                out[b, j] = w_a @ np.tanh(query + U_a @ enc[j, b])
        return out"""),
    mistake("additive: a batch-first copy of enc", "additive_scores", ADDITIVE, """
        batch_first = np.transpose(enc, (1, 0, 2))
        return np.tanh((s_prev @ W_a.T)[:, None, :] + batch_first @ U_a.T) @ w_a"""),
    mistake("multiplicative: einsum", "multiplicative_scores", MULTIPLICATIVE, """
        return np.einsum("bd,de,tbe->bt", s_prev, M_a, enc)"""),
    mistake("multiplicative: batched matmul", "multiplicative_scores", MULTIPLICATIVE, """
        return np.matmul(enc.transpose(1, 0, 2), (s_prev @ M_a)[:, :, None])[:, :, 0]"""),
    mistake("multiplicative: loops", "multiplicative_scores", MULTIPLICATIVE, """
        T_x, B = enc.shape[:2]
        return np.array([[s_prev[b] @ M_a @ enc[j, b] for j in range(T_x)] for b in range(B)])"""),
    mistake("softmax: the maximum over all positions, multiplied by the mask", "masked_softmax", SOFTMAX, """
        e = np.exp(scores - scores.max(axis=1, keepdims=True)) * mask
        total = e.sum(axis=1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total != 0)"""),
    mistake("softmax: a copy with -inf assigned, one row at a time", "masked_softmax", SOFTMAX, """
        out = np.zeros(scores.shape)
        for b in range(scores.shape[0]):
            if not mask[b].any():
                continue
            row = scores[b].copy()
            row[~mask[b]] = -np.inf
            e = np.exp(row - row.max())
            out[b] = e / e.sum()
        return out"""),
    mistake("softmax: -1e30 fill, fully padded rows zeroed", "masked_softmax", SOFTMAX, """
        masked = np.where(mask, scores, -1e30)
        e = np.exp(masked - masked.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) * mask.any(axis=-1, keepdims=True)"""),
    mistake("softmax: 1e-12 in the denominator", "masked_softmax", SOFTMAX, """
        top = np.where(mask, scores, -np.inf).max(axis=-1, keepdims=True)
        e = np.where(mask, np.exp(np.where(mask, scores - top, 0.0)), 0.0)
        return e / (e.sum(axis=-1, keepdims=True) + 1e-12)"""),
    mistake("context: einsum", "attention_context", CONTEXT, """
        return np.einsum("bt,tbh->bh", alpha, enc)"""),
    mistake("context: batched matmul", "attention_context", CONTEXT, """
        return np.matmul(alpha[:, None, :], enc.transpose(1, 0, 2))[:, 0, :]"""),
    mistake("context: a loop over positions", "attention_context", CONTEXT, """
        total = np.zeros(enc.shape[1:])
        for j in range(enc.shape[0]):
            total = total + alpha[:, j:j + 1] * enc[j]
        return total"""),
    mistake("decoder: one-hot embedding, V split, hstack", "decoder_step", DECODER, """
        K, H_d = params["E"].shape[0], s_prev.shape[1]
        alpha = masked_softmax(additive_scores(s_prev, enc, params["W_a"], params["U_a"], params["w_a"]), mask)
        context = attention_context(alpha, enc)
        x = np.hstack([np.eye(K)[y_prev] @ params["E"], context])
        s = gru_cell(x, s_prev, params["weight_ih"], params["weight_hh"], params["bias_ih"], params["bias_hh"])
        o = params["c"] + s @ params["V"][:, :H_d].T + context @ params["V"][:, H_d:].T
        return o, s, alpha"""),
    mistake("decoder: attention inline with einsum, bool mask negated", "decoder_step", DECODER, """
        p = params
        e = np.einsum("a,tba->bt", p["w_a"], np.tanh((s_prev @ p["W_a"].T)[None] + enc @ p["U_a"].T))
        e = np.where(~mask, -np.inf, e)
        top = e.max(axis=1, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        w = np.exp(e - top)
        total = w.sum(axis=1, keepdims=True)
        alpha = w / np.where(total == 0, 1.0, total)
        context = np.einsum("bt,tbh->bh", alpha, enc)
        s = gru_cell(np.concatenate((p["E"][y_prev], context), axis=-1), s_prev,
                     p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
        return p["c"] + np.concatenate((s, context), axis=-1) @ p["V"].T, s, alpha"""),
    mistake("greedy: a while loop that stops once all rows finish", "greedy_decode", GREEDY, """
        B = len(s0)
        out = np.full((B, max_len), 0)
        alive = np.ones(B, dtype=bool)
        y, s, t = np.full(B, bos), s0, 0
        while t < max_len and alive.any():
            o, s, _ = decoder_step(y, s, enc, mask, params)
            y = o.argmax(axis=1)
            out[alive, t] = y[alive]
            alive &= y != eos
            t += 1
        return out"""),
    mistake("greedy: only the rows still running are decoded", "greedy_decode", GREEDY, """
        B = s0.shape[0]
        out = np.zeros((B, max_len), dtype=np.int64)
        rows = np.arange(B)
        y, s = np.full(B, bos), s0
        for t in range(max_len):
            if rows.size == 0:
                break
            o, s, _ = decoder_step(y, s, enc[:, rows], mask[rows], params)
            y = np.argmax(o, axis=1)
            out[rows, t] = y
            running = y != eos
            rows, y, s = rows[running], y[running], s[running]
        return out"""),
    mistake("greedy: one row at a time, Python lists", "greedy_decode", GREEDY, """
        rows = []
        for b in range(s0.shape[0]):
            y, s, row = np.array([bos]), s0[b:b + 1], []
            while len(row) < max_len:
                o, s, _ = decoder_step(y, s, enc[:, b:b + 1], mask[b:b + 1], params)
                y = np.argmax(o, axis=1)
                row.append(int(y[0]))
                if row[-1] == eos:
                    break
            rows.append(row + [0] * (max_len - len(row)))
        return np.array(rows, dtype=np.int64).reshape(s0.shape[0], max_len)"""),
    mistake("greedy: PAD fed to the finished rows", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, s, _ = decoder_step(y, s, enc, mask, params)
        y = np.where(finished, 0, np.argmax(o, axis=1))
        tokens[:, t] = y
        finished = finished | (y == eos)
    return tokens"""),
]

#: Right results, but an argument changed in place: the grader sees only results, the self-check refuses.
IN_PLACE = [
    mistake("softmax: the padded scores set to -inf in place", "masked_softmax", SOFTMAX, """
        scores[~mask] = -np.inf
        top = scores.max(axis=-1, keepdims=True)
        top[~np.isfinite(top)] = 0.0
        e = np.exp(scores - top)
        total = e.sum(axis=-1, keepdims=True)
        return np.divide(e, total, out=np.zeros_like(e), where=total > 0)"""),
    mistake("greedy: s0 updated in place", "greedy_decode", GREEDY, GREEDY_START + """
    for t in range(max_len):
        o, new, _ = decoder_step(y, s, enc, mask, params)
        s[:] = new
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, 0, y)
        finished = finished | (y == eos)
    return tokens"""),
]

#: Right values in the wrong form for the self-check: tokens as floats (the hidden cases accept whole numbers).
WRONG_FORM = [
    mistake("greedy: tokens as floats", "greedy_decode", GREEDY, """
        B = s0.shape[0]
        tokens = np.zeros((B, max_len))
        finished = np.zeros(B, dtype=bool)
        y, s = np.full(B, bos), s0
        for t in range(max_len):
            o, s, _ = decoder_step(y, s, enc, mask, params)
            y = np.argmax(o, axis=1)
            tokens[:, t] = np.where(finished, 0, y)
            finished = finished | (y == eos)
        return tokens"""),
]


# --------------------------------------------------------------------------- honesty


@pytest.mark.parametrize("mistake", MISTAKES, ids=str)
def test_every_mistake_loses_points_and_the_visible_check_says_so(mistake):
    namespace = EX.namespace(mistake)
    lost = [cell for cell in PARTS if EX.hidden(cell, namespace)]
    assert set(lost) & set(EX.cells_of(mistake.function)), f"'{mistake}' loses no points in its own part"
    for cell in lost:  # its own cells, and the cells of the functions that call it
        assert visible_problem(VISIBLE[cell], namespace) is not None, (
            f"'{mistake}' passes the visible self-check of {cell} but loses points in its hidden cases"
        )


@pytest.mark.parametrize("variant", [None, *CORRECT_VARIANTS], ids=lambda v: "solution" if v is None else str(v))
def test_correct_code_passes_visible_and_hidden(variant):
    namespace = EX.namespace(variant)
    for cell in PARTS:
        assert visible_problem(VISIBLE[cell], namespace) is None, (cell, visible_problem(VISIBLE[cell], namespace))
        assert EX.hidden(cell, namespace) == [], (cell, EX.hidden(cell, namespace))


@pytest.mark.parametrize("variant", IN_PLACE, ids=str)
def test_in_place_changes_are_refused_by_the_self_check(variant):
    namespace = EX.namespace(variant)
    for cell in EX.cells_of(variant.function):
        problem = visible_problem(VISIBLE[cell], namespace)
        assert problem is not None and "in place" in problem, (cell, problem)
        assert EX.hidden(cell, namespace) == [], cell  # the grader sees only the (right) results
    for cell in PARTS:
        if EX.hidden(cell, namespace):
            assert "in place" in (visible_problem(VISIBLE[cell], namespace) or ""), cell


def test_tokens_as_floats_are_refused_by_the_self_check_only():
    namespace = EX.namespace(WRONG_FORM[0])
    for cell in EX.cells_of("greedy_decode"):
        problem = visible_problem(VISIBLE[cell], namespace)
        assert problem is not None and "integer token ids" in problem, problem
        assert EX.hidden(cell, namespace) == [], cell


NAMED = {
    "additive: W_a and U_a swapped": "swapped",
    "additive: W_a not transposed": "W_a is transposed",
    "additive: tanh missing": "tanh is missing",
    "additive: the tanh units summed": "summed instead of weighted by w_a",
    "additive: scores (T_x, B)": "(T_x, B)",
    "additive: the query paired with the wrong example": "another example",
    "multiplicative: M_a transposed": "M_a is transposed",
    "multiplicative: scaled by sqrt(H_e)": "not scaled",
    "multiplicative: M_a left out": "M_a is left out",
    "multiplicative: scores (T_x, B)": "(T_x, B)",
    "multiplicative: enc read batch first": "batch first",
    "softmax: over axis 0": "over the batch",
    "softmax: the mask ignored": "mask is ignored",
    "softmax: scores * mask": "set to 0 (scores * mask)",
    "softmax: masked but not renormalised": "not normalised again",
    "softmax: -1e9 fill, a fully padded row gets 1/T_x": "all padded",
    "softmax: -100 fill leaves small weights at padding": "exactly 0",
    "softmax: NaN for a fully padded row": "NaN for a row whose positions are all padded",
    "softmax: no maximum subtracted": "overflows",
    "softmax: the mask inverted": "wrong way round",
    "context: enc read batch first": "batch first",
    "context: alpha read as (T_x, B)": "alpha is read as (T_x, B)",
    "context: the unweighted mean": "without the weights",
    "context: summed over the batch": "over the source positions",
    "decoder: the GRU fed [context; embedding]": "[context; embedding]",
    "decoder: attention again from the new state": "from the new state",
    "decoder: the output from s only": "only the new state",
    "decoder: the output V [context; s]": "V [context; s]",
    "decoder: no output bias": "bias c is missing",
    "decoder: the output from s_prev": "the output uses s_prev",
    "decoder: the mask ignored": "mask is ignored",
    "decoder: returns s_prev": "the state returned is s_prev",
    "decoder: returns (o, alpha, s)": "another order",
    "greedy: goes on after eos": "after its eos",
    "greedy: pads with eos": "filled with eos",
    "greedy: stops every row at the first eos": "first eos of any row",
    "greedy: fewer columns when all rows finish": "columns",
    "greedy: eos left out": "eos is left out",
    "greedy: starts from PAD": "does not start from bos",
    "greedy: bos in the result": "begins with bos",
    "greedy: the state not carried": "state is not carried",
    "greedy: the token not fed back": "not fed back",
}


@pytest.mark.parametrize("name, words", NAMED.items())
def test_the_self_check_names_the_mistake(name, words):
    wrong = next(m for m in MISTAKES if m.name == name)
    namespace = EX.namespace(wrong)
    problems = [visible_problem(VISIBLE[cell], namespace) for cell in EX.cells_of(wrong.function)]
    assert any(p and words in p for p in problems), problems


def test_a_wrong_decoder_step_is_named_by_the_greedy_check():
    namespace = EX.namespace(next(m for m in MISTAKES if m.name == "decoder: the GRU fed [context; embedding]"))
    for cell in EX.cells_of("greedy_decode"):
        assert "calls your decoder_step, which is not right yet" in (visible_problem(VISIBLE[cell], namespace) or ""), cell


@pytest.mark.parametrize("name, words", [
    ("softmax: NaN for a fully padded row", "all padded"),
    ("softmax: -1e9 fill, a fully padded row gets 1/T_x", "all padded"),
    ("softmax: -100 fill leaves small weights at padding", "exactly 0"),
    ("softmax: no maximum subtracted", "overflows"),
    ("context: summed over the batch", "over the source positions"),
    ("decoder: the GRU fed [context; embedding]", "embedding of y_prev first"),
    ("decoder: the output V [context; s]", "o = c + V [s; context]"),
    ("decoder: attention again from the new state", "wrong attention weights"),
    ("greedy: goes on after eos", "after a row's eos"),
    ("greedy: pads with eos", "filled with eos"),
    ("greedy: stops every row at the first eos", "first eos of any row"),
    ("greedy: fewer columns when all rows finish", "columns"),
])
def test_the_graded_feedback_names_the_mistake_too(name, words):
    """The hidden cases see only the result (and the expected one): the diagnoses still name the mistake."""
    namespace = EX.namespace(next(m for m in MISTAKES if m.name == name))
    function = next(m for m in MISTAKES if m.name == name).function
    problems = [problem for cell in EX.cells_of(function) for problem in EX.hidden(cell, namespace)]
    assert any(words in problem for problem in problems), problems


def test_the_reference_is_refused_by_the_self_check():
    answer = mistake("softmax: rnncourse's own", "masked_softmax",
                     "from rnncourse.checks.ex05 import reference_masked_softmax as _soft\n\n" + SOFTMAX,
                     "return _soft(scores, mask)")
    problem = visible_problem(VISIBLE["test_softmax_values"], EX.namespace(answer))
    assert problem is not None and "rnncourse" in problem


def test_the_unanswered_stubs_say_so():
    for function, header, cell in [("masked_softmax", SOFTMAX, "test_softmax_values"),
                                   ("greedy_decode", GREEDY, "test_greedy_values")]:
        stub = mistake("stub", function, header, "raise NotImplementedError()")
        problem = visible_problem(VISIBLE[cell], EX.namespace(stub))
        assert problem is not None and "not implemented" in problem, problem
    stub = mistake("stub", "decoder_step", DECODER, "raise NotImplementedError()")  # greedy needs decoder_step
    problem = visible_problem(VISIBLE["test_greedy_values"], EX.namespace(stub))
    assert problem is not None and "not implemented" in problem and "decoder_step" in problem, problem


def test_every_graded_cell_has_a_visible_check_and_hidden_cases():
    assert set(VISIBLE) == set(PARTS)
    assert set(SOLUTION) >= set(FUNCTIONS)
    assert {m.function for m in MISTAKES} == set(FUNCTIONS)
    assert {part.function for part in EX.spec.parts} == set(FUNCTIONS) and EX.spec.max_score == 13
    assert all("rnncourse" in part.forbidden and "torch" in part.forbidden for part in EX.spec.parts)
    assert [part.integer_result for part in EX.spec.parts].count(True) == 2
    assert all(case.rtol == case.atol == 0 for cell in EX.cells_of("greedy_decode") for case in PARTS[cell].cases)


def test_the_self_checks_are_fast():
    import time

    namespace = EX.namespace()
    for cell in PARTS:
        start = time.perf_counter()
        assert visible_problem(VISIBLE[cell], namespace) is None
        assert time.perf_counter() - start < 1.0, cell


# --------------------------------------------------------------------------- the references, against PyTorch


def _torch():
    import torch

    return torch


def _t(array):
    return _torch().from_numpy(np.ascontiguousarray(array))


def _torch_scores(s_prev, enc, W_a, U_a, w_a):
    torch = _torch()
    pre = torch.einsum("ad,bd->ba", _t(W_a), _t(s_prev))[None] + torch.einsum("ae,tbe->tba", _t(U_a), _t(enc))
    return torch.einsum("a,tba->bt", _t(w_a), torch.tanh(pre))


def _torch_softmax(scores, mask):
    """torch.softmax of the scores with the padding filled with -inf; a fully padded row (NaN there) set to 0."""
    torch = _torch()
    mask = _t(mask)
    weights = torch.softmax(_t(scores).masked_fill(~mask, float("-inf")), dim=-1)
    return torch.where(mask.any(dim=-1, keepdim=True), weights, torch.zeros_like(weights))


def _torch_decoder(y_prev, s_prev, enc, mask, params):
    torch = _torch()
    p = {key: _t(value) for key, value in params.items()}
    alpha = _torch_softmax(_torch_scores(s_prev, enc, params["W_a"], params["U_a"], params["w_a"]).numpy(), mask)
    context = torch.einsum("bt,tbh->bh", alpha, _t(enc))
    cell = torch.nn.GRUCell(p["weight_ih"].shape[1], p["weight_hh"].shape[1], dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(p[name])
        s = cell(torch.cat([p["E"][torch.from_numpy(np.asarray(y_prev))], context], dim=1), _t(s_prev))
        o = torch.nn.functional.linear(torch.cat([s, context], dim=1), p["V"], p["c"])
    return o.numpy(), s.numpy(), alpha.numpy()


def _agree(a, b, atol=1e-12):
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-12, atol=atol))


def test_the_score_references_agree_with_torch_einsum():
    torch = _torch()
    for cell in EX.cells_of("additive_scores"):
        for case, args in EX.drawn(cell):
            assert _agree(check_ex05.reference_additive_scores(*fresh_copies(args)), _torch_scores(*args).numpy()), case.name
    for case, (s_prev, enc, M_a) in EX.drawn("test_multiplicative"):
        expected = torch.einsum("bd,de,tbe->bt", _t(s_prev), _t(M_a), _t(enc)).numpy()
        assert _agree(check_ex05.reference_multiplicative_scores(s_prev, enc, M_a), expected), case.name


def test_the_softmax_reference_agrees_with_torch_masked_fill():
    for cell in EX.cells_of("masked_softmax"):
        for case, (scores, mask) in EX.drawn(cell):
            assert mask.dtype == bool, case.name
            weights = check_ex05.reference_masked_softmax(scores.copy(), mask.copy())
            assert _agree(weights, _torch_softmax(scores, mask).numpy()), case.name
            assert np.all(weights[~mask] == 0.0), case.name  # exactly
            empty = ~mask.any(axis=-1)
            assert np.all(weights[empty] == 0.0) and np.allclose(weights[~empty].sum(axis=-1), 1.0, atol=1e-14)


def test_the_context_reference_agrees_with_torch_einsum():
    torch = _torch()
    for case, (alpha, enc) in EX.drawn("test_context"):
        expected = torch.einsum("bt,tbh->bh", _t(alpha), _t(enc)).numpy()
        assert _agree(check_ex05.reference_attention_context(alpha, enc), expected), case.name


def test_the_gru_references_agree_with_torch_gru_cell():
    """The reference GRU and the notebook's given gru_cell are torch.nn.GRUCell, to float error."""
    torch = _torch()
    given = EX.namespace()["gru_cell"]
    rng = np.random.default_rng(5)
    for B, D, H, scale in [(3, 5, 4, 1.0), (1, 2, 6, 3.0), (4, 7, 7, 10.0)]:
        x, h = rng.standard_normal((B, D)), np.tanh(rng.standard_normal((B, H)))
        weights = [scale * rng.standard_normal((3 * H, D)), scale * rng.standard_normal((3 * H, H)),
                   rng.standard_normal(3 * H), rng.standard_normal(3 * H)]
        cell = torch.nn.GRUCell(D, H, dtype=torch.float64)
        with torch.no_grad():
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
                getattr(cell, name).copy_(_t(value))
            expected = cell(_t(x), _t(h)).numpy()
        assert _agree(check_ex05.reference_gru_cell(x, h, *weights), expected)
        assert _agree(given(x, h, *weights), expected)


def test_the_decoder_reference_agrees_with_torch():
    for cell in EX.cells_of("decoder_step"):
        for case, args in EX.drawn(cell):
            y_prev, mask, params = args[0], args[3], args[4]
            assert y_prev.dtype == np.int64 and mask.dtype == bool and set(params) == {
                "E", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "W_a", "U_a", "w_a", "V", "c"}, case.name
            ours = check_ex05.reference_decoder_step(*fresh_copies(args))
            theirs = _torch_decoder(*fresh_copies(args))
            assert all(_agree(a, b, atol=1e-11) for a, b in zip(ours, theirs)), case.name


def test_the_greedy_reference_agrees_with_torch_and_has_no_near_ties():
    torch = _torch()
    for cell in EX.cells_of("greedy_decode"):
        for case, args in EX.drawn(cell):
            enc, mask, s0, params, max_len, bos, eos = args
            assert all(type(v) is int for v in (max_len, bos, eos)), case.name
            tokens = check_ex05.reference_greedy_decode(*fresh_copies(args))
            assert tokens.dtype == np.int64 and tokens.shape == (s0.shape[0], max_len)
            # the same decoding with the torch decoder
            B = s0.shape[0]
            out, finished, y, s = np.zeros((B, max_len), dtype=np.int64), np.zeros(B, dtype=bool), np.full(B, bos), s0
            for t in range(max_len):
                o, s, _ = _torch_decoder(y, s, enc, mask, params)
                top = torch.topk(_t(o), 2, dim=1).values.numpy()
                assert np.all((top[:, 0] - top[:, 1])[~finished] > check_ex05.TIE_GAP), case.name
                y = np.argmax(o, axis=1)
                out[:, t] = np.where(finished, 0, y)
                finished |= y == eos
            assert np.array_equal(tokens, out), case.name


# --------------------------------------------------------------------------- the hidden cases show what they claim


def test_the_score_cases_have_the_sizes_they_claim():
    for cell in EX.cells_of("additive_scores"):
        for case, (s_prev, enc, W_a, U_a, w_a) in EX.drawn(cell):
            (T_x, B, H_e), H_d, A = enc.shape, s_prev.shape[1], w_a.shape[0]
            assert W_a.shape == (A, H_d) and U_a.shape == (A, H_e) and s_prev.shape == (B, H_d)
            if "all different" in case.name or case.name.startswith(("B=1", "T_x=1", "B = T_x")):
                assert len({H_d, H_e, A}) == 3, case.name
            if "H_d = H_e = A" in case.name:
                assert H_d == H_e == A, case.name
            assert (B == 1) == case.name.startswith("B=1") and (T_x == 1) == case.name.startswith("T_x=1"), case.name
            if "B = T_x" in case.name:
                assert B == T_x
    for case, (s_prev, enc, M_a) in EX.drawn("test_multiplicative"):
        assert ("H_d = H_e" in case.name) == (M_a.shape[0] == M_a.shape[1]), case.name


def test_the_softmax_cases_have_the_masks_and_scores_they_claim():
    seen = set()
    for cell in EX.cells_of("masked_softmax"):
        for case, (scores, mask) in EX.drawn(cell):
            real = mask.sum(axis=1)
            prefix = all(np.array_equal(row, np.arange(len(row)) < row.sum()) for row in mask)
            if "fully padded" in case.name:
                assert np.any(real == 0) and np.any(real > 0), case.name
                seen.add("empty")
            if "arbitrary" in case.name:
                assert not prefix, case.name
                seen.add("arbitrary")
            if "at the end" in case.name:
                assert prefix and np.any(real < mask.shape[1]) and np.all(real > 0), case.name
            if "no padding" in case.name:
                assert mask.all(), case.name
            if "1000" in case.name:
                assert np.all(np.abs(scores) > 900), case.name
                both = [b for b in range(len(mask)) if mask[b].any() and np.ptp(scores[b][mask[b]]) > 1500]
                assert both or len(mask) < 2, case.name  # one row holds +1000 and -1000 among its real positions
                seen.add("large")
    assert seen == {"empty", "arbitrary", "large"}


def test_the_greedy_cases_finish_as_they_claim():
    for cell in EX.cells_of("greedy_decode"):
        for case, args in EX.drawn(cell):
            enc, mask, s0, params, max_len, bos, eos = args
            tokens = check_ex05.reference_greedy_decode(*fresh_copies(args))
            steps = [int(np.argmax(row == eos)) if np.any(row == eos) else None for row in tokens]
            done = [t for t in steps if t is not None]
            assert not np.any(tokens[:, :1] == 0), case.name  # PAD is never written
            if "different steps" in case.name:
                assert len(set(done)) >= 2 and min(done) < max_len - 1, case.name
            if "never" in case.name or "no eos" in case.name:
                assert None in steps, case.name
            if "all finish" in case.name:
                assert len(done) == len(steps) and max(done) < max_len - 1, case.name
            if "other token ids" in case.name:
                assert {bos, eos}.isdisjoint({0, 1, 2}) and bos != eos, case.name
            if max_len == 1:
                assert "max_len=1" in case.name


def test_the_arguments_keep_their_dtypes_through_the_wire():
    """Grader side: a bool mask, int64 token ids and a dict of float64 arrays are sent as such (not as float64), and
    the sandbox's decoder rebuilds them (rnncourse.grading.worker.decode_input)."""
    from rnncourse.grading.grader import _draw_args, _to_wire
    from rnncourse.grading.worker import decode_input

    case = PARTS["test_decoder_general"].cases[2]
    args = _draw_args(case, np.random.default_rng(0))
    wired = [decode_input(json.loads(json.dumps(_to_wire(a, False)))) for a in args]
    y_prev, s_prev, enc, mask, params = wired
    assert y_prev.dtype == np.int64 and mask.dtype == bool and s_prev.dtype == np.float64
    assert isinstance(params, dict) and all(v.dtype == np.float64 for v in params.values())
    assert np.array_equal(mask, args[3]) and all(np.array_equal(params[k], args[4][k]) for k in params)
    assert not mask.all(axis=1).all()


# --------------------------------------------------------------------------- mutations of the solution
#
# As in exercises 2 to 4: every small mechanical change to an answer (an operator swapped, a term or a transpose
# dropped, a wrong axis, argmin for argmax, max for min, mean for sum, a comparison flipped, an off-by-one constant)
# must cost points, unless it is listed here as equivalent, with the reason.

#: Mutants that keep full marks because they compute the same function on every input the exercise allows.
EQUIVALENT: dict[str, set[str]] = {
    # -1e9 in place of -inf: as the fill before the row maximum it is below every real score (a fully padded row's
    # maximum is then -1e9 instead of -inf, and its weights are still exp(-inf) = 0); as the padded positions'
    # exponent, exp(-1e9) is exactly 0 in float64, as exp(-inf) is
    "masked_softmax": {"top = np.max(np.where(mask, scores, -1000000000.0), axis=-1, keepdims=True)",
                       "weights = np.exp(np.where(mask, scores - top, -1000000000.0))"},
}


def _attention_replacements(node: ast.AST):
    """Mutations that matter for attention: two pieces concatenated (or a np.where's branches) the other way round,
    tanh dropped, the mask negated, a padded score of -1e9 or -100 in place of -inf, keepdims dropped."""
    if isinstance(node, ast.List) and len(node.elts) == 2:
        yield ast.List([node.elts[1], node.elts[0]], node.ctx)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "tanh" and len(node.args) == 1:
            yield node.args[0]
        if node.func.attr == "where" and len(node.args) == 3:
            yield ast.Call(node.func, [node.args[0], node.args[2], node.args[1]], node.keywords)
    elif isinstance(node, ast.Name) and node.id == "mask" and isinstance(node.ctx, ast.Load):
        yield ast.UnaryOp(ast.Invert(), ast.Name("mask", ast.Load()))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and ast.unparse(node.operand) == "np.inf":
        yield ast.Constant(-1e9)
        yield ast.Constant(-100.0)
    elif isinstance(node, ast.keyword) and node.arg == "keepdims":
        yield ast.keyword("keepdims", ast.Constant(False))


def test_the_unmutated_solution_scores_full_marks_here():
    assert EX.score(EX.namespace()) == EX.spec.max_score


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_mutation_of_the_solution_loses_points(function):
    tried, survivors = EX.surviving_mutants(function, EQUIVALENT.get(function, set()), _attention_replacements)
    assert tried >= 3, f"only {tried} mutants of {function}: the mutation operators found nothing to change"
    assert not survivors, f"mutants of {function} that keep full marks (add a hidden case, or list them as equivalent): {survivors}"


def test_equivalent_mutants_are_real_mutants():
    for function, expected in EQUIVALENT.items():
        lines = {line for line, _ in EX.mutants(function, _attention_replacements)}
        assert expected <= lines, f"stale entries in EQUIVALENT[{function!r}]: {expected - lines}"
