"""Static delegation check: does a student's function reach code it was asked to write itself?

This reads the student's source in the grader's process (it never runs it), so nothing the
student's code does at run time can hide from it. A function is *tainted* when its body, or
any function of the notebook it refers to, or the top-level code of the notebook:

- refers to a forbidden module (``rnncourse``, ``torch``, ...) through any alias or import;
- uses a way of reaching code by name (``getattr``, ``__import__``, ``importlib``, ``eval``,
  ``exec``, ``sys.modules``, dunder attributes such as ``__dict__`` or ``__globals__``);
- starts other programs (``subprocess``, ``os.system``, shell magics) that could run the reference;
- mentions a forbidden module in a string.

The same submission run for real is sandboxed as well; this check decides which parts earn no
points and says why in the feedback.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Delegation", "find_delegation", "to_python"]

INDIRECT_NAMES = {
    "getattr": "looks attributes up by string",
    "setattr": "sets attributes by string",
    "delattr": "deletes attributes by string",
    "__import__": "imports modules by string",
    "importlib": "imports modules by string",
    "eval": "runs code from a string",
    "exec": "runs code from a string",
    "compile": "compiles code from a string",
    "globals": "reaches the notebook's namespace by name",
    "vars": "reaches a namespace by name",
    "locals": "reaches a namespace by name",
    "breakpoint": "starts a debugger",
    "__builtins__": "reaches the built-ins by name",
    "builtins": "reaches the built-ins by name",
    "get_ipython": "drives IPython (magics, shell commands)",
    "subprocess": "starts other programs",
    "multiprocessing": "starts other processes",
    "ctypes": "calls native code",
    "pickle": "loads arbitrary objects",
    "marshal": "loads code objects",
    "runpy": "runs other modules",
    "operator": "looks attributes up by string (attrgetter, methodcaller)",
    "inspect": "inspects other code",
    "gc": "reaches arbitrary live objects",
}
INDIRECT_ATTRIBUTES = {
    "modules": "reads sys.modules",
    "system": "runs a shell command",
    "popen": "runs a shell command",
    "execv": "replaces the process",
    "execve": "replaces the process",
    "execvp": "replaces the process",
    "spawnv": "starts other programs",
    "import_module": "imports modules by string",
}
#: Line magics that only change how the notebook displays or times things.
SAFE_MAGICS = {"matplotlib", "config", "time", "timeit", "load_ext", "autoreload", "precision"}
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__", "__len__", "__call__", "__repr__", "__str__", "__main__"}


def to_python(cell_source: str) -> str:
    """Turn an IPython cell (magics, ``!shell``) into plain Python, as the kernel would."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(cell_source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot transform is analysed as written
        return cell_source


@dataclass
class _Scope:
    """What one function (or the notebook's top level) refers to."""

    problems: list[str] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Delegation:
    """Why a function earns no points: a sentence for the feedback."""

    function: str
    reason: str


def _dotted(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _Reader(ast.NodeVisitor):
    """Collects the problems and the notebook names one scope refers to."""

    def __init__(self, aliases: dict[str, str], forbidden: Sequence[str], scope: _Scope, top_level_names: set[str]):
        self.aliases = aliases
        self.forbidden = tuple(forbidden)
        self.scope = scope
        self.top = top_level_names

    def _forbidden_path(self, path: str) -> bool:
        return any(path == f or path.startswith(f + ".") for f in self.forbidden)

    def _resolve(self, parts: list[str]) -> str:
        head = self.aliases.get(parts[0], parts[0])
        return ".".join([head, *parts[1:]])

    def visit_Call(self, node: ast.Call) -> None:
        if _is_safe_magic(node):
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if self._forbidden_path(alias.name):
                self.scope.problems.append(f"imports {alias.name}")
            root = alias.name.split(".")[0]
            if root in INDIRECT_NAMES:
                self.scope.problems.append(f"imports {root}, which {INDIRECT_NAMES[root]}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            if self._forbidden_path(module) or self._forbidden_path(full):
                self.scope.problems.append(f"imports {full}")
        root = module.split(".")[0]
        if root in INDIRECT_NAMES:
            self.scope.problems.append(f"imports from {root}, which {INDIRECT_NAMES[root]}")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in INDIRECT_NAMES:
            self.scope.problems.append(f"uses `{node.id}`, which {INDIRECT_NAMES[node.id]}")
        resolved = self.aliases.get(node.id)
        if resolved and self._forbidden_path(resolved):
            self.scope.problems.append(f"uses `{node.id}` ({resolved})")
        if node.id in self.top:
            self.scope.calls.add(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            self.scope.problems.append(f"uses the attribute `{attr}`, which reaches code by name")
        if attr in INDIRECT_ATTRIBUTES:
            self.scope.problems.append(f"uses `.{attr}`, which {INDIRECT_ATTRIBUTES[attr]}")
        parts = _dotted(node)
        if parts is not None:
            path = self._resolve(parts)
            if self._forbidden_path(path):
                self.scope.problems.append(f"uses {path}")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            for name in self.forbidden:
                if name in node.value:
                    self.scope.problems.append(f"mentions {name!r} in a string")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # nested functions count for their parent
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]


def _module_aliases(trees: Iterable[ast.Module]) -> dict[str, str]:
    """Names bound at top level to modules or to attributes of modules, by import or assignment."""
    aliases: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    changed = True
    while changed:  # a = torch; b = a.nn; ... : follow simple assignments to a fixed point
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    parts = _dotted(node.value)
                    if parts and parts[0] in aliases:
                        path = ".".join([aliases[parts[0]], *parts[1:]])
                        if aliases.get(node.targets[0].id) != path:
                            aliases[node.targets[0].id] = path
                            changed = True
    return aliases


def find_delegation(cells: Sequence[str], functions: Sequence[str], forbidden: Sequence[str]) -> dict[str, Delegation]:
    """For each name in ``functions``, why it does not count as the student's own code (absent: it does).

    Code too deeply nested to analyse counts against every function: what cannot be read is not credited.

    Args:
        cells: the student's code cells, as plain Python (see :func:`to_python`).
        functions: the names the grader will call.
        forbidden: module prefixes the functions must not reach.
    """
    try:
        return _find_delegation(cells, functions, forbidden)
    except (RecursionError, MemoryError):
        return {f: Delegation(f, "the notebook's code is too deeply nested to be checked") for f in functions}


def _find_delegation(cells: Sequence[str], functions: Sequence[str], forbidden: Sequence[str]) -> dict[str, Delegation]:
    trees = []
    for source in cells:
        try:
            trees.append(ast.parse(source))
        except SyntaxError:
            continue  # a cell that does not parse does not run either
    aliases = _module_aliases(trees)
    top_names: set[str] = set()
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                top_names.add(node.name)
            elif isinstance(node, ast.Assign):
                top_names.update(t.id for t in node.targets if isinstance(t, ast.Name))

    scopes: dict[str, _Scope] = {name: _Scope() for name in top_names}
    module_scope = _Scope()
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                reader = _Reader(aliases, forbidden, scopes[node.name], top_names)
                for child in [*node.body, *getattr(node, "decorator_list", []), *_defaults(node)]:
                    reader.visit(child)
            elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
                for target in node.targets:
                    _Reader(aliases, forbidden, scopes[target.id], top_names).visit(node.value)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                # importing is not using; what the names are used for is judged where they are used,
                # but importing a way to reach code by name is a problem wherever it happens
                scope = _Scope()
                _Reader(aliases, (), scope, set()).visit(node)
                module_scope.problems += scope.problems
            else:
                _Reader(aliases, forbidden, module_scope, set()).visit(node)

    results: dict[str, Delegation] = {}
    for function in functions:
        reason = _first_problem(function, scopes, aliases, forbidden, module_scope)
        if reason:
            results[function] = Delegation(function, reason)
    return results


def _is_safe_magic(node: ast.Call) -> bool:
    """``get_ipython().run_line_magic('matplotlib', 'inline')`` and the like (what ``%matplotlib`` becomes)."""
    func = node.func
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "run_line_magic"
        and isinstance(func.value, ast.Call)
        and isinstance(func.value.func, ast.Name)
        and func.value.func.id == "get_ipython"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value in SAFE_MAGICS
    )


def _defaults(node: ast.AST) -> list[ast.AST]:
    args = getattr(node, "args", None)
    if args is None:
        return []
    return [*args.defaults, *[d for d in args.kw_defaults if d is not None]]


def _first_problem(
    function: str, scopes: dict[str, _Scope], aliases: dict[str, str], forbidden: Sequence[str], module_scope: _Scope
) -> str | None:
    if module_scope.problems:
        return f"the notebook's top-level code {module_scope.problems[0]}"
    bound = aliases.get(function)
    if bound and any(bound == f or bound.startswith(f + ".") for f in forbidden):
        return f"`{function}` is {bound}, not your own code"
    seen: set[str] = set()
    stack = [function]
    while stack:
        name = stack.pop()
        if name in seen or name not in scopes:
            continue
        seen.add(name)
        if scopes[name].problems:
            where = f"`{function}`" if name == function else f"`{function}` (through `{name}`)"
            return f"{where} {scopes[name].problems[0]}"
        stack.extend(scopes[name].calls)
    return None
