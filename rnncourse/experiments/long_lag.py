"""How long a lag can a tanh RNN, an LSTM and a GRU learn to bridge, on a fixed training budget?

A lecture deck gives an "empirical feasible length" of about 100 steps for a simple RNN, 500 for an
LSTM and 1000 for a GRU. This experiment puts measurements in place of the claim, on two tasks of
:mod:`rnncourse.tasks` whose difficulty grows with their length ``T``:

- the adding problem (:func:`rnncourse.tasks.adding_problem`): output the sum of two marked values,
  the first of them between ``T/2`` and ``T`` steps back; solved when the test MSE is below 0.01
  (chance: 1/6);
- the copy task as delayed recall (:func:`rnncourse.tasks.copy_task`, one symbol from 8 at a random
  step, to be named after a go marker at the end); solved when at least 99 % of the test symbols are
  recalled (chance: 1/8).

Every network (a one-layer ``torch.nn.RNN`` with tanh, ``torch.nn.LSTM`` or ``torch.nn.GRU`` with
the same number of hidden units and PyTorch's default initialisation, then a linear read-out)
gets the same budget at every length: at most ``steps`` Adam updates at one learning rate, on fresh
batches of one size, with the gradient norm clipped to one threshold, through
:func:`rnncourse.train.train` with full (untruncated) backpropagation through time. Every
``check_every`` updates the network is scored on a held-out set; it stops as soon as it meets the
task's criterion there (the number of updates it used is recorded), else it trains to the budget.
Either way it is then scored on a separate test set, and *success* means the criterion holds there.
For a given task, length and seed the three networks see exactly the same training batches.

Lengths are tried from short to long. A network that fails on every seed at one length is not
trained at the longer ones (those runs are recorded with ``"trained": false`` and count as failures;
``--all-lengths`` trains them anyway): the lag only grows, and at ``T = 1000`` a GRU update costs a
quarter of a second on one CPU thread, so those foregone conclusions would take most of the time.

What it measures is "solved within this budget", not "can ever be solved": a failure at some length
says the budget was too small for that network there, and a larger budget (or a forget-gate bias, a
smaller learning rate, more units) can move every boundary. The committed results use ``torch.nn``'s
fused layers for speed; ``--impl rnncourse`` trains the course's own layers (``rnncourse.RNN``,
``rnncourse.LSTM``, ``rnncourse.GRU``, numerically the same networks) instead.

Run: ``rnncourse experiment long-lag [--tiny]`` (writes ``experiments/results/long_lag.json``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnncourse.devices import seed_everything
from rnncourse.experiments import parser, write_results
from rnncourse.tasks import (
    COPY_ALPHABET,
    COPY_SYMBOLS,
    TASKS,
    adding_problem,
    chance,
    copy_task,
    success,
    success_criterion,
)
from rnncourse.train import TrainingHistory, progress_bar, train

NAME = "long-lag"

MODELS = ("rnn", "lstm", "gru")

FULL: dict[str, Any] = {"lengths": [10, 20, 50, 100, 200, 500, 1000], "seeds": 3, "steps": 800, "check_every": 50}
TINY: dict[str, Any] = {"lengths": [10, 20], "seeds": 1, "steps": 20, "check_every": 10}
#: what FULL and TINY share
SETTINGS: dict[str, Any] = {"hidden_size": 32, "batch_size": 32, "optimizer": "Adam", "lr": 0.01, "max_norm": 1.0,
                            "check_size": 512, "test_size": 1000, "copy_symbols": COPY_SYMBOLS,
                            "copy_alphabet": COPY_ALPHABET, "copy_positions": "random",
                            "initialisation": "PyTorch default", "backpropagation": "full BPTT over the whole sequence"}


def recurrent_layer(kind: str, input_size: int, hidden_size: int, impl: str = "torch",
                    device: torch.device | str | None = None) -> nn.Module:
    """A one-layer ``RNN`` (tanh), ``LSTM`` or ``GRU``, from ``torch.nn`` or (``impl="rnncourse"``) the course's."""
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; there are {MODELS}")
    name = kind.upper()
    if impl == "torch":
        layer = getattr(nn, name)
    elif impl == "rnncourse":
        import rnncourse  # the course's layers, imported only when asked for

        layer = getattr(rnncourse, name)
    else:
        raise ValueError(f"impl must be 'torch' or 'rnncourse', got {impl!r}")
    return layer(input_size, hidden_size, device=device)


class LongLagNet(nn.Module):
    r"""A recurrent layer and a linear read-out of its last ``last`` states.

    .. math::

        h^{(t)} = \mathrm{cell}\big(h^{(t-1)}, x^{(t)}\big), \qquad o^{(t)} = c + V h^{(t)},
        \quad t = T - \mathrm{last} + 1, \dots, T,

    with the cell a tanh RNN, an LSTM or a GRU (chapter 3, *LSTM and GRU*) and :math:`h^{(0)} = 0`.

    Inputs: ``x`` ``(T, B, D)``. Output: the scores ``(last, B, K)`` of the last ``last`` steps.
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, output_size: int, impl: str = "torch",
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.recurrent = recurrent_layer(kind, input_size, hidden_size, impl, device)
        self.readout = nn.Linear(hidden_size, output_size, device=device)

    def forward(self, x: Tensor, last: int = 1) -> Tensor:
        states, _ = self.recurrent(x)
        return self.readout(states[-last:])


class Task:
    """One task at one length: its batches, its loss and its test score."""

    def __init__(self, name: str, length: int, config: dict[str, Any]) -> None:
        if name not in TASKS:
            raise ValueError(f"unknown task {name!r}; there are {TASKS}")
        self.name, self.length = name, length
        self.symbols, self.alphabet = config["copy_symbols"], config["copy_alphabet"]
        self.positions = config["copy_positions"]
        if name == "adding":
            self.input_size, self.output_size, self.last = 2, 1, 1
        else:
            self.input_size, self.output_size, self.last = self.alphabet + 2, self.alphabet, self.symbols

    def batch(self, batch_size: int, rng: np.random.Generator, device: torch.device | str | None) -> tuple[Tensor, Tensor]:
        if self.name == "adding":
            return adding_problem(self.length, batch_size, rng, device)
        return copy_task(self.length, batch_size, rng, self.symbols, self.alphabet, self.positions, device)

    def loss(self, scores: Tensor, y: Tensor) -> Tensor:
        """MSE of the last output (adding); cross-entropy of the recalled symbols (copy)."""
        if self.name == "adding":
            return nn.functional.mse_loss(scores[-1, :, 0], y)
        return nn.functional.cross_entropy(scores.flatten(0, 1), y.flatten())

    @torch.no_grad()
    def score(self, model: LongLagNet, x: Tensor, y: Tensor, chunk: int = 500) -> float:
        """The criterion's metric on ``(x, y)``: MSE (adding) or accuracy on the recalled symbols (copy)."""
        was_training = model.training
        model.eval()
        total = 0.0
        for start in range(0, x.shape[1], chunk):
            scores = model(x[:, start:start + chunk], self.last)
            part = y[start:start + chunk] if self.name == "adding" else y[:, start:start + chunk]
            if self.name == "adding":
                total += float(((scores[-1, :, 0] - part) ** 2).sum())
            else:
                total += float((scores.argmax(-1) == part).float().sum()) / self.symbols
        model.train(was_training)
        return total / x.shape[1]


def train_one(task_name: str, kind: str, length: int, seed: int, config: dict[str, Any], device: str = "cpu",
              impl: str = "torch", progress: bool | None = False) -> dict[str, Any]:
    """Train one network on one task at one length, stopping once it is solved on the held-out set.

    Returns the run's record: ``success`` and ``metric`` on the test set, ``steps`` (updates used),
    ``stopped_early`` (solved on the held-out set before the budget ran out), ``seconds``.
    """
    started = time.perf_counter()
    task = Task(task_name, length, config)
    task_index = TASKS.index(task_name)
    seed_everything(seed)
    model = LongLagNet(kind, task.input_size, config["hidden_size"], task.output_size, impl, device)
    # the same training batches for the three networks; held-out and test sets of their own
    train_rng = np.random.default_rng([seed, task_index, length, 0])
    check = task.batch(config["check_size"], np.random.default_rng([seed, task_index, length, 1]), device)
    test = task.batch(config["test_size"], np.random.default_rng([seed, task_index, length, 2]), device)
    solved_at: list[int] = []

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        while not solved_at:  # the loop in train() ends when this runs out
            yield task.batch(config["batch_size"], train_rng, device)

    def loss_fn(batch: tuple[Tensor, Tensor]) -> Tensor:
        x, y = batch
        return task.loss(model(x, task.last), y)

    def callback(step: int, history: TrainingHistory) -> None:
        if (step + 1) % config["check_every"] == 0 and success(task_name, task.score(model, *check)):
            solved_at.append(step + 1)

    history = train(model, loss_fn, batches(), steps=config["steps"], lr=config["lr"], max_norm=config["max_norm"],
                    device=device, progress=progress, desc=f"{task_name} {kind} T={length} seed {seed}",
                    callback=callback)
    metric = task.score(model, *test)
    return {
        "task": task_name,
        "model": kind,
        "T": length,
        "seed": seed,
        "trained": True,
        "success": success(task_name, metric),
        "metric": round(metric, 5) if np.isfinite(metric) else None,
        "steps": history.steps,
        "stopped_early": bool(solved_at),
        "diverged": history.diverged,
        "final_loss": round(float(np.mean(history.losses[-config["check_every"]:])), 5) if history.losses else None,
        "seconds": round(time.perf_counter() - started, 1),
    }


def not_trained(task_name: str, kind: str, length: int, seed: int) -> dict[str, Any]:
    """The record of a run skipped because the network failed every seed at a shorter length."""
    return {"task": task_name, "model": kind, "T": length, "seed": seed, "trained": False, "success": False,
            "metric": None, "steps": 0, "stopped_early": False, "diverged": False, "final_loss": None, "seconds": 0.0}


def success_table(runs: list[dict[str, Any]], lengths: Sequence[int]) -> dict[str, dict[str, list[int]]]:
    """``table[task][model][i]``: how many seeds solved the task at ``lengths[i]``."""
    return {task: {kind: [sum(r["success"] for r in runs if (r["task"], r["model"], r["T"]) == (task, kind, T))
                          for T in lengths] for kind in MODELS} for task in TASKS}


def feasible_length(successes: Sequence[int], lengths: Sequence[int], seeds: int) -> int | None:
    """The longest length up to which (inclusive) a majority of seeds succeeded at every length."""
    longest = None
    for count, T in zip(successes, lengths):
        if 2 * count <= seeds:
            break
        longest = T
    return longest


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(NAME, __doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, help="seeds per task, model and length (default 3; tiny 1)")
    p.add_argument("--impl", choices=["torch", "rnncourse"], default="torch",
                   help="torch.nn's fused layers (default, as committed) or the course's own")
    p.add_argument("--all-lengths", action="store_true",
                   help="train every length, also after a network failed every seed at a shorter one")
    args = p.parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(1)
    config: dict[str, Any] = {**(TINY if args.tiny else FULL), **SETTINGS,
                              "impl": args.impl, "skip_after_total_failure": not args.all_lengths}
    if args.seeds is not None:
        config["seeds"] = args.seeds
    lengths, seeds = config["lengths"], range(config["seeds"])
    bar = progress_bar(len(TASKS) * len(MODELS) * len(lengths) * len(seeds), "long-lag runs", args.progress)
    runs: list[dict[str, Any]] = []
    try:
        for task in TASKS:
            for kind in MODELS:
                given_up = False
                for T in lengths:
                    cell = []
                    for seed in seeds:
                        if given_up:
                            record = not_trained(task, kind, T, seed)
                        else:
                            record = train_one(task, kind, T, seed, config, args.device, args.impl, args.progress)
                        cell.append(record)
                        bar.update()
                    runs.extend(cell)
                    if not given_up:
                        metrics = ", ".join("-" if r["metric"] is None else f"{r['metric']:.4f}" for r in cell)
                        print(f"{task:6s} {kind:4s} T={T:4d}: {sum(r['success'] for r in cell)}/{len(cell)} solved "
                              f"({'mse' if task == 'adding' else 'accuracy'} {metrics}; updates "
                              f"{', '.join(str(r['steps']) for r in cell)}; {sum(r['seconds'] for r in cell):.0f} s)",
                              flush=True)
                    given_up = given_up or (config["skip_after_total_failure"] and not any(r["success"] for r in cell))
    finally:
        bar.close()
    table = success_table(runs, lengths)
    results = {
        "config": config,
        "tasks": {task: {"chance": chance(task, config["copy_alphabet"]), "criterion": success_criterion(task)}
                  for task in TASKS},
        "models": list(MODELS),
        "lengths": lengths,
        "successes": table,
        "feasible_length": {task: {kind: feasible_length(table[task][kind], lengths, config["seeds"]) for kind in MODELS}
                            for task in TASKS},
        "claim": {"rnn": 100, "lstm": 500, "gru": 1000},
        "runs": runs,
    }
    write_results(NAME, args, results, started)
    return 0
