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
from rnncourse.grading.grader import _compare, _draw_args, _ordinal, _reference, compare_result
from rnncourse.grading.spec import case_rng, load_spec

__all__ = ["as_plain", "case_problem", "check_part", "fresh_copies"]


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
    check_own_code(function, part.function, allow_torch="torch" not in part.forbidden)
    for index, case in enumerate(part.cases):
        problem = case_problem(function, part, case, case_rng(secret, "nbgrader", cell, index))
        assert problem is None, f"{part.function}() on {case.name}: {problem}"


def case_problem(function: Any, part: Any, case: Any, rng: Any) -> str | None:
    """Run one hidden case (arguments drawn from ``rng``) in this process: None if it passes, else why not.

    Raises what the function raises (``NotImplementedError`` as an AssertionError that says so).
    """
    if case.tensors:
        return _tensor_case(function, case, part, rng)
    args = case.make_args(rng)
    expected = case.reference(*fresh_copies(args))
    try:
        value = function(*fresh_copies(args))
    except NotImplementedError:
        raise AssertionError(f"{part.function} is not implemented") from None
    return compare_result(as_plain(value, part.integer_result), expected, case, part=part)


def _tensor_case(function: Any, case: Any, part: Any, rng: Any) -> str | None:
    """One case of a PyTorch part: tensors in, tensors out, and the gradients the grader would compare."""
    import torch

    args = _draw_args(case, rng)
    expected, expected_gradients, probes = _reference(case, args, rng)
    tensors = [torch.from_numpy(a.copy()) if hasattr(a, "copy") else a for a in args]
    for i in case.gradients:
        tensors[i].requires_grad_(True)
    try:
        value = function(*tensors)
    except NotImplementedError:
        raise AssertionError(f"{part.function} is not implemented") from None
    problem = compare_result(as_plain(value, part.integer_result, tensors=True), expected, case, part=part)
    if problem or not case.gradients:
        return problem
    outputs = _flat_tensors(value)
    total = sum((o * torch.from_numpy(p).to(o.dtype)).sum() for o, p in zip(outputs, probes))
    if not getattr(total, "requires_grad", False):
        return "the result is not connected to the inputs through autograd (was it computed outside torch, or detached?)"
    grads = torch.autograd.grad(total, [tensors[i] for i in case.gradients], allow_unused=True)
    for position, g, e in zip(case.gradients, grads, expected_gradients):
        what = f"the gradient with respect to the {_ordinal(position + 1)} argument"
        if g is None:
            if e.any():
                return f"{what} is missing: the result does not depend on that argument through autograd"
            continue
        problem = _compare(g.detach().double().numpy(), e, case, what, "")
        if problem:
            return problem
    return None


def _flat_tensors(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [t for item in value for t in _flat_tensors(item)]
    return [value]


def fresh_copies(args: Any) -> list[Any]:
    """Arguments as the grader passes them: arrays copied (so nothing leaks between calls), numbers as they are,
    a dict of arrays copied entry by entry."""
    def fresh(a: Any) -> Any:
        if isinstance(a, dict):
            return {key: fresh(value) for key, value in a.items()}
        return a.copy() if hasattr(a, "copy") and not isinstance(a, (bool, int, float)) else a

    return [fresh(a) for a in args]


def as_plain(value: Any, integers: bool = False, tensors: bool = False) -> Any:
    """A return value as the grader sees it after the wire: float arrays as float64, tuples of them,
    and anything else as a sentence naming its type. ``integers`` (a part's ``integer_result``)
    lets integer and boolean arrays through as float64 too; with ``tensors`` (a PyTorch part) the
    arrays must be torch tensors."""
    import numpy as np

    if isinstance(value, tuple):
        return tuple(as_plain(v, integers, tensors) for v in value)
    if tensors:
        import torch

        if type(value) is torch.Tensor and (value.is_floating_point() or (integers and not value.is_complex())):
            return value.detach().cpu().double().numpy()
        if type(value) is torch.Tensor:
            return f"an array of dtype {str(value.dtype).replace('torch.', '')} (expected floating point)"
        return f"a {type(value).__name__} (expected a torch tensor)"
    if type(value) is np.ndarray and (value.dtype.kind == "f" or (integers and value.dtype.kind in "iub")):
        return value.astype(np.float64)
    return f"a {type(value).__name__}"
