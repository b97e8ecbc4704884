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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["Delegation", "find_delegation", "is_forbidden"]

#: Built-ins that reach code or namespaces by name (unless the notebook binds the name itself).
INDIRECT_BUILTINS = {
    "__import__": "imports modules by string",
    "eval": "runs code from a string",
    "exec": "runs code from a string",
    "compile": "compiles code from a string",
    "globals": "reaches the notebook's namespace by name",
    "locals": "reaches a namespace by name",
    "breakpoint": "starts a debugger",
    "__builtins__": "reaches the built-ins by name",
}
#: Built-ins that look attributes up by string: a problem when the object is a module the check follows.
LOOKUP_BUILTINS = {"getattr", "setattr", "delattr", "vars"}
#: Modules whose every use reaches code by name, loads code or starts programs.
INDIRECT_MODULES = {
    "importlib": "imports modules by string",
    "imp": "imports modules by string",
    "pkgutil": "resolves names from strings",
    "zipimport": "imports modules from archives",
    "runpy": "runs other modules",
    "codeop": "compiles code from a string",
    "builtins": "reaches the built-ins by name",
    "subprocess": "starts other programs",
    "multiprocessing": "starts other processes",
    "pty": "starts other programs",
    "ctypes": "calls native code",
    "cffi": "calls native code",
    "marshal": "loads code objects",
}
_SPAWN = ("execv", "execve", "execvp", "execvpe", "execl", "execle", "execlp", "execlpe", "spawnv", "spawnve",
          "spawnvp", "spawnvpe", "spawnl", "spawnle", "spawnlp", "spawnlpe", "posix_spawn", "posix_spawnp")
#: Names inside modules that reach code by name, load objects by name or start programs.
INDIRECT_PATHS = {
    "sys.modules": "reads sys.modules",
    "sys.meta_path": "changes how modules are found",
    "sys.path_hooks": "changes how modules are found",
    "sys.path_importer_cache": "changes how modules are found",
    "sys._getframe": "reaches other code's frames",
    "sys.settrace": "watches other code",
    "sys.setprofile": "watches other code",
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
    **{f"inspect.{name}": "reaches other code by name" for name in (
        "getmembers", "getmembers_static", "getattr_static", "currentframe", "stack", "trace", "getouterframes",
        "getinnerframes", "getmodule", "getsource", "getsourcelines", "getsourcefile", "getfile", "getclosurevars")},
    "operator.attrgetter": "looks attributes up by string",
    "operator.methodcaller": "calls methods by string",
    **{f"gc.{name}": "reaches arbitrary live objects" for name in ("get_objects", "get_referents", "get_referrers")},
    "site.addsitedir": "changes where modules are found",
    "site.main": "changes where modules are found",
    **{f"code.{name}": "runs code from a string" for name in (
        "interact", "InteractiveInterpreter", "InteractiveConsole", "compile_command")},
    **{f"pdb.{name}": "runs code from a string" for name in ("run", "runeval", "runcall", "runctx", "set_trace", "Pdb")},
    **{f"{module}.{name}": "loads objects by name" for module in ("pickle", "dill", "cloudpickle", "_pickle")
       for name in ("load", "loads", "Unpickler")},
    "shelve.open": "loads objects by name",
}
#: Attributes that expose frames, code and namespaces, whatever object they are read from.
FRAME_ATTRIBUTES = {"f_globals", "f_locals", "f_builtins", "f_back", "f_code", "gi_frame", "cr_frame", "ag_frame",
                    "tb_frame", "tb_next", "co_code", "gi_code", "cr_code"}
_OPERATORS = ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "pow", "divmod", "lshift", "rshift",
              "and", "or", "xor")
#: Dunder attributes that only name, compare, convert or operate; every other dunder reaches code by name.
ALLOWED_DUNDERS = {
    "__init__", "__name__", "__qualname__", "__doc__", "__version__", "__class__", "__len__", "__call__", "__repr__",
    "__str__", "__format__", "__main__", "__iter__", "__next__", "__enter__", "__exit__", "__getitem__", "__setitem__",
    "__delitem__", "__contains__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__",
    "__neg__", "__pos__", "__abs__", "__invert__", "__round__", "__array__", "__array_priority__", "__float__",
    "__int__", "__index__", "__complex__", "__annotations__", "__slots__", "__post_init__", "__new__",
    *{f"__{prefix}{op}__" for op in _OPERATORS for prefix in ("", "r", "i")},
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


def is_forbidden(path: str, forbidden: Sequence[str]) -> bool:
    """``path`` is one of ``forbidden`` or lies inside one (``torch.nn.LSTM`` inside ``torch``)."""
    return any(path == f or path.startswith(f + ".") for f in forbidden)


_is_forbidden = is_forbidden


def _indirect_path(path: str) -> str | None:
    root = path.split(".")[0]
    if root in INDIRECT_MODULES:
        return INDIRECT_MODULES[root]
    for known, reason in INDIRECT_PATHS.items():
        if path == known or path.startswith(known + "."):
            return reason
    return None


def _leads_to_forbidden(path: str, forbidden: Sequence[str]) -> bool:
    """``path`` is forbidden, or a module above something forbidden (``torch.nn`` for ``torch.nn.LSTM``)."""
    return any(path == f or path.startswith(f + ".") or f.startswith(path + ".") for f in forbidden)


def _followed(path: str, forbidden: Sequence[str]) -> bool:
    """Paths worth following through assignments: forbidden, indirect, or a module above one of those."""
    return (
        _leads_to_forbidden(path, forbidden) or _indirect_path(path) is not None
        or any(known.startswith(path + ".") for known in INDIRECT_PATHS)
        or path in INDIRECT_MODULES
    )


class _Aliases:
    """Which module paths each name may stand for, in one scope (flow-insensitive)."""

    MAX_PATHS = 64

    def __init__(self, forbidden: Sequence[str], paths: dict[str, set[str]] | None = None) -> None:
        self.forbidden = tuple(forbidden)
        self.paths: dict[str, set[str]] = {k: set(v) for k, v in (paths or {}).items()}

    def copy(self, without: Iterable[str] = ()) -> _Aliases:
        dropped = set(without)
        return _Aliases(self.forbidden, {k: v for k, v in self.paths.items() if k not in dropped})

    #: A path below a forbidden or indirect name is as bad as that name: past this many more names it is
    #: cut, so that ``a = a.b`` cannot grow paths forever (the first names stay, for the feedback).
    MAX_BELOW = 3

    def _shorten(self, path: str) -> str:
        parts = path.split(".")
        for i in range(1, len(parts) + 1):
            head = ".".join(parts[:i])
            if _is_forbidden(head, self.forbidden) or head in INDIRECT_PATHS or head in INDIRECT_MODULES:
                return ".".join(parts[: i + self.MAX_BELOW])
        return path

    def add(self, name: str, path: str) -> bool:
        known = self.paths.setdefault(name, set())
        path = self._shorten(path)
        if path in known or len(known) >= self.MAX_PATHS:
            return False
        known.add(path)
        return True

    def resolve(self, parts: list[str]) -> set[str]:
        heads = self.paths.get(parts[0], set())
        return {".".join([head, *parts[1:]]) for head in heads}

    def contained(self, node: ast.AST) -> set[str]:
        """Every followed path an expression mentions (as far as it resolves)."""
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


def _imports(nodes: Iterable[ast.AST]) -> Iterable[tuple[str, str]]:
    for node in nodes:
        for child in ast.walk(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.asname:
                        yield alias.asname, alias.name
                    else:
                        yield alias.name.split(".")[0], alias.name.split(".")[0]
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                for alias in child.names:
                    if alias.name != "*":
                        yield alias.asname or alias.name, f"{child.module}.{alias.name}"


def _fixed_point(aliases: _Aliases, bindings: list[tuple[list[str], ast.AST | None]], returns: dict[str, set[str]]) -> None:
    """Follow ``a = torch; b = [a.nn][0]; c = g()`` ... until nothing changes (paths are finite: see ``_shorten``)."""
    changed = True
    while changed:
        changed = False
        for names, value in bindings:
            if value is None:
                continue
            paths = aliases.contained(value)
            for child in ast.walk(value):
                if isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id in returns:
                    paths |= returns[child.func.id]
            for name in names:
                for path in paths:
                    if _followed(path, aliases.forbidden):
                        changed |= aliases.add(name, path)


def _declared_global(node: ast.AST) -> set[str]:
    return {name for child in ast.walk(node) if isinstance(child, ast.Global) for name in child.names}


def _scoped_aliases(
    statements: Sequence[ast.stmt], forbidden: Sequence[str], returns: dict[str, ast.AST]
) -> tuple[_Aliases, dict[int, _Aliases]]:
    """The notebook-level aliases, and for each top-level function or class its own view: its local
    names (parameters, assignments, imports) shadow the notebook's."""
    functions = [s for s in statements if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return_paths: dict[str, set[str]] = {}
    local: dict[int, _Aliases] = {}
    notebook = _Aliases(forbidden)
    for _ in range(3):  # functions' return values feed the notebook's names and back
        notebook = _Aliases(forbidden)
        for name, path in _imports([s for s in statements if s not in functions]):
            notebook.add(name, path)
        bindings = [b for s in statements if s not in functions for b in _bindings(s)]
        for function in functions:  # a function that declares `global x` and assigns it binds the notebook's x
            shared = _declared_global(function)
            bindings += [([n for n in names if n in shared], value) for names, value in _bindings(function)]
        _fixed_point(notebook, bindings, return_paths)
        for function in functions:
            own = _local_names(function) - _declared_global(function) - {function.name}
            aliases = notebook.copy(without=own)
            for name, path in _imports(function.body):
                aliases.add(name, path)
            _fixed_point(aliases, list(_bindings(function)), return_paths)
            local[id(function)] = aliases
            if function.name in returns:
                return_paths[function.name] = aliases.contained(returns[function.name])
    return notebook, local


class _Reader(ast.NodeVisitor):
    """Collects the problems and the notebook names one statement refers to.

    With ``indirect_only``, only ways of reaching code by name count (the notebook-wide check);
    otherwise uses of forbidden names count too.
    """

    def __init__(self, aliases: _Aliases, scope: _Scope, top_level_names: set[str], star_modules: Sequence[str] = (),
                 local_names: set[str] = frozenset(), indirect_only: bool = False):  # type: ignore[assignment]
        self.aliases = aliases
        self.forbidden = aliases.forbidden
        self.scope = scope
        self.top = top_level_names
        self.star = [m for m in star_modules if _leads_to_forbidden(m, self.forbidden)]
        self.local = local_names
        self.indirect_only = indirect_only

    def _forbidden_use(self, text: str) -> None:
        if not self.indirect_only:
            self.scope.problems.append(text)

    def _own(self, name: str) -> bool:
        """The notebook binds this name itself (a variable called `compile` is not the built-in)."""
        return name in self.local or name in self.top

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if _is_forbidden(alias.name, self.forbidden):
                self._forbidden_use(f"imports {alias.name}")
            reason = _indirect_path(alias.name)
            if reason:
                self.scope.problems.append(f"imports {alias.name}, which {reason}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}" if module else alias.name
            if _is_forbidden(module, self.forbidden) or _is_forbidden(full, self.forbidden):
                self._forbidden_use(f"imports {full}")
            elif alias.name == "*" and _leads_to_forbidden(module, self.forbidden):
                self._forbidden_use(f"imports everything from {module}, which holds forbidden names")
            reason = _indirect_path(full) or (_indirect_path(module) if alias.name == "*" else None)
            if reason:
                self.scope.problems.append(f"imports {full}, which {reason}")

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in INDIRECT_BUILTINS and not self._own(name):
            self.scope.problems.append(f"uses `{name}`, which {INDIRECT_BUILTINS[name]}")
        self._judge(self.aliases.resolve([name]), lambda path: f"`{name}` ({path})")
        if name in self.top and name not in self.local:  # a parameter `x` is not the notebook's `x`
            self.scope.calls.add(name)
        elif (
            self.star and isinstance(node.ctx, ast.Load) and name not in self.local
            and name not in self.aliases.paths and name not in _BUILTIN_NAMES
        ):
            self._forbidden_use(f"uses `{name}`, which may come from `from {self.star[0]} import *`")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in LOOKUP_BUILTINS and not self._own(func.id) and node.args:
            for path in sorted(self.aliases.contained(node.args[0])):
                if _followed(path, self.forbidden):
                    self.scope.problems.append(f"uses `{func.id}` on {path}, which looks names up by string")
                    break
            else:
                if not isinstance(node.args[0], (ast.Name, ast.Attribute, ast.Constant)):
                    self.scope.problems.append(f"uses `{func.id}` on a computed object, which looks names up by string")
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__") and attr not in ALLOWED_DUNDERS:
            self.scope.problems.append(f"uses the attribute `{attr}`, which reaches code by name")
        if attr in FRAME_ATTRIBUTES:
            self.scope.problems.append(f"uses the attribute `{attr}`, which reaches other code's namespace")
        parts = _dotted(node)
        # `a.b.c` resolves through aliases; `f(torch.nn).LSTM` may be any path its base mentions
        paths = self.aliases.resolve(parts) if parts else {f"{p}.{attr}" for p in self.aliases.contained(node.value)}
        self._judge(paths, lambda path: path)
        self.generic_visit(node)

    def _judge(self, paths: Iterable[str], shown: Callable[[str], str]) -> None:
        """The first of ``paths`` that is forbidden or reaches code by name, as a problem."""
        for path in sorted(paths):
            if _is_forbidden(path, self.forbidden):
                self._forbidden_use(f"uses {shown(path)}")
                return
            reason = _indirect_path(path)
            if reason:
                self.scope.problems.append(f"uses {shown(path)}, which {reason}")
                return


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
    statements = [node for tree in [*setup, *trees] for node in tree.body]
    students = [node for tree in trees for node in tree.body]
    returns: dict[str, ast.AST] = {}
    for node in statements:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            values = [r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value is not None]
            returns[node.name] = ast.Tuple(elts=values, ctx=ast.Load()) if values else ast.Constant(None)
    notebook, local = _scoped_aliases(statements, forbidden, returns)
    star_modules = [
        node.module for tree in trees for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and any(a.name == "*" for a in node.names)
    ]
    bound = [(node, _bound_at_top(node)) for node in students]
    top_names = {name for _, names in bound for name in names}

    scopes: dict[str, _Scope] = {name: _Scope() for name in top_names}
    module_scope = _Scope()
    for node, names in bound:
        aliases = local.get(id(node), notebook)
        own = _local_names(node) - _declared_global(node) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else set()
        for name in names:  # what a statement does counts for every name it binds
            _Reader(aliases, scopes[name], top_names, star_modules, own).visit(node)
        # anywhere in the notebook, a way of reaching code by name (not a mere use of a forbidden module)
        # counts for everything: it could rebind any name
        _Reader(aliases, module_scope, top_names, star_modules, own, indirect_only=True).visit(node)

    results: dict[str, Delegation] = {}
    for function in functions:
        reason = _first_problem(function, scopes, notebook, forbidden, module_scope)
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
