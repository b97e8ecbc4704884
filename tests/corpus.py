"""A corpus of honest, wrong, hostile and broken submissions of exercise 1, built from the
course's own notebooks (the released version and the instructor's answers).

Each entry says what the grader must conclude: an exact score, "no more than the same wrong
answer without the exploit" (``at_most="wrong"``), and words the status must contain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from _notebooks import ROOT

from rnncourse.grading import course

ASSIGNMENT = "ex01_elman"
NOTEBOOK = "ex01_elman"


@dataclass(frozen=True)
class Entry:
    name: str
    write: Callable[[Path], None]  # writes the student's folder
    score: float | None = None  # exact expected score
    at_most: str | None = None  # name of the entry whose score this one must not exceed
    status: tuple[str, ...] = ()  # words the status must contain ("ok" means exactly ok)


def correct() -> dict:
    return course.filled_in(ROOT, ASSIGNMENT, NOTEBOOK)


def released() -> dict:
    return course.read_json(ROOT / "exercises" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")


def with_answer(nb: dict, grade_id: str, source: str) -> dict:
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == grade_id:
            cell["source"] = source
    return nb


def append_cell(nb: dict, source: str, at: int | None = None) -> dict:
    nb = copy.deepcopy(nb)
    cell = {"cell_type": "code", "execution_count": None, "id": f"extra{len(nb['cells'])}", "metadata": {}, "outputs": [], "source": source}
    nb["cells"].insert(len(nb["cells"]) if at is None else at, cell)
    return nb


def wrong() -> dict:
    """elman_step forgets to transpose W: a plausible wrong answer (it also breaks elman_forward)."""
    return with_answer(correct(), "elman_step", "def elman_step(x, h_prev, W, U, b):\n    return np.tanh(b + h_prev @ W + x @ U.T)\n")


def notebook(nb_factory: Callable[[], dict], name: str = f"{NOTEBOOK}.ipynb") -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(json.dumps(nb_factory()), encoding="utf-8")

    return write


def raw(text: str, name: str = f"{NOTEBOOK}.ipynb") -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")

    return write


def exploit(source: str, base: Callable[[], dict] = wrong, at: int | None = None) -> Callable[[Path], None]:
    return notebook(lambda: append_cell(base(), source, at))


def _setup_index() -> int:
    return next(i for i, c in enumerate(released()["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup") + 1


def _without_setup() -> dict:
    nb = correct()
    nb["cells"] = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != "setup"]
    nb = append_cell(nb, "import numpy as np", at=0)  # the student kept their own import
    return nb


def _duplicated_softmax() -> dict:
    nb = correct()
    index = next(i for i, c in enumerate(nb["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id") == "softmax")
    clone = copy.deepcopy(nb["cells"][index])
    clone["id"] = "clone"
    clone["source"] = "def softmax(o):\n    return o\n"
    nb["cells"].insert(index + 1, clone)
    return nb


def _edited_test_cell() -> dict:
    nb = correct()
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "test_elman_step_values":
            cell["source"] = "pass  # trust me"
    return nb


def _changed_metadata() -> dict:
    nb = correct()
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if meta.get("grade_id") == "test_softmax_values":
            meta["points"] = 100
        if meta.get("grade_id") == "softmax":
            meta["solution"] = False
            meta["locked"] = True
    return nb


def _warning_answers() -> dict:
    nb = correct()
    nb = append_cell(nb, "import warnings\nwarnings.warn('a harmless warning at import time')", at=_setup_index())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "softmax":
            cell["source"] = "".join(cell["source"]).replace('"""\n', '"""\n    import warnings\n    warnings.warn("deprecated something", DeprecationWarning)\n', 1)
    return nb


def _missing(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text("I forgot to attach my notebook")


READ_SOLUTIONS = f"""
try:
    source = open({str(ROOT / 'solutions' / ASSIGNMENT / (NOTEBOOK + '.ipynb'))!r}).read()
    open("mysolution.py", "w").write(source)
    from mysolution import *
except Exception as error:
    print("could not read the solutions:", error)
"""

WRITE_GRADEBOOK = f"""
import sqlite3
for path in [{str(ROOT / 'gradebook.db')!r}, "../gradebook.db", "/tmp/../gradebook.db"]:
    try:
        connection = sqlite3.connect(path)
        connection.execute("UPDATE grade SET auto_score = 100")
        connection.commit()
    except Exception as error:
        print("no gradebook at", path, error)
try:
    open({str(ROOT / 'grades_written_by_student.txt')!r}, "w").write("owned")
except Exception as error:
    print(error)
"""

FORGE_PROGRESS = """
import json, os
job = json.load(open("job.json"))
with open("progress.jsonl", "a") as handle:
    for step in job["steps"]:
        if step["kind"] == "call":
            handle.write(json.dumps({"end": step["id"], "error": None,
                                     "value": {"kind": "array", "ndarray": True, "type": "ndarray", "dtype": "float64", "shape": [1], "data": [0.5]}}) + "\\n")
    handle.write(json.dumps({"done": True}) + "\\n")
os._exit(0)
"""

ALWAYS_EQUAL = """
class AlwaysEqual:
    def __eq__(self, other):
        return True
    def __array__(self, dtype=None, copy=None):
        return np.zeros((1,))

def elman_step(x, h_prev, W, U, b):
    return AlwaysEqual()
"""

DELEGATE_VIA_FILE = """
open("helper.py", "w").write("from rnn" + "course.dynamics import softmax, elman_step, elman_forward, jordan_step")
from helper import softmax, elman_step, elman_forward, jordan_step
"""

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

CORPUS: list[Entry] = [
    Entry("correct", notebook(correct), score=9, status=("ok",)),
    Entry("stub", notebook(released), score=0, status=("ok",)),
    Entry("wrong", notebook(wrong), status=("ok",)),
    # hostile: none of these may score more than the wrong answer they are built on
    Entry("exploit-ipython-events", exploit("get_ipython().events.register('post_run_cell', lambda result: None)"), at_most="wrong"),
    Entry("exploit-input-transformer", exploit("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])"), at_most="wrong"),
    Entry("exploit-patch-numpy", exploit("np.allclose = lambda *a, **k: True\nnp.isfinite = lambda x: np.ones(np.shape(x), bool)\nnp.testing.assert_allclose = lambda *a, **k: None"), at_most="wrong"),
    Entry("exploit-always-equal", exploit(ALWAYS_EQUAL), at_most="wrong"),
    Entry("exploit-write-gradebook", exploit(WRITE_GRADEBOOK), at_most="wrong"),
    Entry("exploit-read-solutions", exploit(READ_SOLUTIONS), at_most="wrong"),
    Entry("exploit-forge-results", exploit(FORGE_PROGRESS), at_most="wrong"),
    Entry("exploit-fake-score", exploit("print('Score: 9 / 9')\nprint('All tests passed!')"), at_most="wrong"),
    Entry("exploit-early-exit", exploit("import os\nos._exit(0)"), at_most="wrong"),
    Entry("exploit-kill-parent", exploit("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"), at_most="wrong"),
    Entry("delegate-alias", exploit("import rnncourse.dynamics as reference\ndef elman_step(x, h_prev, W, U, b):\n    return reference.elman_step(x, h_prev, W, U, b)"), at_most="wrong", status=("reference used in elman_step",)),
    Entry("delegate-from-import", exploit("from rnncourse.dynamics import elman_step as elman_step"), at_most="wrong", status=("reference used in elman_step",)),
    Entry("delegate-by-string", exploit("import importlib\ndef elman_step(x, h_prev, W, U, b):\n    return importlib.import_module('rnn' + 'course.dyn' + 'amics').elman_step(x, h_prev, W, U, b)"), at_most="wrong", status=("reference used",)),
    Entry("delegate-torch", exploit("import torch\ndef elman_step(x, h_prev, W, U, b):\n    return torch.tanh(torch.tensor(b + h_prev @ W.T + x @ U.T)).numpy()"), at_most="wrong", status=("reference used in elman_step",)),
    Entry("delegate-via-file", exploit(DELEGATE_VIA_FILE), at_most="wrong"),
    # broken: graded for what can be graded, with a status saying why not everything could be
    Entry("invalid-json", raw('{"cells": [ this is not json'), score=0, status=("invalid notebook",)),
    Entry("not-a-notebook", raw('["a list, not a notebook"]'), score=0, status=("invalid notebook",)),
    Entry("missing-notebook", _missing, score=0, status=("missing notebook",)),
    Entry("renamed-notebook", notebook(correct, name="ex01_elman (1).ipynb"), score=9, status=("renamed",)),
    Entry("deleted-setup-cell", notebook(_without_setup), score=9, status=("deleted locked cell setup",)),
    Entry("duplicated-answer-cell", notebook(_duplicated_softmax), score=5, status=("duplicated answer cell softmax",)),
    Entry("edited-test-cell", notebook(_edited_test_cell), score=9, status=("edited test cell",)),
    Entry("changed-metadata", notebook(_changed_metadata), score=9, status=("changed nbgrader metadata",)),
    Entry("infinite-loop-in-function", notebook(lambda: with_answer(correct(), "elman_forward", "def elman_forward(x, h0, W, U, b):\n    while True:\n        pass\n")), score=6, status=("timeout",)),
    Entry("loop-ignoring-sigint", exploit("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass", base=correct), score=9, status=("timeout",)),
    Entry("memory-bomb", exploit("hog = bytearray(64 * 2**30)", base=correct), score=9, status=("memory",)),
    Entry("fork-bomb", exploit(FORK_BOMB, base=correct), score=9, status=("in code cell",)),
    Entry("os-exit", exploit("import os\nos._exit(3)", base=correct), score=9, status=("exited",)),
    Entry("huge-output", exploit("import sys\nfor _ in range(200):\n    sys.stdout.write('x' * 2**20)\nsys.stdout.flush()", base=correct), score=9, status=("output limit",)),
    Entry("warnings", notebook(_warning_answers), score=9, status=("ok",)),
]


# ---------------------------------------------------------------------------------------------
# The second corpus (grader hardening): every mechanism found by a hostile re-test, the honest
# notebooks that used to lose points, and submissions that used to break the batch.


def _answer_source(nb: dict, grade_id: str) -> str:
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def edited(grade_id: str, change: Callable[[str], str], base: Callable[[], dict] = correct) -> Callable[[], dict]:
    """A notebook whose answer cell ``grade_id`` is ``change(original source)``."""
    def make() -> dict:
        nb = base()
        return with_answer(nb, grade_id, change(_answer_source(nb, grade_id)))

    return make


def _stripped_metadata() -> dict:
    """As if pasted into a fresh notebook or opened in Colab: no nbgrader metadata, new ids."""
    nb = correct()
    for i, cell in enumerate(nb["cells"]):
        cell["metadata"] = {}
        cell["id"] = f"colab{i}"
    nb["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    return nb


def _windows_line_endings() -> dict:
    nb = correct()
    for cell in nb["cells"]:
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = text.replace("\n", "\r\n")
    return nb


def _deep_metadata() -> dict:
    nb = correct()
    deep: dict = {}
    for _ in range(900):  # parses (below the JSON decoder's limit), but breaks naive deep copies
        deep = {"x": deep}
    nb["cells"][1]["metadata"]["deep"] = deep
    return nb


def _many_loops() -> dict:
    nb = correct()
    for _ in range(12):
        nb = append_cell(nb, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass")
    return nb


SYMLINK_FILES = """
import os
for name in ["progress.jsonl", "stdout.txt", "job.json", "results.jsonl", "../progress.jsonl"]:
    for make in (lambda n: os.symlink("/etc/shadow", n), lambda n: os.mkfifo(n), lambda n: os.mkdir(n),
                 lambda n: os.symlink(n, n)):
        try:
            if os.path.lexists(name):
                os.remove(name)
            make(name)
        except OSError:
            pass
os._exit(0)
"""

SYS_PATH_HUNT = """
import os, sys
for top in ["/usr/lib/python3/dist-packages", "/usr/local/lib", "/root", "/home", "/opt", "/work", "/srv", "/tmp", "/"]:
    for folder, dirs, files in os.walk(top):
        if folder.count("/") > 8:
            dirs[:] = []
        if "rnncourse" in dirs or "scipy" in dirs or "torch" in dirs:
            sys.path.insert(0, folder)
try:
    from rnncourse.dynamics import softmax, elman_step, elman_forward, jordan_step
except Exception as error:
    print("no reference here:", error)
"""

READ_OTHERS = """
import os, glob
found = []
for pid in os.listdir("/proc"):
    try:
        found.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" ").decode())
    except Exception:
        pass
for line in found:
    for word in line.split():
        if word.endswith(".ipynb") or "submissions" in word:
            try:
                exec(open(word).read())
            except Exception as error:
                print(error)
for path in glob.glob("/**/*.ipynb", recursive=True)[:50]:
    print(path)
"""

DOUBLE_FORK = f"""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(4)
        for path in [{str(ROOT / 'owned_by_daemon.txt')!r}, "/tmp/owned", "grades.csv"]:
            try:
                open(path, "w").write("owned")
            except Exception:
                pass
        os._exit(0)
    os._exit(0)
"""

FORK_MEMORY = """
import os, time
children = []
for _ in range(4):  # each under the per-process limit, together over the budget
    pid = os.fork()
    if pid == 0:
        hog = b"x" * (400 * 2**20)  # written, so resident
        time.sleep(30)
        os._exit(0)
    children.append(pid)
time.sleep(30)
"""

DISK_FILLER = """
import os
for folder in ["/tmp", "/dev/shm"]:
    try:
        for i in range(100000):
            with open(f"{folder}/fill{i}", "wb") as handle:
                handle.write(b"x" * 2**20)
    except OSError:
        pass
for i in range(100000):  # the last one fails, and says why
    with open(f"fill{i}", "wb") as handle:
        handle.write(b"x" * 2**20)
"""

DEEP_TREE = """
import os
for _ in range(3000):
    try:
        os.mkdir("d")
        os.chdir("d")
    except OSError:
        break
os.chdir("/sandbox")
"""

MAGIC_DELEGATION = "%time from rnncourse.dynamics import elman_step\n%config InlineBackend.figure_format = __import__('rnncourse').dynamics.elman_step"

HONEST_MAGICS = """%matplotlib inline
%load_ext autoreload
%autoreload 2
!pip install numpy
np.tanh?
%time _t = np.tanh(1.0)
"""

DOCSTRING_NAMES = '''def elman_step(x, h_prev, W, U, b):
    """Like torch.nn.RNN (nonlinearity='tanh') or a scipy-style update, but written by hand.

    Not rnncourse.dynamics.elman_step: see "import torch" in the book for the torch version.
    """
    if x.ndim != 2:
        raise ValueError("expected x of shape (B, D), as torch.nn.RNN takes per step")
    return np.tanh(b + h_prev @ W.T + x @ U.T)  # the same as torch.nn.RNNCell with tanh
'''

UNUSUAL_STYLES = {
    "softmax": "import torch  # not needed, and absent while grading\nimport matplotlib.pyplot as plt\n"
               "softmax = lambda o: (lambda e: e / e.sum(-1, keepdims=True))(np.exp(o - o.max(-1, keepdims=True)))\n"
               "plt.plot(softmax(np.arange(3.0)))\nprint(softmax(np.zeros(2)))\ndisplay(softmax(np.ones(3)))\n",
    "elman_step": "from functools import partial\n\n\ndef _step(x, h_prev, W, U, b, f=np.tanh):\n"
                  "    return f(np.einsum('hd,bd->bh', U, x) + np.einsum('hk,bk->bh', W, h_prev) + b)\n\n\n"
                  "elman_step = partial(_step)\n",
    "elman_forward": "%%time\nclass _Unroll:\n    def __call__(self, x, h0, W, U, b):\n"
                     "        if len(x) == 0:\n            return np.zeros((0,) + h0.shape)\n"
                     "        first = elman_step(x[0], h0, W, U, b)\n"
                     "        rest = self(x[1:], first, W, U, b)\n"
                     "        return np.concatenate([first[None], rest])\n\n\nelman_forward = _Unroll()\n",
}


def _unusual_styles() -> dict:
    nb = correct()
    for grade_id, source in UNUSUAL_STYLES.items():
        nb = with_answer(nb, grade_id, source)
    return nb


HARDENING: list[Entry] = [
    # hostile: the grader reads no file of the sandbox's, and nothing outside it is reachable
    Entry("exploit-symlink-fifo-files", exploit(SYMLINK_FILES), at_most="wrong"),
    Entry("exploit-sys-path-hunt", exploit(SYS_PATH_HUNT), at_most="wrong"),
    Entry("exploit-read-other-students", exploit(READ_OTHERS), at_most="wrong"),
    Entry("exploit-double-fork-daemon", exploit(DOUBLE_FORK), at_most="wrong"),
    Entry("exploit-magic-delegation", exploit(MAGIC_DELEGATION), at_most="wrong", status=("reference used",)),
    Entry("exploit-concatenated-import", exploit("mod = __import__('rnn' + 'course.dyn' + 'amics', fromlist=['x'])\nelman_step = mod.elman_step"), at_most="wrong", status=("reference used",)),
    Entry("exploit-pkgutil", exploit("import pkgutil\nelman_step = pkgutil.resolve_name('rnncourse.dynamics:elman_step')"), at_most="wrong", status=("reference used",)),
    Entry("exploit-global-rebind", exploit("import rnncourse.dynamics as d\ndef _install():\n    global elman_step\n    elman_step = d.elman_step\n_install()"), at_most="wrong", status=("reference used",)),
    Entry("exploit-tuple-alias", exploit("import rnncourse.dynamics as d\nelman_step, _x = d.elman_step, 1"), at_most="wrong", status=("reference used",)),
    # resources: each costs only its own submission
    Entry("fork-memory", exploit(FORK_MEMORY, base=correct), score=9, status=("memory limit",)),
    Entry("disk-filler", exploit(DISK_FILLER, base=correct), score=9, status=("disk quota",)),
    Entry("deep-directory-tree", exploit(DEEP_TREE, base=correct), score=9, status=("ok",)),
    Entry("deep-metadata", notebook(_deep_metadata), score=9),
    Entry("many-infinite-loops", notebook(_many_loops), score=9, status=("time budget",)),
    # honest: a correct answer keeps full marks whatever harmless extras the notebook holds
    Entry("honest-magics-and-shell", exploit(HONEST_MAGICS, base=correct, at=_setup_index()), score=9, status=("ok",)),
    Entry("honest-matplotlib-in-answer", notebook(edited("softmax", lambda s: "%matplotlib inline\nimport matplotlib.pyplot as plt\n" + s + "\nplt.plot(softmax(np.arange(4.0)))\n")), score=9, status=("ok",)),
    Entry("honest-selfcheck-in-answer", notebook(edited("softmax", lambda s: s + "\n\ncheck.check_softmax(softmax)\n")), score=9, status=("ok",)),
    Entry("honest-timeit-cell", exploit("%%timeit\nsoftmax(np.ones((4, 5)))", base=correct), score=9, status=("ok",)),
    Entry("honest-docstring-names", notebook(lambda: with_answer(correct(), "elman_step", DOCSTRING_NAMES)), score=9, status=("ok",)),
    Entry("honest-stripped-metadata", notebook(_stripped_metadata), score=9, status=("ok",)),
    Entry("honest-windows-line-endings", notebook(_windows_line_endings), score=9, status=("ok",)),
    Entry("honest-unusual-styles", notebook(_unusual_styles), score=9, status=("ok",)),
    Entry("honest-error-in-a-cell", exploit("print(undefined_name)\nimport torch", base=correct), score=9, status=("ok",)),
]
CORPUS += HARDENING


# found by a red-team pass over the hardened grader
LOOKALIKES = """
import inspect
import matplotlib.pyplot as plt
code = 'ABC'
print(code.lower(), inspect.signature(softmax))
for name in ["plot", "scatter"]:
    getattr(plt, name)([1, 2], [3, 4])
class Meter:
    def __radd__(self, other):
        return other
Meter().__radd__(1)
try:
    import torch
    x = torch.randn(5, 3, 4)
    out, h = torch.nn.RNN(4, 6)(x)
except ImportError:
    pass
"""

SELF_REBINDING_SOFTMAX = '''import numpy as np


def softmax(o):
    e = np.exp(o - np.max(o, axis=-1, keepdims=True))
    e = e / e.sum(axis=-1, keepdims=True)
    e = e.T.T.real
    return e
'''

FORGED_OVERFLOW = """
import json
record = {"end": "test_softmax_values#0", "error": None,
          "value": {"kind": "array", "ndarray": True, "type": "ndarray", "dtype": "float64", "shape": [1], "data": [10**400]}}
import os
for fd in range(3, 300):
    try:
        os.write(fd, (json.dumps(record) + "\\n").encode())
    except OSError:
        pass
"""


def _latin1_name(folder: Path) -> None:
    import os

    folder.mkdir(parents=True, exist_ok=True)
    (folder / os.fsdecode(b"ex01_elman_Zo\xeb.ipynb")).write_text(json.dumps(correct()), encoding="utf-8")


CORPUS += [
    Entry("honest-lookalike-names", exploit(LOOKALIKES, base=correct), score=9, status=("ok",)),
    Entry("honest-self-rebinding-softmax", notebook(lambda: with_answer(correct(), "softmax", SELF_REBINDING_SOFTMAX)), score=9, status=("ok",)),
    Entry("honest-latin1-file-name", _latin1_name, score=9, status=("renamed",)),
    Entry("exploit-forged-overflow", exploit(FORGED_OVERFLOW), at_most="wrong"),
    Entry("huge-shell-cell", exploit("\n".join(["!ls"] * 20000), base=correct), score=9),
]
