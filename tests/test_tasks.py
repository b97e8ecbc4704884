"""Long-lag tasks (chapter 3): the adding problem, the copy task, their baselines and success criteria, and
the long-lag experiment with its committed results."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from _notebooks import ROOT

from rnncourse.experiments.long_lag import (
    FULL,
    MODELS,
    SETTINGS,
    LongLagNet,
    Task,
    feasible_length,
    main,
    recurrent_layer,
    train_one,
)
from rnncourse.tasks import (
    ADDING_CHANCE_MSE,
    ADDING_SUCCESS_MSE,
    COPY_SUCCESS_ACCURACY,
    adding_chance_mse,
    adding_problem,
    chance,
    copy_chance,
    copy_task,
    success,
    success_criterion,
)


@pytest.mark.parametrize("length", [2, 7, 50])
def test_adding_problem_marks_one_value_in_each_half_and_adds_them(length: int, device: torch.device) -> None:
    x, y = adding_problem(length, 300, np.random.default_rng(0), device=device)
    assert x.shape == (length, 300, 2) and y.shape == (300,)
    assert x.dtype == y.dtype == torch.float32 and x.device.type == y.device.type == device.type
    x, y = x.cpu(), y.cpu()
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) <= {0.0, 1.0}
    half = length // 2
    assert (markers[:half].sum(0) == 1).all() and (markers[half:].sum(0) == 1).all()
    torch.testing.assert_close(y, (values * markers).sum(0))


def test_the_markers_cover_each_half() -> None:
    x, _ = adding_problem(10, 2000, np.random.default_rng(1))
    steps = x[..., 1].nonzero()[:, 0]
    assert set(steps.tolist()) == set(range(10))


def test_predicting_one_scores_the_chance_mse_of_one_sixth() -> None:
    assert ADDING_CHANCE_MSE == pytest.approx(2 / 12)
    samples = 200_000
    measured = adding_chance_mse(20, np.random.default_rng(2), samples)
    standard_error = math.sqrt(1 / 15 - 1 / 36) / math.sqrt(samples)  # see adding_chance_mse
    assert abs(measured - 1 / 6) < 4 * standard_error
    # 1 is the best constant: the targets' mean
    _, y = adding_problem(20, samples, np.random.default_rng(3))
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)


def test_the_adding_criterion_needs_both_values() -> None:
    x, y = adding_problem(40, 50_000, np.random.default_rng(4))
    values, markers = x[..., 0], x[..., 1]
    second_only = (values[20:] * markers[20:]).sum(0) + 0.5  # knows the nearer value, guesses the other
    mse = float(((second_only - y) ** 2).mean())
    assert mse == pytest.approx(1 / 12, rel=0.05)
    assert not success("adding", mse) and not success("adding", ADDING_CHANCE_MSE)
    assert success("adding", 0.5 * ADDING_SUCCESS_MSE) and not success("adding", ADDING_SUCCESS_MSE)


@pytest.mark.parametrize("symbols, alphabet", [(1, 8), (3, 4)])
@pytest.mark.parametrize("positions", ["random", "start"])
def test_copy_task_layout(symbols: int, alphabet: int, positions: str, device: torch.device) -> None:
    T, B = 12, 200
    x, y = copy_task(T, B, np.random.default_rng(5), symbols, alphabet, positions, device=device)
    assert x.shape == (T, B, alphabet + 2) and y.shape == (symbols, B)
    assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.device.type == device.type
    x, y = x.cpu(), y.cpu()
    assert (x.sum(-1) == 1).all(), "one-hot"
    codes = x.argmax(-1)
    blank, go = alphabet, alphabet + 1
    assert (codes[T - symbols - 1] == go).all() and (codes[T - symbols:] == blank).all()
    before = codes[: T - symbols - 1]
    assert ((before < alphabet).sum(0) == symbols).all() and not (before == go).any()
    for b in range(B):
        shown = before[:, b][before[:, b] < alphabet]
        assert torch.equal(shown, y[:, b]), "the symbols, in the order they came"
    if positions == "start":
        assert torch.equal(before[:symbols], y)


def test_copy_task_spreads_the_lags_from_short_to_long() -> None:
    T = 30
    x, _ = copy_task(T, 3000, np.random.default_rng(6), symbols=1)
    lags = (T - 1) - x[:, :, :8].sum(-1).nonzero()[:, 0]
    assert lags.min() == 2 and lags.max() == T - 1


def test_copy_chance_is_a_uniform_guess() -> None:
    assert copy_chance(8) == {"cross_entropy": pytest.approx(math.log(8)), "accuracy": 1 / 8}
    assert chance("copy", 4)["accuracy"] == 0.25 and chance("adding") == {"mse": ADDING_CHANCE_MSE}
    _, y = copy_task(20, 40_000, np.random.default_rng(7), symbols=1, alphabet=8)
    frequencies = np.bincount(y.flatten().numpy(), minlength=8) / y.numel()
    assert np.abs(frequencies - 1 / 8).max() < 0.01, "no symbol is a better blind guess than another"
    uniform = torch.full((y.numel(), 8), 0.0)
    assert float(torch.nn.functional.cross_entropy(uniform, y.flatten())) == pytest.approx(math.log(8))


def test_the_copy_criterion() -> None:
    assert success("copy", COPY_SUCCESS_ACCURACY) and success("copy", 1.0)
    assert not success("copy", 0.98) and not success("copy", 1 / 8)
    # remembering the symbol through half of the lags is not enough
    assert not success("copy", 0.5 + 0.5 / 8)
    assert not success("copy", float("nan")) and not success("adding", float("nan"))
    for task in ("adding", "copy"):
        rule = success_criterion(task)
        assert set(rule) == {"metric", "better", "threshold", "why"}
    with pytest.raises(ValueError):
        success_criterion("parity")


def test_the_tasks_are_reproducible_and_check_their_arguments() -> None:
    for make in (lambda rng: adding_problem(30, 4, rng), lambda rng: copy_task(30, 4, rng)):
        a, b, c = make(np.random.default_rng(8)), make(np.random.default_rng(8)), make(np.random.default_rng(9))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0])
    rng = np.random.default_rng(0)
    for call in (lambda: adding_problem(1, 4, rng), lambda: adding_problem(10, 0, rng),
                 lambda: copy_task(6, 4, rng, symbols=3), lambda: copy_task(10, 4, rng, alphabet=1),
                 lambda: copy_task(10, 4, rng, positions="end")):
        with pytest.raises(ValueError):
            call()


@pytest.mark.parametrize("kind", MODELS)
@pytest.mark.parametrize("task_name", ["adding", "copy"])
def test_the_networks_read_out_the_last_steps(kind: str, task_name: str) -> None:
    task = Task(task_name, 15, {**SETTINGS, "copy_symbols": 2})
    model = LongLagNet(kind, task.input_size, 8, task.output_size)
    x, y = task.batch(5, np.random.default_rng(0), None)
    scores = model(x, task.last)
    assert scores.shape == (task.last, 5, task.output_size)
    assert task.loss(scores, y).shape == ()
    metric = task.score(model, x, y, chunk=2)
    assert (0 <= metric <= 1) if task_name == "copy" else metric >= 0
    with pytest.raises(ValueError):
        recurrent_layer("transformer", 2, 8)
    with pytest.raises(ValueError):
        recurrent_layer(kind, 2, 8, impl="keras")


def test_the_course_layers_are_a_drop_in_replacement() -> None:
    import rnncourse

    if not hasattr(rnncourse, "LSTM"):
        pytest.skip("rnncourse.RNN/LSTM/GRU are not there yet")
    x, _ = adding_problem(12, 3, np.random.default_rng(0))
    for kind in MODELS:
        theirs, ours = LongLagNet(kind, 2, 8, 1), LongLagNet(kind, 2, 8, 1, impl="rnncourse")
        ours.load_state_dict(theirs.state_dict())
        torch.testing.assert_close(ours(x), theirs(x))


def test_a_run_stops_once_solved_on_the_held_out_set() -> None:
    torch.set_num_threads(1)
    config = {**SETTINGS, "steps": 300, "check_every": 10, "check_size": 200, "test_size": 200}
    record = train_one("copy", "gru", 5, 0, config)
    assert record["stopped_early"] and record["steps"] < 300 and record["steps"] % 10 == 0
    assert record["success"] and record["metric"] >= COPY_SUCCESS_ACCURACY and record["trained"]


def test_feasible_length_is_the_last_length_of_an_unbroken_majority() -> None:
    lengths = [10, 20, 50, 100]
    assert feasible_length([3, 2, 1, 3], lengths, 3) == 20
    assert feasible_length([3, 3, 3, 3], lengths, 3) == 100
    assert feasible_length([1, 3, 3, 3], lengths, 3) is None


def test_the_experiment_runs_tiny_and_writes_what_the_committed_run_has(tmp_path) -> None:
    out = tmp_path / "long_lag.json"
    assert main(["--tiny", "--out", str(out), "--no-progress"]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True and results["experiment"] == "long-lag"
    assert {"config", "tasks", "models", "lengths", "successes", "feasible_length", "claim", "runs"} <= set(results)
    config = results["config"]
    for setting in ("steps", "batch_size", "lr", "max_norm", "hidden_size", "optimizer", "check_every", "impl"):
        assert setting in config
    lengths, seeds = results["lengths"], config["seeds"]
    assert len(results["runs"]) == 2 * len(MODELS) * len(lengths) * seeds
    for run in results["runs"]:
        assert {"task", "model", "T", "seed", "success", "metric", "steps", "seconds", "trained"} <= set(run)
        assert run["steps"] <= config["steps"]
    assert results["successes"]["adding"]["lstm"] == [
        sum(r["success"] for r in results["runs"] if (r["task"], r["model"], r["T"]) == ("adding", "lstm", T))
        for T in lengths]

    committed_path = ROOT / "experiments" / "results" / "long_lag.json"
    if committed_path.is_file():
        committed = json.loads(committed_path.read_text())
        assert set(committed) == set(results), "a tiny run writes the same keys as the committed full run"
        assert committed["tiny"] is False and committed["lengths"] == FULL["lengths"]
        assert max(committed["lengths"]) >= 1000 and committed["config"]["seeds"] >= 3
        assert committed_path.stat().st_size < 100_000
