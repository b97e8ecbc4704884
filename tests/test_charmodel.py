"""The character-level language model of chapter 2: shapes, the factored cell's maths, sampling,
bits per character, n-gram baselines, stream batching, and the experiment and its committed results."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from rnncourse.charmodel import (
    ALPHABET,
    CharRNN,
    FactoredRNN,
    Vocabulary,
    bits_per_character,
    count_parameters,
    hello_corpus,
    ngram_bits_per_character,
    normalise_text,
    sample,
    stdlib_corpus,
    stream_batches,
)
from rnncourse.experiments import results_path
from rnncourse.experiments.char_model import main, matched_factor_size


def _model(cell: str, vocab_size: int = 7, hidden_size: int = 5, seed: int = 0, scale: float = 1.0) -> CharRNN:
    torch.manual_seed(seed)
    model = CharRNN(vocab_size, hidden_size, cell, dtype=torch.float64)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
    return model


def _constant_model(logits: list[float]) -> CharRNN:
    """A model whose prediction is softmax(logits) whatever it has read (V = 0, c = logits)."""
    model = _model("elman", vocab_size=len(logits), hidden_size=3)
    with torch.no_grad():
        model.output.weight.zero_()
        model.output.bias.copy_(torch.tensor(logits, dtype=torch.float64))
    return model


def _elman_by_hand(model: CharRNN, char: int, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the Elman equations from the raw parameters: (logits (K,), new h (H,))."""
    rnn = model.rnn
    h = torch.tanh(rnn.bias_ih_l0 + rnn.bias_hh_l0 + rnn.weight_hh_l0 @ h + rnn.weight_ih_l0[:, char])
    return model.output.bias + model.output.weight @ h, h


# --- models ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["elman", "factored"])
def test_forward_is_time_first_and_carries_the_state(cell):
    model = _model(cell)
    ids = torch.randint(0, 7, (6, 3))
    logits, h_n = model(ids)
    assert logits.shape == (6, 3, 7) and h_n.shape == (1, 3, 5)
    # axis 0 is time: changing the character at step 4 of sequence 1 changes only later steps of that sequence
    changed = ids.clone()
    changed[4, 1] = (ids[4, 1] + 1) % 7
    other, _ = model(changed)
    torch.testing.assert_close(other[:4], logits[:4])
    torch.testing.assert_close(other[:, [0, 2]], logits[:, [0, 2]])
    assert not torch.allclose(other[4:, 1], logits[4:, 1])
    # two windows with the state carried equal one long window
    first, h_mid = model(ids[:2])
    second, h_end = model(ids[2:], h_mid)
    torch.testing.assert_close(torch.cat([first, second]), logits)
    torch.testing.assert_close(h_end, h_n)
    with pytest.raises(ValueError):
        model(ids.float())
    with pytest.raises(ValueError):
        model(ids[:, 0])


def test_factored_cell_uses_the_per_character_transition_matrix():
    torch.manual_seed(1)
    vocab_size, hidden_size, factor_size = 4, 3, 5
    cell = FactoredRNN(vocab_size, hidden_size, factor_size, dtype=torch.float64)
    ids = torch.tensor([[0, 2], [3, 3], [1, 0], [2, 1]])
    x = torch.nn.functional.one_hot(ids, vocab_size).double()
    h_0 = torch.randn(1, 2, hidden_size, dtype=torch.float64)
    output, h_n = cell(x, h_0)

    def transition(x_vector):
        # W^(x) = sum_f (w_f . x) u_f v_f^T, one rank-one term per factor
        matrix = torch.zeros(hidden_size, hidden_size, dtype=torch.float64)
        for f in range(factor_size):
            gain = torch.dot(cell.weight_fx[f], x_vector)
            matrix += gain * torch.outer(cell.weight_hf[:, f], cell.weight_fh[f])
        return matrix

    with torch.no_grad():
        for b in range(2):
            h = h_0[0, b]
            for t in range(ids.shape[0]):
                char = int(ids[t, b])
                h = torch.tanh(cell.bias + transition(x[t, b]) @ h + cell.weight_ih[:, char])
                torch.testing.assert_close(output[t, b], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(h_n[0, b], h)
        # any input vector, not only one-hot ones
        x_vector = torch.randn(vocab_size, dtype=torch.float64)
        torch.testing.assert_close(cell.transition_matrix(x_vector), transition(x_vector))
        h = torch.randn(2, hidden_size, dtype=torch.float64)
        expected = torch.tanh(cell.bias + h @ transition(x_vector).T + x_vector @ cell.weight_ih.T)
        torch.testing.assert_close(cell.step(x_vector.expand(2, -1), h), expected)
    # different characters get different matrices
    assert not torch.allclose(transition(x[0, 0]), transition(x[0, 1]))


def test_factored_cell_gradients_pass_gradcheck():
    torch.manual_seed(2)
    cell = FactoredRNN(3, 2, 4, dtype=torch.float64)
    x = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda inputs: cell(inputs)[0], (x,))


def test_parameter_counts_can_be_matched():
    elman = CharRNN(96, 128)
    assert count_parameters(elman) == 96 * 128 + 128 * 128 + 2 * 128 + 128 * 96 + 96
    factor_size = matched_factor_size(96, 160, count_parameters(elman))
    factored = CharRNN(96, 160, "factored", factor_size=factor_size)
    assert abs(count_parameters(factored) - count_parameters(elman)) <= (2 * 160 + 96) / 2
    with pytest.raises(ValueError):
        CharRNN(5, 4, "lstm")


# --- sampling -------------------------------------------------------------------------------------


def test_temperature_zero_is_greedy_and_drawn_characters_are_fed_back():
    # h = tanh(5 onehot(x)) and V a cyclic shift: the most likely next character is the one after x
    vocab = Vocabulary("abcde")
    model = _model("elman", vocab_size=5, hidden_size=5)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.rnn.weight_ih_l0.copy_(5 * torch.eye(5, dtype=torch.float64))
        model.output.weight.copy_(3 * torch.roll(torch.eye(5, dtype=torch.float64), 1, dims=0))
    assert sample(model, vocab, "ca", 7, temperature=0.0) == "bcdeabc"
    # and greedy is the argmax of a general model, by hand
    model = _model("elman", vocab_size=5, hidden_size=6, scale=3.0, seed=9)  # a seed whose greedy text is not periodic
    burn_in, h = vocab.encode("dab"), torch.zeros(6, dtype=torch.float64)
    with torch.no_grad():
        for char in burn_in.tolist():
            logits, h = _elman_by_hand(model, char, h)
        expected = []
        for _ in range(12):
            char = int(torch.argmax(logits))
            expected.append(char)
            logits, h = _elman_by_hand(model, char, h)
    got = sample(model, vocab, "dab", 12, temperature=0.0)
    assert got == vocab.decode(expected) and len(set(got)) >= 3


def test_sampling_matches_a_hand_loop_that_feeds_back_each_draw():
    vocab = Vocabulary("abcdef")
    model = _model("elman", vocab_size=6, hidden_size=8, scale=3.0, seed=3)
    temperature = 0.8
    generator = torch.Generator().manual_seed(11)
    h = torch.zeros(8, dtype=torch.float64)
    expected = []
    with torch.no_grad():
        for char in vocab.encode("fed").tolist():
            logits, h = _elman_by_hand(model, char, h)
        for _ in range(40):
            char = int(torch.multinomial(torch.softmax(logits / temperature, dim=-1), 1, generator=generator))
            expected.append(char)
            logits, h = _elman_by_hand(model, char, h)
    got = sample(model, vocab, "fed", 40, temperature, generator=torch.Generator().manual_seed(11))
    assert got == vocab.decode(expected)
    with pytest.raises(ValueError):
        sample(model, vocab, "", 3)
    with pytest.raises(ValueError):
        sample(model, vocab, "a", 3, temperature=-1.0)


def test_low_temperature_concentrates_and_high_temperature_flattens():
    logits = [2.0, 1.0, 0.0, -1.0, -2.0]
    model, vocab = _constant_model(logits), Vocabulary("abcde")
    top_share, entropy = [], []
    for temperature in (0.25, 1.0, 4.0):
        text = sample(model, vocab, "a", 3000, temperature, generator=torch.Generator().manual_seed(0))
        counts = torch.tensor([text.count(char) for char in vocab.chars], dtype=torch.float64)
        frequencies = counts / counts.sum()
        expected = torch.softmax(torch.tensor(logits, dtype=torch.float64) / temperature, dim=0)
        assert 0.5 * float((frequencies - expected).abs().sum()) < 0.03, (temperature, frequencies, expected)
        top_share.append(float(frequencies[0]))
        entropy.append(float(-(frequencies[frequencies > 0] * frequencies[frequencies > 0].log2()).sum()))
    assert top_share[0] > 0.9 > top_share[1] > top_share[2] > 0.2
    assert entropy[0] < entropy[1] < entropy[2] < math.log2(5)


# --- evaluation and baselines ----------------------------------------------------------------------


@pytest.mark.parametrize("streams", [1, 3])
def test_a_uniform_model_scores_log2_k_bits(streams):
    model = _constant_model([0.0] * 11)
    ids = torch.randint(0, 11, (101,))
    assert bits_per_character(model, ids, window=7, streams=streams) == pytest.approx(math.log2(11), abs=1e-12)


def test_bits_per_character_carries_the_state_across_windows():
    model = _model("factored", vocab_size=6, hidden_size=4, scale=2.0)
    ids = torch.randint(0, 6, (50,))
    with torch.no_grad():
        logits, _ = model(ids[:-1].unsqueeze(1))
        nats = torch.nn.functional.cross_entropy(logits[:, 0], ids[1:], reduction="sum")
    expected = float(nats) / 49 / math.log(2)
    assert bits_per_character(model, ids, window=6) == pytest.approx(expected, rel=1e-12)
    # with two streams, each half of the predictions starts again from the zero state
    split = 25  # ceil(49 / 2)
    halves = bits_per_character(model, ids[: split + 1]) * split + bits_per_character(model, ids[split:]) * (49 - split)
    assert bits_per_character(model, ids, window=6, streams=2) == pytest.approx(halves / 49, rel=1e-12)
    assert bits_per_character(model, ids, window=6, streams=2) != pytest.approx(expected, rel=1e-9)


def test_ngram_baselines_equal_hand_computations():
    vocab = Vocabulary("abc")
    train, test = vocab.encode("abba"), vocab.encode("abc")
    # unigram, add-one: P(b) = (2+1)/(4+3), P(c) = (0+1)/(4+3); the first test character is not scored
    unigram = -(math.log2(3 / 7) + math.log2(1 / 7)) / 2
    assert ngram_bits_per_character(train, test, 3, order=1) == pytest.approx(unigram)
    # bigram, add-one: P(b|a) = (1+1)/(1+3), P(c|b) = (0+1)/(2+3)
    assert ngram_bits_per_character(train, test, 3, order=2) == pytest.approx((1 + math.log2(5)) / 2)
    # add-one-half: P(b|a) = 1.5/2.5, P(c|b) = 0.5/3.5
    half = -(math.log2(1.5 / 2.5) + math.log2(0.5 / 3.5)) / 2
    assert ngram_bits_per_character(train, test, 3, order=2, alpha=0.5) == pytest.approx(half)
    # trigram: P(b | start, a) = (1+1)/(1+3), P(c | a, b) = (0+1)/(1+3)
    assert ngram_bits_per_character(train.tolist(), test.tolist(), 3, order=3) == pytest.approx(1.5)
    with pytest.raises(ValueError):
        ngram_bits_per_character(train, test, 3, order=0)


# --- data -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [5, 7])
def test_stream_batches_are_contiguous_across_steps(window):
    ids = torch.randperm(1000)[:103]  # distinct values, so positions can be read back
    batches = list(stream_batches(ids, batch_size=4, window=window))
    length = 102 // 4
    assert len(batches) == math.ceil(length / window)
    inputs = torch.cat([x for x, _ in batches])
    targets = torch.cat([y for _, y in batches])
    assert inputs.shape == targets.shape == (length, 4)
    for b in range(4):
        torch.testing.assert_close(inputs[:, b], ids[b * length : (b + 1) * length])
        torch.testing.assert_close(targets[:, b], ids[b * length + 1 : (b + 1) * length + 1])
    for (x, _), (x_next, _) in itertools.pairwise(batches):
        positions = [int((ids == value).nonzero()) for value in x[-1]]
        assert [int((ids == value).nonzero()) for value in x_next[0]] == [p + 1 for p in positions]
    assert len(list(stream_batches(ids, 4, window, epochs=3))) == 3 * len(batches)
    endless = stream_batches(ids, 4, window, epochs=None)
    assert sum(1 for _ in zip(range(10 * len(batches)), endless)) == 10 * len(batches)


def test_vocabulary_round_trip_and_unknown_characters():
    vocab = Vocabulary.from_text(hello_corpus())
    assert vocab.chars == "ehlo" and len(vocab) == 4 and "h" in vocab
    assert vocab.decode(vocab.encode("hello")) == "hello"
    assert vocab.encode("oleh").tolist() == [3, 2, 0, 1]
    with pytest.raises(KeyError):
        vocab.encode("help")


def test_corpus_is_deterministic_restricted_and_split_by_document():
    assert normalise_text("caf\u00e9\tbar  \n\n\n\nend\u2028") == "cafe    bar\n\nend"
    modules = ("textwrap", "heapq", "bisect", "shlex", "glob", "no_such_module_here")
    first, second = stdlib_corpus(modules), stdlib_corpus(modules)
    assert first == second and first.sha256 == second.sha256
    assert first.missing == ("no_such_module_here",) and "textwrap" in first.modules
    text = first.train + first.validation + first.test
    assert set(text) <= set(ALPHABET) and len(first.train) > 5000
    assert "TextWrapper" in text
    everything = stdlib_corpus(modules, validation=0.0, test=0.0)
    assert everything.validation == everything.test == ""
    assert len(everything.train) == sum(first.sizes().values()) + 2 * (first.validation != "") + 2 * (first.test != "")


# --- the experiment -------------------------------------------------------------------------------


def test_tiny_experiment_runs_and_writes_every_key(tmp_path):
    out = tmp_path / "x.json"
    assert main(["--tiny", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True and results["experiment"] == "char-model"
    for key in ("config", "corpus", "hello", "baselines", "models", "parameters_matched", "best_model", "samples"):
        assert key in results, key
    assert set(results["baselines"]) == {"unigram", "bigram", "trigram"}
    assert set(results["models"]) == {"elman", "factored"}
    for model in results["models"].values():
        for key in (
            "parameters",
            "validation_bpc",
            "test_bpc",
            "train_seconds",
            "learning_curve",
            "test_bits_saved_over_bigram",
        ):
            assert key in model, key
        assert model["steps"] == results["config"]["steps"]
        assert len(model["learning_curve"]["validation_bpc"]) == len(model["learning_curve"]["step"]) >= 1
    texts = results["samples"]["by_temperature"]
    assert len(texts) == len(results["config"]["temperatures"])
    assert all(len(text) == results["config"]["sample_length"] for text in texts.values())
    assert results["hello"]["greedy_from_h"].startswith("h") and len(results["hello"]["greedy_from_h"]) == 5


def test_committed_results_are_a_full_run_that_beats_the_bigram_baseline():
    path = results_path("char-model")
    assert path.is_file(), f"{path} is missing: run `rnncourse experiment char-model`"
    results = json.loads(path.read_text())
    assert results["tiny"] is False
    assert results["corpus"]["characters"]["train"] > 200_000 and results["corpus"]["characters"]["test"] > 10_000
    assert path.stat().st_size < 60_000
    bigram = results["baselines"]["bigram"]["test_bpc"]
    assert results["baselines"]["unigram"]["test_bpc"] > bigram
    elman, factored = results["models"]["elman"], results["models"]["factored"]
    for model in (elman, factored):
        assert not model["diverged"] and model["steps"] == results["config"]["steps"] >= 1000
        assert model["test_bpc"] < bigram - 0.5
        assert model["learning_curve"]["validation_bpc"][-1] < model["learning_curve"]["validation_bpc"][0]
    assert abs(elman["parameters"] - factored["parameters"]) < 0.02 * elman["parameters"]
    assert results["best_model"] == min(results["models"], key=lambda name: results["models"][name]["validation_bpc"])
    assert results["hello"]["learned"] and results["hello"]["greedy_from_h"] == "hello"
    samples = results["samples"]["by_temperature"]
    assert all(len(text) == results["samples"]["length"] for text in samples.values())
