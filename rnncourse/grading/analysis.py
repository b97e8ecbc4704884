"""Static delegation check: does a student's function reach code it was asked to write itself?

This reads the student's code (plain Python: magics already resolved by :mod:`.cells`) in the
grader's process and never runs it, so nothing the student's code does at run time can hide
from it. A function is *tainted* when its body, a notebook name it refers to (followed through
other functions, assignments and anything that binds that name), or an indirection anywhere in
the notebook:

- reaches a forbidden module or name (``rnncourse``, ``torch.nn.LSTM``, ...) through any import,
  alias, assignment, container, default argument, ``global`` rebinding or ``from M import *``;
- uses a way of reaching code by name (``getattr``, ``__import__``, ``importlib``, ``eval``,
  ``exec``, ``sys.modules``, introspective dunder attributes such as ``__dict__``, ``pkgutil``,
  ``code``, ``timeit`` strings, ``pickle`` ...);
- starts other programs (``subprocess``, ``os.system``) or calls native code (``ctypes``).

What it cannot see is covered by the sandbox: packages outside the assignment's allowlist do not
exist there at all, and forbidden names inside an allowed package are replaced by stubs that raise
(see :func:`rnncourse.grading.worker.poison`). The instructor page lists the routes and layers.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Delegation", "find_delegation"]

INDIRECT_NAMES = {
    "getattr": "looks attributes up by string",
    "setattr": "sets attributes by string",
    "delattr": "deletes attributes by string",
    "__import__": "imports modules by string",
    "importlib": "imports modules by string",
    "imp": "imports modules by string",
    "pkgutil": "resolves names from strings",
    "zipimport": "imports modules from archives",
    "eval": "runs code from a string",
    "exec": "runs code from a string",
    "compile": "compiles code from a string",
    "code": "runs code from a string",
    "codeop": "compiles code from a string",
    "pdb": "runs code from a string",
    "globals": "reaches the notebook's namespace by name",
    "vars": "reaches a namespace by name",
    "locals": "reaches a namespace by name",
    "breakpoint": "starts a debugger",
    "__builtins__": "reaches the built-ins by name",
    "builtins": "reaches the built-ins by name",
    "subprocess": "starts other programs",
    "multiprocessing": "starts other processes",
    "pty": "starts other programs",
    "ctypes": "calls native code",
    "cffi": "calls native code",
    "pickle": "loads arbitrary objects",
    "dill": "loads arbitrary objects",
    "cloudpickle": "loads arbitrary objects",
    "shelve": "loads arbitrary objects",
    "marshal": "loads code objects",
    "runpy": "runs other modules",
    "site": "changes where modules are found",
    "operator": "looks attributes up by string (attrgetter, methodcaller)",
    "inspect": "inspects other code",
    "gc": "reaches arbitrary live objects",
    "get_type_hints": "evaluates strings as code",
    "ForwardRef": "evaluates strings as code",
}
_SPAWN = ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve",
          "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp")
#: Names inside modules that reach code by name or start programs (matched after resolving aliases).
INDIRECT_PATHS = {
    "sys.modules": "reads sys.modules",
    "sys.meta_path": "changes how modules are found",
    "sys.path_hooks": "changes how modules are found",
    "sys.path_importer_cache": "changes how modules are found",
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "posix.system": "runs a shell command",
    **{f"os.{name}": "starts other programs" for name in _SPAWN},
    **{f"posix.{name}": "starts other programs" for name in _SPAWN},
    "types.FunctionType": "builds functions from code objects",
    "types.LambdaType": "builds functions from code objects",
    "types.CodeType": "builds code objects",
    "numpy.ctypeslib": "calls native code",
    "numpy.f2py": "compiles native code",
    "typing.get_type_hints": "evaluates strings as code",
    "typing.ForwardRef": "evaluates strings as code",
}
#: Dunder attributes that only name, compare, convert or operate; every other dunder reaches code by name.
ALLOWED_DUNDERS = {
    "__init__", "__name__", "__doc__", "__version__", "__class__", "__len__", "__call__", "__repr__", "__str__",
    "__main__", "__iter__", "__next__", "__enter__", "__exit__", "__getitem__", "__setitem__", "__contains__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__add__", "__sub__",
    "__mul__", "__matmul__", "__truediv__", "__floordiv__", "__mod__", "__pow__", "__neg__", "__pos__",
    "__abs__", "__array__", "__float__", "__int__", "__index__", "__shape__", "__annotations__",
}
_BUILTIN_NAMES = set(dir(builtins)) | {"__name__", "__file__", "display"}


@dataclass
class _Scope:
    """What one notebook name (or the notebook's top level) refers to."""

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


def _is_forbidden(path: str, forbidden: Sequence[str]) -> bool:
    return any(path == f or path.startswith(f + ".") for f in forbidden)


def _indirect_path(path: str) -> str | None:
    for known, reason in INDIRECT_PATHS.items():
        if path == known or path.startswith(known + "."):
            return reason
    return None


def _leads_to_forbidden(path: str, forbidden: Sequence[str]) -> bool:
    """``path`` is forbidden, or a module above something forbidden (``torch.nn`` for ``torch.nn.LSTM``)."""
    return any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in forbidden)


class _Aliases:
    """Which module paths each name may stand for, anywhere in the notebook (flow-insensitive)."""

    def __init__(self) -> None:
        self.paths: dict[str, set[str]] = {}

    #: Bounds that keep the fixed point finite (``a = a.b`` would grow ``a.b.b.b...`` forever).
    MAX_DEPTH = 12
    MAX_PATHS = 64

    def add(self, name: str, path: str) -> bool:
        known = self.paths.setdefault(name, set())
        if path in known or path.count(".") >= self.MAX_DEPTH or len(known) >= self.MAX_PATHS:
            return False
        known.add(path)
        return True

    def resolve(self, parts: list[str]) -> set[str]:
        heads = self.paths.get(parts[0], set())
        return {".".join([head, *parts[1:]]) for head in heads}

    def contained(self, node: ast.AST) -> set[str]:
        """Every module path an expression mentions (as far as it resolves)."""
        found: set[str] = set()
        for child in ast.walk(node):
            if isinstance(child, (ast.Attribute, ast.Name)):
                parts = _dotted(child)
                if parts and parts[0] in self.paths:
                    found |= self.resolve(parts)
        return found


def _targets(node: ast.AST) -> list[str]:
    """Names a target binds; ``a.b = ...`` and ``a[0] = ...`` rebind (a part of) ``a``."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [name for element in node.elts for name in _targets(element)]
    if isinstance(node, ast.Starred):
        return _targets(node.value)
    if isinstance(node, (ast.Attribute, ast.Subscript)):
        parts = _dotted(node) if isinstance(node, ast.Attribute) else None
        if parts:
            return [parts[0]]
        return _targets(node.value)
    return []


def _bindings(node: ast.AST) -> Iterable[tuple[list[str], ast.AST | None]]:
    """(names bound, the expression bound to them) for every binding form inside ``node``."""
    for child in ast.walk(node):
        if isinstance(child, ast.Assign):
            for target in child.targets:
                yield _targets(target), child.value
        elif isinstance(child, (ast.AugAssign, ast.AnnAssign)):
            yield _targets(child.target), child.value
        elif isinstance(child, ast.NamedExpr):
            yield [child.target.id], child.value
        elif isinstance(child, (ast.For, ast.AsyncFor, ast.comprehension)):
            yield _targets(child.target), child.iter
        elif isinstance(child, (ast.With, ast.AsyncWith)):
            for item in child.items:
                if item.optional_vars is not None:
                    yield _targets(item.optional_vars), item.context_expr
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = child.args
            positional = [*args.posonlyargs, *args.args]
            for arg, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
                yield [arg.arg], default
            for arg, default in zip(args.kwonlyargs, args.kw_defaults):
                if default is not None:
                    yield [arg.arg], default


def _module_aliases(trees: Sequence[ast.Module], forbidden: Sequence[str], returns: dict[str, ast.AST]) -> _Aliases:
    aliases = _Aliases()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases.add(alias.asname, alias.name)
                    else:
                        aliases.add(alias.name.split(".")[0], alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    if alias.name != "*":
                        aliases.add(alias.asname or alias.name, f"{node.module}.{alias.name}")
    changed = True
    while changed:  # a = torch; b = [a.nn][0]; def g(): return b ... : follow bindings to a fixed point
        changed = False
        for tree in trees:
            for names, value in _bindings(tree):
                if value is None:
                    continue
                paths = _value_paths(value, aliases, returns)
                for name in names:
                    for path in paths:
                        if (
                            _leads_to_forbidden(path, forbidden) or path.split(".")[0] in INDIRECT_NAMES
                            or any(known.startswith(path.split(".")[0] + ".") for known in INDIRECT_PATHS)
                        ):
                            changed |= aliases.add(name, path)
    return aliases


def _value_paths(value: ast.AST, aliases: _Aliases, returns: dict[str, ast.AST]) -> set[str]:
    """The module paths a value may be: what it mentions, and what notebook functions it calls return."""
    paths = aliases.contained(value)
    for child in ast.walk(value):
        if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in returns:
            paths |= aliases.contained(returns[child.func.id])
    return paths


class _Reader(ast.NodeVisitor):
    """Collects the problems and the notebook names one scope refers to."""

    def __init__(self, aliases: _Aliases, forbidden: Sequence[str], scope: _Scope, top_level_names: set[str],
                 star_modules: Sequence[str] = (), local_names: set[str] | None = None):
        self.aliases = aliases
        self.forbidden = tuple(forbidden)
        self.scope = scope
        self.top = top_level_names
        self.star = [m for m in star_modules if _leads_to_forbidden(m, self.forbidden)]
        self.local = local_names or set()

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _is_forbidden(alias.name, self.forbidden):
                self.scope.problems.append(f"imports {alias.name}")
            root = alias.name.split(".")[0]
            if root in INDIRECT_NAMES:
                self.scope.problems.append(f"imports {root}, which {INDIRECT_NAMES[root]}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            if _is_forbidden(module, self.forbidden) or _is_forbidden(full, self.forbidden):
                self.scope.problems.append(f"imports {full}")
            elif alias.name == "*" and _leads_to_forbidden(module, self.forbidden):
                self.scope.problems.append(f"imports everything from {module}, which holds forbidden names")
        root = module.split(".")[0]
        if root in INDIRECT_NAMES:
            self.scope.problems.append(f"imports from {root}, which {INDIRECT_NAMES[root]}")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in INDIRECT_NAMES:
            self.scope.problems.append(f"uses `{node.id}`, which {INDIRECT_NAMES[node.id]}")
        for resolved in sorted(self.aliases.resolve([node.id])):
            if _is_forbidden(resolved, self.forbidden):
                self.scope.problems.append(f"uses `{node.id}` ({resolved})")
                break
        if node.id in self.top:
            self.scope.calls.add(node.id)
        elif (
            self.star and isinstance(node.ctx, ast.Load) and node.id not in self.local
            and node.id not in self.aliases.paths and node.id not in _BUILTIN_NAMES
        ):
            self.scope.problems.append(f"uses `{node.id}`, which may come from `from {self.star[0]} import *`")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            self.scope.problems.append(f"uses the attribute `{attr}`, which reaches code by name")
        parts = _dotted(node)
        # `a.b.c` resolves through aliases; `f(torch.nn).LSTM` may be any path its base mentions
        paths = self.aliases.resolve(parts) if parts else {f"{p}.{attr}" for p in self.aliases.contained(node.value)}
        for path in sorted(paths):
            if _is_forbidden(path, self.forbidden):
                self.scope.problems.append(f"uses {path}")
                break
            reason = _indirect_path(path)
            if reason:
                self.scope.problems.append(f"uses {path}, which {reason}")
                break
        self.generic_visit(node)


def _local_names(node: ast.AST) -> set[str]:
    names = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            names.add(child.id)
        elif isinstance(child, ast.arg):
            names.add(child.arg)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(child.name)
        elif isinstance(child, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name.split(".")[0]) for a in child.names)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            names.add(child.name)
    return names


def _bound_at_top(node: ast.stmt) -> set[str]:
    """Notebook-level names a top-level statement binds (``global`` rebinding inside functions too)."""
    names: set[str] = set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        names.add(node.name)
        for child in ast.walk(node):
            if isinstance(child, (ast.Global, ast.Nonlocal)):
                names.update(child.names)
        return names
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name.split(".")[0]) for a in node.names if a.name != "*"}
    for bound, _ in _bindings(node):
        names.update(bound)
    return names


def find_delegation(
    cells: Sequence[str], functions: Sequence[str], forbidden: Sequence[str], context: Sequence[str] = ()
) -> dict[str, Delegation]:
    """For each name in ``functions``, why it does not count as the student's own code (absent: it does).

    Code too deeply nested to analyse counts against every function: what cannot be read is not credited.

    Args:
        cells: the student's code cells, as plain Python (see :func:`rnncourse.grading.cells.to_plain_python`).
        functions: the names the grader will call.
        forbidden: module paths (``"scipy"``) and names inside modules (``"torch.nn.LSTM"``) the functions must not reach.
        context: the instructor's setup code: its imports name modules the student's code uses.
    """
    try:
        return _find_delegation(cells, functions, forbidden, context)
    except (RecursionError, MemoryError):
        return {f: Delegation(f, "the notebook's code is too deeply nested to be checked") for f in functions}


def _find_delegation(
    cells: Sequence[str], functions: Sequence[str], forbidden: Sequence[str], context: Sequence[str]
) -> dict[str, Delegation]:
    trees, setup = [], []
    for sources, parsed in ((cells, trees), (context, setup)):
        for source in sources:
            try:
                parsed.append(ast.parse(source))
            except SyntaxError:
                continue  # a cell that does not parse does not run either
    returns: dict[str, ast.AST] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                values = [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
                returns[node.name] = ast.Tuple(elts=values, ctx=ast.Load()) if values else ast.Constant(None)
    aliases = _module_aliases([*setup, *trees], forbidden, returns)
    star_modules = [
        node.module for tree in trees for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == "*" for a in node.names)
    ]
    top_names: set[str] = set()
    bound: list[tuple[ast.stmt, set[str]]] = []
    for tree in trees:
        for node in tree.body:
            names = _bound_at_top(node)
            bound.append((node, names))
            top_names |= names

    scopes: dict[str, _Scope] = {name: _Scope() for name in top_names}
    module_scope = _Scope()
    for node, names in bound:
        local = _local_names(node)
        for name in names:  # what a statement does counts for every name it binds
            _Reader(aliases, forbidden, scopes[name], top_names, star_modules, local).visit(node)
        # anywhere in the notebook, an indirection (not a mere use of a forbidden module) counts for everything
        scope = _Scope()
        _Reader(aliases, (), scope, set()).visit(node)
        module_scope.problems += scope.problems

    results: dict[str, Delegation] = {}
    for function in functions:
        reason = _first_problem(function, scopes, aliases, forbidden, module_scope)
        if reason:
            results[function] = Delegation(function, reason)
    return results


def _first_problem(
    function: str, scopes: dict[str, _Scope], aliases: _Aliases, forbidden: Sequence[str], module_scope: _Scope
) -> str | None:
    if module_scope.problems:
        return f"the notebook's code {module_scope.problems[0]}"
    for bound in sorted(aliases.paths.get(function, set())):
        if _is_forbidden(bound, forbidden):
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
