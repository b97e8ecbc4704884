"""Time grading a class: plain `nbgrader autograde` (one submission after another) against
`rnncourse grade --workers 2`, on the same submissions, in one run; and the per-submission
overhead of the sandbox beyond the notebook's own compute.

Run: `.venv/bin/python benchmarks/bench_grading.py [N]` (default N=100). Prints numbers only.
Targets from the issue: speed-up >= 1.8x on 2 cores, overhead <= 1.5 s per submission.

`.venv/bin/python benchmarks/bench_grading.py per-exercise [REPEATS]` instead times one correct submission of
every exercise through the sandbox (median of REPEATS, default 5): exercise 3 imports torch inside the
sandbox and runs it, with gradients, for two of its parts; exercise 1 is NumPy only.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse.grading import course  # noqa: E402
from rnncourse.grading.batch import grade_batch  # noqa: E402
from rnncourse.grading.grader import GradingUnit, grade_unit  # noqa: E402
from rnncourse.grading.sandbox import sandbox_mode  # noqa: E402
from rnncourse.grading.spec import load_spec  # noqa: E402

ASSIGNMENT = "ex01_elman"


def make_class(folder: Path, n: int) -> None:
    """n submissions: two thirds correct, one third with a wrong elman_step."""
    correct = course.filled_in(ROOT, ASSIGNMENT)
    wrong = json.loads(json.dumps(correct))
    for cell in wrong["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "elman_step":
            cell["source"] = "def elman_step(x, h_prev, W, U, b):\n    return np.tanh(b + h_prev @ W + x @ U.T)\n"
    for i in range(n):
        student = folder / f"student{i:03d}" / ASSIGNMENT
        student.mkdir(parents=True)
        (student / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(wrong if i % 3 == 2 else correct))
        (student / "timestamp.txt").write_text("2026-01-01 00:00:00.000000 UTC\n")


def time_nbgrader(submitted: Path, work: Path) -> float:
    scratch = course.scratch_course(ROOT, ASSIGNMENT, work)
    course.run_nbgrader(scratch, "generate_assignment", ASSIGNMENT, "--force")
    shutil.copytree(submitted, scratch / "submitted")
    start = time.perf_counter()
    course.run_nbgrader(scratch, "autograde", ASSIGNMENT, "--create", "--force", timeout=7200)
    return time.perf_counter() - start


def own_compute_seconds(notebook: dict) -> float:
    """The notebook's own work, in this process, no sandbox: setup, answer cells, the graded calls."""
    from rnncourse.grading.notebook import build_program
    from rnncourse.grading.spec import case_rng, load_spec

    spec, secret = load_spec(ROOT, ASSIGNMENT)
    program = build_program(course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"), notebook)
    start = time.perf_counter()
    namespace: dict = {}
    for statement in program.setup:
        try:
            exec(statement, namespace)
        except ImportError:
            pass
    for _, source in program.cells:
        exec(source, namespace)
    for part in spec.parts:
        for j, case in enumerate(part.cases):
            namespace[part.function](*case.make_args(case_rng(secret, "bench", part.cell, j)))
    return time.perf_counter() - start


def per_exercise(repeats: int) -> None:
    """Median wall time of grading one correct submission of each exercise, sandboxed."""
    print(f"machine: {os.cpu_count()} cores; sandbox: {sandbox_mode()}; one correct submission each, median of {repeats}")
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-per-exercise-") as tmp:
        for assignment in course.assignments(ROOT):
            folder = Path(tmp) / assignment
            folder.mkdir()
            (folder / f"{assignment}.ipynb").write_text(json.dumps(course.filled_in(ROOT, assignment)))
            times, scores = [], set()
            for i in range(repeats):
                start = time.perf_counter()
                result = grade_unit(GradingUnit(str(ROOT), assignment, f"s{i}", str(folder)))
                times.append(time.perf_counter() - start)
                scores.add((result.score, result.max_score))
            spec_packages = ", ".join(load_spec(ROOT, assignment)[0].packages)
            print(f"{assignment:12s} {statistics.median(times):6.2f} s per submission "
                  f"(min {min(times):.2f}, max {max(times):.2f}; score {sorted(scores)}; sandbox packages: {spec_packages})")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "per-exercise":
        per_exercise(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    print(f"machine: {os.cpu_count()} cores; sandbox: {sandbox_mode()}; {n} submissions of {ASSIGNMENT}")
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-grading-") as tmp:
        tmp_path = Path(tmp)
        make_class(tmp_path / "submitted", n)
        ours_start = time.perf_counter()
        results = grade_batch(ROOT, ASSIGNMENT, tmp_path / "submitted", tmp_path / "out", workers=2,
                              db_url=f"sqlite:///{tmp_path / 'gb.db'}", autograded=tmp_path / "autograded", progress=None)
        ours = time.perf_counter() - ours_start
        assert len(results) == n
        plain = time_nbgrader(tmp_path / "submitted", tmp_path / "nbgrader")
        print(f"nbgrader autograde, sequential:  {plain:7.1f} s  ({plain / n:.2f} s per submission)")
        print(f"rnncourse grade --workers 2:     {ours:7.1f} s  ({ours / n:.2f} s per submission)")
        print(f"speed-up:                        {plain / ours:7.2f} x")

        notebook = course.filled_in(ROOT, ASSIGNMENT)
        folder = tmp_path / "one"
        folder.mkdir()
        (folder / f"{ASSIGNMENT}.ipynb").write_text(json.dumps(notebook))
        sandboxed = []
        for i in range(10):
            start = time.perf_counter()
            grade_unit(GradingUnit(str(ROOT), ASSIGNMENT, f"s{i}", str(folder)))
            sandboxed.append(time.perf_counter() - start)
        compute = statistics.median(own_compute_seconds(notebook) for _ in range(10))
        print(f"one submission, sandboxed ({sandbox_mode()}, median of 10): {statistics.median(sandboxed):.3f} s")
        print(f"its own compute, in-process (median):     {compute:.3f} s")
        print(f"per-submission overhead:                  {statistics.median(sandboxed) - compute:.3f} s")


if __name__ == "__main__":
    main()
