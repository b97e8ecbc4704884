"""Self-checks for the exercises: each failure says what was expected and what came.

The visible tests in the exercise notebooks call these; the messages are written for a
student reading them in JupyterLab, not for a developer reading a traceback.
"""

from __future__ import annotations

import builtins
import types
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = ["SelfCheckError", "check_array", "check_items", "check_own_code", "check_unchanged"]

#: Modules whose functions an exercise must not call in place of its own code.
REFERENCE_MODULES = ("rnncourse", "torch", "scipy")
#: Built-ins that would let a function reach a module by a string.
INDIRECT_LOOKUPS = frozenset({"__import__", "getattr", "eval", "exec", "importlib", "globals", "vars"})


class SelfCheckError(AssertionError):
    """A self-check failed; the message is meant for the student."""


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
