r"""A recursive neural network over binary trees (chapter 3, *Deep, bidirectional and recursive networks*).

A recurrent network applies one function along a chain; a recursive network (Pollack 1990; Socher et al.
2011) applies one function over a tree. Each leaf is a token with a learned vector; each internal node
composes its two children with the same weights, bottom-up:

.. math::

    h(v) = E_v \ \text{for a leaf } v, \qquad
    h\big((l, r)\big) = \tanh\big(W_{\text{left}}\, h(l) + W_{\text{right}}\, h(r) + b\big), \qquad
    o = c + V h(\text{root}).

A left-branching tree :math:`(((x_1, x_2), x_3), x_4)` is a recurrent network over :math:`x_1, \dots, x_4`
(with the first input as the initial state), so the chain is one tree among many. A balanced tree over
:math:`n` leaves has depth :math:`\lceil \log_2 n \rceil` where the chain has :math:`n - 1`
(:func:`composition_depths`): fewer nonlinearities between a leaf and the root, hence shorter paths for the
gradient.

Trees are nested pairs of token indices: ``((3, 1), 4)``. The worked example is arithmetic with one
operator, subtraction, whose value depends on the brackets: :math:`(7 - 3) - 2 = 2` but
:math:`7 - (3 - 2) = 6`. The task (:func:`subtraction_expressions`) is to tell whether an expression is
positive. A model that sees only the digits (:class:`BagOfLeaves`) cannot do it, nor can a recurrent net
that reads the digits in order without the brackets; the tree network can (:func:`train_tree_rnn`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

#: A binary tree: a token index at a leaf, a pair ``(left, right)`` at an internal node.
Tree = int | tuple["Tree", "Tree"]

__all__ = [
    "BagOfLeaves",
    "Tree",
    "TreeRNN",
    "TreeTrainingResult",
    "balanced_tree",
    "composition_depths",
    "evaluate_subtraction",
    "format_expression",
    "leaves",
    "left_branching_tree",
    "random_tree",
    "subtraction_expressions",
    "train_tree_rnn",
    "tree_depth",
]


# --------------------------------------------------------------------------- trees


def _check(tree: Tree) -> None:
    if isinstance(tree, tuple):
        if len(tree) != 2:
            raise ValueError(f"an internal node must have exactly two children, got {len(tree)}: {tree!r}")
        _check(tree[0])
        _check(tree[1])
    elif not isinstance(tree, (int, np.integer)) or isinstance(tree, bool):
        raise TypeError(f"a leaf must be a token index (an int), got {tree!r}")


def leaves(tree: Tree) -> list[int]:
    """The leaves of ``tree`` from left to right."""
    if isinstance(tree, tuple):
        return leaves(tree[0]) + leaves(tree[1])
    return [int(tree)]


def tree_depth(tree: Tree) -> int:
    """The number of compositions on the longest path from a leaf to the root (0 for a single leaf)."""
    if isinstance(tree, tuple):
        return 1 + max(tree_depth(tree[0]), tree_depth(tree[1]))
    return 0


def left_branching_tree(tokens: list[int]) -> Tree:
    """``(((x1, x2), x3), x4)``: the tree of a recurrent network reading ``tokens`` in order."""
    if not tokens:
        raise ValueError("a tree needs at least one leaf")
    tree: Tree = int(tokens[0])
    for token in tokens[1:]:
        tree = (tree, int(token))
    return tree


def balanced_tree(tokens: list[int]) -> Tree:
    """The balanced tree over ``tokens`` (the left half gets the extra leaf): depth ``ceil(log2 n)``."""
    if not tokens:
        raise ValueError("a tree needs at least one leaf")
    if len(tokens) == 1:
        return int(tokens[0])
    middle = (len(tokens) + 1) // 2
    return (balanced_tree(tokens[:middle]), balanced_tree(tokens[middle:]))


def composition_depths(n_leaves: int) -> dict[str, int]:
    r"""The depth of the computation graph over ``n_leaves`` inputs: ``{"balanced": ceil(log2 n), "chain": n - 1}``.

    Both trees apply the composition :math:`n - 1` times (one per internal node); they differ in how many of
    those lie on the longest leaf-to-root path, which is the number of ``tanh`` layers a gradient crosses.
    """
    if n_leaves < 1:
        raise ValueError(f"need at least one leaf, got {n_leaves}")
    return {"balanced": math.ceil(math.log2(n_leaves)), "chain": n_leaves - 1}


def random_tree(tokens: list[int], rng: np.random.Generator) -> Tree:
    """A random binary tree over ``tokens`` (in that order): the root's split point is uniform, recursively."""
    if len(tokens) == 1:
        return int(tokens[0])
    split = int(rng.integers(1, len(tokens)))
    return (random_tree(tokens[:split], rng), random_tree(tokens[split:], rng))


# --------------------------------------------------------------------------- the worked example: subtraction


def evaluate_subtraction(tree: Tree) -> int:
    """The value of ``tree`` read as an expression: leaves are digits, every internal node is ``left - right``."""
    if isinstance(tree, tuple):
        return evaluate_subtraction(tree[0]) - evaluate_subtraction(tree[1])
    return int(tree)


def format_expression(tree: Tree) -> str:
    """``((7, 3), 2)`` as ``(7 - 3) - 2``."""
    if not isinstance(tree, tuple):
        return str(tree)
    parts = [format_expression(child) for child in tree]
    parts = [f"({p})" if isinstance(child, tuple) else p for p, child in zip(parts, tree)]
    return f"{parts[0]} - {parts[1]}"


def subtraction_expressions(
    count: int, seed: int = 0, min_leaves: int = 3, max_leaves: int = 6, digits: int = 10
) -> tuple[list[Tree], np.ndarray]:
    r"""Random subtraction expressions over single digits, labelled 1 when their value is positive.

    Each expression draws its number of leaves uniformly from ``min_leaves..max_leaves``, its digits uniformly
    from ``0..digits-1`` and its tree with :func:`random_tree`. Its value is :math:`\sum_i s_i x_i` with
    :math:`s_i = \pm 1` set by the brackets (:math:`-1` when the path from the root to leaf :math:`i` turns
    right an odd number of times), so the digits alone do not tell the sign.

    Returns:
        ``(trees, labels)``: a list of trees and an ``int64`` array of 0/1 labels (``value > 0``).
    """
    if not 1 <= min_leaves <= max_leaves:
        raise ValueError(f"need 1 <= min_leaves <= max_leaves, got {min_leaves}, {max_leaves}")
    rng = np.random.default_rng(seed)
    trees = []
    for _ in range(count):
        n = int(rng.integers(min_leaves, max_leaves + 1))
        trees.append(random_tree(rng.integers(0, digits, size=n).tolist(), rng))
    labels = np.array([evaluate_subtraction(t) > 0 for t in trees], dtype=np.int64)
    return trees, labels


# --------------------------------------------------------------------------- the models


@dataclass
class _Schedule:
    """A batch of trees flattened into node tables, so that all nodes of one height compose at once."""

    leaf_nodes: list[int] = field(default_factory=list)
    leaf_tokens: list[int] = field(default_factory=list)
    levels: list[tuple[list[int], list[int], list[int]]] = field(default_factory=list)  # (nodes, lefts, rights)
    roots: list[int] = field(default_factory=list)
    size: int = 0


def _schedule(trees: list[Tree]) -> _Schedule:
    plan = _Schedule()

    def visit(tree: Tree) -> tuple[int, int]:  # returns (node id, height)
        if isinstance(tree, tuple):
            (left, lh), (right, rh) = visit(tree[0]), visit(tree[1])
            node, height = plan.size, 1 + max(lh, rh)
            plan.size += 1
            while len(plan.levels) < height:
                plan.levels.append(([], [], []))
            nodes, lefts, rights = plan.levels[height - 1]
            nodes.append(node)
            lefts.append(left)
            rights.append(right)
            return node, height
        plan.leaf_nodes.append(plan.size)
        plan.leaf_tokens.append(int(tree))
        plan.size += 1
        return plan.size - 1, 0

    for tree in trees:
        _check(tree)
        plan.roots.append(visit(tree)[0])
    return plan


class TreeRNN(nn.Module):
    r"""A recursive network: leaf embeddings composed bottom-up over a binary tree, then a linear readout.

    .. math::

        h(v) = E_v, \qquad h\big((l, r)\big) = \tanh\big(W_{\text{left}}\, h(l) + W_{\text{right}}\, h(r) + b\big),
        \qquad o = c + V h(\text{root}).

    The same :math:`W_{\text{left}}, W_{\text{right}}, b` serve every internal node, as a recurrent network's
    :math:`W, U, b` serve every step. A batch of trees of any shapes is computed level by level: all nodes
    whose children are ready compose in one matrix product.

    Args:
        vocab_size: the number of leaf tokens.
        hidden_size: ``H``, the size of every node's vector.
        num_classes: ``K``, the size of the output; 0 for none (then :meth:`forward` returns the root vectors).
        device: where the parameters are created.

    Attributes:
        embedding: ``(vocab_size, H)`` :math:`E`, standard normal scaled by ``1/sqrt(H)``.
        W_left, W_right: ``(H, H)``, uniform in :math:`\pm 1/\sqrt{2H}`.
        b: ``(H,)`` zeros.
        readout: ``nn.Linear(H, K)``: :math:`V` and :math:`c`.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int = 0,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(2 * hidden_size)
        self.embedding = nn.Parameter(torch.randn(vocab_size, hidden_size, device=device) / math.sqrt(hidden_size))
        self.W_left = nn.Parameter(torch.empty(hidden_size, hidden_size, device=device).uniform_(-bound, bound))
        self.W_right = nn.Parameter(torch.empty(hidden_size, hidden_size, device=device).uniform_(-bound, bound))
        self.b = nn.Parameter(torch.zeros(hidden_size, device=device))
        self.readout = nn.Linear(hidden_size, num_classes, device=device) if num_classes else None

    def compose(self, left: Tensor, right: Tensor) -> Tensor:
        r""":math:`\tanh(W_{\text{left}}\, h_l + W_{\text{right}}\, h_r + b)` for ``(N, H)`` batches of children."""
        return torch.tanh(left @ self.W_left.T + right @ self.W_right.T + self.b)

    def encode(self, trees: list[Tree] | Tree) -> Tensor:
        """The root vectors ``(N, H)`` of a list of ``N`` trees (a single tree gives ``(1, H)``)."""
        if not isinstance(trees, list):
            trees = [trees]
        plan = _schedule(trees)
        device = self.embedding.device
        table = torch.zeros(plan.size, self.embedding.shape[1], dtype=self.embedding.dtype, device=device)
        table = table.index_copy(0, torch.tensor(plan.leaf_nodes, device=device),
                                 self.embedding[torch.tensor(plan.leaf_tokens, device=device)])
        for nodes, lefts, rights in plan.levels:
            composed = self.compose(table[torch.tensor(lefts, device=device)], table[torch.tensor(rights, device=device)])
            table = table.index_copy(0, torch.tensor(nodes, device=device), composed)  # out of place, for autograd
        return table[torch.tensor(plan.roots, device=device)]

    def forward(self, trees: list[Tree] | Tree) -> Tensor:
        """The scores ``(N, K)`` of the trees (their root vectors when there is no readout)."""
        roots = self.encode(trees)
        return self.readout(roots) if self.readout is not None else roots


class BagOfLeaves(nn.Module):
    r"""The baseline that ignores the structure: the sum of the leaf embeddings through a one-hidden-layer MLP.

    .. math::  o = c + V \tanh\big(A \textstyle\sum_{v \in \text{leaves}} E_v + a\big).

    The sum of one-hot-like embeddings can encode the multiset of leaves exactly, so this model knows which
    digits occur and how often, but not where.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_classes: int,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size, device=device)
        self.hidden = nn.Linear(hidden_size, hidden_size, device=device)
        self.readout = nn.Linear(hidden_size, num_classes, device=device)

    def forward(self, trees: list[Tree] | Tree) -> Tensor:
        if not isinstance(trees, list):
            trees = [trees]
        device = self.embedding.weight.device
        tokens = [leaves(t) for t in trees]
        flat = torch.tensor([v for seq in tokens for v in seq], device=device)
        owner = torch.tensor([i for i, seq in enumerate(tokens) for _ in seq], device=device)
        summed = torch.zeros(len(trees), self.embedding.embedding_dim, device=device).index_add(
            0, owner, self.embedding(flat))
        return self.readout(torch.tanh(self.hidden(summed)))


# --------------------------------------------------------------------------- training


@dataclass
class TreeTrainingResult:
    """What :func:`train_tree_rnn` returns.

    Attributes:
        model_kind: ``"tree"``, ``"chain"`` or ``"bag"``.
        train_accuracy, test_accuracy: the fraction classified correctly after training.
        majority_rate: the test accuracy of always answering the more frequent training label.
        seconds: the wall-clock training time.
        model: the trained module.
    """

    model_kind: str
    train_accuracy: float
    test_accuracy: float
    majority_rate: float
    seconds: float
    model: nn.Module


def _accuracy(model: nn.Module, trees: list[Tree], labels: Tensor) -> float:
    with torch.no_grad():
        return float((model(trees).argmax(dim=-1) == labels).double().mean())


def train_tree_rnn(
    model_kind: Literal["tree", "chain", "bag"] = "tree",
    train_size: int = 2000,
    test_size: int = 1000,
    hidden_size: int = 24,
    epochs: int = 20,
    batch_size: int = 50,
    learning_rate: float = 0.01,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> TreeTrainingResult:
    r"""Train a model on :func:`subtraction_expressions` (is the expression positive?) with Adam and
    cross-entropy, and measure its accuracy on fresh expressions.

    ``model_kind`` picks what the model sees:

    - ``"tree"``: a :class:`TreeRNN` on the expression's own tree (it sees the brackets);
    - ``"chain"``: the same :class:`TreeRNN` on the left-branching tree of the same digits, i.e. a recurrent
      network reading the digits in order without the brackets;
    - ``"bag"``: a :class:`BagOfLeaves`, which sees only which digits occur.

    Everything is seeded by ``seed`` (the data, the initial weights and the order of the batches; the
    test set uses ``seed + 1``), and the global generators are left as they were. A few seconds on a CPU.

    Args:
        device: where to train (``None``: the CPU).

    Returns:
        A :class:`TreeTrainingResult`.
    """
    if model_kind not in ("tree", "chain", "bag"):
        raise ValueError(f"model_kind must be 'tree', 'chain' or 'bag', got {model_kind!r}")
    target = torch.device(device if device is not None else "cpu")
    train_trees, train_labels = subtraction_expressions(train_size, seed=seed)
    test_trees, test_labels = subtraction_expressions(test_size, seed=seed + 1)
    if model_kind == "chain":
        train_trees = [left_branching_tree(leaves(t)) for t in train_trees]
        test_trees = [left_branching_tree(leaves(t)) for t in test_trees]
    y_train = torch.tensor(train_labels, device=target)
    y_test = torch.tensor(test_labels, device=target)
    order_rng = np.random.default_rng(seed)

    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if model_kind == "bag":
            model: nn.Module = BagOfLeaves(10, hidden_size, 2).to(target)
        else:
            model = TreeRNN(10, hidden_size, 2).to(target)
    optimiser = torch.optim.Adam(model.parameters(), lr=learning_rate)
    for _ in range(epochs):
        order = order_rng.permutation(train_size)
        for first in range(0, train_size, batch_size):
            picked = order[first:first + batch_size]
            loss = nn.functional.cross_entropy(model([train_trees[i] for i in picked]), y_train[picked])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    seconds = time.perf_counter() - start

    majority = int(train_labels.mean() >= 0.5)
    return TreeTrainingResult(
        model_kind=model_kind,
        train_accuracy=_accuracy(model, train_trees, y_train),
        test_accuracy=_accuracy(model, test_trees, y_test),
        majority_rate=float(np.mean(test_labels == majority)),
        seconds=seconds,
        model=model,
    )
