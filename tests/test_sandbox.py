"""What a submission can reach from inside the sandbox: nothing of the course, no network, no
other processes, and only its own scratch folder to write to."""

from __future__ import annotations

import os
import socket
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from _notebooks import ROOT

from rnncourse.grading.sandbox import Limits, SandboxError, run_worker, sandbox_mode
from rnncourse.grading.wire import decode_value

PROBES = [
    "read_solutions", "list_course", "read_gradebook", "write_course", "write_etc", "import_rnncourse",
    "import_torch", "network", "host_server", "see_host_processes", "root_user", "write_scratch",
    "import_scipy_via_sys_path", "other_site_packages", "course_files_known", "write_root", "new_user_namespace",
]


def _probe_cell(port: int) -> str:
    return f'''
import os, socket, sys
ROOT = {str(ROOT)!r}

def attempt(action):
    try:
        action()
        return 1.0
    except BaseException:
        return 0.0

def connect(port):
    s = socket.socket()
    s.settimeout(1)
    s.connect(("127.0.0.1", port))

def probe():
    return np.array([
        attempt(lambda: open(ROOT + "/solutions/ex01_elman/grading.py").read()),
        float(os.path.isdir(ROOT) and bool(set(os.listdir(ROOT)) - {{".venv"}})),
        attempt(lambda: open(ROOT + "/gradebook.db", "rb").read(1)),
        attempt(lambda: open(ROOT + "/owned.txt", "w").write("x")),
        attempt(lambda: open("/etc/owned", "w").write("x")),
        attempt(lambda: __import__("rnncourse")),
        attempt(lambda: __import__("torch")),
        attempt(lambda: socket.create_connection(("pypi.org", 443), timeout=2)),
        attempt(lambda: connect({port})),
        float(len([p for p in os.listdir("/proc") if p.isdigit()]) > 10),
        float(os.getuid() == 0),
        attempt(lambda: open("/sandbox/mine.txt", "w").write("x")),
        attempt(import_anything),
        float(any(os.listdir(d) for d in site_folders() if os.path.isdir(d))),
        float(any(ROOT + "/" + name in (" ".join(sys.path) + os.getcwd() + open("/proc/self/mountinfo").read())
                  for name in ("solutions", "exercises", "gradebook.db", "tests"))),
        attempt(lambda: open("/owned", "w").write("x")),
        attempt(new_user_namespace),
    ])


def site_folders():
    import glob
    return [p for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages",
                              sys.base_prefix + "/lib/python3*/*-packages") for p in glob.glob(pattern)]


def new_user_namespace():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x10000000) != 0:  # CLONE_NEWUSER
        raise OSError(ctypes.get_errno(), "unshare")


def import_anything():
    sys.path[:0] = site_folders()
    for name in ("scipy", "torch", "sklearn", "rnncourse", "IPython", "nbgrader", "pytest"):
        try:
            __import__(name)
            return
        except ImportError:
            continue
    raise ImportError("nothing")
'''


@pytest.fixture
def host_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    yield server.getsockname()[1]
    server.close()


@pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap (test_grading asserts it is present in CI)")
def test_sandbox_reaches_nothing_but_its_scratch(tmp_path, host_server):
    job = {"steps": [
        {"id": "setup", "kind": "setup", "source": "import numpy as np"},
        {"id": "cell", "kind": "cell", "source": _probe_cell(host_server)},
        {"id": "call", "kind": "call", "function": "probe", "args": []},
    ]}
    run = run_worker(job, {}, Limits(), slot=3)
    assert next(r for r in run.records if r.get("end") == "cell")["error"] is None, run.records
    end = next(r for r in run.records if r.get("end") == "call")
    assert end["error"] is None, end
    facts = dict(zip(PROBES, decode_value(end["value"])))
    assert facts == {**{name: 0.0 for name in PROBES}, "write_scratch": 1.0}, facts
    assert not (ROOT / "owned.txt").exists()


def test_limits_stop_memory_hogs_and_step_timeouts(tmp_path):
    job = {"steps": [
        {"id": "hog", "kind": "cell", "source": "x = bytearray(64 * 2**30)"},
        {"id": "spin", "kind": "cell", "source": "while True:\n    pass"},
        {"id": "after", "kind": "cell", "source": "y = 1"},
    ]}
    run = run_worker(job, {"spin": 1.0}, Limits(memory_mb=1024), slot=1)
    ends = {r["end"]: r for r in run.records if "end" in r}
    assert "MemoryError" in ends["hog"]["error"]
    assert run.killed == "step timeout" and run.in_flight == "spin" and "after" not in ends
    assert run.seconds < 10


def test_a_broken_sandbox_is_the_graders_problem(tmp_path, monkeypatch):
    monkeypatch.setattr("rnncourse.grading.sandbox.WORKER_SOURCE", Path(__file__))  # not a worker: exits at once
    with pytest.raises(SandboxError, match="did not start"):
        run_worker({"steps": []}, {}, Limits(), slot=2)


def test_decoder_accepts_only_plain_float_arrays():
    from rnncourse.grading.wire import WireError, encode_value

    good = decode_value(encode_value(np.ones((2, 3))))
    assert isinstance(good, np.ndarray) and good.shape == (2, 3) and good.dtype == np.float64
    assert decode_value(encode_value([[1.0, 2.0]])).startswith("a list")
    assert "dtype int64" in decode_value(encode_value(np.arange(3)))
    assert decode_value(encode_value("no")).startswith("a str")
    assert isinstance(decode_value(encode_value((np.ones(1), np.zeros(2)))), tuple)
    for bad in (
        {"kind": "array", "ndarray": True, "dtype": "float64", "shape": [2], "data": [1.0]},
        {"kind": "array", "ndarray": True, "dtype": "float64", "shape": [1], "data": ["1.0"]},
        {"kind": "array", "ndarray": True, "dtype": "object", "shape": [1], "data": [1.0]},
        {"kind": "pickle", "data": "gASV"},
        ["not", "an", "object"],
    ):
        with pytest.raises(WireError):
            decode_value(bad)


needs_sandbox = pytest.mark.skipif(sandbox_mode() == "none", reason="needs bubblewrap (test_grading asserts it is present in CI)")

KEYCTL = """
import ctypes, os, platform
libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY = {"x86_64": 248, "aarch64": 217}[platform.machine()]
KEYCTL = {"x86_64": 250, "aarch64": 219}[platform.machine()]
def store():
    key = libc.syscall(ADD_KEY, b"user", b"rnncourse-secret", b"answers", 7, -4)  # -4: the user keyring
    return key
def read():
    buffer = ctypes.create_string_buffer(64)
    key = libc.syscall(KEYCTL, 10, -4, 0, 0)  # search is not needed: KEYCTL_READ of the keyring itself
    return libc.syscall(KEYCTL, 11, -4, buffer, 64)  # KEYCTL_READ (11) of @u lists its keys
"""


@needs_sandbox
def test_no_channel_through_kernel_keyrings():
    for step in ("store", "read"):
        job = {"steps": [
            {"id": "cell", "kind": "cell", "source": KEYCTL + f"\nresult = {step}()\nassert result < 0, result"},
        ]}
        run = run_worker(job, {}, Limits(), slot=2)
        assert next(r for r in run.records if r.get("end") == "cell")["error"] is None, run.records


@needs_sandbox
def test_a_double_forked_daemon_dies_with_its_sandbox(tmp_path):
    import subprocess

    job = {"steps": [{"id": "cell", "kind": "cell", "source": (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(60)\n    os._exit(0)\ntime.sleep(0.5)"
    )}]}
    run_worker(job, {}, Limits(), slot=3)
    from rnncourse.grading.sandbox import descendants

    assert not descendants(os.getpid()) or all(
        "bwrap" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace") for pid in descendants(os.getpid())
    )
    alive = subprocess.run(["pgrep", "-f", "time.sleep\\(60\\)"], capture_output=True, text=True).stdout.split()
    assert not alive, alive


@needs_sandbox
def test_forbidden_names_inside_an_allowed_package_are_stubs_at_run_time():
    pytest.importorskip("torch")
    from rnncourse.grading.wire import encode_array

    job = {"poison": ["torch.nn.RNN"], "steps": [
        {"id": "cell", "kind": "cell", "source": "import torch\nhidden = [torch.nn][0]\ndef f(x):\n    return getattr(hidden, 'R' + 'NN')(2, 3)"},
        {"id": "call", "kind": "call", "function": "f", "args": [encode_array(np.ones(2), tensor=True)]},
    ]}
    run = run_worker(job, {}, Limits(), slot=1, packages=("torch",))
    end = next(r for r in run.records if r.get("end") == "call")
    assert "torch.nn.RNN is not allowed" in end["error"], end


def test_seccomp_program_is_well_formed():
    from rnncourse.grading.sandbox import seccomp_program

    program = seccomp_program()
    if program is None:
        pytest.skip("no seccomp filter for this CPU")
    assert len(program) % 8 == 0 and 8 < len(program) < 8 * 64


def test_without_isolation_grading_is_refused(monkeypatch, tmp_path):
    import rnncourse.grading.sandbox as sandbox
    from rnncourse.grading.batch import grade_batch

    monkeypatch.setattr(sandbox, "sandbox_mode", lambda: "none")
    monkeypatch.setattr("rnncourse.grading.batch.sandbox_mode", lambda: "none")
    with pytest.raises(SandboxError, match="refusing"):
        run_worker({"steps": []}, {}, Limits())
    with pytest.raises(SystemExit, match="--unsafe-no-sandbox"):
        grade_batch(ROOT, "ex01_elman", tmp_path, tmp_path / "out", progress=None)
    # with the explicit flag it runs, with limits only (as root, as a slot user who must reach the interpreter)
    job = {"steps": [{"id": "c", "kind": "cell", "source": "x = 1"}]}
    python = Path(os.path.realpath(sys.executable))
    reachable = all(p.stat().st_mode & 0o001 for p in python.parents if str(p) != "/")
    if os.geteuid() == 0 and not reachable:
        with pytest.raises(SandboxError, match="ordinary user"):
            run_worker(job, {}, Limits(), unsafe=True)
    else:
        assert run_worker(job, {}, Limits(), unsafe=True).done
