"""Grading at scale, in numbers: local workers against a local Dask cluster with the same number of worker
processes on the same batch (the overhead of the cluster path), and the gradebook in SQLite against PostgreSQL.

    .venv/bin/python benchmarks/bench_cluster.py [SUBMISSIONS] [WORKERS]     (default 24 submissions, 2 workers)

The batch repeats exercise 1's correct, wrong and unfinished notebooks. Numbers, not assertions: compare runs
on the same machine. PostgreSQL is started on loopback as in the tests (tests/_services.py); where it cannot
be, that line says why.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from _services import ServiceUnavailable, dask_cluster, postgres_server  # noqa: E402
from corpus import ASSIGNMENT, CORPUS  # noqa: E402

from rnncourse.grading.batch import grade_batch  # noqa: E402

LIMITS = {"call_timeout": 5.0, "cell_timeout": 10.0, "wall_seconds": 120.0, "memory_mb": 1024}


def _batch(folder: Path, count: int) -> Path:
    entries = {entry.name: entry for entry in CORPUS}
    kinds = ("correct", "wrong", "stub")
    for i in range(count):
        entries[kinds[i % len(kinds)]].write(folder / f"student{i:04d}")
    return folder


def _time(label: str, tmp: Path, submissions: Path, count: int, **kwargs) -> float:
    start = time.perf_counter()
    grade_batch(ROOT, ASSIGNMENT, submissions, tmp / label, limits=LIMITS, autograded=tmp / f"autograded-{label}",
                progress=None, **kwargs)
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.1f} s  {count / seconds:6.2f} submissions/s")
    return seconds


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-cluster-") as name:
        tmp = Path(name)
        submissions = _batch(tmp / "class", count)
        print(f"{count} submissions of {ASSIGNMENT}, {workers} worker(s)")
        local = _time(f"local workers ({workers})", tmp, submissions, count, workers=workers,
                      db_url=f"sqlite:///{tmp / 'local.db'}")
        with dask_cluster(tmp / "dask", workers=workers) as cluster:
            remote = _time(f"Dask cluster ({workers} worker processes)", tmp, submissions, count,
                           scheduler=cluster.address, db_url=f"sqlite:///{tmp / 'cluster.db'}")
        print(f"cluster overhead: {100 * (remote / local - 1):+.0f}% wall time")
        try:
            with postgres_server() as url:
                postgres = _time("local workers, gradebook in PostgreSQL", tmp, submissions, count,
                                 workers=workers, db_url=url)
            print(f"PostgreSQL against SQLite: {100 * (postgres / local - 1):+.0f}% wall time")
        except ServiceUnavailable as reason:
            print(f"PostgreSQL: not measured ({reason})")


if __name__ == "__main__":
    main()
