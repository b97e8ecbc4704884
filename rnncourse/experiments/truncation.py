"""What truncated BPTT can and cannot learn: recall a bit ``lag`` steps back with a window of ``window`` steps.

An Elman network (16 tanh units, one logistic output) reads an endless stream of random bits and must
output, at every step, the bit it read ``lag`` steps earlier (:func:`rnncourse.sequences.lagged_bit_stream`).
It is trained with :func:`rnncourse.train.train` and ``stateful=True``: the stream is cut into chunks
of ``window`` steps, the state is carried from chunk to chunk for ever, but the gradient flows back
only within a chunk. The loss at position ``j`` of a chunk reaches the input it needs only when
``j >= lag``, so

- a lag shorter than the window is learned: some positions see the bit they must recall, and the
  gradient teaches the network to store it;
- a lag as long as the window or longer is not learned reliably: the state at the start of a chunk
  does hold what came before, but no gradient ever tells the network to put the right bit there.

Two effects blur that line, and the results record both (accuracy at checkpoints during training,
not only at the end). The untrained dynamics keep a fading echo of recent inputs (chapter 4's echo
states) that the read-out can use, so a lag just past the window can beat chance for a while;
nothing keeps the echo in shape and it fades as training goes on. And with a window of a single step
(how Elman trained his networks: the previous state is one more input) the weights that read the
previous state are the ones that wrote it, so a memory of a few steps can grow by itself; it does
so unevenly across seeds and unstably over training.

The networks are scored on fresh streams much longer than the window, with the state carried; one
network is also run on a 50,000-step stream to show that the carried state does not wear out.

Run: ``rnncourse experiment truncation [--tiny]`` (writes ``experiments/results/truncation.json``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnncourse.devices import seed_everything
from rnncourse.experiments import parser, write_results
from rnncourse.recurrent import ElmanRNN
from rnncourse.sequences import lagged_bit_stream
from rnncourse.train import TrainingHistory, train

NAME = "truncation"

FULL = {"windows": [1, 2, 4, 8, 16], "lags": [1, 2, 3, 4, 6, 8, 12], "seeds": 3, "steps": 1000,
        "checkpoints": [25, 50, 100, 250, 500], "check_length": 500, "eval_length": 2000,
        "long_stream": {"window": 4, "lag": 3, "length": 50_000, "block": 5_000}}
TINY = {"windows": [2, 4], "lags": [1, 4], "seeds": 1, "steps": 40,
        "checkpoints": [10, 20], "check_length": 200, "eval_length": 400,
        "long_stream": {"window": 2, "lag": 1, "length": 2_000, "block": 500}}


class Recaller(nn.Module):
    r"""An Elman network with a logistic output unit for 0/1 targets at every step.

    .. math::

        h^{(t)} = \tanh\big(b + W h^{(t-1)} + U x^{(t)}\big), \qquad o^{(t)} = c + V h^{(t)}, \qquad
        \hat y^{(t)} = \sigma\big(o^{(t)}\big).

    Inputs: ``x`` ``(T, B, 1)`` (bits coded -1/+1) and a state ``h`` ``(1, B, H)`` or ``None``.
    Outputs: ``(o, h_n)``: the scores ``(T, B)`` and the last state ``(1, B, H)``, to carry on.
    """

    def __init__(self, hidden_size: int, device: torch.device | str | None = None) -> None:
        super().__init__()
        self.rnn = ElmanRNN(1, hidden_size, device=device)
        self.readout = nn.Linear(hidden_size, 1, device=device)

    def forward(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        states, h_n = self.rnn(x, h)
        return self.readout(states).squeeze(-1), h_n


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor]:
    """Bits ``(N, B)`` as network inputs ``(N, B, 1)`` coded -1/+1, and float targets ``(N, B)``."""
    return torch.from_numpy(2.0 * x[..., None] - 1.0).float(), torch.from_numpy(y).float()


@torch.no_grad()
def stream_accuracy(model: Recaller, x: Tensor, y: Tensor, lag: int, block: int | None = None) -> float | list[float]:
    """Accuracy on a whole stream, run in one pass from a zero state; the first ``lag`` steps
    (whose targets came before the stream) are skipped. With ``block``, one accuracy per block."""
    model.eval()
    device = next(model.parameters()).device
    o, _ = model(x.to(device))
    correct = ((o > 0).float() == y.to(device)).float().cpu()
    model.train()
    if block is None:
        return float(correct[lag:].mean())
    return [float(correct[max(start, lag): start + block].mean()) for start in range(0, len(correct), block)]


def train_one(window: int, lag: int, seed: int, config: dict[str, Any], device: str,
              progress: bool | None) -> tuple[Recaller, dict[str, Any]]:
    """Train on one stream with truncation window ``window``; score on a fresh stream."""
    rng = seed_everything(seed)
    model = Recaller(config["hidden_size"], device=device)
    x, y = _tensors(*lagged_bit_stream(config["steps"] * window, lag, rng, config["batch_size"]))

    def batches(step: int) -> tuple[Tensor, Tensor]:
        return x[step * window: (step + 1) * window], y[step * window: (step + 1) * window]

    def loss_fn(batch: tuple[Tensor, Tensor], state: Tensor | None) -> tuple[Tensor, Tensor]:
        inputs, targets = batch
        o, state = model(inputs, state)
        return nn.functional.binary_cross_entropy_with_logits(o, targets), state

    # a shorter stream to follow the accuracy during training
    check_x, check_y = _tensors(*lagged_bit_stream(config["check_length"], lag, np.random.default_rng([seed, lag, 3]),
                                                   config["batch_size"]))
    during: list[float] = []

    def callback(step: int, history: TrainingHistory) -> None:
        if step + 1 in config["checkpoints"]:
            during.append(round(float(stream_accuracy(model, check_x, check_y, lag)), 5))

    history = train(model, loss_fn, batches, steps=config["steps"], lr=config["lr"], max_norm=config["max_norm"],
                    stateful=True, device=device, progress=progress, desc=f"window {window}, lag {lag}",
                    callback=callback)
    test_x, test_y = _tensors(*lagged_bit_stream(config["eval_length"], lag, np.random.default_rng([seed, lag, 1]),
                                                 config["batch_size"]))
    record = {
        "window": window,
        "lag": lag,
        "seed": seed,
        "final_loss": round(float(np.mean(history.losses[-100:])), 5),
        "diverged": history.diverged,
        "accuracy": round(float(stream_accuracy(model, test_x, test_y, lag)), 5),
        "accuracy_during": during,
    }
    return model, record


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, help="seeds per cell of the grid (default 3; tiny 1)")
    args = p.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(1)
    config: dict[str, Any] = dict(TINY if args.tiny else FULL)
    config.update(hidden_size=16, batch_size=32, lr=0.01, max_norm=1.0, learned_threshold=0.95)
    if args.seeds is not None:
        config["seeds"] = args.seeds
    windows, lags, seeds = config["windows"], config["lags"], range(config["seeds"])
    long = config["long_stream"]

    runs, long_model = [], None
    for window in windows:
        for lag in lags:
            for seed in seeds:
                model, record = train_one(window, lag, seed, config, args.device, args.progress)
                runs.append(record)
                if (window, lag, seed) == (long["window"], long["lag"], 0):
                    long_model = model
            scores = [r["accuracy"] for r in runs[-len(seeds):]]
            print(f"window {window:2d}, lag {lag:2d}: accuracy {np.mean(scores):.3f} (min {min(scores):.3f})", flush=True)

    def grid(reduce: Any) -> list[list[float]]:
        return [[round(float(reduce([r["accuracy"] for r in runs if r["window"] == w and r["lag"] == d])), 5)
                 for d in lags] for w in windows]

    mean, worst = grid(np.mean), grid(np.min)
    assert long_model is not None
    long_x, long_y = _tensors(*lagged_bit_stream(long["length"], long["lag"], np.random.default_rng([0, long["lag"], 2]), 8))
    results = {
        "config": config,
        "chance": 0.5,
        "windows": windows,
        "lags": lags,
        "accuracy": mean,
        "accuracy_min": worst,
        "peak_accuracy": [[round(float(np.mean([max(r["accuracy_during"] + [r["accuracy"]]) for r in runs
                                                 if r["window"] == w and r["lag"] == d])), 5) for d in lags] for w in windows],
        "learned": [[a >= config["learned_threshold"] for a in row] for row in worst],
        "learnable": [[lag < window for lag in lags] for window in windows],
        "runs": runs,
        "long_stream": {
            **long,
            "seed": 0,
            "streams": 8,
            "block_accuracy": [round(a, 5) for a in stream_accuracy(long_model, long_x, long_y, long["lag"], long["block"])],
        },
    }
    write_results(NAME, args, results, started)
    return 0
