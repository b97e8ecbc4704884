"""Self-checks for exercise 5 (*Attention for sequence to sequence*).

Six NumPy functions: the additive (Bahdanau) and multiplicative (Luong's "general") attention scores, the
masked softmax over source positions, the context vector, one decoder step of an attention decoder with a GRU,
and greedy decoding of a batch. The references are written here from the chapter's equations, in float64
(time first, as everywhere in the course: ``enc`` is ``(T_x, B, H_e)``; scores and weights are ``(B, T_x)``):

- additive score  ``e_j = w_a^T tanh(W_a s^(t-1) + U_a h^(j))``;
- multiplicative  ``e_j = s^(t-1)^T M_a h^(j)``;
- masked softmax  ``alpha_j = exp(e_j) / sum over unmasked k of exp(e_k)`` at real tokens, exactly 0 at padding,
  and a row with no real token all zeros;
- context         ``bar h = sum_j alpha_j h^(j)``;
- decoder step    attention from ``s^(t-1)``, then ``s^(t) = GRU([E y^(t-1); bar h], s^(t-1))`` (torch.nn.GRUCell's
  equations, gates r, z, n), then ``o = c + V [s^(t); bar h]``;
- greedy decoding from ``bos``: argmax at every step, the ``eos`` kept, ``PAD = 0`` after it, ``max_len`` columns.

Each check draws its problems from a fixed seed and covers what the hidden cases cover: ``B = 1``, ``T_x = 1``,
``H_d != H_e != H_a`` and the square sizes where a transpose or a swap runs without a shape error, padding at the end
and an arbitrary mask, a fully padded row, scores near +1000 and -1000, rows that finish at different steps and one
that never emits ``eos``. When a value is wrong, the checks try the usual mistakes (softmax over the wrong axis, the
mask ignored, the GRU fed ``[context; embedding]``, attention scored from the new state, greedy decoding that keeps
going after ``eos``...) and name the one that matches. The grading spec (``solutions/ex05_seq2seq/grading.py``)
uses the same problems, references, diagnoses and hints.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnncourse.checks import SelfCheckError, check_items, check_own_code, check_unchanged, self_check
from rnncourse.checks.ex01 import _call, _close, _is_float_array, _never_raises, _sizes
from rnncourse.checks.ex04 import _listish

__all__ = [
    "ADDITIVE_HINT",
    "CONTEXT_HINT",
    "DECODER_HINT",
    "GREEDY_HINT",
    "MULTIPLICATIVE_HINT",
    "PAD",
    "SOFTMAX_HINT",
    "TIE_GAP",
    "additive_mistakes",
    "check_additive_scores",
    "check_additive_scores_general",
    "check_attention_context",
    "check_decoder_step",
    "check_decoder_step_general",
    "check_greedy_decode",
    "check_greedy_decode_general",
    "check_masked_softmax",
    "check_masked_softmax_general",
    "check_multiplicative_scores",
    "context_mistakes",
    "decoder_mistakes",
    "diagnose_context",
    "diagnose_decoder",
    "diagnose_greedy",
    "diagnose_scores",
    "diagnose_softmax",
    "greedy_mistakes",
    "multiplicative_mistakes",
    "random_additive_problem",
    "random_context_problem",
    "random_decoder_params",
    "random_decoder_problem",
    "random_greedy_problem",
    "random_mask",
    "random_multiplicative_problem",
    "random_softmax_problem",
    "reference_additive_scores",
    "reference_attention_context",
    "reference_decoder_step",
    "reference_greedy_decode",
    "reference_gru_cell",
    "reference_masked_softmax",
    "reference_multiplicative_scores",
    "softmax_mistakes",
]

#: The padding token: the id greedy decoding writes after a row's ``eos``.
PAD = 0

ADDITIVE_HINT = (
    "e_j = w_a^T tanh(W_a s^(t-1) + U_a h^(j)). With vectors as rows: the query s_prev @ W_a.T is (B, H_a) and the keys "
    "enc @ U_a.T are (T_x, B, H_a); add them (the query broadcasts over time), apply np.tanh, then `@ w_a` gives (T_x, B): "
    "transpose it to (B, T_x), one row per example."
)
MULTIPLICATIVE_HINT = (
    "e_j = s^(t-1)^T M_a h^(j). s_prev @ M_a is (B, H_e); multiply it elementwise with enc (T_x, B, H_e) (it broadcasts "
    "over time), sum over the last axis to get (T_x, B), and transpose to (B, T_x). The 'general' score is not scaled."
)
SOFTMAX_HINT = (
    "Work on each row (axis=-1, keepdims=True): take the maximum over the real positions only (mask True), exp(scores - "
    "max) at real positions and exactly 0 at padded ones (np.where), then divide by the row's sum. A row with no real "
    "position has sum 0: leave it all zeros (divide only where the sum is positive). Build new arrays: do not assign into "
    "scores or mask."
)
CONTEXT_HINT = (
    "bar h[b] = sum over j of alpha[b, j] * enc[j, b]: enc is time first, (T_x, B, H_e), and alpha is (B, T_x). For "
    "example np.sum(alpha.T[:, :, None] * enc, axis=0), or np.einsum('bt,tbh->bh', alpha, enc)."
)
DECODER_HINT = (
    "In this order: alpha = masked_softmax(additive_scores(s_prev, enc, W_a, U_a, w_a), mask), scored from s_prev (not "
    "the new s); context = attention_context(alpha, enc); s = gru_cell(np.concatenate([E[y_prev], context], axis=1), "
    "s_prev, weight_ih, weight_hh, bias_ih, bias_hh), the embedding first; o = c + np.concatenate([s, context], axis=1) "
    "@ V.T; return (o, s, alpha)."
)
GREEDY_HINT = (
    "Start every row from y_prev = bos and s = s0. At each of the max_len steps: o, s, _ = decoder_step(y_prev, s, enc, "
    "mask, params); y = np.argmax(o, axis=1); write y into column t for the rows that have not finished and PAD = 0 for "
    "those that have; then mark the rows where y == eos as finished and feed y back as y_prev. The eos itself is kept, "
    "and the result always has max_len columns."
)


# --------------------------------------------------------------------------- references


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # = 1 / (1 + exp(-a)), without overflow for large |a|


def reference_additive_scores(s_prev, enc, W_a, U_a, w_a):
    """Additive (Bahdanau) scores ``(B, T_x)``: ``e[b, j] = w_a . tanh(W_a s_prev[b] + U_a enc[j, b])``."""
    query = s_prev @ W_a.T  # (B, H_a)
    keys = enc @ U_a.T  # (T_x, B, H_a)
    return np.einsum("tba,a->bt", np.tanh(query[None] + keys), w_a)


def reference_multiplicative_scores(s_prev, enc, M_a):
    """Multiplicative ("general", Luong) scores ``(B, T_x)``: ``e[b, j] = s_prev[b] . (M_a enc[j, b])``."""
    return np.einsum("bd,de,tbe->bt", s_prev, M_a, enc)


def reference_masked_softmax(scores, mask):
    """Softmax of each row of ``scores (B, T_x)`` over its unmasked positions; exactly 0 at masked ones, and a row
    with no unmasked position all zeros. Stable: the maximum over the unmasked entries is subtracted first."""
    mask = np.asarray(mask, dtype=bool)
    top = np.max(np.where(mask, scores, -np.inf), axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(np.where(mask, scores - top, -np.inf))
    total = np.sum(weights, axis=-1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def reference_attention_context(alpha, enc):
    """The context vectors ``(B, H_e)``: ``bar h[b] = sum_j alpha[b, j] enc[j, b]``."""
    return np.einsum("bt,tbh->bh", alpha, enc)


def reference_gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """One GRU step with ``torch.nn.GRUCell``'s equations (gates stacked r, z, n): returns the new state ``(B, H)``.

    ``r = sigma(W_ir x + b_ir + W_hr h + b_hr)``, ``z = sigma(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.
    """
    H = h.shape[-1]
    gi = x @ weight_ih.T + bias_ih
    gh = h @ weight_hh.T + bias_hh
    r = _sigmoid(gi[:, :H] + gh[:, :H])
    z = _sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1.0 - z) * n + z * h


def _decoder(y_prev, s_prev, enc, mask, params, *, inputs="embedding first", query="previous", output="state and context",
             bias=True, use_mask=True):
    """The decoder step, and its usual mistakes by keyword (the defaults are the right step)."""
    p = params
    weights_mask = mask if use_mask else np.ones_like(mask, dtype=bool)
    alpha = reference_masked_softmax(reference_additive_scores(s_prev, enc, p["W_a"], p["U_a"], p["w_a"]), weights_mask)
    context = reference_attention_context(alpha, enc)
    embedded = p["E"][np.asarray(y_prev, dtype=np.int64)]
    pair = [embedded, context] if inputs == "embedding first" else [context, embedded]
    s = reference_gru_cell(np.concatenate(pair, axis=1), s_prev, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"])
    if query == "new":  # attention computed again from the new state, for the output
        alpha = reference_masked_softmax(reference_additive_scores(s, enc, p["W_a"], p["U_a"], p["w_a"]), weights_mask)
        context = reference_attention_context(alpha, enc)
    H_d = s.shape[1]
    features = {
        "state and context": lambda: np.concatenate([s, context], axis=1) @ p["V"].T,
        "context and state": lambda: np.concatenate([context, s], axis=1) @ p["V"].T,
        "state only": lambda: s @ p["V"][:, :H_d].T,
        "previous state and context": lambda: np.concatenate([s_prev, context], axis=1) @ p["V"].T,
    }[output]()
    return (p["c"] + features if bias else features), s, alpha


def reference_decoder_step(y_prev, s_prev, enc, mask, params):
    """``(o (B, K), s (B, H_d), alpha (B, T_x))`` of one step of the attention decoder."""
    return _decoder(y_prev, s_prev, enc, mask, params)


def _greedy(enc, mask, s0, params, max_len, bos, eos, *, step=reference_decoder_step, after="pad", stop_all=False,
            keep_eos=True, first=None, with_bos=False, carry_state=True, feed_back=True):
    """Greedy decoding, and its usual mistakes by keyword (the defaults are the right decoding)."""
    B = s0.shape[0]
    tokens = np.zeros((B, max_len), dtype=np.int64)
    finished = np.zeros(B, dtype=bool)
    start = np.full(B, bos if first is None else first, dtype=np.int64)
    y, s = start, s0
    for t in range(max_len):
        o, s_new, _ = step(y, s, enc, mask, params)
        new = np.argmax(np.asarray(o), axis=1)
        if after == "continue":
            tokens[:, t] = new
        else:
            tokens[:, t] = np.where(finished, PAD if after == "pad" else eos, new)
        if not keep_eos:
            tokens[:, t] = np.where(~finished & (new == eos), PAD, tokens[:, t])
        finished = finished | (new == eos)
        if stop_all and finished.any():
            break
        s = s_new if carry_state else s0
        y = new if feed_back else start
    if with_bos:
        tokens = np.concatenate([np.full((B, 1), bos, dtype=np.int64), tokens[:, :-1]], axis=1)
    return tokens


def reference_greedy_decode(enc, mask, s0, params, max_len, bos, eos):
    """Token ids ``(B, max_len)``, int64: greedy decoding from ``bos``; a row keeps its ``eos`` and then gets ``PAD``."""
    return _greedy(enc, mask, s0, params, int(max_len), int(bos), int(eos))


# --------------------------------------------------------------------------- random problems


def _states(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """States in (-1, 1), as a tanh layer makes them, not saturated."""
    return np.tanh(1.5 * rng.standard_normal(shape))


def random_mask(rng: np.random.Generator, B: int, T_x: int, kind: str = "end") -> np.ndarray:
    """A bool mask ``(B, T_x)``, True at real tokens.

    ``kind``: ``"none"`` (no padding); ``"end"`` (padding at the end, the usual case: one row full and, when there is
    room, one row padded); ``"arbitrary"`` (any pattern with at least one real token per row, and one row whose real
    tokens are not a prefix); ``"empty"`` (padding at the end and one row with no real token at all, ``B >= 2``).
    """
    if kind == "none":
        return np.ones((B, T_x), dtype=bool)
    if kind == "arbitrary":
        mask = rng.random((B, T_x)) < 0.6
        mask[np.arange(B), rng.integers(0, T_x, B)] = True
        if T_x >= 2:
            row = int(rng.integers(B))
            mask[row, 0], mask[row, 1] = False, True
        return mask
    if kind not in ("end", "empty"):
        raise ValueError(f"unknown kind of mask {kind!r}")
    lengths = rng.integers(1, T_x + 1, B)
    full = int(rng.integers(B))
    lengths[full] = T_x
    if T_x > 1:
        if B == 1:
            lengths[0] = rng.integers(1, T_x)
        else:
            lengths[(full + 1 + int(rng.integers(B - 1))) % B] = rng.integers(1, T_x)
    mask = np.arange(T_x)[None, :] < lengths[:, None]
    if kind == "empty":
        if B < 2:
            raise ValueError("a fully padded row beside a real one needs B >= 2")
        mask[(full + 1 + int(rng.integers(B - 1))) % B] = False
    return mask


def random_softmax_problem(rng: np.random.Generator, B: int, T_x: int, kind: str = "end", large: bool = False) -> list[Any]:
    """``[scores (B, T_x), mask (B, T_x) bool]``.

    With ``large``, each row's scores sit near +1000 or -1000, and (with ``B >= 2``) one row holds both +1000 and -1000
    among its real positions: exp() of them overflows or underflows unless the row's maximum is subtracted first.
    Padded positions are drawn like the real ones of their row (so the maximum over the whole row is never far above
    the maximum over its real positions).
    """
    mask = random_mask(rng, B, T_x, kind)
    scores = 2.0 * rng.standard_normal((B, T_x))
    if large:
        scores = rng.choice([-1000.0, 1000.0], B)[:, None] + 3.0 * rng.standard_normal((B, T_x))
        real = np.flatnonzero(mask.sum(axis=1) >= 2)
        if B >= 2 and real.size:
            row = int(rng.choice(real))
            signs = rng.choice([-1000.0, 1000.0], T_x)
            where = np.flatnonzero(mask[row])
            signs[where[0]], signs[where[-1]] = 1000.0, -1000.0
            scores[row] = signs + 3.0 * rng.standard_normal(T_x)
    return [scores, mask]


def random_additive_problem(rng: np.random.Generator, B: int, T_x: int, H_d: int, H_e: int, A: int) -> list[np.ndarray]:
    """``[s_prev (B, H_d), enc (T_x, B, H_e), W_a (H_a, H_d), U_a (H_a, H_e), w_a (H_a,)]``, scaled so tanh is not saturated."""
    return [
        _states(rng, (B, H_d)),
        _states(rng, (T_x, B, H_e)),
        1.5 * rng.standard_normal((A, H_d)) / np.sqrt(H_d),
        1.5 * rng.standard_normal((A, H_e)) / np.sqrt(H_e),
        rng.standard_normal(A),
    ]


def random_multiplicative_problem(rng: np.random.Generator, B: int, T_x: int, H_d: int, H_e: int) -> list[np.ndarray]:
    """``[s_prev (B, H_d), enc (T_x, B, H_e), M_a (H_d, H_e)]``."""
    return [_states(rng, (B, H_d)), _states(rng, (T_x, B, H_e)), 1.5 * rng.standard_normal((H_d, H_e)) / np.sqrt(H_e)]


def random_context_problem(rng: np.random.Generator, B: int, T_x: int, H_e: int, kind: str = "end") -> list[np.ndarray]:
    """``[alpha (B, T_x), enc (T_x, B, H_e)]``: weights from a masked softmax (a fully padded row is all zeros)."""
    alpha = reference_masked_softmax(2.0 * rng.standard_normal((B, T_x)), random_mask(rng, B, T_x, kind))
    return [alpha, _states(rng, (T_x, B, H_e))]


def random_decoder_params(rng: np.random.Generator, K: int, M: int, H_d: int, H_e: int, A: int) -> dict[str, np.ndarray]:
    """The decoder's parameters: embedding ``E (K, M)``, GRU ``weight_ih (3H_d, M + H_e)``, ``weight_hh (3H_d, H_d)``,
    ``bias_ih``, ``bias_hh (3H_d,)``, attention ``W_a (H_a, H_d)``, ``U_a (H_a, H_e)``, ``w_a (H_a,)``, output ``V (K, H_d + H_e)``,
    ``c (K,)``. The PAD token's output bias is very negative, as after training: it is never the argmax."""
    c = 0.5 * rng.standard_normal(K)
    c[PAD] -= 20.0
    return {
        "E": rng.standard_normal((K, M)),
        "weight_ih": 1.5 * rng.standard_normal((3 * H_d, M + H_e)) / np.sqrt(M + H_e),
        "weight_hh": 1.5 * rng.standard_normal((3 * H_d, H_d)) / np.sqrt(H_d),
        "bias_ih": 0.3 * rng.standard_normal(3 * H_d),
        "bias_hh": 0.3 * rng.standard_normal(3 * H_d),
        "W_a": 1.5 * rng.standard_normal((A, H_d)) / np.sqrt(H_d),
        "U_a": 1.5 * rng.standard_normal((A, H_e)) / np.sqrt(H_e),
        "w_a": rng.standard_normal(A),
        "V": 2.0 * rng.standard_normal((K, H_d + H_e)) / np.sqrt(H_d + H_e),
        "c": c,
    }


def random_decoder_problem(rng: np.random.Generator, B: int, T_x: int, K: int, M: int, H_d: int, H_e: int, A: int,
                           kind: str = "end") -> list[Any]:
    """``[y_prev (B,) int64, s_prev (B, H_d), enc (T_x, B, H_e), mask (B, T_x) bool, params]`` for one decoder step."""
    y_prev = rng.integers(1, K, B).astype(np.int64)  # any token but PAD
    return [y_prev, _states(rng, (B, H_d)), _states(rng, (T_x, B, H_e)), random_mask(rng, B, T_x, kind),
            random_decoder_params(rng, K, M, H_d, H_e, A)]


def _finish_steps(tokens: np.ndarray, eos: int) -> list[int | None]:
    """For each row, the step at which it emitted eos, or None."""
    return [int(np.argmax(row == eos)) if np.any(row == eos) else None for row in tokens]


def _reference_path(enc, mask, s0, params, max_len, bos, eos) -> tuple[np.ndarray, float]:
    """The reference tokens, and the smallest gap between the two largest scores of an unfinished row at any step."""
    B = s0.shape[0]
    tokens = np.zeros((B, max_len), dtype=np.int64)
    finished = np.zeros(B, dtype=bool)
    y, s, gap = np.full(B, bos, dtype=np.int64), s0, np.inf
    for t in range(max_len):
        o, s, _ = reference_decoder_step(y, s, enc, mask, params)
        top_two = np.sort(o, axis=1)[:, -2:]
        if np.any(~finished):
            gap = min(gap, float(np.min(top_two[~finished, 1] - top_two[~finished, 0])))
        y = np.argmax(o, axis=1)
        tokens[:, t] = np.where(finished, PAD, y)
        finished |= y == eos
    return tokens, gap


#: The smallest gap between the two largest output scores along the reference path of a greedy problem: far
#: above float error, so the argmax never depends on the order of a sum.
TIE_GAP = 1e-6


def random_greedy_problem(rng: np.random.Generator, B: int, T_x: int, K: int, M: int, H_d: int, H_e: int, A: int,
                          max_len: int, bos: int = 1, eos: int = 2, finish: str = "staggered", kind: str = "end") -> list[Any]:
    """``[enc, mask, s0, params, max_len, bos, eos]`` for greedy decoding, drawn again until the reference path shows
    what the case is for and no argmax along it is a near-tie (the two largest scores at least :data:`TIE_GAP` apart).

    ``finish``: ``"staggered"`` (two rows emit eos at different steps, the first before the last column, so decoding
    must go on for the other rows); ``"never"`` (some row never emits eos; with ``B >= 2`` another finishes before the
    last column); ``"early"`` (every row finishes before the last column, so every row ends with PAD); ``"any"``.
    """
    for _ in range(3000):
        params = random_decoder_params(rng, K, M, H_d, H_e, A)
        params["c"][eos] += rng.uniform(-0.5, 2.0)  # eos neither never nor always chosen
        args = [_states(rng, (T_x, B, H_e)), random_mask(rng, B, T_x, kind), _states(rng, (B, H_d)), params,
                int(max_len), int(bos), int(eos)]
        tokens, gap = _reference_path(*args)
        if gap <= TIE_GAP:
            continue
        steps = _finish_steps(tokens, eos)
        done = [t for t in steps if t is not None]
        if finish == "staggered" and not (len(set(done)) >= 2 and min(done) < max_len - 1):
            continue
        if finish == "never" and not (None in steps and (B == 1 or (done and min(done) < max_len - 1))):
            continue
        if finish == "early" and not (len(done) == B and max(done) < max_len - 1 and (B == 1 or len(set(done)) >= 2)):
            continue
        return args
    raise RuntimeError(f"no {finish!r} greedy problem found for B={B}, K={K}, max_len={max_len}")


# --------------------------------------------------------------------------- the usual mistakes


def _attempt(make: Callable[[], Any]) -> Any:
    try:
        with np.errstate(all="ignore"):
            return make()
    except Exception:  # a mistake that cannot even run on these shapes: a shape error says so anyway
        return None


def _keep_wrong(candidates: dict[str, Callable[[], Any]], right: Any) -> dict[str, Any]:
    """The candidates that run, have the right form, and differ from the right result."""
    kept = {}
    for sentence, make in candidates.items():
        value = _attempt(make)
        if value is None:
            continue
        if isinstance(right, tuple):
            if not (isinstance(value, tuple) and len(value) == len(right)
                    and all(np.shape(v) == np.shape(r) for v, r in zip(value, right))):
                continue
            if all(_close(np.asarray(v, dtype=float), np.asarray(r, dtype=float)) for v, r in zip(value, right)):
                continue
        else:
            if np.shape(value) != np.shape(right) or _close(np.asarray(value, dtype=float), np.asarray(right, dtype=float)):
                continue
        kept[sentence] = value

    def same(a: Any, b: Any) -> bool:
        pairs = zip(a, b) if isinstance(a, tuple) else [(a, b)]
        return all(_close(np.asarray(x, dtype=float), np.asarray(y, dtype=float)) for x, y in pairs)

    # two mistakes that give the same result here cannot be told apart: name neither
    return {s: v for s, v in kept.items() if not any(t != s and same(v, w) for t, w in kept.items())}


def additive_mistakes(s_prev, enc, W_a, U_a, w_a) -> dict[str, np.ndarray]:
    """What a plausible wrong ``additive_scores`` returns, by the sentence that explains it."""
    def scores(query, keys, activation=np.tanh, combine=lambda u: u @ w_a):
        return combine(activation(query + keys)).T

    query, keys = s_prev @ W_a.T, enc @ U_a.T
    candidates = {
        "W_a and U_a are swapped: W_a (A, H_d) multiplies the decoder state s^(t-1), U_a (A, H_e) the encoder states h^(j)":
            lambda: scores(s_prev @ U_a.T, enc @ W_a.T),
        "W_a is transposed: with vectors as rows, W_a s^(t-1) is `s_prev @ W_a.T`": lambda: scores(s_prev @ W_a, keys),
        "U_a is transposed: with vectors as rows, U_a h^(j) is `enc @ U_a.T`": lambda: scores(query, enc @ U_a),
        "tanh is missing: e_j = w_a^T tanh(W_a s^(t-1) + U_a h^(j))": lambda: scores(query, keys, activation=lambda u: u),
        "the tanh units are summed instead of weighted by w_a: finish with `@ w_a`":
            lambda: scores(query, keys, combine=lambda u: u.sum(axis=-1)),
        "the scores are (T_x, B): return one row per example, (B, T_x)": lambda: scores(query, keys).T,
        "each query is paired with another example's encoder states: enc is time first, (T_x, B, H_e), so the query "
        "(B, H_a) broadcasts over time as (1, B, H_a)": lambda: scores(query[:, None, :], keys),
        "enc is read as batch first, (B, T_x, H_e): it is time first, (T_x, B, H_e), as everywhere in the course":
            lambda: scores(query[:, None, :], keys).T,
    }
    return _keep_wrong(candidates, reference_additive_scores(s_prev, enc, W_a, U_a, w_a))


def multiplicative_mistakes(s_prev, enc, M_a) -> dict[str, np.ndarray]:
    """What a plausible wrong ``multiplicative_scores`` returns, by the sentence that explains it."""
    right = reference_multiplicative_scores(s_prev, enc, M_a)
    candidates = {
        "M_a is transposed: s^(t-1)^T M_a h^(j) is `(s_prev @ M_a)` dotted with h^(j)":
            lambda: np.einsum("bd,ed,tbe->bt", s_prev, M_a, enc),
        "M_a is left out (a plain dot product of s^(t-1) and h^(j)): e_j = s^(t-1)^T M_a h^(j)":
            lambda: np.einsum("bd,tbd->bt", s_prev, enc),
        "the scores are divided by sqrt(H_e), as in scaled dot-product attention: the 'general' score is not scaled":
            lambda: right / np.sqrt(enc.shape[-1]),
        "the scores are divided by sqrt(H_d), as in scaled dot-product attention: the 'general' score is not scaled":
            lambda: right / np.sqrt(s_prev.shape[-1]),
        "the scores are (T_x, B): return one row per example, (B, T_x)": lambda: right.T,
        "each query is paired with another example's encoder states: enc is time first, (T_x, B, H_e)":
            lambda: np.einsum("td,tbd->bt", s_prev @ M_a, enc),
        "enc is read as batch first, (B, T_x, H_e): it is time first, (T_x, B, H_e), as everywhere in the course":
            lambda: np.einsum("be,bte->bt", s_prev @ M_a, enc),
    }
    return _keep_wrong(candidates, right)


def _plain_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = np.exp(scores - np.max(scores, axis=axis, keepdims=True))
    return shifted / np.sum(shifted, axis=axis, keepdims=True)


def softmax_mistakes(scores, mask) -> dict[str, np.ndarray]:
    """What a plausible wrong ``masked_softmax`` returns, by the sentence that explains it."""
    mask = np.asarray(mask, dtype=bool)
    candidates = {
        "the softmax is taken over the batch (axis 0): normalise each row, over the source positions (axis=-1)":
            lambda: reference_masked_softmax(scores.T, mask.T).T,
        "the mask is ignored: padded positions must get weight exactly 0, and the real ones share all of it":
            lambda: _plain_softmax(scores),
        "the padded scores are set to 0 (scores * mask) rather than left out: exp(0) still gives them weight; use "
        "np.where(mask, ..., -np.inf), or zero their exponentials": lambda: _plain_softmax(scores * mask),
        "the weights are multiplied by the mask but not normalised again: divide by the sum over the real positions":
            lambda: _plain_softmax(scores) * mask,
        "the mask is read the wrong way round: True marks a real token, False padding":
            lambda: reference_masked_softmax(scores, ~mask),
    }
    return _keep_wrong(candidates, reference_masked_softmax(scores, mask))


def context_mistakes(alpha, enc) -> dict[str, np.ndarray]:
    """What a plausible wrong ``attention_context`` returns, by the sentence that explains it."""
    candidates = {
        "enc is read as batch first, (B, T_x, H_e): it is time first, (T_x, B, H_e), as everywhere in the course":
            lambda: np.einsum("bt,bth->bh", alpha, enc),
        "alpha is read as (T_x, B): it is (B, T_x), one row of weights per example":
            lambda: np.einsum("tb,tbh->bh", alpha, enc),
        "the encoder states are averaged without the weights: bar h = sum_j alpha_j h^(j)": lambda: enc.mean(axis=0),
        "the encoder states are summed without the weights: bar h = sum_j alpha_j h^(j)": lambda: enc.sum(axis=0),
        "the weighted states are summed over the batch: sum them over the source positions (axis 0 of enc, which is "
        "time first)": lambda: np.sum(alpha.T[:, :, None] * enc, axis=1),
    }
    return _keep_wrong(candidates, reference_attention_context(alpha, enc))


def decoder_mistakes(y_prev, s_prev, enc, mask, params) -> dict[str, tuple[np.ndarray, ...]]:
    """What a plausible wrong ``decoder_step`` returns, by the sentence that explains it."""
    args = (y_prev, s_prev, enc, mask, params)
    right = _decoder(*args)
    candidates = {
        "the GRU is fed [context; embedding]: its input is the embedding first, then the context, "
        "np.concatenate([E[y_prev], context], axis=1)": lambda: _decoder(*args, inputs="context first"),
        "the attention is computed again from the new state s for the output: score from s_prev = s^(t-1), once, "
        "before the GRU step, and use that context for both the GRU and the output":
            lambda: _decoder(*args, query="new"),
        "the output uses only the new state: o = c + V [s; context], with V (K, H_d + H_e)":
            lambda: _decoder(*args, output="state only"),
        "the output is V [context; s]: the state comes first, o = c + V [s; context]":
            lambda: _decoder(*args, output="context and state"),
        "the output uses s_prev: it reads the new state, o = c + V [s; context]":
            lambda: _decoder(*args, output="previous state and context"),
        "the output bias c is missing: o = c + V [s; context]": lambda: _decoder(*args, bias=False),
        "the mask is ignored: pass it to your masked_softmax, so that padded source positions get no weight":
            lambda: _decoder(*args, use_mask=False),
        "the state returned is s_prev: return the new state s from gru_cell": lambda: (right[0], s_prev, right[2]),
    }
    return _keep_wrong(candidates, right)


def greedy_mistakes(enc, mask, s0, params, max_len, bos, eos) -> dict[str, np.ndarray]:
    """What a plausible wrong ``greedy_decode`` returns, by the sentence that explains it."""
    args = (enc, mask, s0, params, int(max_len), int(bos), int(eos))
    candidates = {
        "a row goes on generating after its eos: once a row has emitted eos, the rest of it is PAD = 0":
            lambda: _greedy(*args, after="continue"),
        "a finished row is filled with eos: after its eos, a row is filled with PAD = 0": lambda: _greedy(*args, after="eos"),
        "every row stops at the first eos of any row: each row finishes at its own eos, the others go on":
            lambda: _greedy(*args, stop_all=True),
        "the eos is left out (PAD in its place): the row keeps its eos, then PAD": lambda: _greedy(*args, keep_eos=False),
        "the decoding does not start from bos: the first y_prev is bos for every row":
            lambda: _greedy(*args, first=PAD),
        "the decoding starts from eos: the first y_prev is bos for every row": lambda: _greedy(*args, first=int(eos)),
        "the result begins with bos: the columns are the generated tokens, bos is only the first input":
            lambda: _greedy(*args, with_bos=True),
        "the decoder state is not carried: pass the new s from decoder_step to the next step":
            lambda: _greedy(*args, carry_state=False),
        "the generated token is not fed back: the next y_prev is the token just chosen": lambda: _greedy(*args, feed_back=False),
    }
    return _keep_wrong(candidates, reference_greedy_decode(*args))


def _matching_mistake(value: Any, mistakes: dict[str, Any]) -> str | None:
    for sentence, wrong in mistakes.items():
        if isinstance(wrong, tuple):
            if isinstance(value, tuple) and len(value) == len(wrong) and all(
                _is_float_array(v) and _close(v, np.asarray(w)) for v, w in zip(value, wrong)
            ):
                return sentence
        elif isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.shape == np.shape(wrong):
            if (wrong.dtype.kind in "iu" and np.array_equal(value, wrong)) or (
                    wrong.dtype.kind == "f" and value.dtype.kind == "f" and _close(value, wrong)):
                return sentence
    return None


# --------------------------------------------------------------------------- diagnoses (from the result alone)
#
# Each takes the student's result and the expected one and returns a sentence starting with "returned ..." that
# names the likely mistake, or None. In the grader the result has been through the wire: float64 arrays, tuples of
# them, or a string naming what came instead ("a list").


def _float32_like(value: Any, expected: Any) -> str | None:
    """Off by what float32 rounding gives (about 1e-7 relative) but not by a mistake: say to compute in float64."""
    pairs = list(zip(value, expected)) if isinstance(expected, tuple) and isinstance(value, tuple) else [(value, expected)]
    if not pairs or not all(_is_float_array(v) and v.shape == np.shape(e) for v, e in pairs):
        return None
    if all(np.allclose(v, e, rtol=1e-9, atol=1e-11) for v, e in pairs):
        return None
    if all(np.allclose(v, e, rtol=1e-5, atol=1e-6) for v, e in pairs):
        largest = max(float(np.max(np.abs(v - np.asarray(e)), initial=0.0)) for v, e in pairs)
        return (f"returned values that are off by up to {largest:.2g}, the size of float32 rounding errors: compute in "
                "float64, as the inputs are (no .astype(np.float32), no dtype=np.float32)")
    return None


@_never_raises
def diagnose_scores(value: Any, expected: Any) -> str | None:
    """Scores ``(B, T_x)``: transposed, batch-first, a list."""
    expected = np.asarray(expected)
    B, T_x = expected.shape
    if _listish(value):
        return f"returned a list; expected one array of scores (B, T_x) = {expected.shape}"
    if not _is_float_array(value):
        return None
    if value.shape == (T_x, B) and B != T_x:
        return f"returned shape (T_x, B) = {value.shape}: one row per example, (B, T_x) = {expected.shape} (transpose it)"
    if value.ndim == 3 and value.shape[:2] in ((T_x, B), (B, T_x)):
        return (f"returned shape {value.shape}: a score is one number per example and source position, (B, T_x) = "
                f"{expected.shape}; reduce the last axis (with w_a, or the sum of the products)")
    return _float32_like(value, expected)


@_never_raises
def diagnose_softmax(value: Any, expected: Any) -> str | None:
    """Masked softmax: NaN in a fully padded row, 1/T_x there, overflow, weight left at padded positions, the axis."""
    expected = np.asarray(expected)
    if _listish(value):
        return f"returned a list; expected one array of weights (B, T_x) = {expected.shape}"
    if not (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.shape == expected.shape):
        return None
    empty = ~np.any(expected, axis=-1)  # rows without a real token: all their weights are 0
    finite = np.isfinite(value)
    if np.any(empty) and not np.all(finite[empty]):
        return ("returned NaN for a row whose positions are all padded (0 / 0): return a row of zeros for it (divide only "
                "where the sum is positive, e.g. np.divide(..., where=total > 0) or np.where)")
    overflow = ("exp() of scores near 1000 overflows, and of scores near -1000 underflows to 0: subtract each row's "
                "maximum over its real positions first")
    if not np.all(finite):
        return f"returned NaN or infinite values in rows with real tokens: {overflow}"
    if np.any(~empty & ~np.any(value, axis=-1)):
        return f"returned a row of zeros for a row with real tokens: {overflow}"
    if np.any(empty) and np.allclose(value[empty].sum(axis=-1), 1.0):
        return ("returned weights that sum to 1 for a row whose positions are all padded (as when padded scores are set "
                "to a large negative number rather than left out): such a row has no real token, so return zeros")
    zero = (expected == 0) & ~empty[:, None]
    leaked = np.abs(value[zero]) > 1e-200 if np.any(zero) else np.array([False])
    if np.any(leaked) and _close(np.where(zero, 0.0, value), expected):
        largest = float(np.max(np.abs(value[zero])))
        return (f"returned small nonzero weights (up to {largest:.2g}) at padded positions: they must be exactly 0, so "
                "leave them out of the softmax (np.where(mask, ..., 0)) rather than give them a very low score")
    sums = value.sum(axis=-1)
    if not np.allclose(sums[~empty], 1.0):
        if value.shape[0] >= 2 and np.allclose(value.sum(axis=0), 1.0):
            return "returned columns that sum to 1: normalise each row, over the source positions (axis=-1)"
        return (f"returned rows that do not sum to 1 (row sums {np.round(sums, 4).tolist()}): divide by the sum of each "
                "row's exponentials over its real positions")
    return _float32_like(value, expected)


@_never_raises
def diagnose_context(value: Any, expected: Any) -> str | None:
    """Context ``(B, H_e)``: transposed, a time axis kept."""
    expected = np.asarray(expected)
    B, H_e = expected.shape
    if _listish(value):
        return f"returned a list; expected one array of context vectors (B, H_e) = {expected.shape}"
    if not _is_float_array(value):
        return None
    if value.shape == (H_e, B) and B != H_e:
        return f"returned shape (H_e, B) = {value.shape}: one row per example, (B, H_e) = {expected.shape}"
    if value.ndim == 3 and value.shape[-1] == H_e:
        return (f"returned shape {value.shape}: the weighted encoder states must be summed over the source positions "
                f"(the time axis, axis 0 of enc), giving (B, H_e) = {expected.shape}")
    if value.ndim == 2 and value.shape[1] == H_e and value.shape[0] != B:
        return (f"returned {value.shape[0]} rows for {B} examples: the weighted encoder states must be summed over the "
                f"source positions (axis 0 of enc, which is time first), giving (B, H_e) = {expected.shape}")
    return _float32_like(value, expected)


@_never_raises
def diagnose_decoder(value: Any, expected: Any) -> str | None:
    """The decoder step: not the triple (o, s, alpha), items in another order, and which item is the first to go wrong."""
    o, s, alpha = (np.asarray(e) for e in expected)
    want = f"the tuple (o, s, alpha), shapes (B, K) = {o.shape}, (B, H_d) = {s.shape} and (B, T_x) = {alpha.shape}"
    if _listish(value):
        return f"returned a list; expected {want}: `return o, s, alpha`"
    if isinstance(value, np.ndarray) or (isinstance(value, str) and not value.startswith("tuple")):
        return f"returned one array; expected {want}"
    if not isinstance(value, tuple):
        return None
    if len(value) != 3:
        return f"returned {len(value)} items; expected {want}"
    if not all(_is_float_array(v) for v in value):
        return None
    shapes = tuple(v.shape for v in value)
    if shapes != (o.shape, s.shape, alpha.shape):
        if sorted(map(str, shapes)) == sorted(map(str, (o.shape, s.shape, alpha.shape))):
            return f"returned the items in another order (shapes {list(shapes)}): the order is {want}"
        return None
    rounding = _float32_like(value, expected)
    if rounding:
        return rounding
    got_o, got_s, got_alpha = value
    if not _close(got_alpha, alpha):
        return ("returned wrong attention weights (item 2): score the source positions from s_prev with your "
                "additive_scores, then take your masked_softmax with the mask")
    if not _close(got_s, s):
        return ("returned the right attention weights but a wrong new state (item 1): s = gru_cell(x, s_prev, ...) with "
                "x = np.concatenate([E[y_prev], context], axis=1), the embedding of y_prev first, then the context")
    if not _close(got_o, o):
        return ("returned the right weights and state but wrong output scores (item 0): o = c + V [s; context], i.e. "
                "c + np.concatenate([s, context], axis=1) @ V.T, with the new state s")
    return None


@_never_raises
def diagnose_greedy(value: Any, expected: Any) -> str | None:
    """Greedy decoding: the shape, and what happens after a row's eos."""
    expected = np.asarray(expected)
    B, L = expected.shape
    want = f"one row of max_len token ids per example, (B, max_len) = {expected.shape}"
    if _listish(value):
        return f"returned a list; expected a NumPy array of integers, {want}"
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        return None
    if value.shape == (L, B) and L != B:
        return f"returned shape (max_len, B) = {value.shape}: {want}"
    if value.ndim == 2 and value.shape[0] == B and value.shape[1] != L:
        return (f"returned {value.shape[1]} columns: {want}, even when every row has finished early (PAD = 0 fills the "
                "rest)")
    if value.shape != expected.shape:
        return None
    if not np.array_equal(value, np.round(value)):
        return "returned values that are not whole numbers: return token ids, np.argmax(o, axis=1)"
    if np.array_equal(value, expected):
        return None
    if L >= 2 and np.array_equal(value[:, 1:], expected[:, :-1]) and np.all(value[:, 0] == value[0, 0]):
        return "returned bos as the first token: the columns are the generated tokens y^(1), ..., y^(max_len)"
    steps = {}
    for row in range(B):
        nonzero = np.flatnonzero(expected[row])
        if nonzero.size and nonzero[-1] < L - 1:
            steps[row] = int(nonzero[-1])  # the row's eos: the last token before its PAD
    eos = {int(expected[row, t]) for row, t in steps.items()}
    if len(eos) != 1:
        return None
    (eos,) = eos
    before = all(np.array_equal(value[row, :t], expected[row, :t]) for row, t in steps.items())
    if not before:
        return None
    tails = [value[row, t + 1:] for row, t in steps.items()]
    if all(np.all(tail == eos) for tail in tails):
        return "returned rows filled with eos after their eos: after a row's eos, the rest of it is PAD = 0"
    if all(value[row, t] == PAD for row, t in steps.items()):
        return "returned PAD where a row emits eos: keep the eos itself, then PAD"
    if all(value[row, t] == eos for row, t in steps.items()) and any(np.any(tail != PAD) for tail in tails):
        return "returned tokens after a row's eos: once a row has emitted eos, the rest of it is PAD = 0"
    first = min(steps.values())
    if np.all(value[:, first + 1:] == PAD) and np.any(expected[:, first + 1:] != PAD):
        return "returned PAD in every row after the first eos of any row: each row finishes at its own eos"
    return None


# --------------------------------------------------------------------------- running a check


def _copies(args: Sequence[Any]) -> list[Any]:
    return [copy.deepcopy(a) if isinstance(a, (np.ndarray, dict)) else a for a in args]


def _flat(names: Sequence[str], args: Sequence[Any]) -> tuple[list[str], list[Any]]:
    """Every array among the arguments, with its name (``params['E']`` for an entry of a dict)."""
    flat_names, flat_values = [], []
    for name, arg in zip(names, args):
        if isinstance(arg, dict):
            for key, value in arg.items():
                flat_names.append(f"{name}['{key}']")
                flat_values.append(value)
        else:
            flat_names.append(name)
            flat_values.append(arg)
    return flat_names, flat_values


def _check_tokens(task: str, got: Any, expected: np.ndarray) -> None:
    """Integer token ids, compared exactly."""
    shape_text = f"(B, max_len) = {expected.shape}"
    if got is None:
        raise SelfCheckError(f"{task} returned None: did you forget the `return` statement?")
    if not isinstance(got, np.ndarray):
        raise SelfCheckError(f"{task} returned a {type(got).__name__}; expected a NumPy array of integers {shape_text}.")
    if got.dtype.kind not in "iu":
        raise SelfCheckError(
            f"{task} returned an array of dtype {got.dtype}; expected integer token ids (np.argmax gives them; make the "
            "output with np.zeros((B, max_len), dtype=np.int64)).")
    if got.shape != expected.shape:
        raise SelfCheckError(f"{task} returned shape {got.shape}; expected {shape_text}.")
    if not np.array_equal(got, expected):
        row, step = (int(i) for i in np.argwhere(got != expected)[0])
        raise SelfCheckError(
            f"{task} returned wrong tokens: row {row} first differs at step {step} (got {int(got[row, step])}, expected "
            f"{int(expected[row, step])}); the row is {got[row].tolist()}, expected {expected[row].tolist()}. "
            + GREEDY_HINT)


def _check(task: str, func: Callable[..., Any], names: Sequence[str], args: Sequence[Any], reference: Callable[..., Any],
           items: Sequence[str], hint: str, diagnose: Callable[[Any, Any], str | None],
           mistakes: Callable[..., dict[str, Any]], rtol: float = 1e-9, atol: float = 1e-11) -> Any:
    """Call ``func`` on copies of ``args``; refuse in-place changes; if the result is wrong, name the mistake or the
    problem with its form; then compare every item as the grader does (``items``: ``"name (shape)"`` each; one item
    ``"tokens (B, max_len)"`` compares integers exactly)."""
    expected = reference(*_copies(args))
    copies = _copies(args)
    got = _call(task, func, *copies, hint=hint)
    flat_names, before = _flat(names, args)
    check_unchanged(task, flat_names, before, _flat(names, copies)[1])
    tokens = items[0].startswith("tokens")
    is_tuple = isinstance(expected, tuple)
    if tokens:
        right = isinstance(got, np.ndarray) and got.shape == expected.shape and np.array_equal(got, expected)
    elif is_tuple:
        right = (isinstance(got, tuple) and len(got) == len(expected) and all(
            _is_float_array(g) and g.shape == np.shape(e) and np.allclose(g, e, rtol=rtol, atol=atol)
            for g, e in zip(got, expected)))
    else:
        right = _is_float_array(got) and got.shape == expected.shape and np.allclose(got, expected, rtol=rtol, atol=atol)
    if right and not tokens:
        problem = diagnose(got, expected)  # within tolerance, and yet: weight left at padded positions
        if problem:
            raise SelfCheckError(f"{task} {problem}.")
    if not right:
        with np.errstate(all="ignore"):
            sentence = _matching_mistake(got, mistakes(*_copies(args)))
        if sentence:
            raise SelfCheckError(f"{task} is wrong: {sentence}.")
        problem = diagnose(got, expected)
        if problem:
            raise SelfCheckError(f"{task} {problem}.")
    if tokens:
        _check_tokens(task, got, expected)
    else:
        check_items(task, got, expected, items, hint=hint, rtol=rtol, atol=atol)
    return got


# --------------------------------------------------------------------------- part 1: additive scores

ADDITIVE_TASK = "additive_scores(s_prev, enc, W_a, U_a, w_a)"
ADDITIVE_NAMES = ["s_prev", "enc", "W_a", "U_a", "w_a"]


def _check_additive_on(additive_scores, rng, cases) -> None:
    check_own_code(additive_scores, ADDITIVE_TASK)
    for B, T_x, H_d, H_e, A in cases:
        _check(f"{ADDITIVE_TASK} with {_sizes(B=B, T_x=T_x, H_d=H_d, H_e=H_e, A=A)}", additive_scores, ADDITIVE_NAMES,
               random_additive_problem(rng, B, T_x, H_d, H_e, A), reference_additive_scores, ("scores (B, T_x)",),
               ADDITIVE_HINT, diagnose_scores, additive_mistakes)


@self_check
def check_additive_scores(additive_scores: Callable[..., Any], seed: int = 50) -> None:
    """Two batches with ``H_d``, ``H_e`` and ``A`` all different."""
    _check_additive_on(additive_scores, np.random.default_rng(seed), [(3, 5, 4, 6, 7), (2, 7, 5, 3, 4)])
    print("additive_scores: correct for B=3, T_x=5, H_d=4, H_e=6, A=7 and B=2, T_x=7, H_d=5, H_e=3, A=4.")


@self_check
def check_additive_scores_general(additive_scores: Callable[..., Any], seed: int = 51) -> None:
    """``B = 1``, ``T_x = 1``, square sizes (where a swap or transpose runs), ``B == T_x``; arguments unchanged."""
    cases = [(4, 4, 4, 4, 4), (3, 4, 5, 5, 5), (1, 6, 3, 5, 4), (4, 1, 5, 2, 3), (6, 9, 8, 10, 12)]
    _check_additive_on(additive_scores, np.random.default_rng(seed), cases)
    print("additive_scores: correct for B = 1, T_x = 1, H_d = H_e = A (where a swapped or transposed matrix raises no "
          "error), B == T_x and larger sizes; the arguments are untouched.")


# --------------------------------------------------------------------------- part 2: multiplicative scores

MULTIPLICATIVE_TASK = "multiplicative_scores(s_prev, enc, M_a)"


@self_check
def check_multiplicative_scores(multiplicative_scores: Callable[..., Any], seed: int = 52) -> None:
    """``H_d != H_e``, ``H_d == H_e`` (where a transposed ``M_a`` runs), ``B = 1``, ``T_x = 1``, ``B == T_x``."""
    check_own_code(multiplicative_scores, MULTIPLICATIVE_TASK)
    rng = np.random.default_rng(seed)
    for B, T_x, H_d, H_e in [(4, 4, 3, 3), (2, 6, 5, 5), (3, 5, 4, 6), (1, 4, 3, 2), (3, 1, 2, 4)]:
        _check(f"{MULTIPLICATIVE_TASK} with {_sizes(B=B, T_x=T_x, H_d=H_d, H_e=H_e)}", multiplicative_scores,
               ["s_prev", "enc", "M_a"], random_multiplicative_problem(rng, B, T_x, H_d, H_e),
               reference_multiplicative_scores, ("scores (B, T_x)",), MULTIPLICATIVE_HINT, diagnose_scores,
               multiplicative_mistakes)
    print("multiplicative_scores: correct for H_d != H_e and H_d == H_e, B = 1, T_x = 1 and B == T_x; the arguments "
          "are untouched.")


# --------------------------------------------------------------------------- part 3: masked softmax

SOFTMAX_TASK = "masked_softmax(scores, mask)"


def _check_softmax_on(masked_softmax, rng, cases) -> None:
    check_own_code(masked_softmax, SOFTMAX_TASK)
    for label, (B, T_x, kind, large) in cases:
        _check(f"{SOFTMAX_TASK} with {label}", masked_softmax, ["scores", "mask"],
               random_softmax_problem(rng, B, T_x, kind, large), reference_masked_softmax, ("weights (B, T_x)",),
               SOFTMAX_HINT, diagnose_softmax, softmax_mistakes)


@self_check
def check_masked_softmax(masked_softmax: Callable[..., Any], seed: int = 53) -> None:
    """Padding at the end of some rows, and no padding at all."""
    cases = [
        ("B=4, T_x=6, padding at the end of some rows", (4, 6, "end", False)),
        ("B=3, T_x=5, no padding", (3, 5, "none", False)),
        ("B=5, T_x=8, padding at the end of some rows", (5, 8, "end", False)),
    ]
    _check_softmax_on(masked_softmax, np.random.default_rng(seed), cases)
    print("masked_softmax: correct with padding at the end of some rows and with none; every row sums to 1 over its "
          "real positions and padded positions get exactly 0.")


@self_check
def check_masked_softmax_general(masked_softmax: Callable[..., Any], seed: int = 54) -> None:
    """A fully padded row, an arbitrary mask, ``T_x = 1``, ``B = 1``, scores near +-1000; arguments unchanged."""
    cases = [
        ("B=4, T_x=5 and one row fully padded", (4, 5, "empty", False)),
        ("B=4, T_x=7, an arbitrary mask (padding anywhere)", (4, 7, "arbitrary", False)),
        ("B=3, T_x=1 (one source position)", (3, 1, "none", False)),
        ("B=1, T_x=6, padding at the end", (1, 6, "end", False)),
        ("B=4, T_x=6, scores near +1000 and -1000", (4, 6, "end", True)),
        ("B=5, T_x=5, scores near +-1000 and one row fully padded", (5, 5, "empty", True)),
    ]
    _check_softmax_on(masked_softmax, np.random.default_rng(seed), cases)
    print("masked_softmax: correct for a fully padded row (all zeros, no NaN), an arbitrary mask, T_x = 1, B = 1 and "
          "scores near +1000 and -1000; scores and mask are untouched.")


# --------------------------------------------------------------------------- part 4: the context vector

CONTEXT_TASK = "attention_context(alpha, enc)"


@self_check
def check_attention_context(attention_context: Callable[..., Any], seed: int = 55) -> None:
    """Padded weights, a fully padded row (zero weights), ``T_x = 1``, ``B = 1``, ``B == T_x``, ``B == H_e``."""
    check_own_code(attention_context, CONTEXT_TASK)
    rng = np.random.default_rng(seed)
    cases = [(4, 4, 6, "arbitrary"), (3, 5, 4, "end"), (4, 6, 3, "empty"), (2, 1, 5, "none"), (1, 7, 3, "end"),
             (3, 6, 3, "end")]
    for B, T_x, H_e, kind in cases:
        _check(f"{CONTEXT_TASK} with {_sizes(B=B, T_x=T_x, H_e=H_e)}", attention_context, ["alpha", "enc"],
               random_context_problem(rng, B, T_x, H_e, kind), reference_attention_context, ("context (B, H_e)",),
               CONTEXT_HINT, diagnose_context, context_mistakes)
    print("attention_context: correct with padded weights, a row of zero weights, T_x = 1, B = 1, B == T_x and "
          "B == H_e; the arguments are untouched.")


# --------------------------------------------------------------------------- part 5: a decoder step

DECODER_TASK = "decoder_step(y_prev, s_prev, enc, mask, params)"
DECODER_ITEMS = ("o (B, K)", "s (B, H_d)", "alpha (B, T_x)")


def _check_decoder_on(decoder_step, rng, cases) -> None:
    check_own_code(decoder_step, DECODER_TASK)
    for label, (B, T_x, K, M, H_d, H_e, A, kind) in cases:
        _check(f"{DECODER_TASK} with {label}", decoder_step, ["y_prev", "s_prev", "enc", "mask", "params"],
               random_decoder_problem(rng, B, T_x, K, M, H_d, H_e, A, kind), reference_decoder_step, DECODER_ITEMS,
               DECODER_HINT, diagnose_decoder, decoder_mistakes)


@self_check
def check_decoder_step(decoder_step: Callable[..., Any], seed: int = 56) -> None:
    """Two batches with padded sources and all sizes different."""
    cases = [
        ("B=3, T_x=5, K=7, M=4, H_d=6, H_e=5, A=3, padding at the end", (3, 5, 7, 4, 6, 5, 3, "end")),
        ("B=4, T_x=6, K=9, M=3, H_d=5, H_e=4, A=6, padding at the end", (4, 6, 9, 3, 5, 4, 6, "end")),
    ]
    _check_decoder_on(decoder_step, np.random.default_rng(seed), cases)
    print("decoder_step: o, s and alpha are correct for two padded batches with all sizes different.")


@self_check
def check_decoder_step_general(decoder_step: Callable[..., Any], seed: int = 57) -> None:
    """``B = 1``, ``T_x = 1``, a fully padded row, an arbitrary mask, square sizes; arguments unchanged."""
    cases = [
        ("B=1, T_x=4, padding at the end", (1, 4, 6, 3, 4, 5, 3, "end")),
        ("B=3, T_x=1", (3, 1, 5, 4, 3, 2, 4, "none")),
        ("B=4, T_x=5 and one row fully padded", (4, 5, 6, 3, 4, 5, 2, "empty")),
        ("B=3, T_x=6, an arbitrary mask", (3, 6, 8, 5, 3, 4, 5, "arbitrary")),
        ("M = H_d = H_e = A = 4 (swapped pieces raise no shape error)", (3, 5, 6, 4, 4, 4, 4, "end")),
    ]
    _check_decoder_on(decoder_step, np.random.default_rng(seed), cases)
    print("decoder_step: correct for B = 1, T_x = 1, a fully padded row, an arbitrary mask and square sizes; the "
          "arguments, params included, are untouched.")


# --------------------------------------------------------------------------- part 6: greedy decoding

GREEDY_TASK = "greedy_decode(enc, mask, s0, params, max_len, bos, eos)"
GREEDY_NAMES = ["enc", "mask", "s0", "params", "max_len", "bos", "eos"]


def _require_decoder_step(decoder_step: Callable[..., Any] | None, args: Sequence[Any]) -> None:
    """With the student's ``decoder_step``: refuse to judge greedy decoding on top of a decoder step that is not
    implemented or not right, compared with the reference at every step of the reference path of this problem (so a
    greedy_decode that calls it cannot pass here and then lose hidden points to it)."""
    if decoder_step is None:
        return
    enc, mask, s0, params, max_len, bos, _ = args
    y, s = np.full(s0.shape[0], bos, dtype=np.int64), s0
    for step in range(max_len):
        want = reference_decoder_step(y, s, enc, mask, params)
        try:
            with np.errstate(all="ignore"):
                got = decoder_step(*_copies([y, s, enc, mask, params]))
        except NotImplementedError:
            raise SelfCheckError(
                f"{GREEDY_TASK} calls your decoder_step, which is not implemented yet: finish part 5 first.") from None
        except Exception as error:
            raise SelfCheckError(
                f"{GREEDY_TASK} calls your decoder_step, which raised {type(error).__name__}: {error}. Make decoder_step "
                "pass its self-checks (part 5) first.") from error
        if not (isinstance(got, tuple) and len(got) == 3 and all(
                _is_float_array(g) and g.shape == w.shape and np.allclose(g, w, rtol=1e-9, atol=1e-11)
                for g, w in zip(got, want))):
            raise SelfCheckError(
                f"{GREEDY_TASK} calls your decoder_step, which is not right yet: at step {step} of this problem it "
                "differs from the expected (o, s, alpha). Make decoder_step pass its self-checks (part 5) first.")
        y, s = np.argmax(want[0], axis=1), want[1]


def _check_greedy_on(greedy_decode, decoder_step, rng, cases) -> None:
    check_own_code(greedy_decode, GREEDY_TASK)
    for label, (B, T_x, K, M, H_d, H_e, A, max_len, bos, eos, finish, kind) in cases:
        args = random_greedy_problem(rng, B, T_x, K, M, H_d, H_e, A, max_len, bos, eos, finish, kind)
        _require_decoder_step(decoder_step, args)
        _check(f"{GREEDY_TASK} with {label}", greedy_decode, GREEDY_NAMES, args, reference_greedy_decode,
               ("tokens (B, max_len)",), GREEDY_HINT, diagnose_greedy, greedy_mistakes)


@self_check
def check_greedy_decode(greedy_decode: Callable[..., Any], decoder_step: Callable[..., Any] | None = None,
                        seed: int = 58) -> None:
    """Batches whose rows emit eos at different steps. Given ``decoder_step`` (the student's, which greedy_decode calls),
    it is checked first along each problem's reference path, so that a mistake in it is named as such."""
    cases = [
        ("B=4, T_x=5, K=7, max_len=8, rows that finish at different steps",
         (4, 5, 7, 4, 6, 5, 3, 8, 1, 2, "staggered", "end")),
        ("B=3, T_x=6, K=8, max_len=10, rows that finish at different steps",
         (3, 6, 8, 3, 5, 4, 6, 10, 1, 2, "staggered", "end")),
    ]
    _check_greedy_on(greedy_decode, decoder_step, np.random.default_rng(seed), cases)
    print("greedy_decode: correct for two batches whose rows emit eos at different steps; each row keeps its eos and "
          "then PAD.")


@self_check
def check_greedy_decode_general(greedy_decode: Callable[..., Any], decoder_step: Callable[..., Any] | None = None,
                                seed: int = 59) -> None:
    """A row that never emits eos, every row finished early, ``B = 1``, ``T_x = 1``, ``max_len = 1``, other token ids for
    bos and eos, an arbitrary mask; arguments unchanged."""
    cases = [
        ("B=3, max_len=7, a row that never emits eos", (3, 4, 6, 3, 5, 4, 4, 7, 1, 2, "never", "end")),
        ("B=4, max_len=9, every row finishes early", (4, 5, 7, 4, 4, 5, 3, 9, 1, 2, "early", "end")),
        ("B=1, max_len=6, no eos at all", (1, 5, 6, 3, 4, 3, 5, 6, 1, 2, "never", "end")),
        ("B=3, T_x=1, max_len=6", (3, 1, 6, 4, 3, 5, 2, 6, 1, 2, "staggered", "none")),
        ("B=3, max_len=1", (3, 4, 5, 3, 4, 3, 3, 1, 1, 2, "any", "end")),
        ("B=4, K=9, bos=8, eos=3, an arbitrary mask", (4, 6, 9, 4, 5, 4, 4, 8, 8, 3, "staggered", "arbitrary")),
    ]
    _check_greedy_on(greedy_decode, decoder_step, np.random.default_rng(seed), cases)
    print("greedy_decode: correct for a row that never emits eos, rows that all finish early, B = 1, T_x = 1, "
          "max_len = 1 and other ids for bos and eos; the arguments are untouched.")
