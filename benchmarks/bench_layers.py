"""Print the speed of rnncourse's LSTM and GRU (written from the equations) next to torch.nn's.

One forward + backward pass (a sum of the outputs as the loss) at T=100 steps, B=32 sequences, 64 inputs and
128 hidden units, float32, for:

- ``torch.nn.LSTM`` / ``torch.nn.GRU`` (fused kernels: oneDNN for the LSTM on a CPU, cuDNN on CUDA);
- ``rnncourse.LSTM`` / ``rnncourse.GRU``, the plain Python loop over time (the default);
- the same with ``scripted=True`` (the loop compiled by TorchScript);
- with ``--compile``, the plain model under ``torch.compile`` (the first call compiles, for a minute or
  more on a CPU; that time is printed separately).

on the CPU with one thread and with all threads, and on CUDA when present. The models share their
weights; the largest difference of their outputs from torch.nn's is printed as a check. Times are the
median over interleaved rounds (each model runs in turn, so a busy machine slows them all alike).

Run with ``.venv/bin/python benchmarks/bench_layers.py`` (``--quick`` for a short run). Numbers, not
assertions.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

import rnncourse


def build(name: str, sizes: dict[str, int], device: torch.device, compile_model: bool):
    """torch.nn's model and ours (plain, scripted, compiled), all with the same weights."""
    torch.manual_seed(0)
    reference = getattr(nn, name)(sizes["D"], sizes["H"], device=device)
    models = {"torch.nn": reference}
    for label, scripted in (("plain", False), ("scripted", True)):
        ours = getattr(rnncourse, name)(sizes["D"], sizes["H"], device=device, scripted=scripted)
        ours.load_state_dict(reference.state_dict())
        models[label] = ours
    compile_seconds = None
    if compile_model:
        compiled = torch.compile(models["plain"])
        start = time.perf_counter()
        one_pass(compiled, torch.randn(sizes["T"], sizes["B"], sizes["D"], device=device))
        compile_seconds = time.perf_counter() - start
        models["compiled"] = compiled
    return models, compile_seconds


def one_pass(model, x: torch.Tensor) -> None:
    output, _ = model(x)
    output.sum().backward()


def timings(models: dict, x: torch.Tensor, rounds: int, repeats: int) -> dict[str, float]:
    """Median seconds of one forward + backward per model, interleaving the models round by round."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    for model in models.values():
        one_pass(model, x)  # warm up (and let TorchScript profile)
        one_pass(model, x)
    times: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(rounds):
        for label, model in models.items():
            for _ in range(repeats):
                sync()
                start = time.perf_counter()
                one_pass(model, x)
                sync()
                times[label].append(time.perf_counter() - start)
    return {label: statistics.median(values) for label, values in times.items()}


def largest_difference(models: dict, x: torch.Tensor) -> float:
    with torch.no_grad():
        expected = models["torch.nn"](x)[0]
        return max((model(x)[0] - expected).abs().max().item() for label, model in models.items() if label != "torch.nn")


def settings(args) -> list[tuple[str, torch.device, int]]:
    """(label, device, threads) for every row group."""
    all_threads = torch.get_num_threads()
    rows = []
    for threads in sorted({all_threads if t == "all" else int(t) for t in args.threads.split(",")}):
        rows.append((f"cpu, {threads} thread" + ("s" if threads > 1 else ""), torch.device("cpu"), threads))
    if torch.cuda.is_available() and not args.cpu_only:
        rows.append((f"cuda ({torch.cuda.get_device_name()})", torch.device("cuda"), all_threads))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a rough table in seconds)")
    parser.add_argument("--models", default="LSTM,GRU", help="comma-separated: LSTM, GRU, RNN")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the plain model")
    parser.add_argument("--threads", default="1,all", help="CPU thread counts, comma-separated ('all': every core)")
    parser.add_argument("--cpu-only", action="store_true", help="skip CUDA even when present")
    parser.add_argument("--steps", type=int, default=100, help="T")
    parser.add_argument("--batch", type=int, default=32, help="B")
    parser.add_argument("--input-size", type=int, default=64, help="D")
    parser.add_argument("--hidden-size", type=int, default=128, help="H")
    args = parser.parse_args()
    sizes = {"T": args.steps, "B": args.batch, "D": args.input_size, "H": args.hidden_size}
    rounds, repeats = (3, 2) if args.quick else (7, 3)

    print(f"forward + backward, T={sizes['T']} B={sizes['B']} D={sizes['D']} H={sizes['H']}, float32, "
          f"median of {rounds * repeats} (torch {torch.__version__})")
    labels = ["torch.nn", "plain", "scripted"] + (["compiled"] if args.compile else [])
    header = f"{'where':<24} {'model':<5} " + " ".join(f"{label:>17}" for label in labels) + f" {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    compile_notes = []
    for where, device, threads in settings(args):
        torch.set_num_threads(threads)
        for name in args.models.split(","):
            models, compile_seconds = build(name, sizes, device, args.compile)
            if compile_seconds is not None:
                compile_notes.append(f"{where}, {name}: first call of torch.compile {compile_seconds:.0f} s")
            x = torch.randn(sizes["T"], sizes["B"], sizes["D"], device=device)
            seconds = timings(models, x, rounds, repeats)
            cells = []
            for label in labels:
                milliseconds = seconds[label] * 1e3
                ratio = seconds[label] / seconds["torch.nn"]
                cells.append(f"{milliseconds:>8.1f} ms" + ("" if label == "torch.nn" else f" {ratio:4.2f}x").rjust(6))
            print(f"{where:<24} {name:<5} " + " ".join(f"{c:>17}" for c in cells)
                  + f" {largest_difference(models, x):>11.1e}")
    for note in compile_notes:
        print(note)
    print("ratios are to torch.nn on the same row; lower is faster")


if __name__ == "__main__":
    main()
