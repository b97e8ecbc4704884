"""Exercise 2 through the real grader (sandboxed, out of process): the solution and an honest
solution in unusual styles keep full marks, gradients from autograd or from rnncourse score zero for
their parts with feedback that says why, and a plausible mistake costs only the parts it touches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _notebooks import ROOT
from corpus import with_answer
from test_ex02 import CORRECT_VARIANTS, MISTAKES

from rnncourse.grading import course
from rnncourse.grading.batch import grade_batch

ASSIGNMENT = "ex02_bptt"
FAST = {"call_timeout": 10.0, "cell_timeout": 30.0, "wall_seconds": 120.0, "memory_mb": 1024}

AUTOGRAD_BPTT = '''
import torch

def bptt(x, Y, h0, W, U, b, V, c):
    tensors = [torch.tensor(a, requires_grad=True) for a in (W, U, b, V, c, h0)]
    W_, U_, b_, V_, c_, h = tensors
    loss = 0
    for t in range(len(x)):
        h = torch.tanh(b_ + h @ W_.T + torch.tensor(x[t]) @ U_.T)
        loss = loss - (torch.tensor(Y[t]) * torch.log_softmax(c_ + h @ V_.T, -1)).sum()
    loss.backward()
    return tuple(t.grad.numpy() for t in tensors)
'''
REFERENCE_STEP = '''
from rnncourse import bptt as _reference

def step_backward(dh, x, h_prev, h, W, U):
    g = _reference.step_backward(dh, (x, h_prev, h), W, U)
    return g["x"], g["h_prev"], g["W"], g["U"], g["b"]
'''


def _correct() -> dict:
    return course.filled_in(ROOT, ASSIGNMENT, ASSIGNMENT)


def _unusual() -> dict:
    nb = _correct()
    for variant in CORRECT_VARIANTS:
        nb = with_answer(nb, variant.function, variant.source)
    return nb


def _mistake(name: str) -> dict:
    chosen = next(m for m in MISTAKES if m.name == name)
    return with_answer(_correct(), chosen.function, chosen.source)


SUBMISSIONS = {
    "solution": _correct,
    "unusual-styles": _unusual,
    "released": lambda: course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"),
    "autograd-bptt": lambda: with_answer(_correct(), "bptt", AUTOGRAD_BPTT),
    "reference-step": lambda: with_answer(_correct(), "step_backward", REFERENCE_STEP),
    "no-sum-over-time": lambda: _mistake("bptt: no sum over time (last step kept)"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ex02")
    for student, build in SUBMISSIONS.items():
        folder = base / "submissions" / student
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(build()), encoding="utf-8")
    results = grade_batch(ROOT, ASSIGNMENT, base / "submissions", base / "out", workers=2,
                          db_url=f"sqlite:///{base / 'gradebook.db'}", limits=FAST, autograded=base / "autograded")
    return {"results": {r.student: r for r in results}, "out": base / "out"}


def _parts(result) -> dict:
    return {p.cell: p for p in result.parts}


def test_honest_solutions_keep_full_marks(graded):
    for student in ("solution", "unusual-styles"):
        result = graded["results"][student]
        assert result.score == result.max_score == 11, (student, result.status, [(p.cell, p.score) for p in result.parts])


def test_released_stub_scores_zero(graded):
    assert graded["results"]["released"].score == 0


def test_gradients_from_autograd_score_zero_with_a_reason(graded):
    result = graded["results"]["autograd-bptt"]
    parts = _parts(result)
    assert parts["test_bptt_values"].score == 0 and parts["test_bptt_general"].score == 0
    assert "torch" in parts["test_bptt_values"].delegation
    assert result.score == 11 - 3  # the other parts keep their marks
    page = (graded["out"] / "feedback" / "autograd-bptt.html").read_text()
    assert "No points" in page and "torch" in page


def test_gradients_from_rnncourse_score_zero_for_every_part_that_uses_them(graded):
    result = graded["results"]["reference-step"]
    parts = _parts(result)
    # bptt calls the delegating step_backward, so it reaches the reference too
    for cell in ("test_step_backward_values", "test_step_backward_general", "test_bptt_values", "test_bptt_general"):
        assert parts[cell].score == 0, cell
        assert "rnncourse" in parts[cell].delegation, cell
    assert result.score == 11 - 5


def test_a_plausible_mistake_costs_only_its_parts(graded):
    result = graded["results"]["no-sum-over-time"]
    parts = _parts(result)
    assert parts["test_bptt_values"].score < 1 and parts["test_bptt_general"].score < 2
    assert result.score == pytest.approx(11 - 3 + parts["test_bptt_values"].score + parts["test_bptt_general"].score)
    page = (graded["out"] / "feedback" / "no-sum-over-time.html").read_text()
    assert "dW" in page  # the feedback names the gradient that is wrong


def test_feedback_never_shows_the_solution(graded):
    secrets = ["_check_part(", "BEGIN HIDDEN", "da.T @ h_prev, da.T @ x", "np.einsum(\"tbk,tbh->kh\""]
    for page in Path(graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if s in text], page.name
