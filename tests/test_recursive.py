"""The recursive network over trees (rnncourse.recursive): composition by hand, the subtraction task, depths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnncourse.recursive import (
    BagOfLeaves,
    TreeRNN,
    balanced_tree,
    composition_depths,
    evaluate_subtraction,
    format_expression,
    leaves,
    left_branching_tree,
    subtraction_expressions,
    train_tree_rnn,
    tree_depth,
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny tensors: one thread avoids OpenMP oversubscription on a shared machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _model(seed: int = 0, H: int = 4, K: int = 3) -> TreeRNN:
    torch.manual_seed(seed)
    model = TreeRNN(vocab_size=5, hidden_size=H, num_classes=K).double()
    with torch.no_grad():
        model.b.normal_()  # a nonzero bias, so that the hand computation checks it too
    return model


def test_three_leaf_tree_equals_the_hand_computation():
    model = _model()
    E, Wl, Wr, b = (p.detach().numpy() for p in (model.embedding, model.W_left, model.W_right, model.b))
    inner = np.tanh(Wl @ E[0] + Wr @ E[1] + b)
    root = np.tanh(Wl @ inner + Wr @ E[2] + b)
    assert np.max(np.abs(model.encode(((0, 1), 2))[0].detach().numpy() - root)) <= 1e-15
    other = np.tanh(Wl @ E[0] + Wr @ np.tanh(Wl @ E[1] + Wr @ E[2] + b) + b)
    assert np.max(np.abs(model.encode((0, (1, 2)))[0].detach().numpy() - other)) <= 1e-15
    V, c = model.readout.weight.detach().numpy(), model.readout.bias.detach().numpy()
    assert np.max(np.abs(model(((0, 1), 2))[0].detach().numpy() - (V @ root + c))) <= 1e-15


def test_a_batch_of_mixed_shapes_equals_one_tree_at_a_time():
    model = _model(1)
    trees = [3, (1, 2), ((0, 1), (2, (3, 4))), (((4, 4), 1), 0), (0, (1, (2, (3, 4))))]
    batch = model.encode(trees)
    for i, tree in enumerate(trees):
        assert torch.allclose(batch[i], model.encode(tree)[0], rtol=0, atol=1e-15)
    assert torch.equal(model.encode(3)[0], model.embedding[3])


def test_gradients_reach_every_parameter():
    model = _model(2)
    model([((0, 1), 2), (3, 4)]).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.any(p.grad != 0), name


def test_trees_are_validated():
    model = _model()
    with pytest.raises(ValueError, match="two children"):
        model.encode((0, 1, 2))
    with pytest.raises(TypeError, match="token index"):
        model.encode((0, 1.5))


def test_bag_of_leaves_ignores_the_structure():
    torch.manual_seed(0)
    bag = BagOfLeaves(5, 4, 2)
    out = bag([((0, 1), 2), (0, (2, 1)), (2, (1, 0))])
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[0], out[2])


def test_subtraction_task():
    assert evaluate_subtraction(((7, 3), 2)) == 2
    assert evaluate_subtraction((7, (3, 2))) == 6
    assert format_expression(((7, 3), 2)) == "(7 - 3) - 2"
    assert format_expression((7, (3, (2, 1)))) == "7 - (3 - (2 - 1))"
    trees, labels = subtraction_expressions(300, seed=4)
    again, labels_again = subtraction_expressions(300, seed=4)
    assert trees == again and np.array_equal(labels, labels_again)
    assert all(3 <= len(leaves(t)) <= 6 for t in trees)
    assert np.array_equal(labels, [evaluate_subtraction(t) > 0 for t in trees])
    assert 0.35 < labels.mean() < 0.65


@pytest.mark.parametrize("n", range(1, 20))
def test_depths(n):
    tokens = list(range(n))
    assert leaves(balanced_tree(tokens)) == tokens == leaves(left_branching_tree(tokens))
    assert tree_depth(balanced_tree(tokens)) == math.ceil(math.log2(n))
    assert tree_depth(left_branching_tree(tokens)) == n - 1
    assert composition_depths(n) == {"balanced": math.ceil(math.log2(n)), "chain": n - 1}


def test_the_tree_network_learns_what_the_baselines_cannot():
    # seed 0, 10 epochs: about a second each on one CPU core
    tree = train_tree_rnn("tree", epochs=10, seed=0)
    chain = train_tree_rnn("chain", epochs=10, seed=0)
    bag = train_tree_rnn("bag", epochs=10, seed=0)
    assert tree.test_accuracy >= 0.92
    assert bag.test_accuracy <= 0.62  # the digits alone do not give the sign
    assert chain.test_accuracy <= tree.test_accuracy - 0.2  # the order without the brackets does not either
    assert 0.4 < tree.majority_rate < 0.6


def test_training_on_every_device(device):
    result = train_tree_rnn("tree", train_size=200, test_size=100, epochs=1, seed=1, device=device)
    assert next(result.model.parameters()).device.type == device.type
    assert 0.0 <= result.test_accuracy <= 1.0
