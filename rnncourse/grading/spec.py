"""The checking format: what the grader calls, with what, and what it expects back.

An assignment's grading spec lives beside its instructor notebook, in
``solutions/<assignment>/grading.py`` (never released: ``nbgrader_config.py`` ignores it), and
defines ``SPEC = AssignmentSpec(...)``. Each :class:`Part` is one graded cell of the notebook
(same ``grade_id``, same points). A part names the student's function, the calls to make
(:class:`Case`: arguments drawn from a random generator, and the reference to compare with),
and the modules the function must not use. The grader:

1. draws every case's arguments with a generator seeded from a secret (the solution notebook's
   hash), the student id and the case, so inputs are fresh per student but a re-run is identical;
2. sends the arguments to the student's sandboxed process as plain JSON and receives plain JSON;
3. computes the reference itself and compares (type, shape, finite, tolerance) in its own
   process; a part scores ``points * passed_cases / cases`` (partial credit);
4. gives zero to a part whose function reaches a forbidden module (see :mod:`.analysis`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["AssignmentSpec", "Case", "Part", "case_rng", "load_spec"]

ArgsMaker = Callable[[np.random.Generator], Sequence[Any]]

#: Modules that exercise code written "by hand" must not reach, unless a part says otherwise.
DEFAULT_FORBIDDEN = ("rnncourse", "torch", "scipy", "sklearn", "jax", "tensorflow")


@dataclass(frozen=True)
class Case:
    """One call of the student's function.

    Attributes:
        name: shown in feedback, e.g. ``"batch of 9, D=7, H=2"`` (describe sizes, not values).
        make_args: draws the positional arguments from a generator: NumPy arrays (sent as float64, except boolean
            arrays, sent as bool, and integer arrays, sent as int64), Python numbers, or dicts of such arrays
            (named parameters), sent entry by entry.
        reference: computes the expected result from the same arguments (an array or a tuple of arrays).
        rtol, atol: tolerances of the comparison; only float error should need them.
    """

    name: str
    make_args: ArgsMaker
    reference: Callable[..., Any]
    rtol: float = 1e-6
    atol: float = 1e-8
    #: The student's function receives torch tensors (float64, CPU) and must return tensors;
    #: the reference receives the same values as tensors too.
    tensors: bool = False
    #: Positions (from 0) of the arguments whose gradients are graded too (only with ``tensors``).
    #: The grader draws a fixed random weighting ``P_k`` of every tensor the function returns and
    #: compares the gradient of ``sum_k <output_k, P_k>`` with respect to those arguments, computed by
    #: autograd through the student's function (in the sandbox) and through the reference (here).
    gradients: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.gradients and not self.tensors:
            raise ValueError(f"case {self.name!r}: gradients are graded only for tensor cases (tensors=True)")


@dataclass(frozen=True)
class Part:
    """One graded cell: ``cell`` is its nbgrader ``grade_id``; ``points`` must match the notebook."""

    cell: str
    function: str
    points: float
    cases: tuple[Case, ...]
    #: Modules (``"scipy"``) or names inside allowed packages (``"torch.nn.LSTM"``) the function must not reach.
    forbidden: tuple[str, ...] = DEFAULT_FORBIDDEN
    description: str = ""
    #: Added to the feedback when the values are wrong: the usual mistake, as the self-check says it.
    hint: str = ""
    #: ``diagnose(value, expected) -> message | None``, run before the generic comparison: the
    #: self-check's own test for a typical mistake (e.g. only the last state returned), so the
    #: graded feedback says what the visible check would have said.
    diagnose: Callable[[Any, Any], str | None] | None = None
    #: The answer is an array of integers (indices, say): integer arrays are accepted, as float64.
    integer_result: bool = False


@dataclass(frozen=True)
class AssignmentSpec:
    """How one notebook of an assignment is graded."""

    notebook: str
    parts: tuple[Part, ...]
    #: Seconds one call of a student function may take, and one notebook cell.
    call_timeout: float = 10.0
    cell_timeout: float = 30.0
    #: Distributions that exist inside the sandbox (with their dependencies; NumPy always).
    #: Everything else, ``rnncourse`` included, is absent there.
    packages: tuple[str, ...] = ("numpy", "matplotlib")
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_score(self) -> float:
        return float(sum(part.points for part in self.parts))


def case_rng(secret: bytes, student: str, part: str, case_index: int) -> np.random.Generator:
    """The generator for one case: fresh per student and case, identical on every re-run."""
    digest = hashlib.sha256(b"\0".join([secret, student.encode(), part.encode(), str(case_index).encode()])).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "little"))


def load_spec(root: Path, assignment: str) -> tuple[AssignmentSpec, bytes]:
    """Import ``solutions/<assignment>/grading.py`` and return its ``SPEC`` and the grading secret.

    The secret is the hash of the assignment's instructor sources, which students never see.
    """
    folder = root / "solutions" / assignment
    path = folder / "grading.py"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: every assignment needs a grading spec")
    module_spec = importlib.util.spec_from_file_location(f"rnncourse_grading_spec_{assignment}", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec = getattr(module, "SPEC", None)
    if not isinstance(spec, AssignmentSpec):
        raise TypeError(f"{path} must define SPEC = AssignmentSpec(...)")
    secret = hashlib.sha256()
    for source in sorted(folder.glob("*")):
        if source.is_file():
            secret.update(source.name.encode() + b"\0" + source.read_bytes())
    return spec, secret.digest()
