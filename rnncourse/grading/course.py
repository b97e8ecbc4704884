"""The course folder as nbgrader sees it: ``solutions/`` (source) and ``exercises/`` (release).

Every nbgrader run here happens in a subprocess so that a broken notebook cannot take the
caller down, and runs that only need a scratch gradebook get a private temporary course
folder, so the instructor's ``gradebook.db`` is never touched by a check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "NotebookScore",
    "assignments",
    "autograde_notebook",
    "course_root",
    "filled_in",
    "generate_assignment",
    "notebooks",
    "read_json",
    "run_nbgrader",
    "scratch_course",
]

CONFIG_FILE = "nbgrader_config.py"


def course_root(start: Path | None = None) -> Path:
    """The folder holding ``nbgrader_config.py``: ``start`` (default: the working directory) or a parent of it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() and (folder / "solutions").is_dir():
            return folder
    raise FileNotFoundError(
        f"no course folder (with {CONFIG_FILE} and solutions/) at or above {here}; "
        "run this from the repository root"
    )


def assignments(root: Path) -> list[str]:
    """Names of the assignments: the sub-folders of ``solutions/`` that hold a notebook."""
    return sorted(p.name for p in (root / "solutions").iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def notebooks(root: Path, assignment: str) -> list[str]:
    """Notebook names (without ``.ipynb``) of one assignment, from ``solutions/``."""
    return sorted(p.stem for p in (root / "solutions" / assignment).glob("*.ipynb"))


def run_nbgrader(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    # nbgrader runs the `alembic` script of its own environment by name.
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(
            f"`nbgrader {' '.join(args)}` failed with exit code {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def scratch_course(root: Path, assignment: str, workdir: Path) -> Path:
    """A private course folder in ``workdir`` with the course config and one assignment's source."""
    scratch = workdir / "course"
    (scratch / "solutions").mkdir(parents=True)
    shutil.copy2(root / CONFIG_FILE, scratch / CONFIG_FILE)
    shutil.copytree(root / "solutions" / assignment, scratch / "solutions" / assignment)
    return scratch


def generate_assignment(root: Path, assignment: str, destination: Path | None = None) -> Path:
    """Generate the student version of ``assignment`` with nbgrader.

    Into ``root/exercises/<assignment>`` by default (replacing what is there), or into
    ``destination/<assignment>`` for a comparison. Uses a scratch gradebook either way.
    Returns the folder written.
    """
    with tempfile.TemporaryDirectory(prefix="rnncourse-release-") as tmp:
        scratch = scratch_course(root, assignment, Path(tmp))
        run_nbgrader(scratch, "generate_assignment", assignment, "--force")
        produced = scratch / "exercises" / assignment
        target_parent = destination if destination is not None else root / "exercises"
        target = target_parent / assignment
        if target.exists():
            shutil.rmtree(target)
        target_parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(produced, target)
    return target


@dataclass(frozen=True)
class NotebookScore:
    """nbgrader's verdict on one notebook: points, the maximum, and per-cell points."""

    score: float
    max_score: float
    cells: dict[str, tuple[float, float]]


def autograde_notebook(root: Path, assignment: str, notebook: Path, student: str = "check") -> NotebookScore:
    """Autograde one notebook file as ``student``'s submission of ``assignment`` in a scratch course.

    This is plain ``nbgrader autograde``: the notebook runs in a kernel as this user. It is
    what the pipeline checks use on the course's own notebooks; untrusted submissions go
    through ``rnncourse grade`` instead.
    """
    from nbgrader.api import Gradebook

    with tempfile.TemporaryDirectory(prefix="rnncourse-autograde-") as tmp:
        scratch = scratch_course(root, assignment, Path(tmp))
        run_nbgrader(scratch, "generate_assignment", assignment, "--force")
        submitted = scratch / "submitted" / student / assignment
        submitted.mkdir(parents=True)
        name = (root / "solutions" / assignment / notebook.name).name
        shutil.copy2(notebook, submitted / name)
        (submitted / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC\n")
        run_nbgrader(scratch, "autograde", assignment, "--create", "--force", f"--student={student}")
        with Gradebook(f"sqlite:///{scratch / 'gradebook.db'}") as gradebook:
            submission = gradebook.find_submission_notebook(Path(name).stem, assignment, student)
            cells = {
                grade.cell.name: (float(grade.score), float(grade.max_score))
                for grade in submission.grades
                if grade.max_score > 0
            }
            return NotebookScore(float(submission.score), float(submission.max_score), cells)


def read_json(path: Path) -> dict:
    """A notebook file as a dict."""
    return json.loads(path.read_text(encoding="utf-8"))


def filled_in(root: Path, assignment: str, notebook: str | None = None) -> dict:
    """The released notebook with every answer cell replaced by the instructor's solution:
    what a perfect student would hand in."""
    name = notebook or notebooks(root, assignment)[0]
    released = read_json(root / "exercises" / assignment / f"{name}.ipynb")
    solution = read_json(root / "solutions" / assignment / f"{name}.ipynb")
    answers = {
        c["metadata"]["nbgrader"]["grade_id"]: c["source"]
        for c in solution["cells"]
        if c["metadata"].get("nbgrader", {}).get("solution")
    }
    for cell in released["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers and cell["metadata"]["nbgrader"].get("solution"):
            cell["source"] = answers[gid]
    return released
