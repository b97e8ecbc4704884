"""How exercise 5 is graded (instructor only: never released, see nbgrader_config.py).

One Part per graded cell of ex05_seq2seq.ipynb, with the same grade_id and points. Every case draws fresh sizes
(within the ranges its label names) and fresh random data for each student; the grader computes the expected result
in its own process, from the float64 references in rnncourse.checks.ex05 (written from the chapter's equations and
tested against torch.einsum, torch.softmax and torch.nn.GRUCell in tests/test_ex05.py). Partial credit is per case.
Every part forbids rnncourse, torch, scipy and the other libraries (the default), so a function that calls them
scores zero for its part, with feedback that says why.

- Scores: H_d, H_e and A all different (so a swapped or transposed matrix fails loudly), and all equal (so it runs
  and gives wrong values); B = 1, T_x = 1, B == T_x (a query paired with the wrong example's states still runs).
- Masked softmax: padding at the end (the usual case), no padding, an arbitrary mask, a fully padded row (all zeros,
  not NaN), T_x = 1, B = 1, scores near +1000 and -1000 (one row holding both), masks as bool arrays. Padded
  positions must get exactly 0 (the diagnosis refuses small leftovers such as exp(-100)).
- Context: padded weights, a row of zero weights, T_x = 1, B = 1, B == T_x and B == H_e.
- Decoder step: padded batches with all sizes different; B = 1, T_x = 1, a fully padded row, an arbitrary mask,
  and M = H_d = H_e = A (pieces concatenated in the wrong order run without a shape error).
- Greedy decoding (integers, compared exactly): rows that emit eos at different steps, a row that never does, a
  batch where every row finishes early (the result still has max_len columns), B = 1 without eos, T_x = 1,
  max_len = 1, other token ids for bos and eos. Each problem is drawn again until no argmax along the reference path
  is a near-tie (the two largest scores at least 1e-6 apart), so no summation order can change a token. Greedy
  decoding calls the student's decoder_step, so a wrong decoder step costs greedy cases too.

Arguments cross the sandbox boundary with their dtypes (the mask as bool, y_prev as int64) and params as a dict of
float64 arrays. What the hidden cases cannot see: an argument changed in place while the result is still right (the
grader sees only results). The visible self-checks refuse that.
"""

import numpy as np

from rnncourse.checks.ex05 import (
    ADDITIVE_HINT,
    CONTEXT_HINT,
    DECODER_HINT,
    GREEDY_HINT,
    MULTIPLICATIVE_HINT,
    SOFTMAX_HINT,
    diagnose_context,
    diagnose_decoder,
    diagnose_greedy,
    diagnose_scores,
    diagnose_softmax,
    random_additive_problem,
    random_context_problem,
    random_decoder_problem,
    random_greedy_problem,
    random_multiplicative_problem,
    random_softmax_problem,
    reference_additive_scores,
    reference_attention_context,
    reference_decoder_step,
    reference_greedy_decode,
    reference_masked_softmax,
    reference_multiplicative_scores,
)
from rnncourse.grading.spec import AssignmentSpec, Case, Part

EXACT = {"rtol": 1e-9, "atol": 1e-11}  # float64 throughout: another order of the same sums differs by ~1e-15
TOKENS = {"rtol": 0.0, "atol": 0.0}  # token ids are integers: equal or wrong


def pick(rng, low, high):
    return int(rng.integers(low, high + 1))


def different(rng, count=3, low=2, high=8):
    """``count`` different sizes in [low, high]."""
    return [int(v) for v in rng.choice(np.arange(low, high + 1), count, replace=False)]


# --------------------------------------------------------------------------- cases, by part
# Each ``sizes`` draws the sizes from the case's generator, then the problem is drawn from the same generator.


def additive_case(label, sizes):
    return Case(label, lambda rng: random_additive_problem(rng, *sizes(rng)), reference_additive_scores, **EXACT)


def multiplicative_case(label, sizes):
    return Case(label, lambda rng: random_multiplicative_problem(rng, *sizes(rng)), reference_multiplicative_scores,
                **EXACT)


def softmax_case(label, sizes, kind, large=False):
    return Case(label, lambda rng: random_softmax_problem(rng, *sizes(rng), kind, large), reference_masked_softmax,
                **EXACT)


def context_case(label, sizes, kind):
    return Case(label, lambda rng: random_context_problem(rng, *sizes(rng), kind), reference_attention_context, **EXACT)


def decoder_sizes(rng, B, T_x, square=False):
    """``(B, T_x, K, M, H_d, H_e, A)``: K in [5, 10]; M, H_d, H_e, A all different (or, with ``square``, all equal)."""
    K = pick(rng, 5, 10)
    if square:
        n = pick(rng, 3, 6)
        return B, T_x, K, n, n, n, n
    return (B, T_x, K, *different(rng, 4, 2, 8))


def decoder_case(label, sizes, kind):
    return Case(label, lambda rng: random_decoder_problem(rng, *sizes(rng), kind), reference_decoder_step, **EXACT)


def greedy_case(label, B, T_x, max_len, finish, kind="end", ids=False):
    """``ids``: bos and eos drawn among the tokens (other than 1 and 2, and never PAD)."""
    def make(rng):
        sizes = decoder_sizes(rng, B(rng), T_x(rng))
        bos, eos = (int(v) for v in rng.choice(np.arange(3, sizes[2]), 2, replace=False)) if ids else (1, 2)
        return random_greedy_problem(rng, *sizes, max_len(rng), bos, eos, finish, kind)

    return Case(label, make, reference_greedy_decode, **TOKENS)


def between(low, high):
    return lambda rng: pick(rng, low, high)


def fixed(value):
    return lambda rng: value


SPEC = AssignmentSpec(
    notebook="ex05_seq2seq",
    call_timeout=20.0,
    cell_timeout=60.0,
    parts=(
        Part(
            cell="test_additive_values", function="additive_scores", points=1, hint=ADDITIVE_HINT,
            diagnose=diagnose_scores,
            cases=(
                additive_case("a batch of 2 to 5, T_x from 3 to 9, H_d, H_e and A all different",
                              lambda rng: (pick(rng, 2, 5), pick(rng, 3, 9), *different(rng))),
                additive_case("a batch of 3 to 6, T_x from 5 to 12, H_d, H_e and A all different",
                              lambda rng: (pick(rng, 3, 6), pick(rng, 5, 12), *different(rng, 3, 3, 10))),
                additive_case("a batch of 2, T_x=4, H_d, H_e and A all different",
                              lambda rng: (2, 4, *different(rng))),
            ),
        ),
        Part(
            cell="test_additive_general", function="additive_scores", points=1, hint=ADDITIVE_HINT,
            diagnose=diagnose_scores,
            cases=(
                additive_case("B=1", lambda rng: (1, pick(rng, 3, 8), *different(rng))),
                additive_case("T_x=1 (a source of one token)", lambda rng: (pick(rng, 2, 5), 1, *different(rng))),
                additive_case("H_d = H_e = A (a swapped or transposed matrix raises no shape error)",
                              lambda rng: (pick(rng, 2, 5), pick(rng, 3, 8), *[pick(rng, 3, 7)] * 3)),
                additive_case("B = T_x (a query paired with another example's states raises no shape error)",
                              lambda rng: (*[pick(rng, 3, 6)] * 2, *different(rng))),
                additive_case("larger sizes, H_d, H_e and A all different",
                              lambda rng: (pick(rng, 6, 10), pick(rng, 10, 20), *different(rng, 3, 8, 16))),
            ),
        ),
        Part(
            cell="test_multiplicative", function="multiplicative_scores", points=1, hint=MULTIPLICATIVE_HINT,
            diagnose=diagnose_scores,
            cases=(
                multiplicative_case("a batch of 2 to 5, H_d != H_e",
                                    lambda rng: (pick(rng, 2, 5), pick(rng, 3, 9), *different(rng, 2))),
                multiplicative_case("H_d = H_e (a transposed M_a raises no shape error)",
                                    lambda rng: (pick(rng, 2, 5), pick(rng, 3, 9), *[pick(rng, 3, 7)] * 2)),
                multiplicative_case("B=1, H_d != H_e", lambda rng: (1, pick(rng, 3, 8), *different(rng, 2))),
                multiplicative_case("T_x=1, H_d != H_e", lambda rng: (pick(rng, 2, 5), 1, *different(rng, 2))),
                multiplicative_case("B = T_x and H_d = H_e",
                                    lambda rng: (*[pick(rng, 3, 6)] * 2, *[pick(rng, 3, 7)] * 2)),
            ),
        ),
        Part(
            cell="test_softmax_values", function="masked_softmax", points=1, hint=SOFTMAX_HINT,
            diagnose=diagnose_softmax,
            cases=(
                softmax_case("a batch of 3 to 6, T_x from 4 to 9, padding at the end",
                             lambda rng: (pick(rng, 3, 6), pick(rng, 4, 9)), "end"),
                softmax_case("a batch of 2 to 5, no padding", lambda rng: (pick(rng, 2, 5), pick(rng, 3, 8)), "none"),
                softmax_case("a batch of 5 to 8, T_x from 6 to 12, padding at the end",
                             lambda rng: (pick(rng, 5, 8), pick(rng, 6, 12)), "end"),
            ),
        ),
        Part(
            cell="test_softmax_general", function="masked_softmax", points=2, hint=SOFTMAX_HINT,
            diagnose=diagnose_softmax,
            cases=(
                softmax_case("one row fully padded", lambda rng: (pick(rng, 3, 6), pick(rng, 3, 8)), "empty"),
                softmax_case("an arbitrary mask (padding anywhere)", lambda rng: (pick(rng, 3, 6), pick(rng, 4, 9)),
                             "arbitrary"),
                softmax_case("T_x=1", lambda rng: (pick(rng, 2, 5), 1), "none"),
                softmax_case("B=1, padding at the end", lambda rng: (1, pick(rng, 3, 9)), "end"),
                softmax_case("scores near +1000 and -1000, padding at the end",
                             lambda rng: (pick(rng, 3, 6), pick(rng, 4, 9)), "end", large=True),
                softmax_case("scores near +1000 and -1000 and one row fully padded",
                             lambda rng: (pick(rng, 3, 6), pick(rng, 4, 9)), "empty", large=True),
                softmax_case("scores near +1000 and -1000, an arbitrary mask",
                             lambda rng: (pick(rng, 3, 6), pick(rng, 4, 9)), "arbitrary", large=True),
            ),
        ),
        Part(
            cell="test_context", function="attention_context", points=1, hint=CONTEXT_HINT, diagnose=diagnose_context,
            cases=(
                context_case("a batch of 2 to 5, padding at the end",
                             lambda rng: (pick(rng, 2, 5), pick(rng, 3, 9), pick(rng, 2, 8)), "end"),
                context_case("a row of zero weights (fully padded)",
                             lambda rng: (pick(rng, 3, 5), pick(rng, 3, 8), pick(rng, 2, 8)), "empty"),
                context_case("T_x=1", lambda rng: (pick(rng, 2, 5), 1, pick(rng, 2, 8)), "none"),
                context_case("B=1", lambda rng: (1, pick(rng, 3, 8), pick(rng, 2, 8)), "end"),
                context_case("B = T_x, an arbitrary mask",
                             lambda rng: (*[pick(rng, 3, 6)] * 2, pick(rng, 2, 8)), "arbitrary"),
                context_case("B = H_e", lambda rng: (lambda n: (n, pick(rng, 3, 8), n))(pick(rng, 2, 6)), "end"),
            ),
        ),
        Part(
            cell="test_decoder_values", function="decoder_step", points=1, hint=DECODER_HINT, diagnose=diagnose_decoder,
            cases=(
                decoder_case("a batch of 2 to 5, padding at the end, M, H_d, H_e and A all different",
                             lambda rng: decoder_sizes(rng, pick(rng, 2, 5), pick(rng, 3, 8)), "end"),
                decoder_case("a batch of 4 to 6, padding at the end, M, H_d, H_e and A all different",
                             lambda rng: decoder_sizes(rng, pick(rng, 4, 6), pick(rng, 5, 10)), "end"),
            ),
        ),
        Part(
            cell="test_decoder_general", function="decoder_step", points=2, hint=DECODER_HINT, diagnose=diagnose_decoder,
            cases=(
                decoder_case("B=1, padding at the end", lambda rng: decoder_sizes(rng, 1, pick(rng, 3, 8)), "end"),
                decoder_case("T_x=1", lambda rng: decoder_sizes(rng, pick(rng, 2, 5), 1), "none"),
                decoder_case("one row fully padded", lambda rng: decoder_sizes(rng, pick(rng, 3, 5), pick(rng, 3, 8)),
                             "empty"),
                decoder_case("an arbitrary mask", lambda rng: decoder_sizes(rng, pick(rng, 2, 5), pick(rng, 4, 9)),
                             "arbitrary"),
                decoder_case("M = H_d = H_e = A (pieces in the wrong order raise no shape error)",
                             lambda rng: decoder_sizes(rng, pick(rng, 2, 5), pick(rng, 3, 8), square=True), "end"),
            ),
        ),
        Part(
            cell="test_greedy_values", function="greedy_decode", points=1, hint=GREEDY_HINT, diagnose=diagnose_greedy,
            integer_result=True,
            cases=(
                greedy_case("a batch of 3 or 4 whose rows emit eos at different steps, max_len from 7 to 10",
                            between(3, 4), between(3, 8), between(7, 10), "staggered"),
                greedy_case("a batch of 2 whose rows emit eos at different steps, max_len from 6 to 9",
                            fixed(2), between(3, 8), between(6, 9), "staggered"),
            ),
        ),
        Part(
            cell="test_greedy_general", function="greedy_decode", points=2, hint=GREEDY_HINT, diagnose=diagnose_greedy,
            integer_result=True,
            cases=(
                greedy_case("a batch of 3 or 4 with a row that never emits eos", between(3, 4), between(3, 8),
                            between(6, 9), "never"),
                greedy_case("a batch of 3 or 4 whose rows all finish before max_len", between(3, 4), between(3, 8),
                            between(8, 10), "early"),
                greedy_case("B=1, no eos within max_len", fixed(1), between(3, 8), between(5, 8), "never"),
                greedy_case("T_x=1, rows that emit eos at different steps", between(2, 4), fixed(1), between(6, 9),
                            "staggered", kind="none"),
                greedy_case("max_len=1", between(2, 4), between(3, 8), fixed(1), "any"),
                greedy_case("other token ids for bos and eos, an arbitrary mask", between(3, 4), between(4, 8),
                            between(7, 10), "staggered", kind="arbitrary", ids=True),
            ),
        ),
    ),
)
