"""Echo state networks (rnncourse.esn): weights, the echo state property, the readout, feedback, generation,
the data, and the NumPy (CPU) and torch (CUDA) code paths against each other and against plain references."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnncourse
from rnncourse import esn as E


def _series(steps: int = 1500) -> np.ndarray:
    return E.mackey_glass(steps, discard=100)[:, None]


def _torch_path(model: E.ESN) -> E.ESN:
    """Make a CPU model run the torch code that CUDA runs (the loop is the same code for both)."""
    model._xp = torch
    return model


# ---- spectral radius ------------------------------------------------------------------------------------------


def test_scale_spectral_radius_hits_the_target_on_complex_spectra(rng):
    for size in (1, 5, 40):
        matrix = rng.standard_normal((size, size))
        scaled = E.scale_spectral_radius(matrix, 0.73)
        eigenvalues = np.linalg.eigvals(scaled)
        assert np.max(np.abs(eigenvalues)) == pytest.approx(0.73, rel=1e-12)
        # a positive multiple: eigenvectors, and hence the "shape" of the dynamics, are unchanged
        ratio = scaled / matrix
        assert np.allclose(ratio, ratio.flat[0]) and ratio.flat[0] > 0


def test_spectral_radius_is_not_the_largest_singular_value():
    rotation_like = np.array([[0.0, 2.0], [0.5, 0.0]])  # eigenvalues +-1, largest singular value 2
    assert E.spectral_radius(rotation_like) == pytest.approx(1.0)
    assert np.linalg.norm(rotation_like, 2) == pytest.approx(2.0)


def test_nilpotent_matrix_cannot_be_scaled():
    with pytest.raises(ValueError, match="nilpotent"):
        E.scale_spectral_radius(np.array([[0.0, 1.0], [0.0, 0.0]]), 0.9)
    with pytest.raises(ValueError, match="square"):
        E.spectral_radius(np.ones((2, 3)))


def test_random_reservoir_density_and_radius(rng):
    W = E.random_reservoir(400, 0.9, 0.05, rng)
    assert E.spectral_radius(W) == pytest.approx(0.9, rel=1e-10)
    assert abs(np.mean(W != 0) - 0.05) < 0.005


# ---- the echo state property ----------------------------------------------------------------------------------


def test_states_forget_their_initial_condition_under_a_contraction(rng):
    """If the largest singular value s of W is below 1, tanh (1-Lipschitz) makes each step a contraction:
    |h - h'| shrinks at least by a factor 1 - a + a s per step, whatever the input."""
    H, leak = 60, 0.5
    W = rng.standard_normal((H, H))
    W *= 0.8 / np.linalg.norm(W, 2)
    U, b = rng.uniform(-1, 1, (H, 1)), rng.uniform(-0.2, 0.2, H)
    inputs = rng.standard_normal((80, 1))
    first = E.reservoir_states(inputs, W, U, b, leak, h0=rng.uniform(-1, 1, H))
    second = E.reservoir_states(inputs, W, U, b, leak, h0=rng.uniform(-1, 1, H))
    gaps = np.linalg.norm(first - second, axis=1)
    factor = 1 - leak + leak * 0.8
    assert np.all(gaps[1:] <= factor * gaps[:-1] + 1e-15)
    assert gaps[-1] < 1e-5


def test_a_large_spectral_radius_can_keep_the_initial_condition(rng):
    """Without input and with rho = 3, the origin is unstable: two runs from different states stay apart."""
    W = E.random_reservoir(50, 3.0, 0.2, rng)
    zeros = np.zeros((300, 1))
    runs = [E.reservoir_states(zeros, W, np.zeros((50, 1)), np.zeros(50), 1.0, h0=rng.uniform(-1, 1, 50)) for _ in "ab"]
    assert np.linalg.norm(runs[0][-1] - runs[1][-1]) > 0.1
    assert np.linalg.norm(runs[0][-1]) > 0.1  # not collapsed onto the origin either


# ---- the model's states against the plain loop ------------------------------------------------------------


@pytest.mark.parametrize("leak", [1.0, 0.3])
def test_esn_states_match_the_reference_loop(leak):
    x = _series(2500)  # longer than one chunk of the accumulated normal equations
    model = E.ESN(80, spectral_radius=0.95, leak_rate=leak, input_scaling=0.7, bias=0.3, seed=3, dtype=torch.float64)
    model.initialize(1, 1)
    reference = E.reservoir_states(x, model.W, model.U, model.b, leak)
    assert np.abs(model.states(x) - reference).max() < 1e-12
    single = E.ESN(80, spectral_radius=0.95, leak_rate=leak, input_scaling=0.7, bias=0.3, seed=3)
    single.initialize(1, 1)
    assert np.abs(single.states(x) - reference).max() < 1e-4  # float32 states


def test_the_same_seed_gives_the_same_reservoir_and_another_seed_does_not():
    a, b, c = (E.ESN(30, seed=s).initialize(2, 1) for s in (5, 5, 6))
    assert np.array_equal(a.W, b.W) and np.array_equal(a.U, b.U)
    assert not np.array_equal(a.W, c.W)


# ---- the readout ----------------------------------------------------------------------------------------------


def _ridge_by_lstsq(features: np.ndarray, targets: np.ndarray, ridge: float) -> np.ndarray:
    """Independent reference: ridge as ordinary least squares on rows augmented with sqrt(ridge) * I
    (no row for the constant column, so the bias is not shrunk)."""
    width = features.shape[1]
    extra = np.sqrt(ridge) * np.eye(width)[1:]
    stacked = np.concatenate([features, extra])
    padded = np.concatenate([targets, np.zeros((width - 1, targets.shape[1]))])
    return np.linalg.lstsq(stacked, padded, rcond=None)[0]


def test_ridge_readout_matches_augmented_least_squares(rng):
    states = rng.standard_normal((200, 12))
    targets = states @ rng.standard_normal((12, 2)) + 3.0 + 0.1 * rng.standard_normal((200, 2))
    for ridge in (0.0, 1e-3, 10.0):
        V_h, V_0 = E.ridge_readout(states, targets, ridge)
        expected = _ridge_by_lstsq(np.concatenate([np.ones((200, 1)), states], axis=1), targets, ridge)
        assert np.allclose(V_0, expected[0], atol=1e-10)
        assert np.allclose(V_h, expected[1:].T, atol=1e-10)
    # a huge ridge shrinks V_h towards 0 but leaves the bias at the mean of the targets
    V_h, V_0 = E.ridge_readout(states, targets, 1e12)
    assert np.abs(V_h).max() < 1e-6 and np.allclose(V_0, targets.mean(axis=0), atol=1e-6)


def test_fit_solves_ridge_on_the_inputs_and_states_after_the_warmup():
    x = _series(2600)
    inputs, targets = x[:-5], x[5:]
    model = E.ESN(50, leak_rate=0.4, seed=1, ridge=1e-5, dtype=torch.float64).fit(inputs, targets, warmup=1100)
    states = model.states(inputs)[1100:]
    features = np.concatenate([np.ones((len(states), 1)), inputs[1100:], states], axis=1)
    expected = _ridge_by_lstsq(features, targets[1100:], 1e-5)
    assert np.abs(model.readout - expected.T).max() < 1e-6 * np.abs(expected).max()
    prediction = model.predict(inputs)
    assert np.abs(prediction[1100:] - features @ expected).max() < 1e-7


def test_refit_equals_a_fresh_fit_with_that_ridge():
    x = _series(1200)
    kwargs = dict(units=40, leak_rate=0.5, seed=2, dtype=torch.float64)
    tuned = E.ESN(ridge=1e-8, **kwargs).fit(x[:-1], x[1:], warmup=100).refit(1e-2)
    fresh = E.ESN(ridge=1e-2, **kwargs).fit(x[:-1], x[1:], warmup=100)
    assert np.abs(tuned.readout - fresh.readout).max() < 1e-10


def test_choose_ridge_picks_the_validation_minimum(rng):
    states = rng.standard_normal((300, 30))
    weights = rng.standard_normal((30, 1))
    targets = states @ weights + 0.5 * rng.standard_normal((300, 1))
    ridges = [1e-6, 1e-2, 1.0, 1e2, 1e4]
    best, errors = E.choose_ridge(states[:200], targets[:200], states[200:], targets[200:], ridges)
    assert best == ridges[int(np.argmin(errors))]
    assert errors[-1] > errors.min()  # an absurd ridge is worse


def test_batch_of_sequences_equals_the_list_and_the_concatenated_normal_equations():
    x = E.mackey_glass(900, discard=50)
    batch = np.stack([x[:400], x[250:650], x[500:900]], axis=1)[:, :, None]  # (T, B, 1)
    kwargs = dict(units=30, seed=4, ridge=1e-6, dtype=torch.float64)
    batched = E.ESN(**kwargs).fit(batch[:-1], batch[1:], warmup=50)
    listed = E.ESN(**kwargs).fit([batch[:-1, i] for i in range(3)], [batch[1:, i] for i in range(3)], warmup=50)
    # the same normal equations, summed in another order
    assert np.abs(batched._gram - listed._gram).max() < 1e-10 * np.abs(listed._gram).max()
    assert np.abs(batched._cross - listed._cross).max() < 1e-10 * np.abs(listed._cross).max()
    out = batched.predict(batch[:-1])
    assert out.shape == (399, 3, 1)
    assert np.abs(out[:, 1] - batched.predict(batch[:-1, 1])).max() < 1e-12


def test_predict_resume_continues_the_sequence():
    x = _series(800)
    model = E.ESN(40, seed=0, dtype=torch.float64).fit(x[:500], x[1:501], warmup=50)
    whole = model.predict(x[:700])
    model.predict(x[:400])
    assert np.abs(model.predict(x[400:700], resume=True) - whole[400:]).max() < 1e-12


# ---- feedback and generation ----------------------------------------------------------------------------------


def test_feedback_is_teacher_forced_in_fit_and_closed_in_predict():
    inputs, targets = E.frequency_generator(600, np.random.default_rng(0))
    model = E.ESN(40, feedback=0.5, bias=0.2, seed=7, ridge=1e-4, dtype=torch.float64).fit(inputs, targets, warmup=50)
    W, U, b, F, alpha = model.W, model.U, model.b, model.F, model.leak_rate
    # teacher forcing: the states of fit are driven by the previous *target*
    h, previous, rows = np.zeros(40), np.zeros(1), []
    for x_t, y_t in zip(inputs, targets):
        h = (1 - alpha) * h + alpha * np.tanh(W @ h + U @ x_t + F @ previous + b)
        rows.append(np.concatenate([[1.0], x_t, h]))
        previous = y_t
    features = np.array(rows)[50:]
    expected = _ridge_by_lstsq(features, targets[50:], 1e-4)
    assert np.abs(model.readout - expected.T).max() < 1e-6 * np.abs(expected).max()
    # closed loop: predict feeds back its own previous output
    h, previous, outputs = np.zeros(40), np.zeros(1), []
    for x_t in inputs[:200]:
        h = (1 - alpha) * h + alpha * np.tanh(W @ h + U @ x_t + F @ previous + b)
        previous = model.readout @ np.concatenate([[1.0], x_t, h])
        outputs.append(previous)
    assert np.abs(model.predict(inputs[:200]) - np.array(outputs)).max() < 1e-10


def test_generate_feeds_each_output_back_as_the_next_input():
    x = _series(700)
    model = E.ESN(50, leak_rate=0.5, seed=1, ridge=1e-8, dtype=torch.float64).fit(x[:600], x[1:601], warmup=50)
    model.predict(x[:600])
    h, previous = model.state.copy(), model.last_output.copy()
    expected = []
    for _ in range(30):
        h = (1 - 0.5) * h + 0.5 * np.tanh(model.W @ h + model.U @ previous + model.b)
        previous = model.readout @ np.concatenate([[1.0], previous, h])
        expected.append(previous)
    assert np.abs(model.generate(30) - np.array(expected)).max() < 1e-12
    # and it is a useful forecast: a few steps ahead it is close to the series
    model.predict(x[:600])
    assert np.abs(model.generate(5)[:, 0] - x[601:606, 0]).max() < 0.05


def test_generate_needs_as_many_outputs_as_inputs():
    inputs, targets = E.frequency_generator(300, np.random.default_rng(1))
    model = E.ESN(20, seed=0).fit(np.concatenate([inputs, inputs], axis=1), targets)
    model.predict(np.concatenate([inputs, inputs], axis=1))
    with pytest.raises(ValueError, match="as many"):
        model.generate(5)


def test_the_frequency_generator_is_learned_with_feedback():
    inputs, targets = E.frequency_generator(5000, np.random.default_rng(3))
    model = E.ESN(200, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, feedback=1.0, noise=1e-3,
                  bias=0.2, ridge=1e-4, seed=0)
    model.fit(inputs[:4000], targets[:4000], warmup=200)
    error = E.nrmse(targets[4000:], model.predict(inputs[4000:], resume=True))
    without = E.ESN(200, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, bias=0.2, ridge=1e-4, seed=0)
    without.fit(inputs[:4000], targets[:4000], warmup=200)
    error_without = E.nrmse(targets[4000:], without.predict(inputs[4000:], resume=True))
    assert error_without > 0.9  # a driven reservoir settles: it cannot produce an oscillation alone
    assert error < error_without


# ---- devices and array kinds ----------------------------------------------------------------------------------


def test_torch_code_path_matches_the_numpy_one_on_every_device(device):
    x = _series(1500)
    kwargs = dict(units=60, leak_rate=0.5, bias=0.1, feedback=0.0, seed=11, ridge=1e-6, dtype=torch.float64)
    numpy_model = E.ESN(**kwargs).fit(x[:1000], x[1:1001], warmup=100)
    torch_model = E.ESN(device=device, **kwargs)
    if torch_model.device.type == "cpu":
        _torch_path(torch_model)
    torch_model.fit(x[:1000], x[1:1001], warmup=100)
    assert isinstance(torch_model.W, torch.Tensor) and torch_model.W.device.type == torch.device(device).type
    # the same normal equations; the readout itself is ill-conditioned at ridge 1e-6, so compare outputs
    assert np.abs(torch_model._gram - numpy_model._gram).max() < 1e-10 * np.abs(numpy_model._gram).max()
    assert np.abs(torch_model._cross - numpy_model._cross).max() < 1e-10 * np.abs(numpy_model._cross).max()
    a = numpy_model.predict(x[1000:1400], resume=True)
    b = torch_model.predict(x[1000:1400], resume=True)
    assert isinstance(b, np.ndarray) and np.abs(a - b).max() < 1e-7
    assert np.abs(numpy_model.generate(20) - torch_model.generate(20)).max() < 1e-6
    # tensors in, tensors out
    out = torch_model.predict(torch.as_tensor(x[:50], device=device))
    assert isinstance(out, torch.Tensor) and out.shape == (50, 1)


def test_tensor_inputs_give_tensor_outputs_on_the_cpu():
    x = torch.as_tensor(_series(400))
    model = E.ESN(20, seed=0).fit(x[:-1], x[1:])
    out = model.predict(x[:-1])
    assert isinstance(out, torch.Tensor) and out.shape == (399, 1) and torch.isfinite(out).all()


def test_top_level_name():
    assert rnncourse.ESN is E.ESN


# ---- errors a user meets ------------------------------------------------------------------------------------


def test_errors_say_what_was_expected():
    x = _series(300)
    model = E.ESN(10, seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(x)
    model.fit(x[:-1], x[1:])
    with pytest.raises(ValueError, match="1 input features, got 2"):
        model.predict(np.ones((5, 2)))
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.full((5, 1), np.nan))
    with pytest.raises(ValueError, match="warmup"):
        E.ESN(10, seed=0).fit(x[:50], x[1:51], warmup=60)
    with pytest.raises(ValueError, match="leak_rate"):
        E.ESN(10, leak_rate=0.0)
    with pytest.raises(ValueError, match="agree"):
        E.ESN(10, seed=0).fit(x[:50], x[:40])


# ---- data and error measures ----------------------------------------------------------------------------------


def test_mackey_glass_converges_as_the_step_shrinks():
    """Halving the internal step changes the series by far less than the coarser step's own error would
    allow for a low-order method; before chaos amplifies differences (about 300 time units) the fourth-order
    integration agrees to 1e-7."""
    coarse = E.mackey_glass(300, step=0.1)
    fine = E.mackey_glass(300, step=0.05)
    finer = E.mackey_glass(300, step=0.025)
    assert np.abs(coarse - fine).max() < 1e-7
    # error shrinking about 16x per halving is fourth order
    assert np.abs(fine - finer).max() < np.abs(coarse - fine).max() / 8


def test_mackey_glass_against_a_tiny_step_euler_integration():
    """Independent check: explicit Euler with step 0.001 and exact grid delays over the first 60 time units."""
    h, tau = 0.001, 17.0
    lag, steps = round(tau / h), round(60 / h)
    x = np.full(lag + steps + 1, 1.2)
    for k in range(lag, lag + steps):
        delayed = x[k - lag]
        x[k + 1] = x[k] + h * (0.2 * delayed / (1 + delayed**10) - 0.1 * x[k])
    euler = x[lag :: 1000][:61]
    assert np.abs(E.mackey_glass(61) - euler).max() < 2e-4  # Euler's own error at this step


def test_mackey_glass_is_chaotic_but_bounded():
    series = E.mackey_glass(3000, discard=500)
    assert 0.2 < series.min() and series.max() < 1.5
    assert 0.2 < series.std() < 0.25


def test_frequency_generator_phase_is_continuous_and_levels_set_the_period():
    levels, target = E.frequency_generator(3000, np.random.default_rng(0), min_period=10, max_period=40)
    assert levels.shape == target.shape == (3000, 1)
    assert 0 <= levels.min() and levels.max() <= 1
    assert np.abs(np.diff(target[:, 0])).max() <= 2 * np.pi / 10 + 1e-12  # never jumps
    assert len(np.unique(levels)) >= 10  # redrawn every 100-300 steps


def test_nrmse_and_r2():
    rng = np.random.default_rng(0)
    y = rng.standard_normal((500, 1))
    noisy = y + 0.3 * rng.standard_normal((500, 1))
    assert E.nrmse(y, y) == 0.0
    assert E.nrmse(y, np.full_like(y, y.mean())) == pytest.approx(1.0)
    assert E.r2(y, noisy) == pytest.approx(1 - E.nrmse(y, noisy) ** 2)
    two = np.concatenate([y, 100 * y], axis=1)
    assert E.nrmse(two, two + np.array([[0.1, 10.0]])) == pytest.approx(
        0.5 * (0.1 / y.std() + 10.0 / (100 * y.std()))
    )
    with pytest.raises(ValueError, match="shape"):
        E.nrmse(y, y[:10])
