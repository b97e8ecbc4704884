"""Binary addition (chapter 2): the data is Python's integer addition, the automaton adds, the network has
the lecture's shape, a hand-wired network realises the automaton, k-means finds planted clusters, and the
experiment and its committed results hang together."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnncourse.binary_addition import (
    AUTOMATON_STATES,
    BinaryAdder,
    automaton_states,
    automaton_step,
    automaton_table,
    binary_addition_batch,
    bits_to_int,
    cluster_states,
    evaluate,
    input_bits,
    int_to_bits,
    learned_automaton,
    pure_clustering,
)
from rnncourse.experiments import load_results
from rnncourse.experiments.binary_addition import main


def _decode(x: torch.Tensor, y: torch.Tensor, delay: int) -> list[tuple[int, int, int]]:
    """(a, b, printed sum) for every addition of a batch."""
    bits = input_bits(x)
    return [(bits_to_int(bits[:, j, 0]), bits_to_int(bits[:, j, 1]), bits_to_int(y[delay:, j])) for j in range(x.shape[1])]


def test_int_bits_round_trip_is_exact_for_long_numbers() -> None:
    assert int_to_bits(6, 4) == [0, 1, 1, 0]
    rng = np.random.default_rng(0)
    for bits in (1, 8, 32, 100):
        for _ in range(20):
            value = int.from_bytes(rng.bytes(16), "little") % (1 << bits)
            assert bits_to_int(int_to_bits(value, bits)) == value
    assert bits_to_int(int_to_bits(2**100 - 1, 100)) == 2**100 - 1
    with pytest.raises(ValueError):
        int_to_bits(16, 4)
    with pytest.raises(ValueError):
        int_to_bits(-1, 4)


@pytest.mark.parametrize("delay", [0, 1])
@pytest.mark.parametrize("centred", [True, False])
@pytest.mark.parametrize("bits", [8, 32])
def test_batches_are_python_integer_addition_least_significant_bit_first(delay: int, centred: bool, bits: int) -> None:
    x, y = binary_addition_batch(np.random.default_rng(1), 200, bits, delay=delay, centred=centred)
    assert x.shape == (bits + 1 + delay, 200, 2) and y.shape == (bits + 1 + delay, 200)
    assert x.dtype == torch.float32 and y.dtype == torch.float32
    assert set(x.unique().tolist()) == ({-1.0, 1.0} if centred else {0.0, 1.0})
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    assert torch.all(y[:delay] == 0)
    assert np.all(input_bits(x)[bits:] == 0)  # the numbers end before the final carry is printed
    sums = _decode(x, y, delay)
    assert all(a + b == total for a, b, total in sums)
    assert all(a < 2**bits and b < 2**bits for a, b, _ in sums)
    assert any(total >= 2**bits for _, _, total in sums)  # some sums need the last step
    # fair bits: the numbers are not stuck on a few values
    assert len({a for a, _, _ in sums}) > 100


def test_explicit_operands_and_a_carry_that_runs_through_every_column() -> None:
    x, y = binary_addition_batch(np.random.default_rng(0), 3, 8, operands=([255, 6, 0], [1, 3, 0]))
    assert _decode(x, y, 0) == [(255, 1, 256), (6, 3, 9), (0, 0, 0)]
    assert y[:, 0].tolist() == [0.0] * 8 + [1.0]  # 255 + 1: the carry ripples up to the ninth bit
    with pytest.raises(ValueError):
        binary_addition_batch(np.random.default_rng(0), 2, 8, operands=([1], [2]))


def test_the_automaton_adds_long_numbers() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        a, b = (int.from_bytes(rng.bytes(8), "little") for _ in range(2))
        state, printed = 0, []
        for column in zip(int_to_bits(a, 65), int_to_bits(b, 65)):
            state, bit = automaton_step(state, column)
            assert bit == AUTOMATON_STATES[state][1]  # the node remembers what it printed
            printed.append(bit)
        assert bits_to_int(printed) == a + b


def test_automaton_states_follow_the_carry_and_print_the_sum() -> None:
    x, y = binary_addition_batch(np.random.default_rng(3), 100, 16)
    states = automaton_states(x)
    assert states.shape == y.shape
    np.testing.assert_array_equal(states % 2, y.numpy())
    table = automaton_table()
    assert table.shape == (4, 4)
    # the next node depends on the carry only, not on the bit printed last
    np.testing.assert_array_equal(table[0], table[1])
    np.testing.assert_array_equal(table[2], table[3])
    assert table[0].tolist() != table[2].tolist()


def test_model_shapes_and_parameters(device: torch.device) -> None:
    model = BinaryAdder(device=device)
    x, _ = binary_addition_batch(np.random.default_rng(0), 5, 8)
    o, h = model(x.to(device))
    assert o.shape == (9, 5) and h.shape == (9, 5, 3)
    assert o.device.type == device.type
    assert model.rnn.weight_hh_l0.shape == (3, 3)  # W
    assert model.rnn.weight_ih_l0.shape == (3, 2)  # U
    assert model.readout.weight.shape == (1, 3)  # V
    assert torch.all(h.abs() < 1)
    score = evaluate(model, np.random.default_rng(0), 8, 20)
    assert set(score) == {"bit_accuracy", "sum_accuracy"} and 0 <= score["sum_accuracy"] <= score["bit_accuracy"] <= 1


def _hand_wired(gain: float = 10.0) -> BinaryAdder:
    """The thermometer solution of the BinaryAdder docstring: unit j says s >= j, s = a + b + carry."""
    model = BinaryAdder()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        # pre-activation of unit j: gain * (a + b + carry - j + 1/4) with a = (u_a + 1) / 2, carry = (h_2 + 1) / 2
        model.rnn.weight_ih_l0.fill_(gain / 2)
        model.rnn.weight_hh_l0[:, 1] = gain / 2
        model.rnn.bias_ih_l0.copy_(gain * (1.75 - torch.arange(1.0, 4.0)))
        model.readout.weight.copy_(torch.tensor([[1.0, -1.0, 1.0]]) * gain / 2)  # parity = t1 - t2 + t3
    return model


def test_a_hand_wired_three_unit_network_is_the_automaton() -> None:
    model = _hand_wired()
    score = evaluate(model, np.random.default_rng(4), 64, 300)
    assert score == {"bit_accuracy": 1.0, "sum_accuracy": 1.0}
    assert model.add(2**40 - 1, 1, 41) == 2**40
    x, _ = binary_addition_batch(np.random.default_rng(5), 100, 32)
    with torch.no_grad():
        _, hidden = model(x)
    learned = learned_automaton(hidden, x, rng=np.random.default_rng(0))
    assert learned.purity == 1.0 and learned.table_agreement == 1.0 and learned.transition_agreement == 1.0
    assert sorted(learned.cluster_to_state.tolist()) == [0, 1, 2, 3]
    # in the nodes' own numbering the learned table is the automaton's
    relabel = np.argsort(learned.cluster_to_state)
    np.testing.assert_array_equal(learned.cluster_to_state[learned.table[relabel]], automaton_table())
    found = pure_clustering(hidden, x, rng=np.random.default_rng(0))
    assert found is not None and found.k == 4


def test_a_network_without_memory_is_not_the_automaton() -> None:
    x, _ = binary_addition_batch(np.random.default_rng(6), 100, 16)
    bits = input_bits(x)
    # states that code the current column only (as a feed-forward net would): the carry is lost
    corners = np.array([[-1, -1, -1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=float)
    hidden = corners[2 * bits[..., 0] + bits[..., 1]] + 0.01 * np.random.default_rng(0).standard_normal((*bits.shape[:2], 3))
    learned = learned_automaton(hidden, x, rng=np.random.default_rng(0))
    assert learned.purity < 0.9 and learned.transition_agreement < 0.9


def test_cluster_states_recovers_planted_clusters() -> None:
    rng = np.random.default_rng(7)
    centres = np.array([[1.0, 1, 1], [-1, -1, 1], [1, -1, -1], [-1, 1, -1]])
    truth = rng.integers(0, 4, size=400)
    points = centres[truth] + 0.1 * rng.standard_normal((400, 3))
    found, labels = cluster_states(points, 4, np.random.default_rng(0))
    assert found.shape == (4, 3) and labels.shape == (400,)
    assert labels[0] == 0  # numbered by first appearance
    # one found cluster per planted one
    pairs = {(int(t), int(label)) for t, label in zip(truth, labels)}
    assert len(pairs) == 4 and len({t for t, _ in pairs}) == 4 and len({label for _, label in pairs}) == 4
    for t, label in pairs:
        np.testing.assert_allclose(found[label], centres[t], atol=0.05)
    again = cluster_states(points, 4, np.random.default_rng(0))
    np.testing.assert_array_equal(again[1], labels)
    with pytest.raises(ValueError):
        cluster_states(points[:3], 4)


RUN_KEYS = {"seed", "steps", "final_loss", "bit_accuracy_8", "sum_accuracy_8", "bit_accuracy_32", "sum_accuracy_32",
            "success", "purity_4", "patterns", "patterns_agreement"}
TOP_KEYS = {"experiment", "command", "tiny", "seconds", "config", "success_rule", "successes",
            "successes_with_four_patterns", "runs", "uncentred_successes", "uncentred_runs", "inspected"}


def _check_consistent(results: dict) -> None:
    assert TOP_KEYS <= set(results)
    config, runs = results["config"], results["runs"]
    assert len(runs) == config["seeds"] and len(results["uncentred_runs"]) == config["uncentred_seeds"]
    for run in runs + results["uncentred_runs"]:
        assert RUN_KEYS - {"purity_4", "patterns", "patterns_agreement"} <= set(run)
        assert run["success"] == (run["sum_accuracy_32"] == 1.0)
        assert 0 <= run["sum_accuracy_32"] <= run["bit_accuracy_32"] <= 1
        assert run["steps"] <= config["max_steps"]
    for run in runs:
        assert RUN_KEYS <= set(run)
    assert results["successes"] == sum(run["success"] for run in runs)
    assert results["uncentred_successes"] == sum(run["success"] for run in results["uncentred_runs"])
    assert results["successes_with_four_patterns"] == sum(run["success"] and run["patterns"] == 4 for run in runs)
    inspected = results["inspected"]
    chosen = next(run for run in runs if run["seed"] == inspected["seed"])
    assert inspected["success"] == chosen["success"]
    four = inspected["four"]
    assert four["k"] == 4 and np.shape(four["centres"]) == (4, 3) and np.shape(four["learned_table"]) == (4, 4)
    assert four["purity"] == chosen["purity_4"]
    for example in inspected["examples"]:
        assert example["a"] + example["b"] == example["sum"]
        steps = config["test_bits"] + 1 + config["delay"]
        assert np.shape(example["hidden"]) == (steps, 3) and len(example["automaton_state"]) == steps


def test_tiny_experiment_runs_and_writes_its_results(tmp_path) -> None:
    out = tmp_path / "binary_addition.json"
    assert main(["--tiny", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True and results["experiment"] == "binary-addition"
    _check_consistent(results)
    assert set(results) == set(load_results("binary-addition")), "a tiny run writes the keys of the full run"


def test_committed_results_are_a_full_run_and_hang_together() -> None:
    results = load_results("binary-addition")
    assert results["tiny"] is False and results["command"] == "rnncourse experiment binary-addition"
    assert results["config"]["seeds"] >= 10
    assert results["config"]["train_bits"] == 8 and results["config"]["test_bits"] == 32
    assert results["config"]["test_pairs"] >= 1000 and results["config"]["hidden_size"] == 3
    _check_consistent(results)
    # what the chapter says: most networks generalise from 8 to 32 bits; the one it shows does
    assert results["successes"] > results["config"]["seeds"] / 2
    assert results["inspected"]["success"]
