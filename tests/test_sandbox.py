"""What a submission can reach from inside the sandbox: nothing of the course, no network, no
other processes, and only its own scratch folder to write to."""

from __future__ import annotations

import socket
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
]


def _probe_cell(port: int) -> str:
    return f'''
import os, socket
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
    ])
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
        {"id": "hog", "kind": "cell", "source": "x = bytearray(8 * 2**30)"},
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
