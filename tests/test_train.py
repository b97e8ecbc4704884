"""The shared training loop: it learns, clips before stepping, detaches state and stops on divergence."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnncourse.train import TrainingHistory, detach_state, to_device, train


def _regression(seed: int = 0):
    torch.manual_seed(seed)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    model = nn.Linear(3, 1)

    def loss_fn(batch):
        inputs, targets = batch
        return ((model(inputs).squeeze(-1) - targets) ** 2).mean()

    return model, loss_fn, (x, y)


def test_train_reduces_the_loss_and_records_every_step():
    model, loss_fn, batch = _regression()
    history = train(model, loss_fn, lambda step: batch, steps=300, lr=0.05, progress=False)
    assert history.steps == 300 and len(history.grad_norms) == 300 and not history.diverged
    assert history.losses[-1] < 1e-3 * history.losses[0]
    assert torch.allclose(model.weight.detach(), torch.tensor([[1.0, -2.0, 0.5]]), atol=1e-2)


def test_grad_norm_is_measured_before_clipping_and_clipping_bounds_the_update():
    model, loss_fn, batch = _regression()
    before = model.weight.detach().clone(), model.bias.detach().clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(model, loss_fn, [batch], steps=1, optimizer=optimizer, max_norm=1e-3, progress=False)
    model.zero_grad()
    model.weight.data, model.bias.data = before
    loss_fn(batch).backward()
    full_norm = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters()))
    assert history.grad_norms[0] == pytest.approx(full_norm, rel=1e-6)
    assert history.clipped == [True]
    # SGD with learning rate 1 moves the parameters by exactly the clipped gradient, of norm max_norm
    model.weight.data, model.bias.data = before[0].clone(), before[1].clone()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    train(model, loss_fn, [batch], steps=1, optimizer=optimizer, max_norm=1e-3, progress=False)
    moved = torch.cat([(model.weight.detach() - before[0]).flatten(), (model.bias.detach() - before[1]).flatten()])
    assert float(moved.norm()) == pytest.approx(1e-3, rel=1e-3)


def test_an_iterable_that_runs_out_ends_training():
    model, loss_fn, batch = _regression()
    history = train(model, loss_fn, [batch] * 5, steps=100, progress=False)
    assert history.steps == 5


def test_divergence_stops_training_without_applying_the_step():
    model = nn.Linear(2, 1)
    weights = model.weight.detach().clone()

    def loss_fn(batch):
        return model(batch).sum() * float("nan")

    history = train(model, loss_fn, lambda step: torch.ones(1, 2), steps=10, progress=False)
    assert history.diverged and history.steps == 0
    assert torch.equal(model.weight.detach(), weights)


def test_stateful_training_carries_a_detached_state_forward():
    rnn = nn.RNN(1, 4)
    seen = []

    def loss_fn(batch, state):
        output, h_n = rnn(batch, state)
        seen.append(None if state is None else (state.requires_grad, state.grad_fn))
        return output.pow(2).mean(), h_n

    train(rnn, loss_fn, lambda step: torch.randn(5, 2, 1), steps=3, stateful=True, progress=False)
    assert seen[0] is None
    # the state handed to the next window has no graph behind it: the gradient stops at the window's edge
    assert all(grad_fn is None and not requires_grad for requires_grad, grad_fn in seen[1:])


def test_helpers_move_and_detach_nested_structures():
    x = torch.ones(2, requires_grad=True) * 2
    nested = detach_state((x, [x]))
    assert not nested[0].requires_grad and not nested[1][0].requires_grad
    moved = to_device({"a": (torch.zeros(1), 3)}, "cpu")
    assert moved["a"][1] == 3 and moved["a"][0].device.type == "cpu"


def test_smoothed_is_a_running_mean():
    history = TrainingHistory(losses=[4.0, 2.0, 0.0, 2.0])
    assert history.smoothed(window=2) == [4.0, 3.0, 1.0, 1.0]
