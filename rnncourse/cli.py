"""``rnncourse`` (or ``python -m rnncourse``): the instructor's commands, run from the course folder.

- ``release [ASSIGNMENT ...]``  regenerate ``exercises/`` from ``solutions/`` with nbgrader
- ``validate [ASSIGNMENT ...]`` solutions score full marks and released stubs zero, with both graders
- ``grade ASSIGNMENT SUBMISSIONS``  grade a folder or zip of submissions (sandboxed, in parallel)
- ``similarity ASSIGNMENT SUBMISSIONS``  report similar answers (to each other, to the course's code); no grade changes
- ``export``                    the gradebook as CSV (``nbgrader export``)
- ``experiment NAME [--tiny]``  run one of the book's slow experiments and write its results file
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rnncourse.grading import course


def _selected(root: Path, names: Sequence[str]) -> list[str]:
    known = course.assignments(root)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise SystemExit(f"unknown assignment(s) {', '.join(unknown)}; the course has: {', '.join(known)}")
    return list(names) or known


def release(args: argparse.Namespace) -> int:
    root = course.course_root()
    for assignment in _selected(root, args.assignments):
        target = course.generate_assignment(root, assignment)
        print(f"released {assignment} -> {target.relative_to(root)}")
    return 0


def validate(args: argparse.Namespace) -> int:
    from rnncourse.grading.grader import GradingUnit, grade_unit

    root = course.course_root()
    failures = 0

    def report(ok: bool, text: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {text}")

    for assignment in _selected(root, args.assignments):
        for name in course.notebooks(root, assignment):
            for kind, folder, wanted in (("solution", "solutions", "full"), ("released", "exercises", "zero")):
                path = root / folder / assignment / f"{name}.ipynb"
                if not path.is_file():
                    report(False, f"{assignment}/{name} {kind}: {path.relative_to(root)} is missing (run `rnncourse release`)")
                    continue
                result = course.autograde_notebook(root, assignment, path)
                ok = result.score == result.max_score if wanted == "full" else result.score == 0
                report(ok, f"{assignment}/{name} {kind}, nbgrader autograde: {result.score:g}/{result.max_score:g} (want {wanted} marks)")
            released = root / "exercises" / assignment / f"{name}.ipynb"
            if not released.is_file():
                continue
            with tempfile.TemporaryDirectory(prefix="rnncourse-validate-") as tmp:
                for kind, notebook, wanted in (
                    ("solution", course.filled_in(root, assignment, name), "full"),
                    ("released", course.read_json(released), "zero"),
                ):
                    folder = Path(tmp) / kind
                    folder.mkdir()
                    (folder / f"{name}.ipynb").write_text(json.dumps(notebook))
                    result = grade_unit(GradingUnit(str(root), assignment, kind, str(folder), unsafe=args.unsafe_no_sandbox))
                    ok = (result.score == result.max_score and result.status == "ok") if wanted == "full" else result.score == 0
                    report(ok, f"{assignment}/{name} {kind}, rnncourse grade: {result.score:g}/{result.max_score:g} "
                           f"(want {wanted} marks), status: {result.status}")
    return 1 if failures else 0


def grade(args: argparse.Namespace) -> int:
    from rnncourse.grading.batch import grade_batch

    root = course.course_root()
    _selected(root, [args.assignment])
    submissions = Path(args.submissions).resolve()
    if not submissions.exists():
        raise SystemExit(f"{submissions} does not exist")
    out = Path(args.out or root / "grades" / args.assignment).resolve()
    limits = {k: v for k, v in (("memory_mb", args.memory_mb), ("wall_seconds", args.wall_seconds)) if v}
    results = grade_batch(
        root, args.assignment, submissions, out, workers=args.workers, only_students=args.student or None,
        db_url=args.db, limits=limits, autograded=Path(args.autograded).resolve() if args.autograded else None,
        unsafe=args.unsafe_no_sandbox, scheduler=args.scheduler,
    )
    not_ok = sum(r.status != "ok" for r in results)
    print(f"{len(results)} graded, {not_ok} with notes; wrote {out / 'grades.csv'}")
    return 0


def similarity(args: argparse.Namespace) -> int:
    from rnncourse.grading.similarity import Settings, similarity_report

    root = course.course_root()
    _selected(root, [args.assignment])
    submissions = Path(args.submissions).resolve()
    if not submissions.exists():
        raise SystemExit(f"{submissions} does not exist")
    if not 0 < args.threshold <= 1:
        raise SystemExit(f"--threshold must be in (0, 1], not {args.threshold}")
    out = Path(args.out or root / "grades" / args.assignment).resolve()
    report = similarity_report(root, args.assignment, submissions, out, Settings(threshold=args.threshold))
    print(f"{len(report.students)} submission(s) compared, {len(report.flagged)} pair(s) flagged; "
          f"wrote {out / 'similarity.html'} and {out / 'similarity.json'}")
    return 0


def export(args: argparse.Namespace) -> int:
    root = course.course_root()
    output = Path(args.to).resolve()
    extra = [f"--CourseDirectory.db_url={args.db}"] if args.db else []
    course.run_nbgrader(root, "export", f"--to={output}", *extra)
    print(f"exported the gradebook to {output}")
    return 0


UNSAFE_HELP = (
    "grade even where no sandbox can be built (no bubblewrap, no user namespaces): student code then runs as "
    "you, can read solutions/ and the gradebook and change other rows. Only for code you trust."
)


def experiment(args: argparse.Namespace) -> int:
    from rnncourse import experiments

    return experiments.run(args.name, args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnncourse", description="Instructor commands for the rnncourse exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("release", release, "regenerate exercises/ from solutions/"),
        ("validate", validate, "check solutions get full marks and released stubs get zero, with both graders"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all of them")
        sub.set_defaults(func=func, unsafe_no_sandbox=False)
        if name == "validate":
            sub.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    sub = commands.add_parser("grade", help="grade a folder or zip of submissions", description=(
        "Grade SUBMISSIONS (a folder with one sub-folder per student, nbgrader's submitted/ layout, or a zip "
        "of either) in sandboxed processes. Writes DIR/grades.csv, DIR/feedback/<student>.html, "
        "DIR/results.jsonl and the nbgrader gradebook."))
    sub.add_argument("assignment", metavar="ASSIGNMENT")
    sub.add_argument("submissions", metavar="SUBMISSIONS")
    sub.add_argument("--workers", type=int, default=os.cpu_count(), help="parallel submissions (default: cores)")
    sub.add_argument("--out", metavar="DIR", help="output folder (default: grades/ASSIGNMENT)")
    sub.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    sub.add_argument("--db", metavar="URL", help="gradebook URL (default: sqlite:///gradebook.db in the course folder)")
    sub.add_argument("--autograded", metavar="DIR", help="where the formgrader's graded notebooks go (default: autograded/)")
    sub.add_argument("--memory-mb", type=int, help="address-space limit per submission (default 3072)")
    sub.add_argument("--wall-seconds", type=float, help="wall-clock budget per submission, re-runs included (default 300)")
    sub.add_argument("--scheduler", metavar="ADDRESS", help="grade on this Dask cluster (tcp://host:8786) instead of local workers; --workers is then the cluster's thread count")
    sub.add_argument("--unsafe-no-sandbox", action="store_true", help=UNSAFE_HELP)
    sub.set_defaults(func=grade)
    sub = commands.add_parser("similarity", help="report similar answers (never changes a grade)", description=(
        "Compare the answers in SUBMISSIONS (read as `grade` reads them) with each other and with the course's "
        "reference code. Writes DIR/similarity.json and DIR/similarity.html; never touches grades."))
    sub.add_argument("assignment", metavar="ASSIGNMENT")
    sub.add_argument("submissions", metavar="SUBMISSIONS")
    sub.add_argument("--out", metavar="DIR", help="output folder (default: grades/ASSIGNMENT)")
    sub.add_argument("--threshold", type=float, default=0.8, metavar="X",
                     help="flag student pairs at this Jaccard similarity, and answers with this share in the reference code (default 0.8)")
    sub.set_defaults(func=similarity)
    sub = commands.add_parser("export", help="export the gradebook to CSV (nbgrader export)")
    sub.add_argument("--to", default="grades.csv", help="CSV file to write (default grades.csv)")
    sub.add_argument("--db", metavar="URL", help="gradebook URL (default: the course's gradebook.db)")
    sub.set_defaults(func=export)
    from rnncourse.experiments import EXPERIMENTS

    sub = commands.add_parser("experiment", help="run a slow experiment of the book and write its results file",
                              description="Run experiment NAME (one of: " + ", ".join(sorted(EXPERIMENTS)) + "); "
                              "`rnncourse experiment NAME --help` lists its options.")
    sub.add_argument("name", metavar="NAME", choices=sorted(EXPERIMENTS))
    sub.add_argument("rest", nargs=argparse.REMAINDER, help="options of the experiment (--tiny, --out, ...)")
    sub.set_defaults(func=experiment)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
