"""rnncourse.sampling: temperatures, inverse-CDF draws and generation from an Elman network."""

from __future__ import annotations

import numpy as np
import pytest

from rnncourse import dynamics
from rnncourse.grading.wire import decode_value
from rnncourse.grading.worker import encode_value
from rnncourse.sampling import draw, sample_elman, softmax_with_temperature


def test_temperature_one_is_the_softmax_and_limits_are_greedy_and_uniform():
    o = np.array([[1.0, 3.0, 2.0], [0.5, 0.5, -1.0]])
    assert np.allclose(softmax_with_temperature(o, 1.0), dynamics.softmax(o))
    assert np.array_equal(softmax_with_temperature(o, 0.0), np.array([[0, 1, 0], [1, 0, 0]], dtype=float))
    assert np.allclose(softmax_with_temperature(o, 1e6), 1 / 3, atol=1e-5)
    sharp, flat = softmax_with_temperature(o, 0.5), softmax_with_temperature(o, 2.0)
    assert sharp[0].max() > dynamics.softmax(o)[0].max() > flat[0].max()
    assert np.all(np.isfinite(softmax_with_temperature(100 * o, 1e-4)))
    with pytest.raises(ValueError):
        softmax_with_temperature(o, -1.0)


def test_draw_inverts_the_cumulative_distribution():
    p = np.array([0.2, 0.5, 0.3])
    assert [draw(p, u) for u in (0.0, 0.19, 0.2, 0.69, 0.7, 0.999)] == [0, 0, 1, 1, 2, 2]
    assert draw(np.array([0.5, 0.5 - 1e-12]), 0.9999999999999) == 1  # rounding never runs off the end
    counts = np.bincount([draw(p, u) for u in np.random.default_rng(0).random(20000)], minlength=3)
    assert np.allclose(counts / counts.sum(), p, atol=0.015)


def test_greedy_generation_matches_a_hand_loop():
    rng = np.random.default_rng(3)
    K, H = 5, 7
    W, U, b = rng.standard_normal((H, H)) / 2, rng.standard_normal((H, K)), rng.standard_normal(H)
    V, c, h0 = rng.standard_normal((K, H)), rng.standard_normal(K), np.zeros(H)
    burn_in = np.eye(K)[[1, 4, 2]]
    got = sample_elman(burn_in, 12, 0.0, rng.random(12), h0, W, U, b, V, c)
    h = h0[None]
    for x in burn_in:
        h = dynamics.elman_step(x[None], h, W, U, b)
    expected = []
    for _ in range(12):
        k = int(np.argmax(dynamics.output_layer(h, V, c)[0]))
        expected.append(k)
        h = dynamics.elman_step(np.eye(K)[[k]], h, W, U, b)
    assert got.tolist() == expected and got.dtype.kind == "i"


def test_integer_answers_cross_the_wire_only_when_a_part_asks_for_them():
    encoded = encode_value(np.array([3, 1, 2]))
    assert "dtype int64" in decode_value(encoded)
    assert decode_value(encoded, integers=True).tolist() == [3.0, 1.0, 2.0]
    assert isinstance(decode_value(encode_value("no"), integers=True), str)
