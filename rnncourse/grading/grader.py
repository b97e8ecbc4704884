"""Grade one submission: the unit of work, plain data in and plain data out.

:func:`grade_unit` takes a :class:`GradingUnit` (paths and names, JSON-serialisable) and returns a
:class:`SubmissionResult` (also plain data). It touches no gradebook and no shared state, so a
batch can run units in threads here or ship them to a cluster unchanged.
"""

from __future__ import annotations

import json
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

__all__ = ["CaseResult", "GradingUnit", "PartResult", "SubmissionResult", "grade_unit", "poisoned_names", "zero_parts"]

SETUP_TIMEOUT = 60.0
MAX_RUNS = 12


@dataclass(frozen=True)
class GradingUnit:
    """One submission to grade. Every field is plain data."""

    root: str  # the course folder
    assignment: str
    student: str
    submission: str  # the student's folder
    slot: int = 0  # parallel slot: picks the sandbox user
    limits: dict[str, Any] = field(default_factory=dict)
    #: Grade without a sandbox where none can be built (the instructor said so explicitly).
    unsafe: bool = False


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
    #: What went wrong in the student's cells, e.g. ``"code cell softmax: NameError: ... (line 3)"``.
    errors: list[str] = field(default_factory=list)
    #: Harmless facts for the feedback (magics not run, metadata missing); not part of the status.
    info: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def zero_parts(spec: AssignmentSpec) -> list[PartResult]:
    """Every graded cell at zero: the result of a submission that could not be graded."""
    return [PartResult(p.cell, p.function, p.points, 0.0, []) for p in spec.parts]


@lru_cache(maxsize=16)
def _instructor(root: str, assignment: str) -> tuple[AssignmentSpec, bytes, str]:
    spec, secret = load_spec(Path(root), assignment)
    # submissions are compared with what students were given: the released notebook
    released = (Path(root) / "exercises" / assignment / f"{spec.notebook}.ipynb").read_text(encoding="utf-8")
    return spec, secret, released


def poisoned_names(spec: AssignmentSpec) -> list[str]:
    """Forbidden names inside allowed packages that every part forbids (by that name or a module above
    it: a NumPy part that forbids all of ``torch`` forbids ``torch.nn.LSTM`` too): stubbed out in the sandbox."""
    allowed = {name.replace("-", "_") for name in spec.packages}
    named = {name for part in spec.parts for name in part.forbidden}
    return sorted(
        name for name in named
        if "." in name and name.split(".")[0] in allowed
        and all(analysis.is_forbidden(name, part.forbidden) for part in spec.parts)
    )


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
        return f"time budget ({limits.wall_seconds:g} s for the whole notebook) used up in {step_label}"
    if run.killed == "memory":
        return f"memory limit ({limits.memory_mb} MB for all processes together) reached in {step_label}"
    if run.killed == "processes":
        return f"process limit ({limits.processes}) reached in {step_label}"
    if run.killed == "output":
        return f"output limit ({limits.output_mb} MB) reached in {step_label}"
    if run.returncode is not None and run.returncode < 0:
        return f"process killed by signal {-run.returncode} in {step_label}"
    return f"process exited (code {run.returncode}) in {step_label}"


def _to_wire(value: Any, tensors: bool) -> dict[str, Any]:
    if isinstance(value, dict):  # named arrays (an exercise's ``params``): each entry encoded on its own
        return {"kind": "dict", "items": {str(key): _to_wire(item, tensors) for key, item in value.items()}}
    return encode_array(value if isinstance(value, (bool, int, float)) else np.asarray(value), tensor=tensors)


def _to_numpy(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_to_numpy(v) for v in value)
    return value.detach().cpu().double().numpy()


def _flat(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [v for item in value for v in _flat(item)]
    return [value]


def _reference(case: Case, args: list[Any], rng: np.random.Generator | None = None) -> tuple[Any, Any, list[np.ndarray]]:
    """The expected result, computed here (never in the sandbox), as float64 arrays; with
    ``case.gradients``, also the expected gradients and the probes that weight the outputs."""
    if case.tensors:
        import torch

        targs = [torch.from_numpy(a.copy()) if isinstance(a, np.ndarray) else a for a in args]
        for i in case.gradients:
            targs[i].requires_grad_(True)
        value = case.reference(*targs)
        if not case.gradients:
            return _to_numpy(value), None, []
        assert rng is not None
        outputs = _flat(value)
        probes = [rng.standard_normal(tuple(o.shape)) for o in outputs]
        total = sum((o * torch.from_numpy(p).to(o.dtype)).sum() for o, p in zip(outputs, probes))
        grads = torch.autograd.grad(total, [targs[i] for i in case.gradients], allow_unused=True)
        expected = tuple(
            np.zeros(targs[i].shape) if g is None else g.detach().cpu().double().numpy()
            for i, g in zip(case.gradients, grads)
        )
        return _to_numpy(value), expected, probes
    return case.reference(*[_fresh(a) for a in args]), None, []


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def compare_gradients(record: dict[str, Any], expected: tuple[np.ndarray, ...], case: Case) -> str | None:
    """None if the gradients the sandbox sent back match ``expected``; otherwise what differs."""
    if isinstance(record.get("gradient_error"), str):
        return f"the gradients could not be computed: {record['gradient_error'][:400]}"
    grads = decode_value(record.get("gradients"), container="tensor")
    if not isinstance(grads, tuple) or len(grads) != len(expected):
        return "the gradients could not be read back"
    for position, g, e in zip(case.gradients, grads, expected):
        what = f"the gradient with respect to the {_ordinal(position + 1)} argument"
        if isinstance(g, str) and "NoneType" in g:
            if not np.any(e):
                continue
            return f"{what} is missing: the result does not depend on that argument through autograd"
        problem = _compare(g, e, case, what, "")
        if problem:
            return problem
    return None


def _plain_arg(value: Any) -> Any:
    """An argument as it is sent: Python numbers as they are, boolean arrays as bool (a mask), integer arrays as
    int64 (token ids), any other array as float64, and a dict (named arrays) entry by entry."""
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(key): _plain_arg(item) for key, item in value.items()}
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array.copy()
    return array.astype(np.int64 if array.dtype.kind in "iu" else np.float64)


def _draw_args(case: Case, rng: np.random.Generator) -> list[Any]:
    return [_plain_arg(a) for a in case.make_args(rng)]


def _fresh(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _fresh(item) for key, item in value.items()}
    return value.copy() if isinstance(value, np.ndarray) else value


def grade_unit(unit: GradingUnit) -> SubmissionResult:
    """Grade one submission. Never raises for anything the submission does."""
    started = time.monotonic()
    spec, secret, released_text = _instructor(unit.root, unit.assignment)
    limits = Limits(**unit.limits)
    result = SubmissionResult(
        student=unit.student, assignment=unit.assignment, notebook=spec.notebook, score=0.0,
        max_score=spec.max_score, status="ok", parts=[], notes=[], sandbox=sandbox_mode(), seconds=0.0,
    )
    try:
        path, notes = find_notebook(Path(unit.submission), spec.notebook)
        result.notes += notes
        submitted = load_notebook(path)
    except SubmissionError as error:
        result.parts, result.status = zero_parts(spec), str(error)
        result.seconds = time.monotonic() - started
        return result
    program = build_program(json.loads(released_text), submitted)
    result.notes += program.notes
    result.info += list(dict.fromkeys(program.info))

    # static check of delegation, in this process, on the student's code only:
    # one analysis per distinct list of forbidden names
    student_python = [source for _, source in program.cells]
    by_forbidden: dict[tuple[str, ...], list[str]] = {}
    for part in spec.parts:
        by_forbidden.setdefault(part.forbidden, []).append(part.function)
    found = {
        forbidden: analysis.find_delegation(student_python, functions, forbidden, program.setup)
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
        steps.append({"id": f"setup{i}", "kind": "setup", "source": statement, "label": "<setup>"})
        timeouts[f"setup{i}"] = SETUP_TIMEOUT
        labels[f"setup{i}"] = "the notebook's setup"
    for i, (label, source) in enumerate(program.cells):
        steps.append({"id": f"cell{i}", "kind": "cell", "source": source, "label": f"<cell {label}>"})
        timeouts[f"cell{i}"] = limits.cell_timeout or spec.cell_timeout
        labels[f"cell{i}"] = f"code cell {label}"
    expected: dict[str, Any] = {}  # step id -> the reference result, computed here
    expected_gradients: dict[str, Any] = {}
    for part in spec.parts:
        if part.cell in delegations:
            continue
        for j, case in enumerate(part.cases):
            rng = case_rng(secret, unit.student, part.cell, j)
            args = _draw_args(case, rng)
            step_id = f"{part.cell}#{j}"
            step = {"id": step_id, "kind": "call", "function": part.function, "args": [_to_wire(a, case.tensors) for a in args]}
            expected[step_id], expected_gradients[step_id], probes = _reference(case, args, rng)
            if case.gradients:
                step.update(wrt=list(case.gradients), probe=[encode_array(p, tensor=True) for p in probes])
            steps.append(step)
            timeouts[step_id] = limits.call_timeout or spec.call_timeout
            labels[step_id] = f"{part.function}() ({case.name})"

    # run, and after a crash or timeout run again without the step that failed, within one time budget
    ends: dict[str, dict[str, Any]] = {}
    failed: dict[str, str] = {}
    skip: set[str] = set()
    job_base = {"poison": poisoned_names(spec)}
    deadline = time.monotonic() + limits.wall_seconds  # the budget is for the student's code, from here
    for attempt in range(MAX_RUNS):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        job = {**job_base, "steps": steps, "skip": sorted(skip)}
        run = run_worker(job, timeouts, limits, unit.slot, spec.packages, wall_seconds=remaining, unsafe=unit.unsafe)
        result.runs = attempt + 1
        for record in run.records:
            step = record.get("end")
            if isinstance(step, str) and step in timeouts and step not in ends and step not in failed:
                ends[step] = record
        if run.done and run.in_flight is None:
            break
        culprit = run.in_flight
        if culprit is None or culprit not in timeouts or culprit in failed:
            remaining_steps = [s["id"] for s in steps if s["id"] not in ends and s["id"] not in failed and s["id"] not in skip]
            culprit = remaining_steps[0] if remaining_steps else None
        if culprit is None:
            break
        failed[culprit] = _runtime_note(run, labels[culprit], limits)
        skip |= {culprit} | {s for s in ends if s in expected}
        if run.killed == "wall time":
            break
        if limits.wall_seconds - (deadline - time.monotonic()) > limits.wall_seconds / 2:  # keep the rest for the calls
            rest = [s["id"] for s in steps if s["id"] not in expected and s["id"] not in ends and s["id"] not in skip and s["id"] not in failed]
            if rest:
                skip |= set(rest)
                result.notes.append(
                    f"{len(rest)} cell(s) after {labels[culprit]} not run: half the time budget "
                    f"({limits.wall_seconds:g} s) was used up, the rest is kept for grading your functions"
                )

    result.notes += list(failed.values())
    if result.runs == 0:
        result.notes.append(f"not run: the time budget ({limits.wall_seconds:g} s) was used up")
    for step, record in ends.items():
        error = record.get("error")
        if isinstance(error, str) and step.startswith(("cell", "setup")):
            if "MemoryError" in error:
                result.notes.append(f"memory limit reached in {labels[step]} (MemoryError)")
            elif "File too large" in error:
                result.notes.append(f"file size limit ({limits.file_size_mb} MB) reached in {labels[step]}")
            elif "No space left on device" in error:
                result.notes.append(f"disk quota ({limits.disk_mb} MB) reached in {labels[step]}")
            if step.startswith("cell"):
                result.errors.append(f"{labels[step]}: {error[:400]}")

    total = 0.0
    for part in spec.parts:
        part_result = PartResult(part.cell, part.function, part.points, 0.0, [])
        if part.cell in delegations:
            part_result.delegation = delegations[part.cell]
            part_result.cases = [CaseResult(c.name, False, "not graded: the function is not your own code") for c in part.cases]
        else:
            for j, case in enumerate(part.cases):
                step_id = f"{part.cell}#{j}"
                record = ends.get(step_id)
                if step_id in failed:
                    part_result.cases.append(CaseResult(case.name, False, failed[step_id]))
                elif record is None:
                    part_result.cases.append(CaseResult(case.name, False, "not run (an earlier step stopped the notebook or the time budget ran out)"))
                elif isinstance(record.get("error"), str):
                    part_result.cases.append(CaseResult(case.name, False, f"raised {record['error'][:400]}"))
                else:
                    try:
                        value = decode_value(
                            record.get("value"), container="tensor" if case.tensors else "ndarray",
                            integers=part.integer_result,
                        )
                        problem = compare_result(value, expected[step_id], case, part=part)
                        if problem is None and case.gradients:
                            problem = compare_gradients(record, expected_gradients[step_id], case)
                    except (WireError, ValueError, TypeError, OverflowError, MemoryError) as error:
                        problem = f"the result could not be read back ({type(error).__name__})"
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
