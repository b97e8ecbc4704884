"""The similarity report (`rnncourse similarity`): planted copies are flagged, honest variety is not.

The class: eight independent honest solutions of exercise 1 in genuinely different styles
(methods vs functions, einsum, per-row loops, helpers, matmul, log-sum-exp, two textbook ones close
to the course's own code), and planted copies: one honest answer with every variable renamed, the
same one reformatted, commented and with its functions reordered, and the course's reference code
(the solution notebook and ``rnncourse.dynamics``) with renamed variables.
"""

from __future__ import annotations

import copy
import json
import time
import zipfile
from itertools import combinations
from pathlib import Path

import pytest

from rnncourse import cli
from rnncourse.grading import course
from rnncourse.grading.similarity import (
    ALL_CELLS,
    Report,
    Settings,
    compare,
    normalise,
    similarity_report,
    submitted_answers,
)

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = NOTEBOOK = "ex01_elman"
CELLS = ("softmax", "elman_step", "elman_forward", "jordan_step")

HONEST: dict[str, dict[str, str]] = {
    "ada": {  # vectorised, array methods, a preallocated output
        "softmax": """
def softmax(o):
    m = o.max(axis=-1, keepdims=True)
    z = np.exp(o - m)
    return z / z.sum(axis=-1, keepdims=True)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    return np.tanh(x @ U.T + h_prev @ W.T + b)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    T = x.shape[0]
    out = np.empty((T,) + h0.shape)
    h = h0
    for t in range(T):
        h = elman_step(x[t], h, W, U, b)
        out[t] = h
    return out
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    h = np.tanh(x @ U.T + y_hat_prev @ W.T + b)
    y = softmax(h @ V.T + c)
    return h, y
""",
    },
    "ben": {  # einsum throughout, a helper for the read-out
        "softmax": """
def softmax(o):
    shifted = o - np.amax(o, axis=-1, keepdims=True)
    expo = np.exp(shifted)
    total = np.sum(expo, axis=-1, keepdims=True)
    return expo / total
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    pre = np.einsum('hk,bk->bh', W, h_prev) + np.einsum('hd,bd->bh', U, x) + b
    return np.tanh(pre)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    x = np.asarray(x, dtype=float)
    hs = [h0]
    for xt in x:
        hs.append(elman_step(xt, hs[-1], W, U, b))
    return np.array(hs[1:])
""",
        "jordan_step": """
def readout(h, V, c):
    scores = np.einsum('kh,bh->bk', V, h) + c
    return softmax(scores)


def jordan_step(x, y_hat_prev, W, U, b, V, c):
    a = np.einsum('hk,bk->bh', W, y_hat_prev) + np.einsum('hd,bd->bh', U, x) + b
    h = np.tanh(a)
    return h, readout(h, V, c)
""",
    },
    "cleo": {  # explicit loops over the batch
        "softmax": """
def softmax(o):
    o = np.asarray(o, dtype=float)
    flat = o.reshape(-1, o.shape[-1])
    result = np.zeros_like(flat)
    for i in range(flat.shape[0]):
        row = flat[i] - np.max(flat[i])
        ex = np.exp(row)
        result[i] = ex / ex.sum()
    return result.reshape(o.shape)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    B = x.shape[0]
    H = W.shape[0]
    h = np.zeros((B, H))
    for n in range(B):
        h[n] = np.tanh(W.dot(h_prev[n]) + U.dot(x[n]) + b)
    return h
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    T = len(x)
    states = np.zeros((T, h0.shape[0], W.shape[0]))
    prev = h0
    for t in range(T):
        prev = elman_step(x[t], prev, W, U, b)
        states[t, :, :] = prev
    return states
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    h = elman_step(x, y_hat_prev, W, U, b)
    y_hat = softmax(h.dot(V.T) + c)
    return h, y_hat
""",
    },
    "dan": {  # an affine helper, in-place softmax, a closure
        "softmax": """
def softmax(o):
    o = o - o.max(-1, keepdims=True)
    np.exp(o, out=o)
    o /= o.sum(-1, keepdims=True)
    return o
""",
        "elman_step": """
def _affine(inp, M, bias=0.0):
    return inp @ M.T + bias


def elman_step(x, h_prev, W, U, b):
    return np.tanh(_affine(x, U, b) + _affine(h_prev, W))
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    def step(h, xt):
        return elman_step(xt, h, W, U, b)

    out, h = [], h0
    for xt in x:
        h = step(h, xt)
        out += [h]
    return np.stack(out, axis=0)
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    h = np.tanh(_affine(x, U, b) + _affine(y_hat_prev, W))
    return h, softmax(_affine(h, V, c))
""",
    },
    "eve": {  # np.dot / np.matmul, the state indexed in place
        "softmax": """
def softmax(o):
    exps = np.exp(o - np.max(o, axis=o.ndim - 1, keepdims=True))
    return exps / np.sum(exps, axis=o.ndim - 1, keepdims=True)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    return np.tanh(np.dot(h_prev, W.T) + np.dot(x, U.T) + b[None, :])
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    T = x.shape[0]
    hs = np.zeros((T, *h0.shape))
    for t in range(T):
        hs[t] = elman_step(x[t], h0 if t == 0 else hs[t - 1], W, U, b)
    return hs
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    hidden = np.tanh(np.matmul(y_hat_prev, W.T) + np.matmul(x, U.T) + b)
    logits = np.matmul(hidden, V.T) + c
    return hidden, softmax(logits)
""",
    },
    "fay": {  # log-sum-exp, column vectors, a while loop
        "softmax": """
def softmax(o):
    m = np.max(o, axis=-1)[..., np.newaxis]
    log_z = m + np.log(np.sum(np.exp(o - m), axis=-1, keepdims=True))
    return np.exp(o - log_z)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    a = (W @ h_prev.T + U @ x.T).T + b
    return np.tanh(a)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    T = x.shape[0]
    result = []
    h = h0.copy()
    t = 0
    while t < T:
        h = elman_step(x[t], h, W, U, b)
        result.append(h.copy())
        t += 1
    return np.asarray(result)
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    a = (W @ y_hat_prev.T + U @ x.T).T + b
    h = np.tanh(a)
    o = (V @ h.T).T + c
    return h, softmax(o)
""",
    },
    "gus": {  # the textbook way: its one-liners are the course's own, word for word
        "softmax": """
def softmax(o):
    e = np.exp(o - np.max(o, axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    return np.tanh(b + h_prev @ W.T + x @ U.T)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    hs = []
    for t in range(x.shape[0]):
        h0 = elman_step(x[t], h0, W, U, b)
        hs.append(h0)
    return np.stack(hs)
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    h = np.tanh(b + y_hat_prev @ W.T + x @ U.T)
    return h, softmax(c + h @ V.T)
""",
    },
    "hal": {  # the book's equations line by line: a = b + W h + U x, h = tanh(a), o = c + V h
        "softmax": """
def softmax(o):
    shifted = o - np.max(o, axis=-1, keepdims=True)
    exp_o = np.exp(shifted)
    return exp_o / exp_o.sum(axis=-1, keepdims=True)
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    a = b + h_prev @ W.T + x @ U.T
    return np.tanh(a)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    h = h0
    states = np.zeros((x.shape[0],) + h0.shape)
    for t, x_t in enumerate(x):
        h = elman_step(x_t, h, W, U, b)
        states[t] = h
    return states
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    a = b + y_hat_prev @ W.T + x @ U.T
    h = np.tanh(a)
    o = c + h @ V.T
    y_hat = softmax(o)
    return h, y_hat
""",
    },
}

SCRIPT = "</script><script>alert(1)</script>"

COPIES: dict[str, dict[str, str]] = {
    # (a) ben's answers, every name renamed
    "copy_renamed": {
        "softmax": """
def softmax(logits):
    centred = logits - np.amax(logits, axis=-1, keepdims=True)
    powered = np.exp(centred)
    norm = np.sum(powered, axis=-1, keepdims=True)
    return powered / norm
""",
        "elman_step": """
def elman_step(inp, prev, Wrec, Win, bias):
    z = np.einsum('hk,bk->bh', Wrec, prev) + np.einsum('hd,bd->bh', Win, inp) + bias
    return np.tanh(z)
""",
        "elman_forward": """
def elman_forward(seq, start, Wrec, Win, bias):
    seq = np.asarray(seq, dtype=float)
    states = [start]
    for frame in seq:
        states.append(elman_step(frame, states[-1], Wrec, Win, bias))
    return np.array(states[1:])
""",
        "jordan_step": """
def output_probs(state, Wout, bout):
    s = np.einsum('kh,bh->bk', Wout, state) + bout
    return softmax(s)


def jordan_step(inp, prev_out, Wfb, Win, bias, Wout, bout):
    pre = np.einsum('hk,bk->bh', Wfb, prev_out) + np.einsum('hd,bd->bh', Win, inp) + bias
    state = np.tanh(pre)
    return state, output_probs(state, Wout, bout)
""",
    },
    # (b) ben's answers reformatted, commented (one comment tries to break the report), functions reordered
    "copy_reformatted": {
        "softmax": f"""
def softmax(o):
    # numerically stable: subtract the max   {SCRIPT}
    shifted = (o
               - np.amax(o, axis = -1, keepdims = True))
    expo = np.exp( shifted )   # exponentials

    total = np.sum(expo,
                   axis=-1,
                   keepdims=True,
                   )
    return expo/total
""",
        "elman_step": """
def elman_step(x, h_prev, W, U, b):
    \"\"\"My own Elman step.\"\"\"
    pre = (np.einsum("hk,bk->bh", W, h_prev)
           + np.einsum("hd,bd->bh", U, x)
           + b)
    return np.tanh(pre)
""",
        "elman_forward": """
def elman_forward(x, h0, W, U, b):
    x = np.asarray(x,dtype=float)  # keep every state
    hs = [h0]
    for xt in x: hs.append(elman_step(xt, hs[-1], W, U, b))
    return np.array(hs[1:])
""",
        "jordan_step": """
def jordan_step(x, y_hat_prev, W, U, b, V, c):
    a = np.einsum('hk,bk->bh', W, y_hat_prev) + \\
        np.einsum('hd,bd->bh', U, x) + b
    h = np.tanh(a)
    return (h, readout(h, V, c))

# the read-out, used above
def readout(h, V, c):
    scores = np.einsum('kh,bh->bk',
                       V, h) + c
    return softmax(scores)
""",
    },
    # (c) the course's reference code (solution notebook, rnncourse.dynamics.elman_forward) renamed
    "copy_reference": {
        "softmax": """
def softmax(z):
    moved = z - np.max(z, axis=-1, keepdims=True)
    ez = np.exp(moved)
    return ez / np.sum(ez, axis=-1, keepdims=True)
""",
        "elman_step": """
def elman_step(xt, hp, Wr, Ui, bb):
    return np.tanh(bb + hp @ Wr.T + xt @ Ui.T)
""",
        "elman_forward": """
def elman_forward(xs, first, Wr, Ui, bb):
    hidden = []
    cur = first
    for step_in in xs:
        cur = elman_step(step_in, cur, Wr, Ui, bb)
        hidden.append(cur)
    return np.stack(hidden) if hidden else np.zeros((0,) + first.shape, dtype=first.dtype)
""",
        "jordan_step": """
def jordan_step(xt, prev, Wr, Ui, bb, Vo, co):
    hid = np.tanh(bb + prev @ Wr.T + xt @ Ui.T)
    return hid, softmax(co + hid @ Vo.T)
""",
    },
}
#: copy -> the honest student it copies (None: the course's reference code)
PLANTED = {"copy_renamed": "ben", "copy_reformatted": "ben", "copy_reference": None}


def released() -> dict:
    return course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")


def filled(answers: dict[str, str]) -> dict:
    """The released notebook with the given answer cells filled in (the others left as released)."""
    nb = copy.deepcopy(released())
    for cell in nb["cells"]:
        gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell["source"] = answers[gid].lstrip("\n")
    return nb


def write_class(folder: Path) -> None:
    for student, answers in {**HONEST, **COPIES}.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{NOTEBOOK}.ipynb").write_text(json.dumps(filled(answers)), encoding="utf-8")
    (folder / "idle").mkdir()  # handed in the released notebook unchanged
    (folder / "idle" / f"{NOTEBOOK}.ipynb").write_text(json.dumps(released()), encoding="utf-8")
    (folder / "lost").mkdir()  # no notebook at all
    (folder / "lost" / "notes.txt").write_text("oops", encoding="utf-8")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Report, Path, float]:
    base = tmp_path_factory.mktemp("similarity")
    write_class(base / "submissions")
    started = time.perf_counter()
    result = similarity_report(ROOT, ASSIGNMENT, base / "submissions", base / "out")
    return result, base / "out", time.perf_counter() - started


def flagged_pairs(report: Report) -> set[tuple[str, str, str]]:
    """(cell, a, b) of every flagged student pair, both orders."""
    pairs = {(p.cell, p.a, p.b) for p in report.flagged if p.kind == "student"}
    return pairs | {(c, b, a) for c, a, b in pairs}


def test_normalisation_ignores_names_layout_comments_and_order():
    a = "def f(x, w):\n    '''Doc.'''\n    y = x @ w.T  # project\n    return np.tanh(y)\n\ndef g(z):\n    return f(z, z)\n"
    b = "def g(q):\n    return f(q, q)\n\n\ndef f(inp, weights):\n    proj = (inp\n            @ weights.T)\n    return np.tanh(proj)\n"
    assert normalise(a).tokens == normalise(b).tokens
    # attribute, library and keyword-argument names carry meaning and stay
    text = normalise("def f(x):\n    return np.tanh(x.T).sum(axis=-1)\n").text
    assert "np . tanh" in text and ". T" in text and "axis =" in text and " x " not in text
    # code that does not parse is still normalised (names renamed, comments gone)
    assert normalise("def f(x:  # broken\n    return x +").tokens == normalise("def f(y:\n  return y +").tokens


def test_every_planted_copy_is_flagged_with_its_partner(report):
    result, _, _ = report
    flagged = flagged_pairs(result)
    for planted, partner in PLANTED.items():
        if partner is None:
            mine = [p for p in result.flagged if p.kind == "reference" and p.a == planted]
            assert any(p.cell == ALL_CELLS for p in mine), [(p.cell, p.b, p.score) for p in result.pairs if p.a == planted]
            assert any(p.cell != ALL_CELLS and (p.b.startswith("solution:") or p.b.startswith("rnncourse.dynamics."))
                       for p in mine)
        else:
            assert (ALL_CELLS, planted, partner) in flagged, [(p.cell, p.a, p.b, p.score) for p in result.pairs]
            # cell by cell too, where the answer is large enough to judge alone (ben's softmax and elman_step are not)
            cells = {c for c, a, b in flagged if a == planted and b == partner and c != ALL_CELLS}
            assert {"elman_forward", "jordan_step"} <= cells, cells
    assert (ALL_CELLS, "copy_renamed", "copy_reformatted") in flagged  # two copies of one answer


def test_no_pair_of_independent_solutions_is_flagged(report):
    result, _, _ = report
    flagged = flagged_pairs(result)
    for a, b in combinations(sorted(HONEST), 2):
        assert not any((c, a, b) in flagged for c in (*CELLS, ALL_CELLS)), (a, b)
    # nor is an honest student flagged against the course's code (even gus, whose one-liners are the course's)
    assert not [p for p in result.flagged if p.kind == "reference" and p.a in HONEST]
    # a copy is flagged with its source only
    for p in result.flagged:
        if p.kind == "student":
            assert {p.a, p.b} <= {"ben", "copy_renamed", "copy_reformatted"}, p
        else:
            assert p.a == "copy_reference", p


def test_stubs_and_missing_notebooks_are_not_compared(report):
    result, _, _ = report
    assert "idle" in result.students and not any(owner == "idle" for owner, _ in result.answers)
    assert [s["student"] for s in result.skipped] == ["lost"] and "missing notebook" in result.skipped[0]["reason"]
    assert result.cells["softmax"]["answers"] == len(HONEST) + len(COPIES)


def test_report_files_are_written_and_escaped(report):
    result, out, seconds = report
    data = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
    assert data["assignment"] == ASSIGNMENT and data["flagged"] == len(result.flagged) > 0
    first = data["pairs"][0]
    assert {"kind", "a", "b", "cell", "jaccard", "containment", "score", "flagged"} <= set(first) and first["flagged"]
    page = (out / "similarity.html").read_text(encoding="utf-8")
    assert SCRIPT not in page and "<script" not in page.lower()
    assert html_escaped(SCRIPT) in page
    assert 'class="m"' in page  # matching lines are highlighted
    assert "http://" not in page and "https://" not in page and "<link" not in page  # self-contained
    assert seconds < 15


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_stripped_notebook_answers_are_found_by_function_name():
    nb = filled(HONEST["ada"])
    for cell in nb["cells"]:
        cell["metadata"] = {}
    answers = submitted_answers(released(), nb)
    assert set(answers) == set(CELLS) and "np.empty" in answers["elman_forward"]


def test_small_answers_and_common_code_are_not_evidence():
    # 30 students with the same three-line softmax: nobody is flagged (too common, and too small alone)
    stubs = {"softmax": "def softmax(o):\n    raise NotImplementedError()\n"}
    same = "def softmax(o):\n    e = np.exp(o - o.max(axis=-1, keepdims=True))\n    return e / e.sum(axis=-1, keepdims=True)\n"
    result = compare({f"s{i}": {"softmax": same} for i in range(30)}, stubs, settings=Settings())
    assert result.flagged == []
    assert result.cells["softmax"]["ignored_common_fingerprints"] > 0


def test_cli_runs_end_to_end(tmp_path, monkeypatch, capsys):
    submissions = tmp_path / "submitted"
    for student in ("ben", "copy_renamed", "ada"):
        folder = submissions / student / ASSIGNMENT  # nbgrader's submitted/<student>/<assignment>/ layout
        folder.mkdir(parents=True)
        answers = {**HONEST, **COPIES}[student]
        (folder / f"{NOTEBOOK}.ipynb").write_text(json.dumps(filled(answers)), encoding="utf-8")
    monkeypatch.chdir(ROOT)
    out = tmp_path / "report"
    assert cli.main(["similarity", ASSIGNMENT, str(tmp_path), "--out", str(out), "--threshold", "0.8"]) == 0
    assert "flagged" in capsys.readouterr().out
    data = json.loads((out / "similarity.json").read_text(encoding="utf-8"))
    assert sorted(data["students"]) == ["ada", "ben", "copy_renamed"]
    assert any(p["flagged"] and {p["a"], p["b"]} == {"ben", "copy_renamed"} for p in data["pairs"])
    assert (out / "similarity.html").is_file()


def test_a_zip_is_read_as_grade_reads_it(tmp_path):
    """A zip of one outer folder with one folder per student (as archivers make them), junk included."""
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for student in ("ben", "copy_reformatted", "eve"):
            bundle.writestr(f"export/{student}/{NOTEBOOK}.ipynb", json.dumps(filled({**HONEST, **COPIES}[student])))
        bundle.writestr("__MACOSX/export/._ben", "junk")
    result = similarity_report(ROOT, ASSIGNMENT, archive, tmp_path / "out")
    assert result.students == ["ben", "copy_reformatted", "eve"]
    assert (ALL_CELLS, "ben", "copy_reformatted") in flagged_pairs(result)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["similarity.html", "similarity.json"]  # nothing else
