"""Tests for rnncourse.sequences: the delayed-recall series and the scalar Kalman filter."""

from __future__ import annotations

import numpy as np
import pytest

from rnncourse.dynamics import fit_autoregressive, predict_autoregressive
from rnncourse.sequences import delayed_recall_series, kalman_filter_1d, simulate_scalar_lds


def test_delayed_recall_copies_the_cue() -> None:
    rng = np.random.default_rng(0)
    series, recall = delayed_recall_series(50, 7, rng, noise=0.1, gap=(2, 5))
    assert series.ndim == 1 and recall.shape == (50,)
    np.testing.assert_array_equal(series[recall], series[recall - 7])
    assert set(np.unique(series[recall])) <= {-1.0, 1.0}
    assert recall[-1] < len(series)
    # Trials are delay + 1 samples plus a gap in [2, 5): consecutive recalls are 10..12 apart.
    assert np.all((np.diff(recall) >= 10) & (np.diff(recall) <= 12))


def test_delayed_recall_is_reproducible() -> None:
    a = delayed_recall_series(20, 5, np.random.default_rng(3))
    b = delayed_recall_series(20, 5, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("bad", [{"delay": 0}, {"delay": 3, "gap": (4, 4)}])
def test_delayed_recall_rejects_bad_arguments(bad: dict) -> None:
    with pytest.raises(ValueError):
        delayed_recall_series(5, rng=np.random.default_rng(0), **bad)


def test_autoregression_needs_taps_reaching_the_cue() -> None:
    series, recall = delayed_recall_series(300, 12, np.random.default_rng(1))

    def recall_error(order: int) -> float:
        prediction = predict_autoregressive(series, fit_autoregressive(series, order))
        return float(np.mean((prediction[recall - order] - series[recall]) ** 2))

    assert recall_error(11) > 0.9  # no tap reaches the cue: no better than guessing 0
    assert recall_error(12) < 0.5


def test_simulate_scalar_lds_shapes_and_noise_free_case() -> None:
    z, x = simulate_scalar_lds(100, 0.9, 0.5, 0.2, np.random.default_rng(0))
    assert z.shape == x.shape == (100,)
    z, x = simulate_scalar_lds(10, 0.5, 0.0, 0.0, np.random.default_rng(0), z0=8.0)
    np.testing.assert_allclose(z, 8.0 * 0.5 ** np.arange(1, 11))
    np.testing.assert_allclose(x, z)


def test_kalman_matches_the_exact_gaussian_posterior() -> None:
    """The filtered mean and variance at the last step equal the batch Gaussian posterior."""
    a, q, r, var0 = 0.8, 0.3, 0.5, 2.0
    rng = np.random.default_rng(4)
    _, x = simulate_scalar_lds(6, a, q, r, rng)
    means, variances = kalman_filter_1d(x, a, q, r, mean0=0.0, var0=var0)

    # Joint Gaussian of (z0, z1..zN): z_t = a z_{t-1} + e_t, so z = L e with e ~ N(0, diag(var0, q, ...)).
    n = len(x)
    L = np.array([[a ** (i - j) if i >= j else 0.0 for j in range(n + 1)] for i in range(n + 1)])
    cov_z = L @ np.diag([var0] + [q] * n) @ L.T
    cov_zx = cov_z[:, 1:]  # x_t = z_t + noise
    cov_x = cov_z[1:, 1:] + r * np.eye(n)
    posterior_mean = cov_zx @ np.linalg.solve(cov_x, x)
    posterior_cov = cov_z - cov_zx @ np.linalg.solve(cov_x, cov_zx.T)
    np.testing.assert_allclose(means[-1], posterior_mean[-1], rtol=1e-10)
    np.testing.assert_allclose(variances[-1], posterior_cov[-1, -1], rtol=1e-10)


def test_kalman_variances_do_not_depend_on_the_data() -> None:
    x1 = np.random.default_rng(0).standard_normal(20)
    x2 = np.random.default_rng(1).standard_normal(20)
    _, v1 = kalman_filter_1d(x1, 0.9, 0.1, 0.4)
    _, v2 = kalman_filter_1d(x2, 0.9, 0.1, 0.4)
    np.testing.assert_allclose(v1, v2)
    assert np.all(v1 > 0)
