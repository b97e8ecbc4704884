"""The exercise self-checks: right answers pass quietly, wrong ones get a message that says what and why."""

import numpy as np
import pytest

import rnncourse.dynamics
from rnncourse.checks import SelfCheckError, check_array, check_own_code
from rnncourse.checks import ex01

EXPECTED = np.arange(6.0).reshape(2, 3)


@pytest.mark.parametrize(
    "got, message",
    [
        (None, "returned None"),
        ([[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]], "returned a list"),
        (np.arange(6).reshape(2, 3), "dtype int64"),
        (EXPECTED.T.copy(), r"returned shape \(3, 2\); expected \(B, K\) = \(2, 3\)"),
        (np.where(EXPECTED > 4, np.nan, EXPECTED), "1 NaN or infinite"),
        (EXPECTED + np.eye(2, 3) * 0.5, r"largest difference is 0.5 at index \(0, 0\)"),
    ],
    ids=["none", "list", "int", "shape", "nan", "values"],
)
def test_check_array_messages(got, message):
    with pytest.raises(SelfCheckError, match=message):
        check_array("f(x)", got, EXPECTED, meaning="(B, K)")


def test_check_array_accepts_float_error():
    check_array("f(x)", EXPECTED + 1e-12, EXPECTED)


def _honest_softmax(o):
    e = np.exp(o - o.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_own_code_accepts_numpy_code():
    check_own_code(_honest_softmax, "softmax")


def test_own_code_refuses_the_reference_itself():
    with pytest.raises(SelfCheckError, match="reference implementation"):
        check_own_code(rnncourse.dynamics.softmax, "softmax")


def test_own_code_refuses_an_alias_in_globals():
    namespace = {"ref": rnncourse.dynamics}
    exec("def softmax(o):\n    return ref.softmax(o)\n", namespace)
    with pytest.raises(SelfCheckError, match="uses `ref`"):
        check_own_code(namespace["softmax"], "softmax")


def test_own_code_refuses_lookup_by_string():
    namespace = {"np": np}
    exec("def softmax(o):\n    return getattr(__import__('rnncourse.dynamics'), 'dynamics').softmax(o)\n", namespace)
    with pytest.raises(SelfCheckError, match="can reach other code by name"):
        check_own_code(namespace["softmax"], "softmax")


def test_own_code_refuses_torch_inside_nested_function():
    import torch

    namespace = {"torch": torch}
    exec("def f(x):\n    def g(y):\n        return torch.tanh(y)\n    return g(x)\n", namespace)
    with pytest.raises(SelfCheckError, match="from torch"):
        check_own_code(namespace["f"], "f")


def test_ex01_checks_pass_the_references_wrapped_as_student_code():
    namespace = {"np": np}
    exec(
        "def softmax(o):\n    e = np.exp(o - o.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n"
        "def elman_step(x, h, W, U, b):\n    return np.tanh(b + h @ W.T + x @ U.T)\n"
        "def elman_forward(x, h0, W, U, b):\n    out = []\n    h = h0\n    for xt in x:\n        h = elman_step(xt, h, W, U, b)\n        out.append(h)\n    return np.stack(out)\n"
        "def jordan_step(x, y, W, U, b, V, c):\n    h = np.tanh(b + y @ W.T + x @ U.T)\n    return h, softmax(c + h @ V.T)\n",
        namespace,
    )
    ex01.check_softmax(namespace["softmax"])
    ex01.check_elman_step(namespace["elman_step"])
    ex01.check_elman_forward(namespace["elman_forward"])
    ex01.check_jordan_step(namespace["jordan_step"])


def test_ex01_checks_name_the_typical_mistakes():
    namespace = {"np": np}
    exec(
        "def last_only(x, h0, W, U, b):\n    h = h0\n    for xt in x:\n        h = np.tanh(b + h @ W.T + xt @ U.T)\n    return h\n"
        "def todo(x, h, W, U, b):\n    raise NotImplementedError()\n"
        "def no_transpose(x, h, W, U, b):\n    return np.tanh(b + h @ W + x @ U.T)\n",
        namespace,
    )
    with pytest.raises(SelfCheckError, match="returned only one state"):
        ex01.check_elman_forward(namespace["last_only"])
    with pytest.raises(SelfCheckError, match="not implemented yet"):
        ex01.check_elman_step(namespace["todo"])
    with pytest.raises(SelfCheckError, match=r"wrong values.*h @ W\.T"):
        ex01.check_elman_step(namespace["no_transpose"])
