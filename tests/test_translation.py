"""Toy translation tasks (chapter 5): vocabularies, the reversal and date generators, splits, batches, tasks.

The date sources are checked by a parser written here from the format descriptions, independent of the
generator's word lists: every source must denote its target date."""

from __future__ import annotations

import datetime
import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from rnncourse.translation import (
    BOS,
    DATE_FORMATS,
    DATE_SOURCE_WORDS,
    EOS,
    PAD,
    SPECIALS,
    UNK,
    Batch,
    Pair,
    Vocabulary,
    batches,
    date_pairs,
    encode_batch,
    length_splits,
    make_task,
    pad_batch,
    reversal_pairs,
    split_by_identity,
)

# ------------------------------------------------------------------------------------------------
# An independent reader of date sources


def _numbered(words: str, start: int = 1, step: int = 1) -> dict[str, int]:
    """``{"first word": start, "second word": start + step, ...}`` from a space-separated list."""
    return {word: start + step * i for i, word in enumerate(words.split())}


_SMALL = _numbered("one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                   "sixteen seventeen eighteen nineteen")
_TENS = _numbered("twenty thirty forty fifty sixty seventy eighty ninety", start=20, step=10)
_NTH = _numbered("first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth "
                 "fourteenth fifteenth sixteenth seventeenth eighteenth nineteenth")
_NTH_TENS = {"twentieth": 20, "thirtieth": 30}
_MONTH = _numbered("january february march april may june july august september october november december")
_MON = {w[:3]: i for w, i in _MONTH.items()}


def _number(words: list[str]) -> tuple[int, list[str]]:
    """Read one number 1 .. 99 from the front of ``words``; return it and the rest."""
    head, rest = words[0], words[1:]
    if head in _SMALL:
        return _SMALL[head], rest
    value = _TENS[head]
    if rest and rest[0] in _SMALL and _SMALL[rest[0]] < 10:
        return value + _SMALL[rest[0]], rest[1:]
    return value, rest


def _day(words: list[str]) -> int:
    if len(words) == 1:
        return _NTH.get(words[0]) or _NTH_TENS[words[0]]
    assert len(words) == 2 and words[1] in _NTH and _NTH[words[1]] < 10, words
    return _TENS[words[0]] + _NTH[words[1]]


def _year(words: list[str]) -> tuple[int, str]:
    """A year in words, and which spelling it used."""
    if "thousand" in words:
        k = words.index("thousand")
        thousands, left = _number(words[:k])
        assert not left
        rest = words[k + 1:]
        spelling = "thousand"
        if rest and rest[0] == "and":
            rest, spelling = rest[1:], "thousand and"
        value, left = _number(rest) if rest else (0, [])
        assert not left and (value > 0 or spelling == "thousand")
        return thousands * 1000 + value, spelling
    century, rest = _number(words)
    if rest == ["hundred"]:
        return century * 100, "hundred"
    if rest[0] == "oh":
        value, left = _number(rest[1:])
        assert value < 10 and not left
        return century * 100 + value, "oh"
    value, left = _number(rest)
    assert value >= 10 and not left
    return century * 100 + value, "hundreds"


def _digits(tokens: list[str]) -> int:
    assert tokens and all(len(t) == 1 and t.isdigit() for t in tokens), tokens
    return int("".join(tokens))


def read_date(source: tuple[str, ...]) -> tuple[datetime.date, str, str]:
    """The date a source denotes, its format's name and the spelling of its year (``""`` in digits)."""
    words = list(source)
    if "/" in words:
        i, j = [k for k, w in enumerate(words) if w == "/"]
        assert len(words) - j - 1 == 4
        return datetime.date(_digits(words[j + 1:]), _digits(words[i + 1:j]), _digits(words[:i])), "numeric", ""
    if words[0] == "the":
        k = words.index("of")
        year, spelling = _year(words[k + 2:])
        return datetime.date(year, _MONTH[words[k + 1]], _day(words[1:k])), "spoken", spelling
    if words[0] in _MONTH and not words[1].isdigit():
        k = words.index(",")
        year, spelling = _year(words[k + 1:])
        return datetime.date(year, _MONTH[words[0]], _day(words[1:k])), "spoken_month_first", spelling
    if words[0].isdigit():
        k = next(k for k, w in enumerate(words) if w in _MONTH)
        assert len(words) - k - 1 == 4
        return datetime.date(_digits(words[k + 1:]), _MONTH[words[k]], _digits(words[:k])), "written", ""
    assert 5 <= len(words) - 1 <= 6, words  # day of 1 or 2 digits, then the 4 digits of the year
    return datetime.date(_digits(words[-4:]), _MON[words[0]], _digits(words[1:-4])), "abbreviated", ""


def _source(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def test_the_reader_reads_the_documented_examples() -> None:
    date = datetime.date(2026, 11, 23)
    examples = {
        "the twenty third of november two thousand twenty six": "spoken",
        "november twenty third , twenty twenty six": "spoken_month_first",
        "2 3 november 2 0 2 6": "written",
        "nov 2 3 2 0 2 6": "abbreviated",
        "2 3 / 1 1 / 2 0 2 6": "numeric",
    }
    for text, name in examples.items():
        assert read_date(_source(text))[:2] == (date, name)
    assert read_date(_source("the fifth of march nineteen oh five"))[0] == datetime.date(1905, 3, 5)
    assert read_date(_source("may thirtieth , two thousand and five"))[0] == datetime.date(2005, 5, 30)


# ------------------------------------------------------------------------------------------------
# Vocabulary


def test_vocabulary_puts_the_specials_first_and_drops_duplicates() -> None:
    vocab = Vocabulary(["b", "a", "b", "<eos>", "c"])
    assert vocab.tokens == [*SPECIALS, "b", "a", "c"]
    assert len(vocab) == 7
    assert [vocab.index(s) for s in SPECIALS] == [PAD, BOS, EOS, UNK] == [0, 1, 2, 3]
    assert vocab.index("a") == 5 and "a" in vocab and "z" not in vocab


def test_vocabulary_round_trips_and_maps_unknown_tokens_to_unk() -> None:
    vocab = Vocabulary("abc")
    tokens = ["c", "a", "b", "a"]
    assert vocab.encode(tokens) == [6, 4, 5, 4, EOS]
    assert vocab.encode(tokens, bos=True, eos=False) == [BOS, 6, 4, 5, 4]
    assert vocab.decode(vocab.encode(tokens, bos=True)) == tokens
    assert vocab.decode(torch.tensor(vocab.encode(tokens) + [PAD, PAD])) == tokens
    assert vocab.encode(["a", "z"]) == [4, UNK, EOS]
    assert vocab.decode(vocab.encode(["a", "z"])) == ["a", "<unk>"]


def test_decode_stops_at_the_first_eos_and_drops_pad_and_bos_unless_told_not_to() -> None:
    vocab = Vocabulary("ab")
    ids = [BOS, 4, PAD, 5, EOS, 4, EOS]
    assert vocab.decode(ids) == ["a", "b"]
    assert vocab.decode(ids, strip=False) == ["<bos>", "a", "<pad>", "b", "<eos>", "a", "<eos>"]
    with pytest.raises(ValueError):
        vocab.decode([len(vocab)])


def test_from_pairs_collects_one_side_sorted() -> None:
    pairs = [Pair(("x", "b"), ("1",)), Pair(("a", "b"), ("2", "1"))]
    assert Vocabulary.from_pairs(pairs, "source").tokens[4:] == ["a", "b", "x"]
    assert Vocabulary.from_pairs(pairs, "target").tokens[4:] == ["1", "2"]
    with pytest.raises(ValueError):
        Vocabulary.from_pairs(pairs, "both")


# ------------------------------------------------------------------------------------------------
# Reversal


def test_reversal_targets_are_reversed_sources_of_bounded_length() -> None:
    pairs = reversal_pairs(np.random.default_rng(0), 2000, 3, 7, alphabet=12)
    assert len(pairs) == 2000
    assert all(pair.target == pair.source[::-1] for pair in pairs)
    assert {len(pair.source) for pair in pairs} == {3, 4, 5, 6, 7}
    assert set(itertools.chain.from_iterable(pair.source for pair in pairs)) == set("0123456789ab")


def test_length_splits_test_longer_sources_never_seen_in_training() -> None:
    train, validation, test = length_splits(np.random.default_rng(0), 3000, 200, 500, (1, 10), (1, 20), alphabet=5)
    assert (len(train), len(validation), len(test)) == (3000, 200, 500)
    assert max(len(p.source) for p in train + validation) <= 10
    assert max(len(p.source) for p in test) == 20
    assert sum(len(p.source) > 10 for p in test) > 200  # about half the test is longer than training
    seen = {p.source for p in train}
    assert not any(p.source in seen for p in test + validation)
    assert all(p.target == p.source[::-1] for p in train + validation + test)


# ------------------------------------------------------------------------------------------------
# Dates


def test_every_date_source_denotes_its_iso_target_in_every_format_and_spelling() -> None:
    pairs = date_pairs(np.random.default_rng(0), 4000)
    formats, spellings = Counter(), Counter()
    for pair in pairs:
        assert len(pair.target) == 10 and pair.target[4] == pair.target[7] == "-"
        target = datetime.date.fromisoformat("".join(pair.target))  # a valid calendar date
        date, name, spelling = read_date(pair.source)
        assert date == target, str(pair)
        assert set(pair.source) <= set(DATE_SOURCE_WORDS)
        formats[name] += 1
        spellings[spelling] += 1
    assert set(formats) == set(DATE_FORMATS)
    assert min(formats.values()) > 600  # formats drawn uniformly: 800 each on average
    assert {"thousand", "thousand and", "hundreds", "oh"} <= set(spellings)
    years = [int("".join(p.target[:4])) for p in pairs]
    assert min(years) >= 1900 and max(years) <= 2099


def test_dates_get_leap_days_right() -> None:
    rng = np.random.default_rng(1)
    leap = {"".join(p.target) for p in date_pairs(rng, 4000, years=(2000, 2000))}
    assert "2000-02-29" in leap and len(leap) == 366
    common = date_pairs(rng, 4000, years=(1900, 1900))
    assert {"".join(p.target) for p in common} == {
        (datetime.date(1900, 1, 1) + datetime.timedelta(days=d)).isoformat() for d in range(365)}
    assert all(read_date(p.source)[0].year == 1900 for p in common)
    # the year in words at the edges of centuries
    sources = {" ".join(p.source) for p in date_pairs(rng, 3000, years=(1900, 1900), formats=["spoken"])}
    assert all(s.endswith("nineteen hundred") for s in sources)
    sources = {" ".join(p.source) for p in date_pairs(rng, 3000, years=(2000, 2000), formats=["spoken"])}
    assert all(s.endswith(" two thousand") for s in sources)


@pytest.mark.parametrize("name", DATE_FORMATS)
def test_formats_restricts_the_formats(name: str) -> None:
    pairs = date_pairs(np.random.default_rng(2), 300, formats=[name])
    assert {read_date(p.source)[1] for p in pairs} == {name}


def test_date_pairs_rejects_unknown_formats_and_years() -> None:
    with pytest.raises(ValueError):
        date_pairs(np.random.default_rng(0), 5, formats=["roman"])
    with pytest.raises(ValueError):
        date_pairs(np.random.default_rng(0), 5, years=(2000, 1999))


# ------------------------------------------------------------------------------------------------
# Splits


def test_split_by_identity_keeps_each_target_in_one_split_deterministically() -> None:
    pairs = date_pairs(np.random.default_rng(3), 3000, years=(2000, 2001))  # 731 dates: each one several times
    train, validation, test = split_by_identity(pairs, (0.8, 0.1, 0.1), seed=5)
    assert sorted(map(str, train + validation + test)) == sorted(map(str, pairs))
    targets = [{p.target for p in split} for split in (train, validation, test)]
    assert not (targets[0] & targets[1] or targets[0] & targets[2] or targets[1] & targets[2])
    assert abs(len(train) - 2400) < 50 and abs(len(validation) - 300) < 50
    assert split_by_identity(pairs, (0.8, 0.1, 0.1), seed=5) == (train, validation, test)
    assert split_by_identity(pairs, (0.8, 0.1, 0.1), seed=6) != (train, validation, test)


# ------------------------------------------------------------------------------------------------
# Batches


def test_pad_batch_is_time_first_and_padded_after_each_end() -> None:
    ids, lengths = pad_batch([[5, 6, 7], [8], [9, 10]])
    assert ids.dtype == lengths.dtype == torch.int64
    assert ids.tolist() == [[5, 8, 9], [6, PAD, 10], [7, PAD, PAD]]
    assert lengths.tolist() == [3, 1, 2]
    ids, _ = pad_batch([[5], [6, 7]], pad=-1)
    assert ids.tolist() == [[5, 6], [-1, 7]]


def test_encode_batch_places_bos_eos_and_pad(device: torch.device) -> None:
    source_vocab, target_vocab = Vocabulary("abc"), Vocabulary("xyz")
    pairs = [Pair(("a", "b", "c"), ("x",)), Pair(("c",), ("y", "z", "x"))]
    batch = encode_batch(pairs, source_vocab, target_vocab, device=device)
    assert isinstance(batch, Batch) and batch.size == 2
    assert batch.source.shape == (4, 2) and batch.target_in.shape == batch.target_out.shape == (4, 2)
    assert all(t.device.type == device.type and t.dtype == torch.int64
               for t in (batch.source, batch.source_lengths, batch.target_in, batch.target_out))
    batch = batch.to("cpu")
    assert batch.source.T.tolist() == [[4, 5, 6, EOS], [6, EOS, PAD, PAD]]
    assert batch.source_lengths.tolist() == [4, 2]
    assert batch.target_in.T.tolist() == [[BOS, 4, PAD, PAD], [BOS, 5, 6, 4]]
    assert batch.target_out.T.tolist() == [[4, EOS, PAD, PAD], [5, 6, 4, EOS]]
    assert [target_vocab.decode(column) for column in batch.target_out.T] == [list(p.target) for p in pairs]


def test_batches_never_end_reshuffle_each_epoch_and_repeat_for_a_seed() -> None:
    vocab = Vocabulary("0123456789")
    pairs = reversal_pairs(np.random.default_rng(0), 10, 1, 5)

    def first(seed: int, k: int) -> list[Batch]:
        return list(itertools.islice(batches(pairs, 4, vocab, vocab, np.random.default_rng(seed)), k))

    drawn = first(0, 30)  # 10 epochs of 4 + 4 + 2 pairs
    assert [b.size for b in drawn[:6]] == [4, 4, 2, 4, 4, 2]
    epochs = [sorted(tuple(vocab.decode(c)) for b in drawn[3 * e: 3 * e + 3] for c in b.source.T) for e in range(10)]
    assert all(epoch == sorted(p.source for p in pairs) for epoch in epochs)  # every pair once an epoch
    orders = {tuple(tuple(vocab.decode(c)) for b in drawn[3 * e: 3 * e + 3] for c in b.source.T) for e in range(10)}
    assert len(orders) > 1  # reshuffled
    again = first(0, 30)
    assert all(torch.equal(a.source, b.source) and torch.equal(a.target_out, b.target_out) for a, b in zip(drawn, again))
    other = first(1, 30)
    assert not all(torch.equal(a.source, b.source) for a, b in zip(drawn, other))


# ------------------------------------------------------------------------------------------------
# Tasks


@pytest.mark.parametrize("name", ["reversal", "dates"])
def test_make_task_is_reproducible_and_its_vocabularies_know_every_token(name: str) -> None:
    task = make_task(name, seed=7)
    assert task.name == name and task.train and task.validation and task.test
    for split in (task.train, task.validation, task.test):
        assert all(t in task.source_vocab for p in split for t in p.source)
        assert all(t in task.target_vocab for p in split for t in p.target)
    small = {"reversal": {"n_train": 300, "n_val": 20, "n_test": 30}, "dates": {"n": 400}}[name]
    assert make_task(name, seed=3, **small) == make_task(name, seed=3, **small)
    assert make_task(name, seed=3, **small) != make_task(name, seed=4, **small)


def test_make_task_sizes_and_vocabularies() -> None:
    reversal = make_task("reversal", n_train=500, n_val=50, n_test=60, alphabet=6)
    assert (len(reversal.train), len(reversal.validation), len(reversal.test)) == (500, 50, 60)
    assert reversal.source_vocab.tokens[4:] == list("012345") == reversal.target_vocab.tokens[4:]
    dates = make_task("dates", n=1000, formats=["numeric"])
    assert len(dates.train) + len(dates.validation) + len(dates.test) == 1000
    assert dates.source_vocab == make_task("dates", n=10).source_vocab  # the full word list, whatever was drawn
    assert "thirtieth" in dates.source_vocab and "dec" in dates.source_vocab
    assert dates.target_vocab.tokens[4:] == list("0123456789-")
    with pytest.raises(ValueError):
        make_task("french")
    with pytest.raises(TypeError):
        make_task("dates", n_train=5)
