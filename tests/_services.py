"""Throw-away servers on loopback for the grading-at-scale tests and benchmarks: a Dask cluster (a scheduler and
worker processes) and a PostgreSQL cluster. Each is a context manager that starts the server on a free port and
stops it, whatever happens; ``ServiceUnavailable`` says why one cannot be started here."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from signal import SIGKILL, SIGTERM


class ServiceUnavailable(RuntimeError):
    """The service cannot run on this machine (the message says why)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class DaskCluster:
    address: str
    workers: list[subprocess.Popen] = field(default_factory=list)


def _stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, SIGKILL)
            process.wait()


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, threads: int = 1) -> Iterator[DaskCluster]:
    """A Dask scheduler and ``workers`` worker processes (no nanny: a killed worker stays dead) on loopback."""
    try:
        from distributed import Client
    except ImportError as error:
        raise ServiceUnavailable('dask[distributed] is not installed') from error
    dask = Path(sys.executable).parent / "dask"
    folder.mkdir(parents=True, exist_ok=True)

    def start(*args: str, log: str) -> subprocess.Popen:
        return subprocess.Popen([str(dask), *args], stdout=(folder / log).open("w"), stderr=subprocess.STDOUT,
                                start_new_session=True)

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard", log="scheduler.log")]
    try:
        processes += [
            start("worker", address, "--host", "127.0.0.1", "--nthreads", str(threads), "--no-nanny", "--no-dashboard",
                  "--name", f"w{i}", "--local-directory", str(folder / f"w{i}"), log=f"worker{i}.log")
            for i in range(workers)
        ]
        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(workers, timeout=5)
                break
            except Exception as error:
                if time.monotonic() > deadline:
                    logs = "\n".join(p.read_text(errors="replace") for p in folder.glob("*.log"))
                    raise RuntimeError(f"the local Dask cluster did not start:\n{logs[-3000:]}") from error
                time.sleep(0.5)
        yield DaskCluster(address, processes[1:])
    finally:
        _stop(processes)


def postgres_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@contextmanager
def postgres_server() -> Iterator[str]:
    """A throw-away PostgreSQL cluster on a free loopback port with an empty database; yields its SQLAlchemy URL.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user Debian's package makes."""
    try:
        import psycopg2  # noqa: F401
    except ImportError as error:
        raise ServiceUnavailable("psycopg2 is not installed (requirements-test.txt)") from error
    bindir = postgres_bin()
    if bindir is None:
        raise ServiceUnavailable("no PostgreSQL server here: install Debian's postgresql package (make env does, as root)")
    as_user: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as error:
            raise ServiceUnavailable("running as root and there is no 'postgres' user to run the server as") from error
        as_user = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="rnncourse-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if owner is not None:
        for path in (base, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()

    def run(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run([*as_user, *command], capture_output=True, text=True, timeout=120, cwd=base)

    try:
        init = run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        if init.returncode:
            raise RuntimeError(f"initdb failed: {init.stderr}")
        start = run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "server.log"), "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        if start.returncode:
            raise RuntimeError(f"PostgreSQL did not start: {start.stderr}{(base / 'server.log').read_text(errors='replace')}")
        try:
            created = run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "gradebook")
            if created.returncode:
                raise RuntimeError(f"createdb failed: {created.stderr}")
            yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/gradebook"
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(base, ignore_errors=True)
