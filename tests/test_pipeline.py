"""The nbgrader pipeline: exercises/ is generated from solutions/, solutions score full marks,
released stubs run and score zero, and nothing secret reaches the students."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from rnncourse.grading import course
from _notebooks import MARKERS, ROOT, cell_sources, secret_lines


ASSIGNMENTS = course.assignments(ROOT)
NOTEBOOKS = [(a, n) for a in ASSIGNMENTS for n in course.notebooks(ROOT, a)]


def test_every_assignment_has_a_released_version_and_a_toc_entry():
    assert ASSIGNMENTS, "no assignments found in solutions/"
    toc = (ROOT / "_toc.yml").read_text()
    for assignment, name in NOTEBOOKS:
        assert (ROOT / "exercises" / assignment / f"{name}.ipynb").is_file()
        assert f"exercises/{assignment}/{name}" in toc


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_committed_exercises_equal_a_fresh_generation(assignment, tmp_path):
    course.generate_assignment(ROOT, assignment, destination=tmp_path)
    fresh = sorted(p.relative_to(tmp_path / assignment) for p in (tmp_path / assignment).rglob("*") if p.is_file())
    committed_dir = ROOT / "exercises" / assignment
    committed = sorted(p.relative_to(committed_dir) for p in committed_dir.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    assert fresh == committed, "exercises/ has different files from a fresh release: run `make release`"
    for relative in fresh:
        assert (tmp_path / assignment / relative).read_bytes() == (committed_dir / relative).read_bytes(), (
            f"exercises/{assignment}/{relative} differs from what nbgrader generates from solutions/: run `make release`"
        )


@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_scores_full_marks(assignment, name):
    result = course.autograde_notebook(ROOT, assignment, ROOT / "solutions" / assignment / f"{name}.ipynb")
    assert result.max_score >= 3 and len(result.cells) >= 3, "an exercise has at least three graded parts"
    failed = {cell: points for cell, points in result.cells.items() if points[0] != points[1]}
    assert not failed, f"solution lost points in {failed}"
    assert result.score == result.max_score


@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_released_stub_scores_zero(assignment, name):
    result = course.autograde_notebook(ROOT, assignment, ROOT / "exercises" / assignment / f"{name}.ipynb")
    assert result.max_score > 0
    assert result.score == 0, f"an unanswered notebook earned points: {result.cells}"


@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_released_exercise_runs_and_fails_only_where_work_is_asked(assignment, name, tmp_path):
    """A student who runs everything before writing code sees setup work and every check say 'not implemented'."""
    notebook = nbformat.read(ROOT / "exercises" / assignment / f"{name}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": str(tmp_path)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if meta.get("grade"):
            # every check of an unanswered part fails, and says it is unanswered
            assert [e.ename for e in errors] in (["NotImplementedError"], ["SelfCheckError"]), cell.source
            assert errors[0].ename == "NotImplementedError" or "not implemented" in errors[0].evalue
            continue
        assert not errors, f"a setup cell of {name} fails for students: {errors[0].ename}: {errors[0].evalue}"


@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_no_solution_or_hidden_test_in_exercises(assignment, name):
    solution = ROOT / "solutions" / assignment / f"{name}.ipynb"
    secrets = secret_lines(solution, "solution") + secret_lines(solution, "hidden")
    assert secrets, "the solution notebook has no solution or hidden-test lines to protect"
    released = (ROOT / "exercises" / assignment / f"{name}.ipynb").read_text(encoding="utf-8")
    released_code = "\n".join(cell_sources(ROOT / "exercises" / assignment / f"{name}.ipynb"))
    for marker in [m for pair in MARKERS.values() for m in pair]:
        assert marker not in released
    leaked = [line for line in secrets if line in released_code]
    assert not leaked, f"released notebook shows secret lines: {leaked}"


@pytest.mark.parametrize("assignment, name", NOTEBOOKS)
def test_solution_notebook_is_valid_nbgrader_source(assignment, name):
    notebook = json.loads((ROOT / "solutions" / assignment / f"{name}.ipynb").read_text())
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in notebook["cells"] if "nbgrader" in c["metadata"]]
    assert len(ids) == len(set(ids)), "grade_id values must be unique"
    for cell in notebook["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade"):
            assert meta.get("points", 0) > 0 and meta.get("locked"), cell["source"]
        assert not cell.get("outputs"), "commit solution notebooks without outputs"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_grading_spec_matches_the_notebook(assignment):
    """Every graded cell has exactly one spec part with the same points, and nothing else does."""
    from rnncourse.grading.spec import load_spec

    spec, secret = load_spec(ROOT, assignment)
    notebook = json.loads((ROOT / "solutions" / assignment / f"{spec.notebook}.ipynb").read_text())
    graded = {
        c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"]["points"]
        for c in notebook["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade")
    }
    assert {p.cell: p.points for p in spec.parts} == graded
    assert all(p.cases for p in spec.parts) and len(secret) == 32
    assert not (ROOT / "exercises" / assignment / "grading.py").exists(), "the grading spec must not be released"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructor_commands_from_the_command_line(assignment, tmp_path):
    """`python -m rnncourse grade` grades a folder end to end; `export` writes nbgrader's CSV."""
    import subprocess
    import sys

    (tmp_path / "class" / "perfect").mkdir(parents=True)
    (tmp_path / "class" / "perfect" / f"{course.notebooks(ROOT, assignment)[0]}.ipynb").write_text(
        json.dumps(course.filled_in(ROOT, assignment))
    )
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    graded = subprocess.run(
        [sys.executable, "-m", "rnncourse", "grade", assignment, str(tmp_path / "class"), "--workers", "1",
         "--out", str(tmp_path / "out"), "--db", db, "--autograded", str(tmp_path / "autograded")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert graded.returncode == 0, graded.stderr
    assert "[1/1] perfect" in graded.stderr
    rows = (tmp_path / "out" / "grades.csv").read_text().splitlines()
    assert rows[1].startswith(f"perfect,{assignment},") and ",ok," in rows[1]
    exported = subprocess.run(
        [sys.executable, "-m", "rnncourse", "export", "--to", str(tmp_path / "export.csv"), "--db", db],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert exported.returncode == 0, exported.stderr
    assert "perfect" in (tmp_path / "export.csv").read_text()
