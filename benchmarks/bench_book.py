"""Print how long the book takes to build (cold, then cached) and how long each solution notebook runs on the CPU.

Run with `make bench` (or `.venv/bin/python benchmarks/bench_book.py`). Numbers, not assertions:
compare them with earlier runs on the same machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


# issue 11's targets on 2 CPU cores
COLD_TARGET_S = 300.0
REBUILD_TARGET_S = 15.0


def build_book(output: Path) -> tuple[float, list[str]]:
    """Build the whole book into ``output``; return the wall time and myst-nb's per-page execution lines."""
    start = time.perf_counter()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--path-output", str(output), "--warningiserror"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    elapsed = time.perf_counter() - start
    executed = [line.strip() for line in result.stdout.splitlines() if "Executed notebook" in line or "Executing notebook" in line]
    return elapsed, executed


def run_notebook(path: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main() -> None:
    os.environ.setdefault("RNNCOURSE_DEVICE", "cpu")
    print(f"machine: {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory(prefix="rnncourse-bench-") as tmp:
        cold, executed = build_book(Path(tmp))
        cached, _ = build_book(Path(tmp))
    for line in executed:
        print("  " + line)
    print(f"book build, cold (executes every chapter): {cold:7.1f} s  (target {COLD_TARGET_S:.0f} s)")
    print(f"book build, rebuild with no change:        {cached:7.1f} s  (target {REBUILD_TARGET_S:.0f} s)")
    if "--build-only" in sys.argv:
        return
    for path in sorted((ROOT / "solutions").glob("*/*.ipynb")):
        print(f"solution notebook {path.relative_to(ROOT)}: {run_notebook(path):6.1f} s on CPU")


if __name__ == "__main__":
    main()
