"""Teacher forcing against scheduled sampling on a small generator (book: *Backpropagation through time*,
section *Teacher forcing and exposure bias*).

A recurrent network reads a periodic signal one value at a time and predicts the next value. It is
trained in three ways that differ only in what it is fed at step ``t`` (the first ``prime`` steps of every
sequence always get the true values, so that the network can tell the phase):

- ``teacher forcing``: always the true previous value :math:`x^{(t-1)}` (Williams and Zipser 1989);
- ``scheduled sampling``: the true value with probability :math:`\\epsilon_i`, otherwise the network's own
  previous prediction, treated as a constant (no gradient flows through it), with the linear schedule
  :math:`\\epsilon_i = \\max(\\epsilon_{\\min}, 1 - c\\, i)` of Bengio et al. (2015);
- ``scheduled sampling, gradient through feedback``: the same schedule, but the gradient also flows back
  through the fed-back predictions (possible here because the outputs are real numbers, not samples).

Each model is then primed with the first ``prime`` true values of held-out sequences and run *free*, fed
its own predictions, for ``horizon`` steps. The results (``experiments/results/teacher_forcing.json``) hold
the teacher-forced one-step error and the free-running error at every horizon, per seed, plus one example
trajectory per mode.

Run ``rnncourse experiment teacher-forcing`` (a few minutes on one CPU core) or with ``--tiny``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnncourse.devices import seed_everything
from rnncourse.experiments import parser, write_results

NAME = "teacher-forcing"
MODES = ("teacher forcing", "scheduled sampling", "scheduled sampling, gradient through feedback")


@dataclass(frozen=True)
class Config:
    """Every number the experiment depends on (recorded in the results)."""

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    hidden_size: int = 16
    length: int = 40  # steps per training sequence
    prime: int = 10  # true values fed first, in training and at test time
    batch_size: int = 32
    steps: int = 500
    lr: float = 1e-2
    max_norm: float = 1.0
    decay_fraction: float = 0.75  # epsilon falls linearly from 1 to min_epsilon over this fraction of training
    min_epsilon: float = 0.25  # the smallest probability of feeding the true value
    periods: tuple[float, float] = (20.0, 10.0)
    amplitudes: tuple[float, float] = (1.0, 0.5)
    noise: float = 0.0  # observation noise of the training and test inputs
    test_sequences: int = 200
    horizon: int = 100


TINY = Config(seeds=(0,), steps=20, test_sequences=8, horizon=20)


def periodic_signal(config: Config, rng: np.random.Generator, batch: int, length: int) -> tuple[Tensor, Tensor]:
    """``batch`` sequences of ``length`` values of a sum of two sines with random phases, time-first
    ``(length, batch, 1)``: the observed values (with ``config.noise``) and the clean ones."""
    phase = rng.uniform(0, 2 * np.pi, size=(1, batch))
    t = np.arange(length)[:, None]
    (p1, p2), (a1, a2) = config.periods, config.amplitudes
    clean = a1 * np.sin(2 * np.pi * t / p1 + phase) + a2 * np.sin(2 * np.pi * t / p2 + 2 * phase + 1.0)
    observed = clean + config.noise * rng.standard_normal(clean.shape)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32)[..., None]  # noqa: E731
    return as_tensor(observed), as_tensor(clean)


class Generator(nn.Module):
    """An Elman cell with a linear read-out that predicts the next value from the previous one:
    :math:`h^{(t)} = \\tanh(b + W h^{(t-1)} + U \\tilde x^{(t-1)})`, :math:`\\hat x^{(t)} = c + V h^{(t)}`,
    where :math:`\\tilde x^{(t-1)}` is the true value or the network's own prediction."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.cell = nn.RNNCell(1, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(
        self, x: Tensor, p_true: float, prime: int, gradient_through_feedback: bool, generator: torch.Generator | None
    ) -> Tensor:
        """Predictions of ``x[1:]`` from ``x[:-1]`` ``(T, B, 1)``; after ``prime`` steps each input is the true
        value with probability ``p_true``, else the previous prediction."""
        h = torch.zeros(x.shape[1], self.cell.hidden_size)
        fed, predictions = x[0], []
        for t in range(x.shape[0] - 1):
            h = self.cell(fed, h)
            prediction = self.readout(h)
            predictions.append(prediction)
            if t + 1 < prime or p_true >= 1.0:
                fed = x[t + 1]
            else:
                own = prediction if gradient_through_feedback else prediction.detach()
                use_true = (torch.rand(x.shape[1], 1, generator=generator) < p_true).float()
                fed = use_true * x[t + 1] + (1.0 - use_true) * own
        return torch.stack(predictions)

    @torch.no_grad()
    def free_run(self, primer: Tensor, steps: int) -> Tensor:
        """Read ``primer`` ``(P, B, 1)``, then feed back the predictions for ``steps`` steps; returns them
        ``(steps, B, 1)`` (the predictions of the values after the primer)."""
        h = torch.zeros(primer.shape[1], self.cell.hidden_size)
        for t in range(primer.shape[0]):
            h = self.cell(primer[t], h)
        prediction, out = self.readout(h), []
        for _ in range(steps):
            out.append(prediction)
            h = self.cell(prediction, h)
            prediction = self.readout(h)
        return torch.stack(out)


def epsilon(step: int, config: Config) -> float:
    """The probability of feeding the true value at training step ``step``: linear from 1 down to
    ``config.min_epsilon``, reached after ``config.decay_fraction`` of the training steps."""
    slope = (1.0 - config.min_epsilon) / (config.decay_fraction * config.steps)
    return max(config.min_epsilon, 1.0 - slope * step)


def train_generator(mode: str, seed: int, config: Config) -> tuple[Generator, list[float]]:
    rng = seed_everything(seed)
    coin = torch.Generator().manual_seed(seed)
    model = Generator(config.hidden_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    losses = []
    for step in range(config.steps):
        x, _ = periodic_signal(config, rng, config.batch_size, config.length + 1)
        p_true = 1.0 if mode == "teacher forcing" else epsilon(step, config)
        predictions = model(x, p_true, config.prime, mode.endswith("feedback"), coin)
        loss = ((predictions - x[1:]) ** 2).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.max_norm)
        optimizer.step()
        losses.append(float(loss.detach()))
    return model, losses


def evaluate(model: Generator, seed: int, config: Config) -> dict[str, Any]:
    """Teacher-forced one-step error and free-running error by horizon, against the clean signal."""
    rng = np.random.default_rng(10_000 + seed)  # the same held-out sequences for every mode
    x, clean = periodic_signal(config, rng, config.test_sequences, config.prime + config.horizon)
    with torch.no_grad():
        forced = model(x, 1.0, config.prime, False, None)  # predictions of x[1:]
    one_step = float(((forced[config.prime - 1:] - clean[config.prime:]) ** 2).mean())
    free = model.free_run(x[: config.prime], config.horizon)
    by_horizon = ((free - clean[config.prime:]) ** 2).mean(dim=(1, 2))
    return {
        "one_step_mse": round(one_step, 6),
        "free_running_mse": [round(float(v), 6) for v in by_horizon],
        "example": {"truth": [round(float(v), 4) for v in clean[:, 0, 0]],
                    "free_running": [round(float(v), 4) for v in free[:, 0, 0]]},
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(NAME, "Teacher forcing against scheduled sampling: free-running error of a small generator.")
    p.add_argument("--steps", type=int, help="training steps per model (default: 500, --tiny: 20)")
    args: argparse.Namespace = p.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(1)
    config = TINY if args.tiny else Config()
    if args.steps:
        config = replace(config, steps=args.steps)
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    for seed in config.seeds:
        for mode in MODES:
            tick = time.perf_counter()
            model, losses = train_generator(mode, seed, config)
            result = evaluate(model, seed, config)
            result.update(seed=seed, final_training_loss=round(float(np.mean(losses[-20:])), 6),
                          seconds=round(time.perf_counter() - tick, 1))
            runs[mode].append(result)
            print(f"seed {seed} {mode}: one-step {result['one_step_mse']:.4f}, free-running "
                  f"{np.mean(result['free_running_mse']):.4f} ({result['seconds']} s)", flush=True)
    write_results(NAME, args, {"config": asdict(config), "modes": list(MODES), "runs": runs}, started)
    return 0
