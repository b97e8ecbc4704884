"""The exercise self-checks: right answers pass quietly, wrong ones get a message that says what and why."""

import re

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
    ex01.check_softmax_stable(namespace["softmax"])
    ex01.check_elman_step(namespace["elman_step"])
    ex01.check_elman_step_general(namespace["elman_step"])
    ex01.check_elman_forward(namespace["elman_forward"])
    ex01.check_elman_forward_general(namespace["elman_forward"])
    ex01.check_jordan_step(namespace["jordan_step"])
    ex01.check_jordan_step_general(namespace["jordan_step"])


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


# --------------------------------------------------------------------------- ex01 diagnoses
# The self-checks and the grading spec share these, so the graded feedback says what the check said.

RNG = np.random.default_rng(7)
P = ex01.random_elman(RNG, T=5, B=3, D=4, H=6, K=3)
STATES = rnncourse.dynamics.elman_forward(P["x"], P["h0"], P["W"], P["U"], P["b"])
STEP = STATES[0]
PRE = np.arctanh(STEP)  # b + W h0 + U x0
JORDAN = rnncourse.dynamics.jordan_step(P["x"][0], P["y_hat0"], P["W_y"], P["U"], P["b"], P["V"], P["c"])
LOGITS = RNG.standard_normal((4, 5))
SOFT = rnncourse.dynamics.softmax(LOGITS)


@pytest.mark.parametrize(
    "value, message",
    [
        (np.exp(LOGITS) / np.exp(LOGITS).sum(axis=0), "columns that sum to 1 instead of rows"),
        (np.exp(LOGITS) / np.exp(LOGITS).sum(), "sum to 1 all together"),
        (np.exp(LOGITS - LOGITS.max(axis=-1, keepdims=True)), r"do not sum to 1 \(the first sums to"),
        (np.exp(LOGITS - LOGITS.max(axis=0)) / np.exp(LOGITS - LOGITS.max(axis=0)).sum(-1, keepdims=True), "changed along each row"),
    ],
    ids=["axis0", "whole-array", "unnormalised", "shift-not-per-row"],
)
def test_diagnose_softmax(value, message):
    assert re.search(message, ex01.diagnose_softmax(value, SOFT))


@pytest.mark.parametrize(
    "value, message",
    [
        (STEP[:1].squeeze(), r"returned shape \(6,\) for a batch of 1: keep the batch axis"),
        (PRE, r"equal to b \+ W h \+ U x itself: apply tanh"),
        (1 / (1 + np.exp(-PRE)), "the sigmoid of b"),
        (np.maximum(PRE, 0), "the ReLU of b"),
        (np.tanh(PRE - P["b"]), "as if the bias b were missing or added twice"),
        (np.tanh(PRE + P["b"]), "as if the bias b were missing or added twice"),
        (np.tanh(PRE - P["b"]) + P["b"], "bias b added after tanh"),
    ],
    ids=["squeezed", "no-tanh", "sigmoid", "relu", "no-bias", "bias-twice", "bias-after-tanh"],
)
def test_diagnose_step(value, message):
    expected = STEP[:1] if value.ndim == 1 else STEP
    assert re.search(message, ex01.diagnose_step(value, expected))


@pytest.mark.parametrize(
    "value, message",
    [
        (STATES[-1], r"returned only one state, shape \(3, 6\) \(it is the last one\); expected all T states"),
        (np.concatenate([P["h0"][None], STATES]), r"returned T\+1 = 6 states: do not include h0"),
        (STATES[1:], "returned T-1 = 4 states: one is missing"),
        (STATES.transpose(1, 0, 2), r"returned shape \(B, T, H\) = \(3, 5, 6\): time must be the first axis"),
        (STATES.T, "the axes are in the wrong order"),
        (STATES.reshape(15, 6), "the states were concatenated"),
        (np.broadcast_to(STATES[-1], STATES.shape).copy(), "the last state at every time step: one array was changed in place"),
        (np.concatenate([P["h0"][None], STATES[:-1]]), "one step late"),
        (list(STATES), r"returned a list; expected one array .*np\.stack\(states\)"),
        ("a list", r"returned a list; expected one array"),
        ((STATES, STATES[-1]), r"returned a tuple of 2 items \(as torch\.nn\.RNN"),
        (np.concatenate([np.tanh(PRE - P["b"])[None], STATES[1:]]), r"first state h\(1\) values off by the same amount"),
    ],
    ids=["last-only", "T+1", "T-1", "BTH", "HBT", "concatenated", "aliased", "late", "list", "list-as-text", "tuple", "no-bias"],
)
def test_diagnose_states(value, message):
    assert re.search(message, ex01.diagnose_states(value, STATES))


@pytest.mark.parametrize(
    "value, message",
    [
        (JORDAN[::-1], r"returned \(y_hat, h\): the order is \(h, y_hat\)"),
        (list(JORDAN), r"returned a list; expected a tuple.*`return h, y_hat`"),
        ("a list", "returned a list; expected a tuple"),
        (JORDAN[1], r"returned one array of shape \(3, 3\); expected the pair \(h, y_hat\)"),
        ((JORDAN[0], np.log(JORDAN[1])), "rows do not sum to 1: apply your softmax"),
        ((JORDAN[0], JORDAN[1] / JORDAN[1].sum(axis=0)), "columns sum to 1"),
        ((JORDAN[0], rnncourse.dynamics.softmax(JORDAN[0] @ P["V"].T)), "as if the bias c were missing"),
        ((np.arctanh(JORDAN[0]), JORDAN[1]), r"returned as h \(item 0\) values equal to b \+ W h \+ U x itself"),
    ],
    ids=["swapped", "list", "list-as-text", "one-array", "no-softmax", "softmax-axis0", "no-c", "no-tanh"],
)
def test_diagnose_jordan(value, message):
    assert re.search(message, ex01.diagnose_jordan(value, JORDAN))


def test_diagnoses_say_nothing_about_right_answers_or_what_they_cannot_read():
    assert ex01.diagnose_softmax(SOFT + 1e-12, SOFT) is None
    assert ex01.diagnose_softmax(rnncourse.dynamics.softmax(2 * LOGITS), SOFT) is None  # wrong, but not a known mistake
    assert ex01.diagnose_step(STEP.copy(), STEP) is None
    assert ex01.diagnose_states(STATES.copy(), STATES) is None
    assert ex01.diagnose_jordan(tuple(a.copy() for a in JORDAN), JORDAN) is None
    for odd in (None, "a NoneType", "a ndarray", 3, np.arange(18).reshape(3, 6), np.full(STEP.shape, np.nan), (1, 2, 3), object()):
        for diagnose, expected in [
            (ex01.diagnose_softmax, SOFT), (ex01.diagnose_step, STEP), (ex01.diagnose_states, STATES), (ex01.diagnose_jordan, JORDAN),
        ]:
            assert diagnose(odd, expected) is None or isinstance(diagnose(odd, expected), str)


def _student(source: str):
    namespace = {"np": np}
    exec(source, namespace)
    return namespace


def test_ex01_general_checks_compare_every_state_and_size():
    forward = _student(
        "def includes_h0(x, h0, W, U, b):\n    s = [h0]\n    for xt in x:\n        s.append(np.tanh(b + s[-1] @ W.T + xt @ U.T))\n    return np.stack(s)\n"
        "def aliased(x, h0, W, U, b):\n    h, s = h0, []\n    for xt in x:\n        h[...] = np.tanh(b + h @ W.T + xt @ U.T)\n        s.append(h)\n    return np.stack(s)\n"
    )
    with pytest.raises(SelfCheckError, match=r"returned T\+1 = 2 states: do not include h0"):
        ex01.check_elman_forward_general(forward["includes_h0"])
    with pytest.raises(SelfCheckError, match="changed its argument `h0` in place"):
        ex01.check_elman_forward_general(forward["aliased"])
    step = _student(
        "def no_bias(x, h, W, U, b):\n    return np.tanh(h @ W.T + x @ U.T)\n"
        "def w_untransposed(x, h, W, U, b):\n    return np.tanh(b + h @ W + x @ U.T)\n"
    )
    with pytest.raises(SelfCheckError, match=r"with B=1, D=2, H=3 has the right shape but wrong values.*inside tanh"):
        ex01.check_elman_step_general(step["no_bias"])
    with pytest.raises(SelfCheckError, match=r"wrong values.*h @ W\.T"):
        ex01.check_elman_step_general(step["w_untransposed"])
    jordan = _student("def no_c(x, y, W, U, b, V, c):\n    h = np.tanh(b + y @ W.T + x @ U.T)\n    e = np.exp(h @ V.T)\n    return h, e / e.sum(-1, keepdims=True)\n")
    with pytest.raises(SelfCheckError, match=r"item 1 \(the output y_hat\) of jordan_step.*B=1.*wrong values"):
        ex01.check_jordan_step_general(jordan["no_c"])
    softmax = _student("def softmax(o):\n    e = np.exp(o - o.max(axis=1, keepdims=True))\n    return e / e.sum(axis=1, keepdims=True)\n")
    with pytest.raises(SelfCheckError, match=r"single vector \(K,\).*raised AxisError.*axis=-1"):
        ex01.check_softmax_stable(softmax["softmax"])
