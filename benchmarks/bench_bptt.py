"""Print the accuracy and speed of the hand-written NumPy BPTT (chapter 2).

- the largest relative error of its gradients against centred finite differences in float64 and
  against torch.autograd, over several seeds and sizes;
- the time of one forward+backward pass, NumPy by hand against torch autograd (CPU, float64 and
  float32), for the same network and sizes.

Run with `make bench` (or `.venv/bin/python benchmarks/bench_bptt.py`). Numbers, not assertions.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from rnncourse.bptt import loss_and_gradients, random_params
from rnncourse.gradcheck import numerical_gradient, relative_error


def problem(seed: int, T: int, B: int, D: int, H: int, K: int):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, B, D)), rng.integers(0, K, size=(T, B)), random_params(rng, D, H, K, scale=0.9)


def torch_loss(x, targets, params, dtype):
    leaves = {n: torch.tensor(v, dtype=dtype, requires_grad=True) for n, v in params.as_dict().items()}
    xt, yt = torch.tensor(x, dtype=dtype), torch.tensor(targets)
    h = leaves["h0"].expand(x.shape[1], -1)
    states = []
    for t in range(x.shape[0]):
        h = torch.tanh(leaves["b"] + h @ leaves["W"].T + xt[t] @ leaves["U"].T)
        states.append(h)
    logits = leaves["c"] + torch.stack(states) @ leaves["V"].T
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), yt.reshape(-1), reduction="sum")
    return loss, leaves


def accuracy() -> None:
    worst_fd = worst_ag = 0.0
    for seed, sizes in enumerate([(6, 3, 4, 5, 3), (1, 1, 1, 1, 2), (20, 2, 3, 8, 4), (50, 1, 2, 4, 3)]):
        x, targets, params = problem(seed, *sizes)
        _, grads = loss_and_gradients(x, targets, params)
        for name, value in params.as_dict().items():
            numeric = numerical_gradient(lambda: loss_and_gradients(x, targets, params)[0], value)
            worst_fd = max(worst_fd, relative_error(grads[name], numeric))
        loss, leaves = torch_loss(x, targets, params, torch.float64)
        loss.backward()
        for name, leaf in leaves.items():
            worst_ag = max(worst_ag, relative_error(grads[name], leaf.grad.numpy()))
    print(f"largest relative gradient error vs finite differences (float64): {worst_fd:.2e}  (target <= 1e-7)")
    print(f"largest relative gradient error vs torch.autograd (float64):     {worst_ag:.2e}")


def timed(run, repeats: int = 7) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed() -> None:
    torch.set_num_threads(1)
    print(f"\nforward + backward, median of 7, one thread ({torch.__version__}, NumPy {np.__version__}):")
    print(f"{'T':>5} {'B':>4} {'H':>5}   {'NumPy by hand':>14} {'torch f64':>10} {'torch f32':>10}")
    for T, B, D, H, K in [(50, 16, 32, 64, 32), (200, 32, 64, 128, 64), (1000, 8, 16, 32, 16)]:
        x, targets, params = problem(0, T, B, D, H, K)
        numpy_time = timed(lambda: loss_and_gradients(x, targets, params))
        torch_times = []
        for dtype in (torch.float64, torch.float32):
            def run(dtype=dtype):
                loss, _ = torch_loss(x, targets, params, dtype)
                loss.backward()
            torch_times.append(timed(run))
        print(f"{T:>5} {B:>4} {H:>5}   {numpy_time * 1e3:>11.1f} ms {torch_times[0] * 1e3:>7.1f} ms {torch_times[1] * 1e3:>7.1f} ms")


if __name__ == "__main__":
    accuracy()
    speed()
