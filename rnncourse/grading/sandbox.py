"""Run a submission's worker in an isolated, limited process.

What is enforced, and by what (Linux, grader running as root, bubblewrap installed):

- **filesystem**: bubblewrap builds a new mount namespace holding only the system (``/usr``,
  ``/etc``, read-only), the Python installation and the virtual environment (read-only), and
  the submission's scratch folder (the only writable place, besides an empty ``/tmp``).
  The course folder, ``solutions/``, the gradebook, ``rnncourse`` itself and every other
  submission are simply absent. Packages an assignment forbids (``torch``, ``scipy``) are
  hidden too, so importing them fails.
- **network**: a new, empty network namespace (no interfaces but a down loopback).
- **processes**: a new PID namespace (the worker cannot see or signal the grader), a new
  session, and death with the parent; on exit, every process of the slot's user is killed.
- **user**: ``setpriv`` drops to a user id of its own per parallel slot (60000 + slot), with
  no capabilities and ``no_new_privs``, so a fork bomb in one slot cannot starve another.
- **resources** (``setrlimit``): address space, CPU seconds, processes, file size, open files,
  no core dumps; plus a wall-clock limit per step and per run, enforced from outside by SIGKILL.

Without root or bubblewrap the worker still runs with the resource limits and wall-clock
limits, but without the filesystem and network isolation: :func:`sandbox_mode` says which.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnncourse.grading.wire import WireError, loads_strict

__all__ = ["Limits", "SandboxError", "WorkerRun", "run_worker", "sandbox_mode"]

WORKER_SOURCE = Path(__file__).with_name("worker.py")
BASE_UID = 60000
MAX_PROGRESS_BYTES = 64 * 2**20


class SandboxError(RuntimeError):
    """The sandbox could not run the worker at all (a problem of the grading machine)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run."""

    memory_mb: int = 3072
    cpu_seconds: int = 300
    wall_seconds: float = 300.0
    processes: int = 64
    file_size_mb: int = 64
    open_files: int = 256
    #: Override the assignment's per-call and per-cell timeouts (seconds), e.g. for tests.
    call_timeout: float | None = None
    cell_timeout: float | None = None


@dataclass
class WorkerRun:
    """What came back from one run: the progress records and how the process ended."""

    records: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    killed: str | None = None  # why the grader killed it ("step timeout", "wall time"), if it did
    in_flight: str | None = None  # the step that started and never ended
    done: bool = False
    seconds: float = 0.0


def sandbox_mode() -> str:
    """``"bwrap"`` (full isolation) or ``"rlimits"`` (limits only: not root, or no bubblewrap)."""
    if sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("bwrap") and shutil.which("setpriv"):
        return "bwrap"
    return "rlimits"


def _set_limits(limits: Limits) -> None:
    mb = 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _parents(path: Path) -> list[Path]:
    return [p for p in reversed(path.parents) if str(p) != "/"]


BLOCKED_PACKAGE = '''raise ImportError("this package is not available while your exercise is graded: write the code yourself")\n'''


def _blocked_package(folder: Path) -> Path:
    """A read-only stand-in mounted over each hidden package: importing it fails with a message."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "__init__.py").write_text(BLOCKED_PACKAGE)
    return folder


def _bwrap_command(scratch: Path, hide: Iterable[Path]) -> list[str]:
    command = ["bwrap", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    command += ["--tmpfs", "/tmp"]  # first: the environment itself may live under /tmp
    made: set[Path] = set()
    for tree in sorted({Path(sys.base_prefix).resolve(), Path(os.path.normpath(os.path.abspath(sys.prefix)))}):
        if str(tree).startswith("/usr/") or tree == Path("/usr"):
            continue
        for parent in _parents(tree):
            if parent not in made:
                command += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        command += ["--ro-bind", str(tree), str(tree)]
    blocked = _blocked_package(scratch.parent / f"{scratch.name}-blocked")
    for hidden in hide:
        command += ["--ro-bind", str(blocked), str(hidden)]
    command += [
        "--bind", str(scratch), "/sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--chdir", "/sandbox",
        "--",
    ]
    return command


def _clean_environment(home: str) -> dict[str, str]:
    return {
        "PATH": f"{Path(os.path.normpath(os.path.abspath(sys.executable))).parent}:/usr/bin:/bin",
        "HOME": home,
        "IPYTHONDIR": f"{home}/.ipython",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
    }


def _kill_user(uid: int) -> None:
    """Kill every process left over by the slot's user (a fork bomb's children included)."""
    if os.geteuid() == 0 and shutil.which("pkill"):
        for _ in range(3):
            subprocess.run(["pkill", "-KILL", "-U", str(uid)], capture_output=True, check=False)
            if subprocess.run(["pgrep", "-U", str(uid)], capture_output=True, check=False).returncode != 0:
                break
            time.sleep(0.05)


class _ProgressReader:
    """Reads the progress file incrementally, keeping only well-formed records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.buffer = b""
        self.records: list[dict[str, Any]] = []

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(MAX_PROGRESS_BYTES - self.offset if self.offset < MAX_PROGRESS_BYTES else 0)
        except FileNotFoundError:
            return
        self.offset += len(chunk)
        self.buffer += chunk
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            try:
                record = loads_strict(line.decode("utf-8", errors="strict"))
            except (WireError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                self.records.append(record)


def run_worker(
    job: Mapping[str, Any],
    scratch: Path,
    step_timeouts: Mapping[str, float],
    limits: Limits,
    slot: int = 0,
    hide: Iterable[Path] = (),
) -> WorkerRun:
    """Run the worker on ``job`` inside ``scratch`` (created here, emptied first) and watch it.

    A step that runs past its entry in ``step_timeouts`` (or the whole run past
    ``limits.wall_seconds``) is killed from outside; the caller decides what to do next.
    """
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    shutil.copy2(WORKER_SOURCE, scratch / "worker.py")
    (scratch / "job.json").write_text(json.dumps(job))
    progress = scratch / "progress.jsonl"
    progress.touch()
    mode = sandbox_mode()
    uid = BASE_UID + slot
    root = os.geteuid() == 0
    if root:
        for path in [scratch, *scratch.rglob("*")]:
            os.chown(path, uid, uid)
    worker_args = ["-I", "worker.py", "job.json", "progress.jsonl"]
    python = os.path.normpath(os.path.abspath(sys.executable))  # the venv's interpreter, as a clean path
    if mode == "bwrap":
        command = _bwrap_command(scratch, hide) + [
            "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            python, *worker_args,
        ]
        env = _clean_environment("/sandbox")
    else:
        command = [python, *worker_args]
        env = _clean_environment(str(scratch))

    def prepare() -> None:
        _set_limits(limits)
        if root and mode != "bwrap":
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    run = WorkerRun()
    reader = _ProgressReader(progress)
    start = time.monotonic()
    with open(scratch / "stdout.txt", "wb") as out:
        process = subprocess.Popen(
            command, cwd=scratch, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            preexec_fn=prepare, start_new_session=True,
        )
        current: str | None = None
        current_since = start
        while True:
            returncode = process.poll()
            reader.poll()
            for record in reader.records[len(run.records):]:
                run.records.append(record)
                if "start" in record:
                    current, current_since = str(record["start"]), time.monotonic()
                elif "end" in record and str(record["end"]) == current:
                    current = None
            if returncode is not None:
                break
            now = time.monotonic()
            if current is not None and now - current_since > step_timeouts.get(current, limits.wall_seconds):
                run.killed = "step timeout"
            elif now - start > limits.wall_seconds:
                run.killed = "wall time"
            if run.killed:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.01)
        run.returncode = process.returncode
    _kill_user(uid)
    reader.poll()
    run.records.extend(reader.records[len(run.records):])
    started = [str(r["start"]) for r in run.records if "start" in r]
    ended = {str(r["end"]) for r in run.records if "end" in r}
    run.in_flight = next((step for step in reversed(started) if step not in ended), None)
    run.done = any(r.get("done") is True for r in run.records)
    run.seconds = time.monotonic() - start
    if not run.records and run.killed is None and run.returncode != 0:
        # the worker never started a step: the sandbox itself failed, not the student's code
        output = (scratch / "stdout.txt").read_bytes()[-2000:].decode(errors="replace")
        raise SandboxError(f"the sandbox did not start (exit code {run.returncode}): {output.strip()}")
    return run
