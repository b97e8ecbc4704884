from __future__ import annotations


import pytest
import torch

from rnncourse import available_devices

from _notebooks import ROOT  # noqa: F401 (re-exported for tests)


@pytest.fixture(params=[str(d) for d in available_devices()])
def device(request: pytest.FixtureRequest) -> torch.device:
    """Every device this machine has: the CPU always, CUDA or MPS when present."""
    return torch.device(request.param)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(1234)
