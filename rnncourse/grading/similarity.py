"""A similarity report of the students' answers: it informs the instructor and never changes a score.

``rnncourse similarity ASSIGNMENT SUBMISSIONS`` reads the submissions exactly as ``rnncourse grade``
does (:func:`~rnncourse.grading.batch.discover_submissions`, :func:`~rnncourse.grading.notebook.find_notebook`)
and writes ``similarity.json`` and ``similarity.html`` (self-contained, no script) into the output folder.

How answers are compared
------------------------

1. **Answers.** For each student, the source of every graded answer cell (nbgrader ``solution``
   cells, keyed by ``grade_id``; found by the functions they define when a notebook lost its
   metadata). A cell left as released (``raise NotImplementedError()``) is no answer.
2. **Normalisation** (:func:`normalise`). The cell is parsed with :mod:`ast` (magics become plain
   Python first, as for grading) and read with :mod:`tokenize`: comments, docstrings, type
   annotations and layout (line breaks, spacing, trailing commas, parentheses that only wrap a
   whole expression, a body on the line of its ``if``/``for``) disappear; string literals become
   ``STR``; names *bound* in a function (arguments, assigned names, loop variables, nested
   functions) become ``V1, V2, ...`` in order of first use, numbered afresh in each function; names
   defined by the cell itself at top level (its functions, classes and variables) become
   ``F1, F2, ...``. Everything else is kept as written, because it carries meaning: attribute names
   (``.T``, ``.max``), library and built-in names (``np.tanh``, ``range``), keyword-argument names
   (``axis=``), operators (``@``) and numbers. The cell is then cut into its top-level functions
   and classes (plus one unit for the remaining top-level statements, in their order) and the units
   are sorted by their normalised text (with the cell's own names blanked), so the order of the
   functions does not matter. Code that does not parse is normalised from a plain
   regular-expression tokenizer instead (same idea, without scopes).
3. **Fingerprints** (:func:`fingerprints`). Hashes of every ``k``-gram of normalised tokens
   (``k = 5``) are winnowed as in MOSS (Schleimer, Wilkerson and Aiken, *Winnowing: local algorithms
   for document fingerprinting*, SIGMOD 2003): the smallest hash of every window of ``w = 4``
   consecutive k-grams is kept, so any shared run of at least ``w + k - 1 = 8`` tokens is found.
   Every k-gram of the released stub of the cell is removed (the given ``def`` line is nobody's work).
4. **Corpus frequency.** A fingerprint found in the answers of more than
   ``max(common_min, common_fraction * answers)`` students of a cell (by default more than 20 %
   of them, and more than 5) is the way most people write it (``np.exp(o - o.max(...))``): it is
   evidence of nothing and ignored everywhere, for student pairs and reference pairs alike. The
   others weigh ``log((answers + 1) / students having it)``: a fingerprint two students share
   counts for more than one fifty share.
5. **Scores.** For two answers ``A, B`` (their remaining fingerprints, weighted):
   ``jaccard = w(A & B) / w(A | B)`` and ``containment = w(A & B) / min(w(A), w(B))``; both are
   reported. A pair is only scored when both answers keep at least ``min_fingerprints`` (16)
   fingerprints, about three lines of code beyond the stub: smaller answers (the one-line
   ``elman_step``, a two-line ``jordan_step``) are alike by necessity, honest ones included. Student
   pairs are flagged at ``jaccard >= threshold`` (0.8). The same is done for the whole submission
   (cell ``*``: all answer cells together, fingerprints kept apart per cell), which is where
   copies of small answers show.
6. **References.** Each answer is also compared with the course's reference code: the instructor's
   solution cell of the same ``grade_id`` (``solutions/<assignment>/<notebook>.ipynb``, whose only
   non-stub part is the ``### BEGIN SOLUTION`` region) and the source of every public function
   (and public method of a public class) of :data:`REFERENCE_MODULES`, read from the files without
   importing them. An answer is flagged against a reference when at least ``threshold`` of its
   (weighted) fingerprints are in that reference: containment, since a reference function is
   often longer than the answer. Cell ``*`` sums over the cells, each against its best reference.

The defaults were tuned on the honest, deliberately varied solutions of ``tests/test_similarity.py``
(methods, ``einsum``, per-row loops, helpers, ``np.matmul``, log-sum-exp, and two written from the
book's equations, whose one-liners are the course's own word for word): their highest score in a
scored cell is 0.30 (Jaccard), over whole submissions 0.08 between students and 0.47 against the
course's code, while
renamed, reformatted, commented and reordered copies score 1.0. A flag is a reason to look, never
a verdict: two students following the same tutorial, or the course's own book, can be flagged
honestly, and a class where many students copied the same source makes that source "common".
"""

from __future__ import annotations

import ast
import builtins
import html
import importlib.util
import io
import json
import keyword
import math
import re
import tempfile
import textwrap
import time
import tokenize
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncourse.grading import course
from rnncourse.grading.batch import discover_submissions, safe_extract
from rnncourse.grading.cells import to_plain_python
from rnncourse.grading.notebook import SubmissionError, find_notebook, load_notebook

__all__ = [
    "ALL_CELLS",
    "REFERENCE_MODULES",
    "Answer",
    "Normalised",
    "Pair",
    "Report",
    "Settings",
    "answer_cells",
    "collect_answers",
    "compare",
    "fingerprints",
    "instructor_references",
    "normalise",
    "reference_sources",
    "render_html",
    "similarity_report",
    "submitted_answers",
    "write_report",
]

#: The ``cell`` of a pair that compares whole submissions (all answer cells together).
ALL_CELLS = "*"
#: Modules whose public functions are the course's published reference code. Every assignment is
#: compared with all of them (simple, and no mapping to keep up to date): a student copying
#: ``rnncourse.gated.lstm_cell`` into exercise 3 is found whatever module the exercise is about.
REFERENCE_MODULES = (
    "rnncourse.dynamics",
    "rnncourse.bptt",
    "rnncourse.gated",
    "rnncourse.esn",
    "rnncourse.seq2seq",
    "rnncourse.sampling",
)
JSON_FILE = "similarity.json"
HTML_FILE = "similarity.html"
_BUILTINS = frozenset(dir(builtins))


@dataclass(frozen=True)
class Settings:
    """The knobs of the comparison (see the module's docstring for what each one does)."""

    #: tokens per k-gram
    k: int = 5
    #: k-grams per winnowing window
    window: int = 4
    #: flag a student pair at this (weighted) Jaccard similarity, and a student-reference pair at this containment
    threshold: float = 0.8
    #: pairs are scored only if both answers keep this many fingerprints
    min_fingerprints: int = 16
    #: a fingerprint in more than this fraction of a cell's answers is ignored ...
    common_fraction: float = 0.2
    #: ... and only when it is in more than this many answers
    common_min: int = 5
    #: unflagged pairs scoring at least this (either score) are listed in the JSON too
    report_floor: float = 0.5
    #: at most this many flagged pairs are shown in the HTML
    html_limit: int = 300
    #: at most this many pairs (flagged first) are listed in the JSON
    max_pairs: int = 20_000


# --------------------------------------------------------------------------- normalisation


@dataclass(frozen=True)
class Normalised:
    """A cell as a stream of normalised tokens, each with the line (from 1) of the original cell it comes from."""

    tokens: tuple[str, ...]
    lines: tuple[int, ...]
    parsed: bool = True

    @property
    def text(self) -> str:
        """The tokens joined by spaces (readable: ``;`` ends a statement, ``{|``/``|}`` open and close a block)."""
        return " ".join(self.tokens)


#: Tokens standing for an indented block's start and end (never Python tokens).
BLOCK_OPEN, BLOCK_CLOSE = "{|", "|}"
#: Statements whose header ends with ``:`` and may be followed by their body on the same line.
_COMPOUND = frozenset({"if", "elif", "else", "for", "while", "with", "def", "class", "try", "except", "finally", "async"})

_Marker = tuple[str, str]  # ("V", name) for a local name, ("F", name) for a name the cell defines at top level


def _char_col(lines: Sequence[str], lineno: int, byte_col: int) -> int:
    """ast counts columns in UTF-8 bytes, tokenize in characters."""
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    if line.isascii():
        return byte_col
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "ignore"))


def _walk_scope(nodes: Iterable[ast.AST]) -> Iterable[ast.AST]:
    """Every node under ``nodes`` without entering function, lambda or class bodies."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                stack.extend(d for d in node.args.defaults + node.args.kw_defaults if d is not None)
            continue
        if isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))


def _bound_names(nodes: Iterable[ast.AST], deep: bool) -> set[str]:
    """Names bound among ``nodes`` (already walked) by assignment, loops, ``with``/``except ... as``,
    definitions and (if ``deep``) arguments."""
    names: set[str] = set()
    declared_global: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg) and deep:
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.Global):
            declared_global.update(node.names)
    return names - declared_global


def _is_bare_string(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and (
        (isinstance(node.value, ast.Constant) and isinstance(node.value.value, (str, bytes))) or isinstance(node.value, ast.JoinedStr)
    )


def normalise(source: str) -> Normalised:
    """Normalise one cell's code (see the module's docstring): robust to renamed variables,
    reordered functions, comments, docstrings and layout."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    try:
        plain = to_plain_python(source).source
    except Exception:  # noqa: BLE001 - IPython could not read it: take it as written
        plain = source
    try:
        tree = ast.parse(plain)
        tokens = list(tokenize.generate_tokens(io.StringIO(plain).readline))
    except (SyntaxError, ValueError, RecursionError, MemoryError, tokenize.TokenError):
        return _normalise_fallback(plain)
    try:
        return _normalise_parsed(plain, tree, tokens)
    except RecursionError:
        return _normalise_fallback(plain)


def _normalise_parsed(plain: str, tree: ast.Module, tokens: list[tokenize.TokenInfo]) -> Normalised:
    text_lines = plain.split("\n")
    top_defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    module_statements = [s for s in tree.body if not isinstance(s, top_defs)]
    cell_level = _bound_names(_walk_scope(tree.body), deep=False)

    # units: each top-level def/class, and one for the rest; line -> unit
    units: list[ast.AST | None] = [None]
    unit_of_line: dict[int, int] = {}
    for statement in tree.body:
        start = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        index = 0
        if isinstance(statement, top_defs):
            units.append(statement)
            index = len(units) - 1
        for line in range(start, (statement.end_lineno or statement.lineno) + 1):
            unit_of_line.setdefault(line, index)

    # which name occurrences are renamed, by (line, column in characters)
    markers: dict[tuple[int, int], _Marker] = {}

    def mark(node: ast.AST, name: str, kind: str) -> None:
        markers[(node.lineno, _char_col(text_lines, node.lineno, node.col_offset))] = (kind, name)  # type: ignore[attr-defined]

    def mark_scope(nodes: Iterable[ast.AST], local: set[str]) -> None:
        for node in nodes:
            if isinstance(node, ast.Name):
                if node.id in local:
                    mark(node, node.id, "V")
                elif node.id in cell_level:
                    mark(node, node.id, "F")
            elif isinstance(node, ast.arg):
                mark(node, node.arg, "V")

    # every node once: those of the top-level statements, then those inside each def or class
    everything = [node for statement in module_statements for node in ast.walk(statement)]
    top_arguments = {node.arg for node in everything if isinstance(node, ast.arg)}  # of lambdas at top level
    mark_scope(everything, top_arguments)
    locals_of: dict[int, set[str]] = {0: top_arguments}
    for index, unit in enumerate(units[1:], 1):
        assert unit is not None
        inside = list(ast.walk(unit))
        local = _bound_names(inside[1:], deep=True)
        locals_of[index] = local
        mark_scope(inside[1:], local)
        everything += inside

    # left out: docstrings (any bare string statement) and type annotations (with their `:` or `->`)
    left_out: dict[int, list[tuple[int, int, int, int]]] = {}
    annotation_starts: set[tuple[int, int]] = set()

    def leave_out(node: ast.AST) -> tuple[int, int]:
        r0, r1 = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        c0 = _char_col(text_lines, r0, node.col_offset)  # type: ignore[attr-defined]
        c1 = _char_col(text_lines, r1, node.end_col_offset or 0)  # type: ignore[attr-defined]
        for row in range(r0, r1 + 1):
            left_out.setdefault(row, []).append((r0, c0, r1, c1))
        return r0, c0

    for node in everything:
        if _is_bare_string(node):
            leave_out(node)
        annotation = getattr(node, "annotation", None) if isinstance(node, (ast.arg, ast.AnnAssign)) else None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotation = node.returns
        if annotation is not None:
            annotation_starts.add(leave_out(annotation))

    def is_left_out(row: int, col: int) -> bool:
        return any((r0, c0) <= (row, col) < (r1, c1) for r0, c0, r1, c1 in left_out.get(row, ()))

    # pass 1: tokens per unit, names still as markers
    raw: list[list[tuple[str | _Marker, int]]] = [[] for _ in units]
    previous_name: list[str] = ["" for _ in units]
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}
    tokens = [tok for tok in tokens if tok.type not in skip]
    last_unit = 0
    brackets: list[list[Any]] = []  # open brackets: [character, commas inside, is a call]
    statement_first = ""  # the first token of the statement being read
    inline_blocks = 0  # `if x: y` read as `if x:` and an indented `y`: blocks to close at the end of the line
    for position, tok in enumerate(tokens):
        row, col = tok.start
        # a dedent is reported on the line of the next statement: it closes the previous one's unit
        unit = last_unit if tok.type == tokenize.DEDENT else unit_of_line.get(row)
        if unit is None:
            continue
        last_unit = unit
        out = raw[unit]
        value: str | _Marker
        if is_left_out(row, col) or (tok.string in (":", "->") and position + 1 < len(tokens)
                                     and tokens[position + 1].start in annotation_starts):
            continue
        if tok.type == tokenize.NAME:
            marker = markers.get((row, col))
            before = previous_name[unit]
            previous_name[unit] = tok.string
            if marker is not None:
                value = marker
            elif before in ("def", "class"):
                first_def = not any(isinstance(v, str) and v in ("def", "class") for v, _ in out[:-1])
                if unit > 0 and first_def and tok.string in cell_level:
                    value = ("F", tok.string)
                elif unit > 0 and tok.string in locals_of[unit]:
                    value = ("V", tok.string)
                elif tok.string in cell_level:
                    value = ("F", tok.string)
                else:
                    value = tok.string
            else:
                value = tok.string
        else:
            previous_name[unit] = ""
            if tok.type == tokenize.STRING:
                value = "STR"
            elif tok.type == tokenize.NEWLINE:
                for _ in range(inline_blocks):
                    if out and out[-1][0] != ";":
                        out.append((";", row))
                    out.append((BLOCK_CLOSE, row))
                inline_blocks = 0
                statement_first = ""
                if not out or out[-1][0] in (";", BLOCK_OPEN, BLOCK_CLOSE):
                    continue
                value = ";"
            elif tok.type == tokenize.INDENT:
                value = BLOCK_OPEN
                row = out[-1][1] if out else row  # the line of the header, not of the first statement
            elif tok.type == tokenize.DEDENT:
                value = BLOCK_CLOSE
                row = out[-1][1] if out else row
            else:
                value = tok.string
                if value in ("(", "[", "{"):
                    before = out[-1][0] if out else ";"
                    called = isinstance(before, tuple) or before in (")", "]") or (before.isidentifier() and not keyword.iskeyword(before))
                    brackets.append([value, 0, called])
                elif value == "," and brackets:
                    brackets[-1][1] += 1
                elif value in (")", "]", "}") and brackets:
                    opened, commas, called = brackets.pop()
                    if out and out[-1][0] == "," and not (opened == "(" and commas == 1 and not called):
                        out.pop()  # a trailing comma is layout (but not in the tuple `(x,)`)
                elif value == ";":
                    statement_first = ""
        if not statement_first and tok.type not in (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            statement_first = tok.string
        out.append((value, row))
        if (value == ":" and not brackets and statement_first in _COMPOUND and position + 1 < len(tokens)
                and tokens[position + 1].type != tokenize.NEWLINE):
            out += [(";", row), (BLOCK_OPEN, row)]  # a one-line suite: as if it were indented
            inline_blocks += 1

    raw = [_drop_grouping_parens(unit_tokens) for unit_tokens in raw]

    # local names numbered per unit in order of first use; units sorted with the cell's own names blanked
    def render(unit_tokens: list[tuple[str | _Marker, int]], cell_names: Mapping[str, str] | None) -> list[str]:
        numbers: dict[str, str] = {}
        rendered = []
        for value, _ in unit_tokens:
            if isinstance(value, tuple):
                kind, name = value
                if kind == "V":
                    value = numbers.setdefault(name, f"V{len(numbers) + 1}")
                else:
                    value = cell_names.get(name, "F") if cell_names is not None else "F"
            rendered.append(value)
        return rendered

    order = sorted((i for i in range(len(units)) if raw[i]), key=lambda i: render(raw[i], None))
    cell_names: dict[str, str] = {}
    for i in order:
        for value, _ in raw[i]:
            if isinstance(value, tuple) and value[0] == "F":
                cell_names.setdefault(value[1], f"F{len(cell_names) + 1}")
    out_tokens: list[str] = []
    out_lines: list[int] = []
    for i in order:
        out_tokens += render(raw[i], cell_names)
        out_lines += [line for _, line in raw[i]]
    return Normalised(tuple(out_tokens), tuple(out_lines), True)


#: Before a ``(`` that only groups (layout: a line continuation, ``return (a, b)``) ...
_GROUP_AFTER = frozenset({"=", "return", "yield", "(", ",", "[", "in", "if", "elif", "while", "assert", ";", BLOCK_OPEN, BLOCK_CLOSE, ":"})
#: ... and after its ``)``.
_GROUP_BEFORE = frozenset({";", ")", ",", "]", ":"})


def _drop_grouping_parens(tokens: list[tuple[Any, int]]) -> list[tuple[Any, int]]:
    """Remove parentheses that only group a whole expression (``x = (a\n + b)``, ``f((a))``,
    ``return (h, y)``), which students add or drop for layout. Calls, tuples in arguments and
    parentheses that change precedence (``(a + b) * c``) are kept."""
    partner: dict[int, int] = {}
    commas: dict[int, bool] = {}
    stack: list[int] = []
    for i, (value, _) in enumerate(tokens):
        if value in ("(", "[", "{") and isinstance(value, str):
            stack.append(i)
            commas[i] = False
        elif value in (")", "]", "}") and isinstance(value, str) and stack:
            partner[stack.pop()] = i
        elif value == "," and stack:
            commas[stack[-1]] = True
    drop: set[int] = set()
    for i, (value, _) in enumerate(tokens):
        if value != "(" or i not in partner or partner[i] == i + 1:
            continue
        before = tokens[i - 1][0] if i else ";"
        if before not in _GROUP_AFTER:
            continue  # a call (after a name, ``)`` or ``]``), or an operand
        end = partner[i]
        after = tokens[end + 1][0] if end + 1 < len(tokens) else ";"
        if after not in _GROUP_BEFORE:
            continue
        if commas[i] and not (before in ("=", "return", "yield") and after == ";"):
            continue  # a tuple that is an argument, an element ...
        drop.update((i, end))
    return [t for i, t in enumerate(tokens) if i not in drop] if drop else tokens


_FALLBACK_TOKEN = re.compile(
    r"""(?P<comment>\#[^\n]*)
      | (?P<string>[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?(?:\"\"\"|$)|'''[\s\S]*?(?:'''|$)|"[^"\n]*"?|'[^'\n]*'?))
      | (?P<name>[^\W\d]\w*)
      | (?P<number>\d[\w.]*)
      | (?P<newline>\n)
      | (?P<op>\*\*=?|//=?|->|:=|<<=?|>>=?|[-+*/%@&|^<>=!]=|\S)""",
    re.VERBOSE,
)


def _normalise_fallback(source: str) -> Normalised:
    """For code that does not parse: regular-expression tokens, names renamed without scopes."""
    found: list[tuple[str, str, int]] = []  # (kind, text, line)
    line = 1
    for match in _FALLBACK_TOKEN.finditer(source):
        kind = match.lastgroup or "op"
        text = match.group()
        if kind == "newline":
            found.append(("newline", text, line))
        elif kind != "comment":
            found.append((kind, text, line))
        line += text.count("\n")
    defined = {found[i + 1][1] for i in range(len(found) - 1) if found[i][1] in ("def", "class") and found[i + 1][0] == "name"}
    tokens: list[str] = []
    lines: list[int] = []
    numbers: dict[str, str] = {}
    depth = 0
    for i, (kind, text, row) in enumerate(found):
        before = found[i - 1][1] if i else ""
        after = found[i + 1][1] if i + 1 < len(found) else ""
        if kind == "newline":
            if depth == 0 and tokens and tokens[-1] != ";":
                tokens.append(";")
                lines.append(row)
            continue
        if kind == "string":
            text = "STR"
        elif kind == "name":
            if text in defined:
                text = numbers.setdefault("def:" + text, f"F{sum(k.startswith('def:') for k in numbers) + 1}")
            elif not (keyword.iskeyword(text) or text in _BUILTINS or before == "." or after in (".", "(")
                      or (after == "=" and depth > 0)):
                text = numbers.setdefault(text, f"V{sum(not k.startswith('def:') for k in numbers) + 1}")
        elif text in "([{":
            depth += 1
        elif text in ")]}":
            depth = max(0, depth - 1)
            if tokens and tokens[-1] == ",":
                tokens.pop()
                lines.pop()
        tokens.append(text)
        lines.append(row)
    return Normalised(tuple(tokens), tuple(lines), False)


# --------------------------------------------------------------------------- fingerprints

_TOKEN_IDS: dict[str, int] = {}


def _token_id(token: str) -> int:
    value = _TOKEN_IDS.get(token)
    if value is None:
        value = _TOKEN_IDS[token] = zlib.crc32(token.encode("utf-8", "surrogatepass"))
        if len(_TOKEN_IDS) > 1_000_000:  # a pathological corpus: never grow without bound
            _TOKEN_IDS.clear()
    return value


def _kgram_hashes(norm: Normalised, k: int) -> list[int]:
    """Hash of every k-gram (one hash of the whole stream if it is shorter than ``k``).

    ``hash`` of a tuple of ints is the same in every process (only str and bytes hashes are salted)."""
    ids = [_token_id(t) for t in norm.tokens]
    if not ids:
        return []
    if len(ids) < k:
        return [hash(tuple(ids))]
    return [hash(tuple(ids[i : i + k])) for i in range(len(ids) - k + 1)]


def fingerprints(norm: Normalised, k: int = 5, window: int = 4) -> dict[int, set[int]]:
    """Winnowed k-gram hashes (Schleimer et al. 2003, robust winnowing: the rightmost minimum of each window).

    Returns ``hash -> lines``: the lines of the original cell that the selected k-gram's tokens
    come from, wherever it was selected (for highlighting the matching lines)."""
    grams = _kgram_hashes(norm, k)
    if not grams:
        return {}
    selected: dict[int, set[int]] = {}

    def select(i: int) -> None:
        selected.setdefault(grams[i], set()).update(norm.lines[i : i + k])

    if len(grams) <= window:
        select(min(range(len(grams)), key=lambda i: (grams[i], -i)))
        return selected
    chosen = -1
    for start in range(len(grams) - window + 1):
        if chosen < start:  # the previous minimum left the window: scan it all
            chosen = min(range(start, start + window), key=lambda i: (grams[i], -i))
            select(chosen)
        elif grams[start + window - 1] <= grams[chosen]:
            chosen = start + window - 1
            select(chosen)
    return selected


# --------------------------------------------------------------------------- answers and references


@dataclass
class Answer:
    """One answer (a student's cell, or a reference's source) and its fingerprints."""

    owner: str
    cell: str
    source: str
    prints: dict[int, set[int]]
    kept: frozenset[int] = frozenset()


def _cell_source(cell: Mapping[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def _nbgrader(cell: Mapping[str, Any]) -> dict[str, Any]:
    metadata = cell.get("metadata")
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def answer_cells(notebook: Mapping[str, Any]) -> dict[str, str]:
    """``grade_id -> source`` of the answer cells (``nbgrader.solution``) of an instructor or released notebook."""
    return {
        str(_nbgrader(c)["grade_id"]): _cell_source(c)
        for c in notebook.get("cells", [])
        if isinstance(c, dict) and c.get("cell_type") == "code" and _nbgrader(c).get("solution") and _nbgrader(c).get("grade_id")
    }


_DEF = re.compile(r"^(?:async\s+)?def\s+([^\W\d]\w*)", re.MULTILINE)


def submitted_answers(released: Mapping[str, Any], submitted: Mapping[str, Any]) -> dict[str, str]:
    """``grade_id -> source`` of a submission's answer cells (duplicates joined, in order).

    Cells are matched by ``grade_id``; in a notebook without any nbgrader metadata (pasted into a
    new notebook, Colab) a code cell is the answer whose released stub defines a function it defines."""
    stubs = answer_cells(released)
    cells = [c for c in submitted.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
    stripped = not any(_nbgrader(c) for c in cells)
    by_function = {name: gid for gid, stub in stubs.items() for name in _DEF.findall(stub)}
    found: dict[str, list[str]] = {}
    for cell in cells:
        gid = _nbgrader(cell).get("grade_id")
        source = _cell_source(cell)
        if stripped:
            gid = next((by_function[name] for name in _DEF.findall(source) if name in by_function), None)
        if isinstance(gid, str) and gid in stubs:
            found.setdefault(gid, []).append(source)
    return {gid: "\n".join(sources) for gid, sources in found.items()}


def collect_answers(root: Path, assignment: str, submissions: Path, notebook: str | None = None) -> tuple[dict[str, dict[str, str]], list[dict[str, str]]]:
    """Read every submission as ``rnncourse grade`` does (a folder or a zip; one sub-folder per
    student or nbgrader's ``submitted/`` layout). Returns ``student -> {grade_id: source}`` and
    the students skipped, with why."""
    name = notebook or _notebook_name(root, assignment)
    released = course.read_json(root / "exercises" / assignment / f"{name}.ipynb")
    answers: dict[str, dict[str, str]] = {}
    skipped: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="rnncourse-similarity-") as tmp:
        folder = submissions
        if submissions.is_file() and zipfile.is_zipfile(submissions):
            folder = Path(tmp) / "unzipped"
            safe_extract(submissions, folder)
        for submission in discover_submissions(folder, assignment):
            if submission.folder.is_symlink():
                skipped.append({"student": submission.student, "reason": "the student folder is a symbolic link (not followed)"})
                continue
            try:
                path, _ = find_notebook(submission.folder, name)
                answers[submission.student] = submitted_answers(released, load_notebook(path))
            except SubmissionError as error:
                skipped.append({"student": submission.student, "reason": str(error)})
    return answers, skipped


def _notebook_name(root: Path, assignment: str) -> str:
    names = course.notebooks(root, assignment)
    if len(names) == 1:
        return names[0]
    from rnncourse.grading.spec import load_spec

    return load_spec(root, assignment)[0].notebook


def reference_sources(modules: Sequence[str] = REFERENCE_MODULES) -> list[tuple[str, str]]:
    """``(qualified name, source)`` of every public function, and public method of a public class,
    of ``modules``: read from the source files, never imported."""
    found: list[tuple[str, str]] = []
    for module in modules:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            continue
        text = Path(spec.origin).read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)

        def segment(node: ast.FunctionDef) -> str:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            return textwrap.dedent("".join(lines[start - 1 : node.end_lineno]))

        for node in ast.parse(text).body:
            if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if isinstance(node, ast.FunctionDef):
                found.append((f"{module}.{node.name}", segment(node)))
            else:
                for method in node.body:
                    if isinstance(method, ast.FunctionDef) and (not method.name.startswith("_") or method.name == "__init__"):
                        found.append((f"{module}.{node.name}.{method.name}", segment(method)))
    return found


# --------------------------------------------------------------------------- comparison


@dataclass
class Pair:
    """Two answers compared: ``kind`` is ``"student"`` (``a`` and ``b`` students) or ``"reference"``
    (``b`` names the reference); ``cell`` a ``grade_id`` or :data:`ALL_CELLS`."""

    kind: str
    a: str
    b: str
    cell: str
    jaccard: float
    containment: float
    shared: int
    fingerprints_a: int
    fingerprints_b: int
    flagged: bool
    #: for a reference pair over all cells: the best reference of each cell
    references: dict[str, str] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """What the pair is sorted and flagged by: Jaccard for students, containment for a reference."""
        return self.jaccard if self.kind == "student" else self.containment


@dataclass
class Report:
    """Everything the report files say."""

    assignment: str
    settings: Settings
    students: list[str]
    pairs: list[Pair]
    cells: dict[str, dict[str, int]]
    skipped: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    #: pairs worth listing that were left out (past ``settings.max_pairs``)
    omitted: int = 0
    #: ``(owner, cell) -> Answer`` for students and references (for the side-by-side view)
    answers: dict[tuple[str, str], Answer] = field(default_factory=dict, repr=False)

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.flagged]

    def to_json(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment,
            "settings": asdict(self.settings),
            "students": self.students,
            "skipped": self.skipped,
            "cells": self.cells,
            "flagged": len(self.flagged),
            "pairs_omitted": self.omitted,
            "seconds": round(self.seconds, 3),
            "pairs": [{**asdict(p), "score": round(p.score, 4), "jaccard": round(p.jaccard, 4),
                       "containment": round(p.containment, 4)} for p in self.pairs],
        }


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``top / bottom`` where ``bottom > 0`` (else 0), at most 1 (float32 products round up a little)."""
    ratio = np.divide(top, bottom, out=np.zeros(np.broadcast(top, bottom).shape), where=bottom > 0)
    return np.minimum(ratio, 1.0, out=ratio)


def compare(
    answers: Mapping[str, Mapping[str, str]],
    stubs: Mapping[str, str],
    references: Mapping[str, Sequence[tuple[str, str]]] | None = None,
    settings: Settings | None = None,
    assignment: str = "",
) -> Report:
    """Compare every pair of students, and every student with the references, cell by cell and over all cells.

    Args:
        answers: ``student -> {grade_id: source}``.
        stubs: ``grade_id -> released source`` (the cells compared are these).
        references: ``grade_id -> [(label, source), ...]`` to compare each answer of that cell with.
    """
    settings = settings or Settings()
    started = time.perf_counter()
    references = references or {}
    students = sorted(answers)
    index = {s: i for i, s in enumerate(students)}
    n = len(students)
    k, window, floor, least = settings.k, settings.window, settings.report_floor, settings.min_fingerprints
    normalised: dict[str, Normalised] = {}
    printed: dict[str, dict[int, set[int]]] = {}

    def norm(source: str) -> Normalised:
        if source not in normalised:
            normalised[source] = normalise(source)
        return normalised[source]

    def prints(source: str, base: set[int]) -> dict[int, set[int]]:
        """The fingerprints of ``source`` less those of the released stub."""
        if source not in printed:
            printed[source] = fingerprints(norm(source), k, window)
        return {h: lines for h, lines in printed[source].items() if h not in base}

    report = Report(assignment, settings, students, [], {})
    pairs: list[Pair] = []
    # per cell: weighted matrix of the fingerprints two students or more have, each answer's weight and count
    matrices: dict[str, np.ndarray] = {}
    masses: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    best_refs: dict[str, tuple[np.ndarray, list[str]]] = {}  # cell -> (weight shared with the best reference, its label)
    for cell, stub_source in stubs.items():
        stub = norm(stub_source)
        base = set(_kgram_hashes(stub, k))
        cell_answers: list[Answer] = []
        for student in students:
            source = answers[student].get(cell)
            if source is None or not source.strip():
                continue
            normal = norm(source)
            if not normal.tokens or normal.tokens == stub.tokens:
                continue  # left as released
            cell_answers.append(Answer(student, cell, source, prints(source, base)))
        frequency = Counter(h for a in cell_answers for h in a.prints)
        cutoff = max(settings.common_min, settings.common_fraction * len(cell_answers))
        common = {h for h, c in frequency.items() if c > cutoff}
        unseen = math.log(len(cell_answers) + 1)  # the weight of a fingerprint no student has

        def weight(h: int) -> float:
            return math.log((len(cell_answers) + 1) / frequency[h]) if frequency.get(h) else unseen

        mass, count = np.zeros(n), np.zeros(n, dtype=int)
        for a in cell_answers:
            a.kept = frozenset(h for h in a.prints if h not in common)
            report.answers[(a.owner, cell)] = a
            mass[index[a.owner]] = sum(weight(h) for h in a.kept)
            count[index[a.owner]] = len(a.kept)
        masses[cell], counts[cell] = mass, count
        report.cells[cell] = {"answers": len(cell_answers), "ignored_common_fingerprints": len(common),
                              "scored": int(np.sum(count >= least))}
        matrices[cell] = _weighted_matrix(cell_answers, index, n, [h for h, c in frequency.items() if 2 <= c <= cutoff], weight)

        # this cell's references: each answer against every one, the best kept
        refs = [Answer(label, cell, src, prints(src, base)) for label, src in references.get(cell, ())]
        for r in refs:
            r.kept = frozenset(h for h in r.prints if h not in common)
            report.answers[(r.owner, cell)] = r
        best_shared, best_label = np.zeros(n), [""] * n
        ref_hashes = sorted({h for r in refs for h in r.kept})
        if refs and ref_hashes and cell_answers:
            student_matrix = _weighted_matrix(cell_answers, index, n, ref_hashes, weight)
            ref_matrix = _weighted_matrix(refs, {r.owner: j for j, r in enumerate(refs)}, len(refs), ref_hashes, weight)
            shared = student_matrix @ ref_matrix.T  # (students, references): the weight they share
            ref_mass = np.array([sum(weight(h) for h in r.kept) for r in refs])
            containment = _ratio(shared, np.broadcast_to(mass[:, None], shared.shape))
            jaccard = _ratio(shared, mass[:, None] + ref_mass[None, :] - shared)
            best = np.argmax(containment + 1e-6 * jaccard, axis=1)  # by containment, then Jaccard
            rows = np.arange(n)
            best_shared = shared[rows, best]
            best_label = [refs[j].owner if s > 0 else "" for j, s in zip(best, best_shared)]
            for i in np.flatnonzero((count >= least) & (containment[rows, best] >= floor)):
                j = int(best[i])
                pairs.append(Pair("reference", students[i], refs[j].owner, cell, float(jaccard[i, j]), float(containment[i, j]),
                                  0, int(count[i]), len(refs[j].kept), bool(containment[i, j] >= settings.threshold)))
        best_refs[cell] = (best_shared, best_label)

    # student pairs, in blocks of rows (memory: a block of rows x students, per cell)
    total_mass = sum(masses.values()) if masses else np.zeros(n)
    total_count = sum(counts.values()) if counts else np.zeros(n, dtype=int)
    block = 256
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        overall = np.zeros((len(rows), n))
        upper = rows[:, None] < np.arange(n)[None, :]
        for cell, matrix in matrices.items():
            if matrix.shape[1]:
                shared = (matrix[rows] @ matrix.T).astype(float)
                overall += shared
                pairs += _student_pairs(students, rows, cell, shared, masses[cell], counts[cell], upper, settings)
        pairs += _student_pairs(students, rows, ALL_CELLS, overall, total_mass, total_count, upper, settings)

    # each student against the course's code over all cells: each cell against its best reference
    if best_refs:
        shared_all = sum(shared for shared, _ in best_refs.values())
        containment_all = _ratio(shared_all, total_mass)
        for i in np.flatnonzero((total_count >= least) & (containment_all >= floor)):
            best_of = {cell: labels[i] for cell, (_, labels) in best_refs.items() if labels[i]}
            pairs.append(Pair("reference", students[i], "course reference code", ALL_CELLS, float(containment_all[i]),
                              float(containment_all[i]), 0, int(total_count[i]), 0,
                              bool(containment_all[i] >= settings.threshold), best_of))

    pairs.sort(key=lambda p: (not p.flagged, -p.score, -p.containment, p.kind, p.cell, p.a, p.b))
    report.omitted = max(0, len(pairs) - settings.max_pairs)
    report.pairs = pairs[: settings.max_pairs]
    for pair in report.pairs:  # how many fingerprints each listed pair shares (the scores are weighted)
        cells = list(stubs) if pair.cell == ALL_CELLS else [pair.cell]
        for cell in cells:
            other = pair.b if pair.kind == "student" or pair.cell != ALL_CELLS else pair.references.get(cell, "")
            a, b = report.answers.get((pair.a, cell)), report.answers.get((other, cell))
            if a is not None and b is not None:
                pair.shared += len(a.kept & b.kept)
    report.seconds = time.perf_counter() - started
    return report


def _weighted_matrix(answers: Sequence[Answer], row_of: Mapping[str, int], rows: int, hashes: Sequence[int],
                     weight: Callable[[int], float]) -> np.ndarray:
    """Rows of answers, columns of ``hashes``: the square root of the fingerprint's weight where the
    answer keeps it, so that a product of two rows is the weight the two answers share."""
    column = {h: j for j, h in enumerate(hashes)}
    root = np.sqrt(np.array([weight(h) for h in hashes], dtype=np.float32))
    matrix = np.zeros((rows, len(hashes)), dtype=np.float32)
    for a in answers:
        cols = [column[h] for h in a.kept if h in column]
        matrix[row_of[a.owner], cols] = root[cols]
    return matrix


def _student_pairs(students: Sequence[str], rows: np.ndarray, cell: str, shared: np.ndarray, mass: np.ndarray,
                   count: np.ndarray, upper: np.ndarray, settings: Settings) -> list[Pair]:
    """The pairs of one block of rows worth listing: both answers large enough, either score at least the floor."""
    jaccard = _ratio(shared, mass[rows][:, None] + mass[None, :] - shared)
    containment = _ratio(shared, np.minimum(mass[rows][:, None], mass[None, :]))
    smaller = np.minimum(count[rows][:, None], count[None, :])
    keep = upper & (shared > 0) & (smaller >= settings.min_fingerprints) & (np.maximum(jaccard, containment) >= settings.report_floor)
    pairs = []
    for i, j in np.argwhere(keep):
        a, b = int(rows[i]), int(j)
        x, y = float(jaccard[i, j]), float(containment[i, j])
        pairs.append(Pair("student", students[a], students[b], cell, x, y, 0, int(count[a]), int(count[b]), x >= settings.threshold))
    return pairs


# --------------------------------------------------------------------------- output

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table.pairs{border-collapse:collapse;width:100%}
table.pairs td,table.pairs th{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
.side{display:grid;grid-template-columns:1fr 1fr;gap:.8em;margin:.5em 0 1em}
.side h4{margin:.2em 0;font-size:.9em}
pre{background:#f7f7f7;border:1px solid #ddd;padding:.4em;overflow-x:auto;font-size:.85em;margin:0}
pre span{display:block;white-space:pre}
pre span.m{background:#ffe08a}
pre span i{color:#999;font-style:normal;display:inline-block;width:2.5em;user-select:none}
.note{color:#555;font-size:.9em}
"""


def _matched_lines(answer: Answer, other: Answer | None) -> set[int]:
    if other is None:
        return set()
    return {line for h in answer.kept & other.kept for line in answer.prints.get(h, ())}


def _code(answer: Answer | None, other: Answer | None) -> str:
    if answer is None:
        return "<pre><span>(no answer)</span></pre>"
    matched = _matched_lines(answer, other)
    rows = []
    for number, line in enumerate(answer.source.replace("\r\n", "\n").replace("\r", "\n").split("\n"), 1):
        css = ' class="m"' if number in matched else ""
        rows.append(f"<span{css}><i>{number}</i>{html.escape(line)}</span>")
    return "<pre>" + "".join(rows) + "</pre>"


def _side_by_side(report: Report, pair: Pair) -> str:
    cells = list(report.cells) if pair.cell == ALL_CELLS else [pair.cell]
    parts = []
    for cell in cells:
        a = report.answers.get((pair.a, cell))
        if pair.kind == "student":
            b_name = pair.b
        else:
            b_name = pair.references.get(cell, "") if pair.cell == ALL_CELLS else pair.b
        b = report.answers.get((b_name, cell)) if b_name else None
        if a is None and b is None:
            continue
        parts.append(
            f'<div class="side"><div><h4>{html.escape(pair.a)}: {html.escape(cell)}</h4>{_code(a, b)}</div>'
            f'<div><h4>{html.escape(b_name + ": " + cell if pair.kind == "student" else b_name or "(no reference matched)")}</h4>'
            f'{_code(b, a)}</div></div>'
        )
    return "".join(parts)


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (no script, no external resource)."""
    s = report.settings
    flagged = report.flagged
    shown = flagged[: s.html_limit]
    rows = []
    for rank, pair in enumerate(shown, 1):
        what = "student–student" if pair.kind == "student" else "student–reference"
        cell = "all answer cells" if pair.cell == ALL_CELLS else pair.cell
        rows.append(
            f"<tr><td>{rank}</td><td>{pair.score:.2f}</td><td>{pair.jaccard:.2f}</td><td>{pair.containment:.2f}</td>"
            f"<td>{pair.shared} ({pair.fingerprints_a}/{pair.fingerprints_b or '–'})</td><td>{html.escape(what)}</td>"
            f"<td>{html.escape(cell)}</td><td>{html.escape(pair.a)}</td><td>{html.escape(pair.b)}</td></tr>"
            f'<tr><td></td><td colspan="8"><details><summary>side by side</summary>{_side_by_side(report, pair)}</details></td></tr>'
        )
    more = f'<p class="note">{len(flagged) - len(shown)} more flagged pair(s) in {JSON_FILE}.</p>' if len(flagged) > len(shown) else ""
    skipped = "".join(f"<li>{html.escape(x['student'])}: {html.escape(x['reason'])}</li>" for x in report.skipped)
    cells = "".join(
        f"<tr><td>{html.escape(c)}</td><td>{v['answers']}</td><td>{v['scored']}</td><td>{v['ignored_common_fingerprints']}</td></tr>"
        for c, v in report.cells.items()
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Similarity of answers: {html.escape(report.assignment)}</title>
<style>{_CSS}</style></head><body>
<h1>Similarity of answers: {html.escape(report.assignment)}</h1>
<p class="note">For the instructor: this report never changes a grade. A flag is a reason to look at two answers, not a verdict.
{len(report.students)} submission(s); {len(flagged)} flagged pair(s). Student pairs are flagged at (weighted) Jaccard
&ge; {s.threshold:g}; a student is flagged against the course's reference code when &ge; {s.threshold:g} of the answer's
(weighted) fingerprints are in it (containment). Rare fingerprints weigh more than frequent ones. Answers with fewer than {s.min_fingerprints} distinctive fingerprints are not scored
on their own (they are in the &ldquo;all answer cells&rdquo; rows). Fingerprints shared by more than {s.common_fraction:.0%} of a cell's
answers (and more than {s.common_min}) are ignored. Highlighted lines hold shared fingerprints.</p>
<table class="pairs"><thead><tr><th>#</th><th>score</th><th>Jaccard</th><th>containment</th><th>shared (a/b)</th><th>kind</th>
<th>cell</th><th>a</th><th>b</th></tr></thead><tbody>
{"".join(rows) or '<tr><td colspan="9">No pair is flagged.</td></tr>'}
</tbody></table>{more}
<h2>Cells</h2><table class="pairs"><thead><tr><th>cell</th><th>answers</th><th>scored</th><th>fingerprints ignored as common</th></tr></thead>
<tbody>{cells}</tbody></table>
{f"<h2>Not compared</h2><ul>{skipped}</ul>" if skipped else ""}
</body></html>
"""


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    """Write ``out/similarity.json`` and ``out/similarity.html``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_FILE, out / HTML_FILE
    json_path.write_text(json.dumps(report.to_json(), indent=1, ensure_ascii=False), encoding="utf-8", errors="replace")
    html_path.write_text(render_html(report), encoding="utf-8", errors="replace")
    return json_path, html_path


def instructor_references(root: Path, assignment: str, notebook: str, modules: Sequence[str] = REFERENCE_MODULES) -> dict[str, list[tuple[str, str]]]:
    """``grade_id -> [(label, source)]``: the instructor's solution cell and every function of ``modules``."""
    solutions = answer_cells(course.read_json(root / "solutions" / assignment / f"{notebook}.ipynb"))
    library = reference_sources(modules)
    released = answer_cells(course.read_json(root / "exercises" / assignment / f"{notebook}.ipynb"))
    return {cell: ([(f"solution: {cell}", solutions[cell])] if cell in solutions else []) + library for cell in released}


def similarity_report(root: Path, assignment: str, submissions: Path, out: Path, settings: Settings | None = None) -> Report:
    """Read the submissions, compare them, write ``out/similarity.json`` and ``out/similarity.html``."""
    name = _notebook_name(root, assignment)
    answers, skipped = collect_answers(root, assignment, submissions, name)
    stubs = answer_cells(course.read_json(root / "exercises" / assignment / f"{name}.ipynb"))
    report = compare(answers, stubs, instructor_references(root, assignment, name), settings, assignment)
    report.skipped = skipped
    write_report(report, out)
    return report
