"""Exercise 5 through the real grader (sandboxed, out of process): the solution and honest solutions in unusual
styles keep full marks (so a bool mask, int64 token ids and the params dict reach the sandbox as such), the released
stub scores zero, a function that calls rnncourse or torch scores zero for its part with feedback that says why, and
plausible mistakes cost only the parts they touch — a wrong masked_softmax also costs decoder_step and greedy_decode,
which call it, and a wrong decoder_step costs greedy_decode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _exercise_tests import correct_notebook, lost_points, part_results, unusual_styles, with_variants
from _notebooks import ROOT
from corpus import with_answer
from test_ex05 import CORRECT_VARIANTS, IN_PLACE, MISTAKES, WRONG_FORM

from rnncourse.grading import course
from rnncourse.grading.batch import grade_batch
from rnncourse.grading.sandbox import sandbox_mode

pytestmark = pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap")

ASSIGNMENT = "ex05_seq2seq"
TOTAL = 13
# generous: CI runs this batch on 2 shared cores while other jobs run (as for exercises 3 and 4)
LIMITS = {"call_timeout": 30.0, "cell_timeout": 90.0, "wall_seconds": 300.0, "memory_mb": 2048}

REFERENCE_SOFTMAX = '''
from rnncourse.checks.ex05 import reference_masked_softmax

def masked_softmax(scores, mask):
    return reference_masked_softmax(scores, mask)
'''
TORCH_CONTEXT = '''
import torch

def attention_context(alpha, enc):
    return torch.einsum("bt,tbh->bh", torch.from_numpy(alpha), torch.from_numpy(enc)).numpy()
'''


def _named(name: str, among=MISTAKES):
    return next(m for m in among if m.name == name)


def _with(*variants) -> dict:
    return with_variants(ASSIGNMENT, *variants)


SUBMISSIONS = {
    "solution": lambda: correct_notebook(ASSIGNMENT),
    "unusual-styles": lambda: unusual_styles(ASSIGNMENT, CORRECT_VARIANTS, 0),
    "other-unusual-styles": lambda: unusual_styles(ASSIGNMENT, CORRECT_VARIANTS, 1),
    "more-unusual-styles": lambda: unusual_styles(ASSIGNMENT, CORRECT_VARIANTS, 2),
    "released": lambda: course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
    "reference-softmax": lambda: with_answer(correct_notebook(ASSIGNMENT), "masked_softmax", REFERENCE_SOFTMAX),
    "torch-context": lambda: with_answer(correct_notebook(ASSIGNMENT), "attention_context", TORCH_CONTEXT),
    "wa-swapped": lambda: _with(_named("additive: W_a and U_a swapped")),
    "scaled-general": lambda: _with(_named("multiplicative: scaled by sqrt(H_e)")),
    "nan-padded-row": lambda: _with(_named("softmax: NaN for a fully padded row")),
    "gru-order": lambda: _with(_named("decoder: the GRU fed [context; embedding]")),
    "after-eos": lambda: _with(_named("greedy: goes on after eos")),
    "softmax-in-place": lambda: _with(_named("softmax: the padded scores set to -inf in place", IN_PLACE)),
    "float-tokens": lambda: _with(WRONG_FORM[0]),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ex05")
    for student, build in SUBMISSIONS.items():
        folder = base / "submissions" / student
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(build()), encoding="utf-8")
    results = grade_batch(ROOT, ASSIGNMENT, base / "submissions", base / "out", workers=2,
                          db_url=f"sqlite:///{base / 'gradebook.db'}", limits=LIMITS, autograded=base / "autograded")
    return {"results": {r.student: r for r in results}, "out": base / "out"}


@pytest.mark.parametrize("student", ["solution", "unusual-styles", "other-unusual-styles", "more-unusual-styles",
                                     "softmax-in-place", "float-tokens"])
def test_honest_solutions_keep_full_marks(graded, student):
    result = graded["results"][student]
    failures = [(p.cell, [c.message for c in p.cases if not c.passed]) for p in result.parts if p.score < p.points]
    assert result.score == result.max_score == TOTAL, (student, result.status, failures, result.errors)
    assert result.status == "ok", result.status


def test_released_stub_scores_zero(graded):
    result = graded["results"]["released"]
    assert result.score == 0 and result.max_score == TOTAL


@pytest.mark.parametrize("student, cells, words", [
    # decoder_step and greedy_decode call the delegating masked_softmax, so they reach rnncourse too
    ("reference-softmax", ("test_softmax_values", "test_softmax_general", "test_decoder_values",
                           "test_decoder_general", "test_greedy_values", "test_greedy_general"), "rnncourse"),
    ("torch-context", ("test_context", "test_decoder_values", "test_decoder_general", "test_greedy_values",
                       "test_greedy_general"), "torch"),
])
def test_other_peoples_code_scores_zero_with_a_reason(graded, student, cells, words):
    result = graded["results"][student]
    parts = part_results(result)
    for cell in cells:
        assert parts[cell].score == 0 and words in (parts[cell].delegation or ""), (cell, parts[cell])
    assert result.score == TOTAL - sum(parts[cell].points for cell in cells)
    page = (graded["out"] / "feedback" / f"{student}.html").read_text()
    assert "No points" in page and words in page


DECODER_AND_GREEDY = {"test_decoder_values", "test_decoder_general", "test_greedy_values", "test_greedy_general"}


@pytest.mark.parametrize("student, cells", [
    ("scaled-general", {"test_multiplicative"}),  # nothing else calls it
    ("after-eos", {"test_greedy_values", "test_greedy_general"}),
    ("gru-order", DECODER_AND_GREEDY),
    ("wa-swapped", {"test_additive_values", "test_additive_general"} | DECODER_AND_GREEDY),
    # the decoder and greedy cases have no fully padded row but one decoder case: only that case is lost there
    ("nan-padded-row", {"test_softmax_general", "test_decoder_general"}),
])
def test_a_plausible_mistake_costs_only_its_parts(graded, student, cells):
    result = graded["results"][student]
    assert set(lost_points(result)) == cells, (lost_points(result), result.errors, result.info)
    assert result.status == "ok", result.status


def test_the_feedback_names_the_mistake(graded):
    page = (graded["out"] / "feedback" / "nan-padded-row.html").read_text()
    assert "all padded" in page
    page = (graded["out"] / "feedback" / "gru-order.html").read_text()
    assert "embedding of y_prev first" in page
    page = (graded["out"] / "feedback" / "after-eos.html").read_text()
    assert "PAD = 0" in page


def test_feedback_never_shows_the_solution(graded):
    secrets = ["_check_part(", "BEGIN HIDDEN", "return (np.tanh(query + keys) @ w_a).T",
               "np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)",
               "tokens[:, t] = np.where(finished, 0, y)"]
    for page in Path(graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if s in text], page.name
