"""Gradient checking: centred finite differences in float64 and the relative error (chapter 2).

Check a hand-written gradient *before* any clipping or update touches it: a check that runs after
in-place clipping fails for no real reason.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.floating]

__all__ = ["numerical_gradient", "relative_error"]


def numerical_gradient(f: Callable[[], float], x: Array, eps: float = 1e-6) -> Array:
    """:math:`\\partial f/\\partial x_i \\approx (f(x + \\epsilon e_i) - f(x - \\epsilon e_i)) / 2\\epsilon`
    for every entry of ``x``, changing ``x`` in place and restoring it.

    Args:
        f: the loss, computed from the current contents of ``x`` (and anything else it closes over).
        x: a float64 array that ``f`` reads.
        eps: the step; with float64, 1e-6 balances truncation (O(eps^2)) against rounding (O(1e-16/eps)).
    """
    if x.dtype != np.float64:
        raise TypeError(f"finite differences need float64 (got {x.dtype}): float32 rounding swamps the signal")
    grad = np.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)  # views of x and grad
    for i in range(flat.size):
        saved = flat[i]
        flat[i] = saved + eps
        plus = f()
        flat[i] = saved - eps
        minus = f()
        flat[i] = saved
        out[i] = (plus - minus) / (2 * eps)
    return grad


def relative_error(a: Array, b: Array, floor: float = 1e-12) -> float:
    r""":math:`\lVert a - b \rVert / \max(\lVert a \rVert + \lVert b \rVert, \text{floor})` over the whole
    array: about 1e-8 or less for a correct float64 gradient, 1e-2 or more for a wrong one. (Taken entry
    by entry it would blow up wherever the true gradient is about zero.)"""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b) / max(float(np.linalg.norm(a) + np.linalg.norm(b)), floor))
