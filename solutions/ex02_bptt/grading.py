"""How exercise 2 is graded (instructor only: never released, see nbgrader_config.py).

One Part per graded cell of ex02_bptt.ipynb, with the same grade_id and points. Every case draws
fresh sizes' worth of random arguments for each student; the grader computes the expected result in
its own process, from rnncourse.bptt and rnncourse.sampling (the reference) and, for BPTT, also
from centred finite differences of the loss in float64 (independent of the reference). Partial
credit is per case. Every part forbids rnncourse, torch, scipy and the other autodiff libraries
(the default), so gradients taken from autograd or from the reference score zero, with feedback
that says why.
"""

from rnncourse import sampling
from rnncourse.checks.ex02 import (
    BPTT_HINT,
    BPTT_ITEMS,
    CLIP_HINT,
    SAMPLE_HINT,
    STEP_BACKWARD_HINT,
    STEP_ITEMS,
    TEMPERATURE_HINT,
    diagnose_gradients,
    diagnose_sample,
    finite_difference_bptt,
    random_bptt_problem,
    random_gradients,
    random_sampling_problem,
    random_step_problem,
    reference_bptt,
    reference_clip_gradients,
    reference_step_backward,
)
from rnncourse.grading.spec import AssignmentSpec, Case, Part


def sizes(**kw):
    return ", ".join(f"{k}={v}" for k, v in kw.items())


def step_args(B, D, H):
    return lambda rng: random_step_problem(rng, B, D, H)


def bptt_args(T, B, D, H, K):
    return lambda rng: random_bptt_problem(rng, T, B, D, H, K)


def clip_args(max_norm, shapes, scale):
    return lambda rng: [max_norm, *random_gradients(rng, shapes, scale)]


def at_norm(shapes):
    """Gradients whose global norm is exactly max_norm: nothing may change."""
    def make(rng):
        grads = random_gradients(rng, shapes, 1.0)
        return [float(sum((g**2).sum() for g in grads)) ** 0.5, *grads]

    return make


def scores(shape, temperature, scale=2.0, shift=0.0):
    return lambda rng: [scale * rng.standard_normal(shape) + shift, temperature]


def sampling_args(P, n, K, H, temperature, recurrent=1.2, drive=1.5):
    return lambda rng: random_sampling_problem(rng, P, n, K, H, temperature, recurrent, drive)


def bptt_cases(*shapes, fd=()):
    cases = [Case(sizes(T=T, B=B, D=D, H=H, K=K), bptt_args(T, B, D, H, K), reference_bptt) for T, B, D, H, K in shapes]
    cases += [
        Case(sizes(T=T, B=B, D=D, H=H, K=K) + ", against finite differences", bptt_args(T, B, D, H, K),
             finite_difference_bptt, rtol=1e-5, atol=1e-7)
        for T, B, D, H, K in fd
    ]
    return tuple(cases)


STEP_DIAGNOSE = diagnose_gradients(STEP_ITEMS, {"dW": STEP_BACKWARD_HINT, "dU": STEP_BACKWARD_HINT})
BPTT_DIAGNOSE = diagnose_gradients(BPTT_ITEMS, {name: BPTT_HINT for name in ("dW", "dU", "db", "dh0")})

SPEC = AssignmentSpec(
    notebook="ex02_bptt",
    parts=(
        Part(
            cell="test_step_backward_values",
            function="step_backward",
            hint=STEP_BACKWARD_HINT,
            diagnose=STEP_DIAGNOSE,
            points=1,
            cases=(
                Case(sizes(B=3, D=4, H=5), step_args(3, 4, 5), reference_step_backward),
                Case(sizes(B=5, D=2, H=3), step_args(5, 2, 3), reference_step_backward),
            ),
        ),
        Part(
            cell="test_step_backward_general",
            function="step_backward",
            hint=STEP_BACKWARD_HINT,
            diagnose=STEP_DIAGNOSE,
            points=1,
            cases=(
                Case(sizes(B=1, D=3, H=2), step_args(1, 3, 2), reference_step_backward),
                # D == H: a missing transpose in dx or dU runs without a shape error
                Case(sizes(B=4, D=6, H=6), step_args(4, 6, 6), reference_step_backward),
                Case(sizes(B=7, D=2, H=1), step_args(7, 2, 1), reference_step_backward),
                # B == H: a gradient kept per example, or da @ W.T, has the right shape by accident
                Case(sizes(B=3, D=5, H=3), step_args(3, 5, 3), reference_step_backward),
            ),
        ),
        Part(
            cell="test_bptt_values",
            function="bptt",
            hint=BPTT_HINT,
            diagnose=BPTT_DIAGNOSE,
            points=1,
            cases=bptt_cases((4, 3, 3, 5, 4), (5, 2, 4, 3, 3), fd=((4, 2, 3, 4, 3),)),
        ),
        Part(
            cell="test_bptt_general",
            function="bptt",
            hint=BPTT_HINT,
            diagnose=BPTT_DIAGNOSE,
            points=2,
            cases=bptt_cases(
                (1, 2, 3, 4, 3), (6, 1, 2, 3, 2), (5, 2, 1, 1, 3), (3, 3, 4, 4, 5), (30, 2, 3, 5, 4),
                fd=((8, 2, 2, 3, 3), (3, 1, 4, 4, 2)),
            ),
        ),
        Part(
            cell="test_clip_values",
            function="clip_gradients",
            hint=CLIP_HINT,
            diagnose=diagnose_gradients(),
            points=1,
            cases=(
                Case("five gradients, global norm far above max_norm=1",
                     clip_args(1.0, [(4, 4), (4, 3), (4,), (2, 4), (2,)], 5.0), reference_clip_gradients),
                Case("five gradients, global norm below max_norm=100",
                     clip_args(100.0, [(3, 3), (3, 2), (3,), (2, 3), (2,)], 1.0), reference_clip_gradients),
            ),
        ),
        Part(
            cell="test_clip_general",
            function="clip_gradients",
            hint=CLIP_HINT,
            diagnose=diagnose_gradients(),
            points=1,
            cases=(
                Case("a single gradient", clip_args(0.5, [(5, 2)], 1.0), reference_clip_gradients),
                Case("all-zero gradients", clip_args(1.0, [(3, 3), (3,)], 0.0), reference_clip_gradients),
                Case("a norm exactly at max_norm", at_norm([(2, 3), (4,)]), reference_clip_gradients),
                Case("nine gradients, max_norm=0.01", clip_args(0.01, [(2, 2)] * 9, 1.0), reference_clip_gradients),
                # one huge gradient among small ones: every array shares the one scale factor
                Case("one gradient much larger than the others", clip_args(2.0, [(3,), (3, 3)], 1.0),
                     reference_clip_gradients),
            ),
        ),
        Part(
            cell="test_temperature_values",
            function="softmax_with_temperature",
            hint=TEMPERATURE_HINT,
            points=1,
            cases=(
                Case("a (3, 5) batch of scores, temperature 1", scores((3, 5), 1.0), sampling.softmax_with_temperature),
                Case("a (4, 6) batch of scores, temperature 0.5", scores((4, 6), 0.5), sampling.softmax_with_temperature),
                Case("a (2, 3) batch of scores, temperature 3", scores((2, 3), 3.0), sampling.softmax_with_temperature),
            ),
        ),
        Part(
            cell="test_temperature_limits",
            function="softmax_with_temperature",
            hint=TEMPERATURE_HINT,
            points=1,
            cases=(
                Case("temperature 0", scores((5, 4), 0.0), sampling.softmax_with_temperature),
                Case("temperature 0.002 and scores near 30", scores((3, 6), 0.002, 1.0, 30.0),
                     sampling.softmax_with_temperature),
                Case("a single vector (K,), temperature 0.8", scores((8,), 0.8), sampling.softmax_with_temperature),
                Case("temperature 500", scores((2, 5), 500.0), sampling.softmax_with_temperature),
            ),
        ),
        Part(
            cell="test_sample",
            function="sample",
            hint=SAMPLE_HINT,
            diagnose=diagnose_sample,
            integer_result=True,
            points=2,
            cases=(
                Case("P=3, n=15, K=5, H=6, temperature 1", sampling_args(3, 15, 5, 6, 1.0), sampling.sample_elman,
                     rtol=0.0, atol=0.0),
                Case("P=1, n=10, K=4, H=3, temperature 0.5", sampling_args(1, 10, 4, 3, 0.5), sampling.sample_elman,
                     rtol=0.0, atol=0.0),
                Case("P=5, n=12, K=7, H=8, temperature 0", sampling_args(5, 12, 7, 8, 0.0), sampling.sample_elman,
                     rtol=0.0, atol=0.0),
                Case("P=2, n=1, K=3, H=2, temperature 2", sampling_args(2, 1, 3, 2, 2.0), sampling.sample_elman,
                     rtol=0.0, atol=0.0),
                # a strong recurrence remembers the burn-in: a burn-in step without W h or b shows
                Case("P=6, n=20, K=4, H=8, temperature 1, long memory", sampling_args(6, 20, 4, 8, 1.0, 2.5, 0.5),
                     sampling.sample_elman, rtol=0.0, atol=0.0),
                Case("P=4, n=20, K=5, H=6, temperature 0.7, long memory", sampling_args(4, 20, 5, 6, 0.7, 2.5, 0.5),
                     sampling.sample_elman, rtol=0.0, atol=0.0),
            ),
        ),
    ),
    call_timeout=20.0,
    cell_timeout=60.0,
)
