"""Run a submission's worker in an isolated, limited process, with or without root.

Three modes (:func:`sandbox_mode`):

- ``"bwrap-root"``: the grader is root. bubblewrap builds the sandbox, then ``setpriv`` drops to a
  user id of the slot's own (:func:`slot_uid`, from 60000 up), with no capabilities and ``no_new_privs``.
- ``"bwrap-user"``: the grader is an ordinary user and the kernel allows unprivileged user
  namespaces (most current distributions). bubblewrap builds the same sandbox inside a new user
  namespace; the student's code runs as the grader's user *mapped* into it, with no capabilities,
  and cannot create further user namespaces.
- ``"none"``: no isolation is possible (no bubblewrap, or user namespaces disabled). The grader
  refuses to grade unless the instructor passes ``--unsafe-no-sandbox``; then only resource and
  time limits apply.

What the two bubblewrap modes enforce, and by what:

- **filesystem**: a new mount namespace holding ``/usr`` and a few files of ``/etc`` (read-only),
  the base Python installation with every ``site-packages``/``dist-packages`` folder covered by an
  empty tmpfs, the worker script, and a ``site`` folder holding *only the packages the assignment
  allows* (and their dependencies), bound one by one. The course, ``solutions/``, the gradebook,
  ``rnncourse``, the grader's virtual environment and every other submission are absent.
- **disk**: the working folder ``/sandbox``, ``/tmp`` and ``/dev/shm`` are private tmpfs mounts
  of a fixed size, gone when the run ends.
- **network, IPC, hostname**: new, empty namespaces.
- **processes**: a new PID namespace whose init is bubblewrap's; killing the sandbox kills every
  process in it (double forks included). The grader also checks that none is left.
- **resources**: ``setrlimit`` (address space, CPU seconds, processes, file size, open files, no
  core dumps) and a watchdog in the grader that sums the resident memory of every process of the
  submission against one budget, and kills on wall time, step timeouts and too much output.
- **system calls**: a seccomp filter refuses kernel keyrings (a channel from one submission to the
  next in the same slot), ``memfd_create`` (memory outside any quota), ``bpf``,
  ``perf_event_open``, ``userfaultfd`` and ``ptrace``.
- **I/O with the grader**: the job comes in on standard input; results go out on a pipe the
  grader owns (its descriptor number is the worker's first argument). The grader never opens a path inside the sandbox.
"""

from __future__ import annotations

import functools
import glob
import json
import os
import platform
import selectors
import shutil
import signal
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from rnncourse.grading.wire import WireError, loads_strict

__all__ = [
    "Limits",
    "SandboxError",
    "WorkerRun",
    "allowed_site",
    "isolation_problem",
    "run_worker",
    "sandbox_mode",
]

WORKER_SOURCE = Path(__file__).with_name("worker.py")
BASE_UID = 60000
#: Where things live inside the sandbox.
INSIDE = "/opt/rnncourse"
INSIDE_WORKER = f"{INSIDE}/worker.py"
INSIDE_SITE = f"{INSIDE}/site"
MAX_RECORD_BYTES = 64 * 2**20
OUTPUT_TAIL = 4096
#: Files of /etc that the interpreter and the allowed packages read; the rest of /etc stays out.
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives", "mime.types")
#: The worker itself needs NumPy (arrays on the wire); every assignment gets it.
ALWAYS_ALLOWED = ("numpy",)


class SandboxError(RuntimeError):
    """The sandbox could not run the worker at all (a problem of the grading machine)."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one submission."""

    #: Total resident memory of all the submission's processes (the watchdog's budget).
    memory_mb: int = 3072
    #: Address space of each process (``RLIMIT_AS``): a huge allocation fails at once with MemoryError.
    #: Larger than ``memory_mb`` because reserving is not using: PyPI's CUDA build of torch reserves
    #: over 3 GB just to import.
    address_space_mb: int = 16384
    cpu_seconds: int = 300
    #: Wall-clock budget of the whole submission, re-runs included.
    wall_seconds: float = 300.0
    processes: int = 64
    file_size_mb: int = 64
    #: Size of each private tmpfs (/sandbox, /tmp, /dev/shm).
    disk_mb: int = 128
    open_files: int = 256
    #: Output (stdout and stderr together) read before the run is stopped.
    output_mb: int = 64
    #: Override the assignment's per-call and per-cell timeouts (seconds), e.g. for tests.
    call_timeout: float | None = None
    cell_timeout: float | None = None


@dataclass
class WorkerRun:
    """What came back from one run: the progress records and how the process ended."""

    records: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    killed: str | None = None  # why the grader stopped it ("step timeout", "wall time", "memory", "processes", "output")
    in_flight: str | None = None  # the step that started and never ended
    done: bool = False
    seconds: float = 0.0
    peak_memory_mb: float = 0.0
    output_tail: str = ""


# --------------------------------------------------------------------------------------------
# which mode


def _bwrap_works(unprivileged: bool) -> bool:
    command = ["bwrap", "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent"]
    if unprivileged:
        command += ["--unshare-user", "--disable-userns"]
    try:
        done = subprocess.run([*command, "--", "true"], capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


@functools.lru_cache(maxsize=1)
def sandbox_mode() -> str:
    """``"bwrap-root"``, ``"bwrap-user"`` or ``"none"`` (see the module's docstring)."""
    if not sys.platform.startswith("linux") or not shutil.which("bwrap"):
        return "none"
    if os.geteuid() == 0 and shutil.which("setpriv") and _bwrap_works(unprivileged=False):
        return "bwrap-root"
    if _bwrap_works(unprivileged=True):
        return "bwrap-user"
    return "none"


def isolation_problem() -> str | None:
    """Why no sandbox can be built here (None when one can), in words for the instructor."""
    if sandbox_mode() != "none":
        return None
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux (this is {sys.platform})"
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    return (
        "bubblewrap cannot create namespaces here: unprivileged user namespaces are disabled "
        "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces, or an AppArmor policy)"
    )


# --------------------------------------------------------------------------------------------
# the Python environment inside


def _requirements(dist: metadata.Distribution) -> list[str]:
    from packaging.requirements import InvalidRequirement, Requirement

    names = []
    for text in dist.requires or []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            names.append(requirement.name)
    return names


@functools.lru_cache(maxsize=16)
def allowed_site(packages: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``(host path, name)`` of every top-level entry of the allowed distributions and their
    dependencies, to be bound into the sandbox's ``site`` folder. Nothing is imported."""
    from packaging.utils import canonicalize_name

    wanted = [*ALWAYS_ALLOWED, *packages]
    seen: set[str] = set()
    entries: dict[str, str] = {}
    while wanted:
        name = canonicalize_name(wanted.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed; importing it fails inside too
        wanted += _requirements(dist)
        base = Path(str(dist.locate_file("")))
        for item in dist.files or []:
            top = item.parts[0]
            if top in ("..", "/") or top.endswith(".pth") or top == "__pycache__" or top.startswith("__editable__"):
                continue
            host = base / top
            if host.exists() and top not in entries:
                entries[top] = str(host)
    return tuple(sorted((path, name) for name, path in entries.items()))


@functools.lru_cache(maxsize=1)
def _interpreter() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The base interpreter (real path), folders to mount for it, and package folders to cover."""
    python = os.path.realpath(sys.executable)
    base = os.path.realpath(sys.base_prefix)
    mounts = [python]
    if not base.startswith("/usr"):
        lib = os.path.join(base, "lib")  # the standard library and, for conda/pyenv, libpython
        if os.path.isdir(lib):
            mounts.append(lib)
    cover = set()
    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    for key in ("purelib", "platlib"):
        cover.add(os.path.realpath(paths[key]))
    for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages", f"{base}/lib/python3*/*-packages"):
        cover.update(os.path.realpath(p) for p in glob.glob(pattern))
    return python, tuple(mounts), tuple(sorted(p for p in cover if os.path.isdir(p)))


# --------------------------------------------------------------------------------------------
# seccomp

_SECCOMP = {
    # AUDIT_ARCH; refused system calls (add_key, request_key, keyctl, memfd_create, bpf, perf_event_open,
    # userfaultfd, ptrace); unshare, clone (refused with CLONE_NEWUSER), clone3 (ENOSYS: libc falls back to clone)
    "x86_64": (0xC000003E, (248, 249, 250, 319, 321, 298, 323, 101), 272, 56, 435),
    "aarch64": (0xC00000B7, (217, 218, 219, 279, 280, 241, 282, 117), 97, 220, 435),
}
CLONE_NEWUSER = 0x10000000


def seccomp_program() -> bytes | None:
    """A classic-BPF seccomp filter (as bubblewrap's ``--seccomp`` takes it), or None on other CPUs.

    Refuses kernel keyrings, ``memfd_create``, ``bpf``, ``perf_event_open``, ``userfaultfd``,
    ``ptrace``, and new user namespaces (``unshare``/``clone`` with ``CLONE_NEWUSER``; ``clone3``,
    whose flags a filter cannot read, answers ENOSYS so that the C library falls back to ``clone``).
    """
    machine = platform.machine()
    if machine not in _SECCOMP:
        return None
    arch, denied, unshare, clone, clone3 = _SECCOMP[machine]
    ld_abs, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    results = {"allow": 0x7FFF0000, "deny": 0x00050000 | 1, "enosys": 0x00050000 | 38, "kill": 0x00000000}
    # (code, k, jump-if-true label, jump-if-false label); labels resolve to relative offsets below
    code: list[tuple[int, int, str | None, str | None]] = [
        (ld_abs, 4, None, None),  # seccomp_data.arch
        (jeq, arch, "native", "kill"),  # another ABI (32-bit calls): never used by Python here
    ]
    labels = {"native": len(code)}
    code.append((ld_abs, 0, None, None))  # seccomp_data.nr
    if machine == "x86_64":
        code.append((jge, 0x40000000, "deny", None))  # x32 system calls
    code += [(jeq, number, "deny", None) for number in denied]
    code += [(jeq, unshare, "flags", None), (jeq, clone, "flags", None), (jeq, clone3, "enosys", None)]
    code.append((ret, results["allow"], None, None))
    labels["flags"] = len(code)
    code += [(ld_abs, 16, None, None), (jset, CLONE_NEWUSER, "deny", None), (ret, results["allow"], None, None)]
    for name in ("deny", "enosys", "kill"):
        labels[name] = len(code)
        code.append((ret, results[name], None, None))
    program = []
    for index, (op, k, true, false) in enumerate(code):
        jt = labels[true] - index - 1 if true else 0
        jf = labels[false] - index - 1 if false else 0
        assert 0 <= jt < 256 and 0 <= jf < 256
        program.append(struct.pack("=HBBI", op, jt, jf, k))
    return b"".join(program)


# --------------------------------------------------------------------------------------------
# the command


def _bwrap_command(limits: Limits, packages: tuple[str, ...], root: bool, seccomp_fd: int | None) -> list[str]:
    disk = str(limits.disk_mb * 2**20)
    command = ["bwrap", "--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    command += ["--perms", "0755", "--dir", "/etc"]
    for name in ETC_FILES:
        if os.path.exists(f"/etc/{name}"):
            command += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    command += ["--perms", "01777", "--size", disk, "--tmpfs", "/tmp"]  # before the interpreter: it may itself live under /tmp
    python, mounts, cover = _interpreter()
    made: set[str] = set()

    def parents(path: str) -> list[str]:  # folders on the way to a mount point, readable by the slot's user
        found = []
        for parent in reversed(Path(path).parents):
            if str(parent) != "/" and str(parent) not in made and not str(parent).startswith("/usr"):
                made.add(str(parent))
                found += ["--perms", "0755", "--dir", str(parent)]
        return found

    for path in mounts:
        if not path.startswith("/usr/"):
            command += [*parents(path), "--ro-bind", path, path]
    for path in cover:
        command += ["--tmpfs", path, "--remount-ro", path]
    command += [*parents(INSIDE_SITE), "--perms", "0755", "--dir", INSIDE_SITE]
    command += ["--ro-bind", str(WORKER_SOURCE), INSIDE_WORKER]
    for host, name in allowed_site(packages):
        command += ["--ro-bind", host, f"{INSIDE_SITE}/{name}"]
    command += [
        "--perms", "01777", "--size", disk, "--tmpfs", "/sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--perms", "01777", "--size", disk, "--tmpfs", "/dev/shm",
        "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--chdir", "/sandbox",
    ]
    command += ["--remount-ro", "/"]  # bubblewrap's own root (and /etc, /opt it made) read-only; the tmpfs stay writable
    if not root:
        command += ["--unshare-user", "--disable-userns"]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    return [*command, "--"]


def _environment(home: str, packages: tuple[str, ...]) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": home,
        "USER": "student",
        "LOGNAME": "student",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "LANG": "C.UTF-8",
        "RNNCOURSE_PACKAGES": ",".join(dict.fromkeys([*ALWAYS_ALLOWED, *packages])),
    }


def _prlimit(limits: Limits, own_uid: bool) -> list[str]:
    """The resource limits, set by util-linux's ``prlimit`` on the command it starts.

    The kernel counts processes per user: with a user of the slot's own (root mode) the count is the
    submission's. Without root every slot runs as the grader's user, so the limit only caps them all
    together (high enough that one slot cannot stop another from starting); the watchdog then
    enforces ``limits.processes`` per submission.
    """
    mb = 2**20
    nproc = limits.processes if own_uid else len(os.listdir("/proc")) + 8 * limits.processes
    return [
        "prlimit", f"--as={max(limits.address_space_mb, limits.memory_mb) * mb}", f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}",
        f"--nproc={nproc}", f"--fsize={limits.file_size_mb * mb}", f"--nofile={limits.open_files}",
        "--core=0", "--",
    ]


# --------------------------------------------------------------------------------------------
# watching the processes


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _process_table() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, resident pages) for every process this user can see."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                text = handle.read()
        except OSError:
            continue
        fields = text[text.rfind(b")") + 2:].split()
        try:
            table[int(entry.name)] = (int(fields[1]), int(fields[21]))
        except (IndexError, ValueError):
            continue
    return table


def descendants(pid: int) -> dict[int, int]:
    """Every process below ``pid`` (the sandbox: a double fork stays below bubblewrap's init),
    with its resident memory in bytes."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for child, (parent, _) in table.items():
        children.setdefault(parent, []).append(child)
    found, stack = {}, list(children.get(pid, []))
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found[current] = table[current][1] * _PAGE
        stack.extend(children.get(current, []))
    return found


def slot_uid(slot: int) -> int:
    """The user id of a parallel slot (root mode): its own per slot, and apart from the slots of
    another grader running on the same machine at the same time."""
    return BASE_UID + (os.getpid() % 512) * 64 + slot % 64


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    """Kill the sandbox and everything in it, and make sure nothing is left."""
    for _ in range(50):
        left = descendants(process.pid)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if process.poll() is not None and not left:
            break
        time.sleep(0.02)
    process.wait()


# --------------------------------------------------------------------------------------------
# running


class _Lines:
    """Splits what comes from the records pipe into well-formed JSON objects (linear in the input)."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []
        self.total = 0
        self.records: list[dict[str, Any]] = []

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        if b"\n" not in chunk:
            self.pending.append(chunk)
            return
        first, *lines, rest = chunk.split(b"\n")
        for line in [b"".join([*self.pending, first]), *lines]:
            try:
                record = loads_strict(line.decode("utf-8", errors="strict"))
            except (WireError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                self.records.append(record)
        self.pending = [rest] if rest else []


def _feed_stdin(pipe: Any, data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


START_ATTEMPTS = 20
#: Without a sandbox, root runs the worker as a slot user, who may not reach the grader's Python.
UNSAFE_AS_ROOT_HINT = "; without a sandbox, run the grader as an ordinary user who can run its Python"


def run_worker(
    job: Mapping[str, Any],
    step_timeouts: Mapping[str, float],
    limits: Limits,
    slot: int = 0,
    packages: Iterable[str] = (),
    wall_seconds: float | None = None,
    unsafe: bool = False,
) -> WorkerRun:
    """Run the worker on ``job`` in a fresh sandbox and watch it.

    A step that runs past its entry in ``step_timeouts``, the whole run past ``wall_seconds``
    (default ``limits.wall_seconds``), a submission over its memory budget or one that prints too
    much is killed from outside; the caller decides what to do next. Every process of the run is
    gone when this returns.

    A sandbox that cannot start for a passing reason (without root, another slot's submission may
    briefly hold the user's whole process quota) is started again after a short wait.

    Raises:
        SandboxError: no isolation is possible and ``unsafe`` is false, or the sandbox did not start.
    """
    for attempt in range(START_ATTEMPTS):
        try:
            return _run_once(job, step_timeouts, limits, slot, tuple(sorted(set(packages))), wall_seconds, unsafe)
        except SandboxError as error:
            if "temporarily unavailable" not in str(error) or attempt == START_ATTEMPTS - 1:
                raise
            time.sleep(0.5)
    raise AssertionError("unreachable")


def _run_once(
    job: Mapping[str, Any], step_timeouts: Mapping[str, float], limits: Limits, slot: int, packages: tuple[str, ...],
    wall_seconds: float | None, unsafe: bool,
) -> WorkerRun:
    mode = sandbox_mode()
    if mode == "none" and not unsafe:
        raise SandboxError(f"no sandbox: {isolation_problem()}; refusing to run student code (see --unsafe-no-sandbox)")
    root = os.geteuid() == 0
    uid = slot_uid(slot) if root else None
    seccomp = seccomp_program() if mode != "none" else None
    keep: list[int] = []
    workdir: str | None = None
    records_read, records_write = os.pipe()
    keep.append(records_write)
    seccomp_fd = None
    if seccomp is not None:
        seccomp_fd = os.memfd_create("rnncourse-seccomp", 0) if hasattr(os, "memfd_create") else None
        if seccomp_fd is not None:
            os.write(seccomp_fd, seccomp)
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
            keep.append(seccomp_fd)
    if mode == "none":
        workdir = tempfile.mkdtemp(prefix="rnncourse-unsafe-")
        command = [os.path.realpath(sys.executable), "-I", "-S", str(WORKER_SOURCE), str(records_write), _unsafe_site(packages, workdir)]
        env = _environment(workdir, packages)
        if root:
            os.chown(workdir, uid, uid)
    else:
        python = _interpreter()[0]
        command = _bwrap_command(limits, packages, root, seccomp_fd)
        if root:
            command += [
                "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            ]
        command += [python, "-I", "-S", INSIDE_WORKER, str(records_write), INSIDE_SITE]
        env = _environment("/sandbox", packages)

    start = time.monotonic()
    budget = limits.wall_seconds if wall_seconds is None else wall_seconds
    # no preexec_fn (not safe with the grader's threads): prlimit sets the limits, Popen switches the user
    switch = {"user": uid, "group": uid, "extra_groups": []} if uid is not None and mode == "none" else {}
    try:
        process = subprocess.Popen(
            [*_prlimit(limits, own_uid=uid is not None), *command], cwd=workdir or "/", env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True, pass_fds=tuple(keep), **switch,  # type: ignore[arg-type]
        )
    except OSError as error:
        for fd in [records_read, *keep]:
            os.close(fd)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        raise SandboxError(f"cannot start the worker ({error}){UNSAFE_AS_ROOT_HINT}") from None
    try:
        os.close(records_write)
        keep.remove(records_write)
        feeder = threading.Thread(target=_feed_stdin, args=(process.stdin, json.dumps(job).encode()), daemon=True)
        feeder.start()
        run = _watch(process, records_read, step_timeouts, limits, budget, start)
    finally:
        _kill_tree(process)
        for fd in [records_read, *keep]:
            try:
                os.close(fd)
            except OSError:
                pass
        if process.stdout is not None:
            process.stdout.close()
        if workdir is not None:
            subprocess.run(["rm", "-rf", "--one-file-system", workdir], capture_output=True, check=False)
    run.returncode = process.returncode
    started = [str(r["start"]) for r in run.records if "start" in r]
    ended = {str(r["end"]) for r in run.records if "end" in r}
    run.in_flight = next((step for step in reversed(started) if step not in ended), None)
    run.done = any(r.get("done") is True for r in run.records)
    run.seconds = time.monotonic() - start
    if not run.records and run.killed is None and run.returncode != 0:
        # the worker never started a step: the sandbox itself failed, not the student's code
        hint = UNSAFE_AS_ROOT_HINT if mode == "none" else ""
        raise SandboxError(f"the sandbox did not start (exit code {run.returncode}): {run.output_tail.strip()[-1500:]}{hint}")
    return run


def _unsafe_site(packages: tuple[str, ...], workdir: str) -> str:
    """Without a sandbox the allowed packages are linked into a folder of the run's own."""
    site = os.path.join(workdir, ".site")
    os.mkdir(site)
    for host, name in allowed_site(packages):
        os.symlink(host, os.path.join(site, name))
    return site


def _watch(
    process: subprocess.Popen[bytes], records_fd: int, step_timeouts: Mapping[str, float],
    limits: Limits, budget: float, start: float,
) -> WorkerRun:
    run = WorkerRun()
    lines = _Lines()
    assert process.stdout is not None
    output_fd = process.stdout.fileno()
    os.set_blocking(records_fd, False)
    os.set_blocking(output_fd, False)
    selector = selectors.DefaultSelector()
    selector.register(records_fd, selectors.EVENT_READ, "records")
    selector.register(output_fd, selectors.EVENT_READ, "output")
    output_total, tail = 0, b""
    current: str | None = None
    current_since = start
    last_memory_check = 0.0
    open_pipes = 2
    try:
        while True:
            for key, _ in selector.select(timeout=0.05):
                try:
                    chunk = os.read(key.fd, 1 << 16)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fd)
                    open_pipes -= 1
                    continue
                if key.data == "records":
                    lines.feed(chunk)
                    if lines.total > MAX_RECORD_BYTES:
                        run.killed = "output"
                else:
                    output_total += len(chunk)
                    tail = (tail + chunk)[-OUTPUT_TAIL:]
                    if output_total > limits.output_mb * 2**20:
                        run.killed = "output"
            for record in lines.records[len(run.records):]:
                run.records.append(record)
                if "start" in record:
                    current, current_since = str(record["start"]), time.monotonic()
                elif "end" in record and str(record["end"]) == current:
                    current = None
            now = time.monotonic()
            if process.poll() is not None and (open_pipes == 0 or now - start > budget):
                break
            if process.poll() is not None:
                continue  # drain what is left in the pipes
            if now - last_memory_check > 0.1:
                last_memory_check = now
                inside = descendants(process.pid)
                resident = sum(inside.values())
                run.peak_memory_mb = max(run.peak_memory_mb, resident / 2**20)
                if resident > limits.memory_mb * 2**20:
                    run.killed = "memory"
                elif len(inside) > limits.processes + 4:  # bubblewrap's own processes, prlimit and setpriv
                    run.killed = "processes"
            if current is not None and now - current_since > step_timeouts.get(current, budget):
                run.killed = "step timeout"
            elif now - start > budget:
                run.killed = "wall time"
            if run.killed:
                break
    finally:
        selector.close()
        run.output_tail = tail.decode(errors="replace")
    return run
