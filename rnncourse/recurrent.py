r"""Recurrent layers written from their equations, shaped like ``torch.nn``.

Six modules, each a drop-in for the ``torch.nn`` class of the same name, plus the chapter-1 Elman layer:

=================  ==========================================  ===========================================
module             one step                                    returns
=================  ==========================================  ===========================================
:class:`RNNCell`   :math:`h' = \tanh(b + W h + U x)`           ``h'``
:class:`LSTMCell`  gates :math:`i, f, g, o`; cell :math:`C`    ``(h', C')``
:class:`GRUCell`   gates :math:`r, z`; candidate :math:`n`     ``h'``
:class:`RNN`       the RNN step over a sequence, stacked       ``(output, h_n)``
:class:`LSTM`      the LSTM step over a sequence, stacked      ``(output, (h_n, c_n))``
:class:`GRU`       the GRU step over a sequence, stacked       ``(output, h_n)``
:class:`ElmanRNN`  one-layer tanh :class:`RNN` (chapter 1)     ``(output, h_n)``
=================  ==========================================  ===========================================

*Drop-in* means: the constructor takes the same arguments with the same defaults, the parameters have the
same names, shapes, gate order and initialisation, ``state_dict`` moves both ways, and the forward pass
takes and returns the same things (initial states optional, unbatched inputs, ``batch_first``,
:class:`~torch.nn.utils.rnn.PackedSequence`). The equations are derived in the book, chapter 3,
*Gated memory: LSTM and GRU*; the letters are the course's (see the notation page of the book).

Everything is computed with ordinary tensor operations (``@``, ``sigmoid``, ``tanh``, ``relu``, ``cat``)
that autograd differentiates; none of PyTorch's fused recurrent kernels is called. Three habits keep it
within reach of ``torch.nn`` on a CPU:

1. the input terms :math:`U x^{(t)} + b` of every step come from one matrix product before the loop;
2. the gates' recurrent matrices are stacked (rows :math:`i, f, g, o` for the LSTM), so a step makes one
   product :math:`W h^{(t-1)}` for all of them;
3. the loop over time is the only Python loop. ``scripted=True`` runs it as TorchScript instead
   (:func:`scripted_run_layer`), which removes most of the interpreter's cost per step.

The step functions :func:`rnn_step`, :func:`lstm_step`, :func:`gru_step` and the loop :func:`run_layer` are
public: they are the equations, one function each.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "ElmanRNN",
    "GRUCell",
    "LSTMCell",
    "RNNCell",
    "gru_step",
    "lstm_step",
    "rnn_step",
    "run_layer",
    "scripted_run_layer",
]

#: Rows of the stacked gate matrices per hidden unit, by ``mode`` (``torch.nn`` uses the same names).
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


# ---------------------------------------------------------------------------------------------
# One step of each cell. ``x_part`` is the input term, computed for every step before the loop.
# These functions (and run_layer) stay within what TorchScript compiles: typed arguments, no closures.


def rnn_step(x_part: Tensor, h: Tensor, weight_hh: Tensor, nonlinearity: str) -> Tensor:
    r"""One step of the Elman cell, :math:`h^{(t)} = \phi\big(b + U x^{(t)} + W h^{(t-1)}\big)`.

    Args:
        x_part: :math:`b + U x^{(t)}`, ``(B, H)``.
        h: :math:`h^{(t-1)}`, ``(B, H)``.
        weight_hh: :math:`W`, ``(H, H)``.
        nonlinearity: :math:`\phi`, ``"tanh"`` or ``"relu"``.

    Returns:
        :math:`h^{(t)}`, ``(B, H)``.
    """
    a = x_part + h @ weight_hh.t()
    if nonlinearity == "relu":
        return torch.relu(a)
    return torch.tanh(a)


def lstm_step(
    x_part: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, weight_hr: Tensor | None
) -> tuple[Tensor, Tensor]:
    r"""One step of the LSTM cell (equations in :class:`LSTMCell`).

    Args:
        x_part: :math:`b + U x^{(t)}` for the four gates, ``(B, 4H)``, rows :math:`i, f, g, o`.
        h: :math:`h^{(t-1)}`, ``(B, H_out)``.
        c: :math:`C^{(t-1)}`, ``(B, H)``.
        weight_hh: :math:`W`, the four recurrent matrices stacked, ``(4H, H_out)``.
        weight_hr: the projection :math:`P` ``(H_out, H)``, or ``None`` (then ``H_out = H``).

    Returns:
        ``(h, c)``: :math:`h^{(t)}` ``(B, H_out)`` and :math:`C^{(t)}` ``(B, H)``.
    """
    gates = x_part + h @ weight_hh.t()  # one product for all four gates
    i, f, g, o = gates.chunk(4, 1)
    i = torch.sigmoid(i)
    f = torch.sigmoid(f)
    g = torch.tanh(g)
    o = torch.sigmoid(o)
    c = f * c + i * g
    h = o * torch.tanh(c)
    if weight_hr is not None:
        h = h @ weight_hr.t()
    return h, c


def gru_step(x_part: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    r"""One step of the GRU cell (equations and conventions in :class:`GRUCell`).

    Args:
        x_part: :math:`U x^{(t)} + b_{i\cdot}` for :math:`r, z, n`, ``(B, 3H)``.
        h: :math:`h^{(t-1)}`, ``(B, H)``.
        weight_hh: :math:`W`, the three recurrent matrices stacked, ``(3H, H)``.
        bias_hh: :math:`b_{h\cdot}` ``(3H,)`` or ``None``. It stays in the step because the reset gate
            multiplies :math:`W_n h + b_{hn}`.

    Returns:
        :math:`h^{(t)}`, ``(B, H)``.
    """
    wh = h @ weight_hh.t()  # one product for r, z and the candidate
    if bias_hh is not None:
        wh = wh + bias_hh
    x_r, x_z, x_n = x_part.chunk(3, 1)
    wh_r, wh_z, wh_n = wh.chunk(3, 1)
    r = torch.sigmoid(x_r + wh_r)
    z = torch.sigmoid(x_z + wh_z)
    n = torch.tanh(x_n + r * wh_n)
    return n + z * (h - n)  # = (1 - z) * n + z * h, one product fewer


def _step(
    mode: str, x_part: Tensor, state: list[Tensor], weight_hh: Tensor, bias_hh: Tensor | None,
    weight_hr: Tensor | None,
) -> list[Tensor]:
    """The step of ``mode`` on a state held as a list: ``[h]``, or ``[h, c]`` for the LSTM."""
    if mode == "LSTM":
        h, c = lstm_step(x_part, state[0], state[1], weight_hh, weight_hr)
        return [h, c]
    if mode == "GRU":
        return [gru_step(x_part, state[0], weight_hh, bias_hh)]
    return [rnn_step(x_part, state[0], weight_hh, "relu" if mode == "RNN_RELU" else "tanh")]


def run_layer(
    mode: str,
    projected: Tensor,
    batch_sizes: list[int],
    state: list[Tensor],
    weight_hh: Tensor,
    bias_hh: Tensor | None,
    weight_hr: Tensor | None,
    reverse: bool,
) -> tuple[Tensor, list[Tensor]]:
    r"""Run one layer in one direction over a whole sequence: the loop over time.

    The steps are stored the way :class:`~torch.nn.utils.rnn.PackedSequence` stores them: time-major
    rows, step :math:`t` owning the next ``batch_sizes[t]`` rows, sequences sorted longest first. A
    padded ``(T, B, *)`` batch is the special case ``batch_sizes = [B] * T``. When the batch shrinks, the
    sequences that ended keep their state as their final one; running backwards, a sequence joins at its
    own last step, from its initial state.

    Args:
        mode: ``"RNN_TANH"``, ``"RNN_RELU"``, ``"LSTM"`` or ``"GRU"``.
        projected: the input terms of every step, ``(N, G)`` with ``N = sum(batch_sizes)``.
        batch_sizes: sequences still running at each step, non-increasing.
        state: the initial state, ``[h_0]`` or ``[h_0, c_0]``, each ``(B, *)`` with ``B = batch_sizes[0]``.
        weight_hh, bias_hh, weight_hr: as in the step functions.
        reverse: run from the last step to the first.

    Returns:
        ``(output, final)``: every :math:`h^{(t)}` as ``(N, H_out)`` rows in the input's order, and each
        sequence's final state, a list like ``state``.
    """
    # one view per step; split (not an index per step) so that backward joins the gradients in one cat
    # instead of making a zero tensor of the whole sequence for every step
    inputs = projected.split(batch_sizes)
    steps = len(batch_sizes)
    current: list[Tensor] = state
    if reverse:
        current = [s[: batch_sizes[steps - 1]] for s in state]
    ended: list[list[Tensor]] = []  # forward: states of the sequences that stopped, shortest first
    outputs: list[Tensor] = []
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        size = batch_sizes[t]
        running = current[0].shape[0]
        if size < running:  # forward: sequences size..running-1 ended at the previous step
            ended.append([s[size:] for s in current])
            current = [s[:size] for s in current]
        elif size > running:  # backward: sequences running..size-1 start here
            current = [torch.cat([current[k], state[k][running:size]]) for k in range(len(current))]
        current = _step(mode, inputs[t], current, weight_hh, bias_hh, weight_hr)
        outputs.append(current[0])
    if reverse:
        outputs.reverse()
    final = current
    for k in range(len(ended) - 1, -1, -1):
        final = [torch.cat([final[j], ended[k][j]]) for j in range(len(final))]
    return torch.cat(outputs), final


@functools.cache
def scripted_run_layer():
    """:func:`run_layer` compiled by TorchScript (once, on first use).

    The same source, so the same arithmetic in the same order; what goes is the Python interpreter's
    work per step (the loop, the lists, the calls), not the autograd graph, which is the same.
    ``torch.jit.script`` is deprecated in favour of ``torch.compile``, whose warning is silenced here:
    ``torch.compile`` of a whole layer does run faster, but unrolls the loop over time and so takes over a
    minute to compile a 100-step LSTM on a small CPU, again for each new length
    (``benchmarks/bench_layers.py --compile`` measures both).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(run_layer)


def _project(
    mode: str, x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None
) -> tuple[Tensor, Tensor | None]:
    """The input terms ``U x + b`` of every row of ``x`` in one product, and the bias the step still needs.

    The two biases add up before the nonlinearity, so they are folded in here once, except the GRU's
    ``bias_hh``: its candidate part is multiplied by the reset gate, so it stays in :func:`gru_step`.
    """
    if bias_ih is None:
        return x @ weight_ih.t(), None
    if mode == "GRU":
        return x @ weight_ih.t() + bias_ih, bias_hh
    return x @ weight_ih.t() + (bias_ih + bias_hh), None


def _shape(shape) -> str:
    return str(tuple(shape))


def _check_sizes(name: str, input_size: int, hidden_size: int) -> None:
    for argument, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name}: {argument} must be a non-negative int, got {value!r}")
    if hidden_size == 0:
        raise ValueError(f"{name}: hidden_size must be positive, got 0")


# ---------------------------------------------------------------------------------------------
# Cells: one step, for a batch (B, D) or one example (D,)


class _Cell(nn.Module):
    """Parameters, initialisation and input checks shared by the three cells."""

    mode = ""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, device, dtype) -> None:
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        factory = {"device": device, "dtype": dtype}
        rows = GATES[self.mode] * hidden_size
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **factory))
            self.bias_hh = nn.Parameter(torch.empty(rows, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter uniform in :math:`(-1/\\sqrt{H}, 1/\\sqrt{H})`, drawn in ``torch.nn``'s order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def _prepare(self, input: Tensor, states: list[Tensor | None], names: list[str]):
        """Check shapes; return the input as ``(B, D)``, the states as ``(B, H)`` and whether unbatched."""
        cls = type(self).__name__
        if input.dim() not in (1, 2) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{cls} expected input of shape (B, {self.input_size}) or unbatched ({self.input_size},), "
                f"got {_shape(input.shape)}"
            )
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input
        prepared = []
        for state, name in zip(states, names):
            if state is None:
                prepared.append(torch.zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device))
                continue
            expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
            if tuple(state.shape) != expected:
                raise ValueError(
                    f"{cls} expected {name} of shape {expected} for an input of shape "
                    f"{_shape(input.shape)}, got {_shape(state.shape)}"
                )
            prepared.append(state.unsqueeze(0) if unbatched else state)
        return x, prepared, unbatched

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            text += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        return text


class RNNCell(_Cell):
    r"""One step of an Elman (vanilla) recurrent network; drop-in for ``torch.nn.RNNCell``.

    .. math::

        h' = \phi\big(b + W h + U x\big), \qquad \phi = \tanh \text{ or } \mathrm{ReLU},

    with :math:`W` the recurrent matrix, :math:`U` the input matrix and :math:`b = b_{ih} + b_{hh}`
    (chapter 1, *The Elman network*; chapter 3, *Gated memory: LSTM and GRU*, uses it as the baseline).

    Args:
        input_size: ``D``, features of the input.
        hidden_size: ``H``, units in the state.
        bias: learn the biases ``bias_ih`` and ``bias_hh``. Default ``True``.
        nonlinearity: ``'tanh'`` (default) or ``'relu'``.
        device, dtype: where and how the parameters are created.

    Inputs: ``input, hx``
        - **input** ``(B, D)``, or unbatched ``(D,)``: :math:`x`.
        - **hx** ``(B, H)`` (``(H,)`` unbatched): :math:`h`; zeros when omitted.

    Outputs: ``h'`` ``(B, H)`` (``(H,)`` unbatched).

    Attributes:
        weight_ih: :math:`U`, ``(H, D)``.
        weight_hh: :math:`W`, ``(H, H)``.
        bias_ih, bias_hh: ``(H,)`` each; their sum is :math:`b`.

    Every parameter starts uniform in :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> cell = RNNCell(10, 20)
        >>> h = cell(torch.randn(3, 10))              # (3, 20), from h = 0
        >>> h = cell(torch.randn(3, 10), h)
    """

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, [hx], ["hx"])
        x_part, _ = _project(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        h = rnn_step(x_part, h, self.weight_hh, self.nonlinearity)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_Cell):
    r"""One step of a long short-term memory cell; drop-in for ``torch.nn.LSTMCell``.

    From chapter 3, *Gated memory: LSTM and GRU*, in the course notation (each gate has an input matrix
    :math:`U_\cdot`, a recurrent matrix :math:`W_\cdot` and a bias :math:`b_\cdot`):

    .. math::

        \begin{aligned}
        i^{(t)} &= \sigma\big(U_i x^{(t)} + W_i h^{(t-1)} + b_i\big) && \text{input gate}\\
        f^{(t)} &= \sigma\big(U_f x^{(t)} + W_f h^{(t-1)} + b_f\big) && \text{forget gate}\\
        g^{(t)} &= \tanh\big(U_g x^{(t)} + W_g h^{(t-1)} + b_g\big) && \text{candidate}\\
        o^{(t)} &= \sigma\big(U_o x^{(t)} + W_o h^{(t-1)} + b_o\big) && \text{output gate}\\
        C^{(t)} &= f^{(t)} \odot C^{(t-1)} + i^{(t)} \odot g^{(t)} && \text{cell state}\\
        h^{(t)} &= o^{(t)} \odot \tanh\big(C^{(t)}\big)
        \end{aligned}

    :math:`\sigma` is the logistic function and :math:`\odot` the element-wise product. The four gates'
    matrices are stored stacked in ``torch.nn``'s row order :math:`i, f, g, o`, so one product
    :math:`W h^{(t-1)}` serves them all.

    Args:
        input_size: ``D``, features of the input.
        hidden_size: ``H``, units in the state and the cell.
        bias: learn the biases. Default ``True``.
        device, dtype: where and how the parameters are created.

    Inputs: ``input, (h_0, c_0)``
        - **input** ``(B, D)``, or unbatched ``(D,)``: :math:`x^{(t)}`.
        - **(h_0, c_0)** ``(B, H)`` each (``(H,)`` unbatched): :math:`h^{(t-1)}` and :math:`C^{(t-1)}`;
          both zeros when omitted.

    Outputs: ``(h_1, c_1)``, ``(B, H)`` each (``(H,)`` unbatched): :math:`h^{(t)}` and :math:`C^{(t)}`.

    Attributes:
        weight_ih: :math:`[U_i; U_f; U_g; U_o]`, ``(4H, D)``.
        weight_hh: :math:`[W_i; W_f; W_g; W_o]`, ``(4H, H)``.
        bias_ih, bias_hh: ``(4H,)`` each; their sum is :math:`[b_i; b_f; b_g; b_o]`.

    Every parameter starts uniform in :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> cell = LSTMCell(10, 20)
        >>> h, c = cell(torch.randn(3, 10))
        >>> h, c = cell(torch.randn(3, 10), (h, c))
    """

    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError("LSTMCell expected hx = (h_0, c_0), a pair of tensors")
        h, c = (None, None) if hx is None else hx
        x, (h, c), unbatched = self._prepare(input, [h, c], ["h_0", "c_0"])
        x_part, _ = _project(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        h, c = lstm_step(x_part, h, c, self.weight_hh, None)
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_Cell):
    r"""One step of a gated recurrent unit; drop-in for ``torch.nn.GRUCell``.

    From chapter 3, *Gated memory: LSTM and GRU*, in the course notation, with ``torch.nn``'s
    placement of the reset gate:

    .. math::

        \begin{aligned}
        r^{(t)} &= \sigma\big(U_r x^{(t)} + b_{ir} + W_r h^{(t-1)} + b_{hr}\big) && \text{reset gate}\\
        z^{(t)} &= \sigma\big(U_z x^{(t)} + b_{iz} + W_z h^{(t-1)} + b_{hz}\big) && \text{update gate}\\
        n^{(t)} &= \tanh\big(U_n x^{(t)} + b_{in} + r^{(t)} \odot (W_n h^{(t-1)} + b_{hn})\big)
            && \text{candidate } \tilde h^{(t)}\\
        h^{(t)} &= \big(1 - z^{(t)}\big) \odot n^{(t)} + z^{(t)} \odot h^{(t-1)}
        \end{aligned}

    **Conventions.** rnncourse computes what ``torch.nn.GRU`` (and cuDNN) compute, so weights move
    between them unchanged:

    - the update gate :math:`z` is the fraction of the **old** state that is kept (as in the course's
      notation and in Cho et al., 2014). Some lecture slides (the form of Chung et al., 2014) let
      :math:`z` admit the new candidate instead: their :math:`z` is our :math:`1 - z`;
    - the reset gate acts **after** the recurrent matrix, :math:`r \odot (W_n h + b_{hn})`. The lecture
      and Cho et al. (2014) reset the state **before** it, :math:`W_n (r \odot h)`. The two are different
      functions of the same parameters (equal only when :math:`r = 1`); chapter 3 explains why the
      library form is preferred (one product :math:`W h` per step for all three gates).

    Args:
        input_size: ``D``, features of the input.
        hidden_size: ``H``, units in the state.
        bias: learn the biases. Default ``True``.
        device, dtype: where and how the parameters are created.

    Inputs: ``input, hx``
        - **input** ``(B, D)``, or unbatched ``(D,)``: :math:`x^{(t)}`.
        - **hx** ``(B, H)`` (``(H,)`` unbatched): :math:`h^{(t-1)}`; zeros when omitted.

    Outputs: ``h'`` ``(B, H)`` (``(H,)`` unbatched): :math:`h^{(t)}`.

    Attributes:
        weight_ih: :math:`[U_r; U_z; U_n]`, ``(3H, D)``.
        weight_hh: :math:`[W_r; W_z; W_n]`, ``(3H, H)``.
        bias_ih: :math:`[b_{ir}; b_{iz}; b_{in}]`, ``(3H,)``.
        bias_hh: :math:`[b_{hr}; b_{hz}; b_{hn}]`, ``(3H,)``.

    Every parameter starts uniform in :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> cell = GRUCell(10, 20)
        >>> h = cell(torch.randn(3, 10))
        >>> h = cell(torch.randn(3, 10), h)
    """

    mode = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._prepare(input, [hx], ["hx"])
        x_part, bias_hh = _project(self.mode, x, self.weight_ih, self.bias_ih, self.bias_hh)
        h = gru_step(x_part, h, self.weight_hh, bias_hh)
        return h.squeeze(0) if unbatched else h


# ---------------------------------------------------------------------------------------------
# Layers: whole sequences, stacked layers, both directions



class _Layers(nn.Module):
    """Parameters, checks and the loop over layers and directions shared by RNN, LSTM and GRU."""

    mode = ""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        scripted: bool = False,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive int, got {num_layers!r}")
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                f"{name}: dropout={dropout} acts between stacked layers, never after the last one, so with "
                "num_layers=1 it does nothing",
                stacklevel=3,
            )
        if not isinstance(proj_size, int) or proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(f"{name}: proj_size must be an int in [0, hidden_size={hidden_size}), got {proj_size!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.scripted = scripted
        factory = {"device": device, "dtype": dtype}
        rows = GATES[self.mode] * hidden_size
        output_size = proj_size or hidden_size
        self._weight_names: list[list[str]] = []
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                layer_input = input_size if layer == 0 else output_size * self.num_directions
                # registered in torch.nn's order, so a seeded initialisation draws the same numbers
                self.register_parameter("weight_ih" + suffix, nn.Parameter(torch.empty(rows, layer_input, **factory)))
                self.register_parameter("weight_hh" + suffix, nn.Parameter(torch.empty(rows, output_size, **factory)))
                names = ["weight_ih" + suffix, "weight_hh" + suffix]
                if bias:
                    self.register_parameter("bias_ih" + suffix, nn.Parameter(torch.empty(rows, **factory)))
                    self.register_parameter("bias_hh" + suffix, nn.Parameter(torch.empty(rows, **factory)))
                    names += ["bias_ih" + suffix, "bias_hh" + suffix]
                else:
                    self.register_parameter("bias_ih" + suffix, None)
                    self.register_parameter("bias_hh" + suffix, None)
                if proj_size:
                    self.register_parameter(
                        "weight_hr" + suffix, nn.Parameter(torch.empty(proj_size, hidden_size, **factory))
                    )
                    names.append("weight_hr" + suffix)
                self._weight_names.append(names)
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """The parameters of each layer and direction, as ``torch.nn``'s ``all_weights``."""
        return [[getattr(self, name) for name in names] for names in self._weight_names]

    def reset_parameters(self) -> None:
        """Every parameter uniform in :math:`(-1/\\sqrt{H}, 1/\\sqrt{H})`, drawn in ``torch.nn``'s order."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def flatten_parameters(self) -> None:
        """Nothing to do (``torch.nn`` packs weights for cuDNN here); kept so drop-in code runs."""

    def _state_sizes(self) -> list[tuple[str, int]]:
        output_size = self.proj_size or self.hidden_size
        if self.mode == "LSTM":
            return [("h_0", output_size), ("c_0", self.hidden_size)]
        return [("h_0", output_size)]

    def _initial_states(
        self, hx, batch: int, unbatched: bool, like: Tensor, sorted_indices: Tensor | None
    ) -> list[Tensor]:
        """Check ``hx`` (or make zeros) and return each state as ``(L * K, B, *)`` in the run's batch order."""
        name = type(self).__name__
        sizes = self._state_sizes()
        layers = self.num_layers * self.num_directions
        if hx is None:
            return [torch.zeros(layers, batch, size, dtype=like.dtype, device=like.device) for _, size in sizes]
        if self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name} expected hx = (h_0, c_0), a pair of tensors, got {type(hx).__name__}")
            given = list(hx)
        else:
            if not isinstance(hx, Tensor):
                raise TypeError(f"{name} expected hx = h_0, a tensor, got {type(hx).__name__}")
            given = [hx]
        states = []
        for state, (state_name, size) in zip(given, sizes):
            if unbatched:
                expected, layout = (layers, size), "(num_layers * num_directions, H_out)"
            else:
                expected, layout = (layers, batch, size), "(num_layers * num_directions, B, H_out)"
            if tuple(state.shape) != expected:
                where = "an unbatched input" if unbatched else f"a batch of {batch}"
                raise ValueError(
                    f"{name} expected {state_name} of shape {layout} = {expected} for {where}, "
                    f"got {_shape(state.shape)}"
                )
            if state.dtype != like.dtype or state.device != like.device:
                raise ValueError(
                    f"{name}: {state_name} is {state.dtype} on {state.device} but the input is "
                    f"{like.dtype} on {like.device}"
                )
            if unbatched:
                state = state.unsqueeze(1)
            if sorted_indices is not None:
                state = state.index_select(1, sorted_indices)
            states.append(state)
        return states

    def _layer_weights(self, index: int):
        """``(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr)`` of layer-direction ``index``."""
        layer, direction = divmod(index, self.num_directions)
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return tuple(getattr(self, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))

    def _run(self, data: Tensor, batch_sizes: list[int], states: list[Tensor]) -> tuple[Tensor, list[Tensor]]:
        """Every layer and direction over rows ``data`` ``(N, D)``; the output rows and the final states."""
        run = scripted_run_layer() if self.scripted else run_layer
        finals: list[list[Tensor]] = [[] for _ in states]
        layer_input = data
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                weight_ih, weight_hh, bias_ih, bias_hh, weight_hr = self._layer_weights(index)
                projected, step_bias = _project(self.mode, layer_input, weight_ih, bias_ih, bias_hh)
                output, final = run(
                    self.mode, projected, batch_sizes, [s[index] for s in states],
                    weight_hh, step_bias, weight_hr, direction == 1,
                )
                outputs.append(output)
                for store, value in zip(finals, final):
                    store.append(value)
            layer_input = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=1)
            if self.training and self.dropout > 0 and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, [torch.stack(store) for store in finals]

    def _forward(self, input, hx):
        """Check and flatten the input to time-major rows, run, and give the output the input's layout."""
        name = type(self).__name__
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            if data.dim() != 2 or data.shape[1] != self.input_size:
                raise ValueError(
                    f"{name} expected a PackedSequence with data of shape (N, {self.input_size}), "
                    f"got {_shape(data.shape)}"
                )
            steps = batch_sizes.tolist()
            states = self._initial_states(hx, steps[0], False, data, sorted_indices)
            output, finals = self._run(data, steps, states)
            if unsorted_indices is not None:
                finals = [state.index_select(1, unsorted_indices) for state in finals]
            return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), finals

        if not isinstance(input, Tensor):
            raise TypeError(f"{name} expected a Tensor or a PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3) or input.shape[-1] != self.input_size:
            raise ValueError(
                f"{name} expected input of shape (T, B, {self.input_size}) (or (B, T, {self.input_size}) "
                f"with batch_first, or (T, {self.input_size}) unbatched), got {_shape(input.shape)}"
            )
        unbatched = input.dim() == 2
        if unbatched:
            x = input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{name} needs at least one time step, got input of shape {_shape(input.shape)}")
        states = self._initial_states(hx, batch, unbatched, x, None)
        output, finals = self._run(x.reshape(steps * batch, self.input_size), [batch] * steps, states)
        output = output.view(steps, batch, -1)
        if unbatched:
            return output.squeeze(1), [state.squeeze(1) for state in finals]
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, finals

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            text += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            text += f", nonlinearity={self.nonlinearity!r}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        if self.bidirectional:
            text += ", bidirectional=True"
        if self.scripted:
            text += ", scripted=True"
        return text




class RNN(_Layers):
    r"""A stack of Elman (vanilla) recurrent layers; drop-in for ``torch.nn.RNN``.

    Each layer :math:`l` and direction applies, for :math:`t = 1, \dots, T`,

    .. math::

        h^{(t)} = \phi\big(b + W h^{(t-1)} + U x^{(t)}\big), \qquad \phi = \tanh \text{ or } \mathrm{ReLU},

    where :math:`x^{(t)}` is the input for the first layer and the previous layer's :math:`h^{(t)}`
    (both directions side by side when bidirectional) above it; the backward direction runs from
    :math:`t = T` down to 1. The equations are chapter 1's (*The Elman network*); chapter 3, *Gated memory:
    LSTM and GRU*, compares this layer with the gated ones.

    Args:
        input_size: ``D``, features per time step.
        hidden_size: ``H``, units in each layer's state.
        num_layers: ``L``, layers stacked so that layer :math:`l + 1` reads the outputs of layer
            :math:`l`. Default 1.
        nonlinearity: :math:`\phi`, ``'tanh'`` (default) or ``'relu'``.
        bias: learn the biases ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default ``True``.
        batch_first: inputs and outputs are ``(B, T, *)`` instead of ``(T, B, *)``; the states
            keep the batch second. Default ``False``.
        dropout: the probability of dropout on the outputs of every layer but the last, in training mode
            only. Default 0.
        bidirectional: add a second chain per layer that reads the sequence backwards; then ``K = 2``,
            else ``K = 1``. Default ``False``.
        device, dtype: where and how the parameters are created.
        scripted: run the loop over time as TorchScript (:func:`scripted_run_layer`): the same
            arithmetic, faster on a CPU. Not a ``torch.nn`` argument. Default ``False``.

    Inputs: ``input, h_0``
        - **input** ``(T, B, D)``, ``(B, T, D)`` with ``batch_first``, unbatched ``(T, D)``, or a
          :class:`~torch.nn.utils.rnn.PackedSequence` (from ``pack_padded_sequence``, sorted or not).
        - **h_0** ``(L * K, B, H)`` (``(L * K, H)`` unbatched): the initial states :math:`h^{(0)}` of
          every layer and direction, in the order ``l0, l0_reverse, l1, ...``; zeros when omitted.

    Outputs: ``(output, h_n)``
        - **output** ``(T, B, K * H)`` (or ``(B, T, K * H)``, ``(T, K * H)``, or a ``PackedSequence``
          with the input's ``sorted_indices``): the last layer's :math:`h^{(t)}` at every step, the
          forward direction's first.
        - **h_n** ``(L * K, B, H)`` (``(L * K, H)`` unbatched): each layer and direction's final state,
          the state at each sequence's own last step when the input is packed.

    Attributes:
        weight_ih_l{k}: :math:`U` of layer ``k``, ``(H, D)`` for ``k = 0``, else ``(H, K * H)``.
        weight_hh_l{k}: :math:`W` of layer ``k``, ``(H, H)``.
        bias_ih_l{k}, bias_hh_l{k}: ``(H,)`` each; their sum is :math:`b`.
        The backward direction's parameters end in ``_reverse``. All start uniform in
        :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> rnn = RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(torch.randn(5, 3, 10))     # (5, 3, 20), (2, 3, 20)
    """

    mode = "RNN_TANH"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        scripted: bool = False,
    ) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"{type(self).__name__}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
            device, dtype, scripted,
        )

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None):
        output, (h_n,) = self._forward(input, hx)
        return output, h_n


class LSTM(_Layers):
    r"""A stack of long short-term memory layers; drop-in for ``torch.nn.LSTM``.

    Each layer and direction runs the cell of chapter 3, *Gated memory: LSTM and GRU*, over the sequence:

    .. math::

        \begin{aligned}
        i^{(t)} &= \sigma\big(U_i x^{(t)} + W_i h^{(t-1)} + b_i\big), &
        f^{(t)} &= \sigma\big(U_f x^{(t)} + W_f h^{(t-1)} + b_f\big),\\
        g^{(t)} &= \tanh\big(U_g x^{(t)} + W_g h^{(t-1)} + b_g\big), &
        o^{(t)} &= \sigma\big(U_o x^{(t)} + W_o h^{(t-1)} + b_o\big),\\
        C^{(t)} &= f^{(t)} \odot C^{(t-1)} + i^{(t)} \odot g^{(t)}, &
        h^{(t)} &= o^{(t)} \odot \tanh\big(C^{(t)}\big),
        \end{aligned}

    with :math:`i, f, o` the input, forget and output gates, :math:`g` the candidate and :math:`C` the
    cell state. With ``proj_size > 0`` the state is projected to ``H_out = proj_size`` units,
    :math:`h^{(t)} = P \big(o^{(t)} \odot \tanh(C^{(t)})\big)` with :math:`P` ``(H_out, H)``, and the
    recurrent matrices read that smaller state; otherwise ``H_out = H``.
    :math:`x^{(t)}` is the input for the first layer and the previous layer's :math:`h^{(t)}` (both
    directions side by side when bidirectional) above it; the backward direction runs from :math:`t = T`
    down to 1.

    Args:
        input_size: ``D``, features per time step.
        hidden_size: ``H``, units in each layer's state.
        num_layers: ``L``, layers stacked so that layer :math:`l + 1` reads the outputs of layer
            :math:`l`. Default 1.
        bias: learn the biases ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default ``True``.
        batch_first: inputs and outputs are ``(B, T, *)`` instead of ``(T, B, *)``; the states
            keep the batch second. Default ``False``.
        dropout: the probability of dropout on the outputs of every layer but the last, in training mode
            only. Default 0.
        bidirectional: add a second chain per layer that reads the sequence backwards; then ``K = 2``,
            else ``K = 1``. Default ``False``.
        proj_size: when positive, each state is projected to ``H_out = proj_size`` units by
            ``weight_hr_l{k}``; else ``H_out = H``. Must be smaller than ``H``. Default 0.
        device, dtype: where and how the parameters are created.
        scripted: run the loop over time as TorchScript (:func:`scripted_run_layer`): the same
            arithmetic, faster on a CPU. Not a ``torch.nn`` argument. Default ``False``.

    Inputs: ``input, (h_0, c_0)``
        - **input** ``(T, B, D)``, ``(B, T, D)`` with ``batch_first``, unbatched ``(T, D)``, or a
          :class:`~torch.nn.utils.rnn.PackedSequence` (from ``pack_padded_sequence``, sorted or not).
        - **h_0** ``(L * K, B, H_out)`` and **c_0** ``(L * K, B, H)`` (without ``B`` when unbatched):
          :math:`h^{(0)}` and :math:`C^{(0)}` of every layer and direction (order ``l0, l0_reverse, l1,
          ...``); both zeros when omitted. ``H_out = proj_size`` if it is positive, else ``H``.

    Outputs: ``(output, (h_n, c_n))``
        - **output** ``(T, B, K * H_out)`` (or ``(B, T, K * H_out)``, ``(T, K * H_out)``, or a
          ``PackedSequence`` with the input's ``sorted_indices``): the last layer's :math:`h^{(t)}`.
        - **h_n** ``(L * K, B, H_out)`` and **c_n** ``(L * K, B, H)``: the final :math:`h` and :math:`C`
          of each layer and direction (at each sequence's own last step when the input is packed).

    Attributes:
        weight_ih_l{k}: :math:`[U_i; U_f; U_g; U_o]` of layer ``k``, ``(4H, D)`` for ``k = 0``, else
            ``(4H, K * H_out)``.
        weight_hh_l{k}: :math:`[W_i; W_f; W_g; W_o]`, ``(4H, H_out)``.
        bias_ih_l{k}, bias_hh_l{k}: ``(4H,)`` each; their sum is :math:`[b_i; b_f; b_g; b_o]`.
        weight_hr_l{k}: the projection :math:`P`, ``(H_out, H)``, only when ``proj_size > 0``.
        The backward direction's parameters end in ``_reverse``. All start uniform in
        :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> lstm = LSTM(10, 20, num_layers=2, batch_first=True)
        >>> output, (h_n, c_n) = lstm(torch.randn(3, 5, 10))   # (3, 5, 20), (2, 3, 20), (2, 3, 20)
    """

    mode = "LSTM"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        scripted: bool = False,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size,
            device, dtype, scripted,
        )

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None):
        output, (h_n, c_n) = self._forward(input, hx)
        return output, (h_n, c_n)


class GRU(_Layers):
    r"""A stack of gated recurrent unit layers; drop-in for ``torch.nn.GRU``.

    Each layer and direction runs the cell of chapter 3, *Gated memory: LSTM and GRU*, over the sequence,
    in ``torch.nn``'s convention:

    .. math::

        \begin{aligned}
        r^{(t)} &= \sigma\big(U_r x^{(t)} + b_{ir} + W_r h^{(t-1)} + b_{hr}\big), &
        z^{(t)} &= \sigma\big(U_z x^{(t)} + b_{iz} + W_z h^{(t-1)} + b_{hz}\big),\\
        n^{(t)} &= \tanh\big(U_n x^{(t)} + b_{in} + r^{(t)} \odot (W_n h^{(t-1)} + b_{hn})\big), &
        h^{(t)} &= \big(1 - z^{(t)}\big) \odot n^{(t)} + z^{(t)} \odot h^{(t-1)}.
        \end{aligned}

    :math:`z` keeps the **old** state (as in the course notation), and the reset gate multiplies the
    recurrent term **after** the matrix :math:`W_n`. The lecture and Cho et al. (2014) reset before it,
    :math:`\tanh(U_n x^{(t)} + W_n (r^{(t)} \odot h^{(t-1)}) + b_n)`, and some slides write :math:`1 - z`
    for our :math:`z`; :class:`GRUCell` and chapter 3 explain the difference. :math:`x^{(t)}` is the input
    for the first layer and the previous layer's :math:`h^{(t)}` above it.

    Args:
        input_size: ``D``, features per time step.
        hidden_size: ``H``, units in each layer's state.
        num_layers: ``L``, layers stacked so that layer :math:`l + 1` reads the outputs of layer
            :math:`l`. Default 1.
        bias: learn the biases ``bias_ih_l{k}`` and ``bias_hh_l{k}``. Default ``True``.
        batch_first: inputs and outputs are ``(B, T, *)`` instead of ``(T, B, *)``; the states
            keep the batch second. Default ``False``.
        dropout: the probability of dropout on the outputs of every layer but the last, in training mode
            only. Default 0.
        bidirectional: add a second chain per layer that reads the sequence backwards; then ``K = 2``,
            else ``K = 1``. Default ``False``.
        device, dtype: where and how the parameters are created.
        scripted: run the loop over time as TorchScript (:func:`scripted_run_layer`): the same
            arithmetic, faster on a CPU. Not a ``torch.nn`` argument. Default ``False``.

    Inputs: ``input, h_0``
        - **input** ``(T, B, D)``, ``(B, T, D)`` with ``batch_first``, unbatched ``(T, D)``, or a
          :class:`~torch.nn.utils.rnn.PackedSequence` (from ``pack_padded_sequence``, sorted or not).
        - **h_0** ``(L * K, B, H)`` (``(L * K, H)`` unbatched): initial states, order ``l0, l0_reverse,
          l1, ...``; zeros when omitted.

    Outputs: ``(output, h_n)``
        - **output** ``(T, B, K * H)`` (or ``(B, T, K * H)``, ``(T, K * H)``, or a ``PackedSequence``
          with the input's ``sorted_indices``): the last layer's :math:`h^{(t)}`.
        - **h_n** ``(L * K, B, H)``: the final state of each layer and direction (at each sequence's own
          last step when the input is packed).

    Attributes:
        weight_ih_l{k}: :math:`[U_r; U_z; U_n]` of layer ``k``, ``(3H, D)`` for ``k = 0``, else
            ``(3H, K * H)``.
        weight_hh_l{k}: :math:`[W_r; W_z; W_n]`, ``(3H, H)``.
        bias_ih_l{k}: :math:`[b_{ir}; b_{iz}; b_{in}]`, ``(3H,)``.
        bias_hh_l{k}: :math:`[b_{hr}; b_{hz}; b_{hn}]`, ``(3H,)``.
        The backward direction's parameters end in ``_reverse``. All start uniform in
        :math:`(-1/\sqrt{H}, 1/\sqrt{H})`.

    Example::

        >>> gru = GRU(10, 20, bidirectional=True)
        >>> output, h_n = gru(torch.randn(5, 3, 10))          # (5, 3, 40), (2, 3, 20)
    """

    mode = "GRU"

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        scripted: bool = False,
    ) -> None:
        super().__init__(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
            device, dtype, scripted,
        )

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None):
        output, (h_n,) = self._forward(input, hx)
        return output, h_n




class ElmanRNN(RNN):
    r"""Single-layer Elman network (a vanilla RNN with :math:`\tanh`): :class:`RNN` with chapter 1's signature.

    .. math::

        h^{(t)} = \tanh\big(b + W h^{(t-1)} + U x^{(t)}\big)

    in the course notation (book: *Sequences and dynamical systems*, section *The Elman network*). The
    parameters carry ``torch.nn.RNN``'s names: ``weight_hh_l0`` is :math:`W` ``(H, H)``, ``weight_ih_l0``
    is :math:`U` ``(H, D)`` and ``bias_ih_l0 + bias_hh_l0`` is :math:`b` ``(H,)``. ``load_state_dict``
    accepts the ``state_dict`` of an ``nn.RNN(D, H)`` and gives the same outputs.

    Args:
        input_size: ``D``, features per time step.
        hidden_size: ``H``, units in the state.
        bias: learn the biases (as ``nn.RNN``).
        batch_first: inputs and outputs are ``(B, T, *)`` instead of ``(T, B, *)``.
        device, dtype: where and how the parameters are created.

    Inputs: ``x`` ``(T, B, D)`` (or ``(B, T, D)`` when ``batch_first``, or unbatched ``(T, D)``, or a
    ``PackedSequence``) and optionally ``h_0`` ``(1, B, H)`` (``(1, H)`` unbatched); zeros when omitted.

    Outputs: ``(output, h_n)``: ``output`` ``(T, B, H)`` holds every :math:`h^{(t)}`,
    ``h_n`` ``(1, B, H)`` the last one.

    Initialisation: every parameter uniform in :math:`(-1/\sqrt{H}, 1/\sqrt{H})`, as ``nn.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        batch_first: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias=bias, batch_first=batch_first, device=device, dtype=dtype)

    def forward(self, x: Tensor | PackedSequence, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return super().forward(x, h_0)
