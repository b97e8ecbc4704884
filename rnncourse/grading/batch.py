"""Grading a class: find the submissions, grade them in parallel, write the CSV, the feedback
and the gradebook. Only this (coordinating) process writes outputs and the gradebook."""

from __future__ import annotations

import csv
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

from rnncourse.grading import gradebook
from rnncourse.grading.autograded import write_autograded
from rnncourse.grading.feedback import feedback_html
from rnncourse.grading.grader import GradingUnit, PartResult, SubmissionResult, grade_unit
from rnncourse.grading.notebook import SubmissionError, find_notebook, load_notebook
from rnncourse.grading.sandbox import sandbox_mode
from rnncourse.grading.spec import load_spec

__all__ = ["discover_submissions", "grade_batch", "safe_extract"]

MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_FILES = 100_000
CSV_COLUMNS = ["student", "assignment", "score", "max_score", "status"]


def _student_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@+-]", "_", name)[:100] or "_"


def safe_extract(archive: Path, destination: Path) -> Path:
    """Extract a zip without following its paths outside ``destination`` or its links anywhere."""
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ValueError(f"{archive} is too large to extract")
        for member in members:
            parts = [p for p in Path(member.filename.replace("\\", "/")).parts if p not in ("", ".", "/")]
            if not parts or ".." in parts or member.filename.startswith("/"):
                continue
            if (member.external_attr >> 16) & 0o170000 == 0o120000:  # symbolic link
                continue
            target = destination.joinpath(*parts)
            if member.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(member) as source, open(target, "wb") as sink:
                shutil.copyfileobj(source, sink)
    return destination


def _is_junk(path: Path) -> bool:
    return path.name.startswith(".") or path.name == "__MACOSX"


def discover_submissions(folder: Path, assignment: str) -> list[tuple[str, Path]]:
    """``(student, folder)`` for each student sub-folder.

    Accepts one folder per student (``alice/ex01.ipynb``), nbgrader's ``submitted/alice/<assignment>/``
    layout, and either wrapped in a single outer folder (as zips often are).
    """
    while True:
        entries = [p for p in folder.iterdir() if not _is_junk(p)]
        dirs = sorted(p for p in entries if p.is_dir() and not p.is_symlink())
        if len(entries) == 1 and len(dirs) == 1:
            inner = dirs[0]
            is_student = any(inner.glob("*.ipynb")) or (inner / assignment).is_dir()
            if not is_student:
                folder = inner
                continue
        found: list[tuple[str, Path]] = []
        taken: set[str] = set()
        for d in dirs:
            student, n = _student_id(d.name), 1
            while student in taken:  # two folder names that sanitise to one id
                n += 1
                student = f"{_student_id(d.name)}-{n}"
            taken.add(student)
            found.append((student, d))
        return found


def _write_formgrader_copy(released: dict[str, Any], folder: Path | None, result: SubmissionResult, target: Path) -> None:
    if folder is None:
        return
    try:
        path, _ = find_notebook(folder, result.notebook)
        write_autograded(released, load_notebook(path), result, target)
    except SubmissionError:
        pass  # nothing to show: the status already says why


def _write_csv(path: Path, results: list[SubmissionResult], cells: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS + cells)
        for r in sorted(results, key=lambda r: r.student):
            scores = {p.cell: p.score for p in r.parts}
            writer.writerow([r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}", r.status] + [f"{scores.get(c, 0):g}" for c in cells])


def _load_previous(path: Path) -> dict[str, SubmissionResult]:
    """Results of an earlier run (results.jsonl), so re-grading one student keeps the others."""
    previous: dict[str, SubmissionResult] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            data = json.loads(line)
            data["parts"] = [PartResult(**{**p, "cases": []}) for p in data["parts"]]
            previous[data["student"]] = SubmissionResult(**data)
    return previous


def grade_batch(
    root: Path,
    assignment: str,
    submissions: Path,
    out: Path,
    workers: int | None = None,
    only_students: list[str] | None = None,
    db_url: str | None = None,
    limits: dict[str, Any] | None = None,
    autograded: Path | None = None,
    progress: TextIO | None = sys.stderr,
    grade: Callable[[GradingUnit], SubmissionResult] = grade_unit,
) -> list[SubmissionResult]:
    """Grade every submission (or only ``only_students``) and write ``out/grades.csv``,
    ``out/feedback/<student>.html``, ``out/results.jsonl``, the gradebook and, for the formgrader,
    ``<autograded>/<student>/<assignment>/<notebook>.ipynb`` (default: the course's ``autograded/``).

    ``grade`` is the function applied to each unit: :func:`grade_unit` here, a cluster's map elsewhere.
    """
    spec, _ = load_spec(root, assignment)
    workers = max(1, workers or os.cpu_count() or 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    db_url = db_url or gradebook.default_db_url(root)
    autograded = autograded or root / "autograded"
    released = json.loads((root / "exercises" / assignment / f"{spec.notebook}.ipynb").read_text(encoding="utf-8"))
    folders: dict[str, Path] = {}
    gradebook.ensure_assignment(root, assignment, db_url)

    with tempfile.TemporaryDirectory(prefix="rnncourse-grade-") as tmp:
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o711)  # sandbox users reach their own scratch folders only
        folder = submissions
        if submissions.is_file() and zipfile.is_zipfile(submissions):
            folder = safe_extract(submissions, tmp_path / "unzipped")
        found = discover_submissions(folder, assignment)
        if only_students:
            wanted = {_student_id(s) for s in only_students}
            missing = wanted - {s for s, _ in found}
            if missing:
                raise SystemExit(f"no submission for {', '.join(sorted(missing))} in {submissions}")
            found = [(s, d) for s, d in found if s in wanted]
        folders.update(found)
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            slots.put(slot)

        def run(student: str, folder: Path) -> SubmissionResult:
            slot = slots.get()
            try:
                unit = GradingUnit(
                    root=str(root), assignment=assignment, student=student, submission=str(folder),
                    scratch=str(tmp_path / "scratch" / f"slot{slot}"), slot=slot, limits=dict(limits or {}),
                )
                try:
                    return grade(unit)
                except Exception as error:  # noqa: BLE001 - a grader fault must not stop the batch
                    return SubmissionResult(
                        student, assignment, spec.notebook, 0.0, spec.max_score, f"grader error: {error!r}"[:300],
                        [], [], sandbox_mode(), 0.0,
                    )
            finally:
                slots.put(slot)

        results: list[SubmissionResult] = []
        started = time.monotonic()
        if progress:
            print(f"grading {len(found)} submission(s) of {assignment} with {workers} worker(s), sandbox: {sandbox_mode()}", file=progress)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run, s, d) for s, d in found]
            for done, future in enumerate(as_completed(futures), 1):
                result = future.result()
                results.append(result)
                if result.parts:
                    gradebook.record_result(db_url, result)
                    _write_formgrader_copy(released, folders.get(result.student), result, autograded / result.student / assignment)
                (out / "feedback" / f"{result.student}.html").write_text(feedback_html(result), encoding="utf-8")
                if progress:
                    print(
                        f"[{done}/{len(found)}] {result.student}: {result.score:g}/{result.max_score:g} "
                        f"({result.seconds:.1f} s) {result.status[:120]}", file=progress,
                    )
        if progress:
            print(f"graded {len(found)} in {time.monotonic() - started:.1f} s -> {out}", file=progress)

    combined = _load_previous(out / "results.jsonl") if only_students else {}
    combined.update({r.student: r for r in results})
    with open(out / "results.jsonl", "w", encoding="utf-8") as handle:
        for r in sorted(combined.values(), key=lambda r: r.student):
            handle.write(json.dumps(r.to_json()) + "\n")
    _write_csv(out / "grades.csv", list(combined.values()), [p.cell for p in spec.parts])
    return sorted(results, key=lambda r: r.student)
