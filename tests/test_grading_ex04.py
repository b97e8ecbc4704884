"""Exercise 4 through the real grader (sandboxed, out of process): the solution and honest solutions in
unusual styles keep full marks, the released stub scores zero, a function that calls rnncourse.esn scores
zero for its part (and for a part that calls it) with feedback that says why, and plausible mistakes cost
only the parts they touch — a wrong ridge_readout also costs choose_ridge, which is asked to call it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _notebooks import ROOT
from corpus import with_answer
from test_ex04 import CORRECT_VARIANTS, IN_PLACE, MISTAKES

from rnncourse.grading import course
from rnncourse.grading.batch import grade_batch
from rnncourse.grading.sandbox import sandbox_mode

pytestmark = pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap")

ASSIGNMENT = "ex04_esn"
TOTAL = 11
# generous: CI runs this batch on 2 shared cores while other jobs run (a 120 s wall once zeroed a submission)
LIMITS = {"call_timeout": 30.0, "cell_timeout": 90.0, "wall_seconds": 300.0, "memory_mb": 2048}

REFERENCE_SCALE = '''
from rnncourse.esn import scale_spectral_radius

def scale_to_radius(W, radius):
    return scale_spectral_radius(W, radius)
'''
SCIPY_RIDGE = '''
import scipy.linalg

def ridge_readout(states, targets, ridge):
    Phi = np.hstack([np.ones((len(states), 1)), states])
    penalty = ridge * np.eye(Phi.shape[1])
    penalty[0, 0] = 0.0
    V = scipy.linalg.solve(Phi.T @ Phi + penalty, Phi.T @ targets, assume_a="pos")
    return V[1:].T, V[0]
'''


def _correct() -> dict:
    return course.filled_in(ROOT, ASSIGNMENT, ASSIGNMENT)


def _with(*variants) -> dict:
    nb = _correct()
    for variant in variants:
        nb = with_answer(nb, variant.function, variant.source)
    return nb


def _named(name: str, among=MISTAKES):
    return next(m for m in among if m.name == name)


def _unusual(index: int) -> dict:
    """One unusual style per function: the first (or second) variant of each."""
    chosen = {}
    for variant in CORRECT_VARIANTS:
        chosen.setdefault(variant.function, []).append(variant)
    return _with(*(variants[min(index, len(variants) - 1)] for variants in chosen.values()))


SUBMISSIONS = {
    "solution": _correct,
    "unusual-styles": lambda: _unusual(0),
    "other-unusual-styles": lambda: _unusual(1),
    "released": lambda: course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
    "reference-scale": lambda: with_answer(_correct(), "scale_to_radius", REFERENCE_SCALE),
    "scipy-ridge": lambda: with_answer(_correct(), "ridge_readout", SCIPY_RIDGE),
    "leak-swapped": lambda: _with(_named("leaky: the leak the wrong way round")),
    "spectral-norm": lambda: _with(_named("scale: the spectral norm")),
    "bias-penalised": lambda: _with(_named("ridge: the bias penalised")),
    "rmse": lambda: _with(_named("choose: RMSE, not normalised")),
    "pooled": lambda: _with(_named("choose: the outputs pooled")),
    "w-in-place": lambda: _with(_named("scale: W scaled in place", IN_PLACE)),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ex04")
    for student, build in SUBMISSIONS.items():
        folder = base / "submissions" / student
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(build()), encoding="utf-8")
    results = grade_batch(ROOT, ASSIGNMENT, base / "submissions", base / "out", workers=2,
                          db_url=f"sqlite:///{base / 'gradebook.db'}", limits=LIMITS, autograded=base / "autograded")
    return {"results": {r.student: r for r in results}, "out": base / "out"}


def _parts(result) -> dict:
    return {p.cell: p for p in result.parts}


def _lost(result) -> dict:
    return {p.cell: round(p.points - p.score, 4) for p in result.parts if p.score < p.points}


@pytest.mark.parametrize("student", ["solution", "unusual-styles", "other-unusual-styles", "w-in-place"])
def test_honest_solutions_keep_full_marks(graded, student):
    result = graded["results"][student]
    failures = [(p.cell, [c.message for c in p.cases if not c.passed]) for p in result.parts if p.score < p.points]
    assert result.score == result.max_score == TOTAL, (student, result.status, failures)
    assert result.status == "ok", result.status


def test_released_stub_scores_zero(graded):
    result = graded["results"]["released"]
    assert result.score == 0 and result.max_score == TOTAL


@pytest.mark.parametrize("student, cells, words", [
    ("reference-scale", ("test_scale_values", "test_scale_general"), "rnncourse"),
    ("scipy-ridge", ("test_ridge_values", "test_ridge_general", "test_choose_values", "test_choose_general"), "scipy"),
])
def test_other_peoples_code_scores_zero_with_a_reason(graded, student, cells, words):
    result = graded["results"][student]
    parts = _parts(result)
    for cell in cells:  # choose_ridge calls the delegating ridge_readout, so it reaches scipy too
        assert parts[cell].score == 0 and words in (parts[cell].delegation or ""), (cell, parts[cell])
    assert result.score == TOTAL - sum(parts[cell].points for cell in cells)
    page = (graded["out"] / "feedback" / f"{student}.html").read_text()
    assert "No points" in page and words in page


@pytest.mark.parametrize("student, cells", [
    ("leak-swapped", {"test_leaky_values", "test_leaky_general"}),
    ("spectral-norm", {"test_scale_values", "test_scale_general"}),
    ("rmse", {"test_choose_values", "test_choose_general"}),
    ("pooled", {"test_choose_general"}),  # with one output, pooling changes nothing
    # choose_ridge calls the student's ridge_readout
    ("bias-penalised", {"test_ridge_values", "test_ridge_general", "test_choose_values", "test_choose_general"}),
])
def test_a_plausible_mistake_costs_only_its_parts(graded, student, cells):
    result = graded["results"][student]
    why = [(p.cell, p.delegation, [c.message for c in p.cases if not c.passed][:1])
           for p in result.parts if p.score < p.points]
    assert set(_lost(result)) == cells, (_lost(result), result.status, result.errors, result.info, result.notes, why)
    assert result.status == "ok", result.status


def test_the_feedback_names_the_mistake(graded):
    page = (graded["out"] / "feedback" / "spectral-norm.html").read_text()
    assert "largest |eigenvalue|" in page  # the hint of the scaling part
    page = (graded["out"] / "feedback" / "bias-penalised.html").read_text()
    assert "not penalised" in page


def test_feedback_never_shows_the_solution(graded):
    secrets = ["_check_part(", "BEGIN HIDDEN", "rho = np.max(np.abs(np.linalg.eigvals(W)))",
               "features.T @ features + penalty", "ridge_readout(train_states, train_targets, ridges[np.argmin(errors)])"]
    for page in Path(graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if s in text], page.name
