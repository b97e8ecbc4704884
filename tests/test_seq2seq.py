"""rnncourse.seq2seq: attention against its equations in float64, padding that changes nothing, the encoder
against torch.nn.GRU, greedy and beam search against exhaustive search, scheduled sampling, the metrics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from rnncourse.seq2seq import (
    AdditiveAttention,
    Encoder,
    MultiplicativeAttention,
    Seq2Seq,
    evaluate,
    length_mask,
    masked_softmax,
    sequence_accuracy,
    token_accuracy,
    train_seq2seq,
)
from rnncourse.translation import BOS, EOS, PAD, Pair, encode_batch, make_task

F64 = torch.float64


def _model(attention="additive", feed_context=True, K=7, D=9, device="cpu", seed=0, **kw):
    torch.manual_seed(seed)
    model = Seq2Seq(D, K, embedding_dim=5, hidden_size=6, attention=attention, feed_context=feed_context,
                    device=device, dtype=F64, **kw)
    with torch.no_grad():  # larger weights than the default, so that decoding choices are not near-ties
        for p in model.parameters():
            p.mul_(2.5)
    return model.eval()


def _source(rng, B, T_x, D, device="cpu"):
    lengths = rng.integers(1, T_x + 1, size=B)
    lengths[0] = T_x
    source = np.zeros((T_x, B), dtype=np.int64)
    for b, n in enumerate(lengths):
        source[:n, b] = rng.integers(4, D, size=n)
    return torch.tensor(source, device=device), torch.tensor(lengths, device=device)


def test_masked_softmax_matches_softmax_on_the_unmasked_positions():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(5, 8, generator=g, dtype=F64) * 30
    scores[2] += 1000.0
    mask = length_mask(torch.tensor([8, 3, 5, 1, 0]), 8)
    mask[0, 4] = False  # a hole in the middle
    alpha = masked_softmax(scores, mask)
    for b in range(4):
        expected = torch.softmax(scores[b][mask[b]], dim=0)
        torch.testing.assert_close(alpha[b][mask[b]], expected, rtol=1e-13, atol=0)
        assert torch.all(alpha[b][~mask[b]] == 0)
    assert torch.all(alpha[4] == 0)  # no real token: zero weights, not NaN


def test_masked_softmax_gradients_stay_finite_on_a_fully_padded_row():
    scores = torch.randn(3, 4, dtype=F64, requires_grad=True)
    mask = torch.tensor([[True, True, False, False], [False] * 4, [True] * 4])
    (masked_softmax(scores, mask) * torch.randn(3, 4, dtype=F64)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.all(scores.grad[1] == 0) and torch.all(scores.grad[0, 2:] == 0)


def test_additive_and_multiplicative_scores_follow_their_equations():
    torch.manual_seed(1)
    B, T_x, H_d, H_e, A = 3, 4, 5, 6, 7
    s, keys = torch.randn(B, H_d, dtype=F64), torch.randn(T_x, B, H_e, dtype=F64)
    additive = AdditiveAttention(H_d, H_e, A, dtype=F64)
    W_a, U_a, w_a = (additive.W_a.weight.detach(), additive.U_a.weight.detach(), additive.w_a.weight[0].detach())
    expected = torch.tensor([[float(w_a @ torch.tanh(W_a @ s[b] + U_a @ keys[j, b])) for j in range(T_x)]
                             for b in range(B)], dtype=F64)
    torch.testing.assert_close(additive.scores(s, keys), expected, rtol=1e-13, atol=1e-14)
    multiplicative = MultiplicativeAttention(H_d, H_e, dtype=F64)
    M_a = multiplicative.M_a.detach()
    expected = torch.tensor([[float(s[b] @ M_a @ keys[j, b]) for j in range(T_x)] for b in range(B)], dtype=F64)
    torch.testing.assert_close(multiplicative.scores(s, keys), expected, rtol=1e-13, atol=1e-14)
    mask = length_mask(torch.tensor([4, 2, 1]), T_x)
    context, alpha = additive(s, keys, mask)
    torch.testing.assert_close(context, torch.stack([alpha[b] @ keys[:, b] for b in range(B)]), rtol=1e-13, atol=0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_encoder_matches_torch_nn_run_on_each_unpadded_sequence(cell):
    rng = np.random.default_rng(2)
    torch.manual_seed(2)
    encoder = Encoder(9, 5, 6, bidirectional=True, cell=cell, dtype=F64)
    reference = (nn.GRU if cell == "gru" else nn.LSTM)(5, 6, bidirectional=True, dtype=F64)
    reference.load_state_dict(encoder.rnn.state_dict())
    source, lengths = _source(rng, 4, 7, 9)
    states, summary = encoder(source, lengths)
    for b, n in enumerate(lengths.tolist()):
        out, final = reference(encoder.embedding(source[:n, b]))
        h_n = final[0] if cell == "lstm" else final
        torch.testing.assert_close(states[:n, b], out, rtol=1e-12, atol=1e-13)
        assert torch.all(states[n:, b] == 0)
        torch.testing.assert_close(summary[b], torch.cat([h_n[0], h_n[1]]), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("attention,feed", [("additive", True), ("multiplicative", True), ("none", True),
                                            ("none", False)])
def test_padding_changes_no_example(attention, feed, device):
    """Each example's logits are the same alone as inside a padded batch with longer neighbours."""
    rng = np.random.default_rng(3)
    model = _model(attention, feed, device=device)
    source, lengths = _source(rng, 5, 6, 9, device)
    target_in = torch.tensor(rng.integers(3, 7, size=(4, 5)), device=device)
    target_in[0] = BOS
    logits, weights = model(source, lengths, target_in)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_weights = model(source[:n, b:b + 1], lengths[b:b + 1], target_in[:, b:b + 1])
        torch.testing.assert_close(logits[:, b], alone[:, 0], rtol=1e-11, atol=1e-12)
        if weights is not None:
            torch.testing.assert_close(weights[:, b, :n], alone_weights[:, 0], rtol=1e-11, atol=1e-12)
            assert torch.all(weights[:, b, n:] == 0)
            torch.testing.assert_close(weights[:, b].sum(-1), torch.ones(4, dtype=F64, device=device))


def _greedy_one_by_one(model, source, lengths, max_length):
    rows = []
    for b, n in enumerate(lengths.tolist()):
        memory = model.encode(source[:n, b:b + 1], lengths[b:b + 1])
        s = model.decoder.initial_state(memory)
        y, row = torch.tensor([BOS]), []
        while len(row) < max_length:
            o, s, _ = model.decoder.step(y, s, memory)
            y = o.argmax(-1)
            row.append(int(y))
            if row[-1] == EOS:
                break
        rows.append(row + [PAD] * (max_length - len(row)))
    return torch.tensor(rows)


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_batched_greedy_equals_decoding_each_example_alone(attention):
    rng = np.random.default_rng(4)
    model = _model(attention, K=5)
    source, lengths = _source(rng, 6, 5, 9)
    decoded = model.greedy(source, lengths, max_length=6)
    expected = _greedy_one_by_one(model, source, lengths, 6)
    assert torch.equal(decoded.tokens, expected)
    for row, length in zip(expected.tolist(), decoded.lengths.tolist()):
        assert length == (row.index(EOS) + 1 if EOS in row else 6)


@torch.no_grad()
def _log_prob(model, source, lengths, b, sequence):
    """log p(sequence) for example b: the sum of its tokens' log-probabilities, stopping after EOS."""
    memory = model.encode(source[:, b:b + 1], lengths[b:b + 1])
    s = model.decoder.initial_state(memory)
    y, total = torch.tensor([BOS]), 0.0
    for token in sequence:
        o, s, _ = model.decoder.step(y, s, memory)
        total += float(torch.log_softmax(o, -1)[0, token])
        if token == EOS:
            break
        y = torch.tensor([token])
    return total


def test_beam_search_of_width_one_is_greedy():
    rng = np.random.default_rng(5)
    model = _model("additive", K=6)
    source, lengths = _source(rng, 8, 6, 9)
    greedy = model.greedy(source, lengths, 7)
    beam = model.beam_search(source, lengths, 7, beam_width=1)
    assert torch.equal(greedy.tokens, beam.tokens)
    assert torch.equal(greedy.lengths, beam.lengths)
    torch.testing.assert_close(greedy.log_probs, beam.log_probs)
    torch.testing.assert_close(greedy.weights, beam.weights)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_a_beam_as_wide_as_every_output_finds_the_best_one(length_penalty):
    """With a beam at least as wide as the number of possible outputs nothing is pruned, so beam search
    returns the exact best output under its own score (checked against scoring every output)."""
    rng = np.random.default_rng(6)
    K, L = 6, 3  # every token may be emitted, the specials too: the search treats them like any other
    model = _model("additive", K=K)
    source, lengths = _source(rng, 4, 4, 9)
    decoded = model.beam_search(source, lengths, L, beam_width=K ** L, length_penalty=length_penalty)
    for b in range(4):
        best, best_score = None, -math.inf
        for sequence in itertools.product(range(K), repeat=L):
            sequence = list(sequence)
            if EOS in sequence:
                sequence = sequence[: sequence.index(EOS) + 1]
            n = len(sequence)
            score = _log_prob(model, source, lengths, b, sequence) / ((5 + n) / 6) ** length_penalty
            if score > best_score + 1e-12:
                best, best_score = sequence, score
        row = decoded.tokens[b].tolist()
        assert row[: len(best)] == best, (b, row, best)
        assert math.isclose(float(decoded.log_probs[b]) / ((5 + len(best)) / 6) ** length_penalty, best_score,
                            rel_tol=1e-9)


def test_beam_search_outscores_greedy_on_average():
    rng = np.random.default_rng(7)
    model = _model("additive", K=7)
    source, lengths = _source(rng, 40, 6, 9)
    greedy = model.greedy(source, lengths, 8)
    beam = model.beam_search(source, lengths, 8, beam_width=4)
    assert float(beam.log_probs.mean()) > float(greedy.log_probs.mean())
    assert (beam.log_probs >= greedy.log_probs - 1e-9).float().mean() > 0.8


def test_scheduled_sampling_at_probability_one_follows_the_greedy_path():
    rng = np.random.default_rng(8)
    model = _model("additive", K=6)
    source, lengths = _source(rng, 5, 5, 9)
    greedy = model.greedy(source, lengths, 6)
    target_in = torch.full((6, 5), 4)
    target_in[0] = BOS
    logits, _ = model(source, lengths, target_in, sampling_probability=1.0)
    own = logits.argmax(-1).T
    for b, n in enumerate(greedy.lengths.tolist()):
        assert torch.equal(own[b, :n], greedy.tokens[b, :n])
    forced, _ = model(source, lengths, target_in, sampling_probability=0.0)
    again, _ = model(source, lengths, target_in)
    assert torch.equal(forced, again)


def test_accuracy_metrics_on_handmade_rows():
    target_out = torch.tensor([[5, 6, 7], [6, 5, EOS], [EOS, EOS, PAD], [PAD, PAD, PAD]])  # (T_y=4, B=3)
    tokens = torch.tensor([[5, 6, EOS, PAD], [6, 5, 5, EOS], [7, 5, EOS, PAD]])  # (B=3, L=4)
    assert sequence_accuracy(tokens, target_out).tolist() == [True, False, False]
    assert token_accuracy(tokens, target_out) == (3 + 2 + 1, 3 + 3 + 2)


def test_training_learns_reversal_and_evaluate_agrees_with_greedy():
    task = make_task("reversal", seed=0, n_train=2000, n_val=100, n_test=100, train_lengths=(1, 5),
                     test_lengths=(1, 5), alphabet=4)
    torch.manual_seed(0)
    model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), embedding_dim=16, hidden_size=32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: more threads only contend on a shared machine
    try:
        history = train_seq2seq(model, task.train, task.source_vocab, task.target_vocab, steps=150, batch_size=32,
                                lr=1e-2, progress=False)
    finally:
        torch.set_num_threads(threads)
    assert np.mean(history.losses[-20:]) < 0.3 * np.mean(history.losses[:5])
    result = evaluate(model, task.test, task.source_vocab, task.target_vocab)
    assert result["sequence_accuracy"] > 0.8
    batch = encode_batch(task.test, task.source_vocab, task.target_vocab)
    decoded = model.greedy(batch.source, batch.source_lengths, batch.target_out.shape[0] + 5)
    assert result["sequence_accuracy"] == pytest.approx(float(sequence_accuracy(decoded.tokens, batch.target_out)
                                                               .float().mean()))
    assert sum(r["n"] for r in result["by_length"].values()) == len(task.test)
    beam = evaluate(model, task.test, task.source_vocab, task.target_vocab, search="beam", beam_width=3)
    assert beam["n"] == result["n"] and 0 <= beam["sequence_accuracy"] <= 1


def test_pairs_with_unknown_tokens_still_decode():
    task = make_task("reversal", seed=1, n_train=50, n_val=10, n_test=10, train_lengths=(1, 4),
                     test_lengths=(1, 4), alphabet=4)
    model = _model("additive", K=len(task.target_vocab), D=len(task.source_vocab))
    pair = Pair(source=("never-seen", task.train[0].source[0]), target=("never-seen",))
    result = evaluate(model.float(), [pair], task.source_vocab, task.target_vocab)
    assert result["n"] == 1


def test_the_experiment_runs_tiny_and_writes_the_keys_of_the_committed_run(tmp_path):
    import json

    from _notebooks import ROOT

    from rnncourse import cli
    from rnncourse.experiments import load_results

    out = tmp_path / "seq2seq.json"
    assert cli.main(["experiment", "seq2seq", "--tiny", "--out", str(out), "--no-progress"]) == 0
    tiny = json.loads(out.read_text())
    committed = load_results("seq2seq", ROOT)
    assert set(tiny) == set(committed) and set(tiny["tasks"]) == set(committed["tasks"]) == {"reversal", "dates"}
    for name, task in committed["tasks"].items():
        assert set(task["runs"]) == set(tiny["tasks"][name]["runs"])
        for runs in task["runs"].values():
            assert len(runs) == len(committed["config"]["seeds"])
            assert set(runs[0]) >= set(tiny["tasks"][name]["runs"][next(iter(task["runs"]))][0]) - {"examples"}
            assert all(not run["diverged"] for run in runs)
    # the heatmaps' examples: weights are distributions over the source (rows sum to 1 up to rounding)
    for example in committed["tasks"]["dates"]["runs"]["additive"][0]["examples"]:
        weights = np.array(example["weights"])
        assert weights.shape == (len(example["output"]), len(example["source"]))
        assert np.allclose(weights.sum(1), 1.0, atol=0.03)


def _exercise_params(decoder) -> dict[str, np.ndarray]:
    """The library decoder's weights in exercise 5's dictionary (NumPy, float64)."""
    attention = decoder.attention
    as_numpy = {"E": decoder.embedding.weight, "weight_ih": decoder.cell.weight_ih, "weight_hh": decoder.cell.weight_hh,
                "bias_ih": decoder.cell.bias_ih, "bias_hh": decoder.cell.bias_hh, "W_a": attention.W_a.weight,
                "U_a": attention.U_a.weight, "w_a": attention.w_a.weight[0], "V": decoder.out.weight,
                "c": decoder.out.bias}
    return {key: value.detach().numpy().copy() for key, value in as_numpy.items()}


def test_exercise_5_computes_the_library_decoder_step_and_greedy_decoding():
    """Exercise 5's references (NumPy) and rnncourse.seq2seq (torch) are the same model: one decoder step and
    whole greedy decodings agree, so what students build is what the chapter trains."""
    from rnncourse.checks import ex05

    rng = np.random.default_rng(9)
    model = _model("additive", K=8)
    source, lengths = _source(rng, 5, 6, 9)
    with torch.no_grad():
        memory = model.encode(source, lengths)
        s0 = model.decoder.initial_state(memory)
        y_prev = torch.tensor(rng.integers(0, 8, size=5))
        logits, s, alpha = model.decoder.step(y_prev, s0, memory)
    params = _exercise_params(model.decoder)
    enc, mask = memory.states.numpy(), memory.mask.numpy()
    o_ref, s_ref, alpha_ref = ex05.reference_decoder_step(y_prev.numpy(), s0.numpy(), enc, mask, params)
    np.testing.assert_allclose(o_ref, logits.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(s_ref, s.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(alpha_ref, alpha.numpy(), rtol=1e-12, atol=1e-14)
    multiplicative = MultiplicativeAttention(6, 12, dtype=F64)
    with torch.no_grad():
        expected = multiplicative.scores(s0, memory.states).numpy()
    np.testing.assert_allclose(ex05.reference_multiplicative_scores(s0.numpy(), enc, multiplicative.M_a.detach().numpy()),
                               expected, rtol=1e-12, atol=1e-13)
    decoded = model.greedy(source, lengths, max_length=7)
    tokens = ex05.reference_greedy_decode(enc, mask, s0.numpy(), params, 7, BOS, EOS)
    np.testing.assert_array_equal(tokens, decoded.tokens.numpy())
