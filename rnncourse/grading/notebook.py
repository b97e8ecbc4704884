"""Reading an untrusted submitted notebook against the instructor's source.

Only the student's *solution* cells (and any cells they added) are taken from the submission.
Locked cells come from the instructor's notebook whatever the submission says, test cells are
never run in the student's process, and every difference — a deleted, duplicated or edited
locked cell, changed nbgrader metadata — is reported as a note.
"""

from __future__ import annotations

import ast
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnncourse.grading.cells import ipython_lines, to_plain_python

__all__ = ["Program", "SubmissionError", "build_program", "find_notebook", "load_notebook"]

MAX_NOTEBOOK_BYTES = 20 * 2**20
#: Lines with magics or shell escapes turned into Python per notebook (the transformer is slow).
MAX_NOTEBOOK_IPYTHON_LINES = 300
METADATA_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task")


class SubmissionError(Exception):
    """The submission cannot be graded at all (no notebook, not JSON, too large)."""


@dataclass
class Program:
    """What runs in the sandbox, in order, and what was noticed on the way."""

    setup: list[str] = field(default_factory=list)  # instructor statements (errors ignored)
    cells: list[tuple[str, str]] = field(default_factory=list)  # (label, student code as plain Python)
    notes: list[str] = field(default_factory=list)  # problems: they go into the status
    info: list[str] = field(default_factory=list)  # harmless facts: feedback only


def find_notebook(folder: Path, notebook: str) -> tuple[Path, list[str]]:
    """The submitted ``notebook.ipynb`` in a student's folder (or its ``<assignment>/`` sub-folder).

    A single notebook under another name is accepted with a note; none, or several candidates,
    is a :class:`SubmissionError`.
    """
    wanted = f"{notebook}.ipynb"

    def plain(path: Path) -> bool:  # a regular file reached without following any link
        relative = path.relative_to(folder)
        steps = [folder.joinpath(*relative.parts[: i + 1]) for i in range(len(relative.parts))]
        return all(not step.is_symlink() for step in steps) and path.is_file() and ".ipynb_checkpoints" not in relative.parts

    # three fixed depths, no recursion: a submission's deep folder tree costs nothing
    candidates = sorted(p for pattern in ("*.ipynb", "*/*.ipynb", "*/*/*.ipynb") for p in folder.glob(pattern) if plain(p))
    exact = [p for p in candidates if p.name == wanted]
    if exact:
        return exact[0], []
    if len(candidates) == 1:
        shown = candidates[0].name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return candidates[0], [f"notebook renamed: graded {shown} as {wanted}"]
    if not candidates:
        raise SubmissionError(f"missing notebook: no {wanted} in the submission")
    raise SubmissionError(f"missing notebook: no {wanted}, and {len(candidates)} other notebooks to choose from")


def load_notebook(path: Path) -> dict[str, Any]:
    """Parse a submitted notebook (a regular file, never through a link), refusing what is not a notebook."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise SubmissionError(f"missing notebook: {path.name} cannot be opened ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise SubmissionError(f"missing notebook: {path.name} is not a regular file")
        raw = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise SubmissionError(f"notebook too large (limit {MAX_NOTEBOOK_BYTES // 2**20} MB)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise SubmissionError(f"invalid notebook: not valid JSON ({str(error)[:80]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise SubmissionError("invalid notebook: no list of cells")
    return data


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def _same_code(a: str, b: str) -> bool:
    """Equal up to line endings, trailing spaces and blank lines at either end."""

    def norm(text: str) -> str:
        return "\n".join(line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")).strip("\n")

    return norm(a) == norm(b)


def _meta(cell: dict[str, Any]) -> dict[str, Any]:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return nbgrader if isinstance(nbgrader, dict) else {}


def _statements(source: str) -> list[str]:
    """Top-level statements of an instructor cell, so one failing import does not stop the rest."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [source]
    return [ast.unparse(node) for node in tree.body]


def build_program(released: dict[str, Any], submitted: dict[str, Any]) -> Program:
    """Assemble the sandbox program from the released notebook (what students were given) and a submission."""
    program = Program()
    setup, tests, solutions = {}, {}, {}
    for cell in released["cells"]:
        meta = _meta(cell)
        if cell.get("cell_type") != "code" or not meta:
            continue
        gid = meta["grade_id"]
        if meta.get("solution"):
            solutions[gid] = cell
        elif meta.get("grade"):
            tests[gid] = cell
        elif meta.get("locked"):
            setup[gid] = cell

    seen_setup: set[str] = set()
    seen_solution: dict[str, int] = {}
    seen_tests: set[str] = set()
    changed_meta: set[str] = set()
    cells = [c for c in submitted["cells"] if isinstance(c, dict)]
    ipython_budget = MAX_NOTEBOOK_IPYTHON_LINES
    stripped = not any(_meta(c) for c in cells)  # pasted into a new notebook, or opened in Colab
    if stripped:
        program.info.append("the notebook has no nbgrader metadata: your answers were found by their function names")
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta = _meta(cell)
        gid = meta.get("grade_id") if isinstance(meta.get("grade_id"), str) else None
        source = _source(cell)
        if gid is None:  # a locked cell without its metadata is recognised by its code
            gid = next((g for g, c in [*setup.items(), *tests.items()] if _same_code(source, _source(c))), None)
            meta = _meta(setup.get(gid) or tests.get(gid) or {}) if gid else meta
        instructor = setup.get(gid) or tests.get(gid) or solutions.get(gid) if gid else None
        if instructor is not None and any(meta.get(k) != _meta(instructor).get(k) for k in METADATA_KEYS):
            changed_meta.add(gid)
        if gid in setup:
            if gid in seen_setup:
                program.notes.append(f"duplicated locked cell {gid} (ran once)")
                continue
            seen_setup.add(gid)
            if not _same_code(source, _source(setup[gid])):
                program.notes.append(f"edited locked cell {gid} (instructor version used)")
            program.setup.extend(_statements(_source(setup[gid])))
        elif gid in tests:
            if gid in seen_tests:
                program.notes.append(f"duplicated test cell {gid} (ignored)")
            elif not _same_code(source, _source(tests[gid])):
                program.notes.append(f"edited test cell {gid} (tests are the instructor's)")
            seen_tests.add(gid)
        else:
            if gid in solutions:
                seen_solution[gid] = seen_solution.get(gid, 0) + 1
                if seen_solution[gid] == 2:
                    program.notes.append(f"duplicated answer cell {gid} (both ran, in order)")
            ipython_budget -= ipython_lines(source)
            plain = to_plain_python(source, transform=ipython_budget >= 0)
            program.info += [f"not run while grading: {command}" for command in plain.skipped]
            program.cells.append((gid or f"#{index + 1}", plain.source))
    restored = [gid for gid in setup if gid not in seen_setup]
    if not stripped:
        program.notes += [f"deleted locked cell {gid} (restored)" for gid in restored]
    program.setup[:0] = [statement for gid in restored for statement in _statements(_source(setup[gid]))]
    if not stripped:
        for gid in solutions:
            if gid not in seen_solution:
                program.notes.append(f"deleted answer cell {gid}")
        for gid in tests:
            if gid not in seen_tests:
                program.notes.append(f"deleted test cell {gid} (graded anyway)")
    for gid in sorted(changed_meta):
        program.notes.append(f"changed nbgrader metadata of {gid} (ignored)")
    return program
