"""The NumPy gated cells against torch.nn, the two GRU conventions, pooling, the memory cell, gradient flow and
path lengths (rnncourse.gated)."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from rnncourse.gated import (
    deep_rnn_forward,
    gradient_norms_by_lag,
    gru_cell,
    gru_convention_gap,
    gru_forward,
    lecture_gru_cell,
    lecture_to_torch_gru,
    lstm_cell,
    lstm_forward,
    memory_cell_backward,
    memory_cell_schedule,
    memory_cell_trace,
    pool_states,
    shortest_path_length,
    torch_to_lecture_gru,
)
from rnncourse.gradcheck import numerical_gradient, relative_error


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: one thread avoids OpenMP oversubscription on a shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _random_layer(rng, blocks, D, H, scale=0.5):
    return (scale * rng.standard_normal((blocks * H, D)), scale * rng.standard_normal((blocks * H, H)),
            scale * rng.standard_normal(blocks * H), scale * rng.standard_normal(blocks * H))


def _load(module, params, suffix=""):
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params):
            getattr(module, name + suffix).copy_(torch.from_numpy(value))


# --------------------------------------------------------------------------- cells against torch.nn


def test_lstm_cell_matches_torch():
    rng = np.random.default_rng(0)
    B, D, H = 5, 3, 4
    params = _random_layer(rng, 4, D, H, scale=1.0)
    x, h, C = rng.standard_normal((B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    cell = torch.nn.LSTMCell(D, H).double()
    _load(cell, params)
    h_ref, C_ref = cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(C)))
    h_new, C_new = lstm_cell(x, h, C, *params)
    assert np.max(np.abs(h_new - h_ref.detach().numpy())) <= 1e-12
    assert np.max(np.abs(C_new - C_ref.detach().numpy())) <= 1e-12


def test_gru_cell_matches_torch():
    rng = np.random.default_rng(1)
    B, D, H = 6, 2, 5
    params = _random_layer(rng, 3, D, H, scale=1.0)
    x, h = rng.standard_normal((B, D)), np.tanh(rng.standard_normal((B, H)))
    cell = torch.nn.GRUCell(D, H).double()
    _load(cell, params)
    ref = cell(torch.from_numpy(x), torch.from_numpy(h)).detach().numpy()
    assert np.max(np.abs(gru_cell(x, h, *params) - ref)) <= 1e-12


def test_cells_check_shapes():
    rng = np.random.default_rng(2)
    W_ih, W_hh, b_ih, b_hh = _random_layer(rng, 3, 2, 4)
    with pytest.raises(ValueError, match="W_hh"):
        lstm_cell(np.zeros((1, 2)), np.zeros((1, 4)), np.zeros((1, 4)), W_ih, W_hh, b_ih, b_hh)


@pytest.mark.parametrize("kind, bidirectional", [("lstm", False), ("lstm", True), ("gru", False), ("gru", True)])
def test_deep_and_bidirectional_match_torch(kind, bidirectional):
    rng = np.random.default_rng(3)
    T, B, D, H, L = 7, 3, 4, 5, 2
    blocks = 4 if kind == "lstm" else 3
    directions = 2 if bidirectional else 1
    module = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](D, H, num_layers=L, bidirectional=bidirectional).double()
    layers = []
    for layer in range(L):
        inputs = D if layer == 0 else directions * H
        per_direction = []
        for suffix in [f"_l{layer}"] + ([f"_l{layer}_reverse"] if bidirectional else []):
            params = _random_layer(rng, blocks, inputs, H)
            _load(module, params, suffix)
            per_direction.append(params)
        layers.append(tuple(per_direction) if bidirectional else per_direction[0])
    x = rng.standard_normal((T, B, D))
    ref = module(torch.from_numpy(x))[0].detach().numpy()
    assert np.max(np.abs(deep_rnn_forward(kind, x, layers, bidirectional=bidirectional) - ref)) <= 1e-12


def test_forward_returns_final_states():
    rng = np.random.default_rng(4)
    T, B, D, H = 5, 2, 3, 4
    x, h0, C0 = rng.standard_normal((T, B, D)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    lstm = torch.nn.LSTM(D, H).double()
    params = _random_layer(rng, 4, D, H)
    _load(lstm, params, "_l0")
    out_ref, (h_ref, C_ref) = lstm(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(C0)[None]))
    out, (h_n, C_n) = lstm_forward(x, h0, C0, *params)
    assert np.max(np.abs(out - out_ref.detach().numpy())) <= 1e-12
    assert np.max(np.abs(h_n - h_ref[0].detach().numpy())) <= 1e-12
    assert np.max(np.abs(C_n - C_ref[0].detach().numpy())) <= 1e-12
    gparams = _random_layer(rng, 3, D, H)
    out, h_n = gru_forward(x, h0, *gparams)
    assert np.array_equal(out[-1], h_n)


# --------------------------------------------------------------------------- the lecture GRU and the two conventions


def _lecture_gru_by_hand(x, h, U, W, b):
    """The lecture's equations one example at a time, with column vectors, as written on the slide."""
    H = W.shape[1]
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))
    out = []
    for xi, hi in zip(x, h):
        xi, hi = xi[:, None], hi[:, None]
        z = sig(U[:H] @ xi + W[:H] @ hi + b[:H, None])
        r = sig(U[H:2 * H] @ xi + W[H:2 * H] @ hi + b[H:2 * H, None])
        h_tilde = np.tanh(U[2 * H:] @ xi + W[2 * H:] @ (r * hi) + b[2 * H:, None])
        out.append(((1 - z) * hi + z * h_tilde)[:, 0])
    return np.array(out)


def _lecture_weights(rng, D, H, diagonal):
    U, W = rng.standard_normal((3 * H, D)), rng.standard_normal((3 * H, H))
    if diagonal:
        W[2 * H:] = np.diag(rng.standard_normal(H))
    return U, W, rng.standard_normal(3 * H)


def test_lecture_gru_cell_matches_the_slide():
    rng = np.random.default_rng(5)
    U, W, b = _lecture_weights(rng, 3, 4, diagonal=False)
    x, h = rng.standard_normal((6, 3)), np.tanh(rng.standard_normal((6, 4)))
    assert np.max(np.abs(lecture_gru_cell(x, h, U, W, b) - _lecture_gru_by_hand(x, h, U, W, b))) <= 1e-14


def test_gru_maps_are_exact_when_the_candidate_block_is_diagonal():
    rng = np.random.default_rng(6)
    D, H = 3, 4
    U, W, b = _lecture_weights(rng, D, H, diagonal=True)
    x, h = rng.standard_normal((8, D)), np.tanh(rng.standard_normal((8, H)))
    torch_weights = lecture_to_torch_gru(U, W, b)
    assert np.max(np.abs(gru_cell(x, h, *torch_weights) - lecture_gru_cell(x, h, U, W, b))) <= 1e-15
    cell = torch.nn.GRUCell(D, H).double()
    _load(cell, torch_weights)
    ref = cell(torch.from_numpy(x), torch.from_numpy(h)).detach().numpy()
    assert np.max(np.abs(ref - lecture_gru_cell(x, h, U, W, b))) <= 1e-12
    assert gru_convention_gap(x, h, U, W, b) <= 1e-15
    for back, original in zip(torch_to_lecture_gru(*torch_weights), (U, W, b)):
        assert np.array_equal(back, original)


def test_torch_to_lecture_then_back():
    rng = np.random.default_rng(7)
    D, H = 2, 3
    W_ih, W_hh, b_ih, b_hh = _random_layer(rng, 3, D, H, scale=1.0)
    W_hh[2 * H:] = np.diag(rng.standard_normal(H))
    b_hh[2 * H:] = 0.0
    x, h = rng.standard_normal((5, D)), np.tanh(rng.standard_normal((5, H)))
    U, W, b = torch_to_lecture_gru(W_ih, W_hh, b_ih, b_hh)
    assert np.max(np.abs(lecture_gru_cell(x, h, U, W, b) - gru_cell(x, h, W_ih, W_hh, b_ih, b_hh))) <= 1e-15
    again = lecture_to_torch_gru(U, W, b)
    assert np.max(np.abs(gru_cell(x, h, *again) - gru_cell(x, h, W_ih, W_hh, b_ih, b_hh))) <= 1e-15


def test_no_exact_map_for_a_full_candidate_block():
    rng = np.random.default_rng(8)
    U, W, b = _lecture_weights(rng, 3, 4, diagonal=False)
    with pytest.raises(ValueError, match="not diagonal"):
        lecture_to_torch_gru(U, W, b)
    W_ih, W_hh, b_ih, b_hh = _random_layer(rng, 3, 3, 4)
    with pytest.raises(ValueError, match="not diagonal"):
        torch_to_lecture_gru(W_ih, W_hh, b_ih, b_hh)
    W_hh[8:] = np.diag(np.ones(4))
    with pytest.raises(ValueError, match="b_hn"):
        torch_to_lecture_gru(W_ih, W_hh, b_ih, b_hh)
    b_hh[8:] = 1e-9
    torch_to_lecture_gru(W_ih, W_hh, b_ih, b_hh, atol=1e-8)  # tolerated when asked


def test_gap_is_nonzero_for_a_full_candidate_block():
    rng = np.random.default_rng(9)
    U, W, b = _lecture_weights(rng, 3, 4, diagonal=False)
    x, h = rng.standard_normal((8, 3)), np.tanh(rng.standard_normal((8, 4)))
    assert gru_convention_gap(x, h, U, W, b) > 1e-2


def test_smallest_counterexample():
    # W_h = [[0, 1], [0, 0]]: the lecture's first candidate unit sees r_2 h_2, PyTorch's r_1 h_2
    H = 2
    U, W, b = np.zeros((3 * H, 1)), np.zeros((3 * H, H)), np.zeros(3 * H)
    W[2 * H, 1] = 1.0
    b[H:2 * H] = [5.0, -5.0]  # r close to (1, 0)
    b[:H] = 50.0  # z = 1: the lecture's new state is its candidate
    x, h = np.zeros((1, 1)), np.array([[0.0, 0.8]])
    expected = abs(np.tanh(0.8 * (1 / (1 + np.exp(5)))) - np.tanh(0.8 * (1 / (1 + np.exp(-5)))))
    assert gru_convention_gap(x, h, U, W, b) == pytest.approx(expected, rel=1e-9)


# --------------------------------------------------------------------------- pooling padded sequences


def test_pool_states_on_a_ragged_batch():
    rng = np.random.default_rng(10)
    T, H, lengths = 6, 3, [6, 1, 4, 2]
    states = rng.standard_normal((T, len(lengths), H))
    mask = np.zeros((T, len(lengths)))
    for i, n in enumerate(lengths):
        mask[:n, i] = 1.0
        states[n:, i] = np.nan  # padding may hold anything
    last, mean = pool_states(states, mask)
    for i, n in enumerate(lengths):
        assert np.array_equal(last[i], states[n - 1, i])
        assert np.allclose(mean[i], states[:n, i].mean(axis=0), rtol=0, atol=1e-15)


@pytest.mark.parametrize("column, message", [
    ([0, 0, 0], "all-zero"),
    ([1, 0, 1], "run of ones"),
    ([0, 1, 1], "run of ones"),
    ([1, 0.5, 0], "only 0s"),
])
def test_pool_states_rejects_bad_masks(column, message):
    mask = np.array([[1.0, c] for c in column])
    with pytest.raises(ValueError, match=message):
        pool_states(np.zeros((3, 2, 4)), mask)


def test_pool_states_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="shape"):
        pool_states(np.zeros((3, 2, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="shape"):
        pool_states(np.zeros((3, 2)), np.ones((3, 2)))


# --------------------------------------------------------------------------- the memory cell


def test_memory_cell_keeps_a_value_exactly():
    inputs, write, keep, read = memory_cell_schedule(length=14, write_at=2, read_at=12, value=0.37)
    cells, outputs = memory_cell_trace(inputs, write, keep, read)
    assert np.all(cells[2:13] == 0.37)  # bit for bit: multiplied by 1.0 ten times
    assert outputs[12] == 0.37
    assert np.all(np.delete(outputs, 12) == 0.0)
    assert cells[13] == 0.0 and np.all(cells[:2] == 0.0)


def test_memory_cell_leaks_with_logistic_gates():
    inputs, write, keep, read = memory_cell_schedule(gate_logit=4.0, value=1.0, distractor=0.0)
    _, outputs = memory_cell_trace(inputs, write, keep, read)
    s = 1 / (1 + np.exp(-4.0))
    assert outputs[12] == pytest.approx(s * s**10 * s, rel=1e-12)  # write, ten keeps, read


def test_memory_cell_error_is_multiplied_only_by_the_keep_gates():
    rng = np.random.default_rng(11)
    T, t_write, t_read = 12, 2, 10
    keep, read = rng.uniform(0.5, 1.0, T), rng.uniform(0.0, 1.0, T)
    d_outputs = np.zeros(T)
    d_outputs[t_read] = 1.0
    grads = memory_cell_backward(d_outputs, rng.standard_normal(T), rng.uniform(size=T), keep, read)
    assert grads["cells"][t_write] == pytest.approx(read[t_read] * np.prod(keep[t_write + 1:t_read + 1]), rel=1e-14)
    ones = memory_cell_backward(d_outputs, np.ones(T), np.ones(T), np.ones(T), np.ones(T))
    assert np.all(ones["cells"][:t_read + 1] == 1.0) and np.all(ones["cells"][t_read + 1:] == 0.0)


def test_memory_cell_backward_matches_finite_differences():
    rng = np.random.default_rng(12)
    T, N = 7, 3
    arrays = {"inputs": rng.standard_normal((T, N)), "write": rng.uniform(size=(T, N)),
              "keep": rng.uniform(size=(T, N)), "read": rng.uniform(size=(T, N))}
    c0, d_outputs = rng.standard_normal(N), rng.standard_normal((T, N))

    def loss():
        return float(np.sum(d_outputs * memory_cell_trace(**arrays, c0=c0)[1]))

    grads = memory_cell_backward(d_outputs, **arrays, c0=c0)
    for name, value in [*arrays.items(), ("c0", c0)]:
        assert relative_error(grads[name], numerical_gradient(loss, value)) < 1e-8, name


def test_memory_cell_rejects_gates_outside_0_1():
    with pytest.raises(ValueError, match="keep gate"):
        memory_cell_trace(np.ones(3), np.ones(3), np.array([1.0, 1.2, 1.0]), np.ones(3))


# --------------------------------------------------------------------------- gradient flow


def test_gradient_norms_forget_bias_keeps_the_error_alive():
    rnn = gradient_norms_by_lag("rnn", hidden_size=16, length=30, seed=0)
    lstm = gradient_norms_by_lag("lstm", hidden_size=16, length=30, seed=0, forget_bias=3.0)
    plain_lstm = gradient_norms_by_lag("lstm", hidden_size=16, length=30, seed=0)
    gru = gradient_norms_by_lag("gru", hidden_size=16, length=30, seed=0)
    for flow in (rnn, lstm, plain_lstm, gru):
        assert flow.state.shape == (30,) and np.all(np.isfinite(flow.state)) and np.all(flow.state > 0)
        assert np.array_equal(flow.lags, np.arange(1, 31))
    assert rnn.cell is None and gru.cell is None
    assert np.all(np.isfinite(lstm.cell)) and lstm.cell.shape == (30,)
    assert rnn.state[29] < 1e-4  # small tanh weights: the error vanishes geometrically
    assert lstm.state[29] > 1e3 * rnn.state[29]
    assert lstm.cell[29] > 1e3 * plain_lstm.cell[29]  # the keep gate at sigma(3) carries the cell's error


def test_gradient_norms_are_the_autograd_jacobians():
    """An independent computation: torch.autograd.functional.jacobian of the last cell state with respect to an
    earlier one (which also sets that step's h = o * tanh(C)), on the same seeded weights and inputs."""
    T, H, B, D, seed, t0 = 6, 5, 2, 8, 3, 2
    flow = gradient_norms_by_lag("lstm", hidden_size=H, length=T, batch_size=B, input_size=D, seed=seed)
    torch.manual_seed(seed)
    cell = torch.nn.LSTMCell(D, H).double()
    x = torch.randn(T, B, D, dtype=torch.float64)
    with torch.no_grad():
        h, C = torch.zeros(B, H, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64)
        for t in range(t0):
            h, C = cell(x[t], (h, C))
        o = h / torch.tanh(C)

    def last_cell(C_t0):
        h, C = o * torch.tanh(C_t0), C_t0
        for t in range(t0, T):
            h, C = cell(x[t], (h, C))
        return C

    J = torch.autograd.functional.jacobian(last_cell, C)
    expected = np.mean([torch.linalg.matrix_norm(J[i, :, i, :], ord=2).item() for i in range(B)])
    assert flow.cell[T - t0 - 1] == pytest.approx(expected, rel=1e-12)


def test_gradient_norms_on_every_device(device):
    here = gradient_norms_by_lag("gru", hidden_size=8, length=10, seed=1, device=device)
    cpu = gradient_norms_by_lag("gru", hidden_size=8, length=10, seed=1)
    assert np.allclose(here.state, cpu.state, rtol=1e-9, atol=0)


def test_gradient_norms_argument_errors():
    with pytest.raises(ValueError, match="LSTM only"):
        gradient_norms_by_lag("rnn", forget_bias=1.0)
    with pytest.raises(ValueError, match="kind"):
        gradient_norms_by_lag("elman")


# --------------------------------------------------------------------------- path lengths in deep RNNs


def _bfs_path_length(architecture, depth, lag):
    """Build the unrolled graph for steps 0..lag explicitly and count the layers on the shortest path from
    x_0 to o_lag; every node but the input is one layer."""
    edges: dict[tuple, list[tuple]] = {}

    def edge(a, b):
        edges.setdefault(a, []).append(b)

    for t in range(lag + 1):
        if architecture == "stacked":
            for k in range(1, depth + 1):
                edge(("x", t) if k == 1 else ("h", k - 1, t), ("h", k, t))
                if t > 0:
                    edge(("h", k, t - 1), ("h", k, t))
            edge(("h", depth, t), ("o", t))
        else:
            d = 1 if architecture == "plain" else depth
            state = ("z", d, t)  # the MLP's last layer is the state h^(t)
            edge(("x", t), ("z", 1, t))
            for k in range(1, d):
                edge(("z", k, t), ("z", k + 1, t))
            if t > 0:
                edge(("z", d, t - 1), ("z", 1, t))
                if architecture == "deep_transition_skip":
                    edge(("z", d, t - 1), state)
            edge(state, ("o", t))
    seen, queue = {("x", 0): 0}, deque([("x", 0)])
    while queue:
        node = queue.popleft()
        for nxt in edges.get(node, []):
            if nxt not in seen:
                seen[nxt] = seen[node] + 1
                queue.append(nxt)
    return seen[("o", lag)]


@pytest.mark.parametrize("architecture, depth", [("plain", 1)] + [
    (a, d) for a in ("deep_transition", "deep_transition_skip", "stacked") for d in (1, 2, 3)])
@pytest.mark.parametrize("lag", [0, 1, 5])
def test_path_length_formula_matches_the_unrolled_graph(architecture, depth, lag):
    assert shortest_path_length(lag, architecture, depth) == _bfs_path_length(architecture, depth, lag)


def test_path_length_cases():
    assert shortest_path_length(10) == 12
    assert shortest_path_length(10, "deep_transition", 3) == 34
    assert shortest_path_length(10, "deep_transition_skip", 3) == 14
    assert shortest_path_length(10, "stacked", 3) == 14
    with pytest.raises(ValueError):
        shortest_path_length(-1)
    with pytest.raises(ValueError, match="architecture"):
        shortest_path_length(1, "wide")
