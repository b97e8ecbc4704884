"""The graded notebook for nbgrader's formgrader: ``autograded/<student>/<assignment>/<notebook>.ipynb``.

The formgrader shows this file next to the gradebook's scores. It is the student's notebook with
every locked cell put back to the released version, outputs cleared, and each graded cell's output
replaced by what ``rnncourse grade`` found.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import nbformat

from rnncourse.grading.grader import SubmissionResult

__all__ = ["write_autograded"]


def _result_text(result: SubmissionResult, cell: str) -> str:
    part = next((p for p in result.parts if p.cell == cell), None)
    if part is None:
        return "not graded\n"
    lines = [f"rnncourse grade: {part.score:g} / {part.points:g} points"]
    if part.delegation:
        lines.append(f"no points: {part.delegation}")
    lines += [f"  {'PASS' if c.passed else 'FAIL'} {c.name}: {c.message}" for c in part.cases]
    return "\n".join(lines) + "\n"


def write_autograded(released: dict[str, Any], submitted: dict[str, Any], result: SubmissionResult, folder: Path) -> Path | None:
    """Write the formgrader's copy of one submission; returns its path, or None if it is not a valid notebook."""
    locked = {
        c["metadata"]["nbgrader"]["grade_id"]: c
        for c in released["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("locked")
    }
    notebook = copy.deepcopy(submitted)
    for cell in notebook.get("cells", []):
        if not isinstance(cell, dict):
            continue
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        gid = metadata.get("nbgrader", {}).get("grade_id") if isinstance(metadata.get("nbgrader"), dict) else None
        if gid in locked:
            cell["source"] = locked[gid]["source"]
            cell["metadata"] = copy.deepcopy(locked[gid]["metadata"])
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if gid in locked and locked[gid]["metadata"]["nbgrader"].get("grade"):
                cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": _result_text(result, gid)}]
    try:
        node = nbformat.from_dict(notebook)
        nbformat.validate(node)
    except Exception:  # noqa: BLE001 - a submission too broken to show is simply not written
        return None
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.notebook}.ipynb"
    nbformat.write(node, path)
    return path
