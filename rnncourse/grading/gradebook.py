"""Writing results into nbgrader's own gradebook, from the coordinating process only.

The gradebook is nbgrader's SQLite database (``gradebook.db`` in the course folder by
default), so ``nbgrader export``, the formgrader and manual grading keep working. Each result
touches only its own student's rows; manual scores an instructor entered are kept.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from rnncourse.grading.course import run_nbgrader, scratch_course
from rnncourse.grading.grader import SubmissionResult

__all__ = ["default_db_url", "ensure_assignment", "record_result"]

COURSE_ID = "rnncourse"


def default_db_url(root: Path) -> str:
    return f"sqlite:///{root / 'gradebook.db'}"


def ensure_assignment(root: Path, assignment: str, db_url: str) -> None:
    """Register the assignment, its notebooks and graded cells in the gradebook (idempotent)."""
    with tempfile.TemporaryDirectory(prefix="rnncourse-register-") as tmp:
        scratch = scratch_course(root, assignment, Path(tmp))
        run_nbgrader(scratch, "generate_assignment", assignment, "--force", f"--CourseDirectory.db_url={db_url}")
        shutil.rmtree(scratch, ignore_errors=True)


def record_result(db_url: str, result: SubmissionResult) -> None:
    """Store one student's automatic scores (one transaction)."""
    with warnings.catch_warnings(), Gradebook(db_url, COURSE_ID) as gradebook:
        warnings.simplefilter("ignore")  # nbgrader's own SQLAlchemy autoflush notices
        gradebook.update_or_create_student(result.student)
        try:
            gradebook.find_submission(result.assignment, result.student)
        except MissingEntry:
            gradebook.add_submission(result.assignment, result.student)
        for part in result.parts:
            grade = gradebook.find_grade(part.cell, result.notebook, result.assignment, result.student)
            grade.auto_score = part.score
        gradebook.db.commit()
