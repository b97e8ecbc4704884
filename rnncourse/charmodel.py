r"""Character-level language models trained with truncated backpropagation through time (book:
*Backpropagation through time*, section *A character-level language model*).

A character-level language model reads text one character at a time and, after every character,
predicts the next one. With characters as one-hot vectors :math:`x^{(t)} \in \{0, 1\}^K` (so the
input size is :math:`D = K`, the size of the vocabulary) the Elman network of the course is

.. math::

    h^{(t)} = \tanh\big(b + W h^{(t-1)} + U x^{(t)}\big), \qquad
    o^{(t)} = c + V h^{(t)}, \qquad \hat y^{(t)} = \mathrm{softmax}\big(o^{(t)}\big),

and it is trained to minimise the cross-entropy :math:`L = -\sum_t \log \hat y^{(t)}_{y^{(t)}}`
with :math:`y^{(t)} = x^{(t+1)}`. Measured in bits (:math:`\log_2` instead of :math:`\log`) and
averaged over the characters of held-out text this is the *bits per character* (bpc): the length of
the text, per character, when an arithmetic coder uses the model's predictions.

This module holds every piece of that chapter:

* a corpus that needs no network: the docstrings of a fixed list of pure-Python modules of the
  standard library (:func:`stdlib_corpus`), and the one-word corpus ``"hello"`` (:func:`hello_corpus`);
* :class:`Vocabulary`, characters to ids and back;
* :class:`FactoredRNN`, the multiplicative ("factored") recurrent layer of Sutskever, Martens and
  Hinton (2011), in which the input character chooses the transition matrix;
* :class:`CharRNN`, one-hot input, a recurrent layer (Elman or factored), a linear output;
* :func:`stream_batches` for truncated BPTT, :func:`bits_per_character`,
  :func:`ngram_bits_per_character` (unigram and bigram baselines) and :func:`sample`.

References:
    Sutskever, I., Martens, J., Hinton, G. (2011). Generating text with recurrent neural networks. *ICML*.
    Karpathy, A. (2015). The unreasonable effectiveness of recurrent neural networks (blog post).
"""

from __future__ import annotations

import ast
import hashlib
import math
import re
import sysconfig
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "ALPHABET",
    "STDLIB_MODULES",
    "CharRNN",
    "FactoredRNN",
    "TextSplits",
    "Vocabulary",
    "bits_per_character",
    "count_parameters",
    "hello_corpus",
    "ngram_bits_per_character",
    "normalise_text",
    "sample",
    "stdlib_corpus",
    "stdlib_docstrings",
    "stream_batches",
]

# --------------------------------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------------------------------

#: The characters a corpus may contain: newline and the 95 printable ASCII characters.
ALPHABET: str = "\n" + "".join(chr(code) for code in range(32, 127))

#: Pure-Python standard-library modules whose docstrings make the corpus. Every one exists (as a
#: ``.py`` file or a package's ``__init__.py``) in CPython 3.10 to 3.13; one that is missing from an
#: installation is skipped and reported in :attr:`TextSplits.missing`.
#:
#: :meta hide-value:
STDLIB_MODULES: tuple[str, ...] = (
    "argparse", "base64", "bisect", "calendar", "collections", "configparser", "contextlib", "copy",
    "csv", "dataclasses", "difflib", "doctest", "email.message", "email.utils", "enum", "fractions",
    "ftplib", "functools", "gettext", "glob", "gzip", "heapq", "hmac", "http.client", "http.cookiejar",
    "imaplib", "inspect", "ipaddress", "json", "logging", "mailbox", "numbers", "operator", "optparse",
    "os", "pathlib", "pickle", "pprint", "queue", "random", "shlex", "shutil", "smtplib", "socket",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "traceback", "typing", "unittest.case", "unittest.mock", "urllib.parse", "uuid",
    "warnings", "weakref", "zipfile", "pydoc", "sched", "selectors", "ssl", "trace", "wave", "zipapp",
)  # fmt: skip


def normalise_text(text: str) -> str:
    """Reduce ``text`` to :data:`ALPHABET`.

    Unicode is decomposed (NFKD) so that accented letters keep their base letter, tabs become four
    spaces, other characters outside the alphabet are dropped, trailing spaces are stripped from
    every line and runs of blank lines shrink to one.
    """
    text = unicodedata.normalize("NFKD", text).replace("\t", "    ").replace("\r\n", "\n")
    allowed = set(ALPHABET)
    text = "".join(char for char in text if char in allowed)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _module_file(module: str, root: Path) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def stdlib_docstrings(modules: Sequence[str] = STDLIB_MODULES) -> tuple[list[tuple[str, str]], list[str]]:
    """The normalised docstrings of ``modules``, read from their source files without importing them.

    Returns:
        ``(documents, missing)``: ``documents`` lists ``(name, text)`` pairs in a fixed order (module
        by module, then as :func:`ast.walk` meets the module, its classes and its functions) with
        names like ``"textwrap:TextWrapper.wrap"``; ``missing`` lists the modules not found.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    documents: list[tuple[str, str]] = []
    missing: list[str] = []
    for module in modules:
        path = _module_file(module, root)
        if path is None:
            missing.append(module)
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # ast.walk does not know qualified names; build them from the parents
        names: dict[ast.AST, str] = {tree: ""}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                prefix = names[node]
                if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    names[child] = f"{prefix}.{child.name}" if prefix else child.name
                else:
                    names[child] = prefix
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                docstring = ast.get_docstring(node, clean=True)
                text = normalise_text(docstring) if docstring else ""
                if text:
                    documents.append((f"{module}:{names[node]}", text))
    return documents, missing


@dataclass(frozen=True)
class TextSplits:
    """A corpus cut into training, validation and test text (see :func:`stdlib_corpus`)."""

    train: str
    validation: str
    test: str
    modules: tuple[str, ...]
    missing: tuple[str, ...]
    documents: int

    @property
    def sha256(self) -> str:
        """A hash of the three texts, to tell whether two runs saw the same corpus."""
        joined = f"{self.train}\0{self.validation}\0{self.test}"
        return hashlib.sha256(joined.encode("ascii")).hexdigest()

    def sizes(self) -> dict[str, int]:
        """Characters in each split."""
        return {"train": len(self.train), "validation": len(self.validation), "test": len(self.test)}


def stdlib_corpus(modules: Sequence[str] = STDLIB_MODULES, validation: float = 0.05, test: float = 0.05) -> TextSplits:
    """The docstrings of ``modules`` as a corpus, split into train, validation and test text.

    The text is part of CPython, distributed under the Python Software Foundation License, so every
    Python installation carries it and no download is needed. Its exact content depends on the Python
    version; :attr:`TextSplits.sha256` tells versions apart.

    The split is by document and deterministic: a docstring goes to the validation set when the
    CRC-32 of its name, modulo 1000, is below ``1000 * validation``, to the test set when it is below
    ``1000 * (validation + test)``, and to the training set otherwise. Documents are joined with a
    blank line. So the held-out text is whole docstrings the model never saw, spread over all modules.
    """
    if not (0 <= validation and 0 <= test and validation + test < 1):
        raise ValueError(f"validation={validation} and test={test} must be fractions that leave training text")
    documents, missing = stdlib_docstrings(modules)
    parts: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    for name, text in documents:
        bucket = zlib.crc32(name.encode("utf-8")) % 1000
        if bucket < 1000 * validation:
            parts["validation"].append(text)
        elif bucket < 1000 * (validation + test):
            parts["test"].append(text)
        else:
            parts["train"].append(text)
    found = tuple(module for module in modules if module not in missing)
    return TextSplits(
        *("\n\n".join(parts[key]) for key in ("train", "validation", "test")),
        modules=found,
        missing=tuple(missing),
        documents=len(documents),
    )


def hello_corpus() -> str:
    """The one-word corpus of the chapter's first example: a network that learns to spell ``hello``."""
    return "hello"


# --------------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------------


class Vocabulary:
    """The characters a model knows, each with an id ``0 .. K-1`` (in sorted order).

    Example::

        >>> vocab = Vocabulary.from_text("hello")
        >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 0])
        ('ehlo', [1, 3, 2, 0], 'oe')
    """

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: str = "".join(sorted(set(chars)))
        if not self.chars:
            raise ValueError("a vocabulary needs at least one character")
        self._ids = {char: index for index, char in enumerate(self.chars)}

    @classmethod
    def from_text(cls, *texts: str) -> Vocabulary:
        """The characters that occur in ``texts``."""
        return cls("".join(texts))

    def __len__(self) -> int:
        return len(self.chars)

    def __contains__(self, char: object) -> bool:
        return char in self._ids

    def __repr__(self) -> str:
        return f"Vocabulary({self.chars!r})"

    def encode(self, text: str) -> Tensor:
        """The ids of the characters of ``text``, a ``(len(text),)`` long tensor."""
        unknown = sorted(set(text) - self._ids.keys())
        if unknown:
            raise KeyError(f"characters not in the vocabulary: {''.join(unknown)!r}")
        return torch.tensor([self._ids[char] for char in text], dtype=torch.long)

    def decode(self, ids: Tensor | Iterable[int]) -> str:
        """The text spelled by ``ids`` (a 1-D tensor or any iterable of ints)."""
        if isinstance(ids, Tensor):
            ids = ids.reshape(-1).tolist()
        return "".join(self.chars[int(index)] for index in ids)


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


class FactoredRNN(nn.Module):
    r"""A recurrent layer with multiplicative (factored) connections: the input chooses the
    transition matrix (Sutskever, Martens and Hinton, 2011; book: *Backpropagation through time*,
    section *Multiplicative connections*).

    In an Elman network every character moves the state with the same matrix :math:`W`. Here each
    input :math:`x` has its own :math:`W^{(x)}`, built from :math:`F` rank-one matrices
    :math:`u_f v_f^\top` (``u_f`` is column :math:`f` of :math:`W_{hf}`, ``v_f`` row :math:`f` of
    :math:`W_{fh}`), each scaled by a gain :math:`w_f \cdot x` that the input sets (``w_f`` is row
    :math:`f` of :math:`W_{fx}`):

    .. math::

        W^{(x)} = \sum_{f=1}^{F} (w_f \cdot x)\, u_f v_f^\top
                = W_{hf}\, \mathrm{diag}\big(W_{fx} x\big)\, W_{fh}.

    With one-hot characters the gain of factor :math:`f` for character :math:`k` is the single
    number :math:`(W_{fx})_{fk}`. The layer never forms :math:`W^{(x)}`; it goes through the
    :math:`F` factors:

    .. math::

        f^{(t)} &= \big(W_{fh} h^{(t-1)}\big) \odot \big(W_{fx} x^{(t)}\big), \\
        a^{(t)} &= b + W_{hf} f^{(t)} + U x^{(t)}, \qquad h^{(t)} = \tanh\big(a^{(t)}\big),

    which equals :math:`a^{(t)} = b + W^{(x^{(t)})} h^{(t-1)} + U x^{(t)}`: the Elman network with
    an input-dependent :math:`W`. An Elman network needs :math:`H^2` recurrent weights; the factored
    one needs :math:`F (2H + D)`, rather than the :math:`D H^2` of a full matrix per character.

    Args:
        input_size: ``D`` (``K`` for one-hot characters).
        hidden_size: ``H``.
        factor_size: ``F``, the number of factors.
        device, dtype: where and how the parameters are created.

    Inputs: ``x`` ``(T, B, D)`` and optionally ``h_0`` ``(1, B, H)`` (zeros when omitted).

    Outputs: ``(output, h_n)``: ``output`` ``(T, B, H)`` holds every :math:`h^{(t)}`, ``h_n``
    ``(1, B, H)`` the last one (the shapes of ``torch.nn.RNN``).

    Attributes:
        weight_fh: :math:`W_{fh}`, ``(F, H)``, state to factors.
        weight_fx: :math:`W_{fx}`, ``(F, D)``, input to factor gains.
        weight_hf: :math:`W_{hf}`, ``(H, F)``, factors to hidden units.
        weight_ih: :math:`U`, ``(H, D)``, input to hidden units.
        bias: :math:`b`, ``(H,)``.

    Initialisation: :math:`W_{fh}` uniform in :math:`\pm 1/\sqrt{H}`, :math:`W_{hf}` uniform in
    :math:`\pm 1/\sqrt{F}`, the gains :math:`W_{fx}` uniform in :math:`(0.5, 1.5)` (so at first every
    character has nearly the same transition :math:`W_{hf} W_{fh}`, and training makes them differ),
    :math:`U` and :math:`b` uniform in :math:`\pm 1/\sqrt{H}` as in ``torch.nn.RNN``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        factor_size: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.factor_size = factor_size
        self.weight_fh = nn.Parameter(torch.empty(factor_size, hidden_size, **factory))
        self.weight_fx = nn.Parameter(torch.empty(factor_size, input_size, **factory))
        self.weight_hf = nn.Parameter(torch.empty(hidden_size, factor_size, **factory))
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.bias = nn.Parameter(torch.empty(hidden_size, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_fh, -bound, bound)
        nn.init.uniform_(self.weight_hf, -1.0 / math.sqrt(self.factor_size), 1.0 / math.sqrt(self.factor_size))
        nn.init.uniform_(self.weight_fx, 0.5, 1.5)
        nn.init.uniform_(self.weight_ih, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def transition_matrix(self, x: Tensor) -> Tensor:
        r""":math:`W^{(x)} = W_{hf}\,\mathrm{diag}(W_{fx} x)\,W_{fh}`, ``(H, H)``, for one input ``x`` ``(D,)``."""
        return (self.weight_hf * (self.weight_fx @ x)) @ self.weight_fh

    def step(self, x: Tensor, h: Tensor) -> Tensor:
        """One step: ``x`` ``(B, D)``, :math:`h^{(t-1)}` ``(B, H)`` -> :math:`h^{(t)}` ``(B, H)``."""
        f = (h @ self.weight_fh.T) * (x @ self.weight_fx.T)
        return torch.tanh(self.bias + f @ self.weight_hf.T + x @ self.weight_ih.T)

    def forward(self, x: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"FactoredRNN expected input of shape (T, B, {self.input_size}), got {tuple(x.shape)}")
        h = x.new_zeros(x.shape[1], self.hidden_size) if h_0 is None else h_0[0]
        # the input terms of every step at once: gains (T, B, F) and b + U x (T, B, H)
        gains = x @ self.weight_fx.T
        driven = x @ self.weight_ih.T + self.bias
        outputs = []
        for t in range(x.shape[0]):
            f = (h @ self.weight_fh.T) * gains[t]
            h = torch.tanh(driven[t] + f @ self.weight_hf.T)
            outputs.append(h)
        return torch.stack(outputs), h.unsqueeze(0)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, factor_size={self.factor_size}"


class CharRNN(nn.Module):
    r"""A character-level language model: one-hot characters, a recurrent layer, a linear output.

    .. math::

        x^{(t)} = \mathrm{onehot}(\text{id}^{(t)}) \in \{0,1\}^K, \qquad
        h^{(t)} = \text{cell}\big(x^{(t)}, h^{(t-1)}\big), \qquad
        o^{(t)} = c + V h^{(t)}

    where the cell is the Elman update :math:`\tanh(b + W h^{(t-1)} + U x^{(t)})` (``cell="elman"``,
    computed by ``torch.nn.RNN``: the maths of :class:`rnncourse.recurrent.ElmanRNN`, whose
    ``state_dict`` it shares) or the multiplicative update of :class:`FactoredRNN`
    (``cell="factored"``). The logits :math:`o^{(t)}` score the character at step :math:`t + 1`;
    :math:`\hat y^{(t)} = \mathrm{softmax}(o^{(t)})`.

    Args:
        vocab_size: ``K``, the number of characters (input and output size).
        hidden_size: ``H``.
        cell: ``"elman"`` or ``"factored"``.
        factor_size: ``F``, the factored cell's number of factors (default ``H``).
        device, dtype: where and how the parameters are created.

    Inputs: ``ids`` ``(T, B)`` long, time first; optionally ``h_0`` ``(1, B, H)`` (zeros when omitted).

    Outputs: ``(logits, h_n)``: ``logits`` ``(T, B, K)`` holds every :math:`o^{(t)}`, ``h_n``
    ``(1, B, H)`` the last state, to carry into the next window.

    Attributes:
        rnn: the recurrent layer (``torch.nn.RNN`` or :class:`FactoredRNN`).
        output: ``nn.Linear(H, K)``: ``output.weight`` is :math:`V` ``(K, H)``, ``output.bias`` is
            :math:`c` ``(K,)``.
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        cell: Literal["elman", "factored"] = "elman",
        factor_size: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.cell = cell
        self.rnn: nn.Module
        if cell == "elman":
            if factor_size is not None:
                raise ValueError("factor_size is only for cell='factored'")
            self.rnn = nn.RNN(vocab_size, hidden_size, **factory)
        elif cell == "factored":
            self.rnn = FactoredRNN(vocab_size, hidden_size, factor_size or hidden_size, **factory)
        else:
            raise ValueError(f"cell must be 'elman' or 'factored', got {cell!r}")
        self.output = nn.Linear(hidden_size, vocab_size, **factory)

    def forward(self, ids: Tensor, h_0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if ids.dim() != 2 or ids.dtype != torch.long:
            raise ValueError(f"CharRNN expects ids of shape (T, B) and dtype long, got {tuple(ids.shape)} {ids.dtype}")
        x = F.one_hot(ids, self.vocab_size).to(self.output.weight.dtype)
        states, h_n = self.rnn(x, h_0)
        return self.output(states), h_n


def count_parameters(model: nn.Module) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------------------------------
# Training data, evaluation, baselines
# --------------------------------------------------------------------------------------------------


def stream_batches(
    ids: Tensor, batch_size: int, window: int, epochs: int | None = 1
) -> Iterator[tuple[Tensor, Tensor]]:
    r"""Windows of ``B`` parallel streams of text, for truncated BPTT with a carried state.

    The text ``ids`` (``(N,)``) is cut into ``B = batch_size`` contiguous pieces of
    :math:`L = \lfloor (N - 1) / B \rfloor` characters; piece :math:`b` becomes column :math:`b`.
    Batches walk down the columns ``window`` steps at a time, so column :math:`b` of batch
    :math:`k + 1` continues column :math:`b` of batch :math:`k` where it stopped: the state a model
    reaches at the end of one batch is the right state to start the next (a ``loss_fn`` for
    :func:`rnncourse.train.train` with ``stateful=True`` returns it). The last window of an epoch may
    be shorter.

    Args:
        ids: the text as ids, ``(N,)``.
        batch_size: ``B``, the number of parallel streams.
        window: ``T``, steps per batch (the truncation length of BPTT).
        epochs: passes over the text; ``None`` repeats for ever. At the start of a new pass the
            carried state comes from the end of the streams: a jump in the text, which the model
            gets over within a few characters.

    Yields:
        ``(inputs, targets)``, both ``(T, B)`` long, with ``targets[t, b]`` the character that
        follows ``inputs[t, b]`` in the text.
    """
    length = (ids.numel() - 1) // batch_size
    if length < 1 or window < 1:
        raise ValueError(f"{ids.numel()} characters are too few for {batch_size} streams (window {window})")
    used = batch_size * length
    inputs = ids[:used].reshape(batch_size, length).T.contiguous()
    targets = ids[1 : used + 1].reshape(batch_size, length).T.contiguous()
    epoch = 0
    while epochs is None or epoch < epochs:
        for start in range(0, length, window):
            yield inputs[start : start + window], targets[start : start + window]
        epoch += 1


@torch.no_grad()
def bits_per_character(model: nn.Module, ids: Tensor, window: int = 512, streams: int = 1) -> float:
    r"""Average :math:`-\log_2 \hat y^{(t)}_{y^{(t)}}` of ``model`` over the text ``ids`` ``(N,)``.

    Every character after the first is predicted from all the characters before it: the text is fed
    in windows of ``window`` steps and the state carried from one window to the next (the first
    window starts from the zero state). With ``streams > 1`` the text is cut into that many
    contiguous pieces evaluated side by side (faster; each piece starts again from the zero state, so
    the result is slightly worse than with one stream). Every one of the :math:`N - 1` predictions
    counts once either way.

    ``model`` is called as ``model(ids (T, B), h) -> (logits (T, B, K), h)``, like :class:`CharRNN`.
    """
    count = ids.numel() - 1
    if count < 1:
        raise ValueError("need at least two characters to score a prediction")
    device = next(model.parameters()).device
    per_stream = math.ceil(count / streams)
    padding = per_stream * streams - count
    inputs = torch.cat([ids[:-1], ids.new_zeros(padding)]).reshape(streams, per_stream).T.to(device)
    targets = torch.cat([ids[1:], ids.new_full((padding,), -100)]).reshape(streams, per_stream).T.to(device)
    was_training = model.training
    model.eval()
    total, state = 0.0, None
    try:
        for start in range(0, per_stream, window):
            logits, state = model(inputs[start : start + window], state)
            nats = F.cross_entropy(
                logits.flatten(0, 1).double(),
                targets[start : start + window].flatten(),
                ignore_index=-100,
                reduction="sum",
            )
            total += float(nats)
    finally:
        model.train(was_training)
    return total / count / math.log(2)


def ngram_bits_per_character(
    train_ids: Tensor | Sequence[int],
    test_ids: Tensor | Sequence[int],
    vocab_size: int,
    order: int = 2,
    alpha: float = 1.0,
) -> float:
    r"""Bits per character of an add-:math:`\alpha` smoothed n-gram model fitted on ``train_ids``.

    The model predicts a character from the ``order - 1`` characters before it:

    .. math::

        P(y \mid \text{context}) = \frac{n(\text{context}, y) + \alpha}{n(\text{context}) + \alpha K},

    with counts :math:`n` taken from the training text only (``order=1``: the unigram model,
    character frequencies; ``order=2``: the bigram model; ``alpha=1`` is Laplace's add-one rule).
    Contexts that reach before the start of a text are padded with a start symbol outside the
    vocabulary. It is scored on the same predictions as :func:`bits_per_character`: every character
    of ``test_ids`` after the first.
    """
    if order < 1:
        raise ValueError(f"order must be at least 1, got {order}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    train = np.asarray(train_ids.tolist() if isinstance(train_ids, Tensor) else train_ids, dtype=np.int64)
    test = np.asarray(test_ids.tolist() if isinstance(test_ids, Tensor) else test_ids, dtype=np.int64)
    if test.size < 2:
        raise ValueError("need at least two test characters to score a prediction")
    start = vocab_size  # the start symbol
    context_size = order - 1

    def context_keys(text: np.ndarray) -> np.ndarray:
        """One integer per character: its ``order - 1`` predecessors as digits in base ``K + 1``."""
        padded = np.concatenate([np.full(context_size, start, dtype=np.int64), text])
        keys = np.zeros(text.size, dtype=np.int64)
        for lag in range(1, context_size + 1):
            keys = keys * (vocab_size + 1) + padded[context_size - lag : context_size - lag + text.size]
        return keys

    train_keys, test_keys = context_keys(train), context_keys(test)
    pair_counts: dict[tuple[int, int], int] = {}
    context_counts: dict[int, int] = {}
    for key, char in zip(train_keys.tolist(), train.tolist()):
        pair_counts[(key, char)] = pair_counts.get((key, char), 0) + 1
        context_counts[key] = context_counts.get(key, 0) + 1
    total_bits = 0.0
    for key, char in zip(test_keys[1:].tolist(), test[1:].tolist()):
        probability = (pair_counts.get((key, char), 0) + alpha) / (context_counts.get(key, 0) + alpha * vocab_size)
        total_bits -= math.log2(probability)
    return total_bits / (test.size - 1)


# --------------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------------


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab: Vocabulary,
    burn_in: str,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> str:
    r"""Generate ``length`` characters that follow ``burn_in``.

    The burn-in prefix is run through the network from the zero state, which sets the state and the
    first prediction :math:`o^{(t)}`. Then, ``length`` times: draw a character from
    :math:`\mathrm{softmax}(o^{(t)} / \tau)` with :math:`\tau` = ``temperature``, and feed it back in
    as the next input. Low temperatures sharpen the distribution towards its most likely character,
    high ones flatten it towards uniform; ``temperature=0`` is the limit :math:`\tau \to 0`, the
    greedy choice :math:`\arg\max_k o^{(t)}_k` (ties to the lowest id), and uses no randomness.

    Args:
        model: called as ``model(ids (T, 1), h) -> (logits (T, 1, K), h)``, like :class:`CharRNN`.
        vocab: the model's vocabulary.
        burn_in: a non-empty prefix; every character must be in ``vocab``.
        length: characters to generate.
        temperature: :math:`\tau \ge 0`.
        generator: the random generator for the draws (on the model's device), for repeatable samples.

    Returns:
        The ``length`` generated characters (without the burn-in).
    """
    if not burn_in:
        raise ValueError("the burn-in prefix must have at least one character")
    if temperature < 0:
        raise ValueError(f"temperature must be non-negative, got {temperature}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        logits, state = model(vocab.encode(burn_in).to(device).unsqueeze(1), None)
        last = logits[-1, 0]
        drawn: list[int] = []
        for _ in range(length):
            if temperature == 0:
                char = int(torch.argmax(last))
            else:
                probabilities = torch.softmax(last.double() / temperature, dim=-1)
                char = int(torch.multinomial(probabilities, 1, generator=generator))
            drawn.append(char)
            logits, state = model(torch.tensor([[char]], device=device), state)
            last = logits[-1, 0]
    finally:
        model.train(was_training)
    return vocab.decode(drawn)
