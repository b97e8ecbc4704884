"""Grading on a Dask distributed cluster (``rnncourse grade ... --scheduler ADDRESS``).

The coordinating process (:func:`rnncourse.grading.batch.grade_batch`) stays what it is: it finds the
submissions, keeps as many in flight as the cluster has worker threads, and alone writes the CSV, the
feedback and the gradebook. Only the per-submission work moves: :func:`dask_grader` returns the ``grade``
function that ``grade_batch`` calls for each submission, and that function runs :func:`grade_remote` on a
Dask worker.

What travels is data, not paths: the course files grading needs (``solutions/<assignment>/`` — the spec, the
solution notebook and anything beside them — and the released notebook in ``exercises/<assignment>/``) and the
student's files, as bytes. A worker writes them into a private folder of its own (mode 0700, outside
everything the sandbox mounts), grades there with the same sandbox and limits as local grading
(:func:`rnncourse.grading.grader.grade_unit`), deletes the submission's copy and returns the result as plain
JSON. The course's copy is kept per worker, keyed by a hash of its content, so it is written once.

A worker that dies mid-submission loses nothing: the scheduler gives the task to another worker (Dask's
``allowed-failures``), a task that still fails on the cluster is sent again (:attr:`ClusterGrader.retries`),
and the coordinator receives exactly one result per submission, so each is recorded once. The course files
go with every task rather than being scattered once: the scheduler cannot recompute scattered data and
cancels the tasks that need it when a worker holding it dies. Dask must be installed on the coordinator and the workers (``pip install "dask[distributed]"``), with
the same ``rnncourse`` and Python packages as the coordinator, and bubblewrap on every worker machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from rnncourse.grading.grader import CaseResult, GradingUnit, PartResult, SubmissionResult, grade_unit

__all__ = ["ClusterGrader", "course_files", "dask_grader", "grade_remote", "submission_files"]

#: A submission folder larger than this is not sent (a student cannot fill a worker's disk through it).
MAX_SUBMISSION_BYTES = 64 * 2**20


def course_files(root: Path, assignment: str, notebook: str) -> dict[str, bytes]:
    """The course files that grading ``assignment`` reads, as ``{relative path: bytes}``."""
    files: dict[str, bytes] = {}
    for path in sorted((root / "solutions" / assignment).glob("*")):
        if path.is_file():
            files[f"solutions/{assignment}/{path.name}"] = path.read_bytes()
    released = root / "exercises" / assignment / f"{notebook}.ipynb"
    files[f"exercises/{assignment}/{released.name}"] = released.read_bytes()
    return files


def submission_files(folder: Path, limit: int = MAX_SUBMISSION_BYTES) -> dict[str, bytes]:
    """A student's folder as ``{relative path: bytes}``: regular files only (links are not followed)."""
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        total += len(data)
        if total > limit:
            raise ValueError(f"the submission folder holds more than {limit // 2**20} MiB")
        files[path.relative_to(folder).as_posix()] = data
    return files


def _write_tree(base: Path, files: dict[str, bytes]) -> None:
    for relative, data in files.items():
        target = (base / relative).resolve()
        if base.resolve() not in target.parents:
            raise ValueError(f"refusing to write {relative!r} outside {base}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _private_dir() -> Path:
    base = Path(tempfile.gettempdir()) / f"rnncourse-worker-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    os.chmod(base, 0o700)
    return base


def grade_remote(unit: dict[str, Any], course: dict[str, bytes], course_hash: str,
                 submission: dict[str, bytes]) -> dict[str, Any]:
    """Run on a Dask worker: lay out the course and the submission privately, grade, clean up.

    ``unit`` is a :class:`GradingUnit` as a dict; its ``root`` and ``submission`` paths are replaced by the
    worker's own copies. Returns :meth:`SubmissionResult.to_json`.
    """
    private = _private_dir()
    root = private / f"course-{course_hash}"
    if not (root / ".complete").is_file():
        staging = Path(tempfile.mkdtemp(prefix="course-", dir=private))
        _write_tree(staging, course)
        (staging / ".complete").write_text(course_hash)
        try:
            staging.rename(root)
        except OSError:  # another task on this worker wrote it first
            shutil.rmtree(staging, ignore_errors=True)
    folder = Path(tempfile.mkdtemp(prefix="submission-", dir=private))
    try:
        _write_tree(folder, submission)
        local = replace(GradingUnit(**unit), root=str(root), submission=str(folder))
        return grade_unit(local).to_json()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _result(data: dict[str, Any]) -> SubmissionResult:
    data = dict(data)
    data["parts"] = [PartResult(**{**part, "cases": [CaseResult(**case) for case in part["cases"]]})
                     for part in data["parts"]]
    return SubmissionResult(**data)


class ClusterGrader:
    """``grade(unit)`` for :func:`grade_batch`, run on the cluster behind ``client``."""

    def __init__(self, client: Any, root: Path, assignment: str, notebook: str) -> None:
        self.client = client
        course = course_files(root, assignment, notebook)
        digest = hashlib.sha256()
        for relative in sorted(course):
            digest.update(relative.encode() + b"\0" + course[relative])
        self.course_hash = digest.hexdigest()[:16]
        # Sent with every task (a few hundred kB), not scattered once: the scheduler cannot recompute scattered
        # data, and when a worker holding it died it cancelled the tasks that needed it ("lost dependencies").
        self.course = course

    @property
    def threads(self) -> int:
        """How many tasks the cluster runs at once (its workers' threads)."""
        return max(1, sum(self.client.nthreads().values()))

    #: how often a submission is sent again when its task fails on the cluster (a lost worker, a lost
    #: connection); grading is a pure function of the files, so a retry cannot record anything twice
    retries = 2

    def __call__(self, unit: GradingUnit) -> SubmissionResult:
        files = submission_files(Path(unit.submission))

        def attempt() -> SubmissionResult:
            future = self.client.submit(grade_remote, asdict(unit), self.course, self.course_hash, files,
                                        pure=False, key=f"grade-{unit.assignment}-{unit.student}-{os.urandom(4).hex()}")
            return _result(future.result())

        for _ in range(self.retries):
            try:
                return attempt()
            except Exception:  # noqa: BLE001 - sent again; the last attempt's error reaches grade_batch
                continue
        return attempt()


def dask_grader(scheduler: str, root: Path, assignment: str, notebook: str,
                connect: Callable[[str], Any] | None = None) -> ClusterGrader:
    """Connect to the Dask scheduler at ``scheduler`` (``tcp://host:8786``) and return the grading function."""
    if connect is None:
        try:
            from distributed import Client
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise SystemExit('--scheduler needs Dask: pip install "dask[distributed]"') from error

        def connect(address: str) -> Any:
            return Client(address, timeout="30s")

    return ClusterGrader(connect(scheduler), root, assignment, notebook)
