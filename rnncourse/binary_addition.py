"""Hinton's binary-addition problem (chapter 2, *Backpropagation through time*).

A feed-forward network that adds two ``n``-bit numbers has to be trained for every ``n`` and cannot
carry what it learned in one column over to the others. Addition is done by a finite-state automaton
that reads the two numbers one column at a time, least-significant bit first, and prints one bit of
the sum per column. Its state is the pair (carry, printed bit), four nodes in all:

.. math::

    s^{(t)} = a^{(t)} + b^{(t)} + \\text{carry}^{(t-1)} \\in \\{0, 1, 2, 3\\}, \\qquad
    \\text{printed}^{(t)} = s^{(t)} \\bmod 2, \\qquad \\text{carry}^{(t)} = \\lfloor s^{(t)} / 2 \\rfloor.

An Elman network with two inputs, three hidden units and one logistic output can learn this
automaton from short numbers; its hidden states then fall into four clusters, one per node, and it
adds numbers of any length.

- Data: :func:`int_to_bits`, :func:`bits_to_int` and :func:`binary_addition_batch` (time first,
  ``(T, B, 2)`` inputs and ``(T, B)`` targets).
- The network: :class:`BinaryAdder`, scored by :func:`evaluate`.
- The automaton: :data:`AUTOMATON_STATES`, :func:`automaton_step`, :func:`automaton_states`.
- What the network learned: :func:`cluster_states` (k-means in NumPy) and :func:`learned_automaton`,
  which maps clusters to automaton nodes and reads off the learned transition table;
  :func:`pure_clustering` finds how many activity patterns the states really form. A network that
  adds correctly may keep distinctions the automaton does not need (say, which of the two inputs was
  the 1), so its states can form more than four patterns, each inside one node.

Shapes: ``T`` time steps (columns), ``B`` additions in a batch, ``H`` hidden units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor, nn

from rnncourse.recurrent import ElmanRNN

__all__ = [
    "AUTOMATON_STATES",
    "BinaryAdder",
    "LearnedAutomaton",
    "automaton_states",
    "automaton_step",
    "automaton_table",
    "binary_addition_batch",
    "bits_to_int",
    "cluster_states",
    "evaluate",
    "input_bits",
    "int_to_bits",
    "learned_automaton",
    "pure_clustering",
]

#: the automaton's nodes, indexed ``2 * carry + printed``: (carry, printed bit)
AUTOMATON_STATES: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0), (1, 1))
#: the input columns, indexed ``2 * a + b``: (bit of the first number, bit of the second)
COLUMNS: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (1, 0), (1, 1))


# ---------------------------------------------------------------------------------------------
# Numbers as bit sequences


def int_to_bits(value: int, bits: int) -> list[int]:
    """The ``bits`` lowest binary digits of a non-negative Python int, least significant first.

    ``int_to_bits(6, 4) == [0, 1, 1, 0]``. Python ints are exact at any size, so 32-bit (or 1000-bit)
    sums are too.
    """
    if value < 0:
        raise ValueError(f"value must be non-negative, got {value}")
    if value >= 1 << bits:
        raise ValueError(f"{value} does not fit in {bits} bits")
    return [(value >> i) & 1 for i in range(bits)]


def bits_to_int(bits: NDArray | list[int] | Tensor) -> int:
    """The Python int whose binary digits, least significant first, are ``bits`` (any 0/1 values)."""
    values = bits.tolist() if isinstance(bits, (np.ndarray, Tensor)) else list(bits)
    return sum(round(float(bit)) << i for i, bit in enumerate(values))


def binary_addition_batch(
    rng: np.random.Generator,
    batch_size: int,
    bits: int,
    *,
    delay: int = 0,
    centred: bool = True,
    operands: tuple[NDArray | list[int], NDArray | list[int]] | None = None,
) -> tuple[Tensor, Tensor]:
    """Random additions of two ``bits``-bit numbers, one column per time step, least significant first.

    Step ``t`` (from 0) feeds the ``t``-th bits of the two numbers, :math:`x^{(t)} = (a_t, b_t)`; the
    target is the sum's bit ``t - delay`` (0 before the first column). The sum of two ``n``-bit
    numbers has ``n + 1`` bits, so there are ``T = bits + 1 + delay`` steps and the input bits are 0
    after the numbers end (leading zeros): the last steps print the final carry.

    With ``centred=True`` (the default) an input bit is coded as :math:`-1` for 0 and :math:`+1` for
    1, so the inputs have mean zero, like the :math:`\\tanh` units they feed. This matters: with 0/1
    inputs a three-unit network gets stuck far more often in a local minimum that adds correctly
    except where a carry meets the column ``(1, 1)`` (the experiment ``binary-addition`` counts both).
    The targets are always 0/1.

    Args:
        rng: draws the numbers, every bit independent and fair (so the numbers are uniform in
            ``[0, 2**bits)``).
        batch_size: ``B``, additions in the batch.
        bits: ``n``, digits of each number.
        delay: how many steps the printed bit lags the column it belongs to (see :class:`BinaryAdder`).
        centred: code input bits as -1/+1 (else 0/1).
        operands: instead of random numbers, two sequences of ``B`` Python ints each (then ``rng`` is
            not used).

    Returns:
        ``(x, y)``: inputs ``(T, B, 2)`` (:func:`input_bits` turns them back into bits) and targets
        ``(T, B)`` of 0s and 1s, both float32 tensors.
    """
    if bits < 1 or batch_size < 1 or delay < 0:
        raise ValueError(f"need bits >= 1, batch_size >= 1 and delay >= 0, got {bits}, {batch_size}, {delay}")
    steps = bits + 1 + delay
    x = np.zeros((steps, batch_size, 2), dtype=np.int64)
    if operands is None:
        x[:bits] = rng.integers(0, 2, size=(bits, batch_size, 2))
    else:
        first, second = (list(numbers) for numbers in operands)
        if len(first) != batch_size or len(second) != batch_size:
            raise ValueError(f"operands must hold {batch_size} numbers each")
        x[:bits, :, 0] = np.array([int_to_bits(int(n), bits) for n in first]).T
        x[:bits, :, 1] = np.array([int_to_bits(int(n), bits) for n in second]).T
    total = np.zeros((steps, batch_size), dtype=np.int64)  # the sum's bits, column by column
    carry = np.zeros(batch_size, dtype=np.int64)
    for t in range(bits + 1):
        column = x[t, :, 0] + x[t, :, 1] + carry
        total[t] = column % 2
        carry = column // 2
    y = np.zeros((steps, batch_size), dtype=np.int64)
    y[delay:] = total[: steps - delay]
    inputs = 2 * x - 1 if centred else x
    return torch.from_numpy(inputs.astype(np.float32)), torch.from_numpy(y.astype(np.float32))


def input_bits(x: Tensor | NDArray) -> NDArray[np.int_]:
    """The bits ``(T, B, 2)`` behind inputs from :func:`binary_addition_batch`, centred or not."""
    values = np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x)
    return (values > 0).astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The network


class BinaryAdder(nn.Module):
    r"""An Elman network with two inputs, ``hidden_size`` hidden units and one logistic output.

    .. math::

        h^{(t)} = \tanh\big(b + W h^{(t-1)} + U x^{(t)}\big), \qquad
        o^{(t)} = c + V h^{(t)}, \qquad \hat y^{(t)} = \sigma\big(o^{(t)}\big),

    with :math:`h^{(0)} = 0`, :math:`W` ``(H, H)``, :math:`U` ``(H, 2)``, :math:`V` ``(1, H)``
    (book: *Backpropagation through time*, section *Learning binary addition*). :math:`\hat y^{(t)}`
    is the probability that the printed bit is 1.

    **Why the default delay is 0.** In Hinton's network the activity takes one time step to go from
    the inputs to the hidden units and another from the hidden units to the output, so his output is
    the sum bit of the column read two steps earlier. Here :math:`o^{(t)}` is computed from
    :math:`h^{(t)}` in the same step, and :math:`h^{(t)}` has already read column ``t``; the sum bit is
    a function of the automaton's node after column ``t``, so no delay is needed. Three tanh units
    suffice: they can code :math:`s^{(t)} = a^{(t)} + b^{(t)} + \text{carry}^{(t-1)}` as a
    thermometer (:math:`s \ge 1`, :math:`s \ge 2`, :math:`s \ge 3`), from which the printed bit is
    the linear read-out "first - second + third" and the next carry is the second unit. ``delay=1``
    gives the network one more step, but three units then learn it less reliably and more slowly (in
    a trial with the experiment's settings, 4 of 10 seeds against 8 of 10 with no delay). ``delay`` and
    ``centred`` describe the data (see :func:`binary_addition_batch`); the model keeps them so that
    :func:`evaluate` and :meth:`add` build inputs and targets the way it was trained.

    Args:
        hidden_size: ``H`` (3, as in the lecture).
        delay: steps between reading a column and printing its sum bit.
        centred: the input bits are coded -1/+1 (else 0/1).
        device: where the parameters are created.

    Inputs: ``x`` ``(T, B, 2)`` and optionally ``h_0`` ``(1, B, H)`` (zeros when omitted).

    Outputs: ``(o, h)``: the scores :math:`o^{(t)}` ``(T, B)`` (logits; apply ``torch.sigmoid`` for
    :math:`\hat y`) and every hidden state :math:`h^{(t)}` ``(T, B, H)``.

    Attributes:
        rnn: the :class:`~rnncourse.recurrent.ElmanRNN` holding :math:`W`, :math:`U`, :math:`b`.
        readout: ``nn.Linear(H, 1)`` holding :math:`V` and :math:`c`.
    """

    def __init__(
        self, hidden_size: int = 3, delay: int = 0, centred: bool = True, device: torch.device | str | None = None
    ) -> None:
        super().__init__()
        if delay < 0:
            raise ValueError(f"delay must be non-negative, got {delay}")
        self.hidden_size = hidden_size
        self.delay = delay
        self.centred = centred
        self.rnn = ElmanRNN(2, hidden_size, device=device)
        self.readout = nn.Linear(hidden_size, 1, device=device)

    def forward(self, x: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h, _ = self.rnn(x, h_0)
        return self.readout(h).squeeze(-1), h

    @torch.no_grad()
    def add(self, first: int, second: int, bits: int) -> int:
        """The sum the network prints for two ``bits``-bit numbers, as a Python int."""
        device = next(self.parameters()).device
        x, _ = binary_addition_batch(
            np.random.default_rng(0), 1, bits, delay=self.delay, centred=self.centred, operands=([first], [second])
        )
        o, _ = self(x.to(device))
        return bits_to_int((o[self.delay :, 0] > 0).int().cpu())


@torch.no_grad()
def evaluate(model: BinaryAdder, rng: np.random.Generator, bits: int, n: int) -> dict[str, float]:
    """Score ``model`` on ``n`` random additions of two ``bits``-bit numbers.

    A bit is printed as 1 when :math:`o^{(t)} > 0` (that is :math:`\\hat y^{(t)} > 1/2`).

    Returns:
        ``{"bit_accuracy": ..., "sum_accuracy": ...}``: the fraction of the ``n * (bits + 1)``
        printed bits that are right, and the fraction of the ``n`` sums with every bit right.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    x, y = binary_addition_batch(rng, n, bits, delay=model.delay, centred=model.centred)
    o, _ = model(x.to(device))
    correct = ((o > 0).float() == y.to(device))[model.delay :]  # the steps before the first column print nothing
    model.train(was_training)
    return {
        "bit_accuracy": float(correct.float().mean()),
        "sum_accuracy": float(correct.all(dim=0).float().mean()),
    }


# ---------------------------------------------------------------------------------------------
# The automaton


def automaton_step(state: int, column: tuple[int, int]) -> tuple[int, int]:
    """One move of the adding automaton.

    Args:
        state: the node, ``2 * carry + printed`` (see :data:`AUTOMATON_STATES`).
        column: the two input bits ``(a, b)``.

    Returns:
        ``(next_state, printed_bit)``: the node after reading the column and the bit it prints.
    """
    carry = AUTOMATON_STATES[state][0]
    total = column[0] + column[1] + carry
    printed, new_carry = total % 2, total // 2
    return 2 * new_carry + printed, printed


def automaton_table() -> NDArray[np.int_]:
    """The automaton's transition table ``(4, 4)``: ``table[state, 2 * a + b]`` is the next state.

    The printed bit of a state is ``state % 2``; the next state does not depend on the printed bit
    of the current one, only on its carry.
    """
    return np.array([[automaton_step(s, column)[0] for column in COLUMNS] for s in range(len(AUTOMATON_STATES))])


def automaton_states(x: Tensor | NDArray) -> NDArray[np.int_]:
    """The automaton's node after each column of a batch of additions, starting from ``(0, 0)``.

    Args:
        x: inputs ``(T, B, 2)`` from :func:`binary_addition_batch` (centred or not).

    Returns:
        ``(T, B)`` node indices; ``states[t]`` is the node after reading column ``t``, so
        ``states % 2`` is the sum and ``states // 2`` the carry.
    """
    columns = input_bits(x)
    table = automaton_table()
    states = np.empty(columns.shape[:2], dtype=np.int64)
    state = np.zeros(columns.shape[1], dtype=np.int64)
    for t in range(columns.shape[0]):
        state = table[state, 2 * columns[t, :, 0] + columns[t, :, 1]]
        states[t] = state
    return states


# ---------------------------------------------------------------------------------------------
# What the network learned


def cluster_states(
    hidden: NDArray, k: int = 4, rng: np.random.Generator | None = None, restarts: int = 5, iterations: int = 100
) -> tuple[NDArray[np.floating], NDArray[np.int_]]:
    """k-means clustering of hidden states (Lloyd's algorithm, k-means++ starts).

    Each restart picks its first centre at random and every further one with probability
    proportional to the squared distance to the nearest centre so far, then alternates assigning each
    point to its nearest centre and moving each centre to the mean of its points until nothing moves.
    The restart with the smallest sum of squared distances wins.

    Args:
        hidden: points ``(N, H)``.
        k: number of clusters (4: the automaton's nodes).
        rng: source of randomness (seeded default).
        restarts: independent starts.
        iterations: Lloyd iterations at most per start.

    Returns:
        ``(centres, labels)``: ``(k, H)`` and ``(N,)``, clusters numbered by their first appearance
        in ``hidden`` (so the numbering does not depend on the restarts).
    """
    points = np.asarray(hidden, dtype=np.float64)
    if points.ndim != 2 or len(points) < k:
        raise ValueError(f"need at least k={k} points of shape (N, H), got {points.shape}")
    rng = np.random.default_rng(0) if rng is None else rng
    best: tuple[float, NDArray, NDArray] | None = None
    for _ in range(restarts):
        centres = points[[rng.integers(len(points))]]
        while len(centres) < k:
            nearest = ((points[:, None, :] - centres[None]) ** 2).sum(-1).min(1)
            if nearest.sum() == 0:  # fewer distinct points than clusters
                choice = rng.integers(len(points))
            else:
                choice = rng.choice(len(points), p=nearest / nearest.sum())
            centres = np.vstack([centres, points[choice]])
        labels = np.full(len(points), -1)
        for _ in range(iterations):
            distances = ((points[:, None, :] - centres[None]) ** 2).sum(-1)
            new_labels = distances.argmin(1)
            if np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for j in range(k):
                if np.any(labels == j):  # an empty cluster keeps its centre
                    centres[j] = points[labels == j].mean(0)
        inertia = float(((points - centres[labels]) ** 2).sum())
        if best is None or inertia < best[0]:
            best = (inertia, centres.copy(), labels.copy())
    assert best is not None
    _, centres, labels = best
    order = list(dict.fromkeys(labels.tolist()))  # clusters in order of first appearance
    order += [j for j in range(k) if j not in order]
    renumber = np.empty(k, dtype=np.int64)
    renumber[order] = np.arange(k)
    return centres[order], renumber[labels]


@dataclass
class LearnedAutomaton:
    """The automaton read off a network's hidden states (see :func:`learned_automaton`).

    Attributes:
        centres: the cluster centres ``(k, H)``.
        labels: each state's cluster ``(T, B)``.
        cluster_to_state: the automaton node most states of each cluster belong to ``(k,)``.
        purity: fraction of states whose cluster's node is their own automaton node.
        table: ``(k, 4)``; ``table[i, 2 * a + b]`` is the cluster that most often follows cluster ``i``
            on input column ``(a, b)``, ``-1`` where that transition was never seen.
        table_agreement: fraction of the observed table entries that map onto the automaton's own
            transition (cluster ``i`` -> node ``m(i)``, then ``m(table[i, c]) == next(m(i), c)``).
        transition_agreement: the same over every observed transition, counted with its frequency.
    """

    centres: NDArray[np.floating]
    labels: NDArray[np.int_]
    cluster_to_state: NDArray[np.int_]
    purity: float
    table: NDArray[np.int_]
    table_agreement: float
    transition_agreement: float

    @property
    def k(self) -> int:
        """The number of clusters."""
        return len(self.centres)


def learned_automaton(
    hidden: NDArray | Tensor, x: NDArray | Tensor, k: int = 4, rng: np.random.Generator | None = None
) -> LearnedAutomaton:
    """Cluster a network's hidden states and compare the clusters' transitions with the automaton.

    The states :math:`h^{(t)}` of a batch of additions are clustered (:func:`cluster_states`); each
    cluster is named after the automaton node most of its states are in (the node after reading
    column ``t``, :func:`automaton_states`). A transition is a cluster at step ``t - 1``, the input
    column at step ``t`` and the cluster at step ``t`` (for ``t >= 1``: :math:`h^{(0)} = 0` is not a
    visited state).

    Args:
        hidden: states ``(T, B, H)`` from :class:`BinaryAdder` on inputs ``x``.
        x: inputs ``(T, B, 2)``.
        k: clusters.
        rng: for the clustering.

    Returns:
        A :class:`LearnedAutomaton`.
    """
    hidden = np.asarray(hidden.detach().cpu() if isinstance(hidden, Tensor) else hidden, dtype=np.float64)
    bits = input_bits(x)
    steps, batch = hidden.shape[:2]
    centres, flat_labels = cluster_states(hidden.reshape(steps * batch, -1), k, rng)
    labels = flat_labels.reshape(steps, batch)
    truth = automaton_states(bits)
    n_states = len(AUTOMATON_STATES)
    overlap = np.zeros((k, n_states), dtype=np.int64)  # overlap[i, s]: states of cluster i that are node s
    np.add.at(overlap, (labels.ravel(), truth.ravel()), 1)
    cluster_to_state = overlap.argmax(1)
    purity = float(overlap.max(1).sum() / overlap.sum())

    columns = (2 * bits[1:, :, 0] + bits[1:, :, 1]).ravel()
    before, after = labels[:-1].ravel(), labels[1:].ravel()
    counts = np.zeros((k, len(COLUMNS), k), dtype=np.int64)
    np.add.at(counts, (before, columns, after), 1)
    table = np.where(counts.sum(-1) > 0, counts.argmax(-1), -1)
    expected = automaton_table()[cluster_to_state]  # (k, 4): the node each cluster should go to
    seen = table >= 0
    table_agreement = float((cluster_to_state[table[seen]] == expected[seen]).mean())
    agrees = cluster_to_state[after] == expected[before, columns]
    return LearnedAutomaton(
        centres=centres,
        labels=labels,
        cluster_to_state=cluster_to_state,
        purity=purity,
        table=table,
        table_agreement=table_agreement,
        transition_agreement=float(agrees.mean()),
    )


def pure_clustering(
    hidden: NDArray | Tensor,
    x: NDArray | Tensor,
    max_k: int = 8,
    rng: np.random.Generator | None = None,
    purity: float = 0.999,
) -> LearnedAutomaton | None:
    """The clustering with the fewest clusters, from 4 to ``max_k``, whose every cluster lies in one node.

    :func:`learned_automaton` is run with ``k = 4, 5, ..., max_k`` (each from a copy of ``rng``'s
    state, so the result does not depend on how many ``k`` were tried); the first whose purity
    reaches ``purity`` is returned: its ``k`` is the number of distinct activity patterns, its
    ``transition_agreement`` says whether those patterns move as the automaton's nodes do (1 when the
    network's automaton is the adder's, possibly with equivalent nodes split). ``None`` when no ``k``
    is pure enough.
    """
    seed = (rng if rng is not None else np.random.default_rng(0)).integers(2**32)
    for k in range(len(AUTOMATON_STATES), max_k + 1):
        learned = learned_automaton(hidden, x, k=k, rng=np.random.default_rng(seed))
        if learned.purity >= purity:
            return learned
    return None
