"""Recurrent layers shaped like ``torch.nn``: same constructor arguments, ``batch_first``,
``(output, h_n)`` returns and ``state_dict`` keys, so weights move between the two freely.

Chapter 1 introduces the Elman layer; later chapters add gated cells here.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ElmanRNN"]


class ElmanRNN(nn.Module):
    r"""Single-layer Elman network (a vanilla RNN with :math:`\tanh`), written out step by step.

    .. math::

        h^{(t)} = \tanh\big(b + W h^{(t-1)} + U x^{(t)}\big)

    in the course notation (book: *Sequences and dynamical systems*, section *The Elman
    network*). The parameters carry ``torch.nn.RNN``'s names: ``weight_hh_l0`` is
    :math:`W` ``(H, H)``, ``weight_ih_l0`` is :math:`U` ``(H, D)`` and
    ``bias_ih_l0 + bias_hh_l0`` is :math:`b` ``(H,)``. ``load_state_dict`` accepts the
    ``state_dict`` of an ``nn.RNN(D, H)`` and gives the same outputs.

    Args:
        input_size: ``D``, features per time step.
        hidden_size: ``H``, units in the state.
        bias: learn the biases (as ``nn.RNN``).
        batch_first: inputs and outputs are ``(B, T, *)`` instead of ``(T, B, *)``.
        device, dtype: where and how the parameters are created.

    Inputs: ``x`` ``(T, B, D)`` (or ``(B, T, D)`` when ``batch_first``, or unbatched ``(T, D)``)
    and optionally ``h_0`` ``(1, B, H)`` (``(1, H)`` unbatched); zeros when omitted.

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
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.batch_first = batch_first
        self.num_layers = 1
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh_l0 = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        if bias:
            self.bias_ih_l0 = nn.Parameter(torch.empty(hidden_size, **factory))
            self.bias_hh_l0 = nn.Parameter(torch.empty(hidden_size, **factory))
        else:
            self.register_parameter("bias_ih_l0", None)
            self.register_parameter("bias_hh_l0", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    def forward(self, x: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
            h_0 = None if h_0 is None else h_0.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(
                f"ElmanRNN expected input of shape (T, B, {self.input_size}) "
                f"(or (B, T, {self.input_size}) with batch_first), got {tuple(x.shape)}"
            )
        batch = x.shape[1]
        h = (
            torch.zeros(batch, self.hidden_size, device=x.device, dtype=x.dtype)
            if h_0 is None
            else h_0[0]
        )
        bias = 0.0 if self.bias_ih_l0 is None else self.bias_ih_l0 + self.bias_hh_l0
        projected = x @ self.weight_ih_l0.T + bias  # all input terms at once: (T, B, H)
        outputs = []
        for t in range(x.shape[0]):
            h = torch.tanh(projected[t] + h @ self.weight_hh_l0.T)
            outputs.append(h)
        output = torch.stack(outputs)
        h_n = h.unsqueeze(0)
        if unbatched:
            return output.squeeze(1), h_n.squeeze(1)
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, batch_first={self.batch_first}"
