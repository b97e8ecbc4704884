"""Backpropagation through time by hand, in NumPy (chapter 2, *Backpropagation through time*).

The network is chapter 1's Elman network with a softmax output and a cross-entropy loss at every
step (course notation, see the book's notation page):

.. math::

    a^{(t)} = b + W h^{(t-1)} + U x^{(t)}, \\qquad h^{(t)} = \\tanh(a^{(t)}), \\qquad
    o^{(t)} = c + V h^{(t)}, \\qquad \\hat y^{(t)} = \\mathrm{softmax}(o^{(t)}),

    L = \\sum_t L^{(t)} = -\\sum_t \\log \\hat y^{(t)}_{y^{(t)}}.

The backward pass peels the forward pass's stack of activities off, last step first:

.. math::

    \\frac{\\partial L}{\\partial o^{(t)}} = \\hat y^{(t)} - \\mathbf{1}_{y^{(t)}}, \\qquad
    \\frac{\\partial L}{\\partial h^{(t)}} = V^\\top \\frac{\\partial L}{\\partial o^{(t)}}
        + W^\\top \\frac{\\partial L}{\\partial a^{(t+1)}}, \\qquad
    \\frac{\\partial L}{\\partial a^{(t)}} = (1 - h^{(t)2}) \\odot \\frac{\\partial L}{\\partial h^{(t)}},

and each shared weight sums the gradients of its copies over time, e.g.
:math:`\\partial L / \\partial W = \\sum_t (\\partial L / \\partial a^{(t)})\\, h^{(t-1)\\top}`.

One function per idea, with a cache from forward to backward (as in CS231n's ``rnn_layers``):
:func:`step_forward`/:func:`step_backward` for one step, :func:`sequence_forward`/
:func:`sequence_backward` for a whole sequence, :func:`loss_and_gradients` for both with the loss.
Vectors are rows, so code computes ``h @ W.T`` where the maths writes ``W h``. Shapes: ``T`` time,
``B`` batch, ``D`` inputs, ``H`` hidden units, ``K`` classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rnncourse.dynamics import softmax

Array = NDArray[np.floating]

__all__ = [
    "ElmanParams",
    "SequenceCache",
    "backward_from_output_errors",
    "clip_by_norm",
    "cross_entropy",
    "global_norm",
    "jacobian_product_norms",
    "loss_and_gradients",
    "output_errors",
    "random_params",
    "sequence_backward",
    "sequence_forward",
    "state_gradients",
    "state_jacobians",
    "step_backward",
    "step_forward",
    "truncated_bptt",
]


@dataclass
class ElmanParams:
    """The parameters of an Elman network with a linear-softmax output.

    Attributes:
        W: ``(H, H)`` hidden to hidden.
        U: ``(H, D)`` input to hidden.
        b: ``(H,)`` hidden bias.
        V: ``(K, H)`` hidden to output.
        c: ``(K,)`` output bias.
        h0: ``(H,)`` or ``(B, H)`` initial state (learned like any other parameter, section 2.3).
    """

    W: Array
    U: Array
    b: Array
    V: Array
    c: Array
    h0: Array

    def as_dict(self) -> dict[str, Array]:
        return {"W": self.W, "U": self.U, "b": self.b, "V": self.V, "c": self.c, "h0": self.h0}


def random_params(rng: np.random.Generator, D: int, H: int, K: int, scale: float = 0.5) -> ElmanParams:
    """Small random parameters (float64): ``W`` scaled by ``scale / sqrt(H)``, biases nonzero."""
    return ElmanParams(
        W=scale * rng.standard_normal((H, H)) / np.sqrt(H),
        U=rng.standard_normal((H, D)) / np.sqrt(D),
        b=0.1 * rng.standard_normal(H),
        V=rng.standard_normal((K, H)) / np.sqrt(H),
        c=0.1 * rng.standard_normal(K),
        h0=0.1 * rng.standard_normal(H),
    )


# --------------------------------------------------------------------------- one step


def step_forward(x: Array, h_prev: Array, W: Array, U: Array, b: Array) -> tuple[Array, tuple[Array, Array, Array]]:
    """One step :math:`h = \\tanh(b + W h_{prev} + U x)`.

    Args:
        x: ``(B, D)`` inputs; h_prev: ``(B, H)``; W: ``(H, H)``; U: ``(H, D)``; b: ``(H,)``.

    Returns:
        ``h`` of shape ``(B, H)`` and the cache ``(x, h_prev, h)`` that :func:`step_backward` needs.
    """
    h = np.tanh(b + h_prev @ W.T + x @ U.T)
    return h, (x, h_prev, h)


def step_backward(dh: Array, cache: tuple[Array, Array, Array], W: Array, U: Array) -> dict[str, Array]:
    """The gradients of one step, given ``dh`` = :math:`\\partial L/\\partial h` ``(B, H)``.

    Returns:
        ``{"x": (B, D), "h_prev": (B, H), "W": (H, H), "U": (H, D), "b": (H,)}``: the loss's gradient
        with respect to each input of :func:`step_forward`. ``tanh'(a) = 1 - h^2`` uses the cached ``h``.
    """
    x, h_prev, h = cache
    da = dh * (1.0 - h**2)
    return {"x": da @ U, "h_prev": da @ W, "W": da.T @ h_prev, "U": da.T @ x, "b": da.sum(axis=0)}


# --------------------------------------------------------------------------- a sequence


@dataclass
class SequenceCache:
    """What the forward pass keeps for the backward pass: the stack of activities."""

    x: Array  # (T, B, D)
    h0: Array  # (B, H)
    h: Array  # (T, B, H)
    y_hat: Array  # (T, B, K)


def sequence_forward(x: Array, params: ElmanParams) -> tuple[Array, SequenceCache]:
    """Run the network over ``x`` ``(T, B, D)``; returns the probabilities ``y_hat`` ``(T, B, K)`` and the cache.

    ``params.h0`` may be ``(H,)`` (one learned initial state, shared by the batch) or ``(B, H)``.
    """
    T, B, _ = x.shape
    h = np.broadcast_to(params.h0, (B, params.W.shape[0]))
    h0 = h
    states = np.empty((T, B, params.W.shape[0]))
    for t in range(T):
        h, _ = step_forward(x[t], h, params.W, params.U, params.b)
        states[t] = h
    y_hat = softmax(states @ params.V.T + params.c)
    return y_hat, SequenceCache(x=x, h0=np.array(h0), h=states, y_hat=y_hat)


def cross_entropy(y_hat: Array, targets: NDArray[np.integer]) -> float:
    """:math:`L = -\\sum_{t, i} \\log \\hat y^{(t)}_{i, y^{(t)}_i}`, summed over time and batch.

    Args:
        y_hat: ``(T, B, K)`` probabilities; targets: ``(T, B)`` class indices.
    """
    picked = np.take_along_axis(y_hat, targets[..., None], axis=-1)[..., 0]
    return float(-np.sum(np.log(picked)))


def sequence_backward(targets: NDArray[np.integer], cache: SequenceCache, params: ElmanParams) -> dict[str, Array]:
    """Backpropagation through time for :func:`cross_entropy` of :func:`sequence_forward`.

    Walks the steps last to first, carrying :math:`\\partial L/\\partial h^{(t)}` back through
    :math:`W^\\top` and summing each shared parameter's gradient over the steps. Time and memory are
    O(T): the whole stack of states is kept, and step ``t`` needs step ``t + 1``'s gradient, so the
    steps cannot run in parallel.

    Returns:
        Gradients with the shapes of the parameters: ``W, U, b, V, c`` and ``h0`` (shaped like
        ``params.h0``), plus ``"x"`` ``(T, B, D)``.
    """
    return backward_from_output_errors(output_errors(cache.y_hat, targets), cache, params)


def loss_and_gradients(x: Array, targets: NDArray[np.integer], params: ElmanParams) -> tuple[float, dict[str, Array]]:
    """The loss of :func:`cross_entropy` and its gradients (forward, then BPTT)."""
    y_hat, cache = sequence_forward(x, params)
    return cross_entropy(y_hat, targets), sequence_backward(targets, cache, params)


# --------------------------------------------------------------------------- clipping


def global_norm(grads: dict[str, Array]) -> float:
    """:math:`\\sqrt{\\sum_p \\lVert g_p \\rVert^2}` over every gradient array."""
    return float(np.sqrt(sum(float(np.sum(g**2)) for g in grads.values())))


def clip_by_norm(grads: dict[str, Array], max_norm: float) -> tuple[dict[str, Array], float]:
    """Gradient norm clipping (Pascanu, Mikolov and Bengio 2013): if the global norm exceeds
    ``max_norm``, scale every gradient by ``max_norm / norm``. Returns new arrays (never in place,
    so a gradient check run afterwards still sees the true gradients) and the norm before clipping."""
    norm = global_norm(grads)
    scale = max_norm / norm if norm > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}, norm


# --------------------------------------------------------------------------- the backward pass, piece by piece
# (chapter 2: the backward pass is linear, gradients across time lags, truncated BPTT)


def output_errors(y_hat: Array, targets: NDArray[np.integer]) -> Array:
    """:math:`\\partial L/\\partial o^{(t)} = \\hat y^{(t)} - \\mathbf{1}_{y^{(t)}}` for softmax and cross-entropy.

    Args:
        y_hat: ``(T, B, K)`` probabilities; targets: ``(T, B)`` class indices.

    Returns:
        ``(T, B, K)``: the error of the output scores at every step (a new array).
    """
    do = np.array(y_hat, dtype=np.float64, copy=True)
    np.put_along_axis(do, targets[..., None], np.take_along_axis(do, targets[..., None], axis=-1) - 1.0, axis=-1)
    return do


def backward_from_output_errors(do: Array, cache: SequenceCache, params: ElmanParams) -> dict[str, Array]:
    """Backpropagation through time from given output errors ``do`` = :math:`\\partial L/\\partial o^{(t)}` ``(T, B, K)``.

    The same recursion as :func:`sequence_backward`, which it equals when ``do`` is
    :func:`output_errors`, but with the errors of the scores as the input. The forward pass (``cache``)
    fixes the slopes :math:`1 - h^{(t)2}`; after that every gradient is a *linear* function of ``do``:
    doubling ``do`` doubles every gradient.

    Returns:
        Gradients ``W, U, b, V, c, h0`` (``h0`` shaped like ``params.h0``) and ``x`` ``(T, B, D)``.
    """
    T, B, _ = cache.x.shape
    grads = {
        "W": np.zeros_like(params.W), "U": np.zeros_like(params.U), "b": np.zeros_like(params.b),
        "V": np.einsum("tbk,tbh->kh", do, cache.h), "c": do.sum(axis=(0, 1)), "x": np.zeros_like(cache.x),
    }
    dh_next = np.zeros((B, params.W.shape[0]))
    for t in reversed(range(T)):
        h_prev = cache.h[t - 1] if t > 0 else cache.h0
        step = step_backward(do[t] @ params.V + dh_next, (cache.x[t], h_prev, cache.h[t]), params.W, params.U)
        for name in ("W", "U", "b"):
            grads[name] += step[name]
        grads["x"][t] = step["x"]
        dh_next = step["h_prev"]
    grads["h0"] = dh_next.sum(axis=0) if params.h0.ndim == 1 else dh_next
    return grads


def state_jacobians(cache: SequenceCache, params: ElmanParams) -> Array:
    """The Jacobians :math:`J^{(t)} = \\partial h^{(t)}/\\partial h^{(t-1)} = \\operatorname{diag}(1 - h^{(t)2})\\, W`.

    Returns:
        ``(T, B, H, H)``: entry ``[t - 1, i]`` is :math:`J^{(t)}` of sequence ``i``, for ``t = 1..T``.
    """
    return (1.0 - cache.h**2)[..., :, None] * params.W


def jacobian_product_norms(jacobians: Array) -> Array:
    """Spectral norms of :math:`\\partial h^{(T)}/\\partial h^{(T-\\ell)} = J^{(T)} J^{(T-1)} \\cdots J^{(T-\\ell+1)}`.

    Args:
        jacobians: ``(T, B, H, H)`` from :func:`state_jacobians`.

    Returns:
        ``(T + 1, B)``: row ``l`` is the largest singular value of the product over the last ``l`` steps
        (row 0 is the identity, norm 1).
    """
    T, B, H, _ = jacobians.shape
    product = np.broadcast_to(np.eye(H), (B, H, H)).copy()
    norms = np.empty((T + 1, B))
    norms[0] = 1.0
    for lag in range(1, T + 1):
        product = product @ jacobians[T - lag]
        norms[lag] = np.linalg.norm(product, ord=2, axis=(1, 2))
    return norms


def state_gradients(dh_last: Array, cache: SequenceCache, params: ElmanParams) -> Array:
    """Backpropagate an error placed on the last state only, and return what arrives at every state.

    With :math:`L = e^\\top h^{(T)}` for ``e = dh_last`` ``(B, H)``, row ``t`` of the result is
    :math:`\\partial L/\\partial h^{(t)} = \\big(\\partial h^{(T)}/\\partial h^{(t)}\\big)^{\\top} e`, for
    ``t = 0..T``; its norm against the lag ``T - t`` shows gradients vanishing or exploding.

    Returns:
        ``(T + 1, B, H)``; row ``T`` is ``dh_last`` and row 0 the gradient at the initial state.
    """
    T = cache.x.shape[0]
    out = np.empty((T + 1, *dh_last.shape))
    out[T] = dh_last
    dh = np.array(dh_last, dtype=np.float64)
    for t in reversed(range(T)):
        h_prev = cache.h[t - 1] if t > 0 else cache.h0
        dh = step_backward(dh, (cache.x[t], h_prev, cache.h[t]), params.W, params.U)["h_prev"]
        out[t] = dh
    return out


def truncated_bptt(
    x: Array, targets: NDArray[np.integer], params: ElmanParams, k: int
) -> tuple[float, dict[str, Array], Array]:
    """Truncated BPTT over one long sequence: split it into chunks of ``k`` steps, carry the state from chunk
    to chunk, but backpropagate only inside each chunk.

    Each chunk starts from the previous chunk's final state treated as a constant, so no gradient crosses a
    chunk boundary: a dependency longer than ``k`` steps never contributes to the gradient. The first chunk
    starts from ``params.h0`` (and alone gives ``h0`` a gradient). With ``k >= T`` this is
    :func:`loss_and_gradients`.

    Returns:
        The total loss, the gradients summed over the chunks (keys as :func:`loss_and_gradients` returns,
        without ``x``) and the final state ``(B, H)``.
    """
    if k < 1:
        raise ValueError(f"the truncation window must be at least 1 step, got {k}")
    T = x.shape[0]
    total, grads = 0.0, None
    state: Array = params.h0
    for start in range(0, T, k):
        chunk = ElmanParams(W=params.W, U=params.U, b=params.b, V=params.V, c=params.c, h0=state)
        y_hat, cache = sequence_forward(x[start:start + k], chunk)
        total += cross_entropy(y_hat, targets[start:start + k])
        step = sequence_backward(targets[start:start + k], cache, chunk)
        if grads is None:
            grads = {name: g for name, g in step.items() if name != "x"}
        else:
            for name in ("W", "U", "b", "V", "c"):
                grads[name] = grads[name] + step[name]
        state = cache.h[-1]
    assert grads is not None
    return total, grads, np.array(state)
