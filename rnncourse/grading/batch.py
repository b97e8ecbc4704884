"""Grading a class: find the submissions, grade them in parallel, write the CSV, the feedback
and the gradebook. Only this (coordinating) process writes outputs and the gradebook."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import queue
import sys
import tempfile
import threading
import time
import traceback
import unicodedata
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rnncourse.grading import gradebook
from rnncourse.grading.autograded import write_autograded
from rnncourse.grading.feedback import feedback_html
from rnncourse.grading.grader import GradingUnit, PartResult, SubmissionResult, grade_unit, zero_parts
from rnncourse.grading.notebook import SubmissionError, find_notebook, load_notebook
from rnncourse.grading.sandbox import isolation_problem, sandbox_mode
from rnncourse.grading.spec import load_spec

__all__ = ["Submission", "discover_submissions", "grade_batch", "safe_extract", "student_id"]

MAX_ZIP_BYTES = 2 * 2**30
MAX_ZIP_FILES = 100_000
MAX_MEMBER_BYTES = 64 * 2**20
CSV_COLUMNS = ["student", "assignment", "score", "max_score", "status"]
#: Folders and files that archivers, editors and operating systems add: never a student.
JUNK = {"__MACOSX", ".ipynb_checkpoints", ".DS_Store", ".git", "__pycache__", ".Trashes", ".Spotlight-V100", "Thumbs.db"}
ERROR_LOG = "grader-errors.log"


@dataclass
class Submission:
    """One student folder found in the submissions, and what was noticed while unpacking it."""

    student: str
    folder: Path
    notes: list[str] = field(default_factory=list)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]


def student_id(name: str) -> str:
    """A readable id that depends on the folder name alone (so it is stable across runs).

    Unicode letters and digits are kept (in NFC form: ``Zoë`` from macOS's decomposed ``Zoë`` too);
    anything else becomes ``_``, and then a short hash of the original name keeps names that
    differ only there apart (``ann lee`` -> ``ann_lee-1a2b3c``, while ``ann_lee`` stays ``ann_lee``).
    """
    text = unicodedata.normalize("NFC", name)
    kept = "".join(
        ch if ch.isalnum() or unicodedata.category(ch).startswith("M") or ch in "_@+-" or (ch == "." and i > 0) else "_"
        for i, ch in enumerate(text)
    )[:64]
    if kept != text or not kept:
        kept = f"{kept or 'student'}-{_short_hash(name)}"
    return kept


def _capped_copy(source: Any, sink: Any, limit: int) -> bool:
    """Copy at most ``limit`` bytes; False if there was more (a zip may lie about sizes)."""
    copied = 0
    while True:
        chunk = source.read(1 << 20)
        if not chunk:
            return True
        copied += len(chunk)
        if copied > limit:
            return False
        sink.write(chunk)


def safe_extract(archive: Path, destination: Path) -> dict[Path, list[str]]:
    """Extract a zip without following its paths outside ``destination`` or its links anywhere.

    A member that is a link, corrupt, encrypted or too large is skipped (its folder is still
    made, so its student gets a row). Returns the notes per skipped member's folder.
    """
    notes: dict[Path, list[str]] = {}
    destination.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as bundle:
        members = bundle.infolist()
        if len(members) > MAX_ZIP_FILES or sum(m.file_size for m in members) > MAX_ZIP_BYTES:
            raise ValueError(f"{archive} is too large to extract ({len(members)} files)")
        for member in members:
            parts = [p for p in Path(member.filename.replace("\\", "/")).parts if p not in ("", ".", "/")]
            if not parts or ".." in parts or member.filename.startswith("/"):
                continue
            target = destination.joinpath(*parts)
            try:
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                problem = None
                if (member.external_attr >> 16) & 0o170000 == 0o120000:
                    problem = "a symbolic link, not followed"
                elif member.file_size > MAX_MEMBER_BYTES:
                    problem = f"larger than {MAX_MEMBER_BYTES // 2**20} MB"
                else:
                    with bundle.open(member) as source, open(target, "wb") as sink:
                        if not _capped_copy(source, sink, MAX_MEMBER_BYTES):
                            problem = f"larger than {MAX_MEMBER_BYTES // 2**20} MB"
            except Exception as error:  # noqa: BLE001 - corrupt, encrypted, unsupported: skip this member only
                problem = f"could not be extracted ({type(error).__name__})"
            if problem:
                target.unlink(missing_ok=True) if target.is_file() else None
                notes.setdefault(target.parent, []).append(f"{target.name} in the zip is {problem}")
    return notes


def _is_junk(path: Path) -> bool:
    return path.name in JUNK or path.name.startswith("._")


def discover_submissions(folder: Path, assignment: str) -> list[Submission]:
    """One :class:`Submission` for each student sub-folder (hidden ones and links included).

    Accepts one folder per student (``alice/ex01.ipynb``), nbgrader's ``submitted/alice/<assignment>/``
    layout, and either wrapped in a single outer folder (as zips often are).
    """
    while True:
        entries = sorted(p for p in folder.iterdir() if not _is_junk(p))
        dirs = [p for p in entries if p.is_dir()]
        if len(entries) == 1 and len(dirs) == 1 and not dirs[0].is_symlink():
            inner = dirs[0]
            is_student = any(inner.glob("*.ipynb")) or (inner / assignment).is_dir()
            if not is_student:
                folder = inner
                continue
        found: list[Submission] = []
        ids = [student_id(d.name) for d in dirs]
        for d, sid in zip(dirs, ids):
            if ids.count(sid) > 1 and d.name != sid:  # canonically equal names (NFC and NFD): keep them apart
                sid = f"{sid}-{_short_hash(d.name)}"
            submission = Submission(sid, d)
            if d.is_symlink():
                submission.notes.append("the student folder is a symbolic link (not followed)")
            found.append(submission)
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
    with open(path, "w", newline="", encoding="utf-8", errors="replace") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS + cells)
        for r in sorted(results, key=lambda r: r.student):
            scores = {p.cell: p.score for p in r.parts}
            writer.writerow([r.student, r.assignment, f"{r.score:g}", f"{r.max_score:g}", r.status] + [f"{scores.get(c, 0):g}" for c in cells])


def _load_previous(path: Path) -> dict[str, SubmissionResult]:
    """Results of an earlier run (results.jsonl), so re-grading one student keeps the others."""
    previous: dict[str, SubmissionResult] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                data = json.loads(line)
                data["parts"] = [PartResult(**{**p, "cases": []}) for p in data["parts"]]
                previous[data["student"]] = SubmissionResult(**data)
            except (ValueError, TypeError, KeyError):
                continue  # a damaged line: that student is simply not carried over
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
    unsafe: bool = False,
    scheduler: str | None = None,
) -> list[SubmissionResult]:
    """Grade every submission (or only ``only_students``) and write ``out/grades.csv``,
    ``out/feedback/<student>.html``, ``out/results.jsonl``, the gradebook and, for the formgrader,
    ``<autograded>/<student>/<assignment>/<notebook>.ipynb`` (default: the course's ``autograded/``).

    ``grade`` is the function applied to each unit: :func:`grade_unit` here, a cluster's map elsewhere.
    Every student folder gets a row; an exception while grading or writing one student's outputs
    costs that student only (status "grader error", details in ``out/grader-errors.log``).
    Without any sandbox, grading is refused unless ``unsafe`` is true.

    With ``scheduler`` (a Dask scheduler's address) each submission is graded on that cluster
    (:mod:`rnncourse.grading.cluster`) and as many are in flight as the cluster has worker threads;
    everything else, the gradebook included, stays in this process.
    """
    if scheduler:
        from rnncourse.grading.cluster import dask_grader

        spec, _ = load_spec(root, assignment)
        cluster = dask_grader(scheduler, root, assignment, spec.notebook)
        try:
            return grade_batch(root, assignment, submissions, out, workers=cluster.threads, only_students=only_students,
                               db_url=db_url, limits=limits, autograded=autograded, progress=progress, grade=cluster,
                               unsafe=unsafe)
        finally:
            cluster.client.close()
    spec, _ = load_spec(root, assignment)
    if sandbox_mode() == "none" and not unsafe:
        raise SystemExit(
            f"refusing to grade: {isolation_problem()}. Without a sandbox, student code runs as you, can read "
            "solutions/ and the gradebook, and can change other students' grades. Pass --unsafe-no-sandbox "
            "only for code you trust."
        )
    workers = max(1, workers or os.cpu_count() or 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(exist_ok=True)
    db_url = db_url or gradebook.default_db_url(root)
    autograded = autograded or root / "autograded"
    released = json.loads((root / "exercises" / assignment / f"{spec.notebook}.ipynb").read_text(encoding="utf-8"))
    gradebook.ensure_assignment(root, assignment, db_url)
    log = out / ERROR_LOG
    log_lock = threading.Lock()

    def log_error(student: str, what: str) -> None:
        with log_lock, open(log, "a", encoding="utf-8", errors="replace") as handle:
            handle.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {student}: {what}\n{traceback.format_exc()}\n")

    with tempfile.TemporaryDirectory(prefix="rnncourse-grade-") as tmp:
        tmp_path = Path(tmp)
        folder = submissions
        zip_notes: dict[Path, list[str]] = {}
        if submissions.is_file() and zipfile.is_zipfile(submissions):
            folder = tmp_path / "unzipped"
            zip_notes = safe_extract(submissions, folder)
        found = discover_submissions(folder, assignment)
        for submission in found:
            for place, notes in zip_notes.items():
                if place == submission.folder or submission.folder in place.parents:
                    submission.notes += notes
        if only_students:
            def named(s: Submission, name: str) -> bool:
                return s.student in (name, student_id(name)) or s.folder.name == name

            unmatched = [name for name in only_students if not any(named(s, name) for s in found)]
            if unmatched:
                raise SystemExit(f"no submission for {', '.join(sorted(unmatched))} in {submissions}")
            found = [s for s in found if any(named(s, name) for name in only_students)]
        slots: queue.Queue[int] = queue.Queue()
        for slot in range(workers):
            slots.put(slot)

        def run(submission: Submission) -> SubmissionResult:
            slot = slots.get()
            try:
                unit = GradingUnit(
                    root=str(root), assignment=assignment, student=submission.student, submission=str(submission.folder),
                    slot=slot, limits=dict(limits or {}), unsafe=unsafe,
                )
                if submission.folder.is_symlink():
                    result = SubmissionResult(submission.student, assignment, spec.notebook, 0.0, spec.max_score,
                                              "ok", zero_parts(spec), [], sandbox_mode(), 0.0)
                else:
                    try:
                        result = grade(unit)
                    except Exception:  # noqa: BLE001 - a grader fault costs this submission only
                        log_error(submission.student, "grader error")
                        result = SubmissionResult(
                            submission.student, assignment, spec.notebook, 0.0, spec.max_score,
                            f"grader error (the instructor has the details in {ERROR_LOG})", zero_parts(spec), [],
                            sandbox_mode(), 0.0,
                        )
                for note in submission.notes:
                    _add_note(result, note)
                return result
            finally:
                slots.put(slot)

        results: list[SubmissionResult] = []
        started = time.monotonic()
        if progress:
            print(f"grading {len(found)} submission(s) of {assignment} with {workers} worker(s), sandbox: {sandbox_mode()}", file=progress)
            if sandbox_mode() == "none":
                print("WARNING: no sandbox. Student code runs as you, with your files and network in reach.", file=progress)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(run, s) for s in found]
            folders = {s.student: s.folder for s in found if not s.folder.is_symlink()}
            for done, future in enumerate(as_completed(futures), 1):
                result = future.result()
                results.append(result)
                if not result.parts:
                    result.parts = zero_parts(spec)
                for what, action in (
                    ("gradebook", lambda: gradebook.record_result(db_url, result)),
                    ("feedback", lambda: (out / "feedback" / f"{result.student}.html").write_text(feedback_html(result), encoding="utf-8", errors="replace")),
                    ("formgrader copy", lambda: _write_formgrader_copy(
                        released, folders.get(result.student), result, autograded / result.student / assignment)),
                ):
                    try:
                        action()
                    except Exception:  # noqa: BLE001 - one student's outputs never stop the others'
                        log_error(result.student, f"writing the {what}")
                        if what == "gradebook":
                            _add_note(result, f"the gradebook could not be written (see {ERROR_LOG})")
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
    if progress and log.exists():
        print(f"some grading steps failed: see {log}", file=progress)
    return sorted(results, key=lambda r: r.student)


def _add_note(result: SubmissionResult, note: str) -> None:
    result.notes.append(note)
    result.status = note if result.status == "ok" else f"{result.status}; {note}"
