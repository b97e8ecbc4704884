"""Grade one submission: the unit of work, plain data in and plain data out.

:func:`grade_unit` takes a :class:`GradingUnit` (paths and names, JSON-serialisable) and returns a
:class:`SubmissionResult` (also plain data). It touches no gradebook and no shared state, so a
batch can run units in threads here or ship them to a cluster unchanged.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rnncourse.checks import SelfCheckError, check_array
from rnncourse.grading import analysis
from rnncourse.grading.notebook import SubmissionError, build_program, find_notebook, load_notebook
from rnncourse.grading.sandbox import Limits, WorkerRun, run_worker, sandbox_mode
from rnncourse.grading.spec import AssignmentSpec, Case, Part, case_rng, load_spec
from rnncourse.grading.wire import WireError, decode_value, encode_array

__all__ = ["CaseResult", "GradingUnit", "PartResult", "SubmissionResult", "grade_unit"]

SETUP_TIMEOUT = 60.0
MAX_RUNS = 12


@dataclass(frozen=True)
class GradingUnit:
    """One submission to grade. Every field is plain data."""

    root: str  # the course folder
    assignment: str
    student: str
    submission: str  # the student's folder
    scratch: str  # a private working folder for this unit
    slot: int = 0  # parallel slot: picks the sandbox user
    limits: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str


@dataclass
class PartResult:
    cell: str
    function: str
    points: float
    score: float
    cases: list[CaseResult]
    delegation: str | None = None


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    notebook: str
    score: float
    max_score: float
    status: str
    parts: list[PartResult]
    notes: list[str]
    sandbox: str
    seconds: float
    runs: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=16)
def _instructor(root: str, assignment: str) -> tuple[AssignmentSpec, bytes, str]:
    spec, secret = load_spec(Path(root), assignment)
    # submissions are compared with what students were given: the released notebook
    released = (Path(root) / "exercises" / assignment / f"{spec.notebook}.ipynb").read_text(encoding="utf-8")
    return spec, secret, released


def hidden_packages(forbidden: set[str]) -> list[Path]:
    """Folders of forbidden packages importable here (hidden from the sandbox); never imports them."""
    hidden = []
    for name in sorted(forbidden):
        try:
            found = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            found = None
        for location in (found.submodule_search_locations or []) if found else []:
            path = Path(location)
            if path.is_dir():
                hidden.append(path)
    return hidden


def compare_result(value: Any, expected: Any, case: Case, what: str = "the result", part: Part | None = None) -> str | None:
    """None if ``value`` matches ``expected``; otherwise a sentence saying what differs.

    ``part`` supplies the self-check's diagnosis of typical mistakes and its hint, so the graded
    feedback says what the visible check says.
    """
    if part is not None and part.diagnose is not None:
        problem = part.diagnose(value, expected)
        if problem:
            return problem
    return _compare(value, expected, case, what, part.hint if part is not None else "")


def _compare(value: Any, expected: Any, case: Case, what: str, hint: str) -> str | None:
    if isinstance(expected, tuple):
        if not isinstance(value, tuple):
            return f"{what} should be a tuple of {len(expected)} arrays, got {value if isinstance(value, str) else 'an array'}"
        if len(value) != len(expected):
            return f"{what} should have {len(expected)} items, got {len(value)}"
        for i, (v, e) in enumerate(zip(value, expected)):
            problem = _compare(v, e, case, f"item {i} of the result", hint)
            if problem:
                return problem
        return None
    expected = np.asarray(expected, dtype=np.float64)
    if isinstance(value, str):
        return f"{what} is {value}; expected a NumPy float array of shape {expected.shape}"
    if isinstance(value, tuple):
        return f"{what} is a tuple; expected one array of shape {expected.shape}"
    try:  # the same shape, finiteness and tolerance checks (and messages) as the students' self-checks
        check_array(what, value, expected, rtol=case.rtol, atol=case.atol, hint=hint)
    except SelfCheckError as problem:
        return str(problem)
    return None


def _runtime_note(run: WorkerRun, step_label: str, limits: Limits) -> str:
    if run.killed == "step timeout":
        return f"timeout in {step_label}"
    if run.killed == "wall time":
        return f"wall-time limit ({limits.wall_seconds:g} s) reached in {step_label}"
    if run.returncode is not None and run.returncode < 0:
        return f"process killed by signal {-run.returncode} in {step_label}"
    return f"process exited (code {run.returncode}) in {step_label}"


def grade_unit(unit: GradingUnit) -> SubmissionResult:
    """Grade one submission. Never raises for anything the submission does."""
    started = time.monotonic()
    spec, secret, released_text = _instructor(unit.root, unit.assignment)
    limits = Limits(**unit.limits)
    result = SubmissionResult(
        student=unit.student, assignment=unit.assignment, notebook=spec.notebook, score=0.0,
        max_score=spec.max_score, status="ok", parts=[], notes=[], sandbox=sandbox_mode(), seconds=0.0,
    )
    empty_parts = [PartResult(p.cell, p.function, p.points, 0.0, []) for p in spec.parts]
    try:
        path, notes = find_notebook(Path(unit.submission), spec.notebook)
        result.notes += notes
        submitted = load_notebook(path)
    except SubmissionError as error:
        result.parts, result.status = empty_parts, str(error)
        result.seconds = time.monotonic() - started
        return result
    program = build_program(json.loads(released_text), submitted)
    result.notes += program.notes

    # static check of delegation, in this process, on the student's source only:
    # one analysis per distinct list of forbidden modules
    student_python = [analysis.to_python(src) for _, src in program.cells]
    by_forbidden: dict[tuple[str, ...], list[str]] = {}
    for part in spec.parts:
        by_forbidden.setdefault(part.forbidden, []).append(part.function)
    found = {
        forbidden: analysis.find_delegation(student_python, functions, forbidden)
        for forbidden, functions in by_forbidden.items()
    }
    delegations = {
        part.cell: found[part.forbidden][part.function].reason
        for part in spec.parts
        if part.function in found[part.forbidden]
    }

    # the job: setup statements, student cells, then every call with freshly drawn arguments
    steps: list[dict[str, Any]] = []
    timeouts: dict[str, float] = {}
    labels: dict[str, str] = {}
    for i, statement in enumerate(program.setup):
        steps.append({"id": f"setup{i}", "kind": "setup", "source": statement})
        timeouts[f"setup{i}"] = SETUP_TIMEOUT
        labels[f"setup{i}"] = "the notebook's setup"
    for i, (label, source) in enumerate(program.cells):
        steps.append({"id": f"cell{i}", "kind": "cell", "source": source})
        timeouts[f"cell{i}"] = limits.cell_timeout or spec.cell_timeout
        labels[f"cell{i}"] = f"code cell {label}"
    expected: dict[str, Any] = {}  # step id -> the reference result, computed here
    for part in spec.parts:
        if part.cell in delegations:
            continue
        for j, case in enumerate(part.cases):
            args = [np.array(a, dtype=np.float64) for a in case.make_args(case_rng(secret, unit.student, part.cell, j))]
            step_id = f"{part.cell}#{j}"
            steps.append({"id": step_id, "kind": "call", "function": part.function, "args": [encode_array(a) for a in args]})
            expected[step_id] = case.reference(*[a.copy() for a in args])
            timeouts[step_id] = limits.call_timeout or spec.call_timeout
            labels[step_id] = f"{part.function}() ({case.name})"

    # run, and after a crash or timeout run again without the step that failed
    ends: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    # whole packages that no part may use are absent from the sandbox (rnncourse is never mounted)
    forbidden_everywhere = set.intersection(*({n for n in part.forbidden if "." not in n} for part in spec.parts))
    hide = hidden_packages(forbidden_everywhere - {"rnncourse"})
    skip: set[str] = set()
    for attempt in range(MAX_RUNS):
        job = {"steps": steps, "skip": sorted(skip)}
        run = run_worker(job, Path(unit.scratch), timeouts, limits, unit.slot, hide)
        result.runs = attempt + 1
        for record in run.records:
            step = record.get("end")
            if isinstance(step, str) and step in timeouts and step not in ends and step not in failed:
                ends[step] = record
        if run.done and run.in_flight is None:
            break
        culprit = run.in_flight
        if culprit is None or culprit not in timeouts or culprit in failed:
            remaining = [s["id"] for s in steps if s["id"] not in ends and s["id"] not in failed and s["id"] not in skip]
            culprit = remaining[0] if remaining else None
        if culprit is None:
            break
        failed[culprit] = _runtime_note(run, labels[culprit], limits)
        skip |= {culprit} | {s for s in ends if s in expected}
    shutil.rmtree(unit.scratch, ignore_errors=True)

    result.notes += list(failed.values())
    for step, record in ends.items():
        error = record.get("error")
        if isinstance(error, str) and step.startswith(("cell", "setup")):
            if "MemoryError" in error:
                result.notes.append(f"memory limit ({limits.memory_mb} MB) reached in {labels[step]}")
            elif "File too large" in error:
                result.notes.append(f"output limit ({limits.file_size_mb} MB) reached in {labels[step]}")

    total = 0.0
    for part in spec.parts:
        part_result = PartResult(part.cell, part.function, part.points, 0.0, [])
        if part.cell in delegations:
            part_result.delegation = delegations[part.cell]
            part_result.cases = [CaseResult(c.name, False, "not graded: the function is not your own code") for c in part.cases]
        else:
            for j, case in enumerate(part.cases):
                step_id = f"{part.cell}#{j}"
                reference = expected[step_id]
                record = ends.get(step_id)
                if step_id in failed:
                    part_result.cases.append(CaseResult(case.name, False, failed[step_id]))
                elif record is None:
                    part_result.cases.append(CaseResult(case.name, False, "not run (an earlier step stopped the notebook)"))
                elif isinstance(record.get("error"), str):
                    part_result.cases.append(CaseResult(case.name, False, f"raised {record['error'][:300]}"))
                else:
                    try:
                        value = decode_value(record.get("value"))
                        problem = compare_result(value, reference, case, part=part)
                    except (WireError, ValueError, TypeError) as error:
                        problem = f"the result could not be read back ({error})"
                    part_result.cases.append(CaseResult(case.name, problem is None, problem or "correct"))
            passed = sum(c.passed for c in part_result.cases)
            part_result.score = round(part.points * passed / len(part.cases), 4) if part.cases else 0.0
        total += part_result.score
        result.parts.append(part_result)
    result.score = round(total, 4)
    delegated = [f"reference used in {p.function}()" for p in result.parts if p.delegation]
    problems = result.notes + delegated
    result.status = "ok" if not problems else "; ".join(dict.fromkeys(problems))
    result.seconds = time.monotonic() - started
    return result
