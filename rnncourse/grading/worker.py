"""Runs one submission inside the sandbox. Standalone: the grader copies this file into the
sandbox, where ``rnncourse`` itself is not importable.

Usage: ``python -I worker.py JOB.json PROGRESS.jsonl``

The job lists *steps*: instructor setup statements, the student's code cells, then calls of the
student's functions with plain-data arguments. For each step the worker appends
``{"start": id}`` and then ``{"end": id, "error": ..., "value": ...}`` to the progress file.
Everything here runs in the same process as the student's code, so none of it is trusted: the
grader decides the verdict from what it reads back, and treats a missing ``end`` as a failure.
"""

from __future__ import annotations

import json
import os
import sys
import traceback

import numpy as np

MAX_ELEMENTS = 5_000_000
MAX_TUPLE = 16
_DTYPES = {"f": "float64", "i": "int64", "u": "int64", "b": "bool"}


def encode_value(value):
    """A return value as plain data (see :mod:`rnncourse.grading.wire`, which decodes it)."""
    if isinstance(value, tuple):
        return {"kind": "tuple", "items": [encode_value(v) for v in value[:MAX_TUPLE]], "length": len(value)}
    type_name = type(value).__name__
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001
        return {"kind": "other", "type": type_name}
    if array.dtype.kind not in _DTYPES or array.size > MAX_ELEMENTS:
        return {"kind": "other", "type": type_name, "dtype": str(array.dtype)}
    return {
        "kind": "array",
        "ndarray": type(value) is np.ndarray,
        "type": type_name,
        "dtype": str(array.dtype),
        "shape": list(array.shape),
        "data": array.astype(_DTYPES[array.dtype.kind]).ravel().tolist(),
    }


def decode_input(obj):
    return np.asarray(obj["data"], dtype=obj["dtype"]).reshape(obj["shape"])


def describe(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}"
    return text[:500]


def main() -> None:
    job_path, progress_path = sys.argv[1], sys.argv[2]
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    progress = os.open(progress_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    progress = os.dup2(progress, 250)  # out of the way of the student's own files

    def emit(record):
        line = json.dumps(record, allow_nan=True) + "\n"
        os.write(progress, line.encode())

    try:
        from IPython.core.interactiveshell import InteractiveShell

        shell = InteractiveShell.instance(colors="NoColor")
        namespace = shell.user_ns

        def run_cell(source):
            result = shell.run_cell(source, store_history=False)
            error = result.error_before_exec or result.error_in_exec
            return None if error is None else describe(error)
    except Exception:  # noqa: BLE001 - without IPython, plain Python cells still run
        namespace = {"__name__": "__main__"}

        def run_cell(source):
            try:
                exec(compile(source, "<cell>", "exec"), namespace)
            except BaseException as error:  # noqa: BLE001
                return describe(error)
            return None

    skip = set(job.get("skip", []))
    for step in job["steps"]:
        if step["id"] in skip:
            continue
        emit({"start": step["id"]})
        record = {"end": step["id"], "error": None}
        kind = step["kind"]
        if kind in ("setup", "cell"):
            record["error"] = run_cell(step["source"])
        elif kind == "call":
            function = namespace.get(step["function"])
            if not callable(function):
                record["error"] = f"NameError: `{step['function']}` is not defined (did its cell run without errors?)"
            else:
                try:
                    args = [decode_input(a) for a in step["args"]]
                    record["value"] = encode_value(function(*args))
                except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt too
                    record["error"] = describe(error)
                    record["traceback"] = "".join(traceback.format_exception(error))[-2000:]
        emit(record)
    emit({"done": True})
    sys.stdout.flush()
    os._exit(0)  # do not run the student's atexit handlers


if __name__ == "__main__":
    main()
