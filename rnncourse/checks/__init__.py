"""Self-checks for the exercises: each failure says what was expected and what came.

The visible tests in the exercise notebooks call these; the messages are written for a
student reading them in JupyterLab, not for a developer reading a traceback.
"""

from __future__ import annotations

import builtins
import functools
import os
import traceback
import types
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

import numpy as np

__all__ = ["SelfCheckError", "check_array", "check_items", "check_own_code", "check_unchanged", "self_check"]

#: Modules whose functions an exercise must not call in place of its own code.
REFERENCE_MODULES = ("rnncourse", "torch", "scipy")
#: Built-ins that would let a function reach a module by a string.
INDIRECT_LOOKUPS = frozenset({"__import__", "getattr", "eval", "exec", "importlib", "globals", "vars"})


class SelfCheckError(AssertionError):
    """A self-check failed; the message is meant for the student."""

    def _render_traceback_(self) -> list[str]:
        """How IPython (JupyterLab) shows this error: as usual, less the frames of the rnncourse package.

        IPython hides a frame that sets ``__tracebackhide__``, but never the last one, and the last frame
        of a failed check is the line of :func:`self_check` that raises. So the traceback is formatted here,
        by the shell's own formatter, from a copy without the package's frames: the student sees the
        call in their cell, the message and the cause. This must not raise (IPython would then print its
        own error instead), hence the plain fallback.
        """
        shown = _without_package_frames(self.__traceback__)
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                return list(shell.InteractiveTB.structured_traceback(type(self), self, shown))
        except Exception:
            pass
        return "".join(traceback.format_exception(type(self), self, shown)).splitlines()


# --------------------------------------------------------------------------- what a failing check shows
#
# A failing check is shown to the student as a traceback. Left alone, that traceback walks through
# the checking machinery (``expected = reference(*args)``) and, when something goes wrong inside a
# reference implementation (rnncourse.dynamics, rnncourse.bptt, ...), prints that reference's source
# lines, which are line for line the answer. ``self_check`` cuts every frame of this package out of
# what is shown: the student sees the call in their cell, the message, and (as the cause) the frames
# of their own function and of the libraries it called.

#: The directory of the rnncourse package (as imported, and with links resolved): frames whose code lives
#: under it are not shown.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGE_DIRS = tuple({os.path.normcase(d) + os.sep for d in (_PACKAGE, os.path.realpath(_PACKAGE))})

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _in_package(filename: str) -> bool:
    """Whether code from ``filename`` belongs to the rnncourse package (checks and references alike)."""
    if not filename or filename.startswith("<"):
        return False
    paths = {os.path.normcase(os.path.abspath(filename)), os.path.normcase(os.path.realpath(filename))}
    return any(path.startswith(_PACKAGE_DIRS) for path in paths)


def _without_package_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """A new traceback chain with only the frames whose code is outside the rnncourse package."""
    kept = []
    while tb is not None:
        if not _in_package(tb.tb_frame.f_code.co_filename):
            kept.append((tb.tb_frame, tb.tb_lasti, tb.tb_lineno))
        tb = tb.tb_next
    filtered = None
    for frame, lasti, lineno in reversed(kept):
        filtered = types.TracebackType(filtered, frame, lasti, lineno)
    return filtered


def _shown_cause(error: BaseException | None) -> BaseException | None:
    """``error`` (a failed check's cause) with the package's frames cut from its traceback and from those of
    every exception chained to it (its own ``__cause__`` and ``__context__``, which may come from a reference)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = _without_package_frames(current.__traceback__)
        pending.extend((current.__cause__, current.__context__))
    return error


def self_check(check: Callable[_P, _R]) -> Callable[_P, _R]:
    """Make a public self-check show the student's code, never the checker's or a reference's.

    A student reads a failing check as a traceback in JupyterLab. Without this wrapper that traceback
    shows the lines of the check itself (``expected = reference(*args)``) and, when an exception
    happens inside a reference implementation, the reference's source lines, which are the answer.
    So the wrapper:

    * re-raises a :class:`SelfCheckError` as a fresh one with the same message, whose ``__cause__`` is
      the original cause (usually the error the student's function raised) with every frame of the
      rnncourse package removed from its traceback (the student's frames, numpy's and so on stay);
    * turns any other exception escaping the check (a crash of the checking code or of a reference) into
      a :class:`SelfCheckError` saying the check could not finish, naming the exception's type and message,
      with the exception itself, filtered the same way, as the cause;
    * hides its own frame (``__tracebackhide__``, honoured by IPython and pytest).

    ``KeyboardInterrupt`` and ``SystemExit`` pass through untouched.
    """

    @functools.wraps(check)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        __tracebackhide__ = True  # read from the frame by pytest and IPython (IPython shows the last frame anyway)
        try:
            return check(*args, **kwargs)
        except SelfCheckError as failure:
            replacement, cause = SelfCheckError(*failure.args), failure.__cause__
        except Exception as error:
            name, message = getattr(check, "__name__", "the self-check"), str(error).strip()
            replacement = SelfCheckError(
                f"{name} could not finish: checking your function stopped on {type(error).__name__}"
                + (f": {message}" if message else "")
                + ". The check cannot say what this means for your answer: look at what your function returns "
                "(its type, shape and dtype) and, if it looks right, ask for help with this message."
            )
            cause = error
        # Raised here, outside the handlers, so that the original exception (and with it the checker's
        # frames) is not kept as the implicit __context__ either.
        raise replacement from _shown_cause(cause)

    return checked


def check_array(
    name: str,
    got: Any,
    expected: np.ndarray,
    *,
    meaning: str = "",
    rtol: float = 1e-6,
    atol: float = 1e-8,
    hint: str = "",
) -> None:
    """Check that ``got`` is a finite floating ndarray with ``expected``'s shape and values.

    Args:
        name: what is being checked, as the student knows it (``"elman_step(x, h, W, U, b)"``).
        got: the student's result.
        expected: the reference result.
        meaning: the shape written with symbols, e.g. ``"(B, H)"``, to put in messages.
        rtol, atol: tolerances of :func:`numpy.allclose`; only float error should need them.
        hint: a sentence added when the values are wrong (the usual mistake for this function).
    """
    shape_text = f"{meaning} = {expected.shape}" if meaning else f"{expected.shape}"
    if got is None:
        raise SelfCheckError(f"{name} returned None: did you forget the `return` statement?")
    if not isinstance(got, np.ndarray):
        raise SelfCheckError(
            f"{name} returned a {type(got).__name__}; expected a NumPy array of shape {shape_text}."
        )
    if not np.issubdtype(got.dtype, np.floating):
        raise SelfCheckError(
            f"{name} returned an array of dtype {got.dtype}; expected floating point "
            f"(the inputs were {expected.dtype})."
        )
    if got.shape != expected.shape:
        raise SelfCheckError(
            f"{name} returned shape {got.shape}; expected {shape_text}. "
            "Check which axis is time, which is batch, and whether a matrix needs transposing."
        )
    if not np.all(np.isfinite(got)):
        bad = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
        raise SelfCheckError(
            f"{name} returned {bad} NaN or infinite value(s); expected finite numbers. "
            "Large inputs to exp() overflow: is your computation numerically stable?"
        )
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        error = np.abs(got - expected)
        index = np.unravel_index(int(np.argmax(error)), error.shape)
        raise SelfCheckError(
            f"{name} has the right shape but wrong values: the largest difference is "
            f"{float(error[index]):.3g} at index {tuple(int(i) for i in index)} "
            f"(got {float(got[index]):.6g}, expected {float(expected[index]):.6g})." + (f" {hint}" if hint else "")
        )


def check_items(task: str, got: Any, expected: Any, items: Iterable[str], *, hint: str = "", rtol: float = 1e-6,
                atol: float = 1e-8) -> None:
    """Compare a result item by item, as the grader does: ``expected`` is one array or a tuple of them, and
    ``items`` names each with its shape in symbols (``"alpha (B, T_x)"``), for the messages."""
    items = list(items)
    if isinstance(expected, tuple):
        if not (isinstance(got, tuple) and len(got) == len(expected)):
            raise SelfCheckError(f"{task} should return a tuple of {len(expected)} arrays; got {type(got).__name__}.")
        for index, (item, wanted, meaning) in enumerate(zip(got, expected, items)):
            name, shape = meaning.split(" ", 1)
            check_array(f"item {index} ({name}) of {task}", item, np.asarray(wanted), meaning=shape, hint=hint,
                        rtol=rtol, atol=atol)
    else:
        check_array(task, got, expected, meaning=items[0].split(" ", 1)[1], hint=hint, rtol=rtol, atol=atol)


def check_unchanged(task: str, names: Iterable[str], before: Iterable[Any], after: Iterable[Any]) -> None:
    """Refuse a function that changed an array argument in place (``before``: copies taken before the call)."""
    for name, old, new in zip(names, before, after):
        if isinstance(old, np.ndarray) and not np.array_equal(old, new):
            raise SelfCheckError(
                f"{task} changed its argument `{name}` in place: the caller still needs it. Build new arrays "
                "instead of assigning into the inputs (or work on a copy)."
            )


def _referenced_names(code: types.CodeType) -> Iterable[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _referenced_names(const)


#: Names of torch's recurrent layers and fused recurrent functions: refused even where torch is allowed.
TORCH_RECURRENT = frozenset({
    "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell", "RNNBase", "RNNCellBase", "_VF", "_VariableFunctions",
    "lstm", "lstm_cell", "gru", "gru_cell", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "ops",
})
#: Modules inside torch that hold its recurrent layers and kernels.
TORCH_RECURRENT_MODULES = ("torch.nn.modules.rnn", "torch._VF", "torch._C", "torch.ops")


def _owner(value: Any) -> str:
    owner = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", "")
    return owner if isinstance(owner, str) else ""


def check_own_code(func: Callable[..., Any], task: str, allow_torch: bool = False) -> None:
    """Refuse a function that hands its work to a reference implementation.

    Catches a function that *is* one from ``rnncourse``/``torch``/``scipy`` (for example
    ``elman_step = rnncourse.dynamics.elman_step``), one whose body uses a global bound to
    such a module or function (under any alias), and one that looks names up by string
    (``getattr``, ``__import__``, ``eval``). With ``allow_torch`` (an exercise written in PyTorch)
    torch's tensors and functions are fine, but not its recurrent layers, cells and fused kernels
    (``torch.nn.LSTM``, ``torch.lstm``, ``torch._VF``). The autograder applies a stricter version of
    this rule outside your kernel, so passing here is necessary, not sufficient.
    """
    library = "PyTorch tensor operations" if allow_torch else "NumPy"
    if not isinstance(func, types.FunctionType):
        raise SelfCheckError(
            f"{task}: expected a function defined with `def` in this notebook, got {type(func).__name__}."
        )
    module = getattr(func, "__module__", "") or ""
    if module.split(".")[0] in REFERENCE_MODULES:
        raise SelfCheckError(
            f"{task}: this is {module}.{func.__name__}, the reference implementation. "
            f"Write the computation yourself with {library}."
        )
    for name in set(_referenced_names(func.__code__)):
        if name in INDIRECT_LOOKUPS:
            raise SelfCheckError(
                f"{task}: the function uses `{name}`, which can reach other code by name. "
                f"Write the computation directly with {library}."
            )
        is_global = name in func.__globals__ or hasattr(builtins, name)
        value = func.__globals__.get(name, getattr(builtins, name, None))
        owner = _owner(value) if is_global else ""
        in_torch = owner.split(".")[0] == "torch"
        recurrent = (
            (allow_torch and not is_global and name in TORCH_RECURRENT)
            or (in_torch and owner.startswith(TORCH_RECURRENT_MODULES))
            or (in_torch and getattr(value, "__name__", "") in TORCH_RECURRENT)
        )
        if recurrent:
            raise SelfCheckError(
                f"{task}: the function uses `{name}`, one of torch's own recurrent layers or kernels. "
                "This exercise asks you to write the recurrence yourself from tensor operations."
            )
        if owner.split(".")[0] in REFERENCE_MODULES and not (allow_torch and in_torch):
            raise SelfCheckError(
                f"{task}: the function uses `{name}` (from {owner}). This exercise asks you to write "
                f"the computation yourself with {library}, not to call a library's recurrent network."
            )
