"""Time the similarity report (`rnncourse similarity`) on a synthetic class of exercise 1.

Each synthetic student picks, for every statement of every answer, one of a few genuinely different
ways to write it (``o.max(...)`` or ``np.amax(o, -1, ...)``, ``@`` or ``np.dot`` or ``einsum``, the
order of the terms, a list or a preallocated array ...), names of their own, and a layout of their
own (comments, blank lines, spaces, wrapped lines). About 2 % of the students copy another one
(same choices, renamed and reformatted). The notebooks are written to a temporary folder first;
the time is that of `similarity_report` (read every notebook, compare, write the JSON and HTML).

Run: `.venv/bin/python benchmarks/bench_similarity.py [N] [--tracemalloc]` (default N=1000; with
``--tracemalloc``, a second, traced and much slower comparison reports the Python heap's peak).
Prints numbers only.
"""

from __future__ import annotations

import copy
import json
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse.grading import course  # noqa: E402
from rnncourse.grading.similarity import (  # noqa: E402
    ALL_CELLS,
    answer_cells,
    collect_answers,
    compare,
    instructor_references,
    similarity_report,
)

ASSIGNMENT = NOTEBOOK = "ex01_elman"
COPY_RATE = 0.02

#: per cell: the statements of the body, each a list of alternatives ({names} filled per student)
TEMPLATES: dict[str, tuple[str, list[list[str]]]] = {
    "softmax": ("def softmax({o}):", [
        ["", "", "{o} = np.asarray({o}, dtype=float)", "assert {o}.ndim >= 1", "{o} = {o}.astype(np.float64)",
         "if {o}.size == 0:\n    return {o}", "{o} = np.array({o}, copy=True)"],
        ["{m} = {o}.max(axis=-1, keepdims=True)", "{m} = np.max({o}, axis=-1, keepdims=True)",
         "{m} = np.amax({o}, -1, keepdims=True)", "{m} = np.max({o}, axis={o}.ndim - 1)[..., None]"],
        ["{e} = np.exp({o} - {m})", "{e} = np.exp(np.subtract({o}, {m}))", "{z} = {o} - {m}\n{e} = np.exp({z})"],
        ["return {e} / {e}.sum(axis=-1, keepdims=True)", "{s} = np.sum({e}, axis=-1, keepdims=True)\nreturn {e} / {s}",
         "return {e} / np.sum({e}, axis=-1)[..., np.newaxis]", "{e} /= {e}.sum(-1, keepdims=True)\nreturn {e}"],
    ]),
    "elman_step": ("def elman_step({x}, {hp}, {W}, {U}, {b}):", [
        ["", "", "assert {x}.shape[0] == {hp}.shape[0]", "{x} = np.atleast_2d({x})", "{b} = np.asarray({b}).reshape(1, -1)",
         "B, D = {x}.shape", "if {hp} is None:\n    {hp} = np.zeros(({x}.shape[0], {W}.shape[0]))"],
        ["{a} = {hp} @ {W}.T + {x} @ {U}.T + {b}", "{a} = {b} + {hp} @ {W}.T + {x} @ {U}.T",
         "{a} = np.dot({x}, {U}.T) + np.dot({hp}, {W}.T) + {b}", "{a} = np.einsum('hk,bk->bh', {W}, {hp}) + np.einsum('hd,bd->bh', {U}, {x}) + {b}",
         "{a} = ({W} @ {hp}.T + {U} @ {x}.T).T + {b}", "{a} = np.matmul({hp}, {W}.T) + np.matmul({x}, {U}.T) + {b}"],
        ["return np.tanh({a})", "{h} = np.tanh({a})\nreturn {h}", "np.tanh({a}, out={a})\nreturn {a}"],
    ]),
    "elman_forward": ("def elman_forward({x}, {h0}, {W}, {U}, {b}):", [
        ["", "", "{x} = np.asarray({x})", "T, B, D = {x}.shape", "assert {x}.ndim == 3, 'x must be (T, B, D)'",
         "if len({x}) == 0:\n    return np.zeros((0,) + {h0}.shape)", "{W}, {U} = np.asarray({W}), np.asarray({U})"],
        ["{h} = {h0}", "{h} = {h0}.copy()", "{h} = np.array({h0}, dtype=float)"],
        ["{out} = []\nfor {t} in range(len({x})):\n    {h} = elman_step({x}[{t}], {h}, {W}, {U}, {b})\n    {out}.append({h})\nreturn np.stack({out})",
         "{out} = np.zeros(({x}.shape[0],) + {h0}.shape)\nfor {t}, {xt} in enumerate({x}):\n    {h} = elman_step({xt}, {h}, {W}, {U}, {b})\n    {out}[{t}] = {h}\nreturn {out}",
         "{out} = [{h}]\nfor {xt} in {x}:\n    {out}.append(elman_step({xt}, {out}[-1], {W}, {U}, {b}))\nreturn np.array({out}[1:])",
         "{out} = []\n{t} = 0\nwhile {t} < {x}.shape[0]:\n    {h} = elman_step({x}[{t}], {h}, {W}, {U}, {b})\n    {out} += [{h}]\n    {t} += 1\nreturn np.asarray({out})"],
    ]),
    "jordan_step": ("def jordan_step({x}, {yp}, {W}, {U}, {b}, {V}, {c}):", [
        ["", "", "{x} = np.atleast_2d({x})", "assert {yp}.shape[1] == {W}.shape[1]", "{c} = np.asarray({c})",
         "B = {x}.shape[0]", "{yp} = {yp}.reshape({x}.shape[0], -1)"],
        ["{h} = np.tanh({x} @ {U}.T + {yp} @ {W}.T + {b})", "{h} = np.tanh({b} + {yp} @ {W}.T + {x} @ {U}.T)",
         "{a} = np.dot({yp}, {W}.T) + np.dot({x}, {U}.T) + {b}\n{h} = np.tanh({a})", "{h} = elman_step({x}, {yp}, {W}, {U}, {b})",
         "{a} = np.einsum('hk,bk->bh', {W}, {yp}) + np.einsum('hd,bd->bh', {U}, {x}) + {b}\n{h} = np.tanh({a})"],
        ["return {h}, softmax({h} @ {V}.T + {c})", "{o} = {c} + {h} @ {V}.T\nreturn {h}, softmax({o})",
         "{y} = softmax(np.dot({h}, {V}.T) + {c})\nreturn ({h}, {y})", "{o} = np.einsum('kh,bh->bk', {V}, {h}) + {c}\n{y} = softmax({o})\nreturn {h}, {y}"],
    ]),
}
POOLS = {
    "o": ["o", "logits", "z_in", "scores", "arr"], "m": ["m", "mx", "top", "biggest", "peak"], "e": ["e", "ex", "expo", "num", "p"],
    "z": ["z", "shifted", "centred", "d", "diff"], "s": ["s", "total", "denom", "norm", "tot"],
    "x": ["x", "inp", "xs", "inputs", "X"], "hp": ["h_prev", "hp", "prev", "h_old", "state"], "W": ["W", "W_hh", "Wr", "rec", "Whh"],
    "U": ["U", "W_xh", "Ui", "inw", "Uxh"], "b": ["b", "bias", "bh", "b_h", "beta"], "a": ["a", "pre", "act", "lin", "net"],
    "h": ["h", "hidden", "hid", "state_new", "hn"], "h0": ["h0", "init", "start", "h_init", "first"], "out": ["out", "hs", "states", "res", "acc"],
    "t": ["t", "i", "step", "k", "n"], "xt": ["xt", "x_t", "frame", "inp_t", "cur"], "yp": ["y_hat_prev", "yp", "y_prev", "prev_out", "yo"],
    "V": ["V", "W_hy", "Vo", "outw", "Why"], "c": ["c", "bias_out", "by", "c_o", "cy"], "y": ["y", "y_hat", "probs", "yh", "pr"],
}
COMMENTS = ["# compute it", "# vectorised", "# TODO tidy", "# as in the lecture", "# careful with shapes", "# this works"]


def choose(rng: random.Random) -> dict[str, list[int]]:
    return {cell: [rng.randrange(len(slot)) for slot in slots] for cell, (_, slots) in TEMPLATES.items()}


def write_answer(cell: str, choice: list[int], rng: random.Random) -> str:
    """One cell: the chosen statements, own names, own layout."""
    header, slots = TEMPLATES[cell]
    names = {key: rng.choice(pool) for key, pool in POOLS.items()}
    lines = [header.format(**names)]
    for slot, pick in zip(slots, choice):
        for statement in slot[pick].format(**names).split("\n"):
            if not statement:
                continue
            if rng.random() < 0.15:
                lines.append("    " + rng.choice(COMMENTS))
            if rng.random() < 0.2:
                statement = statement.replace(", ", ",  ").replace(" + ", "+")
            if rng.random() < 0.1 and " = " in statement and not statement.lstrip().startswith(("for", "while")):
                target, value = statement.split(" = ", 1)
                statement = f"{target} = (\n        {value}\n    )" if not statement.startswith(" ") else statement
            lines.append("    " + statement)
            if rng.random() < 0.1:
                lines.append("")
    return "\n".join(lines) + "\n"


def make_class(folder: Path, n: int, seed: int = 0) -> tuple[list[dict[str, list[int]]], dict[str, str]]:
    """n student folders with ex01_elman.ipynb; returns every student's choices and ``copy -> original``."""
    rng = random.Random(seed)
    released = course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    choices: list[dict[str, list[int]]] = []
    copied: dict[str, str] = {}
    for i in range(n):
        if choices and rng.random() < COPY_RATE:
            original = rng.randrange(len(choices))
            choice = choices[original]
            copied[f"student{i:04d}"] = f"student{original:04d}"
        else:
            choice = choose(rng)
        choices.append(choice)
        nb = copy.deepcopy(released)
        for cell in nb["cells"]:
            gid = cell["metadata"].get("nbgrader", {}).get("grade_id")
            if gid in TEMPLATES:
                cell["source"] = write_answer(gid, choice[gid], rng)
        student = folder / f"student{i:04d}"
        student.mkdir(parents=True)
        (student / f"{NOTEBOOK}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return choices, copied


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    n = int(args[0]) if args else 1000
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        submissions = Path(tmp) / "submissions"
        started = time.perf_counter()
        choices, copied = make_class(submissions, n)
        print(f"generated {n} submissions ({len(copied)} planted copies) in {time.perf_counter() - started:.1f} s")
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        started = time.perf_counter()
        report = similarity_report(ROOT, ASSIGNMENT, submissions, Path(tmp) / "out")
        seconds = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        flagged = report.flagged
        whole = {frozenset((p.a, p.b)) for p in flagged if p.cell == ALL_CELLS and p.kind == "student"}
        found = sum(frozenset((c, o)) in whole for c, o in copied.items())
        print(f"report for {len(report.students)} submissions: {seconds:.2f} s (reading and writing {seconds - report.seconds:.2f} s, "
              f"comparing {report.seconds:.2f} s)")
        print(f"pairs listed: {len(report.pairs)} (omitted past the cap: {report.omitted}), flagged: {len(flagged)}, "
              f"of which whole submissions: {len(whole)}")
        print(f"planted copies flagged with their original (whole submission): {found}/{len(copied)}")
        sizes = {name: (Path(tmp) / "out" / name).stat().st_size for name in ("similarity.json", "similarity.html")}
        print("file sizes (bytes): " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        print(f"peak RSS of the process: {rss_before:.0f} MiB before the report, {rss_after:.0f} MiB after")

        if "--tracemalloc" in sys.argv:  # the Python heap at its peak while comparing (traced: several times slower)
            answers, _ = collect_answers(ROOT, ASSIGNMENT, submissions, NOTEBOOK)
            stubs = answer_cells(course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"))
            references = instructor_references(ROOT, ASSIGNMENT, NOTEBOOK)
            tracemalloc.start()
            compare(answers, stubs, references)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"tracemalloc peak while comparing: {peak / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
