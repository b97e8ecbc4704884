"""Exercise 3 through the real grader (sandboxed, out of process, torch inside the sandbox): the solution
and honest solutions in unusual styles keep full marks, torch's own recurrent layers and rnncourse
score zero for their parts with feedback that says why, an answer computed outside autograd loses
the gradient cases, and a plausible mistake costs only the parts it touches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _notebooks import ROOT
from corpus import with_answer
from test_ex03 import CORRECT_VARIANTS, MISTAKES

from rnncourse.grading import course
from rnncourse.grading.batch import grade_batch
from rnncourse.grading.sandbox import sandbox_mode

pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap")

ASSIGNMENT = "ex03_gated"
TOTAL = 13
# generous: CI grades this batch on 2 shared cores; under load a torch import in the sandbox once ran into a limit,
# and the part scored 0 for the timeout rather than for the delegation the test looks for
LIMITS = {"call_timeout": 30.0, "cell_timeout": 90.0, "wall_seconds": 300.0}

TORCH_LSTM = '''
def lstm_layer(x, h0, C0, W_ih, W_hh, b_ih, b_hh):
    layer = torch.nn.LSTM(x.shape[-1], h0.shape[-1]).double()
    with torch.no_grad():
        for p, w in zip(layer.parameters(), (W_ih, W_hh, b_ih, b_hh)):
            p.copy_(w)
    output, (h, c) = layer(x, (h0[None], C0[None]))
    return output, h[0], c[0]
'''
FUSED_KERNEL = '''
import torch as T

def lstm_layer(x, h0, C0, W_ih, W_hh, b_ih, b_hh):
    output, h, c = T._VF.lstm(x, (h0[None], C0[None]), (W_ih, W_hh, b_ih, b_hh), True, 1, 0.0, False, False, False)
    return output, h[0], c[0]
'''
REFERENCE_POOL = '''
from rnncourse.gated import pool_states
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
    "torch-lstm": lambda: with_answer(_correct(), "lstm_layer", TORCH_LSTM),
    "fused-kernel": lambda: with_answer(_correct(), "lstm_layer", FUSED_KERNEL),
    "reference-pool": lambda: with_answer(_correct(), "pool_states", REFERENCE_POOL),
    "numpy-inside": lambda: _mistake("layer: computed in NumPy"),
    "torch-gru-convention": lambda: _mistake("gru: torch's update convention"),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("ex03")
    for student, build in SUBMISSIONS.items():
        folder = base / "submissions" / student
        folder.mkdir(parents=True)
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(build()), encoding="utf-8")
    results = grade_batch(ROOT, ASSIGNMENT, base / "submissions", base / "out", workers=2,
                          db_url=f"sqlite:///{base / 'gradebook.db'}", limits=LIMITS, autograded=base / "autograded")
    return {"results": {r.student: r for r in results}, "out": base / "out"}


def _parts(result) -> dict:
    return {p.cell: p for p in result.parts}


def test_honest_solutions_keep_full_marks(graded):
    for student in ("solution", "unusual-styles"):
        result = graded["results"][student]
        assert result.score == result.max_score == TOTAL, (student, result.status, [(p.cell, p.score, [c.message for c in p.cases if not c.passed]) for p in result.parts])


def test_released_stub_scores_zero(graded):
    assert graded["results"]["released"].score == 0


@pytest.mark.parametrize("student, words", [("torch-lstm", "torch.nn.LSTM"), ("fused-kernel", "torch._VF")])
def test_torch_recurrent_layers_score_zero_with_a_reason(graded, student, words):
    result = graded["results"][student]
    parts = _parts(result)
    # bidirectional_lstm calls the delegating lstm_layer, so it reaches torch's LSTM too
    for cell in ("test_lstm_layer_values", "test_lstm_layer_gradients", "test_bidirectional"):
        assert parts[cell].score == 0 and words in (parts[cell].delegation or ""), (
            cell, parts[cell].delegation, [c.message for c in parts[cell].cases], result.errors, result.info)
    assert result.score == TOTAL - 5
    page = (graded["out"] / "feedback" / f"{student}.html").read_text()
    assert "No points" in page and words in page


def test_rnncourse_scores_zero(graded):
    result = graded["results"]["reference-pool"]
    assert _parts(result)["test_pool_states"].delegation and result.score == TOTAL - 2


def test_values_without_autograd_lose_the_gradient_cases(graded):
    parts = _parts(graded["results"]["numpy-inside"])
    assert parts["test_lstm_layer_values"].score == 1  # the values are right
    assert parts["test_lstm_layer_gradients"].score == 0 and parts["test_bidirectional"].score == 0
    assert "autograd" in parts["test_lstm_layer_gradients"].cases[0].message


def test_a_plausible_mistake_costs_only_its_parts(graded):
    result = graded["results"]["torch-gru-convention"]
    parts = _parts(result)
    assert parts["test_gru_values"].score == 0 and parts["test_gru_general"].score == 0
    assert result.score == TOTAL - 3


def test_feedback_never_shows_the_solution(graded):
    secrets = ["_check_part(", "BEGIN HIDDEN", "projected_t + h @ W_hh.T", "lengths - 1, np.arange"]
    for page in Path(graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if s in text], page.name
