"""A PyTorch exercise: the sandbox holds torch, tensors cross the wire, and torch's own recurrent
layers are refused while the rest of torch is allowed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from _notebooks import ROOT

from rnncourse.grading.grader import GradingUnit, grade_unit
from rnncourse.grading.sandbox import sandbox_mode

pytest.importorskip("torch")
pytestmark = pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap")

SPEC = '''
import torch
from rnncourse.grading.spec import AssignmentSpec, Case, Part

FORBIDDEN = ("rnncourse", "scipy", "torch.nn.RNN", "torch.nn.RNNCell", "torch.nn.modules.rnn", "torch._VF",
             "torch.rnn_tanh", "torch.rnn_tanh_cell")


def step_args(B, D, H):
    return lambda rng: (rng.standard_normal((B, D)), rng.standard_normal((B, H)), rng.standard_normal((H, H)),
                        rng.standard_normal((H, D)), rng.standard_normal(H))


def reference(x, h, W, U, b):
    return torch.tanh(b + h @ W.T + x @ U.T)


def sequence_args(T, B, D, H):
    return lambda rng: (rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((H, H)) / H,
                        rng.standard_normal((H, D)), rng.standard_normal(H))


def sequence_reference(x, h, W, U, b):
    states = []
    for t in range(x.shape[0]):
        h = reference(x[t], h, W, U, b)
        states.append(h)
    return torch.stack(states), h


SPEC = AssignmentSpec(
    notebook="tstep",
    packages=("numpy", "torch"),
    parts=(Part("test_step", "rnn_step", 2, (
        Case("B=3, D=4, H=5", step_args(3, 4, 5), reference, tensors=True),
        Case("B=1, D=2, H=2", step_args(1, 2, 2), reference, tensors=True),
    ), forbidden=FORBIDDEN),
    Part("test_seq", "rnn_sequence", 1, (
        Case("T=4, B=2, D=3, H=3", sequence_args(4, 2, 3, 3), sequence_reference, tensors=True, gradients=(0, 1, 2, 3, 4)),
    ), forbidden=FORBIDDEN)),
)
'''


def _cell(kind: str, grade_id: str, source: str, **meta) -> dict:
    nbgrader = {"grade_id": grade_id, "schema_version": 3, "solution": False, "task": False, "locked": False, "grade": False}
    nbgrader.update(meta)
    cell = {"cell_type": kind, "id": grade_id, "metadata": {"nbgrader": nbgrader}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


SEQUENCE = """
def rnn_sequence(x, h, W, U, b):
    states = []
    for t in range(x.shape[0]):
        h = rnn_step(x[t], h, W, U, b)
        states.append(h)
    return torch.stack(states), h
"""


def _notebook(answer: str, sequence: str = SEQUENCE) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        _cell("code", "setup", "import torch", locked=True),
        _cell("code", "rnn_step", answer, solution=True),
        _cell("code", "test_step", "assert rnn_step is not None", grade=True, locked=True, points=2),
        _cell("code", "rnn_sequence", sequence, solution=True),
        _cell("code", "test_seq", "assert rnn_sequence is not None", grade=True, locked=True, points=1),
    ]}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("torchcourse")
    shutil.copy2(ROOT / "nbgrader_config.py", root)
    for folder in ("solutions", "exercises"):
        (root / folder / "tstep").mkdir(parents=True)
        (root / folder / "tstep" / "tstep.ipynb").write_text(json.dumps(_notebook("# YOUR CODE HERE")))
    (root / "solutions" / "tstep" / "grading.py").write_text(SPEC)
    return root


STEP = "def rnn_step(x, h, W, U, b):\n    return torch.tanh(x @ U.T + h @ W.T + b)"


def _grade(course: Path, tmp_path: Path, answer: str, sequence: str = SEQUENCE):
    folder = tmp_path / "student"
    folder.mkdir(parents=True)
    (folder / "tstep.ipynb").write_text(json.dumps(_notebook(answer, sequence)))
    return grade_unit(GradingUnit(str(course), "tstep", "student", str(folder), limits={"call_timeout": 20.0}))


def test_tensors_in_and_out_full_marks(course, tmp_path):
    result = _grade(course, tmp_path, STEP)
    assert (result.score, result.status) == (3, "ok"), result


def test_torch_building_blocks_are_allowed(course, tmp_path):
    answer = ("def rnn_step(x, h, W, U, b):\n    lin = torch.nn.Linear(U.shape[1], U.shape[0]).double()\n"
              "    with torch.no_grad():\n        lin.weight.copy_(U)\n        lin.bias.copy_(b)\n"
              "    return torch.nn.functional.tanh(lin(x) + h @ W.T)")
    assert _grade(course, tmp_path, answer).parts[0].score == 2


def test_torch_recurrent_layers_are_refused(course, tmp_path):
    answer = ("def rnn_step(x, h, W, U, b):\n    cell = torch.nn.RNNCell(U.shape[1], U.shape[0]).double()\n"
              "    return cell(x, h)")
    result = _grade(course, tmp_path, answer)
    assert result.score == 0 and "torch.nn.RNNCell" in result.parts[0].delegation


def test_a_numpy_answer_to_a_tensor_question_says_so(course, tmp_path):
    result = _grade(course, tmp_path, "def rnn_step(x, h, W, U, b):\n    return torch.tanh(x @ U.T + h @ W.T + b).numpy()")
    assert result.score == 0 and "expected a torch tensor" in result.parts[0].cases[0].message


def _sequence_part(result):
    (part,) = [p for p in result.parts if p.function == "rnn_sequence"]
    return part


def test_gradients_through_autograd_are_graded(course, tmp_path):
    """The same values with gradients that autograd cannot follow, or that are cut, lose the part."""
    numpy_inside = SEQUENCE.replace("return torch.stack(states), h",
                                    "return torch.from_numpy(torch.stack(states).detach().numpy()), h.detach()")
    part = _sequence_part(_grade(course, tmp_path / "a", STEP, numpy_inside))
    assert part.score == 0 and "not connected to the inputs through autograd" in part.cases[0].message, part
    truncated = SEQUENCE.replace("h = rnn_step(x[t], h, W, U, b)", "h = rnn_step(x[t], h.detach(), W, U, b)")
    part = _sequence_part(_grade(course, tmp_path / "b", STEP, truncated))
    assert part.score == 0 and "the gradient with respect to the 1st argument" in part.cases[0].message, part
    in_place = SEQUENCE.replace("for t in", "x.zero_()\n    for t in")
    part = _sequence_part(_grade(course, tmp_path / "c", STEP, in_place))
    assert part.score == 0, part


def test_gradients_of_an_unusual_but_correct_answer_pass(course, tmp_path):
    """A different but equivalent computation (the whole input projected at once, a list comprehension
    of outputs, float32 never used) keeps the marks."""
    sequence = """
def rnn_sequence(x, h, W, U, b):
    projected = torch.einsum('tbd,hd->tbh', x, U) + b
    out = []
    for p in projected.unbind(0):
        h = (p + h @ W.T).tanh()
        out += [h]
    return (torch.stack(out, dim=0), out[-1])
"""
    result = _grade(course, tmp_path, STEP, sequence)
    assert _sequence_part(result).score == 1, result


def test_poison_stubs_functions_but_leaves_modules_working():
    """Forbidding torch's fused LSTM stubs it (nn.LSTM then fails too) without breaking torch.einsum,
    which calls through the same torch._VF module."""
    import subprocess
    import sys

    code = (
        "import torch\n"
        "from rnncourse.grading.worker import poison\n"
        "poison(['torch._VF', 'torch._VF.lstm', 'torch.lstm', 'torch.nn.modules.rnn'])\n"
        "assert torch.einsum('ij->i', torch.ones(2, 2)).tolist() == [2.0, 2.0]\n"
        "try:\n"
        "    torch.nn.LSTM(2, 3)(torch.ones(4, 1, 2))\n"
        "except RuntimeError as error:\n"
        "    assert 'not allowed in this exercise' in str(error), error\n"
        "else:\n"
        "    raise SystemExit('nn.LSTM still ran')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
