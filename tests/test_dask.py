"""`rnncourse grade --scheduler`: grading on a real local Dask cluster (a scheduler and two worker processes on
loopback) gives the CSV that local grading gives, hostile and broken submissions included, and a worker killed
mid-batch loses and duplicates nothing (issue 12, points 1 and 3)."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _services import DaskCluster, dask_cluster
from corpus import ASSIGNMENT, CORPUS, ROOT

from rnncourse.grading.batch import grade_batch
from rnncourse.grading.sandbox import sandbox_mode

pytest.importorskip("distributed", reason="dask[distributed] is in requirements-test.txt")

FAST = {"call_timeout": 2.0, "cell_timeout": 4.0, "wall_seconds": 60.0, "memory_mb": 1024}
ENTRIES = {entry.name: entry for entry in CORPUS}
# honest, wrong, unfinished, broken and hostile
CLASS = ("correct", "wrong", "stub", "invalid-json", "missing-notebook", "exploit-read-solutions",
         "exploit-forge-results", "exploit-kill-parent", "infinite-loop-in-function", "honest-unusual-styles")


@pytest.fixture
def cluster(tmp_path) -> Iterator[DaskCluster]:
    """A scheduler and two single-threaded workers (no nanny: a killed worker stays dead) on loopback."""
    if sandbox_mode() == "none":
        pytest.skip("no sandbox on this machine: the workers could not grade")
    with dask_cluster(tmp_path / "dask", workers=2) as running:
        yield running


def _write_class(folder: Path) -> Path:
    for name in CLASS:
        ENTRIES[name].write(folder / name)
    return folder


def _grade(tmp: Path, label: str, submissions: Path, **kwargs) -> tuple[str, list, str]:
    out = tmp / label
    log = io.StringIO()
    results = grade_batch(ROOT, ASSIGNMENT, submissions, out, db_url=f"sqlite:///{tmp / (label + '.db')}",
                          limits=FAST, autograded=tmp / f"autograded-{label}", progress=log, **kwargs)
    return (out / "grades.csv").read_text(), results, log.getvalue()


def _gradebook_rows(db: Path) -> list[str]:
    """The students with a submission in nbgrader's gradebook, one entry per submission row."""
    from nbgrader.api import Gradebook

    from rnncourse.grading.gradebook import COURSE_ID

    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gradebook:
        return sorted(s.student_id for s in gradebook.assignment_submissions(ASSIGNMENT))


@pytest.fixture(scope="module")
def local_csv(tmp_path_factory) -> str:
    """The class graded by local workers: what the cluster must reproduce."""
    tmp = tmp_path_factory.mktemp("local")
    csv_text, _, _ = _grade(tmp, "local", _write_class(tmp / "class"), workers=2)
    return csv_text


def test_cluster_grades_equal_local_grades(cluster, local_csv, tmp_path):
    submissions = _write_class(tmp_path / "class")
    cluster_csv, results, log = _grade(tmp_path, "cluster", submissions, scheduler=cluster.address)
    assert cluster_csv == local_csv
    assert sorted(r.student for r in results) == sorted(CLASS)
    assert "with 2 worker(s)" in log and f"[{len(CLASS)}/{len(CLASS)}]" in log  # progress is shown
    assert len(_gradebook_rows(tmp_path / "cluster.db")) == len(CLASS)


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(cluster, local_csv, tmp_path):
    submissions = _write_class(tmp_path / "class")
    victim = cluster.workers[0]
    killed = threading.Event()

    def kill_when_busy() -> None:
        # wait until the victim is grading (its sandbox is a child process), then kill it outright
        import psutil

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed.is_set():
            try:
                if psutil.Process(victim.pid).children(recursive=True):
                    os.killpg(victim.pid, signal.SIGKILL)
                    killed.set()
                    return
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_when_busy, daemon=True)
    killer.start()
    cluster_csv, results, _ = _grade(tmp_path, "cluster", submissions, scheduler=cluster.address)
    killer.join(timeout=5)
    assert killed.is_set(), "the worker was never seen grading, so it was not killed mid-submission"
    assert victim.wait(timeout=10) == -signal.SIGKILL
    errors = tmp_path / "cluster" / "grader-errors.log"
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in (tmp_path / "dask").glob("*.log"))
    assert cluster_csv == local_csv, (errors.read_text()[-3000:] if errors.exists() else "no grader errors") + logs
    students = [r.student for r in results]
    assert sorted(students) == sorted(CLASS) and len(set(students)) == len(students)
    lines = (tmp_path / "cluster" / "results.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["student"] for line in lines) == sorted(CLASS)
    assert len(_gradebook_rows(tmp_path / "cluster.db")) == len(CLASS)
