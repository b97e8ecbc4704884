"""Plain data that crosses the sandbox boundary: arrays as JSON, decoded strictly.

Nothing from a student's process is unpickled or evaluated. A value is a JSON object
``{"kind": "array", "dtype": "float64", "shape": [...], "data": [...]}`` (or ``"tuple"`` of
such values, or ``"other"`` with a type name); the decoder checks every field and rebuilds a
fresh ``float64``/``int64``/``bool`` array, so no object of the student's can reach the grader.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

# The one encoder runs inside the sandbox; its limits apply here too.
from rnncourse.grading.worker import MAX_ELEMENTS, MAX_TUPLE, encode_value

__all__ = ["WireError", "decode_value", "encode_array", "encode_value", "loads_strict"]


_KNOWN_DTYPES = {
    "float16", "bfloat16", "float32", "float64", "longdouble", "float128", "int8", "int16", "int32", "int64", "uint8", "bool",
}


class WireError(ValueError):
    """A value from the sandbox is not well-formed plain data."""


def encode_array(array: Any, tensor: bool = False) -> dict[str, Any]:
    """Encode an input for the sandbox (grader side, trusted): a scalar, or an array that arrives
    as a NumPy array (or, with ``tensor``, as a torch tensor of the same dtype)."""
    if isinstance(array, (bool, int, float)) and not isinstance(array, np.ndarray):
        return {"kind": "scalar", "value": array}
    array = np.asarray(array)
    return {"kind": "array", "tensor": tensor, "dtype": str(array.dtype), "shape": list(array.shape), "data": array.ravel().tolist()}


def _reject_constant(name: str) -> float:
    # NaN and infinities are legal answers to reject, not syntax errors: keep them as floats.
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def loads_strict(text: str) -> Any:
    """Parse JSON text from the sandbox; raises :class:`WireError` on anything malformed."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as error:
        raise WireError(f"malformed JSON: {error}") from None


def decode_value(
    obj: Any, depth: int = 0, container: str = "ndarray", integers: bool = False
) -> np.ndarray | tuple[Any, ...] | str:
    """Rebuild a value encoded by :func:`encode_value`, checking every field.

    ``container`` is what the exercise asks for: ``"ndarray"`` (a NumPy array) or ``"tensor"`` (a
    torch tensor). Returns a fresh float64 ndarray, a tuple of decoded values, or a string naming
    what came instead. ``integers`` accepts integer and boolean arrays too (for an exercise whose
    answer is a sequence of indices); they arrive as float64 like everything else.
    """
    if not isinstance(obj, dict) or depth > 2:
        raise WireError("value is not an object")
    kind = obj.get("kind")
    if kind == "tuple":
        items = obj.get("items")
        length = obj.get("length")
        if not isinstance(items, list) or not isinstance(length, int) or len(items) > MAX_TUPLE:
            raise WireError("bad tuple")
        if length != len(items):
            return f"tuple of length {length}"
        return tuple(decode_value(item, depth + 1, container, integers) for item in items)
    if kind == "other":
        type_name = obj.get("type")
        return f"a {type_name}" if isinstance(type_name, str) else "an unknown object"
    if kind != "array":
        raise WireError(f"unknown kind {kind!r}")
    shape, data, dtype = obj.get("shape"), obj.get("data"), obj.get("dtype")
    if not (isinstance(shape, list) and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape)):
        raise WireError("bad shape")
    if not isinstance(data, list) or not isinstance(dtype, str):
        raise WireError("bad data")
    size = math.prod(shape)
    if size != len(data) or size > MAX_ELEMENTS:
        raise WireError("data does not match shape")
    if not all(type(x) in (float, int, bool) for x in data):
        raise WireError("data holds non-numbers")
    if obj.get(container) is not True:
        wanted = "a torch tensor" if container == "tensor" else "a NumPy array"
        return f"a {obj.get('type') if isinstance(obj.get('type'), str) else 'non-array'} (expected {wanted})"
    if dtype not in _KNOWN_DTYPES:
        raise WireError(f"unexpected dtype {dtype!r}")
    if dtype != "bfloat16" and np.dtype(dtype).kind != "f" and not (integers and np.dtype(dtype).kind in "iub"):
        return f"an array of dtype {dtype} (expected floating point)"
    return np.array(data, dtype=np.float64).reshape(shape)
