"""How exercise 1 is graded (instructor only: never released, see nbgrader_config.py).

One Part per graded cell of ex01_elman.ipynb, with the same grade_id and points. Every case
draws fresh arguments for each student; the grader compares with rnncourse.dynamics in its own
process. See rnncourse.grading.spec for the format.

Each part carries the hint and the diagnosis of typical mistakes that the visible self-check
(rnncourse.checks.ex01) uses, so the graded feedback says what the self-check said.
"""


from rnncourse import dynamics
from rnncourse.checks.ex01 import (
    FORWARD_HINT,
    JORDAN_HINT,
    SOFTMAX_HINT,
    STEP_HINT,
    diagnose_jordan,
    diagnose_softmax,
    diagnose_states,
    diagnose_step,
    random_elman,
)
from rnncourse.grading.spec import AssignmentSpec, Case, Part


def logits(*shape, scale=1.0, shift=0.0):
    return lambda rng: (scale * rng.standard_normal(shape) + shift,)


def elman_step_args(**sizes):
    def make(rng):
        p = random_elman(rng, K=2, **sizes)
        return p["x"][0], p["h0"], p["W"], p["U"], p["b"]

    return make


def elman_forward_args(**sizes):
    def make(rng):
        p = random_elman(rng, K=2, **sizes)
        return p["x"], p["h0"], p["W"], p["U"], p["b"]

    return make


def jordan_step_args(**sizes):
    def make(rng):
        p = random_elman(rng, **sizes)
        return p["x"][0], p["y_hat0"], p["W_y"], p["U"], p["b"], p["V"], p["c"]

    return make


def sizes(**kw):
    return ", ".join(f"{k}={v}" for k, v in kw.items())


SPEC = AssignmentSpec(
    notebook="ex01_elman",
    parts=(
        Part(
            cell="test_softmax_values",
            function="softmax",
            hint=SOFTMAX_HINT,
            diagnose=diagnose_softmax,
            points=1,
            cases=(
                Case("a (4, 5) batch of logits", logits(4, 5), dynamics.softmax),
                Case("a (3, 8) batch of logits", logits(3, 8, scale=3.0), dynamics.softmax),
            ),
        ),
        Part(
            cell="test_softmax_stable",
            function="softmax",
            hint=SOFTMAX_HINT,
            diagnose=diagnose_softmax,
            points=1,
            cases=(
                Case("logits near +1000", logits(2, 6, scale=5.0, shift=1000.0), dynamics.softmax),
                Case("logits near -1000", logits(3, 4, scale=5.0, shift=-1000.0), dynamics.softmax),
                Case("a single vector (K,)", logits(7, scale=40.0, shift=-500.0), dynamics.softmax),
            ),
        ),
        Part(
            cell="test_elman_step_values",
            function="elman_step",
            hint=STEP_HINT,
            diagnose=diagnose_step,
            points=1,
            cases=(
                Case(sizes(B=3, D=4, H=6), elman_step_args(T=1, B=3, D=4, H=6), dynamics.elman_step),
                Case(sizes(B=5, D=2, H=3), elman_step_args(T=1, B=5, D=2, H=3), dynamics.elman_step),
            ),
        ),
        Part(
            cell="test_elman_step_general",
            function="elman_step",
            hint=STEP_HINT,
            diagnose=diagnose_step,
            points=1,
            cases=(
                Case(sizes(B=1, D=1, H=1), elman_step_args(T=1, B=1, D=1, H=1), dynamics.elman_step),
                Case(sizes(B=9, D=7, H=2), elman_step_args(T=1, B=9, D=7, H=2), dynamics.elman_step),
                Case(sizes(B=4, D=3, H=12), elman_step_args(T=1, B=4, D=3, H=12), dynamics.elman_step),
                # D == H: U untransposed (x @ U) runs without a shape error and gives wrong values
                Case(sizes(B=2, D=5, H=5), elman_step_args(T=1, B=2, D=5, H=5), dynamics.elman_step),
            ),
        ),
        Part(
            cell="test_elman_forward_values",
            function="elman_forward",
            hint=FORWARD_HINT,
            diagnose=diagnose_states,
            points=1,
            cases=(
                Case(sizes(T=5, B=3, D=4, H=6), elman_forward_args(T=5, B=3, D=4, H=6), dynamics.elman_forward),
            ),
        ),
        Part(
            cell="test_elman_forward_general",
            function="elman_forward",
            hint=FORWARD_HINT,
            diagnose=diagnose_states,
            points=2,
            cases=(
                Case(sizes(T=1, B=1, D=2, H=3), elman_forward_args(T=1, B=1, D=2, H=3), dynamics.elman_forward),
                Case(sizes(T=17, B=5, D=4, H=8), elman_forward_args(T=17, B=5, D=4, H=8), dynamics.elman_forward),
                Case(sizes(T=6, B=2, D=9, H=1), elman_forward_args(T=6, B=2, D=9, H=1), dynamics.elman_forward),
                Case(sizes(T=30, B=1, D=1, H=4), elman_forward_args(T=30, B=1, D=1, H=4), dynamics.elman_forward),
            ),
        ),
        Part(
            cell="test_jordan_step_values",
            function="jordan_step",
            hint=JORDAN_HINT,
            diagnose=diagnose_jordan,
            points=1,
            cases=(
                Case(sizes(B=3, D=4, H=6, K=3), jordan_step_args(T=1, B=3, D=4, H=6, K=3), dynamics.jordan_step),
            ),
        ),
        Part(
            cell="test_jordan_step_general",
            function="jordan_step",
            hint=JORDAN_HINT,
            diagnose=diagnose_jordan,
            points=1,
            cases=(
                Case(sizes(B=1, D=1, H=2, K=2), jordan_step_args(T=1, B=1, D=1, H=2, K=2), dynamics.jordan_step),
                Case(sizes(B=7, D=3, H=5, K=9), jordan_step_args(T=1, B=7, D=3, H=5, K=9), dynamics.jordan_step),
            ),
        ),
    ),
    call_timeout=10.0,
    cell_timeout=30.0,
)
