r"""Encoder–decoder networks with attention (chapter 5, *Sequence to sequence with attention*).

An **encoder** reads the source :math:`x^{(1)}, \dots, x^{(T_x)}` into states :math:`h^{(1)}, \dots, h^{(T_x)}`;
a **decoder** with state :math:`s^{(t)}` emits the target :math:`y^{(1)}, \dots, y^{(T_y)}` one token at a time,
each step reading the token it emitted before. Three ways to hand the source to the decoder are built here:

- ``attention="none", feed_context=False``: the encoder's summary :math:`\bar h` only sets the decoder's first
  state (Sutskever et al., 2014);
- ``attention="none", feed_context=True``: :math:`\bar h` is also fed at every step, next to the previous
  token, and read by the output layer (Cho et al., 2014), as a captioning model feeds its image vector;
- ``attention="additive"`` (Bahdanau et al., 2015) or ``"multiplicative"`` (Luong et al., 2015): a fresh
  context :math:`\bar h^{(t)}` is computed at every step as a weighted average of all encoder states.

One decoder step with attention, in the course's notation (``(B, ·)`` shapes in code):

.. math::

    \begin{aligned}
    e^{(t)}_j &= w_a^\top \tanh\big(W_a s^{(t-1)} + U_a h^{(j)}\big)
        \quad\text{(additive)}, \qquad e^{(t)}_j = s^{(t-1)\top} M_a h^{(j)} \quad\text{(multiplicative)},\\
    \alpha^{(t)}_j &= \frac{\exp e^{(t)}_j}{\sum_{k \,\text{not padding}} \exp e^{(t)}_k}
        \quad (0 \text{ at padded } j), \qquad
    \bar h^{(t)} = \sum_j \alpha^{(t)}_j h^{(j)},\\
    s^{(t)} &= \mathrm{GRU}\big([E_{y^{(t-1)}};\ \bar h^{(t)}],\ s^{(t-1)}\big), \qquad
    o^{(t)} = c + V\,[s^{(t)};\ \bar h^{(t)}], \qquad \hat y^{(t)} = \mathrm{softmax}\big(o^{(t)}\big).
    \end{aligned}

Exercise 5 implements exactly this step in NumPy; ``tests/test_seq2seq.py`` checks that the two agree.

Sequences are time-first, as everywhere in the course: a source batch is ``(T_x, B)`` token ids, encoder
states ``(T_x, B, H_e)``, attention weights ``(B, T_x)`` per step and ``(T_y, B, T_x)`` over a target.
Token ids follow :mod:`rnncourse.translation`: ``PAD = 0``, ``BOS = 1``, ``EOS = 2``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnncourse.recurrent import GRU, LSTM, GRUCell
from rnncourse.translation import BOS, EOS, PAD

__all__ = [
    "AdditiveAttention",
    "Decoded",
    "Decoder",
    "Encoder",
    "Memory",
    "MultiplicativeAttention",
    "Seq2Seq",
    "evaluate",
    "length_mask",
    "masked_softmax",
    "sequence_accuracy",
    "token_accuracy",
    "train_seq2seq",
]

ATTENTIONS = ("additive", "multiplicative", "none")


def length_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """``(B, T)`` bool mask, True at the first ``lengths[b]`` positions of row ``b`` (the real tokens)."""
    lengths = torch.as_tensor(lengths)
    if max_length is None:
        max_length = int(lengths.max()) if lengths.numel() else 0
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def masked_softmax(scores: Tensor, mask: Tensor) -> Tensor:
    r"""Softmax over the last axis that gives padded positions exactly zero weight.

    Args:
        scores: ``(..., T_x)`` attention scores :math:`e^{(t)}_j`.
        mask: bool, broadcastable to ``scores``; True where a position is a real token.

    Returns:
        ``(..., T_x)`` weights :math:`\alpha^{(t)}_j`: they sum to one over the unmasked positions of each
        row, are 0 at masked positions, and are all 0 in a row with no unmasked position (never NaN, and
        with finite gradients: the masked entries are filled with the dtype's most negative number rather
        than :math:`-\infty`, then multiplied by the mask).
    """
    mask = mask.to(torch.bool)
    filled = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(filled, dim=-1) * mask.to(scores.dtype)


class AdditiveAttention(nn.Module):
    r"""Additive (Bahdanau) attention: :math:`e_j = w_a^\top \tanh(W_a s + U_a h^{(j)})`.

    Args:
        query_size: ``H_d``, the size of the decoder state :math:`s`.
        key_size: ``H_e``, the size of an encoder state :math:`h^{(j)}`.
        attention_size: ``H_a``, the width of the hidden layer of the scoring network.
        device, dtype: where and how the parameters are created.

    Attributes:
        W_a: ``nn.Linear(H_d, H_a, bias=False)``, weight ``(H_a, H_d)``.
        U_a: ``nn.Linear(H_e, H_a, bias=False)``, weight ``(H_a, H_e)``.
        w_a: ``nn.Linear(H_a, 1, bias=False)``, weight ``(1, H_a)``.

    :math:`U_a h^{(j)}` does not depend on the decoder step, so :meth:`precompute` does it once per source.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        options = {"device": device, "dtype": dtype}
        self.W_a = nn.Linear(query_size, attention_size, bias=False, **options)
        self.U_a = nn.Linear(key_size, attention_size, bias=False, **options)
        self.w_a = nn.Linear(attention_size, 1, bias=False, **options)

    def precompute(self, keys: Tensor) -> Tensor:
        """``(T_x, B, H_e)`` encoder states -> ``(T_x, B, H_a)``, :math:`U_a h^{(j)}`."""
        return self.U_a(keys)

    def scores(self, query: Tensor, keys: Tensor, projected: Tensor | None = None) -> Tensor:
        """``(B, H_d)`` decoder state and ``(T_x, B, H_e)`` encoder states -> ``(B, T_x)`` scores."""
        if projected is None:
            projected = self.precompute(keys)
        hidden = torch.tanh(self.W_a(query)[None] + projected)  # (T_x, B, H_a)
        return self.w_a(hidden).squeeze(-1).transpose(0, 1)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor,
                projected: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns the context ``(B, H_e)`` and the weights ``(B, T_x)``."""
        weights = masked_softmax(self.scores(query, keys, projected), mask)
        return torch.einsum("bt,tbh->bh", weights, keys), weights


class MultiplicativeAttention(nn.Module):
    r"""Multiplicative (Luong's "general") attention: :math:`e_j = s^\top M_a h^{(j)}`.

    Args:
        query_size: ``H_d``; key_size: ``H_e``.
        device, dtype: where and how the parameter is created.

    Attributes:
        M_a: ``(H_d, H_e)``, initialised uniform in :math:`\pm 1/\sqrt{H_e}`.

    Luong et al. (2015) score the *current* decoder state and feed the context to the output only; here
    both scores use :math:`s^{(t-1)}` inside the same decoder, so the two modules differ in the score alone.
    """

    def __init__(self, query_size: int, key_size: int, *,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(key_size)
        self.M_a = nn.Parameter(torch.empty(query_size, key_size, device=device, dtype=dtype).uniform_(-bound, bound))

    def precompute(self, keys: Tensor) -> Tensor:
        """``(T_x, B, H_e)`` -> ``(T_x, B, H_d)``, :math:`M_a h^{(j)}`."""
        return keys @ self.M_a.T

    def scores(self, query: Tensor, keys: Tensor, projected: Tensor | None = None) -> Tensor:
        if projected is None:
            projected = self.precompute(keys)
        return torch.einsum("bd,tbd->bt", query, projected)

    def forward(self, query: Tensor, keys: Tensor, mask: Tensor,
                projected: Tensor | None = None) -> tuple[Tensor, Tensor]:
        weights = masked_softmax(self.scores(query, keys, projected), mask)
        return torch.einsum("bt,tbh->bh", weights, keys), weights


class Encoder(nn.Module):
    r"""An embedding and a recurrent layer (chapter 3's :class:`~rnncourse.GRU` or :class:`~rnncourse.LSTM`).

    Args:
        vocab_size: ``D``, source tokens (with the specials).
        embedding_dim: size of a token's embedding.
        hidden_size: units per direction.
        bidirectional: read the source both ways; then :math:`h^{(j)} = [\overrightarrow h^{(j)};
            \overleftarrow h^{(j)}]` and ``output_size = 2 * hidden_size``.
        cell: ``"gru"`` or ``"lstm"``.
        device, dtype: where and how the parameters are created.

    Inputs: ``source (T_x, B)`` token ids padded with ``PAD``, ``lengths (B,)``.

    Outputs: ``states (T_x, B, H_e)`` (zero at padded positions) and the summary ``(B, H_e)``: the forward
    state at each sequence's last real token, joined with the backward state at its first token. Padding
    is packed away, so it never enters a state.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, *, bidirectional: bool = True,
                 cell: str = "gru", device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"Encoder: cell must be 'gru' or 'lstm', got {cell!r}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD, device=device, dtype=dtype)
        layer = GRU if cell == "gru" else LSTM
        self.rnn = layer(embedding_dim, hidden_size, bidirectional=bidirectional, device=device, dtype=dtype)
        self.cell = cell
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        embedded = self.embedding(source)
        packed = pack_padded_sequence(embedded, lengths.cpu(), enforce_sorted=False)
        output, final = self.rnn(packed)
        states, _ = pad_packed_sequence(output, total_length=source.shape[0])
        h_n = final[0] if self.cell == "lstm" else final
        directions = 2 if self.rnn.bidirectional else 1
        summary = torch.cat([h_n[-directions + d] for d in range(directions)], dim=-1)
        return states, summary


@dataclass
class Memory:
    """What the decoder reads from the encoder, for one batch.

    Attributes:
        states: ``(T_x, B, H_e)`` encoder states :math:`h^{(j)}`.
        mask: ``(B, T_x)`` bool, True at real source tokens.
        summary: ``(B, H_e)``, the fixed context :math:`\\bar h`.
        projected: the attention's precomputed keys (``None`` without attention).
    """

    states: Tensor
    mask: Tensor
    summary: Tensor
    projected: Tensor | None = None

    def repeat(self, times: int) -> Memory:
        """Each example ``times`` times in a row (for beam search): batch ``B`` becomes ``B * times``."""
        return Memory(
            self.states.repeat_interleave(times, dim=1),
            self.mask.repeat_interleave(times, dim=0),
            self.summary.repeat_interleave(times, dim=0),
            None if self.projected is None else self.projected.repeat_interleave(times, dim=1),
        )


class Decoder(nn.Module):
    r"""A GRU decoder that emits one token per step, with or without attention.

    Args:
        vocab_size: ``K``, target tokens (with the specials).
        embedding_dim: ``M``, size of a target token's embedding (the rows of :math:`E`).
        hidden_size: ``H_d``, units in the decoder state :math:`s`.
        context_size: ``H_e``, size of an encoder state.
        attention: ``"additive"``, ``"multiplicative"`` or ``"none"``.
        feed_context: without attention, also feed the fixed context :math:`\bar h` at every step and to
            the output layer (with attention the per-step context is always fed).
        attention_size: ``H_a`` for additive attention (default ``H_d``).
        device, dtype: where and how the parameters are created.

    Attributes:
        embedding: :math:`E`, ``(K, M)``.
        cell: :class:`~rnncourse.GRUCell` with input ``M + H_e`` (``M`` when no context is fed).
        init: ``nn.Linear(H_e, H_d)``; the first state is :math:`s^{(0)} = \tanh(W_s \bar h + b_s)`.
        out: ``nn.Linear(H_d + H_e, K)`` (``H_d`` when no context is fed): :math:`V` and :math:`c`.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int, context_size: int, *,
                 attention: str = "additive", feed_context: bool = True, attention_size: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"Decoder: attention must be one of {ATTENTIONS}, got {attention!r}")
        options = {"device": device, "dtype": dtype}
        self.attention_kind = attention
        self.feeds_context = attention != "none" or feed_context
        fed = context_size if self.feeds_context else 0
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD, **options)
        self.cell = GRUCell(embedding_dim + fed, hidden_size, **options)
        self.init = nn.Linear(context_size, hidden_size, **options)
        self.out = nn.Linear(hidden_size + fed, vocab_size, **options)
        self.attention: nn.Module | None
        if attention == "additive":
            self.attention = AdditiveAttention(hidden_size, context_size, attention_size or hidden_size, **options)
        elif attention == "multiplicative":
            self.attention = MultiplicativeAttention(hidden_size, context_size, **options)
        else:
            self.attention = None

    def initial_state(self, memory: Memory) -> Tensor:
        """:math:`s^{(0)}`, ``(B, H_d)``."""
        return torch.tanh(self.init(memory.summary))

    def prepare(self, memory: Memory) -> Memory:
        """Precompute the attention's keys once per source."""
        if self.attention is not None and memory.projected is None:
            memory.projected = self.attention.precompute(memory.states)
        return memory

    def step(self, y_prev: Tensor, s_prev: Tensor, memory: Memory) -> tuple[Tensor, Tensor, Tensor | None]:
        """One step: ``y_prev (B,)`` ids and ``s_prev (B, H_d)`` -> logits ``(B, K)``, ``s (B, H_d)``, and the
        attention weights ``(B, T_x)`` (``None`` without attention)."""
        embedded = self.embedding(y_prev)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(s_prev, memory.states, memory.mask, memory.projected)
        else:
            context = memory.summary
        if self.feeds_context:
            s = self.cell(torch.cat([embedded, context], dim=-1), s_prev)
            logits = self.out(torch.cat([s, context], dim=-1))
        else:
            s = self.cell(embedded, s_prev)
            logits = self.out(s)
        return logits, s, weights


@dataclass
class Decoded:
    """The result of greedy or beam search.

    Attributes:
        tokens: ``(B, L)`` int64 ids; each row ends with ``EOS`` then ``PAD`` (or runs to ``L`` without EOS).
        lengths: ``(B,)`` tokens up to and including the EOS (``L`` for a row that never emitted one).
        log_probs: ``(B,)`` the sum of the log-probabilities of the emitted tokens.
        weights: ``(B, L, T_x)`` attention weights at each emitted step (``None`` without attention).
    """

    tokens: Tensor
    lengths: Tensor
    log_probs: Tensor
    weights: Tensor | None


class Seq2Seq(nn.Module):
    r"""An encoder–decoder network: :class:`Encoder`, then :class:`Decoder`, with or without attention.

    Args:
        source_vocab_size, target_vocab_size: ``D`` and ``K``, including the four special tokens.
        embedding_dim: size of the source and target embeddings. Default 32.
        hidden_size: units of the encoder per direction and of the decoder. Default 64.
        attention: ``"additive"`` (default), ``"multiplicative"`` or ``"none"``.
        feed_context: without attention, feed the fixed context at every step (``True``, Cho et al. 2014) or
            only through the first decoder state (``False``, Sutskever et al. 2014).
        bidirectional: a bidirectional encoder (default ``True``).
        encoder_cell: ``"gru"`` or ``"lstm"``.
        device, dtype: where and how the parameters are created.

    ``forward(source, source_lengths, target_in)`` runs the decoder under teacher forcing and returns the
    logits ``(T_y, B, K)`` and the attention weights ``(T_y, B, T_x)`` (``None`` without attention).
    :meth:`greedy` and :meth:`beam_search` decode without targets.

    Example::

        >>> task = make_task("reversal", seed=0)
        >>> model = Seq2Seq(len(task.source_vocab), len(task.target_vocab))
        >>> history = train_seq2seq(model, task.train, task.source_vocab, task.target_vocab, steps=100)
        >>> decoded = model.greedy(batch.source, batch.source_lengths, max_length=25)
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, *, embedding_dim: int = 32,
                 hidden_size: int = 64, attention: str = "additive", feed_context: bool = True,
                 bidirectional: bool = True, encoder_cell: str = "gru", attention_size: int | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.encoder = Encoder(source_vocab_size, embedding_dim, hidden_size, bidirectional=bidirectional,
                               cell=encoder_cell, device=device, dtype=dtype)
        self.decoder = Decoder(target_vocab_size, embedding_dim, hidden_size, self.encoder.output_size,
                               attention=attention, feed_context=feed_context, attention_size=attention_size,
                               device=device, dtype=dtype)
        self.config = {"source_vocab_size": source_vocab_size, "target_vocab_size": target_vocab_size,
                       "embedding_dim": embedding_dim, "hidden_size": hidden_size, "attention": attention,
                       "feed_context": feed_context, "bidirectional": bidirectional, "encoder_cell": encoder_cell,
                       "attention_size": attention_size}

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, source: Tensor, source_lengths: Tensor) -> Memory:
        """Read a ``(T_x, B)`` source into the decoder's :class:`Memory`."""
        source_lengths = torch.as_tensor(source_lengths, device=source.device)
        states, summary = self.encoder(source, source_lengths)
        memory = Memory(states, length_mask(source_lengths, source.shape[0]), summary)
        return self.decoder.prepare(memory)

    def forward(self, source: Tensor, source_lengths: Tensor, target_in: Tensor, *,
                sampling_probability: float = 0.0,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | None]:
        """Teacher forcing: step ``t`` reads the true ``target_in[t]``. With ``sampling_probability`` ``p > 0``
        (scheduled sampling, Bengio et al. 2015) each example reads instead, with probability ``p``, the
        token the model itself predicted (the argmax) at the previous step."""
        memory = self.encode(source, source_lengths)
        s = self.decoder.initial_state(memory)
        logits, weights = [], []
        y_prev = target_in[0]
        for t in range(target_in.shape[0]):
            if t > 0:
                y_prev = target_in[t]
                if sampling_probability > 0:
                    own = logits[-1].argmax(-1)
                    draw = torch.rand(y_prev.shape, generator=generator, device=y_prev.device)
                    y_prev = torch.where(draw < sampling_probability, own, y_prev)
            o, s, alpha = self.decoder.step(y_prev, s, memory)
            logits.append(o)
            if alpha is not None:
                weights.append(alpha)
        return torch.stack(logits), (torch.stack(weights) if weights else None)

    def loss(self, batch: Any, *, sampling_probability: float = 0.0) -> Tensor:
        """Mean cross-entropy per target token (``PAD`` positions ignored) of a
        :class:`~rnncourse.translation.Batch`."""
        logits, _ = self(batch.source, batch.source_lengths, batch.target_in,
                         sampling_probability=sampling_probability)
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch.target_out.flatten(), ignore_index=PAD)

    @torch.no_grad()
    def greedy(self, source: Tensor, source_lengths: Tensor, max_length: int) -> Decoded:
        """Emit the most probable token at each step, for every example at once, until each row has emitted
        ``EOS`` or ``max_length`` tokens. Rows that finished get ``PAD`` after their ``EOS``."""
        memory = self.encode(source, source_lengths)
        batch = source.shape[1]
        s = self.decoder.initial_state(memory)
        y_prev = torch.full((batch,), BOS, dtype=torch.long, device=source.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
        tokens, weights = [], []
        log_probs = torch.zeros(batch, dtype=memory.states.dtype, device=source.device)
        lengths = torch.full((batch,), max_length, dtype=torch.long, device=source.device)
        for t in range(max_length):
            o, s, alpha = self.decoder.step(y_prev, s, memory)
            logp = torch.log_softmax(o, dim=-1)
            y = logp.argmax(-1)
            log_probs += torch.where(finished, 0.0, logp.gather(1, y[:, None]).squeeze(1))
            y = torch.where(finished, PAD, y)
            tokens.append(y)
            if alpha is not None:
                weights.append(torch.where(finished[:, None], 0.0, alpha))
            newly = ~finished & (y == EOS)
            lengths = torch.where(newly, t + 1, lengths)
            finished = finished | newly
            y_prev = y
            if bool(finished.all()):
                break
        out = torch.stack(tokens, dim=1)
        if out.shape[1] < max_length:
            out = nn.functional.pad(out, (0, max_length - out.shape[1]), value=PAD)
        stacked = None
        if weights:
            stacked = torch.stack(weights, dim=1)
            stacked = nn.functional.pad(stacked, (0, 0, 0, max_length - stacked.shape[1]))
        return Decoded(out, lengths, log_probs, stacked)

    @torch.no_grad()
    def beam_search(self, source: Tensor, source_lengths: Tensor, max_length: int, *, beam_width: int = 5,
                    length_penalty: float = 0.0) -> Decoded:
        r"""Keep the ``beam_width`` most probable partial outputs at every step (all examples at once).

        A hypothesis that has emitted ``EOS`` stays in the beam with its score frozen (it is extended by
        ``PAD`` at no cost) and competes with the unfinished ones; the search ends when every beam of every
        example has finished or after ``max_length`` steps. The winner of each example is the hypothesis with
        the best score :math:`\log p(y) / \mathrm{lp}(y)`, where
        :math:`\mathrm{lp}(y) = \big((5 + |y|) / 6\big)^{\nu}` is the length penalty of Wu et al. (2016),
        :math:`|y|` counts the tokens up to and including ``EOS`` and :math:`\nu` is ``length_penalty``
        (0: plain log-probability, which favours short outputs). With ``beam_width=1`` this is :meth:`greedy`.
        """
        if beam_width < 1:
            raise ValueError(f"beam_width must be at least 1, got {beam_width}")
        memory = self.encode(source, source_lengths)
        batch, width = source.shape[1], beam_width
        device, dtype = source.device, memory.states.dtype
        memory = memory.repeat(width)
        s = self.decoder.initial_state(memory)  # (B*w, H_d)
        vocab = self.decoder.out.out_features
        scores = torch.full((batch, width), -math.inf, dtype=dtype, device=device)
        scores[:, 0] = 0.0  # at the start the w beams are copies: keep only one
        tokens = torch.zeros(batch, width, 0, dtype=torch.long, device=device)
        weights = torch.zeros(batch, width, 0, memory.states.shape[0], dtype=dtype, device=device)
        finished = torch.zeros(batch, width, dtype=torch.bool, device=device)
        lengths = torch.full((batch, width), max_length, dtype=torch.long, device=device)
        y_prev = torch.full((batch * width,), BOS, dtype=torch.long, device=device)
        attends = self.decoder.attention is not None
        for t in range(max_length):
            o, s, alpha = self.decoder.step(y_prev, s, memory)
            logp = torch.log_softmax(o, dim=-1).view(batch, width, vocab)
            # a finished beam can only be extended by PAD, at no cost
            frozen = torch.full_like(logp, -math.inf)
            frozen[..., PAD] = 0.0
            logp = torch.where(finished[..., None], frozen, logp)
            candidates = (scores[..., None] + logp).view(batch, width * vocab)
            scores, index = candidates.topk(width, dim=-1)
            parent, y = index // vocab, index % vocab
            flat_parent = (parent + torch.arange(batch, device=device)[:, None] * width).view(-1)
            s = s[flat_parent]
            tokens = torch.cat([tokens.gather(1, parent[..., None].expand(-1, -1, tokens.shape[2])), y[..., None]], -1)
            finished_parent = finished.gather(1, parent)
            if attends:
                step_weights = alpha.view(batch, width, -1).gather(1, parent[..., None].expand(-1, -1, alpha.shape[-1]))
                step_weights = torch.where(finished_parent[..., None], 0.0, step_weights)
                kept = weights.gather(1, parent[..., None, None].expand(-1, -1, *weights.shape[2:]))
                weights = torch.cat([kept, step_weights[:, :, None]], dim=2)
            lengths = lengths.gather(1, parent)
            newly = ~finished_parent & (y == EOS)
            lengths = torch.where(newly, t + 1, lengths)
            finished = finished_parent | newly
            y_prev = y.view(-1)
            if bool(finished.all()):
                break
        penalty = ((5.0 + lengths.to(dtype)) / 6.0) ** length_penalty
        best = (scores / penalty).argmax(-1)
        pick = torch.arange(batch, device=device)
        out = tokens[pick, best]
        if out.shape[1] < max_length:
            out = nn.functional.pad(out, (0, max_length - out.shape[1]), value=PAD)
        chosen = None
        if attends:
            chosen = weights[pick, best]
            chosen = nn.functional.pad(chosen, (0, 0, 0, max_length - chosen.shape[1]))
        return Decoded(out, lengths[pick, best], scores[pick, best], chosen)


# ---------------------------------------------------------------------------------------------
# Scoring and training


def _until_eos(rows: list[list[int]]) -> list[list[int]]:
    """Each row's ids up to and including its first EOS (or up to its first PAD, or all of it)."""
    out = []
    for line in rows:
        row = []
        for token in line:
            if token == PAD:
                break
            row.append(token)
            if token == EOS:
                break
        out.append(row)
    return out


def _target_rows(target_out: Tensor) -> list[list[int]]:
    """``(T_y, B)`` targets -> per example, the ids up to and including EOS."""
    return _until_eos(target_out.T.tolist())


def _predicted_rows(tokens: Tensor) -> list[list[int]]:
    """``(B, L)`` decoded ids -> per example, the ids up to and including EOS."""
    return _until_eos(tokens.tolist())


def sequence_accuracy(tokens: Tensor, target_out: Tensor) -> Tensor:
    """``(B,)`` bool: the decoded row (``(B, L)``) equals the target (``(T_y, B)``) up to and including EOS."""
    return torch.tensor([p == q for p, q in zip(_predicted_rows(tokens), _target_rows(target_out))])


def _matched(predicted: list[int], target: list[int]) -> int:
    """How many of the target's tokens the prediction has at the same position."""
    return sum(1 for i, token in enumerate(target) if i < len(predicted) and predicted[i] == token)


def token_accuracy(tokens: Tensor, target_out: Tensor) -> tuple[int, int]:
    """Target tokens (EOS included) matched at the same position by the decoded rows: ``(matched, total)``."""
    matched = total = 0
    for p, q in zip(_predicted_rows(tokens), _target_rows(target_out)):
        total += len(q)
        matched += _matched(p, q)
    return matched, total


def evaluate(model: Seq2Seq, pairs: Sequence[Any], source_vocab: Any, target_vocab: Any, *,
             search: str = "greedy", beam_width: int = 5, length_penalty: float = 0.0,
             batch_size: int = 500, max_extra: int = 5) -> dict[str, Any]:
    """Exact-sequence and token accuracy of ``model`` on ``pairs``, overall and by source length.

    Decoding runs to ``max_extra`` tokens beyond the longest target of each batch. Also reports the
    teacher-forced token accuracy (each step given the true previous token), whose gap to the free-running
    token accuracy measures what exposure bias costs.

    ``length_accuracy`` is the fraction of outputs that end with ``EOS`` exactly where the target does.

    Returns:
        ``{"sequence_accuracy", "token_accuracy", "teacher_forced_token_accuracy", "length_accuracy", "n",
        "by_length": {source length: {"n", "sequence_accuracy", "token_accuracy"}}}``
    """
    from rnncourse.translation import encode_batch

    model.eval()
    by_length: dict[int, list[int]] = {}
    exact_total = matched_total = tokens_total = forced_matched = right_length = 0
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = list(pairs[start:start + batch_size])
            batch = encode_batch(chunk, source_vocab, target_vocab, device=model.device)
            max_length = batch.target_out.shape[0] + max_extra
            if search == "greedy":
                decoded = model.greedy(batch.source, batch.source_lengths, max_length)
            elif search == "beam":
                decoded = model.beam_search(batch.source, batch.source_lengths, max_length,
                                            beam_width=beam_width, length_penalty=length_penalty)
            else:
                raise ValueError(f"search must be 'greedy' or 'beam', got {search!r}")
            predicted, targets = _predicted_rows(decoded.tokens), _target_rows(batch.target_out)
            logits, _ = model(batch.source, batch.source_lengths, batch.target_in)
            forced = (logits.argmax(-1) == batch.target_out) & (batch.target_out != PAD)
            forced_matched += int(forced.sum())
            for pair, p, q in zip(chunk, predicted, targets):
                ok = p == q  # what sequence_accuracy computes, from the rows already at hand
                matched = _matched(p, q)
                record = by_length.setdefault(len(pair.source), [0, 0, 0, 0])
                record[0] += 1
                record[1] += int(ok)
                record[2] += matched
                record[3] += len(q)
                exact_total += int(ok)
                right_length += int(len(p) == len(q) and p[-1:] == [EOS])
                matched_total += matched
                tokens_total += len(q)
    n = len(pairs)
    return {
        "n": n,
        "sequence_accuracy": exact_total / n if n else math.nan,
        "token_accuracy": matched_total / tokens_total if tokens_total else math.nan,
        "teacher_forced_token_accuracy": forced_matched / tokens_total if tokens_total else math.nan,
        "length_accuracy": right_length / n if n else math.nan,
        "by_length": {length: {"n": r[0], "sequence_accuracy": r[1] / r[0], "token_accuracy": r[2] / r[3]}
                      for length, r in sorted(by_length.items())},
    }


def train_seq2seq(model: Seq2Seq, pairs: Sequence[Any], source_vocab: Any, target_vocab: Any, *, steps: int,
                  batch_size: int = 64, lr: float = 3e-3, max_norm: float | None = 1.0, seed: int = 0,
                  sampling_probability: float = 0.0, progress: bool | None = None,
                  desc: str = "seq2seq") -> Any:
    """Train with teacher forcing through :func:`rnncourse.train.train` (Adam, clipping, a progress bar).

    Mini-batches are drawn from ``pairs`` with :func:`rnncourse.translation.batches` from ``seed``.
    Returns the :class:`~rnncourse.train.TrainingHistory`.
    """
    from rnncourse.train import train
    from rnncourse.translation import batches

    stream = batches(pairs, batch_size, source_vocab, target_vocab, np.random.default_rng(seed), device=model.device)
    return train(model, lambda batch: model.loss(batch, sampling_probability=sampling_probability), stream,
                 steps=steps, lr=lr, max_norm=max_norm, progress=progress, desc=desc)
