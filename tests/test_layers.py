"""rnncourse.recurrent's RNN, LSTM, GRU and cells against torch.nn, on every available device.

The same weights (``load_state_dict`` in either direction) must give the same outputs, final states and
gradients (inputs, initial states, every parameter) to 1e-10 in float64, for every combination of layers,
directions, biases and layouts; packed sequences, unbatched inputs, dropout, errors and the promise that
no fused recurrent kernel of PyTorch is used are checked too.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

import rnncourse
from rnncourse import recurrent
from rnncourse.recurrent import GRU, LSTM, RNN, ElmanRNN, GRUCell, LSTMCell, RNNCell

F64 = torch.float64
TOL = 1e-10
D, H, P, T, B = 3, 4, 2, 5, 3  # input, hidden, projection, steps, batch

# (name, torch.nn class, ours, extra constructor arguments)
LAYERS = [
    ("RNN-tanh", nn.RNN, RNN, {}),
    ("RNN-relu", nn.RNN, RNN, {"nonlinearity": "relu"}),
    ("LSTM", nn.LSTM, LSTM, {}),
    ("LSTM-proj", nn.LSTM, LSTM, {"proj_size": P}),
    ("GRU", nn.GRU, GRU, {}),
]
CELLS = [
    ("RNNCell-tanh", nn.RNNCell, RNNCell, {}),
    ("RNNCell-relu", nn.RNNCell, RNNCell, {"nonlinearity": "relu"}),
    ("LSTMCell", nn.LSTMCell, LSTMCell, {}),
    ("GRUCell", nn.GRUCell, GRUCell, {}),
]
LAYER_IDS = [spec[0] for spec in LAYERS]
CELL_IDS = [spec[0] for spec in CELLS]


@pytest.fixture
def device64(device):
    if device.type == "mps":
        pytest.skip("MPS has no float64")
    return device


# ---------------------------------------------------------------------------------------------- helpers


def _layer_pair(spec, device, seed=0, **kwargs):
    """torch.nn's layer and ours, ours loaded from torch's state_dict."""
    _, reference_cls, ours_cls, extra = spec
    torch.manual_seed(seed)
    reference = reference_cls(D, H, **extra, **kwargs, device=device, dtype=F64)
    ours = ours_cls(D, H, **extra, **kwargs, device=device, dtype=F64)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _state_sizes(spec, num_layers=1, bidirectional=False):
    """Sizes of the initial states ``[h_0]`` or ``[h_0, c_0]``: ``(layers * directions, size)``."""
    layers = num_layers * (2 if bidirectional else 1)
    extra = spec[3]
    if spec[2] is LSTM:
        return [(layers, extra.get("proj_size", 0) or H), (layers, H)]
    return [(layers, H)]


def _random_states(spec, batch, device, num_layers=1, bidirectional=False):
    """Initial states as leaf tensors; ``batch=None`` for unbatched ones."""
    states = []
    for layers, size in _state_sizes(spec, num_layers, bidirectional):
        shape = (layers, size) if batch is None else (layers, batch, size)
        states.append(torch.randn(shape, device=device, dtype=F64, requires_grad=True))
    return states


def _hx(spec, states):
    if not states:
        return None
    return tuple(states) if spec[2] is LSTM else states[0]


def _flat_outputs(result) -> list[torch.Tensor]:
    """Every tensor a layer or cell returns, in order (a PackedSequence gives its data)."""
    if isinstance(result, PackedSequence):
        return [result.data]
    if isinstance(result, torch.Tensor):
        return [result]
    return [tensor for part in result for tensor in _flat_outputs(part)]


def _weighted_loss(tensors, seed=1):
    """A random weighted sum of every output, the same weights for both models."""
    generator = torch.Generator().manual_seed(seed)
    total = 0
    for tensor in tensors:
        weights = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype).to(tensor.device)
        total = total + (weights * tensor).sum()
    return total


def _run(model, leaves, call):
    """Forward with ``call(model)``, backward from a weighted sum of the outputs; outputs and gradients."""
    for leaf in leaves:
        leaf.grad = None
    model.zero_grad(set_to_none=True)
    result = call(model)
    outputs = _flat_outputs(result)
    _weighted_loss(outputs).backward()
    grads = {f"input {k}": leaf.grad for k, leaf in enumerate(leaves)}
    grads.update({name: p.grad for name, p in model.named_parameters()})
    return result, outputs, grads


def _assert_near(got, expected, what):
    assert got.shape == expected.shape, f"{what}: shape {tuple(got.shape)} != {tuple(expected.shape)}"
    error = (got - expected).abs().max().item() if got.numel() else 0.0
    assert error <= TOL, f"{what}: largest difference {error:.2e} > {TOL:.0e}"


def _compare(reference, ours, leaves, call):
    """Same outputs and same gradients with respect to every leaf and parameter."""
    expected_result, expected, expected_grads = _run(reference, leaves, call)
    got_result, got, got_grads = _run(ours, leaves, call)
    assert len(got) == len(expected)
    for k, (a, b) in enumerate(zip(got, expected)):
        _assert_near(a, b, f"output {k}")
    assert set(got_grads) == set(expected_grads)
    for name in expected_grads:
        assert got_grads[name] is not None and expected_grads[name] is not None, f"no gradient for {name}"
        _assert_near(got_grads[name], expected_grads[name], f"gradient of {name}")
    return got_result, expected_result


# ---------------------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_state_dict_keys_shapes_and_seeded_init_match_torch(spec):
    _, reference_cls, ours_cls, extra = spec
    for num_layers, bidirectional, bias in itertools.product([1, 2], [False, True], [True, False]):
        kwargs = dict(extra, num_layers=num_layers, bidirectional=bidirectional, bias=bias)
        torch.manual_seed(3)
        reference = reference_cls(D, H, **kwargs)
        torch.manual_seed(3)
        ours = ours_cls(D, H, **kwargs)
        expected, got = reference.state_dict(), ours.state_dict()
        assert list(got) == list(expected)  # same names, same order
        for name in expected:
            assert got[name].shape == expected[name].shape, name
            # same bound and same order of drawing: a seeded model starts from torch's numbers
            assert torch.equal(got[name], expected[name]), name


@pytest.mark.parametrize("spec", CELLS, ids=CELL_IDS)
def test_cell_state_dict_and_seeded_init_match_torch(spec):
    _, reference_cls, ours_cls, extra = spec
    for bias in (True, False):
        torch.manual_seed(4)
        reference = reference_cls(D, H, bias=bias, **extra)
        torch.manual_seed(4)
        ours = ours_cls(D, H, bias=bias, **extra)
        assert list(ours.state_dict()) == list(reference.state_dict())
        for name, value in reference.state_dict().items():
            assert torch.equal(ours.state_dict()[name], value), name


def test_top_level_names_are_the_recurrent_classes():
    for name in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"):
        assert getattr(rnncourse, name) is getattr(recurrent, name)


# ---------------------------------------------------------------------------------------------- layers


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_layers_match_torch_in_every_configuration(spec, device64):
    """Outputs, final states and all gradients, for num_layers, bidirectional, bias, batch_first, h_0."""
    device = device64
    for num_layers, bidirectional, bias, batch_first, given in itertools.product(
        [1, 2], [False, True], [True, False], [False, True], [False, True]
    ):
        config = {"num_layers": num_layers, "bidirectional": bidirectional, "bias": bias, "batch_first": batch_first}
        reference, ours = _layer_pair(spec, device, **config)
        shape = (B, T, D) if batch_first else (T, B, D)
        x = torch.randn(shape, device=device, dtype=F64, requires_grad=True)
        states = _random_states(spec, B, device, num_layers, bidirectional) if given else []
        hx = _hx(spec, states)
        try:
            got, expected = _compare(reference, ours, [x, *states], lambda model, x=x, hx=hx: model(x, hx))
        except AssertionError as error:
            raise AssertionError(f"{config}, h_0 given: {given}: {error}") from None
        assert got[0].shape == expected[0].shape


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_state_dict_loads_into_torch(spec, device64):
    """The other direction: our weights in torch.nn give our outputs."""
    _, reference_cls, ours_cls, extra = spec
    torch.manual_seed(5)
    ours = ours_cls(D, H, num_layers=2, bidirectional=True, **extra, device=device64, dtype=F64)
    reference = reference_cls(D, H, num_layers=2, bidirectional=True, **extra, device=device64, dtype=F64)
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(T, B, D, device=device64, dtype=F64, requires_grad=True)
    _compare(reference, ours, [x], lambda model: model(x))


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_unbatched_input(spec, device64):
    for num_layers, bidirectional, given in itertools.product([1, 2], [False, True], [False, True]):
        # batch_first does not apply to unbatched inputs
        config = {"num_layers": num_layers, "bidirectional": bidirectional, "batch_first": True}
        reference, ours = _layer_pair(spec, device64, **config)
        x = torch.randn(T, D, device=device64, dtype=F64, requires_grad=True)
        states = _random_states(spec, None, device64, num_layers, bidirectional) if given else []
        hx = _hx(spec, states)
        got, _ = _compare(reference, ours, [x, *states], lambda model, x=x, hx=hx: model(x, hx))
        assert got[0].shape == (T, (2 if bidirectional else 1) * _state_sizes(spec)[0][1])


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
def test_packed_sequences_match_torch(spec, enforce_sorted, device64):
    device = device64
    lengths = torch.tensor([5, 3, 3, 1]) if enforce_sorted else torch.tensor([3, 5, 1, 4])
    batch = len(lengths)
    for num_layers, bidirectional, batch_first, given in itertools.product(
        [1, 2], [False, True], [False, True], [False, True]
    ):
        config = {"num_layers": num_layers, "bidirectional": bidirectional, "batch_first": batch_first}
        reference, ours = _layer_pair(spec, device, **config)
        padded = torch.randn((batch, T, D) if batch_first else (T, batch, D), device=device, dtype=F64,
                             requires_grad=True)
        states = _random_states(spec, batch, device, num_layers, bidirectional) if given else []
        hx = _hx(spec, states)

        def call(model, padded=padded, hx=hx, batch_first=batch_first):
            packed = pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
            return model(packed, hx)

        got, expected = _compare(reference, ours, [padded, *states], call)
        assert isinstance(got[0], PackedSequence)
        assert torch.equal(got[0].batch_sizes, expected[0].batch_sizes)
        for name in ("sorted_indices", "unsorted_indices"):
            a, b = getattr(got[0], name), getattr(expected[0], name)
            assert (a is None and b is None) or torch.equal(a, b), name


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_packed_final_state_is_each_sequences_own_last_step(spec, device64):
    """Independently of torch: a packed batch gives what each sequence gives alone."""
    lengths = [2, 5, 1, 4]
    _, ours = _layer_pair(spec, device64, bidirectional=True)
    x = torch.randn(T, len(lengths), D, device=device64, dtype=F64)
    with torch.no_grad():
        output, final = ours(pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False))
        padded, _ = pad_packed_sequence(output)
        for b, length in enumerate(lengths):
            alone_output, alone_final = ours(x[:length, b])  # unbatched, exactly this sequence
            torch.testing.assert_close(padded[:length, b], alone_output, rtol=0, atol=TOL)
            for got, expected in zip(_flat_outputs(final), _flat_outputs(alone_final)):
                torch.testing.assert_close(got[:, b], expected, rtol=0, atol=TOL)
            size = padded.shape[-1] // 2
            # forward h_n is the output at the last valid step, backward h_n the output at step 1
            torch.testing.assert_close(_flat_outputs(final)[0][0, b], padded[length - 1, b, :size], rtol=0, atol=0)
            torch.testing.assert_close(_flat_outputs(final)[0][1, b], padded[0, b, size:], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_dropout_in_eval_mode_matches_torch(spec, device64):
    reference, ours = _layer_pair(spec, device64, num_layers=2, dropout=0.5, bidirectional=True)
    reference.eval()
    ours.eval()
    x = torch.randn(T, B, D, device=device64, dtype=F64, requires_grad=True)
    _compare(reference, ours, [x], lambda model: model(x))


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_dropout_acts_between_layers_in_training_only(spec, device64):
    _, _, ours_cls, extra = spec
    p = 0.5
    torch.manual_seed(6)
    model = ours_cls(D, H, num_layers=2, dropout=p, **extra, device=device64, dtype=F64)
    x = torch.randn(T, B, D, device=device64, dtype=F64)
    model.eval()
    evaluated = model(x)[0]
    model.train()
    torch.manual_seed(7)
    trained = model(x)[0]
    assert (trained - evaluated).abs().max() > 1e-3, "dropout changed nothing in training mode"

    # the same as two one-layer models with dropout between them and none after the last
    first = ours_cls(D, H, **extra, device=device64, dtype=F64)
    second = ours_cls(model.proj_size or H, H, **extra, device=device64, dtype=F64)
    state = model.state_dict()
    first.load_state_dict({k: v for k, v in state.items() if "_l0" in k})
    second.load_state_dict({k.replace("_l1", "_l0"): v for k, v in state.items() if "_l1" in k})
    torch.manual_seed(7)
    expected = second(nn.functional.dropout(first(x)[0], p, training=True))[0]
    torch.testing.assert_close(trained, expected, rtol=0, atol=TOL)


def test_dropout_with_one_layer_warns_and_does_nothing():
    with pytest.warns(UserWarning, match="num_layers=1"):
        model = LSTM(D, H, dropout=0.5, dtype=F64)
    x = torch.randn(T, B, D, dtype=F64)
    model.train()
    trained = model(x)[0]
    model.eval()
    torch.testing.assert_close(trained, model(x)[0], rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------- cells


@pytest.mark.parametrize("spec", CELLS, ids=CELL_IDS)
def test_cells_match_torch(spec, device64):
    _, reference_cls, ours_cls, extra = spec
    lstm = ours_cls is LSTMCell
    for bias, batched, given in itertools.product([True, False], [True, False], [True, False]):
        torch.manual_seed(8)
        reference = reference_cls(D, H, bias=bias, **extra, device=device64, dtype=F64)
        ours = ours_cls(D, H, bias=bias, **extra, device=device64, dtype=F64)
        ours.load_state_dict(reference.state_dict())
        lead = (B,) if batched else ()
        x = torch.randn(*lead, D, device=device64, dtype=F64, requires_grad=True)
        states = [torch.randn(*lead, H, device=device64, dtype=F64, requires_grad=True)
                  for _ in range(2 if lstm else 1)] if given else []
        hx = (tuple(states) if lstm else states[0]) if given else None
        got, _ = _compare(reference, ours, [x, *states], lambda model, x=x, hx=hx: model(x, hx))
        assert _flat_outputs(got)[0].shape == (*lead, H)


def test_cells_load_into_torch(device64):
    for _, reference_cls, ours_cls, extra in CELLS:
        ours = ours_cls(D, H, **extra, device=device64, dtype=F64)
        reference = reference_cls(D, H, **extra, device=device64, dtype=F64)
        reference.load_state_dict(ours.state_dict())
        x = torch.randn(B, D, device=device64, dtype=F64, requires_grad=True)
        _compare(reference, ours, [x], lambda model, x=x: model(x))


def test_cell_and_layer_agree(device64):
    """A one-layer LSTM is its cell applied step by step."""
    layer = LSTM(D, H, device=device64, dtype=F64)
    cell = LSTMCell(D, H, device=device64, dtype=F64)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    x = torch.randn(T, B, D, device=device64, dtype=F64)
    output, (_, c_n) = layer(x)
    h = c = torch.zeros(B, H, device=device64, dtype=F64)
    for t in range(T):
        h, c = cell(x[t], (h, c))
        torch.testing.assert_close(output[t], h, rtol=0, atol=TOL)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=TOL)


# ---------------------------------------------------------------------------------------------- scripted


@pytest.mark.parametrize("spec", LAYERS, ids=LAYER_IDS)
def test_scripted_loop_equals_plain(spec, device64):
    _, _, ours_cls, extra = spec
    lengths = torch.tensor([4, 5, 2])
    for packed in (False, True):
        torch.manual_seed(9)
        plain = ours_cls(D, H, num_layers=2, bidirectional=True, **extra, device=device64, dtype=F64)
        scripted = ours_cls(D, H, num_layers=2, bidirectional=True, **extra, device=device64, dtype=F64,
                            scripted=True)
        scripted.load_state_dict(plain.state_dict())
        x = torch.randn(T, 3, D, device=device64, dtype=F64, requires_grad=True)

        def call(model, packed=packed, x=x):
            return model(pack_padded_sequence(x, lengths, enforce_sorted=False) if packed else x)

        _compare(plain, scripted, [x], call)
    assert "scripted=True" in repr(scripted)


def test_scripted_and_plain_agree_in_float32(device):
    torch.manual_seed(10)
    plain = LSTM(D, H, num_layers=2, device=device)
    scripted = LSTM(D, H, num_layers=2, device=device, scripted=True)
    scripted.load_state_dict(plain.state_dict())
    x = torch.randn(T, B, D, device=device)
    torch.testing.assert_close(scripted(x)[0], plain(x)[0], rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------- no fused kernels

_FUSED = re.compile(r"rnn|lstm|gru", re.IGNORECASE)  # lstm, gru_cell, rnn_tanh, mkldnn_rnn_layer, ...


class _FunctionNames(TorchFunctionMode):
    """Records the name of every torch function called (torch._VF.lstm shows up as 'lstm')."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.names.add(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


class _KernelNames(TorchDispatchMode):
    """Records every ATen kernel that runs (mkldnn_rnn_layer, _cudnn_rnn... show up here)."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(str(func))
        return func(*args, **(kwargs or {}))


def _recurrent_calls(run) -> list[str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _FunctionNames() as functions, _KernelNames() as kernels:
            run()
    return sorted(name for name in functions.names | kernels.names if _FUSED.search(name.split(".")[-1]))


def test_kernel_detector_catches_torch_nn():
    """The detector below is not blind: torch.nn's own layers are caught (float32 and float64)."""
    for dtype in (torch.float32, torch.float64):
        model, x = nn.LSTM(D, H, dtype=dtype), torch.randn(T, B, D, dtype=dtype)
        assert _recurrent_calls(lambda model=model, x=x: model(x)[0].sum().backward())
    cell = nn.GRUCell(D, H)
    assert _recurrent_calls(lambda: cell(torch.randn(B, D)).sum().backward())


def _every_model(device, dtype):
    for _, _, ours_cls, extra in LAYERS:
        for scripted in (False, True):
            yield ours_cls(D, H, num_layers=2, bidirectional=True, **extra, device=device, dtype=dtype,
                           scripted=scripted), torch.randn(T, B, D, device=device, dtype=dtype)
    for _, _, ours_cls, extra in CELLS:
        yield ours_cls(D, H, **extra, device=device, dtype=dtype), torch.randn(B, D, device=device, dtype=dtype)


def test_no_fused_recurrent_kernel_runs(device):
    for dtype in (torch.float32,) if device.type == "mps" else (torch.float32, torch.float64):
        for model, x in _every_model(device, dtype):

            def run(model=model, x=x):
                loss = _weighted_loss(_flat_outputs(model(x)))
                loss.backward()

            assert _recurrent_calls(run) == [], type(model).__name__


def test_fused_entry_points_may_raise(monkeypatch, device):
    """Every Python entry point to PyTorch's recurrent kernels and modules raises; ours still run."""

    def forbidden(*args, **kwargs):
        raise AssertionError("a fused recurrent kernel or torch.nn recurrent module was called")

    for name in ("lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell",
                 "rnn_relu_cell", "_cudnn_rnn", "mkldnn_rnn_layer", "_thnn_fused_lstm_cell",
                 "_thnn_fused_gru_cell"):
        monkeypatch.setattr(torch._VF, name, forbidden, raising=False)
        monkeypatch.setattr(torch, name, forbidden, raising=False)
    for cls in (nn.RNNBase, nn.RNN, nn.LSTM, nn.GRU, nn.RNNCellBase, nn.RNNCell, nn.LSTMCell, nn.GRUCell):
        monkeypatch.setattr(cls, "__init__", forbidden)
        monkeypatch.setattr(cls, "forward", forbidden)
    with pytest.raises(AssertionError, match="fused"):
        torch.lstm(torch.zeros(1))
    for model, x in _every_model(device, torch.float32):
        _weighted_loss(_flat_outputs(model(x))).backward()


def test_source_uses_no_fused_kernel_or_torch_module():
    """No attribute access or import in rnncourse/recurrent.py names a recurrent kernel or torch.nn layer."""
    banned = {"_VF", "lstm", "gru", "rnn_tanh", "rnn_relu", "lstm_cell", "gru_cell", "rnn_tanh_cell",
              "rnn_relu_cell", "_cudnn_rnn", "mkldnn_rnn_layer", "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell",
              "RNNBase", "RNNCellBase", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"}
    tree = ast.parse(inspect.getsource(recurrent))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in banned:
            found.append(ast.unparse(node))
        if isinstance(node, ast.ImportFrom):
            found += [f"from {node.module} import {alias.name}" for alias in node.names if alias.name in banned]
    assert found == []
    graph = str(recurrent.scripted_run_layer().inlined_graph)
    assert not re.search(r"aten::(lstm|gru|rnn_|_cudnn|mkldnn_rnn|_thnn_fused)", graph)


# ---------------------------------------------------------------------------------------------- errors


def test_wrong_input_sizes_explain_themselves():
    with pytest.raises(ValueError, match=r"LSTM expected input of shape \(T, B, 3\).*got \(5, 2, 4\)"):
        LSTM(3, 4)(torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match=r"GRU expected input of shape .*got \(1, 5, 2, 3\)"):
        GRU(3, 4)(torch.randn(1, 5, 2, 3))
    with pytest.raises(ValueError, match=r"RNN expected h_0 of shape \(num_layers \* num_directions, B, H_out\) "
                                         r"= \(4, 2, 4\) for a batch of 2, got \(2, 2, 4\)"):
        RNN(3, 4, num_layers=2, bidirectional=True)(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"LSTM expected c_0 of shape .* = \(1, 2, 4\).*got \(1, 2, 2\)"):
        LSTM(3, 4, proj_size=2)(torch.randn(5, 2, 3), (torch.zeros(1, 2, 2), torch.zeros(1, 2, 2)))
    with pytest.raises(ValueError, match=r"h_0 of shape \(num_layers \* num_directions, H_out\) = \(1, 4\) for "
                                         r"an unbatched input, got \(1, 1, 4\)"):
        GRU(3, 4)(torch.randn(5, 3), torch.zeros(1, 1, 4))
    with pytest.raises(TypeError, match=r"LSTM expected hx = \(h_0, c_0\)"):
        LSTM(3, 4)(torch.randn(5, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"float32 .* but the input is torch.float64"):
        GRU(3, 4, dtype=F64)(torch.randn(5, 2, 3, dtype=F64), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"PackedSequence with data of shape \(N, 3\), got \(7, 2\)"):
        LSTM(3, 4)(pack_padded_sequence(torch.randn(4, 2, 2), torch.tensor([4, 3])))
    with pytest.raises(ValueError, match="at least one time step"):
        RNN(3, 4)(torch.randn(0, 2, 3))
    with pytest.raises(ValueError, match=r"LSTMCell expected input of shape \(B, 3\) or unbatched \(3,\), got \(2, 4\)"):
        LSTMCell(3, 4)(torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"GRUCell expected hx of shape \(2, 4\) .*got \(3, 4\)"):
        GRUCell(3, 4)(torch.randn(2, 3), torch.zeros(3, 4))
    with pytest.raises(ValueError, match=r"RNNCell expected hx of shape \(4,\) .*got \(1, 4\)"):
        RNNCell(3, 4)(torch.randn(3), torch.zeros(1, 4))


def test_wrong_constructor_arguments_explain_themselves():
    with pytest.raises(ValueError, match="proj_size"):
        LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="nonlinearity"):
        RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout"):
        GRU(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="num_layers"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="hidden_size"):
        LSTM(3, 0)
    with pytest.raises(TypeError):
        GRU(3, 4, proj_size=2)  # as in torch.nn, only the LSTM projects


def test_repr_reads_like_torch():
    assert repr(LSTM(3, 4, num_layers=2, bidirectional=True)) == "LSTM(3, 4, num_layers=2, bidirectional=True)"
    assert repr(GRUCell(3, 4, bias=False)) == "GRUCell(3, 4, bias=False)"
    assert repr(RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4, nonlinearity='relu')"


# ---------------------------------------------------------------------------------------------- ElmanRNN


def _elman_before(model, x, h_0=None):
    """ElmanRNN.forward as it was before the general layers existed, kept to pin its numbers down."""
    unbatched = x.dim() == 2
    if unbatched:
        x = x.unsqueeze(1)
        h_0 = None if h_0 is None else h_0.unsqueeze(1)
    elif model.batch_first:
        x = x.transpose(0, 1)
    h = torch.zeros(x.shape[1], model.hidden_size, dtype=x.dtype, device=x.device) if h_0 is None else h_0[0]
    bias = 0.0 if model.bias_ih_l0 is None else model.bias_ih_l0 + model.bias_hh_l0
    projected = x @ model.weight_ih_l0.T + bias
    outputs = []
    for t in range(x.shape[0]):
        h = torch.tanh(projected[t] + h @ model.weight_hh_l0.T)
        outputs.append(h)
    output, h_n = torch.stack(outputs), h.unsqueeze(0)
    if unbatched:
        return output.squeeze(1), h_n.squeeze(1)
    return (output.transpose(0, 1) if model.batch_first else output), h_n


def test_elman_rnn_is_a_one_layer_tanh_rnn_with_unchanged_numbers(device):
    for dtype, bias, batch_first, given, unbatched in itertools.product(
        [torch.float32] if device.type == "mps" else [torch.float32, F64],
        [True, False], [False, True], [False, True], [False, True],
    ):
        torch.manual_seed(11)
        model = ElmanRNN(D, H, bias=bias, batch_first=batch_first, device=device, dtype=dtype)
        assert isinstance(model, RNN) and model.num_layers == 1 and model.nonlinearity == "tanh"
        shape = (T, D) if unbatched else ((B, T, D) if batch_first else (T, B, D))
        x = torch.randn(shape, device=device, dtype=dtype)
        h_0 = torch.randn((1, H) if unbatched else (1, B, H), device=device, dtype=dtype) if given else None
        for got, expected in zip(model(x, h_0), _elman_before(model, x, h_0)):
            assert torch.equal(got, expected)
        torch.manual_seed(11)
        assert torch.equal(model.weight_ih_l0, nn.RNN(D, H, device=device, dtype=dtype).weight_ih_l0)
