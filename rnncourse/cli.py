"""``rnncourse`` (or ``python -m rnncourse``): the instructor's commands.

- ``release [ASSIGNMENT ...]``  regenerate ``exercises/`` from ``solutions/`` with nbgrader
- ``validate [ASSIGNMENT ...]`` every solution scores full marks, every released stub scores zero
"""

from __future__ import annotations

import argparse
import sys
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
    root = course.course_root()
    failures = 0
    for assignment in _selected(root, args.assignments):
        for name in course.notebooks(root, assignment):
            for kind, folder, wanted in (("solution", "solutions", "full"), ("released", "exercises", "zero")):
                path = root / folder / assignment / f"{name}.ipynb"
                if not path.is_file():
                    print(f"FAIL {assignment}/{name} {kind}: {path.relative_to(root)} is missing (run `rnncourse release`)")
                    failures += 1
                    continue
                result = course.autograde_notebook(root, assignment, path)
                ok = result.score == result.max_score if wanted == "full" else result.score == 0
                failures += not ok
                print(
                    f"{'ok  ' if ok else 'FAIL'} {assignment}/{name} {kind}: "
                    f"{result.score:g}/{result.max_score:g} (want {wanted} marks)"
                )
    return 1 if failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnncourse", description="Instructor commands for the rnncourse exercises.")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, func, text in (
        ("release", release, "regenerate exercises/ from solutions/"),
        ("validate", validate, "check solutions get full marks and released stubs get zero"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("assignments", nargs="*", metavar="ASSIGNMENT", help="default: all of them")
        sub.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
