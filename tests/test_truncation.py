"""Truncated BPTT (chapter 2): the lagged-bit stream, the network that carries its state across chunks, and
the truncation experiment with its committed results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnncourse.experiments import load_results
from rnncourse.experiments.truncation import Recaller, _tensors, main, stream_accuracy
from rnncourse.sequences import lagged_bit_stream


@pytest.mark.parametrize("lag", [1, 5])
def test_lagged_bit_stream_targets_are_the_bits_lag_steps_back(lag: int) -> None:
    x, y = lagged_bit_stream(1000, lag, np.random.default_rng(0), batch_size=4)
    assert x.shape == y.shape == (1000, 4)
    assert set(np.unique(x)) == {0, 1} and set(np.unique(y)) == {0, 1}
    np.testing.assert_array_equal(y[lag:], x[:-lag])
    assert 0.45 < x.mean() < 0.55  # fair bits
    # the streams are independent of each other and nothing but the lag predicts the target
    assert not np.array_equal(x[:, 0], x[:, 1])
    assert abs(np.mean(x[lag:] == y[lag:]) - 0.5) < 0.05


def test_lagged_bit_stream_is_reproducible_and_checks_its_arguments() -> None:
    a = lagged_bit_stream(50, 3, np.random.default_rng(1), 2)
    b = lagged_bit_stream(50, 3, np.random.default_rng(1), 2)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for bad in ({"lag": 0}, {"length": 0}, {"batch_size": 0}):
        arguments = {"length": 10, "lag": 2, "rng": np.random.default_rng(0), "batch_size": 1, **bad}
        with pytest.raises(ValueError):
            lagged_bit_stream(**arguments)


def test_carrying_the_state_across_chunks_is_one_long_run() -> None:
    torch.manual_seed(0)
    model = Recaller(8)
    x, _ = _tensors(*lagged_bit_stream(60, 2, np.random.default_rng(2), 3))
    with torch.no_grad():
        whole, _ = model(x)
        pieces, state = [], None
        for start in range(0, 60, 7):
            o, state = model(x[start : start + 7], state)
            pieces.append(o)
    assert whole.shape == (60, 3) and state.shape == (1, 3, 8)
    torch.testing.assert_close(torch.cat(pieces), whole)


def test_stream_accuracy_skips_the_unknowable_first_targets_and_scores_blocks() -> None:
    model = Recaller(4)
    x, y = _tensors(*lagged_bit_stream(100, 3, np.random.default_rng(3), 2))
    with torch.no_grad():
        o, _ = model(x)
    correct = ((o > 0).float() == y).float()
    assert stream_accuracy(model, x, y, 3) == pytest.approx(float(correct[3:].mean()))
    blocks = stream_accuracy(model, x, y, 3, block=25)
    assert len(blocks) == 4
    assert blocks[0] == pytest.approx(float(correct[3:25].mean()))
    assert blocks[3] == pytest.approx(float(correct[75:].mean()))


RUN_KEYS = {"window", "lag", "seed", "final_loss", "diverged", "accuracy", "accuracy_during"}
TOP_KEYS = {"experiment", "command", "tiny", "seconds", "config", "chance", "windows", "lags", "accuracy",
            "accuracy_min", "peak_accuracy", "learned", "learnable", "runs", "long_stream"}


def _check_consistent(results: dict) -> None:
    assert TOP_KEYS <= set(results)
    config, windows, lags = results["config"], results["windows"], results["lags"]
    assert results["chance"] == 0.5
    assert len(results["runs"]) == len(windows) * len(lags) * config["seeds"]
    for name in ("accuracy", "accuracy_min", "peak_accuracy", "learned", "learnable"):
        assert np.shape(results[name]) == (len(windows), len(lags)), name
    for i, window in enumerate(windows):
        for j, lag in enumerate(lags):
            runs = [r for r in results["runs"] if r["window"] == window and r["lag"] == lag]
            assert len(runs) == config["seeds"] and RUN_KEYS <= set(runs[0])
            scores = [r["accuracy"] for r in runs]
            assert results["accuracy"][i][j] == pytest.approx(np.mean(scores), abs=1e-5)
            assert results["accuracy_min"][i][j] == pytest.approx(min(scores), abs=1e-5)
            assert results["peak_accuracy"][i][j] >= results["accuracy"][i][j] - 1e-5
            assert results["learned"][i][j] == (min(scores) >= config["learned_threshold"])
            assert results["learnable"][i][j] == (lag < window)
            assert all(len(r["accuracy_during"]) == len(config["checkpoints"]) for r in runs)
    long = results["long_stream"]
    assert len(long["block_accuracy"]) == -(-long["length"] // long["block"])


def test_tiny_experiment_runs_and_writes_its_results(tmp_path) -> None:
    out = tmp_path / "truncation.json"
    assert main(["--tiny", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True and results["experiment"] == "truncation"
    _check_consistent(results)
    assert set(results) == set(load_results("truncation")), "a tiny run writes the keys of the full run"


def test_committed_results_are_a_full_run_and_show_the_window() -> None:
    results = load_results("truncation")
    assert results["tiny"] is False and results["command"] == "rnncourse experiment truncation"
    assert results["config"]["seeds"] >= 3
    _check_consistent(results)
    threshold = results["config"]["learned_threshold"]
    for i, window in enumerate(results["windows"]):
        for j, lag in enumerate(results["lags"]):
            if lag < window:  # what the window can see is learned, by every seed
                assert results["learned"][i][j], (window, lag)
            elif window > 1:  # what it cannot see is not (a single-step window can bootstrap a short memory)
                assert not results["learned"][i][j], (window, lag)
                assert results["accuracy"][i][j] < threshold, (window, lag)
    # the carried state keeps working on a stream thousands of windows long
    long = results["long_stream"]
    assert long["lag"] < long["window"] and long["length"] >= 1000 * long["window"]
    assert min(long["block_accuracy"]) >= threshold
