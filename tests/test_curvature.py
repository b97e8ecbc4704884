"""Newton's step, steepest descent and conjugate gradient on quadratics; Hessian-vector products."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnncourse.curvature import (
    conjugate_gradient,
    hessian_vector_product,
    newton_step,
    quadratic_value,
    random_spd_matrix,
    steepest_descent,
)


def _quadratic(seed: int, n: int, condition: float = 100.0):
    rng = np.random.default_rng(seed)
    A = random_spd_matrix(np.linspace(1.0, condition, n), rng)
    return A, rng.standard_normal(n)


@pytest.mark.parametrize("seed, n", [(0, 1), (1, 2), (2, 5), (3, 20), (4, 40)])
def test_cg_solves_an_spd_system_in_at_most_n_steps(seed, n):
    A, g = _quadratic(seed, n)
    result = conjugate_gradient(A, g, tol=1e-10)
    assert result.steps <= n
    assert np.allclose(result.x, np.linalg.solve(A, -g), rtol=1e-8, atol=1e-10)
    assert result.residual_norms[-1] <= 1e-10 * result.residual_norms[0]


def test_cg_takes_a_matvec_and_needs_only_as_many_steps_as_distinct_eigenvalues():
    rng = np.random.default_rng(5)
    A = random_spd_matrix(np.repeat([1.0, 4.0, 9.0], 10), rng)  # n = 30, three distinct eigenvalues
    g = rng.standard_normal(30)
    calls = []

    def matvec(v):
        calls.append(1)
        return A @ v

    result = conjugate_gradient(matvec, g, tol=1e-10)
    assert result.steps == 3
    assert np.allclose(result.x, np.linalg.solve(A, -g), atol=1e-9)
    assert len(calls) == 1 + 3  # the starting residual, then one product per step


def test_cg_residuals_are_orthogonal_and_directions_conjugate():
    A, g = _quadratic(6, 12, condition=10.0)
    result = conjugate_gradient(A, g, tol=1e-14)
    d = result.directions
    gram = d @ A @ d.T
    off = gram - np.diag(np.diag(gram))
    assert np.max(np.abs(off)) < 1e-8 * np.max(np.diag(gram))
    residuals = -g - result.iterates @ A  # (k + 1, n), A symmetric
    r = residuals[:-1] / np.linalg.norm(residuals[:-1], axis=1, keepdims=True)
    assert np.max(np.abs(r @ r.T - np.eye(len(r)))) < 1e-8
    assert np.allclose(np.linalg.norm(residuals, axis=1), result.residual_norms, rtol=1e-6, atol=1e-12)


def test_cg_decreases_the_quadratic_at_every_step_and_starts_from_x0():
    A, g = _quadratic(7, 15)
    x0 = np.random.default_rng(8).standard_normal(15)
    result = conjugate_gradient(A, g, x0=x0)
    assert np.array_equal(result.iterates[0], x0)
    values = [quadratic_value(A, g, x) for x in result.iterates]
    assert all(b < a + 1e-12 for a, b in zip(values, values[1:]))
    assert conjugate_gradient(A, g, max_iter=3).steps == 3


def test_cg_at_the_minimum_takes_no_step():
    A, g = _quadratic(9, 4)
    assert conjugate_gradient(A, np.zeros(4)).steps == 0
    assert conjugate_gradient(A, g, x0=np.linalg.solve(A, -g)).steps <= 1


def test_newton_jumps_to_the_minimum_of_a_quadratic():
    A, g = _quadratic(10, 8)
    x = newton_step(A, g)
    assert np.allclose(A @ x + g, 0.0, atol=1e-10)
    assert quadratic_value(A, g, x) <= quadratic_value(A, g, x + 1e-3 * np.ones(8))


def test_steepest_descent_converges_slowly_and_orthogonally():
    A, g = _quadratic(11, 10, condition=50.0)
    sd = steepest_descent(A, g, steps=10)
    cg = conjugate_gradient(A, g)
    assert sd.residual_norms[-1] > 1e3 * cg.residual_norms[-1]  # after n steps CG is done, SD is not
    d = sd.directions
    assert np.max(np.abs(np.sum(d[1:] * d[:-1], axis=1))) < 1e-8 * np.max(np.sum(d * d, axis=1))
    long_run = steepest_descent(A, g, steps=5000, tol=1e-8)
    assert np.allclose(long_run.x, np.linalg.solve(A, -g), atol=1e-6)


def test_steepest_descent_on_a_round_quadratic_takes_one_step():
    g = np.array([1.0, -2.0, 3.0])
    result = steepest_descent(2.0 * np.eye(3), g)
    assert result.steps == 1 and np.allclose(result.x, -g / 2.0)


def test_random_spd_matrix_has_the_eigenvalues_asked_for():
    eig = np.array([0.5, 1.0, 3.0, 7.0])
    A = random_spd_matrix(eig, np.random.default_rng(12))
    assert np.allclose(A, A.T) and np.allclose(np.linalg.eigvalsh(A), eig)
    with pytest.raises(ValueError):
        random_spd_matrix(np.array([1.0, 0.0]), np.random.default_rng(0))


def test_hessian_vector_product_matches_the_full_hessian():
    torch.manual_seed(0)
    W = torch.randn(3, 3, dtype=torch.float64)
    x = torch.randn(5, 3, dtype=torch.float64)

    def loss(theta):
        h = torch.tanh(x @ theta.reshape(3, 3).T)
        return (h**2).sum() + (theta**4).sum()

    theta, v = W.flatten(), torch.randn(9, dtype=torch.float64)
    full = torch.autograd.functional.hessian(loss, theta)
    assert torch.allclose(hessian_vector_product(loss, theta, v), full @ v, rtol=1e-10, atol=1e-12)
