"""How exercise 3 is graded (instructor only: never released, see nbgrader_config.py).

One Part per graded cell of ex03_gated.ipynb, with the same grade_id and points. Every case draws
fresh random sizes' worth of arguments for each student; the grader computes the expected result in
its own process.

- The LSTM cell is compared with ``torch.nn.LSTMCell`` holding the same weights.
- The lectures' GRU is compared with :func:`rnncourse.gated.lecture_gru_cell` and, on cases with a
  diagonal candidate block (where an exact weight map exists), with ``torch.nn.GRUCell``.
- The two PyTorch parts receive float64 tensors and must return tensors; they are compared with
  ``torch.nn.LSTM`` run on the same tensors as its weights, and so are the gradients of a random
  weighting of every output with respect to every argument (autograd in the sandbox against
  autograd through ``torch.nn.LSTM`` here).
- Pooling is compared with :func:`rnncourse.gated.pool_states`.

The NumPy parts forbid torch altogether (the default). The PyTorch parts allow torch but forbid its
recurrent layers and cells and the fused kernels behind them (``torch._VF``, ``torch.lstm``,
``torch.ops``...), and rnncourse as always; inside the sandbox those functions are also replaced by
stubs that raise.
"""

from rnncourse.checks.ex03 import (
    BIDIRECTIONAL_HINT,
    GRU_HINT,
    LAYER_HINT,
    LSTM_HINT,
    POOL_HINT,
    diagnose_pair,
    random_bidirectional_problem,
    random_gru_problem,
    random_layer_problem,
    random_lstm_problem,
    random_pool_problem,
    reference_bidirectional_lstm,
    reference_gru_cell_lecture,
    reference_gru_cell_lecture_torch,
    reference_lstm_cell,
    reference_lstm_layer,
    reference_pool_states,
)
from rnncourse.grading.spec import AssignmentSpec, Case, Part

#: torch's recurrent layers and cells, and every way to their fused kernels.
TORCH_RECURRENT = (
    "torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNNCell", "torch.nn.LSTMCell", "torch.nn.GRUCell",
    "torch.nn.RNNBase", "torch.nn.RNNCellBase", "torch.nn.modules.rnn",
    "torch._VF", "torch._C", "torch.ops",
    "torch._VF.lstm", "torch._VF.lstm_cell", "torch._VF.gru", "torch._VF.gru_cell",
    "torch._VF.rnn_tanh", "torch._VF.rnn_relu", "torch._VF.rnn_tanh_cell", "torch._VF.rnn_relu_cell",
    "torch.lstm", "torch.lstm_cell", "torch.gru", "torch.gru_cell",
    "torch.rnn_tanh", "torch.rnn_relu", "torch.rnn_tanh_cell", "torch.rnn_relu_cell",
)
TORCH_PART = ("rnncourse", "scipy", "sklearn", "jax", "tensorflow", *TORCH_RECURRENT)

TOL = {"rtol": 1e-9, "atol": 1e-11}


def sizes(**kw):
    return ", ".join(f"{k}={v}" for k, v in kw.items())


def lstm_case(B, D, H):
    return Case(sizes(B=B, D=D, H=H), lambda rng: random_lstm_problem(rng, B, D, H), reference_lstm_cell, **TOL)


def gru_case(B, D, H, against_torch=False):
    if against_torch:
        return Case(sizes(B=B, D=D, H=H) + ", a diagonal W_h, against torch.nn.GRUCell",
                    lambda rng: random_gru_problem(rng, B, D, H, diagonal=True), reference_gru_cell_lecture_torch, **TOL)
    return Case(sizes(B=B, D=D, H=H), lambda rng: random_gru_problem(rng, B, D, H), reference_gru_cell_lecture, **TOL)


def layer_case(T, B, D, H, gradients=False):
    return Case(sizes(T=T, B=B, D=D, H=H) + (", gradients" if gradients else ""),
                lambda rng: random_layer_problem(rng, T, B, D, H), reference_lstm_layer, tensors=True,
                gradients=tuple(range(7)) if gradients else (), rtol=1e-8, atol=1e-10)


def bidirectional_case(T, B, D, H):
    return Case(sizes(T=T, B=B, D=D, H=H) + ", with gradients",
                lambda rng: random_bidirectional_problem(rng, T, B, D, H), reference_bidirectional_lstm, tensors=True,
                gradients=tuple(range(7)), rtol=1e-8, atol=1e-10)


def pool_case(label, T, B, H, lengths=None):
    return Case(label, lambda rng: random_pool_problem(rng, T, B, H, lengths), reference_pool_states, **TOL)


SPEC = AssignmentSpec(
    notebook="ex03_gated",
    packages=("numpy", "torch"),
    call_timeout=20.0,
    parts=(
        Part(
            cell="test_lstm_cell_values", function="lstm_cell", points=1, hint=LSTM_HINT,
            diagnose=diagnose_pair(("h_new (B, H)", "C_new (B, H)")),
            cases=(lstm_case(3, 4, 5), lstm_case(4, 2, 3)),
        ),
        Part(
            cell="test_lstm_cell_general", function="lstm_cell", points=2, hint=LSTM_HINT,
            diagnose=diagnose_pair(("h_new (B, H)", "C_new (B, H)")),
            # B == H and D == H: a transposed weight or a sum over the wrong axis runs without an error
            cases=(lstm_case(1, 2, 3), lstm_case(6, 3, 1), lstm_case(4, 4, 4), lstm_case(2, 12, 3), lstm_case(5, 1, 5)),
        ),
        Part(
            cell="test_gru_values", function="gru_cell_lecture", points=1, hint=GRU_HINT,
            cases=(gru_case(3, 4, 5), gru_case(2, 3, 2), gru_case(4, 2, 3, against_torch=True)),
        ),
        Part(
            cell="test_gru_general", function="gru_cell_lecture", points=2, hint=GRU_HINT,
            cases=(gru_case(1, 3, 4), gru_case(7, 2, 1), gru_case(3, 5, 5), gru_case(2, 6, 2),
                   gru_case(5, 3, 3, against_torch=True)),
        ),
        Part(
            cell="test_lstm_layer_values", function="lstm_layer", points=1, hint=LAYER_HINT, forbidden=TORCH_PART,
            cases=(layer_case(5, 3, 4, 3), layer_case(1, 2, 3, 2), layer_case(9, 1, 2, 5)),
        ),
        Part(
            cell="test_lstm_layer_gradients", function="lstm_layer", points=2, hint=LAYER_HINT, forbidden=TORCH_PART,
            cases=(layer_case(4, 2, 3, 4, gradients=True), layer_case(7, 3, 2, 2, gradients=True),
                   layer_case(2, 1, 4, 3, gradients=True)),
        ),
        Part(
            cell="test_bidirectional", function="bidirectional_lstm", points=2, hint=BIDIRECTIONAL_HINT,
            forbidden=TORCH_PART,
            cases=(bidirectional_case(4, 2, 3, 3), bidirectional_case(1, 3, 2, 2), bidirectional_case(6, 1, 4, 2)),
        ),
        Part(
            cell="test_pool_states", function="pool_states", points=2, hint=POOL_HINT,
            diagnose=diagnose_pair(("last (B, H)", "mean (B, H)")),
            cases=(
                pool_case("T=7, B=5, H=3, random lengths", 7, 5, 3),
                pool_case("T=4, B=3, H=2, lengths 1, 4, 2", 4, 3, 2, [1, 4, 2]),
                pool_case("T=5, B=2, H=4, every sequence full", 5, 2, 4, [5, 5]),
                pool_case("T=1, B=3, H=2", 1, 3, 2),
            ),
        ),
    ),
)
