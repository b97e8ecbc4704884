"""Hand-written BPTT against finite differences in float64 and against torch.autograd."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.bptt import (
    clip_by_norm,
    cross_entropy,
    global_norm,
    loss_and_gradients,
    random_params,
    sequence_forward,
    step_backward,
    step_forward,
)
from rnncourse.dynamics import elman_forward
from rnncourse.gradcheck import numerical_gradient, relative_error


def _problem(seed: int, T: int = 6, B: int = 3, D: int = 4, H: int = 5, K: int = 3, batch_h0: bool = False):
    rng = np.random.default_rng(seed)
    params = random_params(rng, D, H, K, scale=0.9)
    if batch_h0:
        params.h0 = 0.1 * rng.standard_normal((B, H))
    return rng.standard_normal((T, B, D)), rng.integers(0, K, size=(T, B)), params


@pytest.mark.parametrize("seed, sizes", [(0, {}), (1, {"T": 1, "B": 1, "D": 1, "H": 1, "K": 2}), (2, {"T": 9, "B": 2, "H": 7}),
                                         (3, {"batch_h0": True})])
def test_bptt_matches_finite_differences(seed, sizes):
    x, targets, params = _problem(seed, **sizes)
    _, grads = loss_and_gradients(x, targets, params)
    for name, value in [*params.as_dict().items(), ("x", x)]:
        numeric = numerical_gradient(lambda: loss_and_gradients(x, targets, params)[0], value)
        assert relative_error(grads[name], numeric) < 1e-7, name


def test_bptt_matches_autograd():
    x, targets, params = _problem(4, T=12, B=4, D=3, H=6, K=5)
    loss, grads = loss_and_gradients(x, targets, params)
    leaves = {name: torch.tensor(value, requires_grad=True) for name, value in params.as_dict().items()}
    xt = torch.tensor(x, requires_grad=True)
    h = leaves["h0"].expand(x.shape[1], -1)
    total = torch.zeros((), dtype=torch.float64)
    for t in range(x.shape[0]):
        h = torch.tanh(leaves["b"] + h @ leaves["W"].T + xt[t] @ leaves["U"].T)
        logits = leaves["c"] + h @ leaves["V"].T
        total = total + torch.nn.functional.cross_entropy(logits, torch.tensor(targets[t]), reduction="sum")
    total.backward()
    assert loss == pytest.approx(total.item(), rel=1e-12)
    for name, leaf in leaves.items():
        assert relative_error(grads[name], leaf.grad.numpy()) < 1e-12, name
    assert relative_error(grads["x"], xt.grad.numpy()) < 1e-12


def test_forward_is_chapter_1s_network():
    x, _, params = _problem(5)
    y_hat, cache = sequence_forward(x, params)
    h0 = np.broadcast_to(params.h0, (x.shape[1], params.h0.shape[-1]))
    assert np.allclose(cache.h, elman_forward(x, h0, params.W, params.U, params.b), rtol=0, atol=1e-14)
    assert np.allclose(y_hat.sum(axis=-1), 1.0)


def test_step_backward_is_the_derivative_of_step_forward():
    rng = np.random.default_rng(6)
    x, h_prev = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    W, U, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 3)), rng.standard_normal(4)
    dh = rng.standard_normal((2, 4))
    _, cache = step_forward(x, h_prev, W, U, b)
    grads = step_backward(dh, cache, W, U)
    for name, value in {"x": x, "h_prev": h_prev, "W": W, "U": U, "b": b}.items():
        numeric = numerical_gradient(lambda: float(np.sum(dh * step_forward(x, h_prev, W, U, b)[0])), value)
        assert relative_error(grads[name], numeric) < 1e-8, name


def test_clipping_rescales_to_the_norm_and_never_in_place():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    clipped, norm = clip_by_norm(grads, 1.0)
    assert norm == 5.0 and global_norm(clipped) == pytest.approx(1.0)
    assert grads["a"][0] == 3.0  # the originals are untouched
    same, _ = clip_by_norm(grads, 10.0)
    assert all(np.array_equal(same[k], grads[k]) for k in grads)


def test_a_wrong_gradient_is_caught():
    x, targets, params = _problem(7)
    _, grads = loss_and_gradients(x, targets, params)
    numeric = numerical_gradient(lambda: loss_and_gradients(x, targets, params)[0], params.W)
    assert relative_error(grads["W"].T, numeric) > 1e-2  # a forgotten transpose
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(2, dtype=np.float32))


def test_cross_entropy_of_a_certain_prediction_is_zero():
    y_hat = np.array([[[0.0, 1.0]], [[1.0, 0.0]]])
    assert cross_entropy(y_hat, np.array([[1], [0]])) == 0.0
