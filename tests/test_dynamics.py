"""The NumPy references of chapter 1 against independent computations (torch.nn.RNN, by-hand maths)."""

import numpy as np
import pytest
import torch

from rnncourse import dynamics


def test_softmax_is_a_distribution_and_shift_invariant(rng):
    o = rng.standard_normal((4, 6))
    p = dynamics.softmax(o)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(dynamics.softmax(o + 1000.0), p, rtol=1e-12)
    np.testing.assert_allclose(p, np.exp(o) / np.exp(o).sum(axis=-1, keepdims=True), rtol=1e-12)


def test_softmax_matches_torch(rng):
    o = rng.standard_normal((3, 5, 7))
    expected = torch.softmax(torch.from_numpy(o), dim=-1).numpy()
    np.testing.assert_allclose(dynamics.softmax(o), expected, rtol=1e-12)


def test_elman_forward_matches_torch_rnn_in_float64(rng):
    T, B, D, H = 7, 3, 4, 5
    torch.manual_seed(0)
    reference = torch.nn.RNN(D, H, dtype=torch.float64)
    x = rng.standard_normal((T, B, D))
    h0 = rng.standard_normal((B, H))
    expected, h_n = reference(torch.from_numpy(x), torch.from_numpy(h0)[None])
    W = reference.weight_hh_l0.detach().numpy()
    U = reference.weight_ih_l0.detach().numpy()
    b = (reference.bias_ih_l0 + reference.bias_hh_l0).detach().numpy()
    states = dynamics.elman_forward(x, h0, W, U, b)
    np.testing.assert_allclose(states, expected.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(states[-1], h_n[0].detach().numpy(), rtol=1e-12, atol=1e-14)


def test_elman_forward_of_empty_sequence_is_empty(rng):
    states = dynamics.elman_forward(np.zeros((0, 2, 3)), np.zeros((2, 4)), np.eye(4), np.ones((4, 3)), np.zeros(4))
    assert states.shape == (0, 2, 4)


def test_jordan_step_by_hand():
    x = np.array([[1.0, -1.0]])
    y_prev = np.array([[0.2, 0.8]])
    W = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    U = np.array([[0.5, 0.0], [0.0, 0.5], [1.0, 1.0]])
    b = np.array([0.0, 0.1, -0.1])
    V = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    c = np.array([0.0, 0.5])
    h, y_hat = dynamics.jordan_step(x, y_prev, W, U, b, V, c)
    a = np.array([0.2 + 0.5, 1.6 - 0.5 + 0.1, 1.0 + 0.0 - 0.1])
    np.testing.assert_allclose(h[0], np.tanh(a))
    o = np.array([np.tanh(a[0]), np.tanh(a[1]) + np.tanh(a[2]) + 0.5])
    np.testing.assert_allclose(y_hat[0], np.exp(o) / np.exp(o).sum())


def test_jordan_forward_feeds_back_the_output(rng):
    T, B, D, H, K = 4, 2, 3, 5, 3
    x = rng.standard_normal((T, B, D))
    W, U, b = rng.standard_normal((H, K)), rng.standard_normal((H, D)), rng.standard_normal(H)
    V, c = rng.standard_normal((K, H)), rng.standard_normal(K)
    y0 = np.full((B, K), 1.0 / K)
    states, outputs = dynamics.jordan_forward(x, y0, W, U, b, V, c)
    y = y0
    for t in range(T):
        h, y = dynamics.jordan_step(x[t], y, W, U, b, V, c)
        np.testing.assert_array_equal(states[t], h)
        np.testing.assert_array_equal(outputs[t], y)


def test_autoregressive_fit_recovers_known_coefficients(rng):
    true = np.array([0.1, 0.6, -0.3])
    series = np.zeros(5000)
    noise = 0.05 * rng.standard_normal(5000)
    for t in range(2, 5000):
        series[t] = true[0] + true[1] * series[t - 1] + true[2] * series[t - 2] + noise[t]
    coeffs = dynamics.fit_autoregressive(series, order=2)
    np.testing.assert_allclose(coeffs, true, atol=0.02)
    prediction = dynamics.predict_autoregressive(series, coeffs)
    assert prediction.shape == (4998,)
    residual = series[2:] - prediction
    assert 0.045 < residual.std() < 0.055  # only the noise is left


def test_autoregressive_fit_rejects_short_series():
    with pytest.raises(ValueError, match="longer than order"):
        dynamics.fit_autoregressive(np.arange(3.0), order=3)


def test_random_recurrent_matrix_has_requested_spectral_radius(rng):
    W = dynamics.random_recurrent_matrix(50, 1.7, rng)
    assert W.shape == (50, 50)
    assert dynamics.spectral_radius(W) == pytest.approx(1.7, rel=1e-10)


def test_lyapunov_exponent_of_a_contraction_is_log_of_its_gain():
    # Near the origin tanh is the identity, so h -> 0.5 h shrinks perturbations by exactly 0.5 a step.
    W = 0.5 * np.eye(3)
    exponent = dynamics.largest_lyapunov_exponent(W, np.array([0.3, -0.2, 0.1]), steps=200, burn_in=50)
    assert exponent == pytest.approx(np.log(0.5), abs=1e-6)


def test_rotation_per_step_of_a_linear_rotation_is_its_angle():
    angle = 0.3
    trajectory = np.array([[np.cos(angle * t), np.sin(angle * t)] for t in range(50)])
    assert dynamics.rotation_per_step(trajectory) == pytest.approx(angle, rel=1e-12)
    assert dynamics.rotation_per_step(trajectory[:, ::-1]) == pytest.approx(-angle, rel=1e-12)  # clockwise


def test_tanh_rotation_turns_by_less_than_its_matrix_and_never_repeats():
    # Chapter 1, *Oscillation*: W rotates by 30 degrees, but on the attracting curve of
    # tanh(W h) with gain 1.2 the state turns by about 29.8 degrees a step, so it does not repeat
    # every 12 steps; its Lyapunov exponent is zero (quasi-periodic), not negative (periodic).
    W = dynamics.rotation_matrix(2 * np.pi / 12, gain=1.2)
    orbit = dynamics.iterate_network(W, np.array([0.05, 0.0]), 3000)[1000:]
    turn = np.degrees(dynamics.rotation_per_step(orbit))
    assert 29.7 < turn < 29.9
    assert np.linalg.norm(orbit[12:] - orbit[:-12], axis=1).min() > 0.02
    assert abs(dynamics.largest_lyapunov_exponent(W, np.array([0.05, 0.0]), steps=5000, burn_in=1000)) < 1e-4


def test_rotation_per_step_rejects_other_shapes():
    with pytest.raises(ValueError, match="2-D trajectory"):
        dynamics.rotation_per_step(np.zeros((5, 3)))


def test_growth_rate_of_an_exact_exponential_stops_at_the_ceiling():
    t = np.arange(300)
    distance = np.minimum(1e-8 * np.exp(0.1 * t), 5.0)  # saturates like two chaotic runs
    rate, intercept = dynamics.growth_rate(distance, ceiling=1e-2)
    assert rate == pytest.approx(0.1, rel=1e-9)
    assert intercept == pytest.approx(np.log(1e-8), rel=1e-9)
    assert -intercept / rate == pytest.approx(np.log(1e8) / 0.1)  # the line reaches 1 there
    with pytest.raises(ValueError, match="at least two steps"):
        dynamics.growth_rate(distance, ceiling=1e-9)


def test_iterate_network_with_inputs_by_hand():
    W = np.array([[0.0, 1.0], [-1.0, 0.0]])
    U = np.array([[1.0], [0.0]])
    inputs = np.array([[1.0], [2.0]])
    traj = dynamics.iterate_network(W, np.array([0.5, 0.0]), 2, U, inputs, input_gain=0.5)
    h1 = np.tanh(W @ traj[0] + 0.5 * U @ inputs[0])
    h2 = np.tanh(W @ h1 + 0.5 * U @ inputs[1])
    np.testing.assert_allclose(traj, [[0.5, 0.0], h1, h2])


@pytest.mark.parametrize(
    "W, regime",
    [
        (0.5 * np.eye(2), "point attractor"),
        (np.array([[2.0, 0.3], [0.3, 2.0]]), "point attractor"),
        (dynamics.rotation_matrix(0.3, gain=1.5), "oscillation"),
        (dynamics.random_recurrent_matrix(100, 3.0, np.random.default_rng(3)), "chaos"),
    ],
    ids=["contraction", "bistable", "rotation", "random-rho3"],
)
def test_classify_dynamics(W, regime):
    h0 = np.linspace(-0.4, 0.5, W.shape[0])
    report = dynamics.classify_dynamics(W, h0)
    assert report.regime == regime
    if regime == "chaos":
        assert report.lyapunov > 0.05
    else:
        assert report.lyapunov < 1e-3


def test_bistable_network_settles_to_different_attractors_from_different_starts():
    W = np.array([[2.0, 0.3], [0.3, 2.0]])
    ends = {tuple(np.round(dynamics.iterate_network(W, np.array(s), 200)[-1], 6)) for s in ([0.1, 0.2], [-0.1, -0.2])}
    assert len(ends) == 2


def test_draw_graph_draws_every_node_and_edge():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rnncourse.plots import draw_graph

    fig, ax = plt.subplots()
    nodes = {"x1": (0, 0, "$x$"), "h1": (0, 1.2, "$h$"), "h2": (1.5, 1.2, "$h$"), "o2": (1.5, 2.4, "$o$")}
    edges = [("x1", "h1", "$U$"), ("h1", "h2", "$W$"), ("h2", "o2", "$V$"), ("h2", "h2", "$W$")]
    draw_graph(ax, nodes, edges, title="t")
    assert len(ax.patches) == len(nodes) + len(edges)
    assert {t.get_text() for t in ax.texts} >= {"$x$", "$h$", "$o$", "$U$", "$W$", "$V$"}
    assert ax.get_title() == "t" and not ax.axison
    plt.close(fig)
