r"""Gated memory in NumPy: LSTM and GRU cells, the two GRU conventions, and gradient flow measured
(chapter 3, *Gated memory: LSTM and GRU*).

Course notation (see the book's notation page): each gate has an input matrix :math:`U_g` and a recurrent
matrix :math:`W_g`; :math:`\sigma` is the logistic function and :math:`\odot` the element-wise product. The
LSTM, with :math:`C` its cell state:

.. math::

    i &= \sigma(U_i x + W_i h + b_i), \quad f = \sigma(U_f x + W_f h + b_f), \quad
    o = \sigma(U_o x + W_o h + b_o), \quad g = \tanh(U_g x + W_g h + b_g),\\
    C' &= f \odot C + i \odot g, \qquad h' = o \odot \tanh(C').

Weights are stored as in ``torch.nn.LSTM`` and ``torch.nn.GRU``, so they load into PyTorch unchanged: the
gates' input matrices are stacked into ``W_ih`` (PyTorch's ``weight_ih``), the recurrent ones into ``W_hh``
(``weight_hh``), each with its own bias (``b_ih``, ``b_hh``; only their sum matters, except for the GRU's
candidate). The GRU comes in two conventions, PyTorch's (:func:`gru_cell`) and the lecture's
(:func:`lecture_gru_cell`); :func:`lecture_to_torch_gru` and :func:`torch_to_lecture_gru` state and prove
exactly when one is the other.

What is here, one idea per function:

- the cells :func:`lstm_cell`, :func:`gru_cell`, :func:`lecture_gru_cell`; a sequence :func:`lstm_forward`,
  :func:`gru_forward`; stacked and bidirectional networks :func:`deep_rnn_forward`;
- the GRU conventions: :func:`lecture_to_torch_gru`, :func:`torch_to_lecture_gru`, :func:`gru_convention_gap`;
- sequence classification on padded batches: :func:`pool_states`;
- Hinton's memory cell (write, keep and read gates): :func:`memory_cell_trace`, :func:`memory_cell_backward`,
  :func:`memory_cell_schedule`;
- gradient flow through ``torch.nn`` cells, measured with autograd: :func:`gradient_norms_by_lag`;
- deep recurrent networks' path lengths (Pascanu et al. 2014): :func:`shortest_path_length`.

Everything but :func:`gradient_norms_by_lag` is NumPy in float64. Vectors are rows, so the code computes
``h @ W.T`` where the maths writes :math:`W h`. Shapes: ``T`` time, ``B`` batch, ``D`` inputs, ``H`` hidden
units.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:  # torch is imported only by gradient_norms_by_lag, so the NumPy references load fast
    import torch

Array = NDArray[np.floating]
#: One layer's (direction's) weights in PyTorch's layout: ``(W_ih, W_hh, b_ih, b_hh)``.
LayerParams = tuple[Array, Array, Array, Array]

__all__ = [
    "GradientFlow",
    "LayerParams",
    "deep_rnn_forward",
    "gradient_norms_by_lag",
    "gru_cell",
    "gru_convention_gap",
    "gru_forward",
    "lecture_gru_cell",
    "lecture_to_torch_gru",
    "lstm_cell",
    "lstm_forward",
    "memory_cell_backward",
    "memory_cell_schedule",
    "memory_cell_trace",
    "pool_states",
    "shortest_path_length",
    "sigmoid",
    "torch_to_lecture_gru",
]


def sigmoid(a: Array) -> Array:
    r""":math:`\sigma(a) = 1 / (1 + e^{-a})`, element-wise, without overflow for large :math:`|a|`."""
    return np.exp(-np.logaddexp(0.0, -np.asarray(a, dtype=np.float64)))


def _check_weights(name: str, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, blocks: int) -> int:
    """Check the stacked shapes ``(blocks*H, D)``, ``(blocks*H, H)``, ``(blocks*H,)`` and return ``H``."""
    H = W_hh.shape[-1]
    expected = {"W_hh": (blocks * H, H), "b_ih": (blocks * H,), "b_hh": (blocks * H,)}
    actual = {"W_hh": W_hh.shape, "b_ih": b_ih.shape, "b_hh": b_hh.shape}
    for key, shape in expected.items():
        if actual[key] != shape:
            raise ValueError(f"{name}: {key} should have shape {shape} for H = {H}, got {actual[key]}")
    if W_ih.ndim != 2 or W_ih.shape[0] != blocks * H:
        raise ValueError(f"{name}: W_ih should have shape ({blocks * H}, D), got {W_ih.shape}")
    return H


# --------------------------------------------------------------------------- the cells


def lstm_cell(x: Array, h: Array, C: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array) -> tuple[Array, Array]:
    r"""One LSTM step for a batch, in PyTorch's layout (``torch.nn.LSTMCell``).

    .. math::

        \begin{pmatrix} i \\ f \\ g \\ o \end{pmatrix} =
        \begin{pmatrix} \sigma \\ \sigma \\ \tanh \\ \sigma \end{pmatrix}
        \big(W_{ih}\, x + b_{ih} + W_{hh}\, h + b_{hh}\big), \qquad
        C' = f \odot C + i \odot g, \qquad h' = o \odot \tanh(C').

    The blocks of :math:`W_{ih}` are the course's :math:`U_i, U_f, U_g, U_o` and those of :math:`W_{hh}` its
    :math:`W_i, W_f, W_g, W_o`; :math:`g` is the candidate (the slides' :math:`\tilde C`), :math:`f` the
    forget ("keep") gate. The cell state moves by :math:`C' = f \odot C + \dots`: while :math:`f = 1` and
    :math:`i = 0` it is copied unchanged, the constant error carousel of Hochreiter and Schmidhuber (1997).

    Args:
        x: ``(B, D)`` inputs :math:`x^{(t)}`.
        h: ``(B, H)`` previous state :math:`h^{(t-1)}`.
        C: ``(B, H)`` previous cell state :math:`C^{(t-1)}`.
        W_ih: ``(4H, D)``, rows in the order ``i, f, g, o``.
        W_hh: ``(4H, H)``, same order.
        b_ih, b_hh: ``(4H,)`` each.

    Returns:
        ``(h_new, C_new)``, both ``(B, H)``: :math:`h^{(t)}` and :math:`C^{(t)}`.
    """
    _check_weights("lstm_cell", W_ih, W_hh, b_ih, b_hh, blocks=4)
    a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=-1)
    C_new = sigmoid(a_f) * C + sigmoid(a_i) * np.tanh(a_g)
    h_new = sigmoid(a_o) * np.tanh(C_new)
    return h_new, C_new


def gru_cell(x: Array, h: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array) -> Array:
    r"""One GRU step for a batch in PyTorch's convention (``torch.nn.GRUCell``).

    .. math::

        r &= \sigma(U_r x + b_{ir} + W_r h + b_{hr}), \qquad z = \sigma(U_z x + b_{iz} + W_z h + b_{hz}),\\
        n &= \tanh\big(U_n x + b_{in} + r \odot (W_n h + b_{hn})\big), \qquad h' = (1 - z) \odot n + z \odot h.

    Here :math:`z` is the fraction of the **old** state kept (the course's convention), and the reset gate
    multiplies the recurrent term *after* the matrix :math:`W_n` (and its bias :math:`b_{hn}`). Compare
    :func:`lecture_gru_cell`.

    Args:
        x: ``(B, D)``; h: ``(B, H)``.
        W_ih: ``(3H, D)``, rows ``r, z, n`` (:math:`U_r, U_z, U_n`).
        W_hh: ``(3H, H)``, rows ``r, z, n`` (:math:`W_r, W_z, W_n`).
        b_ih, b_hh: ``(3H,)`` each; the ``n`` block of ``b_hh`` is :math:`b_{hn}`, inside the reset.

    Returns:
        ``h_new`` ``(B, H)``.
    """
    _check_weights("gru_cell", W_ih, W_hh, b_ih, b_hh, blocks=3)
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=-1)
    h_r, h_z, h_n = np.split(h @ W_hh.T + b_hh, 3, axis=-1)
    r = sigmoid(x_r + h_r)
    z = sigmoid(x_z + h_z)
    n = np.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h


def lecture_gru_cell(x: Array, h: Array, U: Array, W: Array, b: Array) -> Array:
    r"""One GRU step in the lecture's convention: one bias per block, reset before the matrix, and an update
    gate that admits the new candidate.

    .. math::

        z &= \sigma(U_z x + W_z h + b_z), \qquad r = \sigma(U_r x + W_r h + b_r),\\
        \tilde h &= \tanh\big(U_h x + W_h (r \odot h) + b_h\big), \qquad h' = (1 - z) \odot h + z \odot \tilde h.

    The reset gate acts on the state *before* :math:`W_h`, as in Cho et al. (2014); the update is written as
    in Chung et al. (2014) and Huang's slides, where :math:`z` is the share of the candidate (the course's
    :math:`1 - z`, see the notation page). :func:`lecture_to_torch_gru` says when this is a PyTorch GRU.

    Args:
        x: ``(B, D)``; h: ``(B, H)``.
        U: ``(3H, D)``, rows ``z, r, h`` (:math:`U_z, U_r, U_h`).
        W: ``(3H, H)``, rows ``z, r, h``.
        b: ``(3H,)``, blocks ``z, r, h``.

    Returns:
        ``h_new`` ``(B, H)``.
    """
    _check_weights("lecture_gru_cell", U, W, b, b, blocks=3)
    H = W.shape[1]
    x_z, x_r, x_h = np.split(x @ U.T + b, 3, axis=-1)
    z = sigmoid(x_z + h @ W[:H].T)
    r = sigmoid(x_r + h @ W[H:2 * H].T)
    candidate = np.tanh(x_h + (r * h) @ W[2 * H:].T)
    return (1.0 - z) * h + z * candidate


# --------------------------------------------------------------------------- the two GRUs, exactly related


def _gate_matched(U: Array, W: Array, b: Array) -> LayerParams:
    """PyTorch weights that reproduce the lecture GRU's gates exactly, with ``W_hn = W_h`` and ``b_hn = 0``."""
    H = W.shape[1]
    z, r, c = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    W_ih = np.concatenate([U[r], -U[z], U[c]])
    W_hh = np.concatenate([W[r], -W[z], W[c]])
    b_ih = np.concatenate([b[r], -b[z], b[c]])
    return W_ih, W_hh, b_ih, np.zeros(3 * H)


def _off_diagonal(M: Array) -> float:
    return float(np.max(np.abs(M - np.diag(np.diag(M))), initial=0.0))


def lecture_to_torch_gru(U: Array, W: Array, b: Array, *, atol: float = 0.0) -> LayerParams:
    r"""PyTorch GRU weights ``(W_ih, W_hh, b_ih, b_hh)`` computing exactly the lecture GRU ``(U, W, b)``, when
    such a map exists; a ``ValueError`` saying why when it does not.

    **The update gate** maps exactly. The lecture's :math:`z_L = \sigma(a)` admits the candidate; PyTorch's
    :math:`z` keeps the old state, so it must be :math:`1 - z_L`, and :math:`1 - \sigma(a) = \sigma(-a)`.
    Negating the ``z`` block's input matrix, recurrent matrix and bias therefore gives
    :math:`z = 1 - z_L` for every input, and :math:`(1 - z) \odot n + z \odot h = z_L \odot n + (1 - z_L)
    \odot h`, the lecture's update once :math:`n = \tilde h`. The reset gate is copied as it is
    (:math:`b_{ir} = b_r`, :math:`b_{hr} = 0`), so both cells compute the same :math:`r` and :math:`z`.

    **The reset gate's position** decides the rest. With the gates matched, :math:`n = \tilde h` for every
    :math:`x` and :math:`h` if and only if

    .. math::  r \odot (W_n h + b_{hn}) = W_h (r \odot h) + d \quad \text{for all } r \in (0, 1)^H,\ h,

    where :math:`d = b_h - b_{in}` is a constant. *If:* with :math:`W_n = W_h` diagonal and
    :math:`b_{hn} = d = 0`, both sides are :math:`(W_h)_{jj} r_j h_j`: diagonal matrices commute.
    *Only if:* put :math:`h = 0`: :math:`r \odot b_{hn} = d` for every :math:`r`, so :math:`b_{hn} = d = 0`.
    Then :math:`\mathrm{diag}(r) W_n = W_h \mathrm{diag}(r)` for every :math:`r`; with :math:`r = \lambda
    \mathbf 1` this says :math:`W_n = W_h`, and then entry :math:`(j, k)` reads :math:`(r_j - r_k)
    (W_h)_{jk} = 0`. Choosing :math:`r_j \ne r_k` forces :math:`(W_h)_{jk} = 0` for :math:`j \ne k`: a matrix
    that commutes with every diagonal matrix is diagonal. So a gate-by-gate map exists exactly when the
    candidate's recurrent block :math:`W_h` is diagonal; otherwise the two cells differ by the commutator
    :math:`[W_h, \mathrm{diag}(r)]\, h` inside the candidate's ``tanh`` (measured by :func:`gru_convention_gap`).
    The smallest case: :math:`W_h = \begin{pmatrix} 0 & 1 \\ 0 & 0 \end{pmatrix}` gives :math:`r_2 h_2` in the
    lecture's first unit and :math:`r_1 h_2` in PyTorch's.

    (What is proved is that no map *that matches the gates* exists. That no PyTorch weights whatever give the
    same function is a stronger claim, about the two families as a whole; :func:`gru_convention_gap` only
    shows the natural candidate failing.)

    Args:
        U: ``(3H, D)``, W: ``(3H, H)``, b: ``(3H,)``, blocks ``z, r, h`` (see :func:`lecture_gru_cell`).
        atol: the largest off-diagonal entry of :math:`W_h` to treat as zero (default: exactly zero). When
            positive, the off-diagonal part is dropped, and the map is exact for the diagonal part only.

    Returns:
        ``(W_ih, W_hh, b_ih, b_hh)`` for :func:`gru_cell` (and ``torch.nn.GRUCell``), blocks ``r, z, n``, with
        ``b_hh = 0``.

    Raises:
        ValueError: if :math:`W_h` has an off-diagonal entry larger than ``atol``.
    """
    _check_weights("lecture_to_torch_gru", U, W, b, b, blocks=3)
    H = W.shape[1]
    W_h = W[2 * H:]
    off = _off_diagonal(W_h)
    if off > atol:
        raise ValueError(
            "no PyTorch GRU computes this lecture GRU gate by gate: the candidate's recurrent block W_h is not "
            f"diagonal (largest off-diagonal entry {off:.3g}). The lecture applies the reset gate before the "
            "matrix, W_h (r * h); PyTorch after it, r * (W_hn h + b_hn); the two agree for every r and h only "
            "when W_h is diagonal. gru_convention_gap(...) measures the difference."
        )
    W_ih, W_hh, b_ih, b_hh = _gate_matched(U, W, b)
    W_hh[2 * H:] = np.diag(np.diag(W_h))
    return W_ih, W_hh, b_ih, b_hh


def torch_to_lecture_gru(W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, *, atol: float = 0.0) -> tuple[Array, Array, Array]:
    r"""Lecture GRU weights ``(U, W, b)`` computing exactly the PyTorch GRU ``(W_ih, W_hh, b_ih, b_hh)``, when
    such a map exists; a ``ValueError`` saying why when it does not.

    The inverse of :func:`lecture_to_torch_gru`, whose docstring has the proof. The lecture GRU has one bias
    per block, so the gates' two biases add up (:math:`b_r = b_{ir} + b_{hr}`, :math:`b_z = -(b_{iz} +
    b_{hz})`, the update gate negated as there). The candidate's recurrent bias :math:`b_{hn}` is the
    exception: PyTorch multiplies it by :math:`r`, which varies with the input, so no constant bias of the
    lecture's can stand for it. The map exists exactly when :math:`W_n` is diagonal and :math:`b_{hn} = 0`.

    Args:
        W_ih: ``(3H, D)``, W_hh: ``(3H, H)``, b_ih, b_hh: ``(3H,)``, blocks ``r, z, n`` (see :func:`gru_cell`).
        atol: the largest off-diagonal entry of :math:`W_n`, and the largest :math:`|b_{hn}|`, to treat as zero
            (default: exactly zero).

    Returns:
        ``(U, W, b)`` for :func:`lecture_gru_cell`, blocks ``z, r, h``.

    Raises:
        ValueError: if :math:`W_n` is not diagonal or :math:`b_{hn} \ne 0` (beyond ``atol``).
    """
    H = _check_weights("torch_to_lecture_gru", W_ih, W_hh, b_ih, b_hh, blocks=3)
    r, z, n = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    off = _off_diagonal(W_hh[n])
    if off > atol:
        raise ValueError(
            "no lecture GRU computes this PyTorch GRU gate by gate: the candidate's recurrent block W_hn is not "
            f"diagonal (largest off-diagonal entry {off:.3g}). PyTorch applies the reset gate after the matrix, "
            "r * (W_hn h), the lecture before it, W_h (r * h); they agree for every r and h only when the matrix "
            "is diagonal."
        )
    bias = float(np.max(np.abs(b_hh[n]), initial=0.0))
    if bias > atol:
        raise ValueError(
            f"no lecture GRU computes this PyTorch GRU gate by gate: the candidate's recurrent bias b_hn is not zero "
            f"(largest entry {bias:.3g}). PyTorch multiplies it by the reset gate, r * b_hn, which changes with the "
            "input; the lecture's candidate has only a constant bias."
        )
    U = np.concatenate([-W_ih[z], W_ih[r], W_ih[n]])
    W = np.concatenate([-W_hh[z], W_hh[r], np.diag(np.diag(W_hh[n]))])
    b = np.concatenate([-(b_ih[z] + b_hh[z]), b_ih[r] + b_hh[r], b_ih[n]])
    return U, W, b


def gru_convention_gap(x: Array, h: Array, U: Array, W: Array, b: Array) -> float:
    r"""How far one step of the lecture GRU ``(U, W, b)`` is from PyTorch's GRU with the gate-matched weights.

    The gate-matched weights are :func:`lecture_to_torch_gru`'s map with the whole :math:`W_h` in place of its
    diagonal (:math:`W_n = W_h`, :math:`b_{hn} = 0`): the two cells then compute the same gates, and their
    candidates differ only inside the ``tanh``, by the commutator

    .. math::  W_h (r \odot h) - r \odot (W_h h) = \big(W_h \operatorname{diag}(r) - \operatorname{diag}(r) W_h\big)\, h,

    which is zero for diagonal :math:`W_h` and generally not otherwise.

    Args:
        x: ``(B, D)``; h: ``(B, H)``; U, W, b: the lecture GRU's weights (see :func:`lecture_gru_cell`).

    Returns:
        :math:`\max |h'_{\text{lecture}} - h'_{\text{PyTorch}}|` over the batch and the units.
    """
    lecture = lecture_gru_cell(x, h, U, W, b)
    torch_style = gru_cell(x, h, *_gate_matched(U, W, b))
    return float(np.max(np.abs(lecture - torch_style)))


# --------------------------------------------------------------------------- sequences, stacks, two directions


def lstm_forward(
    x: Array, h0: Array, C0: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, reverse: bool = False
) -> tuple[Array, tuple[Array, Array]]:
    r""":func:`lstm_cell` over a sequence ``x`` ``(T, B, D)`` from ``h0``, ``C0`` ``(B, H)``.

    With ``reverse=True`` the steps run from :math:`t = T` down to 1 (the backward half of a bidirectional
    layer); ``outputs[t]`` is still the state that step ``t`` produced.

    Returns:
        ``(outputs, (h_n, C_n))``: the states ``(T, B, H)`` and the final state and cell state ``(B, H)``, as
        ``torch.nn.LSTM`` returns them.
    """
    T = x.shape[0]
    outputs = np.empty((T, *np.shape(h0)))
    h, C = np.asarray(h0, dtype=np.float64), np.asarray(C0, dtype=np.float64)
    for t in reversed(range(T)) if reverse else range(T):
        h, C = lstm_cell(x[t], h, C, W_ih, W_hh, b_ih, b_hh)
        outputs[t] = h
    return outputs, (h, C)


def gru_forward(
    x: Array, h0: Array, W_ih: Array, W_hh: Array, b_ih: Array, b_hh: Array, reverse: bool = False
) -> tuple[Array, Array]:
    """:func:`gru_cell` over a sequence ``x`` ``(T, B, D)`` from ``h0`` ``(B, H)``; ``reverse`` as in
    :func:`lstm_forward`. Returns ``(outputs (T, B, H), h_n (B, H))``."""
    T = x.shape[0]
    outputs = np.empty((T, *np.shape(h0)))
    h = np.asarray(h0, dtype=np.float64)
    for t in reversed(range(T)) if reverse else range(T):
        h = gru_cell(x[t], h, W_ih, W_hh, b_ih, b_hh)
        outputs[t] = h
    return outputs, h


def _run(kind: str, x: Array, params: LayerParams, reverse: bool) -> Array:
    H = params[1].shape[1]
    zeros = np.zeros((x.shape[1], H))
    if kind == "lstm":
        return lstm_forward(x, zeros, zeros, *params, reverse=reverse)[0]
    if kind == "gru":
        return gru_forward(x, zeros, *params, reverse=reverse)[0]
    raise ValueError(f"kind must be 'lstm' or 'gru', got {kind!r}")


def deep_rnn_forward(
    kind: Literal["lstm", "gru"],
    x: Array,
    layers: list[LayerParams] | list[tuple[LayerParams, LayerParams]],
    bidirectional: bool = False,
) -> Array:
    r"""A stacked (deep) LSTM or GRU, optionally bidirectional, from zero initial states.

    Layer :math:`k` reads the states of layer :math:`k - 1` as its inputs (layer 1 reads :math:`x`):
    :math:`h_k^{(t)} = \mathrm{cell}(h_{k-1}^{(t)}, h_k^{(t-1)})`. A bidirectional layer runs a second cell
    from the end of the sequence back to its start, :math:`\overleftarrow h^{(t)} = \mathrm{cell}(x^{(t)},
    \overleftarrow h^{(t+1)})`, and outputs the concatenation :math:`[\overrightarrow h^{(t)};
    \overleftarrow h^{(t)}]`: the state at :math:`t` then depends on the whole sequence, past and future.
    This is ``torch.nn.LSTM`` / ``torch.nn.GRU`` with ``num_layers=len(layers)`` (no dropout).

    Args:
        kind: ``"lstm"`` or ``"gru"``.
        x: ``(T, B, D)``.
        layers: one :data:`LayerParams` per layer; with ``bidirectional``, one pair ``(forward, backward)`` per
            layer, and layers after the first take inputs of size ``2H``.
        bidirectional: whether each layer has a backward direction.

    Returns:
        The top layer's outputs, ``(T, B, H)`` or ``(T, B, 2H)`` when bidirectional.
    """
    out = np.asarray(x, dtype=np.float64)
    for layer in layers:
        if bidirectional:
            forward, backward = layer  # type: ignore[misc]
            out = np.concatenate([_run(kind, out, forward, False), _run(kind, out, backward, True)], axis=-1)
        else:
            out = _run(kind, out, layer, False)  # type: ignore[arg-type]
    return out


# --------------------------------------------------------------------------- classifying padded sequences


def pool_states(states: Array, mask: Array) -> tuple[Array, Array]:
    r"""Summarise each sequence of a padded batch by its last valid state and by the mean of its valid states.

    A batch of sequences of different lengths :math:`T_i` is padded to a common ``T``; ``mask[t, i]`` is 1 for
    the steps of sequence ``i`` and 0 for its padding. The states at padded steps are ignored (they may hold
    anything, even NaN):

    .. math::  \mathrm{last}_i = h_i^{(T_i)}, \qquad \mathrm{mean}_i = \frac{1}{T_i} \sum_{t=1}^{T_i} h_i^{(t)}.

    Args:
        states: ``(T, B, H)`` the states of a recurrent layer over the padded batch.
        mask: ``(T, B)`` of 0s and 1s; each column must be a run of ones followed by zeros (padding at the end)
            with at least one 1.

    Returns:
        ``(last, mean)``, both ``(B, H)``.

    Raises:
        ValueError: for a wrong shape, an entry other than 0 or 1, a column with no valid step, or ones after
            a zero (padding inside or before a sequence).
    """
    states = np.asarray(states, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    if states.ndim != 3:
        raise ValueError(f"states should have shape (T, B, H), got {states.shape}")
    if mask.shape != states.shape[:2]:
        raise ValueError(f"mask should have shape (T, B) = {states.shape[:2]} like states, got {mask.shape}")
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold only 0s (padding) and 1s (valid steps)")
    T, B = mask.shape
    lengths = mask.sum(axis=0).astype(int)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise ValueError(f"sequence(s) {empty.tolist()} have an all-zero mask column: no valid step to pool")
    runs = np.arange(T)[:, None] < lengths[None, :]
    broken = np.flatnonzero(np.any(mask != runs, axis=0))
    if broken.size:
        raise ValueError(
            f"mask column(s) {broken.tolist()} are not a run of ones followed by zeros: "
            "the padding must come after each sequence's valid steps"
        )
    valid = np.where(runs[..., None], states, 0.0)
    last = states[lengths - 1, np.arange(B)]
    mean = valid.sum(axis=0) / lengths[:, None]
    return last, mean


# --------------------------------------------------------------------------- Hinton's memory cell


def _gates_like(inputs: Array, write: Array, keep: Array, read: Array) -> tuple[Array, Array, Array, Array]:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (inputs, write, keep, read)))
    for name, gate in zip(("write", "keep", "read"), arrays[1:]):
        if np.any((gate < 0) | (gate > 1)):
            raise ValueError(f"the {name} gate must lie in [0, 1] (it is a logistic unit's output)")
    if arrays[0].ndim == 0:
        raise ValueError("inputs need a time axis first: shape (T,) or (T, ...)")
    return tuple(np.array(a) for a in arrays)  # type: ignore[return-value]


def memory_cell_trace(
    inputs: Array, write: Array, keep: Array, read: Array, c0: float | Array = 0.0
) -> tuple[Array, Array]:
    r"""Run the lecture's analog memory cell (Hinton, CSC2535) over time, with given gate values.

    A linear unit with a self-link of weight 1 keeps its value; three logistic gates control it:

    .. math::  C^{(t)} = f^{(t)} C^{(t-1)} + i^{(t)} x^{(t)}, \qquad m^{(t)} = o^{(t)} C^{(t)},

    where :math:`i` is the write gate (lets the input in), :math:`f` the keep gate (multiplies the
    self-link: 1 keeps, 0 forgets) and :math:`o` the read gate (lets the value out), the letters of the
    book (chapter 3, equation ch03-eq-circuit). The LSTM's cell state is this circuit with the input
    :math:`\tilde C` (torch's ``g``), plus a ``tanh`` on the way out.

    Args:
        inputs: ``(T,)`` or ``(T, ...)`` the values :math:`x^{(t)}` offered to the cell (row ``t`` is step ``t``,
            counting from 0).
        write, keep, read: gate values in :math:`[0, 1]`, broadcastable to ``inputs``.
        c0: the cell's value before the first step.

    Returns:
        ``(cells, outputs)``, both shaped like ``inputs``: :math:`C^{(t)}` and :math:`m^{(t)}`.
    """
    x, w, k, r = _gates_like(inputs, write, keep, read)
    cells = np.empty_like(x)
    c = np.broadcast_to(np.asarray(c0, dtype=np.float64), x.shape[1:])
    for t in range(x.shape[0]):
        c = k[t] * c + w[t] * x[t]
        cells[t] = c
    return cells, r * cells


def memory_cell_backward(
    d_outputs: Array, inputs: Array, write: Array, keep: Array, read: Array, c0: float | Array = 0.0
) -> dict[str, Array]:
    r"""Backpropagate errors on the outputs of :func:`memory_cell_trace` through the circuit.

    The backward pass is the forward pass run backwards, with the same keep gates on the self-link:

    .. math::

        \frac{\partial L}{\partial C^{(t)}} = o^{(t)} \frac{\partial L}{\partial m^{(t)}}
            + f^{(t+1)} \frac{\partial L}{\partial C^{(t+1)}}, \qquad
        \frac{\partial L}{\partial x^{(t)}} = i^{(t)} \frac{\partial L}{\partial C^{(t)}}.

    So an error placed on the output at the read time :math:`t_r` alone reaches the cell at the write time
    :math:`t_w` multiplied by :math:`o^{(t_r)} \prod_{s = t_w + 1}^{t_r} f^{(s)}`, and nothing else:
    exactly :math:`o^{(t_r)}` when every keep gate is 1, however long the gap. (A tanh unit in the same
    place would multiply it by :math:`W \tanh'` once per step.)

    Args:
        d_outputs: :math:`\partial L / \partial y^{(t)}`, shaped like ``inputs``.
        inputs, write, keep, read, c0: as for :func:`memory_cell_trace`.

    Returns:
        The gradients ``{"cells", "inputs", "write", "keep", "read"}`` (each shaped like ``inputs``) and
        ``"c0"`` (shaped like one step).
    """
    x, w, k, r = _gates_like(inputs, write, keep, read)
    dy = np.broadcast_to(np.asarray(d_outputs, dtype=np.float64), x.shape)
    cells, _ = memory_cell_trace(x, w, k, r, c0)
    c_prev = np.concatenate([np.broadcast_to(np.asarray(c0, dtype=np.float64), x.shape[1:])[None], cells[:-1]])
    dc = np.empty_like(x)
    carried = np.zeros(x.shape[1:])
    for t in reversed(range(x.shape[0])):
        dc[t] = r[t] * dy[t] + carried
        carried = k[t] * dc[t]
    return {"cells": dc, "inputs": w * dc, "write": x * dc, "keep": c_prev * dc, "read": cells * dy, "c0": carried}


def memory_cell_schedule(
    length: int = 14, write_at: int = 2, read_at: int = 12, value: float = 1.0, distractor: float = -0.5,
    gate_logit: float | None = None,
) -> tuple[Array, Array, Array, Array]:
    r"""Inputs and gates for the textbook demonstration: write ``value`` at step ``write_at``, keep it, read it
    at step ``read_at`` (steps count from 0).

    The input is ``distractor`` at every other step, to show that a closed write gate ignores it. The write
    gate opens at ``write_at`` only; the keep gate is open at steps ``write_at + 1 .. read_at`` (so the value
    is kept for ``read_at - write_at`` steps) and closed elsewhere, which also empties the cell before the write
    and after the read; the read gate opens at ``read_at`` only.

    Args:
        gate_logit: ``None`` for gates exactly 0 or 1; a number :math:`k` for logistic gates
            :math:`\sigma(\pm k)`, open ones slightly below 1 and closed ones slightly above 0, as a real
            logistic unit gives.

    Returns:
        ``(inputs, write, keep, read)``, each ``(length,)``, for :func:`memory_cell_trace`.
    """
    if not 0 <= write_at <= read_at < length:
        raise ValueError(f"need 0 <= write_at <= read_at < length, got {write_at}, {read_at}, {length}")
    steps = np.arange(length)
    inputs = np.where(steps == write_at, value, distractor).astype(np.float64)
    opened = [steps == write_at, (steps > write_at) & (steps <= read_at), steps == read_at]
    if gate_logit is None:
        write, keep, read = (o.astype(np.float64) for o in opened)
    else:
        write, keep, read = (sigmoid(np.where(o, gate_logit, -gate_logit)) for o in opened)
    return inputs, write, keep, read


# --------------------------------------------------------------------------- gradient flow, measured


@dataclass
class GradientFlow:
    r"""What :func:`gradient_norms_by_lag` measured.

    Attributes:
        kind: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        lags: ``(T,)`` the lags :math:`\ell = 1, \dots, T`.
        state: ``(T,)`` :math:`\lVert \partial h^{(T)} / \partial h^{(T-\ell)} \rVert_2`, averaged over the batch.
        cell: ``(T,)`` :math:`\lVert \partial C^{(T)} / \partial C^{(T-\ell)} \rVert_2` for the LSTM, else ``None``.
        forget_bias: the LSTM's forget-gate bias if it was set, else ``None``.
    """

    kind: str
    lags: NDArray[np.integer]
    state: Array
    cell: Array | None
    forget_bias: float | None


def gradient_norms_by_lag(
    kind: Literal["rnn", "lstm", "gru"],
    hidden_size: int = 32,
    length: int = 50,
    input_size: int = 8,
    batch_size: int = 4,
    seed: int = 0,
    forget_bias: float | None = None,
    device: torch.device | str | None = None,
) -> GradientFlow:
    r"""How much of an error at the last step reaches each earlier step, in a ``torch.nn`` cell at initialisation.

    Builds ``torch.nn.RNNCell`` (tanh), ``LSTMCell`` or ``GRUCell`` in float64 with PyTorch's initialisation
    (every weight uniform in :math:`\pm 1/\sqrt H`: small weights, so the tanh RNN's recurrent matrix has a
    spectral radius near :math:`1/\sqrt 3`), runs it over a standard normal input sequence from a zero state,
    and measures with ``torch.autograd`` the spectral norm (largest singular value) of the Jacobian

    .. math::  \frac{\partial h^{(T)}}{\partial h^{(T-\ell)}}, \qquad \ell = 1, \dots, T

    (:math:`\ell = T` reaches the initial state). Each Jacobian is computed exactly, one backward pass per
    unit of :math:`h^{(T)}`, and its norm averaged over the batch. It bounds how much of any error on
    :math:`h^{(T)}` reaches :math:`h^{(T-\ell)}`. For the LSTM the state is the pair :math:`(h, C)`; the
    Jacobian above holds :math:`C^{(T-\ell)}` fixed, and ``cell`` holds
    :math:`\lVert \partial C^{(T)} / \partial C^{(T-\ell)} \rVert_2`, the factor by which BPTT carries an error
    on :math:`C^{(T)}` back to :math:`C^{(T-\ell)}`: through every path, including the one through
    :math:`h^{(T-\ell)} = o^{(T-\ell)} \odot \tanh(C^{(T-\ell)})`. Its direct path, cell to cell, is
    :math:`\operatorname{diag}(f^{(T)} \odot \dots \odot f^{(T-\ell+1)})`: forget gates only.

    Args:
        kind: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden_size, length, input_size, batch_size: ``H``, ``T``, ``D``, ``B``.
        seed: seeds the weights and the inputs (the global generators are left as they were).
        forget_bias: LSTM only: set the forget gate's bias to this value (``b_ih`` block ``f`` to the value,
            ``b_hh`` block ``f`` to 0), as Gers et al. (2000) and Jozefowicz et al. (2015) recommend (+1 or more),
            so that :math:`f \approx \sigma(\text{forget\_bias})` at the start of training.
        device: where to compute (``None``: the CPU). The weights and inputs are drawn on the CPU first, so the
            numbers do not depend on the device beyond rounding.

    Returns:
        A :class:`GradientFlow`.
    """
    import torch
    from torch import nn

    cells = {"rnn": lambda: nn.RNNCell(input_size, hidden_size, nonlinearity="tanh"),
             "lstm": lambda: nn.LSTMCell(input_size, hidden_size), "gru": lambda: nn.GRUCell(input_size, hidden_size)}
    if kind not in cells:
        raise ValueError(f"kind must be 'rnn', 'lstm' or 'gru', got {kind!r}")
    if forget_bias is not None and kind != "lstm":
        raise ValueError("forget_bias applies to the LSTM only")
    H, T = hidden_size, length
    target = torch.device(device if device is not None else "cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        cell = cells[kind]().double()
        x = torch.randn(T, batch_size, input_size, dtype=torch.float64)
    if forget_bias is not None:
        with torch.no_grad():
            cell.bias_ih[H:2 * H] = forget_bias
            cell.bias_hh[H:2 * H] = 0.0
    cell.to(target)
    x = x.to(target)

    h = torch.zeros(batch_size, H, dtype=torch.float64, device=target, requires_grad=True)
    C = torch.zeros_like(h, requires_grad=True)
    states, cell_states = [h], [C]
    for t in range(T):
        if kind == "lstm":
            h, C = cell(x[t], (h, C))
            cell_states.append(C)
        else:
            h = cell(x[t], h)
        states.append(h)

    def norms_by_lag(outputs: list) -> Array:
        # row j of every Jacobian d out^(T) / d out^(t) is the backward pass of unit j; the H passes run batched
        # (vmap), and the examples of the batch are independent, so one pass serves them all
        seeds = torch.eye(H, dtype=torch.float64, device=target)[:, None, :].expand(H, batch_size, H)
        rows = torch.autograd.grad(outputs[-1], outputs[:-1], seeds, retain_graph=True, is_grads_batched=True)
        jac = torch.stack(rows).transpose(1, 2)  # (T, B, H, H), index t = 0..T-1
        spectral = torch.linalg.matrix_norm(jac, ord=2).mean(dim=-1)  # (T,)
        return spectral.flip(0).cpu().numpy()  # lag 1 first

    state = norms_by_lag(states)
    cell_norms = norms_by_lag(cell_states) if kind == "lstm" else None
    return GradientFlow(kind=kind, lags=np.arange(1, T + 1), state=state, cell=cell_norms, forget_bias=forget_bias)


# --------------------------------------------------------------------------- deep RNNs: path lengths


def shortest_path_length(
    lag: int, architecture: Literal["plain", "deep_transition", "deep_transition_skip", "stacked"] = "plain",
    depth: int = 1,
) -> int:
    r"""The number of layers on the shortest path from the input :math:`x^{(t)}` to the output :math:`o^{(t+\ell)}`.

    A *layer* is one weight matrix followed by its nonlinearity; the path counts them (Pascanu et al. 2014,
    *How to construct deep recurrent neural networks*; Goodfellow et al. 2016, section 10.5). Every path
    enters the state at step :math:`t` (:math:`a` layers), crosses :math:`\ell` transitions (:math:`s` layers
    each at the least) and leaves through the output layer (1 layer):

    .. math::  \text{length}(\ell) = a + s\,\ell + 1.

    ==========================  ===========  ===========  ==========================================
    ``architecture``            :math:`a`    :math:`s`    the network
    ==========================  ===========  ===========  ==========================================
    ``"plain"``                 1            1            Elman, one layer per step
    ``"deep_transition"``       :math:`d`    :math:`d`    the transition is an MLP of ``depth``
                                                          layers; :math:`x^{(t)}` enters its first
    ``"deep_transition_skip"``  :math:`d`    1            the same, plus one layer
                                                          :math:`h^{(t-1)} \to h^{(t)}` beside the MLP
                                                          (a skip connection)
    ``"stacked"``               :math:`d`    1            ``depth`` recurrent layers, each reading
                                                          the states of the one below
    ==========================  ===========  ===========  ==========================================

    So a deep transition multiplies the length of every path through time by ``depth``, making long-range
    dependencies harder to learn, and the skip connection brings it back to one layer per step; stacking
    adds ``depth - 1`` once, not per step.

    Args:
        lag: :math:`\ell \ge 0`, the number of steps between input and output.
        architecture: one of the four above.
        depth: :math:`d \ge 1`, the MLP's layers or the number of stacked layers (1 gives the plain network).

    Returns:
        The length, an integer.
    """
    if lag < 0 or depth < 1:
        raise ValueError(f"need lag >= 0 and depth >= 1, got lag={lag}, depth={depth}")
    entry_and_step = {"plain": (1, 1), "deep_transition": (depth, depth), "deep_transition_skip": (depth, 1),
                      "stacked": (depth, 1)}
    if architecture not in entry_and_step:
        raise ValueError(f"architecture must be one of {sorted(entry_and_step)}, got {architecture!r}")
    entry, step = entry_and_step[architecture]
    return entry + step * lag + 1
