"""Sequence to sequence with and without attention: accuracy against input length, beam against greedy.

Two generated tasks from :mod:`rnncourse.translation`:

- **reversal**: emit the source digits in reverse order. Trained on lengths 1–20, tested on lengths 1–30, so
  the test includes lengths the models never saw. Four ways to hand the source to the decoder (see
  :mod:`rnncourse.seq2seq`): the encoder's summary as the decoder's first state only (``initial``), also fed
  at every step (``every-step``), additive attention and multiplicative attention;
- **dates**: a date written out in words in one of several formats, to ``YYYY-MM-DD``; the year comes last in
  most sources and first in the target, so the alignment is not the identity. Test dates are never seen in
  training, in any format. Models: ``every-step`` and ``additive``.

Every model has the same size (embeddings 32, a bidirectional GRU encoder of 64 units per direction, a GRU
decoder of 64 units) and the same budget: ``steps`` Adam updates at one learning rate on batches of 64, the
gradient norm clipped to 1, teacher forcing throughout, all through :func:`rnncourse.train.train` on one CPU
thread. Each model is scored on the test set by greedy decoding (exact-sequence, token and length accuracy,
by source length, and the teacher-forced token accuracy), and then by beam search of width 5 with and
without the length penalty. The first seed's additive models also keep their attention weights on a few short test
examples, for the chapter's heatmaps.

Run: ``rnncourse experiment seq2seq [--tiny]`` (writes ``experiments/results/seq2seq.json``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from rnncourse.devices import seed_everything
from rnncourse.experiments import parser, write_results

NAME = "seq2seq"

#: model name -> (attention, feed_context)
MODELS: dict[str, tuple[str, bool]] = {
    "initial": ("none", False),
    "every-step": ("none", True),
    "additive": ("additive", True),
    "multiplicative": ("multiplicative", True),
}


@dataclass(frozen=True)
class Config:
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    max_norm: float = 1.0
    embedding_dim: int = 32
    hidden_size: int = 64
    beam_width: int = 5
    length_penalty: float = 1.0
    reversal: dict[str, Any] = field(default_factory=lambda: {
        "n_train": 20000, "n_val": 500, "n_test": 2000, "train_lengths": (1, 20), "test_lengths": (1, 30),
        "alphabet": 10})
    reversal_models: tuple[str, ...] = ("initial", "every-step", "additive", "multiplicative")
    dates: dict[str, Any] = field(default_factory=lambda: {"n": 30000})
    dates_models: tuple[str, ...] = ("every-step", "additive")
    examples: int = 4


TINY = Config(seeds=(0,), steps=15, reversal={"n_train": 300, "n_val": 20, "n_test": 60, "train_lengths": (1, 6),
                                               "test_lengths": (1, 8), "alphabet": 10},
              dates={"n": 400}, examples=2)


def _round(values: Any, digits: int = 4) -> Any:
    return np.round(np.asarray(values, dtype=float), digits).tolist()


def build_model(kind: str, task: Any, config: Config, device: str = "cpu") -> Any:
    from rnncourse.seq2seq import Seq2Seq

    attention, feed = MODELS[kind]
    return Seq2Seq(len(task.source_vocab), len(task.target_vocab), embedding_dim=config.embedding_dim,
                   hidden_size=config.hidden_size, attention=attention, feed_context=feed, device=device)


def attention_examples(model: Any, task: Any, count: int, lengths: tuple[int, int] = (1, 12)) -> list[dict[str, Any]]:
    """Source, decoded output and attention weights (to 2 decimals) of the first ``count`` test examples whose
    source length lies in ``lengths`` (short ones, so that a heatmap stays readable and the file small)."""
    from rnncourse.translation import encode_batch

    pairs = [pair for pair in task.test if lengths[0] <= len(pair.source) <= lengths[1]][:count]
    batch = encode_batch(pairs, task.source_vocab, task.target_vocab, device=model.device)
    decoded = model.greedy(batch.source, batch.source_lengths, batch.target_out.shape[0] + 3)
    out = []
    for b, pair in enumerate(pairs):
        n_out = int(decoded.lengths[b])
        n_in = len(pair.source) + 1  # with the source's EOS
        out.append({
            "source": list(pair.source) + ["<eos>"],
            "target": list(pair.target),
            "output": [task.target_vocab.tokens[i] for i in decoded.tokens[b, :n_out].tolist()],
            "weights": _round(decoded.weights[b, :n_out, :n_in].cpu(), 2),
        })
    return out


def run_model(task: Any, kind: str, seed: int, config: Config, device: str, progress: bool | None,
              keep_examples: bool) -> dict[str, Any]:
    from rnncourse.seq2seq import evaluate, train_seq2seq

    seed_everything(seed)
    model = build_model(kind, task, config, device)
    tick = time.perf_counter()
    history = train_seq2seq(model, task.train, task.source_vocab, task.target_vocab, steps=config.steps,
                            batch_size=config.batch_size, lr=config.lr, max_norm=config.max_norm, seed=seed,
                            progress=progress, desc=f"{task.name} {kind} seed {seed}")
    train_seconds = time.perf_counter() - tick
    greedy = evaluate(model, task.test, task.source_vocab, task.target_vocab)
    beams = {}
    for penalty in (0.0, config.length_penalty):
        tick_beam = time.perf_counter()
        result = evaluate(model, task.test, task.source_vocab, task.target_vocab, search="beam",
                          beam_width=config.beam_width, length_penalty=penalty)
        beams[f"{penalty:g}"] = {key: result[key] for key in
                                 ("sequence_accuracy", "token_accuracy", "length_accuracy")}
        beams[f"{penalty:g}"]["seconds"] = round(time.perf_counter() - tick_beam, 1)
    validation = evaluate(model, task.validation, task.source_vocab, task.target_vocab)
    losses = np.asarray(history.losses)
    window = max(1, len(losses) // 50)
    record: dict[str, Any] = {
        "model": kind,
        "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(train_seconds, 1),
        "diverged": history.diverged,
        "loss_curve": _round([losses[i:i + window].mean() for i in range(0, len(losses), window)]),
        "loss_every": window,
        "validation_sequence_accuracy": round(validation["sequence_accuracy"], 4),
        "greedy": {key: (round(value, 4) if isinstance(value, float) else value)
                   for key, value in greedy.items() if key != "by_length"},
        "by_length": {str(length): {"n": r["n"], "sequence_accuracy": round(r["sequence_accuracy"], 4),
                                    "token_accuracy": round(r["token_accuracy"], 4)}
                      for length, r in greedy["by_length"].items()},
        "beam": beams,
    }
    if keep_examples and kind == "additive":
        record["examples"] = attention_examples(model, task, config.examples if task.name == "dates" else 2,
                                                (1, 14) if task.name == "dates" else (8, 12))
    print(f"{task.name:8s} {kind:14s} seed {seed}: test exact {greedy['sequence_accuracy']:.3f} greedy, "
          f"{beams['0']['sequence_accuracy']:.3f} beam, {beams[f'{config.length_penalty:g}']['sequence_accuracy']:.3f}"
          f" beam+lp; token {greedy['token_accuracy']:.3f}; {train_seconds:.0f} s", flush=True)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    from rnncourse.translation import make_task

    p = parser(NAME, "Encoder-decoder networks with and without attention, on reversal and dates.")
    p.add_argument("--steps", type=int, help="training steps per model (default 1500; --tiny: 15)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1 2)")
    args: argparse.Namespace = p.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(1)
    config = TINY if args.tiny else Config()
    if args.steps:
        config = replace(config, steps=args.steps)
    if args.seeds:
        config = replace(config, seeds=tuple(args.seeds))
    tasks = {"reversal": (dict(config.reversal), config.reversal_models),
             "dates": (dict(config.dates), config.dates_models)}
    results: dict[str, Any] = {}
    for name, (sizes, kinds) in tasks.items():
        task = make_task(name, seed=0, **sizes)
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for seed in config.seeds:
            for kind in kinds:
                runs[kind].append(run_model(task, kind, seed, config, args.device, args.progress,
                                            keep_examples=seed == config.seeds[0]))
        train_lengths = sorted({len(pair.source) for pair in task.train})
        results[name] = {
            "sizes": {"train": len(task.train), "validation": len(task.validation), "test": len(task.test),
                      "source_vocabulary": len(task.source_vocab), "target_vocabulary": len(task.target_vocab)},
            "train_lengths": [train_lengths[0], train_lengths[-1]],
            "runs": runs,
        }
    config_record = asdict(config)
    write_results(NAME, args, {"config": config_record, "models": {k: list(v) for k, v in MODELS.items()},
                               "tasks": results}, started)
    return 0
