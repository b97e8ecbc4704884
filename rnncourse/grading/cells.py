"""Turning a notebook cell (IPython syntax) into the plain Python the sandbox runs.

The sandbox has no IPython: magics and shell escapes never run while a notebook is graded. Each
one becomes plain Python with the same effect on the notebook's names, or nothing:

- ``%time``/``%%time``, ``%prun``/``%%prun`` and ``%%capture`` run their code as ordinary code;
- every other magic (``%matplotlib``, ``%config``, ``%timeit``, ``%load_ext``, ``%pip``, ``?``
  help, ``%%writefile``, ``%run`` ...) and every shell escape (``!cmd``, ``%%bash``) is replaced
  by ``None``. ``%%timeit`` keeps nothing its body defines in IPython either.

The static delegation check and the sandbox both see this one plain-Python version, so code
hidden in a magic's argument is read like any other code. Line numbers are kept.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

__all__ = ["PlainCell", "to_plain_python"]

#: Magics whose argument (or cell body) is code that runs in the notebook's namespace.
RUNS_ITS_CODE = {"time", "prun", "capture"}
#: Magics worth telling the student about: they would have changed files or run programs.
NOTEWORTHY = {"writefile", "run", "load", "script", "bash", "sh", "system", "sx", "pip", "conda", "python", "python3", "perl", "ruby"}


@dataclass
class PlainCell:
    """A cell as plain Python, and what was left out of it."""

    source: str
    skipped: list[str] = field(default_factory=list)


def _transform(source: str) -> str:
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot transform runs (and fails) as written
        return source


def _ipython_call(node: ast.AST) -> tuple[str, list[str]] | None:
    """``get_ipython().METHOD('a', 'b')`` -> (METHOD, ['a', 'b']); constant arguments only."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
        return None
    target = node.func.value
    if not (isinstance(target, ast.Call) and isinstance(target.func, ast.Name) and target.func.id == "get_ipython"):
        return None
    if node.keywords or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
        return None
    return node.func.attr, [a.value for a in node.args]  # type: ignore[union-attr]


def _offsets(text: str) -> list[int]:
    starts, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


#: IPython syntax: a line starting with %, ! or ?, ending with ?, or assigning from ! or %.
_IPYTHON_SYNTAX = re.compile(r"^\s*[%!?]|\?\s*$|=\s*[!%]", re.MULTILINE)
#: IPython's transformer takes time quadratic in the number of such lines: past this many in one cell,
#: the cell runs as written (and fails on them, as plain Python).
MAX_IPYTHON_LINES = 100


def ipython_lines(source: str) -> int:
    """How many lines of ``source`` use IPython syntax."""
    return len(_IPYTHON_SYNTAX.findall(source))


def to_plain_python(source: str, transform: bool = True) -> PlainCell:
    """The cell as plain Python (see the module's docstring); ``transform=False`` takes it as written."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if not _IPYTHON_SYNTAX.search(source):
        return PlainCell(source)  # plain Python already: nothing to do
    if not transform or ipython_lines(source) > MAX_IPYTHON_LINES:
        return PlainCell(source, ["a cell with too many magics or shell lines to read (it ran as written)"])
    transformed = _transform(source)
    cell = PlainCell(transformed)
    try:
        tree = ast.parse(transformed)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return cell  # it fails the same way in the sandbox, where the error is reported
    # a whole-cell magic: `%%name line` then the body
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        call = _ipython_call(tree.body[0].value)
        if call and call[0] == "run_cell_magic" and len(call[1]) == 3:
            name, line, body = call[1]
            if name in RUNS_ITS_CODE:
                inner = to_plain_python(body)
                return PlainCell("\n" + inner.source, inner.skipped)
            if name in NOTEWORTHY:
                cell.skipped.append(f"%%{name} {line}".strip())
            return PlainCell("\n" * source.count("\n"), cell.skipped)

    starts = _offsets(transformed)
    edits: list[tuple[int, int, str]] = []
    statements = {id(n.value): n for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    for node in ast.walk(tree):
        call = _ipython_call(node)
        if call is None:
            continue
        method, args = call
        replacement = "None"
        span: ast.AST = node
        if method == "run_line_magic" and len(args) == 2:
            name, argument = args
            if name in RUNS_ITS_CODE and argument.strip():
                if id(node) in statements:
                    inner = to_plain_python(argument.strip())
                    span, replacement = statements[id(node)], inner.source.strip() or "None"
                    cell.skipped += inner.skipped
                else:
                    try:
                        ast.parse(argument.strip(), mode="eval")
                        replacement = f"({argument.strip()})"
                    except SyntaxError:
                        pass
            elif name in NOTEWORTHY:
                cell.skipped.append(f"%{name} {argument}".strip())
        elif method in ("system", "getoutput") and args:
            cell.skipped.append(f"!{args[0]}")
        elif method == "run_cell_magic":
            pass  # only valid as the whole cell, handled above
        start = starts[span.lineno - 1] + span.col_offset  # type: ignore[attr-defined]
        end = starts[span.end_lineno - 1] + span.end_col_offset  # type: ignore[attr-defined]
        edits.append((start, end, replacement))
    text = transformed
    for start, end, replacement in sorted(edits, reverse=True):  # arguments are strings: spans never nest
        text = text[:start] + replacement + text[end:]
    cell.source = text
    return cell
