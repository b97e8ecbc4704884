"""The backward pass piece by piece (rnncourse.bptt's chapter-2 helpers) against torch.autograd and
finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.bptt import (
    ElmanParams,
    backward_from_output_errors,
    jacobian_product_norms,
    loss_and_gradients,
    output_errors,
    random_params,
    sequence_backward,
    sequence_forward,
    state_gradients,
    state_jacobians,
    truncated_bptt,
)
from rnncourse.gradcheck import numerical_gradient, relative_error


def _problem(seed: int, T: int = 7, B: int = 3, D: int = 4, H: int = 5, K: int = 3, scale: float = 1.2):
    rng = np.random.default_rng(seed)
    params = random_params(rng, D, H, K, scale=scale)
    return rng.standard_normal((T, B, D)), rng.integers(0, K, size=(T, B)), params


def _torch_states(x: np.ndarray, params: ElmanParams):
    """The forward pass in torch, keeping every state as a leaf-connected tensor."""
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in params.as_dict().items()}
    h = leaves["h0"].expand(x.shape[1], -1)
    states = [h]
    for t in range(x.shape[0]):
        h = torch.tanh(leaves["b"] + h @ leaves["W"].T + torch.tensor(x[t]) @ leaves["U"].T)
        h.retain_grad()
        states.append(h)
    return leaves, states


def test_output_errors_are_the_gradient_of_the_scores():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((4, 2, 5))
    targets = rng.integers(0, 5, size=(4, 2))
    o = torch.tensor(scores, requires_grad=True)
    torch.nn.functional.cross_entropy(o.reshape(-1, 5), torch.tensor(targets.reshape(-1)), reduction="sum").backward()
    y_hat = torch.softmax(torch.tensor(scores), dim=-1).numpy()
    assert relative_error(output_errors(y_hat, targets), o.grad.numpy()) < 1e-14


def test_backward_from_output_errors_is_sequence_backward():
    x, targets, params = _problem(1)
    y_hat, cache = sequence_forward(x, params)
    expected = sequence_backward(targets, cache, params)
    got = backward_from_output_errors(output_errors(y_hat, targets), cache, params)
    assert set(got) == set(expected)
    for name in expected:
        assert relative_error(got[name], expected[name]) < 1e-14, name


def test_backward_pass_is_linear_in_the_output_errors():
    x, targets, params = _problem(2)
    y_hat, cache = sequence_forward(x, params)
    rng = np.random.default_rng(3)
    e1, e2 = rng.standard_normal(y_hat.shape), rng.standard_normal(y_hat.shape)
    g1, g2 = backward_from_output_errors(e1, cache, params), backward_from_output_errors(e2, cache, params)
    g_sum = backward_from_output_errors(2.0 * e1 - 3.0 * e2, cache, params)
    for name in g1:
        assert relative_error(g_sum[name], 2.0 * g1[name] - 3.0 * g2[name]) < 1e-13, name


def test_backward_from_arbitrary_output_errors_matches_autograd():
    x, _, params = _problem(4, T=6, B=2, H=4, K=3)
    y_hat, cache = sequence_forward(x, params)
    do = np.random.default_rng(5).standard_normal(y_hat.shape)
    leaves, states = _torch_states(x, params)
    scores = torch.stack(states[1:]) @ leaves["V"].T + leaves["c"]
    (scores * torch.tensor(do)).sum().backward()  # dL/do = do exactly
    grads = backward_from_output_errors(do, cache, params)
    for name, leaf in leaves.items():
        assert relative_error(grads[name], leaf.grad.numpy()) < 1e-12, name


def test_state_jacobians_match_autograd():
    x, _, params = _problem(6, T=4, B=2, H=3)
    _, cache = sequence_forward(x, params)
    jac = state_jacobians(cache, params)
    assert jac.shape == (4, 2, 3, 3)
    for t in range(1, 5):
        for i in range(2):
            h_prev = torch.tensor(cache.h[t - 2, i] if t > 1 else cache.h0[i])
            step = lambda h: torch.tanh(torch.tensor(params.b) + torch.tensor(params.W) @ h
                                        + torch.tensor(params.U) @ torch.tensor(x[t - 1, i]))
            expected = torch.autograd.functional.jacobian(step, h_prev).numpy()
            assert relative_error(jac[t - 1, i], expected) < 1e-13


def test_state_gradients_and_jacobian_products_match_autograd():
    x, _, params = _problem(7, T=9, B=2, H=4, scale=1.5)
    _, cache = sequence_forward(x, params)
    e = np.random.default_rng(8).standard_normal((2, 4))
    leaves, states = _torch_states(x, params)
    states[0].retain_grad()
    (states[-1] * torch.tensor(e)).sum().backward()
    got = state_gradients(e, cache, params)
    assert got.shape == (10, 2, 4)
    for t in range(1, 10):
        assert relative_error(got[t], states[t].grad.numpy()) < 1e-12, t
    assert relative_error(got[0], states[0].grad.numpy()) < 1e-12

    norms = jacobian_product_norms(state_jacobians(cache, params))
    assert norms.shape == (10, 2) and np.allclose(norms[0], 1.0)
    for i in range(2):
        for lag in (1, 4, 9):
            start = 9 - lag
            h_start = cache.h[start - 1, i] if start > 0 else cache.h0[i]
            jac = torch.autograd.functional.jacobian(
                lambda h: _final_state_from(x[:, i], h, params, start=start), torch.tensor(h_start)).numpy()
            assert norms[lag, i] == pytest.approx(np.linalg.norm(jac, 2), rel=1e-10)


def _final_state_from(x_seq: np.ndarray, h: torch.Tensor, params: ElmanParams, start: int) -> torch.Tensor:
    for t in range(start, x_seq.shape[0]):
        h = torch.tanh(torch.tensor(params.b) + torch.tensor(params.W) @ h + torch.tensor(params.U) @ torch.tensor(x_seq[t]))
    return h


def test_gradient_vanishes_for_a_small_and_grows_for_a_large_linear_recurrence():
    rng = np.random.default_rng(9)
    H, T = 6, 30
    W = rng.standard_normal((H, H))
    for radius, grows in ((0.5, False), (1.5, True)):
        params = ElmanParams(W=radius * W / np.max(np.abs(np.linalg.eigvals(W))), U=np.zeros((H, 1)), b=np.zeros(H),
                             V=np.zeros((2, H)), c=np.zeros(2), h0=1e-9 * rng.standard_normal(H))
        _, cache = sequence_forward(np.zeros((T, 1, 1)), params)  # tiny states: tanh is linear
        norms = np.linalg.norm(state_gradients(np.ones((1, H)), cache, params)[:, 0], axis=-1)
        assert (norms[0] > 1e3 * norms[-1]) if grows else (norms[0] < 1e-3 * norms[-1])


@pytest.mark.parametrize("k", [1, 3, 5, 7, 20])
def test_truncated_bptt_is_the_sum_of_the_chunks(k):
    x, targets, params = _problem(10, T=7)
    loss, grads, final = truncated_bptt(x, targets, params, k)
    full_loss, _ = loss_and_gradients(x, targets, params)
    assert loss == pytest.approx(full_loss, rel=1e-12)  # truncation changes the gradient, never the loss
    expected = {name: np.zeros_like(value) for name, value in params.as_dict().items()}
    state = params.h0
    for start in range(0, 7, k):
        chunk = ElmanParams(**{**params.as_dict(), "h0": state})
        _, g = loss_and_gradients(x[start:start + k], targets[start:start + k], chunk)
        for name in ("W", "U", "b", "V", "c"):
            expected[name] += g[name]
        if start == 0:
            expected["h0"] = g["h0"]
        state = sequence_forward(x[start:start + k], chunk)[1].h[-1]
    for name in expected:
        assert relative_error(grads[name], expected[name]) < 1e-13, name
    assert np.allclose(final, sequence_forward(x, params)[1].h[-1], rtol=0, atol=1e-14)


def test_truncated_bptt_with_a_long_window_is_full_bptt():
    x, targets, params = _problem(11, T=8)
    _, full = loss_and_gradients(x, targets, params)
    _, grads, _ = truncated_bptt(x, targets, params, k=8)
    for name in grads:
        assert relative_error(grads[name], full[name]) < 1e-14, name


def test_truncated_gradient_of_w_differs_from_full_bptt_and_matches_finite_differences_per_chunk():
    x, targets, params = _problem(12, T=6, scale=1.5)
    _, full = loss_and_gradients(x, targets, params)
    _, grads, _ = truncated_bptt(x, targets, params, k=2)
    assert relative_error(grads["W"], full["W"]) > 1e-3
    # the truncated gradient is the true gradient of the chunked loss with the carried states held fixed
    carried = [params.h0] + [sequence_forward(x[:s], params)[1].h[-1] for s in (2, 4)]

    def chunked_loss() -> float:
        total = 0.0
        for i, start in enumerate((0, 2, 4)):
            chunk = ElmanParams(**{**params.as_dict(), "h0": carried[i] if i else params.h0})
            total += loss_and_gradients(x[start:start + 2], targets[start:start + 2], chunk)[0]
        return total

    for name in ("W", "U", "b", "V", "c"):
        assert relative_error(grads[name], numerical_gradient(chunked_loss, params.as_dict()[name])) < 1e-7, name


def test_truncation_window_must_be_positive():
    x, targets, params = _problem(13)
    with pytest.raises(ValueError):
        truncated_bptt(x, targets, params, k=0)
