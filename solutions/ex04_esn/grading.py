"""How exercise 4 is graded (instructor only: never released, see nbgrader_config.py).

One Part per graded cell of ex04_esn.ipynb, with the same grade_id and points. Every case draws fresh
random matrices, sizes and data for each student; the grader computes the expected result in its own
process, from rnncourse.esn (the reference). Partial credit is per case. Every part forbids rnncourse,
torch, scipy and the other libraries (the default), so a function that calls the reference scores zero
for its part, with feedback that says why.

- Scaling: dense, sparse and tiny random matrices, and matrices built to expose the usual mistakes: a
  complex pair of largest modulus beside a real eigenvalue with a larger real part, a negative
  eigenvalue of largest modulus beside a positive one nearly as large, 1 x 1, radius 0. All are
  non-normal, so the spectral norm is not the spectral radius.
- The reservoir: leak rates below 1 (never 0.5, where the leak's two shares are equal) and exactly 1,
  from a given h0 and from None (the argument left out), one step, D == H, H = 1, a long slow run.
- The readout: targets whose means are far from 0 (so a missing or penalised bias shows), more units
  than steps, H == K (a transposed V_h has the right shape), ridge 0 and a large ridge.
- The choice: noisy problems on which the smallest ridge overfits (so choosing by training error
  fails), two outputs on scales 10^4 apart on which the NRMSE and the plain RMSE choose differently,
  candidates in no order, a single candidate. Each problem is drawn again until the best validation
  error is at least 0.1% below the second best, so no rounding difference can change the choice.

What the hidden cases cannot see: an argument changed in place while the result is still right (the
grader sees only results). The visible self-checks refuse that; a ridge_readout that centres its states
in place does lose the choose_ridge cases, which call it several times on the same arrays.
"""

from rnncourse.checks.ex04 import (
    CHOOSE_GRID,
    CHOOSE_HINT,
    LEAKY_HINT,
    RIDGE_HINT,
    SCALE_HINT,
    diagnose_choice,
    diagnose_readout,
    diagnose_scale,
    diagnose_states,
    random_choice_problem,
    random_leaky_problem,
    random_ridge_problem,
    random_scale_problem,
    reference_choose_ridge,
    reference_leaky_states,
    reference_ridge_readout,
    reference_scale_to_radius,
)
from rnncourse.grading.spec import AssignmentSpec, Case, Part

EXACT = {"rtol": 1e-9, "atol": 1e-11}
SOLVED = {"rtol": 1e-7, "atol": 1e-9}  # linear solves: np.linalg.solve, lstsq, a centred form all agree to ~1e-12


def sizes(**kw):
    return ", ".join(f"{k}={v}" for k, v in kw.items())


def scale_case(label, H, kind, radius=None):
    return Case(label, lambda rng: random_scale_problem(rng, H, kind, radius), reference_scale_to_radius, **EXACT)


def leaky_case(T, D, H, leak_rate, initial):
    label = sizes(T=T, D=D, H=H) + f", leak_rate={leak_rate:g}, " + ("h0 given" if initial else "h0=None")
    return Case(label, lambda rng: random_leaky_problem(rng, T, D, H, leak_rate, initial), reference_leaky_states, **EXACT)


def ridge_case(T, H, K, ridge, note=""):
    label = sizes(T=T, H=H, K=K) + f", ridge={ridge:g}" + (f" ({note})" if note else "")
    return Case(label, lambda rng: random_ridge_problem(rng, T, H, K, ridge), reference_ridge_readout, **SOLVED)


def choice_case(label, H, T_train, T_val, K, ridges, kind="noisy"):
    return Case(label, lambda rng: random_choice_problem(rng, H, T_train, T_val, K, ridges, kind),
                reference_choose_ridge, **SOLVED)


SPEC = AssignmentSpec(
    notebook="ex04_esn",
    call_timeout=20.0,
    cell_timeout=60.0,
    parts=(
        Part(
            cell="test_scale_values", function="scale_to_radius", points=1, hint=SCALE_HINT, diagnose=diagnose_scale,
            cases=(
                scale_case("a dense 6 x 6 W", 6, "gaussian"),
                scale_case("a dense 25 x 25 W", 25, "gaussian"),
                scale_case("a sparse 40 x 40 W", 40, "sparse"),
            ),
        ),
        Part(
            cell="test_scale_general", function="scale_to_radius", points=1, hint=SCALE_HINT, diagnose=diagnose_scale,
            cases=(
                scale_case("a 7 x 7 W whose largest eigenvalues are a complex pair", 7, "complex"),
                scale_case("a 4 x 4 W whose largest eigenvalues are a complex pair", 4, "complex"),
                scale_case("a 6 x 6 W whose largest eigenvalue is negative", 6, "negative"),
                scale_case("a 1 x 1 W", 1, "scalar"),
                scale_case("radius 0", 5, "gaussian", 0.0),
                scale_case("an 8 x 8 W with entries near 0.001, radius 1.7", 8, "tiny", 1.7),
            ),
        ),
        Part(
            cell="test_leaky_values", function="leaky_states", points=1, hint=LEAKY_HINT, diagnose=diagnose_states,
            cases=(leaky_case(18, 3, 6, 0.35, True), leaky_case(14, 1, 7, 0.8, False)),
        ),
        Part(
            cell="test_leaky_general", function="leaky_states", points=2, hint=LEAKY_HINT, diagnose=diagnose_states,
            cases=(
                leaky_case(9, 2, 5, 1.0, False),
                leaky_case(6, 3, 4, 1.0, True),
                leaky_case(1, 3, 4, 0.45, True),
                leaky_case(12, 5, 5, 0.6, True),  # D == H: U and W transposed run without a shape error
                leaky_case(20, 3, 1, 0.2, True),
                leaky_case(200, 2, 12, 0.04, True),  # slow units: h0 is felt for long
            ),
        ),
        Part(
            cell="test_ridge_values", function="ridge_readout", points=1, hint=RIDGE_HINT, diagnose=diagnose_readout,
            cases=(ridge_case(60, 7, 2, 0.8), ridge_case(35, 5, 1, 3.0)),
        ),
        Part(
            cell="test_ridge_general", function="ridge_readout", points=2, hint=RIDGE_HINT, diagnose=diagnose_readout,
            cases=(
                ridge_case(9, 16, 2, 0.4, "more units than steps"),
                ridge_case(28, 4, 4, 1.2, "H == K"),
                ridge_case(30, 5, 3, 0.0, "no ridge"),
                ridge_case(25, 6, 1, 40.0, "a large ridge"),
                ridge_case(80, 12, 2, 0.05),
            ),
        ),
        Part(
            cell="test_choose_values", function="choose_ridge", points=1, hint=CHOOSE_HINT, diagnose=diagnose_choice,
            cases=(
                choice_case("H=10, 20 training and 30 validation steps, K=1, five ridges", 10, 20, 30, 1, CHOOSE_GRID),
                choice_case("H=7, 15 training and 40 validation steps, K=1, four ridges", 7, 15, 40, 1,
                            (1e-4, 0.01, 1.0, 100.0)),
            ),
        ),
        Part(
            cell="test_choose_general", function="choose_ridge", points=2, hint=CHOOSE_HINT, diagnose=diagnose_choice,
            cases=(
                choice_case("K=2 outputs on scales 10^4 apart", 10, 14, 40, 2, CHOOSE_GRID, "scales"),
                choice_case("K=2 outputs on scales 10^4 apart, H=8, six ridges", 8, 12, 50, 2,
                            (3e-6, 1e-4, 3e-3, 0.1, 3.0, 100.0), "scales"),
                choice_case("K=2, candidates in no particular order", 9, 18, 30, 2, (0.03, 30.0, 1e-6, 1.0, 1e-3)),
                choice_case("K=1, a single candidate", 6, 30, 20, 1, (0.2,), "any"),
                choice_case("K=3, H=6", 6, 12, 25, 3, (10.0, 0.1, 1e-5)),
            ),
        ),
    ),
)
