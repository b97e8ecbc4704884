"""The grading spec run inside a notebook kernel, for plain ``nbgrader autograde``.

The hidden-test block of each graded cell calls :func:`check_part`, so nbgrader's own
autograder (and its formgrader) grade with the same cases as ``rnncourse grade``. This path is
*not* protected against hostile code, since it runs in the student's kernel; ``rnncourse grade``
is the one to trust. Here a part passes only if every case passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncourse.checks import check_own_code
from rnncourse.grading.course import course_root
from rnncourse.grading.grader import compare_result
from rnncourse.grading.spec import case_rng, load_spec

__all__ = ["as_plain", "check_part", "fresh_copies"]


def check_part(assignment: str, cell: str, namespace: dict[str, Any]) -> None:
    """Run every case of the graded cell ``cell`` against the function in ``namespace``.

    Raises:
        AssertionError: naming the first case that fails.
    """
    root = course_root(Path.cwd())
    spec, secret = load_spec(root, assignment)
    part = next(p for p in spec.parts if p.cell == cell)
    function = namespace.get(part.function)
    assert callable(function), f"`{part.function}` is not defined"
    check_own_code(function, part.function)
    for index, case in enumerate(part.cases):
        args = case.make_args(case_rng(secret, "nbgrader", cell, index))
        expected = case.reference(*fresh_copies(args))
        try:
            value = function(*fresh_copies(args))
        except NotImplementedError:
            raise AssertionError(f"{part.function} is not implemented") from None
        problem = compare_result(as_plain(value, part.integer_result), expected, case, part=part)
        assert problem is None, f"{part.function}() on {case.name}: {problem}"


def fresh_copies(args: Any) -> list[Any]:
    """Arguments as the grader passes them: arrays copied (so nothing leaks between calls), numbers as they are."""
    return [a.copy() if hasattr(a, "copy") and not isinstance(a, (bool, int, float)) else a for a in args]


def as_plain(value: Any, integers: bool = False) -> Any:
    """A return value as the grader sees it after the wire: float arrays as float64, tuples of them,
    and anything else as a sentence naming its type. ``integers`` (a part's ``integer_result``)
    lets integer and boolean arrays through as float64 too."""
    import numpy as np

    if isinstance(value, tuple):
        return tuple(as_plain(v, integers) for v in value)
    if type(value) is np.ndarray and (value.dtype.kind == "f" or (integers and value.dtype.kind in "iub")):
        return value.astype(np.float64)
    return f"a {type(value).__name__}"
