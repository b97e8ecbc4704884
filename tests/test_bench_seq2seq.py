"""benchmarks/bench_seq2seq.py runs quickly and writes every number it prints (no timings checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys

from _notebooks import ROOT


def test_quick_run_prints_and_writes_finite_numbers(tmp_path):
    out = tmp_path / "seq2seq.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_seq2seq.py"), "--quick", "--json", str(out)],
                          check=False, capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "greedy against beam search" in done.stdout and "sequences/s" in done.stdout
    record = json.loads(out.read_text())
    assert record["benchmark"] == "seq2seq" and record["quick"] is True
    by_length = record["accuracy"]["reversal_by_length"]
    assert set(by_length) == {"initial", "every-step", "additive", "multiplicative"}
    for values in by_length.values():
        assert all(0.0 <= v <= 1.0 for v in values["exact"])
    assert record["accuracy"]["search"]
    assert record["speed"] and all(math.isfinite(v) and v > 0 for v in record["speed"].values())
