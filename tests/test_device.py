import numpy as np
import pytest
import torch

import rnncourse
from rnncourse.devices import DEVICE_ENV_VAR


def test_default_device_is_cuda_when_available(monkeypatch):
    monkeypatch.delenv(DEVICE_ENV_VAR, raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    got = rnncourse.device()
    if expected:
        assert got.type == expected
    else:
        assert got.type in {"mps", "cpu"}


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cpu")
    assert rnncourse.device() == torch.device("cpu")


def test_argument_beats_environment(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "meta")
    assert rnncourse.device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present: the request is valid here")
def test_unavailable_cuda_request_is_refused(monkeypatch):
    monkeypatch.setenv(DEVICE_ENV_VAR, "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        rnncourse.device()


def test_available_devices_start_with_cpu():
    devices = rnncourse.available_devices()
    assert devices[0] == torch.device("cpu")
    assert (torch.device("cuda") in devices) == torch.cuda.is_available()


def test_seed_everything_repeats_all_generators():
    def draw():
        g = rnncourse.seed_everything(7)
        return np.random.rand(3), torch.rand(3), g.standard_normal(3)

    first, second = draw(), draw()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    rnncourse.seed_everything(8)
    assert not np.array_equal(np.random.rand(3), first[0])
