"""Where tensors live, and how to make runs repeatable.

The course code never hard-codes CUDA: every model takes a ``device`` argument and
:func:`device` picks the best one available, so the same notebook runs on a laptop CPU,
an Apple GPU (MPS) or an NVIDIA GPU.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

#: Environment variable that overrides :func:`device` (``cpu``, ``cuda``, ``cuda:1``, ``mps``).
DEVICE_ENV_VAR = "RNNCOURSE_DEVICE"


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device(preferred: str | None = None) -> torch.device:
    """Return the device the course should compute on.

    Order of choice: the ``preferred`` argument, then the ``RNNCOURSE_DEVICE``
    environment variable, then CUDA, then Apple MPS, then the CPU.

    Raises:
        RuntimeError: if a device was asked for explicitly but is not available here.
    """
    requested = preferred or os.environ.get(DEVICE_ENV_VAR, "").strip() or None
    if requested is not None:
        chosen = torch.device(requested)
        if chosen.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {requested!r} was requested but CUDA is not available")
        if chosen.type == "mps" and not _mps_available():
            raise RuntimeError(f"device {requested!r} was requested but Apple MPS is not available")
        return chosen
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def available_devices() -> list[torch.device]:
    """Every device this machine can compute on: the CPU always, then CUDA and MPS if present."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found.append(torch.device("cuda"))
    if _mps_available():
        found.append(torch.device("mps"))
    return found


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and PyTorch's generators (all devices) and return a fresh NumPy ``Generator``.

    Prefer the returned generator for new NumPy code: it does not depend on global state.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
