"""Toy translation tasks for encoder-decoder networks with attention (chapter 5, *Sequence to sequence*).

Two families of pairs ``(source, target)`` of token sequences, generated from a seed (nothing is
downloaded), small enough to train on a CPU and hard in the way translation is hard:

- *reversal* (:func:`reversal_pairs`, :func:`length_splits`): the target is the source backwards. The first
  output depends on the last input, so a plain encoder-decoder must squeeze the whole source into one
  vector, while attention can read position ``T - t`` when writing position ``t``. The test split has
  sources longer than any seen in training, which shows whether a model has learned the rule or the
  lengths (the *length split* of Lake and Baroni, 2018; reversing is the trick of Sutskever, Vinyals and
  Le, 2014, turned into the whole task).
- *dates* (:func:`date_pairs`): a date written in one of several human ways (:data:`DATE_FORMATS`:
  ``"the twenty third of november two thousand twenty six"``, ``"2 3 / 1 1 / 2 0 2 6"``, ...) to its ISO
  form ``2026-11-23``, one character per target token. Day, month and year come in different orders and
  spellings, and the year, first in the target, comes last in the source, so the alignment between
  source and target is not the identity and attention has to learn it. Date normalisation is a common
  teaching stand-in for translation (deeplearning.ai's *Sequence Models* course, for one); the formats
  and the year spellings here are our own.

Pairs are :class:`Pair` of string tuples. A :class:`Vocabulary` numbers the tokens, with the four
specials :data:`PAD`, :data:`BOS`, :data:`EOS`, :data:`UNK` first. :func:`encode_batch` turns pairs into a
time-first :class:`Batch` ready for teacher forcing, and :func:`batches` serves shuffled mini-batches
forever. :func:`make_task` builds a whole :class:`TranslationTask` (vocabularies and train, validation
and test splits) by name; :func:`split_by_identity` keeps a target out of all splits but one, so a test
date was never seen in training in any format.

The generators take a NumPy ``Generator`` (reproducible, no global state); tensors are int64, time
first, ``(T, B)``, like the inputs of ``torch.nn.RNN`` and :mod:`rnncourse.recurrent`.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BOS",
    "DATE_FORMATS",
    "DATE_SOURCE_WORDS",
    "DATE_TARGET_TOKENS",
    "EOS",
    "PAD",
    "REVERSAL_SYMBOLS",
    "SPECIALS",
    "TASKS",
    "UNK",
    "Batch",
    "Pair",
    "TranslationTask",
    "Vocabulary",
    "batches",
    "date_pairs",
    "encode_batch",
    "length_splits",
    "make_task",
    "pad_batch",
    "reversal_alphabet",
    "reversal_pairs",
    "split_by_identity",
]

#: ids of the special tokens: padding, beginning and end of sequence, unknown token
PAD, BOS, EOS, UNK = 0, 1, 2, 3

#: the special tokens, at their ids
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")

#: the tasks :func:`make_task` knows
TASKS = ("reversal", "dates")


class Vocabulary:
    """A numbering of tokens: the :data:`SPECIALS` at ids 0 to 3, then the given tokens in order.

    Args:
        tokens: the tokens after the specials; a repeated token (or one equal to a special) keeps its
            first id.

    Attributes:
        tokens: ``tokens[i]`` is the token with id ``i``.

    Example::

        >>> vocab = Vocabulary(["a", "b"])
        >>> vocab.encode(["b", "a", "z"], bos=True)
        [1, 5, 4, 3, 2]
        >>> vocab.decode([5, 4, 2, 0, 0])
        ['b', 'a']
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        self.tokens: list[str] = []
        self._ids: dict[str, int] = {}
        for token in (*SPECIALS, *tokens):
            if token not in self._ids:
                self._ids[token] = len(self.tokens)
                self.tokens.append(token)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __hash__(self) -> int:
        return hash(tuple(self.tokens))

    def __repr__(self) -> str:
        shown = " ".join(self.tokens[:12]) + (" ..." if len(self) > 12 else "")
        return f"Vocabulary({len(self)} tokens: {shown})"

    def index(self, token: str) -> int:
        """The id of ``token``, :data:`UNK` if it is not in the vocabulary."""
        return self._ids.get(token, UNK)

    def encode(self, tokens: Sequence[str], *, bos: bool = False, eos: bool = True) -> list[int]:
        """The ids of ``tokens`` (unknown ones as :data:`UNK`), after a :data:`BOS` if ``bos`` and before
        an :data:`EOS` if ``eos``: ``len(tokens) + bos + eos`` ids."""
        ids = [self.index(token) for token in tokens]
        return ([BOS] if bos else []) + ids + ([EOS] if eos else [])

    def decode(self, ids: Iterable[int], *, strip: bool = True) -> list[str]:
        """The tokens of ``ids`` (ints, or the elements of a 1-D tensor or array).

        With ``strip`` (the default) decoding stops at the first :data:`EOS` and drops :data:`PAD` and
        :data:`BOS`, which turns a decoder's output back into the sentence; without it every id is
        shown, specials included.
        """
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} is outside the vocabulary of {len(self.tokens)} tokens")
            if strip:
                if i == EOS:
                    break
                if i in (PAD, BOS):
                    continue
            out.append(self.tokens[i])
        return out

    @classmethod
    def from_pairs(cls, pairs: Iterable[Pair], side: str) -> Vocabulary:
        """The vocabulary of every token on ``side`` (``"source"`` or ``"target"``) of ``pairs``, sorted."""
        if side not in ("source", "target"):
            raise ValueError(f"side must be 'source' or 'target', got {side!r}")
        return cls(sorted({token for pair in pairs for token in getattr(pair, side)}))


@dataclass(frozen=True)
class Pair:
    """One example: the tokens of a source sentence and of its translation (no specials)."""

    source: tuple[str, ...]
    target: tuple[str, ...]

    def __str__(self) -> str:
        return f"{' '.join(self.source)} -> {' '.join(self.target)}"


# ---------------------------------------------------------------------------------------------------
# Reversal

#: the symbols of the reversal task, in order; an alphabet of ``K`` symbols uses the first ``K``
REVERSAL_SYMBOLS = "0123456789abcdefghijklmnopqrstuvwxyz"


def reversal_alphabet(alphabet: int = 10) -> tuple[str, ...]:
    """The first ``alphabet`` symbols of :data:`REVERSAL_SYMBOLS` (digits, then letters), 1 to 36 of them."""
    if not 1 <= alphabet <= len(REVERSAL_SYMBOLS):
        raise ValueError(f"alphabet must be between 1 and {len(REVERSAL_SYMBOLS)}, got {alphabet}")
    return tuple(REVERSAL_SYMBOLS[:alphabet])


def reversal_pairs(
    rng: np.random.Generator, n: int, min_length: int, max_length: int, alphabet: int = 10
) -> list[Pair]:
    """``n`` pairs of the reversal task: a random string of symbols and the same string backwards.

    Each source has a length drawn uniformly from ``min_length .. max_length`` (both included) and
    symbols drawn uniformly and independently from :func:`reversal_alphabet`\\ ``(alphabet)``; its target
    is ``source[::-1]``. Target token ``t`` is source token ``T - 1 - t``: an attention model must learn
    to look at the mirror position.

    Args:
        rng: source of randomness.
        n: how many pairs.
        min_length, max_length: bounds on the source length, ``1 <= min_length <= max_length``.
        alphabet: ``K``, how many distinct symbols.

    Returns:
        ``n`` :class:`Pair`, sources not necessarily distinct.
    """
    symbols = np.array(reversal_alphabet(alphabet))
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    lengths = rng.integers(min_length, max_length + 1, size=n)
    codes = rng.integers(0, alphabet, size=int(lengths.sum()))
    ends = np.cumsum(lengths)
    pairs = []
    for start, end in zip(ends - lengths, ends):
        source = tuple(symbols[codes[start:end]].tolist())
        pairs.append(Pair(source, source[::-1]))
    return pairs


def length_splits(
    rng: np.random.Generator,
    n_train: int,
    n_val: int,
    n_test: int,
    train_lengths: tuple[int, int] = (1, 20),
    test_lengths: tuple[int, int] = (1, 40),
    alphabet: int = 10,
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Train, validation and test splits of the reversal task, the test one with longer sources.

    Training and validation sources have lengths in ``train_lengths``, test sources in ``test_lengths``
    (by default up to twice the longest training source). No validation or test source is also a
    training source: short strings, which training exhausts (there are only ``K`` of length 1), are
    redrawn, so the test lengths are uniform over the range except where few unseen strings exist.

    Args:
        rng: source of randomness.
        n_train, n_val, n_test: sizes of the splits.
        train_lengths: ``(min, max)`` source length of training and validation, both included.
        test_lengths: ``(min, max)`` source length of the test split, both included.
        alphabet: ``K``, how many distinct symbols.

    Returns:
        ``(train, validation, test)``, lists of :class:`Pair`.
    """
    train = reversal_pairs(rng, n_train, *train_lengths, alphabet=alphabet)
    seen = {pair.source for pair in train}

    def unseen(n: int, lengths: tuple[int, int]) -> list[Pair]:
        kept: list[Pair] = []
        for _ in range(1000):
            if len(kept) >= n:
                break
            drawn = reversal_pairs(rng, 2 * (n - len(kept)) + 16, *lengths, alphabet=alphabet)
            kept += [pair for pair in drawn if pair.source not in seen]
        if len(kept) < n:
            raise ValueError(f"too few sources of lengths {lengths} are left outside the training split")
        return kept[:n]

    return train, unseen(n_val, train_lengths), unseen(n_test, test_lengths)


# ---------------------------------------------------------------------------------------------------
# Dates

_ONES = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
)
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_ORDINAL_ONES = (
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
    "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
    "eighteenth", "nineteenth",
)
_ORDINAL_TENS = {2: "twentieth", 3: "thirtieth"}
_MONTHS = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)
_MONTH_ABBREVIATIONS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DIGITS = tuple("0123456789")


def _cardinal(n: int) -> list[str]:
    """1 .. 99 in words: ``7 -> ["seven"]``, ``84 -> ["eighty", "four"]``."""
    if n < 20:
        return [_ONES[n]]
    tens, ones = divmod(n, 10)
    return [_TENS[tens]] + ([_ONES[ones]] if ones else [])


def _ordinal(n: int) -> list[str]:
    """1 .. 31 as an ordinal in words: ``23 -> ["twenty", "third"]``, ``30 -> ["thirtieth"]``."""
    if n < 20:
        return [_ORDINAL_ONES[n]]
    tens, ones = divmod(n, 10)
    return [_ORDINAL_TENS[tens]] if ones == 0 else [_TENS[tens], _ORDINAL_ONES[ones]]


def _year_words(year: int, rng: np.random.Generator) -> list[str]:
    """A year 1000 .. 9999 in words, one of the ways English says it, drawn uniformly.

    In hundreds: 1984 "nineteen eighty four", 1905 "nineteen oh five", 1900 "nineteen hundred",
    2026 "twenty twenty six". In thousands, for the first century of a millennium: 2000 "two thousand",
    2005 "two thousand five" or "two thousand and five".
    """
    century, rest = divmod(year, 100)
    ways = []
    if year % 1000 < 100:
        thousands = [_ONES[year // 1000], "thousand"]
        ways += [thousands] if rest == 0 else [thousands + _cardinal(rest), thousands + ["and"] + _cardinal(rest)]
    if rest == 0 and year % 1000 != 0:
        ways.append(_cardinal(century) + ["hundred"])
    elif rest > 0:
        ways.append(_cardinal(century) + (["oh"] if rest < 10 else []) + _cardinal(rest))
    return ways[int(rng.integers(len(ways)))]


def _digits(n: int, width: int = 1) -> list[str]:
    return list(f"{n:0{width}d}")


def _spoken(date: datetime.date, rng: np.random.Generator) -> list[str]:
    return ["the", *_ordinal(date.day), "of", _MONTHS[date.month - 1], *_year_words(date.year, rng)]


def _spoken_month_first(date: datetime.date, rng: np.random.Generator) -> list[str]:
    return [_MONTHS[date.month - 1], *_ordinal(date.day), ",", *_year_words(date.year, rng)]


def _written(date: datetime.date, rng: np.random.Generator) -> list[str]:
    return [*_digits(date.day), _MONTHS[date.month - 1], *_digits(date.year)]


def _abbreviated(date: datetime.date, rng: np.random.Generator) -> list[str]:
    return [_MONTH_ABBREVIATIONS[date.month - 1], *_digits(date.day), *_digits(date.year)]


def _numeric(date: datetime.date, rng: np.random.Generator) -> list[str]:
    width = 2 if rng.random() < 0.5 else 1  # "05 / 03 / 2026" or "5 / 3 / 2026"
    return [*_digits(date.day, width), "/", *_digits(date.month, width), "/", *_digits(date.year)]


_WRITERS = {
    "spoken": _spoken,
    "spoken_month_first": _spoken_month_first,
    "written": _written,
    "abbreviated": _abbreviated,
    "numeric": _numeric,
}

#: the ways :func:`date_pairs` writes a date, by name; for 23 November 2026:
#:
#: - ``"spoken"``: ``the twenty third of november two thousand twenty six``
#: - ``"spoken_month_first"``: ``november twenty third , twenty twenty six``
#: - ``"written"``: ``2 3 november 2 0 2 6``
#: - ``"abbreviated"``: ``nov 2 3 2 0 2 6``
#: - ``"numeric"``: ``2 3 / 1 1 / 2 0 2 6`` (day first, as in Europe; or ``0 5 / 0 3 / ...`` zero-padded)
#:
#: Numbers written in digits are one token per digit; years in words take any of the spellings of
#: :func:`_year_words` ("nineteen oh five", "two thousand and five", ...).
DATE_FORMATS = tuple(_WRITERS)

#: every token a date source can contain, whatever the format and year: the vocabulary of the
#: ``"dates"`` task, sorted
#:
#: :meta hide-value:
DATE_SOURCE_WORDS = tuple(sorted({
    *_DIGITS, ",", "/", "the", "of", "oh", "and", "hundred", "thousand",
    *_ONES[1:], *_TENS[2:], *_ORDINAL_ONES[1:], *_ORDINAL_TENS.values(), *_MONTHS, *_MONTH_ABBREVIATIONS,
}))

#: the tokens of an ISO date: the digits and ``-``
DATE_TARGET_TOKENS = (*_DIGITS, "-")


def date_pairs(
    rng: np.random.Generator,
    n: int,
    *,
    years: tuple[int, int] = (1900, 2099),
    formats: Sequence[str] | None = None,
) -> list[Pair]:
    """``n`` pairs of the date task: a date written in a human format, and the same date in ISO form.

    Each date is drawn uniformly from all calendar days of the years ``years[0] .. years[1]`` (so
    29 February appears in leap years only, 2000 included and 1900 not, as often as any other day),
    each format uniformly from ``formats`` (see :data:`DATE_FORMATS` for examples), and the spelling of
    a year in words uniformly from the ones English uses for it. The target is the ten characters of
    ``YYYY-MM-DD``, ``-`` included, e.g. ``("2", "0", "2", "6", "-", "1", "1", "-", "2", "3")``.

    The year, which comes first in the target, comes last in every source, and the day comes before
    the month in most formats, so the decoder must read the source out of order: attention has to find
    the alignment rather than walk along the diagonal.

    Args:
        rng: source of randomness.
        n: how many pairs.
        years: first and last year, both included, within 1000 .. 9999.
        formats: names from :data:`DATE_FORMATS` to draw from (``None``: all of them).

    Returns:
        ``n`` :class:`Pair`; the same date may appear more than once, in the same or other formats.
    """
    first, last = years
    if not 1000 <= first <= last <= 9999:
        raise ValueError(f"need 1000 <= years[0] <= years[1] <= 9999, got {years}")
    names = DATE_FORMATS if formats is None else tuple(formats)
    unknown = [name for name in names if name not in _WRITERS]
    if unknown or not names:
        raise ValueError(f"formats must be a non-empty selection of {DATE_FORMATS}, got {formats!r}")
    days = rng.integers(datetime.date(first, 1, 1).toordinal(), datetime.date(last, 12, 31).toordinal() + 1, size=n)
    chosen = rng.integers(0, len(names), size=n)
    pairs = []
    for day, k in zip(days.tolist(), chosen.tolist()):
        date = datetime.date.fromordinal(day)
        pairs.append(Pair(tuple(_WRITERS[names[k]](date, rng)), tuple(date.isoformat())))
    return pairs


# ---------------------------------------------------------------------------------------------------
# Splits


def split_by_identity(
    pairs: Sequence[Pair], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1), seed: int = 0
) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """Split ``pairs`` into train, validation and test so that no target is in two splits.

    All the pairs that share a target go to the same split: for dates, a test date is never seen in
    training, in any format, so a model cannot pass the test by having memorised dates. The distinct
    targets are shuffled (by ``seed``, the same split for the same pairs every time) and dealt out in
    that order until each split holds about its fraction of the *pairs*. Within a split the pairs keep
    their order in ``pairs``.

    Args:
        pairs: the pairs to split.
        fractions: the shares of train, validation and test, non-negative (normalised to sum to 1).
        seed: seed of the shuffle.

    Returns:
        ``(train, validation, test)``, lists of :class:`Pair`.
    """
    shares = np.asarray(fractions, dtype=float)
    if shares.shape != (3,) or (shares < 0).any() or shares.sum() <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, not all zero, got {fractions}")
    bounds = np.cumsum(shares / shares.sum()) * len(pairs)
    counts: dict[tuple[str, ...], int] = {}
    for pair in pairs:
        counts[pair.target] = counts.get(pair.target, 0) + 1
    targets = sorted(counts)  # a fixed order first, so the shuffle depends on the seed alone
    order = np.random.default_rng(seed).permutation(len(targets))
    split_of: dict[tuple[str, ...], int] = {}
    dealt = 0
    for k in order.tolist():
        # the split whose share the first pair of this target falls into
        split_of[targets[k]] = min(int(np.searchsorted(bounds, dealt, side="right")), 2)
        dealt += counts[targets[k]]
    splits: tuple[list[Pair], list[Pair], list[Pair]] = ([], [], [])
    for pair in pairs:
        splits[split_of[pair.target]].append(pair)
    return splits


# ---------------------------------------------------------------------------------------------------
# Batches


@dataclass
class Batch:
    """A mini-batch of pairs as tensors, time first, for an encoder-decoder trained with teacher forcing.

    Column ``b`` of every tensor is the ``b``-th pair given to :func:`encode_batch`. With ``n_b`` the
    source length and ``m_b`` the target length of pair ``b`` (before specials):

    Attributes:
        source: ``(T_x, B)`` int64, the source ids then :data:`EOS` (``n_b + 1`` ids), then :data:`PAD`;
            ``T_x = max_b n_b + 1``.
        source_lengths: ``(B,)`` int64, ``n_b + 1`` (the EOS counted), on the same device as ``source``
            (``torch.nn.utils.rnn.pack_padded_sequence`` wants them on the CPU).
        target_in: ``(T_y, B)`` int64, the decoder's inputs: :data:`BOS`, ``y_1 .. y_m``, then
            :data:`PAD`; ``T_y = max_b m_b + 1``.
        target_out: ``(T_y, B)`` int64, what the decoder must emit at each step: ``y_1 .. y_m``,
            :data:`EOS`, then :data:`PAD`. ``target_out[t]`` is the answer to ``target_in[t]``; a loss
            ignores the PAD (``ignore_index=PAD``).
    """

    source: Tensor
    source_lengths: Tensor
    target_in: Tensor
    target_out: Tensor

    def to(self, device: torch.device | str | None) -> Batch:
        """The same batch with every tensor on ``device``."""
        return Batch(*(tensor.to(device) for tensor in (self.source, self.source_lengths, self.target_in, self.target_out)))

    @property
    def size(self) -> int:
        """``B``, the number of pairs."""
        return int(self.source.shape[1])


def pad_batch(
    sequences: Sequence[Sequence[int]], pad: int = PAD, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    """Stack sequences of ids of different lengths as the columns of one tensor, padded at the end.

    Args:
        sequences: ``B`` sequences of ids, at least one.
        pad: the id that fills the steps after a sequence's end.
        device: where the tensors are created (``None``: the CPU).

    Returns:
        ``(ids, lengths)``: ``(T, B)`` int64 with ``ids[:lengths[b], b] = sequences[b]`` and ``pad`` after,
        ``T`` the longest length; and ``(B,)`` int64 lengths.
    """
    if len(sequences) == 0:
        raise ValueError("pad_batch needs at least one sequence")
    lengths = np.array([len(sequence) for sequence in sequences], dtype=np.int64)
    ids = np.full((int(lengths.max()), len(sequences)), pad, dtype=np.int64)
    for b, sequence in enumerate(sequences):
        ids[: lengths[b], b] = np.asarray(sequence, dtype=np.int64)
    return torch.from_numpy(ids).to(device), torch.from_numpy(lengths).to(device)


def _encoded(pair: Pair, source_vocab: Vocabulary, target_vocab: Vocabulary) -> tuple[list[int], list[int], list[int]]:
    """A pair's source with EOS, decoder inputs (BOS first) and decoder outputs (EOS last)."""
    target = target_vocab.encode(pair.target, eos=False)
    return source_vocab.encode(pair.source), [BOS, *target], [*target, EOS]


def _batch(encoded: Sequence[tuple[list[int], list[int], list[int]]], device: torch.device | str | None) -> Batch:
    source, source_lengths = pad_batch([e[0] for e in encoded], device=device)
    target_in, _ = pad_batch([e[1] for e in encoded], device=device)
    target_out, _ = pad_batch([e[2] for e in encoded], device=device)
    return Batch(source, source_lengths, target_in, target_out)


def encode_batch(
    pairs: Sequence[Pair], source_vocab: Vocabulary, target_vocab: Vocabulary, device: torch.device | str | None = None
) -> Batch:
    """``pairs`` as one :class:`Batch`, in their order (column ``b`` is ``pairs[b]``; not sorted by length).

    Tokens missing from a vocabulary become :data:`UNK`.
    """
    return _batch([_encoded(pair, source_vocab, target_vocab) for pair in pairs], device)


def batches(
    pairs: Sequence[Pair],
    batch_size: int,
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    rng: np.random.Generator,
    device: torch.device | str | None = None,
) -> Iterator[Batch]:
    """Shuffled mini-batches of ``pairs``, without end: the iterator a training loop draws from.

    Each epoch is a fresh permutation drawn from ``rng`` and cut into batches of ``batch_size`` pairs;
    the last batch of an epoch holds the pairs left over (fewer when ``batch_size`` does not divide
    ``len(pairs)``), so every pair is seen once per epoch. The same ``rng`` state gives the same
    batches. Pairs are encoded once, at the start.

    Yields:
        :class:`Batch` of at most ``batch_size`` pairs, on ``device``.
    """
    if batch_size < 1 or len(pairs) == 0:
        raise ValueError(f"need batch_size >= 1 and at least one pair, got {batch_size} and {len(pairs)} pairs")
    encoded = [_encoded(pair, source_vocab, target_vocab) for pair in pairs]
    while True:
        order = rng.permutation(len(encoded))
        for start in range(0, len(order), batch_size):
            yield _batch([encoded[i] for i in order[start : start + batch_size]], device)


# ---------------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class TranslationTask:
    """A toy translation task: vocabularies and three splits of pairs.

    Attributes:
        name: ``"reversal"`` or ``"dates"``.
        source_vocab, target_vocab: the vocabularies; every token of every split is in them.
        train, validation, test: the splits, lists of :class:`Pair`.
    """

    name: str
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    train: list[Pair]
    validation: list[Pair]
    test: list[Pair]

    def __repr__(self) -> str:
        return (f"TranslationTask({self.name!r}, source_vocab={len(self.source_vocab)} tokens, "
                f"target_vocab={len(self.target_vocab)} tokens, train={len(self.train)}, "
                f"validation={len(self.validation)}, test={len(self.test)})")


_REVERSAL_SIZES: dict[str, Any] = {
    "n_train": 20000, "n_val": 1000, "n_test": 2000, "train_lengths": (1, 20), "test_lengths": (1, 40), "alphabet": 10,
}
_DATES_SIZES: dict[str, Any] = {"n": 30000, "years": (1900, 2099), "formats": None, "fractions": (0.8, 0.1, 0.1)}


def make_task(name: str, seed: int = 0, **sizes: Any) -> TranslationTask:
    """The task ``name`` drawn from ``seed``, with its vocabularies and splits; the same seed, the same task.

    - ``"reversal"``: :func:`length_splits`, sizes ``n_train=20000``, ``n_val=1000``, ``n_test=2000``,
      ``train_lengths=(1, 20)``, ``test_lengths=(1, 40)``, ``alphabet=10``. Both vocabularies are the
      alphabet.
    - ``"dates"``: ``n=30000`` pairs of :func:`date_pairs` (also ``years``, ``formats``), cut by
      :func:`split_by_identity` (``fractions=(0.8, 0.1, 0.1)``, seeded with ``seed``). The source
      vocabulary is :data:`DATE_SOURCE_WORDS`, every word any format can write, not only those drawn;
      the target vocabulary is :data:`DATE_TARGET_TOKENS`.

    Args:
        name: one of :data:`TASKS`.
        seed: seed of everything drawn.
        sizes: overrides of the sizes above.
    """
    defaults = {"reversal": _REVERSAL_SIZES, "dates": _DATES_SIZES}.get(name)
    if defaults is None:
        raise ValueError(f"unknown task {name!r}; there are {TASKS}")
    unknown = sorted(set(sizes) - set(defaults))
    if unknown:
        raise TypeError(f"make_task({name!r}) takes the sizes {sorted(defaults)}, not {unknown}")
    options = {**defaults, **sizes}
    rng = np.random.default_rng(seed)
    if name == "reversal":
        train, validation, test = length_splits(rng, **options)
        symbols = reversal_alphabet(options["alphabet"])
        return TranslationTask(name, Vocabulary(symbols), Vocabulary(symbols), train, validation, test)
    pairs = date_pairs(rng, options["n"], years=options["years"], formats=options["formats"])
    train, validation, test = split_by_identity(pairs, options["fractions"], seed=seed)
    return TranslationTask(name, Vocabulary(DATE_SOURCE_WORDS), Vocabulary(DATE_TARGET_TOKENS), train, validation, test)
