"""Experiments too slow for a book page: training over seeds, sweeps, the character model.

Each experiment is a module here with a ``main(argv)`` that writes a small JSON file of results to
``experiments/results/<name>.json`` (committed, so the book plots it without re-running anything).
Run one with ``rnncourse experiment NAME`` or ``python experiments/NAME.py`` from the repository root;
``--tiny`` runs it at a size that takes seconds (the tests do this), ``--out FILE`` writes elsewhere.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

__all__ = ["EXPERIMENTS", "load_results", "parser", "results_path", "run", "write_results"]

#: experiment name (as on the command line) -> module under rnncourse.experiments
EXPERIMENTS: dict[str, str] = {
    "binary-addition": "rnncourse.experiments.binary_addition",
    "char-model": "rnncourse.experiments.char_model",
    "esn-init": "rnncourse.experiments.esn_init",
    "esn-sweep": "rnncourse.experiments.esn_sweep",
    "long-lag": "rnncourse.experiments.long_lag",
    "seq2seq": "rnncourse.experiments.seq2seq",
    "teacher-forcing": "rnncourse.experiments.teacher_forcing",
    "truncation": "rnncourse.experiments.truncation",
}

RESULTS_DIR = Path("experiments") / "results"


# the student wheel carries a copy of the committed results here (see _ext/student_dist.py)
PACKAGED_RESULTS = Path(__file__).resolve().parent / "results"


def results_path(name: str, root: Path | None = None) -> Path:
    """Where experiment ``name`` keeps its committed results: ``experiments/results/`` in the repository, or,
    for a package installed from the student wheel (no repository around it), the copy inside the package."""
    filename = f"{name.replace('-', '_')}.json"
    if root is None:
        root = Path(__file__).resolve().parents[2]
        if not (root / RESULTS_DIR / filename).is_file() and (PACKAGED_RESULTS / filename).is_file():
            return PACKAGED_RESULTS / filename
    return root / RESULTS_DIR / filename


def load_results(name: str, root: Path | None = None) -> dict[str, Any]:
    """The committed results of experiment ``name`` (as the book reads them)."""
    path = results_path(name, root)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: regenerate it with `rnncourse experiment {name}`")
    return json.loads(path.read_text())


def parser(name: str, description: str) -> argparse.ArgumentParser:
    """The arguments every experiment takes: ``--tiny``, ``--out``, ``--device``, ``--seeds``."""
    p = argparse.ArgumentParser(prog=f"rnncourse experiment {name}", description=description)
    p.add_argument("--tiny", action="store_true", help="a few seconds' worth, to check the script runs")
    p.add_argument("--out", type=Path, help=f"results file (default: {RESULTS_DIR}/{name.replace('-', '_')}.json)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu: the committed results are CPU runs)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help="show progress bars")
    return p


def write_results(name: str, args: argparse.Namespace, results: dict[str, Any], started: float) -> Path:
    """Write ``results`` with the facts needed to reproduce them; return the path."""
    import numpy as np
    import torch

    out = args.out or results_path(name, Path.cwd())
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "experiment": name,
        "command": f"rnncourse experiment {name}" + (" --tiny" if args.tiny else ""),
        "tiny": bool(args.tiny),
        "seconds": round(time.perf_counter() - started, 1),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "device": str(args.device),
        **results,
    }
    out.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"wrote {out} ({record['seconds']} s)")
    return out


def run(name: str, argv: Sequence[str]) -> int:
    if name not in EXPERIMENTS:
        raise SystemExit(f"unknown experiment {name!r}; there are: {', '.join(sorted(EXPERIMENTS))}")
    return int(import_module(EXPERIMENTS[name]).main(list(argv)))
