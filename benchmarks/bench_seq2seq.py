"""Print sequence-to-sequence benchmarks: accuracy against input length with and without attention, beam
against greedy (from the committed experiment), and the speed of training and decoding.

1. **Accuracy** (read from ``experiments/results/seq2seq.json``, written by ``rnncourse experiment seq2seq``,
   which is where the models are trained): exact-sequence and token accuracy on the reversal test set by source
   length band, for the four decoders (fixed context as first state, fixed context at every step, additive and
   multiplicative attention), and on the dates test set; then greedy against beam search (with and without the
   length penalty). Means over the seeds, with the training budget and the seeds printed above the tables.
2. **Speed** (measured now): milliseconds per training update (teacher forcing, forward and backward, batch 64,
   reversal sources of 1-20 digits) for each decoder, and decoding throughput (sequences per second) of greedy
   search and of beam search of widths 2, 5 and 10 on 500 test sources (100 with ``--quick``), on every device this machine has
   (CPU on one thread, and CUDA when present). Medians over repeats.

Run: ``.venv/bin/python benchmarks/bench_seq2seq.py [--quick] [--json FILE]`` (about a minute; ``--quick`` runs
fewer repeats). Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rnncourse.devices import available_devices
from rnncourse.experiments import load_results
from rnncourse.experiments.seq2seq import MODELS, Config
from rnncourse.seq2seq import Seq2Seq
from rnncourse.translation import batches, encode_batch, make_task

# sources of one or two digits all occur in training, so the test sources start at 3 digits
BANDS = ((3, 5), (6, 10), (11, 15), (16, 20), (21, 25), (26, 30))


def band(run: dict[str, Any], low: int, high: int, key: str) -> float:
    rows = [r for n, r in run["by_length"].items() if low <= int(n) <= high]
    return sum(r[key] * r["n"] for r in rows) / sum(r["n"] for r in rows) if rows else float("nan")


def accuracy_tables(results: dict[str, Any]) -> dict[str, Any]:
    config = results["config"]
    print(f"budget: {config['steps']} Adam updates, lr {config['lr']}, batch {config['batch_size']}, clip "
          f"{config['max_norm']}, embeddings {config['embedding_dim']}, {config['hidden_size']} units; seeds "
          f"{config['seeds']}; experiment took {results['seconds'] / 60:.1f} min ({results['device']}, torch "
          f"{results['torch']})")
    out: dict[str, Any] = {"reversal_by_length": {}, "search": {}}
    rev = results["tasks"]["reversal"]
    print(f"\nreversal, exact-sequence accuracy by source length (trained on {rev['train_lengths']}):")
    header = "".join(f"{f'{lo}-{hi}':>9}" for lo, hi in BANDS)
    print(f"{'model':16}{header}{'token acc':>11}")
    for kind, runs in rev["runs"].items():
        values = [float(np.mean([band(run, lo, hi, 'sequence_accuracy') for run in runs])) for lo, hi in BANDS]
        token = float(np.mean([run["greedy"]["token_accuracy"] for run in runs]))
        out["reversal_by_length"][kind] = {"bands": [list(b) for b in BANDS], "exact": values, "token": token}
        print(f"{kind:16}" + "".join(f"{v:9.3f}" for v in values) + f"{token:11.3f}")
    print(f"\ngreedy against beam search (width {config['beam_width']}), exact-sequence accuracy on the test sets:")
    print(f"{'task':10}{'model':16}{'greedy':>9}{'beam':>9}{'beam+lp':>9}   (lp: nu = {config['length_penalty']})")
    penalty = f"{config['length_penalty']:g}"
    for task_name, task in results["tasks"].items():
        for kind, runs in task["runs"].items():
            greedy = float(np.mean([run["greedy"]["sequence_accuracy"] for run in runs]))
            beam = float(np.mean([run["beam"]["0"]["sequence_accuracy"] for run in runs]))
            beam_lp = float(np.mean([run["beam"][penalty]["sequence_accuracy"] for run in runs]))
            out["search"][f"{task_name}/{kind}"] = {"greedy": greedy, "beam": beam, "beam_lp": beam_lp}
            print(f"{task_name:10}{kind:16}{greedy:9.3f}{beam:9.3f}{beam_lp:9.3f}")
    return out


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def speed(quick: bool) -> dict[str, Any]:
    config = Config()
    task = make_task("reversal", seed=0, n_train=2000, n_val=10, n_test=100 if quick else 500, train_lengths=(1, 20),
                     test_lengths=(1, 20))
    repeats = 3 if quick else 10
    out: dict[str, Any] = {}
    for device in available_devices():
        print(f"\nspeed on {device} ({torch.get_num_threads()} thread(s) on the CPU):")
        stream = batches(task.train, 64, task.source_vocab, task.target_vocab, np.random.default_rng(0), device=device)
        batch = next(stream)
        for kind, (attention, feed) in MODELS.items():
            torch.manual_seed(0)
            model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), embedding_dim=config.embedding_dim,
                            hidden_size=config.hidden_size, attention=attention, feed_context=feed, device=device)

            def update(model=model, batch=batch):
                model.zero_grad(set_to_none=True)
                model.loss(batch).backward()

            ms = 1000 * _median_time(update, repeats)
            out[f"{device}/train/{kind}"] = ms
            print(f"  training update, {kind:15}: {ms:7.1f} ms")
        torch.manual_seed(0)
        model = Seq2Seq(len(task.source_vocab), len(task.target_vocab), device=device).eval()
        test = encode_batch(task.test, task.source_vocab, task.target_vocab, device=device)
        max_length = test.target_out.shape[0] + 2
        def search(width: int, model=model, test=test, max_length=max_length) -> Any:
            if width == 1:
                return model.greedy(test.source, test.source_lengths, max_length)
            return model.beam_search(test.source, test.source_lengths, max_length, beam_width=width)

        searches = {"greedy": lambda: search(1)}
        for width in (2, 5, 10):
            searches[f"beam {width}"] = lambda width=width: search(width)
        for name, run in searches.items():
            seconds = _median_time(run, max(1, repeats // 3))
            out[f"{device}/decode/{name}"] = len(task.test) / seconds
            print(f"  decoding, {name:9}: {len(task.test) / seconds:8.0f} sequences/s (additive attention, "
                  f"{len(task.test)} sources of 1-20 digits, untrained model run to {max_length} steps)")
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--json", type=Path, help="also write the numbers here")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    record: dict[str, Any] = {"benchmark": "seq2seq", "quick": args.quick, "python": platform.python_version(),
                              "torch": torch.__version__}
    record["accuracy"] = accuracy_tables(load_results("seq2seq", ROOT))
    record["speed"] = speed(args.quick)
    record["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    print(f"\n({record['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
