"""benchmarks/bench_esn.py runs quickly without ReservoirPy and writes every number it prints (no timings checked)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

from _notebooks import ROOT


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def test_quick_run_without_reservoirpy_writes_finite_numbers(tmp_path):
    out = tmp_path / "esn.json"
    env = {key: value for key, value in os.environ.items() if key != "RESERVOIRPY_PYTHON"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_esn.py"), "--quick", "--json", str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "reservoirpy==0.4.2" in done.stdout, "without ReservoirPy the run says how to install it"

    results = json.loads(out.read_text())
    assert results["quick"] is True and results["benchmark"] == "esn"
    for key in ("command", "date", "seconds", "machine", "versions", "vs_reservoirpy", "jaeger", "vs_lstm"):
        assert key in results, key
    assert len(results["machine"]["load_average_start"]) == 3
    assert results["versions"]["torch"] and results["versions"]["numpy"]
    assert results["versions"]["reservoirpy"] is None

    versus = results["vs_reservoirpy"]
    assert versus["reservoirpy_status"] == "skipped" and versus["verdicts"] == {}
    assert {"spectral_radius", "leak_rate", "input_scaling", "density", "ridge"} <= set(versus["hyperparameters"])
    rows = versus["rows"]
    assert {(r["dtype"], r["weights"]) for r in rows} == {("float32", "own"), ("float64", "own")}
    for r in rows:
        assert r["implementation"] == "rnncourse"
        assert all(_finite(r[k]) for k in ("units", "r2", "nrmse"))
        assert set(r["seconds"]) == {"init", "fit", "predict", "fit_predict"}
        assert all(_finite(v) and v >= 0 for v in r["seconds"].values())

    jaeger = results["jaeger"]
    assert _finite(jaeger["variance"]) and jaeger["variance"] > 0
    assert [p["log10"] for p in jaeger["published"]][0] == -4.2
    assert {r["protocol"] for r in jaeger["rows"]} == {"independent", "lead-in"}
    for r in jaeger["rows"]:
        assert all(_finite(r[k]) for k in ("nrmse84", "log10_nrmse84", "median_abs_error_over_sd",
                                           "seconds_per_trial"))
        assert r["trials"] == jaeger["trials"] and 0 <= r["diverged"] <= r["trials"]
    assert jaeger["differences"], "the setup differences are listed"

    lstm = results["vs_lstm"]
    esn = lstm["esn"]
    assert all(_finite(esn[k]) for k in ("nrmse", "trained_parameters", "fixed_parameters", "seconds_total"))
    assert lstm["lstm"]
    for r in lstm["lstm"]:
        assert _finite(r["trained_parameters"]) and _finite(r["seconds"]) and r["updates"] > 0
        assert _finite(r["best"]["nrmse"]) and _finite(r["final_nrmse"])
        assert isinstance(r["reached_esn_error"], bool) and (r["reached"] is None) != r["reached_esn_error"]
        assert r["curve"] and all(_finite(v) for point in r["curve"] for v in point)
