"""Running an exercise's visible self-checks and hidden cases in this process, as the grader judges them.

Shared by the honesty and mutation tests: a graded cell's visible code exactly as released, and its
hidden cases (the grading spec) compared exactly as the grader compares after the wire.
"""

from __future__ import annotations

import contextlib
import io
import json
import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rnncourse.grading.inkernel import case_problem
from rnncourse.grading.spec import AssignmentSpec, case_rng

#: Hidden cases draw fresh arguments per student: try more than one, so a lucky draw cannot hide a failure.
STUDENTS = ("student", "another-student")


@dataclass(frozen=True)
class Mistake:
    """A replacement for one function of the notebook (a plausible mistake, or a correct variant)."""

    name: str
    function: str
    source: str

    def __str__(self) -> str:
        return self.name


def mistake(name: str, function: str, header: str, body: str) -> Mistake:
    return Mistake(name, function, header + textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n")


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notebook_cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def visible_cells(path: Path) -> dict[str, str]:
    """The visible code of each graded cell of a released notebook, keyed by grade_id."""
    return {
        c["metadata"]["nbgrader"]["grade_id"]: _source(c)
        for c in notebook_cells(path)
        if c["metadata"].get("nbgrader", {}).get("grade")
    }


def answer_cells(path: Path) -> dict[str, str]:
    """The instructor's answer cells (grade_id = the function's name); the markers are comments."""
    return {
        c["metadata"]["nbgrader"]["grade_id"]: _source(c)
        for c in notebook_cells(path)
        if c["metadata"].get("nbgrader", {}).get("solution")
    }


def visible_problem(source: str, namespace: dict[str, Any]) -> str | None:
    """None if a graded cell's visible code runs without error, else what it raised."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            exec(compile(source, "<visible>", "exec"), dict(namespace))
    except Exception as error:  # anything that stops the cell: the student sees an error, not a confirmation
        return f"{type(error).__name__}: {error}"
    return None


def hidden_problems(spec: AssignmentSpec, secret: bytes, cell: str, namespace: dict[str, Any],
                    students: tuple[str, ...] = STUDENTS) -> list[str]:
    """The hidden cases of ``cell`` that fail, for every student in ``students``."""
    part = next(p for p in spec.parts if p.cell == cell)
    function = namespace[part.function]
    problems = []
    for student in students:
        for index, case in enumerate(part.cases):
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    problem = case_problem(function, part, case, case_rng(secret, student, cell, index))
            except Exception as error:
                problems.append(f"{case.name}: raised {type(error).__name__}: {error}")
                continue
            if problem is not None:
                problems.append(f"{case.name}: {problem}")
    return problems


def hidden_score(spec: AssignmentSpec, secret: bytes, namespace: dict[str, Any], student: str = "student") -> float:
    """The score the hidden cases give (partial credit per case, as the grader computes it)."""
    total = 0.0
    for part in spec.parts:
        failed = len(hidden_problems(spec, secret, part.cell, namespace, (student,)))
        total += part.points * (len(part.cases) - failed) / len(part.cases)
    return total
