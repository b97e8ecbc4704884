"""Print the long-lag experiment's success table (chapter 3) from its committed results, with its budget.

For each task, network and length: how many seeds solved the task within the budget, and the median
number of updates the successful runs needed; then the longest length solved by a majority of seeds
at every length up to it, next to the lecture's "empirical feasible length".

Run with `.venv/bin/python benchmarks/bench_long_lag.py [RESULTS.json]` (default: the committed
`experiments/results/long_lag.json`). It reads a file and trains nothing: regenerate the file with
`rnncourse experiment long-lag`.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from rnncourse.experiments import load_results


def main(argv: list[str]) -> None:
    results = json.loads(Path(argv[0]).read_text()) if argv else load_results("long-lag")
    config, lengths, runs = results["config"], results["lengths"], results["runs"]
    seeds = config["seeds"]
    print(f"long-lag ({'tiny' if results['tiny'] else 'full'} run, {results['seconds']:.0f} s, torch "
          f"{results['torch']}, impl {config['impl']}): at most {config['steps']} {config['optimizer']} updates "
          f"per run, lr {config['lr']}, batch {config['batch_size']}, gradient norm clipped to {config['max_norm']}, "
          f"{config['hidden_size']} hidden units, checked every {config['check_every']} updates")
    print("cell: seeds solved / seeds, and the median updates of the solved runs; * = not trained "
          "(every seed failed at a shorter length)\n")
    print(f"{'task':7s}{'model':6s}" + "".join(f"{T:>12d}" for T in lengths) + f"{'feasible':>10s}{'claim':>7s}")
    for task, rule in results["tasks"].items():
        for model in results["models"]:
            cells = []
            for T in lengths:
                cell = [r for r in runs if (r["task"], r["model"], r["T"]) == (task, model, T)]
                solved = [r["steps"] for r in cell if r["success"]]
                text = f"{len(solved)}/{seeds}" + ("*" if not any(r["trained"] for r in cell) else "")
                if solved:
                    text += f" ({statistics.median(solved):.0f})"
                cells.append(f"{text:>12s}")
            feasible = results["feasible_length"][task][model]
            print(f"{task:7s}{model:6s}" + "".join(cells) + f"{feasible or '-':>10}{results['claim'][model]:>7d}")
        criterion = rule["criterion"]
        bound = "below" if criterion["better"] == "lower" else "at least"
        baseline = ", ".join(f"{name} {value:.4g}" for name, value in rule["chance"].items())
        print(f"{'':13s}{task}: solved when the test {criterion['metric']} is {bound} {criterion['threshold']} "
              f"(chance: {baseline})\n")


if __name__ == "__main__":
    main(sys.argv[1:])
