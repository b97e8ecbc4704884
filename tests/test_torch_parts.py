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


SPEC = AssignmentSpec(
    notebook="tstep",
    packages=("numpy", "torch"),
    parts=(Part("test_step", "rnn_step", 2, (
        Case("B=3, D=4, H=5", step_args(3, 4, 5), reference, tensors=True),
        Case("B=1, D=2, H=2", step_args(1, 2, 2), reference, tensors=True),
    ), forbidden=FORBIDDEN),),
)
'''


def _cell(kind: str, grade_id: str, source: str, **meta) -> dict:
    nbgrader = {"grade_id": grade_id, "schema_version": 3, "solution": False, "task": False, "locked": False, "grade": False}
    nbgrader.update(meta)
    cell = {"cell_type": kind, "id": grade_id, "metadata": {"nbgrader": nbgrader}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _notebook(answer: str) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        _cell("code", "setup", "import torch", locked=True),
        _cell("code", "rnn_step", answer, solution=True),
        _cell("code", "test_step", "assert rnn_step is not None", grade=True, locked=True, points=2),
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


def _grade(course: Path, tmp_path: Path, answer: str):
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / "tstep.ipynb").write_text(json.dumps(_notebook(answer)))
    return grade_unit(GradingUnit(str(course), "tstep", "student", str(folder), limits={"call_timeout": 20.0}))


def test_tensors_in_and_out_full_marks(course, tmp_path):
    result = _grade(course, tmp_path, "def rnn_step(x, h, W, U, b):\n    return torch.tanh(x @ U.T + h @ W.T + b)")
    assert (result.score, result.status) == (2, "ok"), result


def test_torch_building_blocks_are_allowed(course, tmp_path):
    answer = ("def rnn_step(x, h, W, U, b):\n    lin = torch.nn.Linear(U.shape[1], U.shape[0]).double()\n"
              "    with torch.no_grad():\n        lin.weight.copy_(U)\n        lin.bias.copy_(b)\n"
              "    return torch.nn.functional.tanh(lin(x) + h @ W.T)")
    assert _grade(course, tmp_path, answer).score == 2


def test_torch_recurrent_layers_are_refused(course, tmp_path):
    answer = ("def rnn_step(x, h, W, U, b):\n    cell = torch.nn.RNNCell(U.shape[1], U.shape[0]).double()\n"
              "    return cell(x, h)")
    result = _grade(course, tmp_path, answer)
    assert result.score == 0 and "torch.nn.RNNCell" in result.parts[0].delegation


def test_a_numpy_answer_to_a_tensor_question_says_so(course, tmp_path):
    result = _grade(course, tmp_path, "def rnn_step(x, h, W, U, b):\n    return torch.tanh(x @ U.T + h @ W.T + b).numpy()")
    assert result.score == 0 and "expected a torch tensor" in result.parts[0].cases[0].message
