"""`rnncourse grade --db URL` with a real PostgreSQL server (issue 12, point 2): the same grades as SQLite.

The fixture starts Debian's PostgreSQL (``make env`` installs the ``postgresql`` package as root) on a free
loopback port with a throw-away cluster in a temporary folder, and stops it afterwards. PostgreSQL refuses to
run as root, so as root the server runs as the ``postgres`` user the package creates. The tests skip, saying
why, only where no PostgreSQL can be found or psycopg2 is missing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import ServiceUnavailable, postgres_server
from corpus import ASSIGNMENT, CORPUS, ROOT

from rnncourse.grading.batch import grade_batch

FAST = {"call_timeout": 2.0, "cell_timeout": 4.0, "wall_seconds": 60.0, "memory_mb": 1024}
ENTRIES = {entry.name: entry for entry in CORPUS}
# honest, wrong and unfinished: rows with different scores for the gradebook to record
STUDENTS = ("correct", "wrong", "stub")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    try:
        with postgres_server() as url:
            yield url
    except ServiceUnavailable as reason:
        pytest.skip(str(reason))


def _grade(tmp: Path, db_url: str) -> tuple[str, dict]:
    submissions = tmp / "class"
    if not submissions.exists():
        for name in STUDENTS:
            ENTRIES[name].write(submissions / name)
    out = tmp / ("out-" + db_url.split(":", 1)[0].replace("+", "-"))
    results = grade_batch(ROOT, ASSIGNMENT, submissions, out, workers=2, db_url=db_url, limits=FAST,
                          autograded=tmp / "autograded", progress=io.StringIO())
    return (out / "grades.csv").read_text(), {r.student: r.score for r in results}


def _gradebook_scores(db_url: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from rnncourse.grading.gradebook import COURSE_ID

    with Gradebook(db_url, COURSE_ID) as gradebook:
        return {s.student_id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}


def test_postgres_gradebook_gives_the_same_grades_as_sqlite(postgres_url, tmp_path):
    sqlite_csv, sqlite_scores = _grade(tmp_path, f"sqlite:///{tmp_path / 'gradebook.db'}")
    postgres_csv, postgres_scores = _grade(tmp_path, postgres_url)
    assert postgres_csv == sqlite_csv
    assert postgres_scores == sqlite_scores
    assert postgres_scores["correct"] > postgres_scores["wrong"] > postgres_scores["stub"] == 0
    # what nbgrader's own gradebook in PostgreSQL holds, read back through nbgrader
    assert _gradebook_scores(postgres_url) == pytest.approx(postgres_scores)
    rows = {row["student"]: float(row["score"]) for row in csv.DictReader(io.StringIO(postgres_csv))}
    assert rows == pytest.approx(postgres_scores)


def test_regrading_one_student_into_postgres_changes_only_that_row(postgres_url, tmp_path):
    _grade(tmp_path, postgres_url)
    before = _gradebook_scores(postgres_url)
    submissions = tmp_path / "class"
    ENTRIES["correct"].write(submissions / "wrong")  # "wrong" hands in a corrected notebook
    grade_batch(ROOT, ASSIGNMENT, submissions, tmp_path / "regrade", workers=1, db_url=postgres_url,
                only_students=["wrong"], limits=FAST, autograded=tmp_path / "autograded", progress=None)
    after = _gradebook_scores(postgres_url)
    assert after["wrong"] == pytest.approx(before["correct"])
    assert {k: v for k, v in after.items() if k != "wrong"} == pytest.approx(
        {k: v for k, v in before.items() if k != "wrong"})
