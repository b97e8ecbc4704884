from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnncourse import available_devices

from _notebooks import HTML, ROOT


@pytest.fixture(params=[str(d) for d in available_devices()])
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every device this machine has: the CPU always, CUDA or MPS when present."""
    return torch.device(request.param)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book as `make book` does, into a fresh _build/html (execution is cached, so this is quick)."""
    shutil.rmtree(HTML, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--warningiserror", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return HTML
