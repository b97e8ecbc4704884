"""Self-checks for exercise 3 (*Gated memory: LSTM and GRU*).

Parts 1, 2 and 5 are NumPy functions; parts 3 and 4 are written in PyTorch (tensors in, tensors out,
autograd allowed) and are compared with ``torch.nn.LSTM`` itself, with the student's weights put into
it by :func:`torch.func.functional_call`, including the gradients of the outputs with respect to
every argument. The LSTM cell is compared with ``torch.nn.LSTMCell`` the same way, so the references
here are independent of ``rnncourse``'s own layers. The GRU of part 2 is the lectures' convention,
which ``torch.nn`` does not implement; it is compared with :func:`rnncourse.gated.lecture_gru_cell`
and, where an exact map exists (a diagonal candidate matrix), with ``torch.nn.GRUCell``.

When a value is wrong, the checks try the usual mistakes (gates in another order, a sigmoid where a
tanh belongs, the reset gate forgotten or in torch's place, the update gate the wrong way round, ...)
and name the one that matches. The grading spec (``solutions/ex03_gated/grading.py``) uses the same
references, problems and hints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rnncourse.checks import SelfCheckError, check_array, check_own_code, check_unchanged, self_check
from rnncourse.checks.ex01 import _call, _close, _is_float_array, _is_list, _never_raises, _sizes

__all__ = [
    "BIDIRECTIONAL_HINT",
    "GRU_HINT",
    "LAYER_HINT",
    "LSTM_HINT",
    "POOL_HINT",
    "check_bidirectional_lstm",
    "check_gru_cell_lecture",
    "check_gru_cell_lecture_general",
    "check_lstm_cell",
    "check_lstm_cell_general",
    "check_lstm_layer",
    "check_lstm_layer_gradients",
    "check_pool_states",
    "diagnose_pair",
    "gru_mistakes",
    "lstm_mistakes",
    "random_bidirectional_problem",
    "random_gru_problem",
    "random_layer_problem",
    "random_lstm_problem",
    "random_pool_problem",
    "reference_bidirectional_lstm",
    "reference_gru_cell_lecture",
    "reference_gru_cell_lecture_torch",
    "reference_lstm_cell",
    "reference_lstm_layer",
    "reference_pool_states",
]

LSTM_HINT = (
    "Compute all four blocks at once, a = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh (shape (B, 4H)), and split it in the "
    "order i, f, g, o; i, f and o go through the sigmoid, g through tanh; then C_new = f * C + i * g and "
    "h_new = o * tanh(C_new)."
)
GRU_HINT = (
    "The blocks of U, W and b are in the order z, r, candidate. The reset gate multiplies the state before the "
    "recurrent matrix: tanh(U_h x + W_h (r * h) + b_h); the update gate admits the candidate: "
    "h_new = (1 - z) * h + z * candidate."
)
LAYER_HINT = (
    "Keep everything in torch (no .numpy(), no NumPy functions, no .detach()): loop over t, apply the LSTM step "
    "to x[t] and the running (h, C), collect each h in a list and torch.stack it into (T, B, H); return "
    "(output, h of the last step, C of the last step)."
)
BIDIRECTIONAL_HINT = (
    "Run lstm_layer forwards on x and again on x reversed in time (torch.flip(x, [0])) with the second set of "
    "weights, both from zero states and with b_hh = zeros; flip the backward outputs back, concatenate the two "
    "along the last axis, and stack the two final h's as (2, B, H): forward first."
)
POOL_HINT = (
    "mask[t, b] is 1 for the real steps of sequence b and 0 for padding. The mean is the sum of the states times "
    "the mask, divided by the number of real steps; the last state of sequence b is states[length_b - 1, b]."
)

LSTM_NAMES = ["x", "h", "C", "W_ih", "W_hh", "b_ih", "b_hh"]
GRU_NAMES = ["x", "h", "U", "W", "b"]


# --------------------------------------------------------------------------- random problems


def random_lstm_problem(rng: np.random.Generator, B: int, D: int, H: int) -> list[np.ndarray]:
    """``[x, h, C, W_ih, W_hh, b_ih, b_hh]`` with every gate away from saturation."""
    return [
        rng.standard_normal((B, D)),
        np.tanh(rng.standard_normal((B, H))),
        rng.standard_normal((B, H)),
        rng.standard_normal((4 * H, D)) / np.sqrt(D),
        rng.standard_normal((4 * H, H)) / np.sqrt(H),
        0.5 * rng.standard_normal(4 * H),
        0.5 * rng.standard_normal(4 * H),
    ]


def random_gru_problem(rng: np.random.Generator, B: int, D: int, H: int, diagonal: bool = False) -> list[np.ndarray]:
    """``[x, h, U, W, b]`` for the lectures' GRU; ``diagonal`` makes the candidate's recurrent block
    diagonal, the case in which ``torch.nn.GRUCell`` can compute the same function."""
    W = rng.standard_normal((3 * H, H)) / np.sqrt(H)
    if diagonal:
        W[2 * H:] = np.diag(rng.standard_normal(H))
    return [
        rng.standard_normal((B, D)),
        np.tanh(rng.standard_normal((B, H))),
        rng.standard_normal((3 * H, D)) / np.sqrt(D),
        W,
        0.5 * rng.standard_normal(3 * H),
    ]


def random_layer_problem(rng: np.random.Generator, T: int, B: int, D: int, H: int) -> list[np.ndarray]:
    """``[x, h0, C0, W_ih, W_hh, b_ih, b_hh]`` for an LSTM layer over ``T`` steps."""
    x = rng.standard_normal((T, B, D))
    return [x, *random_lstm_problem(rng, B, D, H)[1:]]


def random_bidirectional_problem(rng: np.random.Generator, T: int, B: int, D: int, H: int) -> list[np.ndarray]:
    """``[x, W_ih_f, W_hh_f, b_f, W_ih_b, W_hh_b, b_b]``: two directions' weights, one bias each."""
    x = rng.standard_normal((T, B, D))
    directions = []
    for _ in range(2):
        directions += [
            rng.standard_normal((4 * H, D)) / np.sqrt(D),
            rng.standard_normal((4 * H, H)) / np.sqrt(H),
            0.5 * rng.standard_normal(4 * H),
        ]
    return [x, *directions]


def random_pool_problem(rng: np.random.Generator, T: int, B: int, H: int, lengths: Sequence[int] | None = None) -> list[np.ndarray]:
    """``[states, mask]``: states ``(T, B, H)`` and a padding mask ``(T, B)`` of 0/1 floats for random (or
    the given) lengths between 1 and ``T``. Padded steps hold garbage, as a real layer's output would."""
    if lengths is None:
        lengths = rng.integers(1, T + 1, size=B)
    lengths = np.asarray(lengths)
    mask = (np.arange(T)[:, None] < lengths[None, :]).astype(np.float64)
    return [rng.standard_normal((T, B, H)), mask]


# --------------------------------------------------------------------------- references


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def reference_lstm_cell(x, h, C, W_ih, W_hh, b_ih, b_hh):
    """``(h_new, C_new)`` from ``torch.nn.LSTMCell`` (float64) with these weights."""
    import torch

    cell = torch.nn.LSTMCell(W_ih.shape[1], W_hh.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (W_ih, W_hh, b_ih, b_hh)):
            getattr(cell, name).copy_(torch.from_numpy(np.asarray(value, dtype=np.float64)))
        h_new, C_new = cell(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(C)))
    return h_new.numpy(), C_new.numpy()


def reference_gru_cell_lecture(x, h, U, W, b):
    """The lectures' GRU step, from :func:`rnncourse.gated.lecture_gru_cell`."""
    from rnncourse import gated

    return gated.lecture_gru_cell(x, h, U, W, b)


def reference_gru_cell_lecture_torch(x, h, U, W, b):
    """The same step from ``torch.nn.GRUCell``, through the exact weight map (only for a diagonal candidate
    block): independent of :mod:`rnncourse.gated`'s own step."""
    import torch

    from rnncourse import gated

    W_ih, W_hh, b_ih, b_hh = gated.lecture_to_torch_gru(U, W, b)
    cell = torch.nn.GRUCell(U.shape[1], W.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (W_ih, W_hh, b_ih, b_hh)):
            getattr(cell, name).copy_(torch.from_numpy(np.asarray(value, dtype=np.float64)))
        return cell(torch.from_numpy(x), torch.from_numpy(h)).numpy()


def reference_lstm_layer(x, h0, C0, W_ih, W_hh, b_ih, b_hh):
    """``(output, h_n, C_n)`` of ``torch.nn.LSTM`` run with these tensors as its weights (differentiable in all of them)."""
    import torch
    from torch.func import functional_call

    layer = torch.nn.LSTM(x.shape[-1], h0.shape[-1], dtype=x.dtype, device=x.device)
    weights = {"weight_ih_l0": W_ih, "weight_hh_l0": W_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    output, (h_n, C_n) = functional_call(layer, weights, (x, (h0.unsqueeze(0), C0.unsqueeze(0))))
    return output, h_n[0], C_n[0]


def reference_bidirectional_lstm(x, W_ih_f, W_hh_f, b_f, W_ih_b, W_hh_b, b_b):
    """``(output, h_n)`` of ``torch.nn.LSTM(bidirectional=True)`` from zero states, ``bias_hh = 0``."""
    import torch
    from torch.func import functional_call

    H = W_hh_f.shape[-1]
    layer = torch.nn.LSTM(x.shape[-1], H, bidirectional=True, dtype=x.dtype, device=x.device)
    zero = torch.zeros(4 * H, dtype=x.dtype, device=x.device)
    weights = {
        "weight_ih_l0": W_ih_f, "weight_hh_l0": W_hh_f, "bias_ih_l0": b_f, "bias_hh_l0": zero,
        "weight_ih_l0_reverse": W_ih_b, "weight_hh_l0_reverse": W_hh_b, "bias_ih_l0_reverse": b_b,
        "bias_hh_l0_reverse": zero,
    }
    output, (h_n, _) = functional_call(layer, weights, (x,))
    return output, h_n


def reference_pool_states(states, mask):
    """``(last, mean)`` from :func:`rnncourse.gated.pool_states`."""
    from rnncourse import gated

    return gated.pool_states(states, mask)


# --------------------------------------------------------------------------- the usual mistakes


def _lstm_step(x, h, C, W_ih, W_hh, b_ih, b_hh, *, order="ifgo", candidate=np.tanh, read=np.tanh, recurrent_bias=True):
    a = x @ W_ih.T + b_ih + h @ W_hh.T + (b_hh if recurrent_bias else 0.0)
    blocks = dict(zip(order, np.split(a, 4, axis=-1)))
    i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"])
    C_new = f * C + i * candidate(blocks["g"])
    return o * read(C_new), C_new


def lstm_mistakes(x, h, C, W_ih, W_hh, b_ih, b_hh) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What a plausible wrong ``lstm_cell`` returns, by the sentence that explains it."""
    args = (x, h, C, W_ih, W_hh, b_ih, b_hh)
    mistakes = {
        f"the blocks are read in the order {', '.join(order)}: torch stacks them i, f, g, o "
        "(input gate, forget gate, candidate, output gate)": _lstm_step(*args, order=order)
        for order in ("figo", "igfo", "ifog", "oifg", "gifo")
    }
    mistakes["the candidate g went through a sigmoid: it is tanh(...), the only block that can be negative"] = (
        _lstm_step(*args, candidate=_sigmoid)
    )
    mistakes["h_new = o * C_new is missing the tanh: h_new = o * tanh(C_new)"] = _lstm_step(*args, read=lambda c: c)
    mistakes["b_hh is missing: both biases are added, x @ W_ih.T + b_ih + h @ W_hh.T + b_hh"] = (
        _lstm_step(*args, recurrent_bias=False)
    )
    h_new, C_new = _lstm_step(*args)
    mistakes["returned (C_new, h_new): the order is (h_new, C_new)"] = (C_new, h_new)
    return mistakes


def _lecture_gru(x, h, U, W, b, *, order="zrh", reset="before", update="admits", use_reset=True):
    a_x = x @ U.T + b
    H = h.shape[-1]
    blocks_x = dict(zip(order, np.split(a_x, 3, axis=-1)))
    blocks_W = dict(zip(order, np.split(W, 3, axis=0)))
    z = _sigmoid(blocks_x["z"] + h @ blocks_W["z"].T)
    r = _sigmoid(blocks_x["r"] + h @ blocks_W["r"].T) if use_reset else np.ones_like(h)
    if reset == "before":
        candidate = np.tanh(blocks_x["h"] + (r * h) @ blocks_W["h"].T)
    else:
        candidate = np.tanh(blocks_x["h"] + r * (h @ blocks_W["h"].T))
    assert candidate.shape[-1] == H
    if update == "admits":
        return (1.0 - z) * h + z * candidate
    return z * h + (1.0 - z) * candidate


def gru_mistakes(x, h, U, W, b) -> dict[str, np.ndarray]:
    """What a plausible wrong ``gru_cell_lecture`` returns, by the sentence that explains it."""
    args = (x, h, U, W, b)
    return {
        "z keeps the old state, as in torch.nn.GRU; in the lectures' convention z admits the candidate: "
        "h_new = (1 - z) * h + z * candidate": _lecture_gru(*args, update="keeps"),
        "the reset gate multiplies W_h h (torch's place for it); in the lectures' GRU it multiplies h before the "
        "matrix: W_h (r * h)": _lecture_gru(*args, reset="after"),
        "the reset gate is missing: the candidate uses r * h, not h": _lecture_gru(*args, use_reset=False),
        "the blocks are read in the order r, z, candidate (torch's order); here they are z, r, candidate":
            _lecture_gru(*args, order="rzh"),
        "the update and reset gates are swapped and z keeps the old state": _lecture_gru(*args, order="rzh", update="keeps"),
    }


def _matching_mistake(value: Any, mistakes: dict[str, Any]) -> str | None:
    for sentence, wrong in mistakes.items():
        if isinstance(wrong, tuple):
            if isinstance(value, tuple) and len(value) == len(wrong) and all(
                _is_float_array(v) and _close(v, w) for v, w in zip(value, wrong)
            ):
                return sentence
        elif _is_float_array(value) and _close(value, wrong):
            return sentence
    return None


def diagnose_pair(names: Sequence[str]) -> Callable[[Any, Any], str | None]:
    """A diagnosis for a function that returns a tuple of arrays named ``names`` (``"h_new (B, H)"``):
    a list, one array, the wrong count, or two items swapped."""
    want = "(" + ", ".join(n.split(" ")[0] for n in names) + ")"

    @_never_raises
    def diagnose(value: Any, expected: Any) -> str | None:
        if _is_list(value):
            return f"returned a list; expected the tuple {want}"
        if _is_float_array(value):
            return f"returned one array of shape {value.shape}; expected the tuple {want}"
        if not isinstance(value, tuple):
            return None
        if len(value) != len(expected):
            return f"returned {len(value)} items; expected {len(expected)}: {want}"
        for i, (item, wanted) in enumerate(zip(value, expected)):
            for j, other in enumerate(expected):
                if i != j and _is_float_array(item) and _close(item, np.asarray(other)) and not _close(item, np.asarray(wanted)):
                    return f"item {i} holds what belongs in item {j}: the order is {want}"
        return None

    return diagnose


# --------------------------------------------------------------------------- running a check


def _check_numpy_call(task, func, names, args, expected, items, hint, mistakes=None, rtol=1e-9, atol=1e-11):
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    got = _call(task, func, *copies, hint=hint)
    if isinstance(expected, tuple):
        problem = diagnose_pair(items)(got, expected)
        if problem:
            raise SelfCheckError(f"{task} {problem}.")
    wrong = not (
        (isinstance(expected, tuple) and isinstance(got, tuple) and len(got) == len(expected)
         and all(_is_float_array(g) and _close(g, e) for g, e in zip(got, expected)))
        or (not isinstance(expected, tuple) and _is_float_array(got) and _close(got, expected))
    )
    if wrong and mistakes is not None:
        sentence = _matching_mistake(got, mistakes())
        if sentence:
            raise SelfCheckError(f"{task} is wrong: {sentence}.")
    if isinstance(expected, tuple):
        if not (isinstance(got, tuple) and len(got) == len(expected)):
            raise SelfCheckError(f"{task} should return a tuple of {len(expected)} arrays; got {type(got).__name__}.")
        for index, (item, wanted, meaning) in enumerate(zip(got, expected, items)):
            name, shape = meaning.split(" ", 1)
            check_array(f"item {index} ({name}) of {task}", item, wanted, meaning=shape, hint=hint, rtol=rtol, atol=atol)
    else:
        name, shape = items[0].split(" ", 1)
        check_array(task, got, expected, meaning=shape, hint=hint, rtol=rtol, atol=atol)
    check_unchanged(task, names, args, copies)
    return got


# --------------------------------------------------------------------------- part 1: the LSTM cell

LSTM_ITEMS = ("h_new (B, H)", "C_new (B, H)")


def _check_lstm_on(lstm_cell, rng, sizes):
    task = "lstm_cell(x, h, C, W_ih, W_hh, b_ih, b_hh)"
    check_own_code(lstm_cell, task)
    for B, D, H in sizes:
        args = random_lstm_problem(rng, B, D, H)
        _check_numpy_call(
            f"{task} with {_sizes(B=B, D=D, H=H)}", lstm_cell, LSTM_NAMES, args, reference_lstm_cell(*args),
            LSTM_ITEMS, LSTM_HINT, mistakes=lambda args=args: lstm_mistakes(*args),
        )


@self_check
def check_lstm_cell(lstm_cell: Callable[..., Any], seed: int = 30) -> None:
    """``lstm_cell`` against ``torch.nn.LSTMCell`` with the same weights, for two sizes."""
    _check_lstm_on(lstm_cell, np.random.default_rng(seed), [(3, 4, 5), (2, 3, 2)])
    print("lstm_cell: h_new and C_new agree with torch.nn.LSTMCell (same weights) for B=3, D=4, H=5 and B=2, D=3, H=2.")


@self_check
def check_lstm_cell_general(lstm_cell: Callable[..., Any], seed: int = 31) -> None:
    """A batch of one, ``H = 1``, ``D == H``, ``4H == D``; inputs unchanged."""
    _check_lstm_on(lstm_cell, np.random.default_rng(seed), [(1, 3, 4), (5, 2, 1), (4, 6, 6), (2, 8, 2)])
    print("lstm_cell: correct for a batch of one, H = 1, D == H and D == 4H; the inputs are untouched.")


# --------------------------------------------------------------------------- part 2: the lectures' GRU

GRU_ITEMS = ("h_new (B, H)",)


def _check_gru_on(gru_cell_lecture, rng, sizes, diagonal=False):
    task = "gru_cell_lecture(x, h, U, W, b)"
    check_own_code(gru_cell_lecture, task)
    for B, D, H in sizes:
        args = random_gru_problem(rng, B, D, H, diagonal=diagonal)
        reference = reference_gru_cell_lecture_torch if diagonal else reference_gru_cell_lecture
        label = f"{task} with {_sizes(B=B, D=D, H=H)}" + (", a diagonal W_h, against torch.nn.GRUCell" if diagonal else "")
        _check_numpy_call(label, gru_cell_lecture, GRU_NAMES, args, reference(*args), GRU_ITEMS, GRU_HINT,
                          mistakes=lambda args=args: gru_mistakes(*args))


@self_check
def check_gru_cell_lecture(gru_cell_lecture: Callable[..., Any], seed: int = 32) -> None:
    """The lectures' GRU for two sizes, and once against ``torch.nn.GRUCell`` where the two conventions meet."""
    rng = np.random.default_rng(seed)
    _check_gru_on(gru_cell_lecture, rng, [(3, 4, 5), (2, 2, 3)])
    _check_gru_on(gru_cell_lecture, rng, [(3, 2, 4)], diagonal=True)
    print("gru_cell_lecture: correct for B=3, D=4, H=5 and B=2, D=2, H=3, and equal to torch.nn.GRUCell with the "
          "mapped weights when W_h is diagonal.")


@self_check
def check_gru_cell_lecture_general(gru_cell_lecture: Callable[..., Any], seed: int = 33) -> None:
    """A batch of one, ``H = 1``, ``D == H``, ``D == 3H``; inputs unchanged."""
    _check_gru_on(gru_cell_lecture, np.random.default_rng(seed), [(1, 3, 4), (6, 2, 1), (3, 5, 5), (2, 6, 2)])
    print("gru_cell_lecture: correct for a batch of one, H = 1, D == H and D == 3H; the inputs are untouched.")


# --------------------------------------------------------------------------- parts 3 and 4: PyTorch


def _flat(value: Any) -> list[Any]:
    if isinstance(value, tuple):
        return [v for item in value for v in _flat(item)]
    return [value]


def _torch_case(task, func, names, args, reference, items, hint, gradients: bool):
    """Call ``func`` on tensors, compare values (and gradients of a random weighting of the outputs) with ``reference``."""
    import torch

    def tensors(require: bool):
        out = [torch.tensor(a, dtype=torch.float64) for a in args]
        if require:
            for t in out:
                t.requires_grad_(True)
        return out

    expected_inputs = tensors(gradients)
    expected = reference(*expected_inputs)
    student_inputs = tensors(gradients)
    snapshot = [t.detach().clone() for t in student_inputs]
    got = _call(task, func, *student_inputs, hint=hint)
    if _is_list(got):
        raise SelfCheckError(f"{task} returned a list; expected a tuple {items}.")
    if not isinstance(got, tuple) or len(got) != len(expected):
        raise SelfCheckError(f"{task} should return a tuple of {len(expected)} tensors {items}; got {type(got).__name__}.")
    for index, (item, wanted) in enumerate(zip(got, expected)):
        name = items.strip("()").split(", ")[index]
        if isinstance(item, np.ndarray):
            raise SelfCheckError(
                f"item {index} ({name}) of {task} is a NumPy array; expected a torch tensor. Keep the whole "
                "computation in torch, so that autograd can follow it."
            )
        if not isinstance(item, torch.Tensor):
            raise SelfCheckError(f"item {index} ({name}) of {task} is a {type(item).__name__}; expected a torch tensor.")
        if not item.is_floating_point():
            raise SelfCheckError(f"item {index} ({name}) of {task} has dtype {item.dtype}; expected torch.float64.")
        shape = tuple(wanted.shape)
        check_array(f"item {index} ({name}) of {task}", item.detach().double().numpy(), wanted.detach().numpy(),
                    meaning=str(shape), hint=hint, rtol=1e-9, atol=1e-11)
    for name, before, after in zip(names, snapshot, student_inputs):
        if not torch.equal(before, after.detach()):
            raise SelfCheckError(f"{task} changed its argument `{name}` in place: build new tensors instead.")
    if not gradients:
        return
    rng = np.random.default_rng(len(args))
    probes = [torch.from_numpy(rng.standard_normal(tuple(o.shape))) for o in _flat(expected)]
    total_expected = sum((o * p).sum() for o, p in zip(_flat(expected), probes))
    wanted = torch.autograd.grad(total_expected, expected_inputs, allow_unused=True)
    total = sum((o * p.to(o.dtype)).sum() for o, p in zip(_flat(got), probes))
    if not getattr(total, "requires_grad", False):
        raise SelfCheckError(
            f"{task}: the result is not connected to the inputs through autograd. Was something computed with "
            "NumPy, or detached? " + hint
        )
    try:
        grads = torch.autograd.grad(total, student_inputs, allow_unused=True)
    except RuntimeError as error:
        raise SelfCheckError(f"{task}: backpropagating through the result failed: {error}") from None
    for name, g, w in zip(names, grads, wanted):
        w = np.zeros(tuple(args[names.index(name)].shape)) if w is None else w.numpy()
        if g is None:
            if np.any(w):
                raise SelfCheckError(f"{task}: the result does not depend on `{name}` through autograd, but it should.")
            continue
        check_array(f"the gradient with respect to `{name}` of {task}", g.double().numpy(), w,
                    meaning=f"like {name}", hint=hint, rtol=1e-8, atol=1e-10)


LAYER_NAMES = ["x", "h0", "C0", "W_ih", "W_hh", "b_ih", "b_hh"]
LAYER_ITEMS = "(output, h_n, C_n)"


def _check_layer_on(lstm_layer, rng, sizes, gradients):
    task = "lstm_layer(x, h0, C0, W_ih, W_hh, b_ih, b_hh)"
    check_own_code(lstm_layer, task, allow_torch=True)
    for T, B, D, H in sizes:
        _torch_case(f"{task} with {_sizes(T=T, B=B, D=D, H=H)}", lstm_layer, LAYER_NAMES,
                    random_layer_problem(rng, T, B, D, H), reference_lstm_layer, LAYER_ITEMS, LAYER_HINT, gradients)


@self_check
def check_lstm_layer(lstm_layer: Callable[..., Any], seed: int = 34) -> None:
    """``lstm_layer`` against ``torch.nn.LSTM`` with the same weights: outputs and final states."""
    _check_layer_on(lstm_layer, np.random.default_rng(seed), [(5, 3, 4, 3), (1, 2, 2, 4)], gradients=False)
    print("lstm_layer: output, h_n and C_n agree with torch.nn.LSTM (same weights) for T=5 and T=1.")


@self_check
def check_lstm_layer_gradients(lstm_layer: Callable[..., Any], seed: int = 35) -> None:
    """The gradients of a random weighting of the outputs with respect to every argument, against ``torch.nn.LSTM``."""
    _check_layer_on(lstm_layer, np.random.default_rng(seed), [(6, 2, 3, 4), (3, 1, 5, 2)], gradients=True)
    print("lstm_layer: the gradients with respect to x, h0, C0 and all four weights agree with torch.nn.LSTM's.")


BIDIRECTIONAL_NAMES = ["x", "W_ih_f", "W_hh_f", "b_f", "W_ih_b", "W_hh_b", "b_b"]


@self_check
def check_bidirectional_lstm(bidirectional_lstm: Callable[..., Any], seed: int = 36) -> None:
    """``bidirectional_lstm`` against ``torch.nn.LSTM(bidirectional=True)``: values and gradients."""
    task = "bidirectional_lstm(x, W_ih_f, W_hh_f, b_f, W_ih_b, W_hh_b, b_b)"
    check_own_code(bidirectional_lstm, task, allow_torch=True)
    rng = np.random.default_rng(seed)
    for T, B, D, H in [(4, 2, 3, 3), (1, 1, 2, 2), (7, 3, 2, 4)]:
        _torch_case(f"{task} with {_sizes(T=T, B=B, D=D, H=H)}", bidirectional_lstm, BIDIRECTIONAL_NAMES,
                    random_bidirectional_problem(rng, T, B, D, H), reference_bidirectional_lstm, "(output, h_n)",
                    BIDIRECTIONAL_HINT, gradients=True)
    print("bidirectional_lstm: output (T, B, 2H), h_n (2, B, H) and every gradient agree with "
          "torch.nn.LSTM(bidirectional=True) for T=4, T=1 and T=7.")


# --------------------------------------------------------------------------- part 5: pooling for classification

POOL_ITEMS = ("last (B, H)", "mean (B, H)")


@self_check
def check_pool_states(pool_states: Callable[..., Any], seed: int = 37) -> None:
    """Ragged batches: every length from 1 to ``T``, a batch of one, all sequences full; inputs unchanged."""
    task = "pool_states(states, mask)"
    check_own_code(pool_states, task)
    rng = np.random.default_rng(seed)
    problems = [
        ("T=6, B=4, H=3, lengths 6, 1, 3, 4", random_pool_problem(rng, 6, 4, 3, [6, 1, 3, 4])),
        ("T=5, B=1, H=2, length 2", random_pool_problem(rng, 5, 1, 2, [2])),
        ("T=3, B=3, H=4, every sequence full", random_pool_problem(rng, 3, 3, 4, [3, 3, 3])),
    ]
    for label, args in problems:
        _check_numpy_call(f"{task} with {label}", pool_states, ["states", "mask"], args, reference_pool_states(*args),
                          POOL_ITEMS, POOL_HINT, mistakes=lambda args=args: pool_mistakes(*args))
    print("pool_states: the last real state and the mean over real steps are right for ragged batches, a batch of "
          "one and full sequences; padding is ignored.")


def pool_mistakes(states, mask) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What a plausible wrong ``pool_states`` returns."""
    lengths = mask.sum(axis=0).astype(int)
    batch = np.arange(states.shape[1])
    last = states[lengths - 1, batch]
    mean = (states * mask[..., None]).sum(axis=0) / lengths[:, None]
    return {
        "the last state is states[-1], which is padding for the shorter sequences: take states[length - 1, b]":
            (states[-1], mean),
        "the mean includes the padded steps: average only where mask is 1": (last, states.mean(axis=0)),
        "the sum of the real states is divided by T, not by each sequence's length": (
            last, (states * mask[..., None]).sum(axis=0) / states.shape[0]),
        "the last state is one step too late (states[length, b]) or wraps around": (
            states[lengths % states.shape[0], batch], mean),
    }
