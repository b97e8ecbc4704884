"""One training loop for every chapter: device-agnostic, with gradient-norm clipping, truncated
backpropagation through time and a progress bar (book: *Backpropagation through time*).

The loop does not know what a model computes. It asks a ``loss_fn`` for the loss of one batch and
does the rest: zero the gradients, backpropagate, measure the global gradient norm (before any
clipping), clip it to ``max_norm`` (Pascanu et al., 2013), step the optimiser and record what
happened. A stateful ``loss_fn`` also takes and returns a recurrent state; the loop detaches that
state after every step, which is exactly truncated BPTT: the state is carried forward for ever, the
gradient flows back only through the steps of the current batch.

Example::

    def loss_fn(batch):
        x, y = batch                         # (T, B, D), (T, B)
        return nn.functional.cross_entropy(model(x).flatten(0, 1), y.flatten())

    history = train(model, loss_fn, batches, steps=500, lr=1e-2, max_norm=1.0)
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TrainingHistory", "detach_state", "progress_bar", "to_device", "train"]


@dataclass
class TrainingHistory:
    """What happened at every step of :func:`train`.

    Attributes:
        losses: the loss of each step's batch, before the update.
        grad_norms: the global gradient norm of each step, measured before clipping.
        clipped: whether the step's gradient was rescaled.
        diverged: the loss or the gradient became NaN or infinite; training stopped there.
    """

    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)
    clipped: list[bool] = field(default_factory=list)
    diverged: bool = False

    @property
    def steps(self) -> int:
        return len(self.losses)

    def smoothed(self, window: int = 50) -> list[float]:
        """Running mean of the losses over the last ``window`` steps (for plots)."""
        out, total = [], 0.0
        for i, loss in enumerate(self.losses):
            total += loss
            if i >= window:
                total -= self.losses[i - window]
            out.append(total / min(i + 1, window))
        return out


def to_device(batch: Any, device: torch.device | str | None) -> Any:
    """Move every tensor in a (nested) tuple, list or dict to ``device``; leave other values alone."""
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(item, device) for item in batch)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    return batch


def detach_state(state: Any) -> Any:
    """Cut the graph behind a recurrent state (a tensor or a tuple of them, as an LSTM's ``(h, C)``)."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(item) for item in state)
    return state


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, desc: str, enabled: bool | None = None) -> Any:
    """A tqdm progress bar (a widget in Jupyter, text in a terminal), or a silent stand-in.

    ``enabled=None`` shows the bar when the output is a terminal or a notebook.
    """
    if enabled is None:
        enabled = sys.stderr.isatty() or "ipykernel" in sys.modules
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)


def _batches(batches: Iterable[Any] | Callable[[int], Any], steps: int) -> Iterator[Any]:
    if callable(batches):
        for step in range(steps):
            yield batches(step)
        return
    iterator = iter(batches)
    for _ in range(steps):
        try:
            yield next(iterator)
        except StopIteration:
            return


def train(
    model: nn.Module,
    loss_fn: Callable[..., Any],
    batches: Iterable[Any] | Callable[[int], Any],
    *,
    steps: int,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-2,
    max_norm: float | None = None,
    initial_state: Any = None,
    stateful: bool = False,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    desc: str = "training",
    callback: Callable[[int, TrainingHistory], None] | None = None,
) -> TrainingHistory:
    """Train ``model`` for ``steps`` updates.

    Args:
        model: any ``nn.Module``; it is moved to ``device`` (when given) and put in training mode.
        loss_fn: ``loss_fn(batch) -> loss`` (a scalar tensor), or with ``stateful=True``
            ``loss_fn(batch, state) -> (loss, new_state)`` for truncated BPTT.
        batches: an iterable of batches, or a function ``step -> batch``. Tensors in a batch are
            moved to ``device``. Training ends early when an iterable runs out.
        steps: the number of updates.
        optimizer: defaults to Adam with learning rate ``lr`` over ``model.parameters()``.
        max_norm: clip the global gradient norm to this value; ``None`` never clips.
        initial_state: the state passed to the first stateful call (``None``: the model's default).
        stateful: carry the state returned by ``loss_fn`` to the next batch, detached.
        device: where to train; ``None`` leaves the model and batches where they are.
        progress: show a progress bar (``None``: when there is a terminal or a notebook).
        desc: the progress bar's label.
        callback: called as ``callback(step, history)`` after every update.

    Returns:
        The :class:`TrainingHistory`. Training stops at the first non-finite loss or gradient norm,
        with ``history.diverged`` set, and that step's update is not applied.
    """
    if device is not None:
        model.to(device)
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    if optimizer is None:
        optimizer = torch.optim.Adam(parameters, lr=lr)
    history = TrainingHistory()
    state = to_device(initial_state, device)
    bar = progress_bar(steps, desc, progress)
    try:
        for step, batch in enumerate(_batches(batches, steps)):
            batch = to_device(batch, device)
            optimizer.zero_grad(set_to_none=True)
            if stateful:
                loss, state = loss_fn(batch, state)
                state = detach_state(state)
            else:
                loss = loss_fn(batch)
            value = float(loss.detach())
            if not math.isfinite(value):
                history.diverged = True
                break
            loss.backward()
            norm = float(torch.nn.utils.clip_grad_norm_(parameters, math.inf if max_norm is None else max_norm))
            history.losses.append(value)
            history.grad_norms.append(norm)
            history.clipped.append(max_norm is not None and norm > max_norm)
            if not math.isfinite(norm):
                history.diverged = True
                break
            optimizer.step()
            bar.update()
            if step % 10 == 0:
                bar.set_postfix_str(f"loss {value:.4g}")
            if callback is not None:
                callback(step, history)
    finally:
        bar.close()
    return history
