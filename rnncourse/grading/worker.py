"""Runs one submission inside the sandbox. Standalone: the grader binds this file into the
sandbox, where ``rnncourse`` itself does not exist.

Usage: ``python -I -S worker.py RECORDS_FD SITE_FOLDER`` with the job (JSON) on standard input.

The job lists *steps*: instructor setup statements, the student's code cells (plain Python: the
grader has already turned magics and shell escapes into Python or removed them), then calls of the
student's functions with plain-data arguments. Each top-level statement of a cell runs on its own,
so a failing ``import`` does not stop the ``def`` after it. For each step the worker writes
``{"start": id}`` and then ``{"end": id, "error": ..., "value": ...}`` to the records descriptor.
Everything here runs in the same process as the student's code, so none of it is trusted: the
grader decides the verdict from what it reads back, and treats a missing ``end`` as a failure.
"""

from __future__ import annotations

import ast
import json
import os
import sys
import traceback

MAX_ELEMENTS = 1_000_000
MAX_TUPLE = 16
_DTYPES = {"f": "float64", "i": "int64", "u": "int64", "b": "bool"}


def _tensor_type():
    torch = sys.modules.get("torch")
    return getattr(torch, "Tensor", None) if torch is not None else None


def encode_value(value):
    """A return value as plain data (see :mod:`rnncourse.grading.wire`, which decodes it)."""
    import numpy as np

    if isinstance(value, tuple):
        return {"kind": "tuple", "items": [encode_value(v) for v in value[:MAX_TUPLE]], "length": len(value)}
    type_name = type(value).__name__
    tensor = _tensor_type()
    is_tensor = tensor is not None and type(value) is tensor
    try:
        if is_tensor:
            array = value.detach().cpu().numpy()
            dtype_name = str(value.dtype).replace("torch.", "")
        else:
            array = np.asarray(value)
            dtype_name = str(array.dtype)
    except Exception:  # noqa: BLE001
        return {"kind": "other", "type": type_name}
    if array.dtype.kind not in _DTYPES or array.size > MAX_ELEMENTS:
        return {"kind": "other", "type": type_name, "dtype": dtype_name}
    return {
        "kind": "array",
        "ndarray": type(value) is np.ndarray,
        "tensor": is_tensor,
        "type": type_name,
        "dtype": dtype_name,
        "shape": list(array.shape),
        "data": array.astype(_DTYPES[array.dtype.kind]).ravel().tolist(),
    }


def decode_input(obj):
    """An argument from the grader: a scalar, a NumPy array or (``"tensor": true``) a torch tensor, or a dict of them."""
    import numpy as np

    if obj.get("kind") == "scalar":
        return obj["value"]
    if obj.get("kind") == "dict":
        return {key: decode_input(item) for key, item in obj["items"].items()}
    array = np.asarray(obj["data"], dtype=obj["dtype"]).reshape(obj["shape"])
    if obj.get("tensor"):
        import torch

        return torch.from_numpy(array)
    return array


def describe(error: BaseException, label: str = "") -> str:
    """``Type: message (line N)``, the line counted in the student's cell."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, ModuleNotFoundError):
        allowed = os.environ.get("RNNCOURSE_PACKAGES", "numpy").replace(",", ", ")
        text += f" (while your notebook is graded only these packages exist: {allowed})"
    where = None
    if isinstance(error, SyntaxError) and error.filename == label:
        where = f"line {error.lineno}"
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == label:
            where = f"line {frame.lineno}"
        elif not label and frame.filename.startswith("<cell "):
            where = f"line {frame.lineno} of {frame.filename}"
    if where is not None:
        text += f" ({where})"
    return text[:600]


def run_source(source: str, label: str, namespace: dict) -> str | None:
    """Run each top-level statement of ``source``; the first error, described, or None."""
    try:
        tree = ast.parse(source, filename=label)
    except SyntaxError as error:
        return describe(error, label)
    except (ValueError, RecursionError, MemoryError) as error:
        return describe(error, label)
    first = None
    for statement in tree.body:
        try:
            code = compile(ast.Module(body=[statement], type_ignores=[]), label, "exec")
            exec(code, namespace)  # noqa: S102 - this is the student's own code, in the sandbox
        except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
            if first is None:
                first = describe(error, label)
    return first


def _tensors(value) -> list:
    """The tensors in a (nested) tuple, in order."""
    if isinstance(value, tuple):
        return [t for item in value for t in _tensors(item)]
    return [value]


def gradients(value, inputs, probes) -> dict:
    """``{"gradients": ...}``: the gradient of ``sum_k <output_k, probe_k>`` with respect to ``inputs``
    (``None`` where the result does not depend on an input), or ``{"gradient_error": ...}``."""
    import torch

    outputs = _tensors(value)
    if len(outputs) != len(probes) or not all(type(o) is torch.Tensor for o in outputs):
        return {"gradient_error": f"the result holds {len(outputs)} item(s) where {len(probes)} tensor(s) were expected"}
    try:
        total = sum((o * decode_input(p).to(o.dtype)).sum() for o, p in zip(outputs, probes))
        if not getattr(total, "requires_grad", False):
            return {"gradient_error": "the result is not connected to the inputs through autograd "
                    "(was it computed outside torch, or detached?)"}
        grads = torch.autograd.grad(total, inputs, allow_unused=True)
    except BaseException as error:  # noqa: BLE001
        return {"gradient_error": describe(error)}
    return {"gradients": encode_value(tuple(grads))}


def _stub(path: str):
    def forbidden(*args, **kwargs):
        raise RuntimeError(f"{path} is not allowed in this exercise: write this computation yourself")

    return forbidden


def poison(paths) -> None:
    """Replace each forbidden object (``"torch.nn.LSTM"``) in every loaded module by a stub that raises.

    Modules themselves are left alone: replacing ``torch._VF`` everywhere would break ``torch.einsum``
    and the rest of torch that calls through it. Name the functions inside (``"torch._VF.lstm"``);
    the static analysis refuses any use of a forbidden module in the student's code.
    """
    import importlib
    import types

    targets = {}
    keep = []  # the objects stay alive, so their ids cannot be reused by something innocent
    for path in paths:
        module_name, _, attribute = path.rpartition(".")
        try:
            module = importlib.import_module(module_name)
            value = getattr(module, attribute)
        except Exception:  # noqa: BLE001 - not importable here: nothing to poison
            continue
        if isinstance(value, types.ModuleType):
            continue
        keep.append(value)
        targets[id(value)] = path
        if attribute not in vars(module):  # served by a module-level __getattr__ (torch._VF)
            try:
                setattr(module, attribute, _stub(path))
            except (AttributeError, TypeError):
                pass
    for module in list(sys.modules.values()):
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        for name, value in items:
            if id(value) in targets:
                try:
                    setattr(module, name, _stub(targets[id(value)]))
                except (AttributeError, TypeError):
                    pass


def _display(*objects, **kwargs) -> None:
    """``display`` does nothing while grading (IPython is not there)."""


def main() -> None:
    records_fd, site = int(sys.argv[1]), sys.argv[2]
    job = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    records = os.dup2(records_fd, 250)  # out of the way of the student's own files
    os.close(records_fd)
    sys.path.append(site)

    def emit(record):
        line = json.dumps(record, allow_nan=True) + "\n"
        os.write(records, line.encode())

    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "display": _display}
    skip = set(job.get("skip", []))
    poisoned = False
    for step in job["steps"]:
        if step["kind"] == "cell" and not poisoned:
            poison(job.get("poison", []))
            poisoned = True
        if step["id"] in skip:
            continue
        emit({"start": step["id"]})
        record = {"end": step["id"], "error": None}
        kind = step["kind"]
        if kind in ("setup", "cell"):
            record["error"] = run_source(step["source"], step.get("label", "<cell ?>"), namespace)
        elif kind == "call":
            function = namespace.get(step["function"])
            if not callable(function):
                record["error"] = f"NameError: `{step['function']}` is not defined (did its cell run without errors?)"
            else:
                try:
                    args = [decode_input(a) for a in step["args"]]
                    wrt = step.get("wrt") or []
                    for i in wrt:
                        args[i].requires_grad_(True)
                    value = function(*args)
                    record["value"] = encode_value(value)
                    if wrt:
                        record.update(gradients(value, [args[i] for i in wrt], step.get("probe", [])))
                except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
                    record["error"] = describe(error)
        emit(record)
    emit({"done": True})
    sys.stdout.flush()
    os._exit(0)  # do not run the student's atexit handlers


if __name__ == "__main__":
    main()
