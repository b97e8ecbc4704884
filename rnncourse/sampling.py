"""Sampling from a character-level Elman network with a temperature, in NumPy (chapter 2, section
*A character-level language model*; exercise 2, part 4).

To generate text, the network first reads a *burn-in* prefix, one character per step, which sets
its state. Then it repeats: turn the scores :math:`o^{(t)}` into probabilities at temperature
:math:`\\tau`,

.. math::

    p_k = \\frac{\\exp(o_k / \\tau)}{\\sum_j \\exp(o_j / \\tau)},

draw a character from :math:`p`, and feed that character back in as the next input, as if it had
really occurred. :math:`\\tau = 1` samples the model's own distribution, :math:`\\tau < 1` sharpens
it (:math:`\\tau \\to 0` always takes the most likely character), :math:`\\tau > 1` flattens it.

The draw is made by inverting the cumulative distribution with a uniform number :math:`u \\in [0, 1)`:
the chosen index is the first :math:`k` with :math:`p_1 + \\dots + p_k > u`. Passing the uniforms in
makes sampling reproducible and testable.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from rnncourse.dynamics import softmax

Array = NDArray[np.floating]

__all__ = ["draw", "sample_elman", "softmax_with_temperature"]


def softmax_with_temperature(o: Array, temperature: float) -> Array:
    """:math:`\\mathrm{softmax}(o / \\tau)` over the last axis; ``temperature == 0`` gives the one-hot
    vector of the largest score (the limit :math:`\\tau \\to 0`; ties go to the first index).

    Args:
        o: ``(..., K)`` scores; temperature: :math:`\\tau \\ge 0`.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        greedy = np.zeros_like(o, dtype=np.float64)
        np.put_along_axis(greedy, np.argmax(o, axis=-1)[..., None], 1.0, axis=-1)
        return greedy
    return softmax(o / temperature)


def draw(p: Array, u: float) -> int:
    """The index sampled from the distribution ``p`` ``(K,)`` by the uniform number ``u`` in ``[0, 1)``:
    the first ``k`` whose cumulative probability exceeds ``u`` (the last index if rounding leaves
    the total just below ``u``)."""
    return int(min(np.searchsorted(np.cumsum(p), u, side="right"), len(p) - 1))


def sample_elman(
    burn_in: Array,
    n: int,
    temperature: float,
    uniforms: Array,
    h0: Array,
    W: Array,
    U: Array,
    b: Array,
    V: Array,
    c: Array,
) -> NDArray[np.int64]:
    """Generate ``n`` characters from an Elman network whose inputs are one-hot characters.

    Args:
        burn_in: ``(P, K)`` one-hot rows, the prefix read first (``P >= 1``).
        n: how many characters to generate.
        temperature: :math:`\\tau` (0 means always the most likely character).
        uniforms: ``(n,)`` numbers in ``[0, 1)``, one per draw.
        h0: ``(H,)`` initial state; W: ``(H, H)``; U: ``(H, K)``; b: ``(H,)``; V: ``(K, H)``; c: ``(K,)``.

    Returns:
        ``(n,)`` the indices of the generated characters. The first is drawn from the prediction
        after the last burn-in character; each drawn character is the next step's input.
    """
    h = h0
    for x in burn_in:
        h = np.tanh(b + W @ h + U @ x)
    K = V.shape[0]
    chosen = np.empty(n, dtype=np.int64)
    for i in range(n):
        p = softmax_with_temperature(c + V @ h, temperature)
        chosen[i] = draw(p, float(uniforms[i]))
        x = np.zeros(K)
        x[chosen[i]] = 1.0
        h = np.tanh(b + W @ h + U @ x)
    return chosen
