"""A failing self-check shows the student's own code and the message, never the checker's or a reference's.

The traceback of a failed check is what a student reads in JupyterLab. Left alone, it would walk through
the checking machinery (``expected = reference(*args)``) and, when something goes wrong inside a reference
implementation, print that reference's source lines: line for line the answer. Here the released exercise
notebooks are run in a real kernel with plausible wrong answers, and every error shown is searched for the
student's lines (which must be there) and the checker's and the references' (which must not).
"""

from __future__ import annotations

import inspect
import re
import textwrap
import traceback
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

import rnncourse
from rnncourse import bptt, dynamics
from rnncourse.checks import SelfCheckError, ex01, ex02, ex03, ex04, ex05

from _notebooks import ROOT, secret_lines

PACKAGE = Path(rnncourse.__file__).resolve().parent
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _dedent(code: str) -> str:
    return textwrap.dedent(code).strip() + "\n"


# --------------------------------------------------------------------------- wrong answers, cell by cell
#
# Each answer replaces the answer cell of its function (the cell whose grade_id is the function's name). Most
# raise inside the student's function, or inside NumPy called from it: that line must then be shown.

EX01_ANSWERS = {
    "softmax": _dedent("""
        def softmax(o):
            e = np.exp(o)
            return e / e.sum(axis=-1)
    """),
    "elman_step": _dedent("""
        def elman_step(x, h_prev, W, U, b):
            return np.tanh(W @ h_prev + U @ x + b)
    """),
    "elman_forward": _dedent("""
        def elman_forward(x, h0, W, U, b):
            states = [h0]
            for t in range(len(x)):
                states.append(np.tanh(states[-1] @ W.T + x[t] @ U.T + b)[0])
            return np.stack(states)
    """),
}
#: Appended to ex01: the reference itself crashes (here because it was broken on purpose) under a check.
EX01_BROKEN_REFERENCE = _dedent("""
    import rnncourse.dynamics as _dynamics
    _real_elman_step = _dynamics.elman_step
    _dynamics.elman_step = lambda x, h_prev, W, U, b: _real_elman_step(x, h_prev, W[:, :1], U, b)

    def elman_step_fine(x, h_prev, W, U, b):
        return np.tanh(x @ U.T + h_prev @ W.T + b)

    check.check_elman_step(elman_step_fine)
""")
#: The check called in a cell -> (what its message must say, the student's line it must show, or None).
EX01_EXPECTED = {
    "check.check_softmax(softmax)": ("raised ValueError: operands could not be broadcast", "return e / e.sum(axis=-1)"),
    "check.check_softmax_stable(softmax)": ("NaN or infinite value", None),
    "check.check_elman_step(elman_step)": ("raised ValueError: matmul", "return np.tanh(W @ h_prev + U @ x + b)"),
    "check.check_elman_step_general(elman_step)": (
        "raised ValueError: matmul", "return np.tanh(W @ h_prev + U @ x + b)"),
    "check.check_elman_forward(elman_forward)": ("must have the same shape", "return np.stack(states)"),
    "check.check_elman_forward_general(elman_forward)": ("must have the same shape", "return np.stack(states)"),
    "check.check_jordan_step(jordan_step)": ("is not implemented yet", None),
    "check.check_jordan_step_general(jordan_step)": ("is not implemented yet", None),
    "check.check_elman_step(elman_step_fine)": (
        "check_elman_step could not finish: checking your function stopped on ValueError: matmul",
        "_dynamics.elman_step = lambda x, h_prev, W, U, b: _real_elman_step(x, h_prev, W[:, :1], U, b)",
    ),
}

EX02_ANSWERS = {
    "step_backward": _dedent("""
        def step_backward(dh, x, h_prev, h, W, U):
            da = dh * (1 - h * h)
            return da @ U.T, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=0)
    """),
    "bptt": _dedent("""
        def bptt(x, Y, h0, W, U, b, V, c):
            total = np.zeros_like(W)
            for t in reversed(range(len(x) + 1)):
                total += x[t].T @ x[t]
            return total
    """),
    "clip_gradients": _dedent("""
        def clip_gradients(max_norm, *grads):
            norm = np.sqrt(sum(np.sum(g ** 2) for g in grads))
            return tuple(np.stack(grads) * min(1.0, max_norm / norm))
    """),
    "softmax_with_temperature": _dedent("""
        def softmax_with_temperature(o, temperature):
            z = np.exp(o / temperature)
            return z / z.sum(axis=-1, keepdims=True)
    """),
}
STEP_LINE = "return da @ U.T, da @ W, da.T @ h_prev, da.T @ x, da.sum(axis=0)"
CLIP_LINE = "return tuple(np.stack(grads) * min(1.0, max_norm / norm))"
EX02_EXPECTED = {
    "check.check_step_backward(step_backward)": ("raised ValueError: matmul", STEP_LINE),
    "check.check_step_backward_general(step_backward)": ("raised ValueError: matmul", STEP_LINE),
    "check.check_bptt(bptt)": ("raised IndexError", "total += x[t].T @ x[t]"),
    "check.check_bptt_general(bptt)": ("raised IndexError", "total += x[t].T @ x[t]"),
    "check.check_clip_gradients(clip_gradients)": ("must have the same shape", CLIP_LINE),
    "check.check_clip_gradients_general(clip_gradients)": ("must have the same shape", CLIP_LINE),
    "check.check_softmax_with_temperature_limits(softmax_with_temperature)": ("temperature 0", None),
    "check.check_sample(sample)": ("is not implemented yet", None),
}


def _run(assignment: str, answers: dict[str, str], extra: str = "") -> list[tuple[str, str, str]]:
    """Run the released notebook with ``answers`` in place of the answer cells, and ``extra`` as a last cell:
    (cell source, traceback shown without colours, message) for each failed self-check."""
    folder = ROOT / "exercises" / assignment
    notebook = nbformat.read(folder / f"{assignment}.ipynb", as_version=4)
    for cell in notebook.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in answers:
            cell.source = answers[grade_id]
    if extra:
        notebook.cells.append(nbformat.v4.new_code_cell(extra))
    NotebookClient(notebook, timeout=120, allow_errors=True, resources={"metadata": {"path": str(folder)}}).execute()
    return [
        (cell.source, ANSI.sub("", "\n".join(output.traceback)), output.evalue)
        for cell in notebook.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.output_type == "error" and output.ename == "SelfCheckError"
    ]


def _distinctive(source: str) -> set[str]:
    """The lines of ``source`` long enough to be recognised, docstring and comment lines apart."""
    lines = set()
    for line in source.splitlines():
        line = line.strip()
        if len(line) >= 12 and not line.startswith(("#", '"', "'", "`")) and not line.endswith('"""'):
            lines.add(line)
    return lines


def _forbidden(assignment: str, references: list[Any], answers: dict[str, str], extra: str) -> set[str]:
    """Lines no traceback may show: the references', the checker's internals and the solution notebook's answers
    (less those a student wrote, or was given in the released notebook, word for word)."""
    lines = set().union(*(_distinctive(inspect.getsource(r)) for r in references))
    lines |= set(secret_lines(ROOT / "solutions" / assignment / f"{assignment}.ipynb", "solution"))
    lines |= {"expected = reference(", "got = _call(task, func", "raise SelfCheckError(", "raise replacement from"}
    given = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    shown = "\n".join([*answers.values(), extra, *(c.source for c in given.cells)])
    return {line for line in lines if line not in shown}


def _assert_clean(errors: list[tuple[str, str, str]], expected: dict[str, tuple[str, str | None]], forbidden: set[str]):
    seen, source_of = {}, {}
    for source, shown, message in errors:
        call = source.strip().splitlines()[-1]
        seen[call], source_of[call] = shown, source
        assert str(PACKAGE) not in shown, f"a frame of the rnncourse package is shown for {call}:\n{shown}"
        assert "rnncourse/checks/" not in shown and "rnncourse/dynamics" not in shown, shown
        # the message's hint may quote the maths on purpose; what must not show is source code, in frames
        frames = shown.replace(message, "")
        leaked = sorted(line for line in forbidden if line in frames)
        assert not leaked, f"{call} shows the checker's or the reference's lines {leaked}:\n{shown}"
    assert set(expected) <= set(seen), f"checks that did not fail: {sorted(set(expected) - set(seen))}"
    for call, (message, student_line) in expected.items():
        shown = seen[call]
        assert "SelfCheckError" in shown and message in shown, f"{call}: the message is missing:\n{shown}"
        assert f"> {len(source_of[call].strip().splitlines())} {call}" in shown, f"{call}: the cell's line is missing"
        if student_line is not None:  # shown in the cause: the error their code raised, with their frames
            cause, found, _ = shown.partition("The above exception was the direct cause of the following exception")
            assert found and student_line in cause, f"{call}: the student line {student_line!r} is missing:\n{shown}"


@pytest.fixture(scope="module")
def ex01_errors() -> list[tuple[str, str, str]]:
    return _run("ex01_elman", EX01_ANSWERS, EX01_BROKEN_REFERENCE)


def test_ex01_tracebacks_show_the_students_code_not_the_answer(ex01_errors):
    references = [dynamics.softmax, dynamics.elman_step, dynamics.elman_forward, dynamics.jordan_step,
                  dynamics.output_layer, ex01._check_call, ex01._call]
    forbidden = _forbidden("ex01_elman", references, EX01_ANSWERS, EX01_BROKEN_REFERENCE)
    assert "return np.tanh(b + h_prev @ W.T + x @ U.T)" in forbidden  # the reference's line, which the crash passes
    _assert_clean(ex01_errors, EX01_EXPECTED, forbidden)


def test_ex01_error_from_inside_numpy_shows_the_students_line_and_numpy(ex01_errors):
    shown = {source.strip().splitlines()[-1]: text for source, text, _ in ex01_errors}
    text = shown["check.check_elman_forward(elman_forward)"]
    assert "The above exception was the direct cause" in text
    assert "numpy" in text and "in elman_forward(x, h0, W, U, b)" in text
    assert text.rstrip().splitlines()[-1].startswith("SelfCheckError: elman_forward(x, h0, W, U, b) with T=5")


def test_ex02_tracebacks_show_the_students_code_not_the_answer():
    errors = _run("ex02_bptt", EX02_ANSWERS)
    references = [bptt.step_backward, bptt.sequence_backward, bptt.loss_and_gradients, bptt.clip_by_norm,
                  bptt.global_norm, bptt.sequence_forward, ex02.reference_step_backward, ex02.reference_bptt,
                  ex02.reference_clip_gradients, ex02._check_tuple_call]
    forbidden = _forbidden("ex02_bptt", references, EX02_ANSWERS, "")
    _assert_clean(errors, EX02_EXPECTED, forbidden)


# --------------------------------------------------------------------------- in Python, without a kernel


def _frames(error: BaseException) -> list[str]:
    return [frame.filename for frame in traceback.extract_tb(error.__traceback__)]


def _chain(error: BaseException | None) -> list[BaseException]:
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    return chain


def _outside_package(filename: str) -> bool:
    return not Path(filename).resolve().is_relative_to(PACKAGE)


def test_an_error_inside_numpy_keeps_the_students_and_numpys_frames_only():
    def softmax(o):
        rows = [np.exp(o[0]), np.exp(o[1:])]
        return np.stack(rows)  # the student's mistake: rows of different shapes

    with pytest.raises(SelfCheckError, match=r"softmax\(o\) on a \(4, 5\) batch of logits raised ValueError") as caught:
        ex01.check_softmax(softmax)
    error = caught.value
    assert error.__suppress_context__ and error.__context__ is None
    cause = error.__cause__
    assert isinstance(cause, ValueError)
    frames = _frames(cause)
    assert Path(frames[0]).resolve() == Path(__file__).resolve() and any("numpy" in f for f in frames[1:]), frames
    for link in _chain(cause):
        assert all(_outside_package(f) for f in _frames(link)), _frames(link)
    # the message is the check's own, word for word
    with pytest.raises(SelfCheckError) as unwrapped:
        ex01.check_softmax.__wrapped__(softmax)
    assert str(error) == str(unwrapped.value)


def test_a_crash_inside_a_reference_shows_none_of_its_frames(monkeypatch):
    real = dynamics.softmax
    monkeypatch.setattr(dynamics, "softmax", lambda o, axis=-1: real(o, axis=5))

    def softmax(o):
        e = np.exp(o - o.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    with pytest.raises(SelfCheckError, match=r"check_softmax could not finish: .*AxisError: .*axis 5") as caught:
        ex01.check_softmax(softmax)
    chain = _chain(caught.value.__cause__)
    assert chain and type(chain[0]).__name__ == "AxisError"
    for link in chain:
        assert all(_outside_package(f) for f in _frames(link)), _frames(link)
    shown = "".join(traceback.format_exception(caught.value.__cause__))
    assert "shifted = o - np.max(o, axis=axis, keepdims=True)" not in shown and str(PACKAGE) not in shown


def test_a_selfcheck_error_without_a_cause_stays_without_one():
    def elman_step(x, h_prev, W, U, b):
        raise NotImplementedError()

    with pytest.raises(SelfCheckError, match="is not implemented yet") as caught:
        ex01.check_elman_step(elman_step)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_keyboard_interrupt_passes_through_untouched():
    def softmax(o):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ex01.check_softmax(softmax)


def test_the_rendered_traceback_leaves_out_the_package():
    def softmax(o):
        return o[None] + o[:, None]  # (1, B, K) + (B, 1, K): a 3-d array

    with pytest.raises(SelfCheckError) as caught:
        ex01.check_softmax(softmax)
    assert any(not _outside_package(f) for f in _frames(caught.value))  # the wrapper's own frame is there...
    rendered = "\n".join(caught.value._render_traceback_())
    assert "SelfCheckError" in rendered and "returned shape" in rendered
    assert str(PACKAGE) not in rendered  # ...but not shown


@pytest.mark.parametrize("module", [ex01, ex02, ex03, ex04, ex05], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_public_check_is_wrapped(module):
    checks = [name for name in dir(module)
              if name.startswith("check_") and inspect.getmodule(getattr(module, name)) is module]
    assert checks
    for name in checks:
        function = getattr(module, name)
        assert hasattr(function, "__wrapped__"), f"{module.__name__}.{name} is not wrapped by self_check"
        assert function.__name__ == name and function.__doc__ == function.__wrapped__.__doc__
