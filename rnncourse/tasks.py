"""Long-lag benchmark tasks: problems that only a network with a long memory can solve (chapter 3,
*LSTM and GRU*).

- :func:`adding_problem`: add the two values that a marker channel points at (Hochreiter and
  Schmidhuber, 1997, in the form of Le, Jaitly and Hinton, 2015, and Arjovsky, Shah and Bengio, 2016).
- :func:`copy_task`: read a few symbols among blanks and write them back after a "go" marker (the
  copy-memory task of Arjovsky et al., 2016); by default one symbol at a random step, which makes it
  a *delayed recall* task that a small LSTM learns on a CPU.

Both are defined by their total length :math:`T`, and a network solves them only if its memory lasts
nearly :math:`T` steps: the first marked value of the adding problem is read between :math:`T/2` and
:math:`T` steps before the answer, the copied symbol between 2 and :math:`T - 1` steps before, so the
difficulty grows with :math:`T`. Each task has a *chance baseline*, the best score of a model without
memory, and a *success criterion* (:func:`success_criterion`), a score out of reach of any model
whose memory is much shorter than :math:`T` steps.

The generators take a NumPy ``Generator`` (reproducible, no global state), draw in NumPy and return
``torch`` tensors, time first like ``torch.nn.RNN``: inputs ``(T, B, D)`` float32 on ``device``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ADDING_CHANCE_MSE",
    "ADDING_SUCCESS_MSE",
    "COPY_ALPHABET",
    "COPY_SUCCESS_ACCURACY",
    "COPY_SYMBOLS",
    "TASKS",
    "adding_chance_mse",
    "adding_problem",
    "chance",
    "copy_chance",
    "copy_task",
    "success",
    "success_criterion",
]

#: the tasks by name, as the experiments and :func:`success` call them
TASKS = ("adding", "copy")

#: MSE of always predicting 1, the mean of the target: the variance of a sum of two independent
#: U(0, 1) values, 2 * 1/12 = 1/6. No prediction that ignores the marked values does better.
ADDING_CHANCE_MSE = 1.0 / 6.0

#: the adding problem counts as solved below this test MSE (see :func:`success_criterion`).
ADDING_SUCCESS_MSE = 0.01

#: default size of the copy task: ``COPY_SYMBOLS`` symbol to recall, from ``COPY_ALPHABET`` kinds.
COPY_SYMBOLS = 1
COPY_ALPHABET = 8

#: the copy task counts as solved at this accuracy on the recalled symbols, or above.
COPY_SUCCESS_ACCURACY = 0.99


def _device_tensor(array: np.ndarray, device: torch.device | str | None) -> Tensor:
    return torch.from_numpy(array).to(device)


def adding_problem(
    length: int, batch_size: int, rng: np.random.Generator, device: torch.device | str | None = None
) -> tuple[Tensor, Tensor]:
    r"""A batch of the adding problem: output the sum of the two marked values.

    Every step carries two numbers, :math:`x^{(t)} = (v^{(t)}, m^{(t)})`: a value
    :math:`v^{(t)} \sim U(0, 1)` and a marker :math:`m^{(t)} \in \{0, 1\}`. The marker is 1 at
    exactly two steps, :math:`t_1` drawn uniformly from the first half (``0 <= t1 < T // 2``, counting
    from 0 as in code) and :math:`t_2` from the second half (``T // 2 <= t2 < T``). The target, read
    from the network's output at the last step, is

    .. math::

        y = v^{(t_1)} + v^{(t_2)}.

    The first marked value lies between :math:`T/2` and :math:`T` steps before the output is read.
    A model that remembers nothing does best predicting the mean, 1, with MSE
    :data:`ADDING_CHANCE_MSE` = 1/6.

    Args:
        length: ``T``, the number of steps, at least 2.
        batch_size: ``B``, independent sequences.
        rng: source of randomness.
        device: where the tensors are created (``None``: the CPU).

    Returns:
        ``(x, y)``: inputs ``(T, B, 2)`` (channel 0 the values, channel 1 the markers) and targets
        ``(B,)``, both float32.
    """
    if length < 2 or batch_size < 1:
        raise ValueError(f"need length >= 2 and batch_size >= 1, got {length} and {batch_size}")
    half = length // 2
    values = rng.uniform(0.0, 1.0, size=(length, batch_size))
    first = rng.integers(0, half, size=batch_size)
    second = rng.integers(half, length, size=batch_size)
    markers = np.zeros((length, batch_size))
    columns = np.arange(batch_size)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    targets = values[first, columns] + values[second, columns]
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    return _device_tensor(x, device), _device_tensor(targets.astype(np.float32), device)


def adding_chance_mse(length: int, rng: np.random.Generator, samples: int = 100_000) -> float:
    """The MSE of always predicting 1 on ``samples`` fresh sequences of the adding problem.

    It estimates :data:`ADDING_CHANCE_MSE` = 1/6. The error ``y - 1`` is triangular on [-1, 1], with
    ``E[(y - 1)^4] = 1/15``, so a squared error has variance ``1/15 - 1/36 = 7/180`` and the estimate a
    standard error of ``0.197 / sqrt(samples)`` (0.0006 for the default 100,000).
    """
    chunk = max(1, 1_000_000 // length)  # sequences drawn at a time, to bound the memory
    total, done = 0.0, 0
    while done < samples:
        _, y = adding_problem(length, min(chunk, samples - done), rng)
        total += float(((y.double() - 1.0) ** 2).sum())
        done += len(y)
    return total / samples


def copy_task(
    length: int,
    batch_size: int,
    rng: np.random.Generator,
    symbols: int = COPY_SYMBOLS,
    alphabet: int = COPY_ALPHABET,
    positions: str = "random",
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    r"""A batch of the copy task: read ``S`` symbols among blanks, then write them back after a "go" marker.

    The input has ``K + 2`` one-hot channels: ``K`` symbols (``0 .. K-1``), a *blank* (``K``) and a
    *go* marker (``K + 1``). A sequence of ``T`` steps is

    - steps ``0 .. T-S-2``: blanks, except ``S`` symbols drawn uniformly and independently from the
      ``K``, at ``S`` distinct steps drawn uniformly (``positions="random"``) or at steps ``0 .. S-1``
      (``positions="start"``);
    - step ``T-S-1``: the go marker;
    - steps ``T-S .. T-1``: blanks, while the network must output the ``S`` symbols in the order
      they came. Only these ``S`` outputs are scored.

    With ``positions="start"`` this is the copy-memory task of Arjovsky, Shah and Bengio (2016) (with
    ``T`` the whole length rather than the delay): every symbol is held for exactly ``T - S`` steps.
    No example has a short lag to learn from first, and a small LSTM does not learn it in a few
    hundred updates even at ``T = 20``. With ``positions="random"`` (the default) the lags are spread
    from ``S + 1`` to ``T - S``, so the network can learn to store a symbol at short lags and stretch that
    memory to long ones, as the second marker of the adding problem lets it; a score of 99 % still
    needs the memory to last almost ``T`` steps. The default size, ``S = 1`` symbol from ``K = 8``,
    is the *delayed recall* task: remember one symbol through ``T`` steps of blanks.

    The go marker says when to answer, so the network need not count to ``T``.

    Args:
        length: ``T``, the number of steps, at least ``2 * S + 1`` (room for the symbols, the go
            marker and the answers).
        batch_size: ``B``, independent sequences.
        rng: source of randomness.
        symbols: ``S``, how many symbols to recall.
        alphabet: ``K``, how many kinds of symbol, at least 2.
        positions: ``"random"`` or ``"start"``, where the symbols stand (see above).
        device: where the tensors are created (``None``: the CPU).

    Returns:
        ``(x, y)``: one-hot inputs ``(T, B, K + 2)`` float32 and the symbols to recall ``(S, B)``
        int64; ``y[i]`` is the target of the output at step ``T - S + i``.
    """
    if symbols < 1 or alphabet < 2 or batch_size < 1:
        raise ValueError(f"need symbols >= 1, alphabet >= 2 and batch_size >= 1, got {symbols}, {alphabet}, {batch_size}")
    if length < 2 * symbols + 1:
        raise ValueError(f"length must be at least 2 * symbols + 1 = {2 * symbols + 1}, got {length}")
    blank, go = alphabet, alphabet + 1
    targets = rng.integers(0, alphabet, size=(symbols, batch_size))
    codes = np.full((length, batch_size), blank)
    if positions == "start":
        codes[:symbols] = targets
    elif positions == "random":
        # S distinct steps before the go marker, in order, independently for every sequence
        steps = np.sort(rng.random((length - symbols - 1, batch_size)).argsort(axis=0)[:symbols], axis=0)
        codes[steps, np.arange(batch_size)] = targets
    else:
        raise ValueError(f"positions must be 'random' or 'start', got {positions!r}")
    codes[length - symbols - 1] = go
    x = np.eye(alphabet + 2, dtype=np.float32)[codes]
    return _device_tensor(x, device), _device_tensor(targets.astype(np.int64), device)


def copy_chance(alphabet: int = COPY_ALPHABET) -> dict[str, float]:
    """The copy task's chance baseline, per recalled symbol: cross-entropy ``log K``, accuracy ``1/K``.

    The symbols are uniform and independent of every later input, so without memory of them the
    best prediction is uniform over the ``K`` kinds: cross-entropy ``-log(1/K)``, accuracy ``1/K``.
    """
    return {"cross_entropy": math.log(alphabet), "accuracy": 1.0 / alphabet}


def chance(task: str, alphabet: int = COPY_ALPHABET) -> dict[str, float]:
    """The chance baseline of ``task``: ``{"mse": 1/6}`` for adding, :func:`copy_chance` for copy."""
    if task == "adding":
        return {"mse": ADDING_CHANCE_MSE}
    if task == "copy":
        return copy_chance(alphabet)
    raise ValueError(f"unknown task {task!r}; there are {TASKS}")


def success_criterion(task: str) -> dict[str, object]:
    """The rule that says a network has solved ``task``, with the reason for its threshold.

    - adding: test MSE below :data:`ADDING_SUCCESS_MSE` (0.01, 6 % of the chance MSE 1/6). A
      network that knows only the second marked value and guesses the mean, 1/2, for the first one
      has MSE Var(U(0, 1)) = 1/12 ≈ 0.083; going below 0.01 needs *both* values, so the first one
      (between ``T/2`` and ``T`` steps back) must have been carried. An RMS error of 0.1 on a sum
      between 0 and 2.
    - copy: accuracy on the recalled symbols of at least :data:`COPY_SUCCESS_ACCURACY` (0.99), against
      ``1/K`` by chance. With the symbols at random steps, a network whose memory covers a fraction
      ``f`` of the lags scores about ``f + (1 - f) / K``; for ``K = 8`` reaching 0.99 needs
      ``f >= 0.989``: a memory that lasts very nearly ``T - S`` steps. The 1 % slack allows for the odd
      error of a network that has the memory.

    Returns:
        ``{"metric": name, "better": "lower" | "higher", "threshold": value, "why": sentence}``.
    """
    if task == "adding":
        return {"metric": "mse", "better": "lower", "threshold": ADDING_SUCCESS_MSE,
                "why": "below 1/12, the MSE of a network that knows only the second marked value: "
                       "needs the first value, T/2 to T steps back"}
    if task == "copy":
        return {"metric": "accuracy", "better": "higher", "threshold": COPY_SUCCESS_ACCURACY,
                "why": "against 1/K by chance; with the symbol at a random step, needs a memory that "
                       "lasts for about 99 % of the lags, up to T - S"}
    raise ValueError(f"unknown task {task!r}; there are {TASKS}")


def success(task: str, metric: float) -> bool:
    """Whether a test score meets :func:`success_criterion` (a NaN score never does)."""
    rule = success_criterion(task)
    threshold = float(rule["threshold"])  # type: ignore[arg-type]
    if rule["better"] == "lower":
        return bool(metric < threshold)
    return bool(metric >= threshold)
