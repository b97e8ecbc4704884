"""`rnncourse grade` on a corpus of honest, wrong, hostile and broken submissions."""

from __future__ import annotations

import csv
import io
import os
import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

import pytest
from corpus import ASSIGNMENT, CORPUS, ROOT

from rnncourse.grading.batch import grade_batch
from rnncourse.grading.grader import GradingUnit, SubmissionResult
from rnncourse.grading.sandbox import sandbox_mode

FAST = {"call_timeout": 2.0, "cell_timeout": 4.0, "wall_seconds": 60.0, "memory_mb": 1024}
ENTRIES = {entry.name: entry for entry in CORPUS}


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("grading")
    submissions = base / "submissions"
    for entry in CORPUS:
        entry.write(submissions / entry.name)
    db_url = f"sqlite:///{base / 'gradebook.db'}"
    out = base / "out"
    log = io.StringIO()
    results = grade_batch(ROOT, ASSIGNMENT, submissions, out, workers=2, db_url=db_url, limits=FAST,
                          autograded=base / "autograded", progress=log)
    return {"results": {r.student: r for r in results}, "out": out, "db": base / "gradebook.db",
            "db_url": db_url, "submissions": submissions, "log": log.getvalue(), "base": base}


def test_sandbox_is_fully_isolating_here():
    # `make env` installs bubblewrap as root; CI also runs this file as an ordinary user
    # (`make test-unprivileged`): the corpus must run isolated either way.
    expected = os.environ.get("RNNCOURSE_EXPECT_SANDBOX") or ("bwrap-root" if os.geteuid() == 0 else "bwrap-user")
    assert sandbox_mode() == expected


def test_every_submission_is_graded_and_reported(graded):
    assert set(graded["results"]) == set(ENTRIES)
    with open(graded["out"] / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["student"] for r in rows] == sorted(ENTRIES)
    assert {"student", "assignment", "score", "max_score", "status"} <= set(rows[0])
    for row in rows:
        assert float(row["score"]) == graded["results"][row["student"]].score
        assert (graded["out"] / "feedback" / f"{row['student']}.html").is_file()
    assert f"[{len(ENTRIES)}/{len(ENTRIES)}]" in graded["log"]


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_corpus_entry(graded, name):
    entry = ENTRIES[name]
    result: SubmissionResult = graded["results"][name]
    assert result.max_score == 9
    if entry.score is not None:
        assert result.score == pytest.approx(entry.score), f"{name}: {result.status} {[(p.cell, p.score) for p in result.parts]}"
    if entry.at_most is not None:
        baseline = graded["results"][entry.at_most].score
        assert result.score <= baseline + 1e-9, f"{name} scored {result.score} > {entry.at_most} {baseline}"
    for word in entry.status:
        if word == "ok":
            assert result.status == "ok", result.status
        else:
            assert word in result.status, result.status


def test_wrong_answer_gets_partial_credit(graded):
    wrong = graded["results"]["wrong"]
    assert 4 < wrong.score < 9
    by_cell = {p.cell: p for p in wrong.parts}
    assert by_cell["test_softmax_values"].score == 1 and by_cell["test_elman_step_values"].score == 0
    general = by_cell["test_elman_step_general"]  # only the H=1 case, where W equals its transpose, passes
    assert 0 < general.score < general.points


def test_delegation_feedback_says_why(graded):
    page = (graded["out"] / "feedback" / "delegate-alias.html").read_text()
    assert "No points" in page and "rnncourse.dynamics" in page
    result = graded["results"]["delegate-alias"]
    part = next(p for p in result.parts if p.cell == "test_elman_step_values")
    assert part.score == 0 and "rnncourse.dynamics" in part.delegation


def test_feedback_never_shows_test_or_solution_source(graded):
    solution = json.loads((ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_text())
    secrets = ["_check_part(", "BEGIN HIDDEN", "h_prev @ W.T + x @ U.T", "e / np.sum(e, axis=-1, keepdims=True)"]
    spec_source = (ROOT / "solutions" / ASSIGNMENT / "grading.py").read_text()
    secrets += [line.strip() for line in spec_source.splitlines() if "Case(" in line][:3]
    assert solution and secrets
    for page in (graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{page.name} shows {leaked}"


def test_nothing_written_outside_the_sandbox(graded):
    assert not (ROOT / "grades_written_by_student.txt").exists()
    assert not (ROOT / "mysolution.py").exists()
    assert not (ROOT / "owned_by_daemon.txt").exists()  # the double-forked daemon died with its sandbox
    assert not Path("/tmp/owned").exists()


def test_no_file_of_the_grading_machine_reaches_feedback(graded):
    shadow = Path("/etc/shadow")
    readable = shadow.is_file() and os.access(shadow, os.R_OK)
    secrets = [line.split(":")[0] + ":" for line in shadow.read_text().splitlines()[:3]] if readable else []
    secrets.append((ROOT / "solutions" / ASSIGNMENT / "grading.py").read_text().splitlines()[0])
    for page in (graded["out"] / "feedback").glob("*.html"):
        text = page.read_text()
        assert not [s for s in secrets if len(s) > 4 and s in text], page.name
    assert "Traceback" not in "".join(p.read_text() for p in (graded["out"] / "feedback").glob("*.html"))


def test_cell_errors_and_skipped_commands_reach_the_feedback(graded):
    page = (graded["out"] / "feedback" / "honest-error-in-a-cell.html").read_text()
    assert "NameError" in page and "undefined_name" in page and "(line 1)" in page
    page = (graded["out"] / "feedback" / "honest-magics-and-shell.html").read_text()
    assert "not run while grading: !pip install numpy" in page
    result = graded["results"]["honest-stripped-metadata"]
    assert any("no nbgrader metadata" in item for item in result.info)


def test_every_process_of_the_batch_is_gone(graded):
    from rnncourse.grading.sandbox import descendants

    left = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in descendants(os.getpid()) if Path(f"/proc/{pid}").exists()]
    assert not [c for c in left if b"bwrap" in c or b"worker.py" in c], left


def _csv_bytes(out: Path) -> bytes:
    return (out / "grades.csv").read_bytes()


def test_regrading_one_student_changes_only_that_student(graded):
    out, db_url = graded["out"], graded["db_url"]
    before_csv = _csv_bytes(out)
    with sqlite3.connect(graded["db"]) as db:
        before_rows = db.execute("SELECT id, notebook_id, auto_score FROM grade ORDER BY id").fetchall()
    # the wrong student hands in the correct notebook and is re-graded alone
    folder = graded["submissions"] / "wrong"
    for path in folder.glob("*.ipynb"):
        path.unlink()
    ENTRIES["correct"].write(folder)
    results = grade_batch(ROOT, ASSIGNMENT, graded["submissions"], out, workers=2, only_students=["wrong"],
                          db_url=db_url, limits={"call_timeout": 2.0, "cell_timeout": 4.0},
                          autograded=graded["base"] / "autograded", progress=None)
    assert [r.student for r in results] == ["wrong"] and results[0].score == 9
    after = {row["student"]: row for row in csv.DictReader(io.StringIO(_csv_bytes(out).decode()))}
    before = {row["student"]: row for row in csv.DictReader(io.StringIO(before_csv.decode()))}
    assert after["wrong"]["score"] == "9"
    assert {k: v for k, v in after.items() if k != "wrong"} == {k: v for k, v in before.items() if k != "wrong"}
    with sqlite3.connect(graded["db"]) as db:
        after_rows = db.execute("SELECT id, notebook_id, auto_score FROM grade ORDER BY id").fetchall()
        wrong_notebook = db.execute(
            "SELECT submitted_notebook.id FROM submitted_notebook JOIN submitted_assignment "
            "ON submitted_notebook.assignment_id = submitted_assignment.id WHERE submitted_assignment.student_id = 'wrong'"
        ).fetchone()[0]
    assert len(after_rows) == len(before_rows)
    changed = [a for a, b in zip(after_rows, before_rows) if a != b]
    assert changed and all(row[1] == wrong_notebook for row in changed)


def test_a_grader_error_zeroes_the_gradebook_too(graded, tmp_path):
    """Re-grading a student whose submission now crashes the grader: CSV and gradebook agree (0)."""
    out, db_url = graded["out"], graded["db_url"]

    def broken(unit):
        raise RecursionError("the grader itself failed")

    results = grade_batch(ROOT, ASSIGNMENT, graded["submissions"], out, workers=1, only_students=["correct"],
                          db_url=db_url, autograded=tmp_path / "autograded", progress=None, grade=broken)
    assert results[0].score == 0 and "grader error" in results[0].status
    assert "RecursionError" not in results[0].status  # details go to the instructor's log only
    assert "RecursionError" in (out / "grader-errors.log").read_text()
    row = next(r for r in csv.DictReader(io.StringIO(_csv_bytes(out).decode())) if r["student"] == "correct")
    assert row["score"] == "0"
    with sqlite3.connect(graded["db"]) as db:
        total = db.execute(
            "SELECT SUM(grade.auto_score) FROM grade JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id "
            "JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id "
            "WHERE submitted_assignment.student_id = 'correct'"
        ).fetchone()[0]
    assert total == 0


def test_units_and_results_are_plain_data(graded):
    unit = GradingUnit(str(ROOT), ASSIGNMENT, "alice", "/x", 1, {"memory_mb": 100})
    assert GradingUnit(**json.loads(json.dumps(asdict(unit)))) == unit
    result = graded["results"]["wrong"]
    assert json.loads(json.dumps(result.to_json()))["score"] == result.score


def test_regrading_is_idempotent(tmp_path):
    submissions = tmp_path / "class"
    for name in ("correct", "wrong", "stub"):
        ENTRIES[name].write(submissions / name)
    runs = []
    for attempt in range(2):
        out = tmp_path / f"out{attempt}"
        grade_batch(ROOT, ASSIGNMENT, submissions, out, workers=1 + attempt, db_url=f"sqlite:///{tmp_path / 'gb.db'}",
                    autograded=tmp_path / "autograded", progress=None)
        runs.append(_csv_bytes(out).decode())
    assert runs[0] == runs[1]


def test_a_broken_zip_costs_only_its_broken_members(tmp_path):
    import zipfile

    good = io.StringIO()
    archive = tmp_path / "class.zip"
    folder = tmp_path / "src"
    ENTRIES["correct"].write(folder / "alice")
    ENTRIES["correct"].write(folder / "bob")
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.write(folder / "alice" / f"{ASSIGNMENT}.ipynb", f"alice/{ASSIGNMENT}.ipynb")
        bundle.write(folder / "bob" / f"{ASSIGNMENT}.ipynb", f"bob/{ASSIGNMENT}.ipynb")
        bundle.writestr("carol/big.bin", b"\0" * (65 * 2**20))  # over the per-member cap
        link = zipfile.ZipInfo(f"dave/{ASSIGNMENT}.ipynb")
        link.external_attr = (0o120777 << 16)
        bundle.writestr(link, "/etc/shadow")  # dave's only file is a link
    raw = bytearray(archive.read_bytes())
    bob = raw.find(b"bob/" + ASSIGNMENT.encode())  # corrupt bob's compressed data (after its local header)
    for i in range(bob + 200, bob + 400):
        raw[i] ^= 0xFF
    archive.write_bytes(bytes(raw))
    results = {r.student: r for r in grade_batch(ROOT, ASSIGNMENT, archive, tmp_path / "out", workers=2,
                                                  db_url=f"sqlite:///{tmp_path / 'gb.db'}",
                                                  autograded=tmp_path / "autograded", progress=good)}
    assert set(results) == {"alice", "bob", "carol", "dave"}
    assert results["alice"].score == 9
    assert results["bob"].score == 0 and "could not be extracted" in results["bob"].status
    assert "larger than" in results["carol"].status
    assert "symbolic link" in results["dave"].status and results["dave"].score == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv")))
    assert [r["student"] for r in rows] == ["alice", "bob", "carol", "dave"]


def test_zip_of_nbgrader_layout(tmp_path):
    import zipfile

    folder = tmp_path / "submitted"
    ENTRIES["correct"].write(folder / "alice" / ASSIGNMENT)
    ENTRIES["stub"].write(folder / "bob" / ASSIGNMENT)
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for path in folder.rglob("*"):
            bundle.write(path, Path("download") / path.relative_to(tmp_path))
        bundle.writestr("../escape.txt", "zip-slip")
    results = grade_batch(ROOT, ASSIGNMENT, archive, tmp_path / "out", workers=2, db_url=f"sqlite:///{tmp_path / 'gb.db'}",
                          autograded=tmp_path / "autograded", progress=None)
    assert {r.student: r.score for r in results} == {"alice": 9, "bob": 0}
    assert not (tmp_path / "escape.txt").exists()


def test_formgrader_copy_shows_the_graders_findings(graded):
    import nbformat

    path = graded["base"] / "autograded" / "exploit-patch-numpy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"  # wrong elman_step
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    outputs = {
        c.metadata["nbgrader"]["grade_id"]: "".join(o.get("text", "") for o in c.outputs)
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }
    assert "rnncourse grade: 1 / 1 points" in outputs["test_softmax_values"]
    assert "FAIL" in outputs["test_elman_step_values"]
    edited = nbformat.read(graded["base"] / "autograded" / "edited-test-cell" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    assert "trust me" not in "".join(c.source for c in edited.cells), "locked cells are shown as released"
    assert not (graded["base"] / "autograded" / "invalid-json").exists()


def test_analysis_refuses_what_it_cannot_read():
    from rnncourse.grading.analysis import find_delegation

    deep = "def softmax(o):\n    return " + "-" * 100_000 + "o\n"
    found = find_delegation([deep], ["softmax"], ("rnncourse",))
    assert "too deeply nested" in found["softmax"].reason


def test_student_ids_are_readable_unique_and_stable(tmp_path):
    from rnncourse.grading.batch import discover_submissions, student_id

    names = ["ann lee", "ann_lee", "bo", "Zoë", "Zoé", "Zoe\u0308", "王小明", "王小红", "李雷", ".hidden", "a/b".replace("/", "\\")]
    for name in names:
        (tmp_path / "class" / name).mkdir(parents=True)
    found = {s.folder.name: s.student for s in discover_submissions(tmp_path / "class", ASSIGNMENT)}
    assert set(found) == set(names)  # every folder, hidden ones included, gets a row
    assert len(set(found.values())) == len(names)
    assert found["Zoë"] == "Zoë" and found["Zoé"] == "Zoé" and found["王小明"] == "王小明" and found["李雷"] == "李雷"
    assert found["ann_lee"] == "ann_lee" and found["ann lee"].startswith("ann_lee-")
    assert found["Zoe\u0308"].startswith("Zoë")  # macOS's decomposed form reads the same
    assert student_id("ann lee") == found["ann lee"]  # depends on the name alone: stable across runs
