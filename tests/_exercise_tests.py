"""What the per-exercise tests share: an exercise's notebooks, namespaces, hidden cases, scores and mutants,
and the helpers of its sandboxed grading test.

Exercises 2 to 4 keep their own copies of these helpers (tests/test_ex0[2-4].py, tests/test_grading_ex0[2-4].py);
exercise 5 on uses this module:

    EX = Exercise("ex05_seq2seq", FUNCTIONS, check_ex05, given=("given_gru_cell",))
    EX.namespace(mistake)          # the instructor's answers with one function replaced
    EX.hidden(cell, namespace)     # the hidden cases of a cell that fail, for two students
    EX.score(namespace)            # the hidden score, on cases drawn once (for the mutation tests)
    EX.mutants(function)           # every single mechanical mutation of an answer
"""

from __future__ import annotations

import ast
import copy
import types
import warnings
from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Any

import numpy as np

from rnncourse.grading import course
from rnncourse.grading.grader import compare_result
from rnncourse.grading.inkernel import as_plain, fresh_copies
from rnncourse.grading.spec import Case, case_rng, load_spec

from _hidden import STUDENTS, Mistake, answer_cells, hidden_problems, notebook_cells, visible_cells
from _notebooks import ROOT
from corpus import with_answer
from test_ex02 import _changed_line, _function_body, _replacements, _swap

__all__ = ["Exercise", "correct_notebook", "lost_points", "part_results", "unusual_styles", "with_variants"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


class Exercise:
    """One assignment as the tests see it: its grading spec, the released visible checks, the instructor's answers.

    Args:
        assignment: the folder name under ``solutions/`` (also the notebook's name).
        functions: the students' functions, in the order their cells define them.
        check: the self-check module (``rnncourse.checks.exNN``), bound to ``check`` in the namespace as in the notebook.
        given: grade_ids of locked code cells of the notebook that define functions the students call (run first).
    """

    def __init__(self, assignment: str, functions: tuple[str, ...], check: types.ModuleType, given: tuple[str, ...] = ()):
        self.assignment = assignment
        self.functions = functions
        self.check = check
        self.spec, self.secret = load_spec(ROOT, assignment)
        self.parts = {part.cell: part for part in self.spec.parts}
        self.solution_path = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
        self.released_path = ROOT / "exercises" / assignment / f"{assignment}.ipynb"
        self.visible = visible_cells(self.released_path)
        self.solution = answer_cells(self.solution_path)
        cells = {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in notebook_cells(self.solution_path)}
        self.given = {grade_id: _source(cells[grade_id]) for grade_id in given}

    # ------------------------------------------------------------------ namespaces and hidden cases

    def namespace(self, replacement: Mistake | None = None, sources: dict[str, str] | None = None) -> dict[str, Any]:
        """A student's notebook namespace: the given cells, the instructor's answers, one function replaced."""
        namespace: dict[str, Any] = {"np": np, "check": self.check, "__name__": "__main__"}
        for grade_id, source in self.given.items():
            exec(compile(source, f"<given {grade_id}>", "exec"), namespace)
        for function in self.functions:
            exec(compile((sources or self.solution)[function], f"<solution {function}>", "exec"), namespace)
        if replacement is not None:
            exec(compile(replacement.source, f"<{replacement.name}>", "exec"), namespace)
        return namespace

    def hidden(self, cell: str, namespace: dict[str, Any]) -> list[str]:
        """The hidden cases of ``cell`` that fail, for every test student."""
        return hidden_problems(self.spec, self.secret, cell, namespace)

    def cells_of(self, function: str) -> list[str]:
        return [cell for cell, part in self.parts.items() if part.function == function]

    def drawn(self, cell: str) -> Iterator[tuple[Case, list[Any]]]:
        """Every hidden case's arguments of ``cell``, as each test student gets them."""
        part = self.parts[cell]
        for student in STUDENTS:
            for index, case in enumerate(part.cases):
                yield case, case.make_args(case_rng(self.secret, student, cell, index))

    # ------------------------------------------------------------------ scores on cases drawn once

    @cached_property
    def cases(self) -> dict[str, list[tuple[list[Any], Any, Case]]]:
        """Each part's hidden cases for one student: the arguments and the expected result, computed once."""
        drawn = {}
        for part in self.spec.parts:
            drawn[part.cell] = []
            for index, case in enumerate(part.cases):
                args = case.make_args(case_rng(self.secret, "mutant", part.cell, index))
                drawn[part.cell].append((args, case.reference(*fresh_copies(args)), case))
        return drawn

    def score(self, namespace: dict[str, Any]) -> float:
        """The hidden score (partial credit per case, compared as the grader compares after the wire)."""
        total = 0.0
        for part in self.spec.parts:
            function = namespace[part.function]
            passed = 0
            for args, expected, case in self.cases[part.cell]:
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        value = function(*fresh_copies(args))
                except Exception:
                    continue
                passed += compare_result(as_plain(value, part.integer_result), expected, case, part=part) is None
            total += part.points * passed / len(self.cases[part.cell])
        return total

    # ------------------------------------------------------------------ mutants

    def mutants(self, function: str, extra: Callable[[ast.AST], Iterator[ast.AST]] | None = None) -> Iterator[tuple[str, str]]:
        """``(changed line, mutated source)`` for every single mutation inside the answer's body: exercise 2's
        operators (an operator swapped, a term or a transpose dropped, a wrong axis, a comparison flipped, argmin for
        argmax, max for min, mean for sum, an off-by-one constant), and ``extra``'s."""
        source = self.solution[function]
        _, owner = _function_body(source)
        count = sum(1 for _ in ast.walk(ast.Module(body=owner.body, type_ignores=[])))
        for index in range(count):
            tree, owner = _function_body(source)
            nodes = list(ast.walk(ast.Module(body=owner.body, type_ignores=[])))
            target = nodes[index]
            if isinstance(target, ast.Expr) and isinstance(target.value, ast.Constant):
                continue  # the docstring
            for replacement in [*_replacements(target), *(extra(target) if extra else ())]:
                mutated = copy.deepcopy(tree)
                if _swap(mutated, target, replacement, tree) is None:
                    continue
                yield _changed_line(ast.unparse(tree), ast.unparse(mutated)), ast.unparse(mutated)

    def surviving_mutants(self, function: str, equivalent: set[str],
                          extra: Callable[[ast.AST], Iterator[ast.AST]] | None = None) -> tuple[int, list[str]]:
        """How many mutants of ``function`` were tried, and those that keep full marks without being listed as
        ``equivalent`` (by their changed line)."""
        survivors, tried = [], 0
        for line, source in self.mutants(function, extra):
            try:
                namespace = self.namespace(sources={**self.solution, function: source})
            except Exception:
                continue  # does not even define the function: the student would see that at once
            tried += 1
            if self.score(namespace) >= self.spec.max_score and line not in equivalent:
                survivors.append(line)
        return tried, survivors


# --------------------------------------------------------------------------- the sandboxed grading tests


def correct_notebook(assignment: str) -> dict:
    """The released notebook with the instructor's answers filled in."""
    return course.filled_in(ROOT, assignment, assignment)


def with_variants(assignment: str, *variants: Mistake) -> dict:
    """The correct notebook with each variant's function replaced by the variant."""
    nb = correct_notebook(assignment)
    for variant in variants:
        nb = with_answer(nb, variant.function, variant.source)
    return nb


def unusual_styles(assignment: str, variants: list[Mistake], index: int) -> dict:
    """One unusual style per function: the ``index``-th variant of each (or its last)."""
    chosen: dict[str, list[Mistake]] = {}
    for variant in variants:
        chosen.setdefault(variant.function, []).append(variant)
    return with_variants(assignment, *(group[min(index, len(group) - 1)] for group in chosen.values()))


def part_results(result) -> dict:
    return {p.cell: p for p in result.parts}


def lost_points(result) -> dict:
    return {p.cell: round(p.points - p.score, 4) for p in result.parts if p.score < p.points}
