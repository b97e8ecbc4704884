"""Why fast training makes an echo state network cheap to tune: a grid sweep of its settings, timed.

The task is chapter 4's: predict the Mackey-Glass series (:func:`rnncourse.esn.mackey_glass`, :math:`\\tau = 17`,
sampled every time unit) ``horizon`` = 10 steps ahead from its current value, with the series cut into a
training part (3000 steps, the first 200 of them a warm-up that is run but not fitted), a validation part (1000)
and a test part (1000) that follow it in time. The reservoir runs through the three parts in one go, as a
deployed predictor would, so validation and test start from the state the training run ends in.

For every reservoir setting (spectral radius x input scaling x leak rate, 300 units, density 0.1, the ESN's
defaults otherwise) one :class:`rnncourse.esn.ESN` is built and fitted once, which runs the reservoir and
accumulates the normal equations; then every candidate ridge :math:`\\beta` is tried with :meth:`ESN.refit`
(one linear solve each) and scored on the validation part. The ridge with the lowest validation NRMSE is kept
(ties to the larger one) and only then is the test NRMSE computed, for that ridge alone. Every setting of the
grid uses the same seed, so the same random draw of weights is only rescaled from one setting to the next: the
differences across the grid are the settings', not the draws'.

Then the ``top`` settings by validation NRMSE are rebuilt with ``top_seeds`` fresh draws each, the most
reliable of them (lowest mean validation NRMSE) becomes *the best setting*, and the reservoir size is varied
at that setting, ``size_seeds`` draws per size (the ridge again chosen on validation). A fresh float64 fit is
compared with a refit to the same ridge, to show that the refit *is* the fit (the same solution to rounding).

Timings are wall-clock seconds on the machine that ran it (see ``device`` and the CPU description in the
results): a setting's ``seconds`` include building the reservoir (an eigenvalue computation for the spectral
radius), the fit, running the validation and test parts, and all the refits.

Run: ``rnncourse experiment esn-sweep [--tiny]`` (writes ``experiments/results/esn_sweep.json``).
"""

from __future__ import annotations

import ctypes
import platform
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from rnncourse.devices import seed_everything
from rnncourse.esn import ESN, mackey_glass, nrmse
from rnncourse.experiments import parser, write_results
from rnncourse.train import progress_bar

NAME = "esn-sweep"

FULL: dict[str, Any] = {
    "spectral_radii": [0.1, 0.3, 0.5, 0.7, 0.9, 1.1, 1.3, 1.5],
    "input_scalings": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0],
    "leak_rates": [0.1, 0.3, 0.6, 1.0],
    "units": 300,
    "sizes": [50, 100, 200, 300, 500, 700, 1000],
    "size_seeds": 5,
    "top": 5,
    "top_seeds": 5,
    "train": 3000,
    "valid": 1000,
    "test": 1000,
    "warmup": 200,
}
TINY: dict[str, Any] = {
    "spectral_radii": [0.5, 1.1],
    "input_scalings": [0.1, 1.0],
    "leak_rates": [0.3, 1.0],
    "units": 30,
    "sizes": [20, 40],
    "size_seeds": 2,
    "top": 2,
    "top_seeds": 2,
    "train": 400,
    "valid": 150,
    "test": 150,
    "warmup": 50,
}
#: what FULL and TINY share
SETTINGS: dict[str, Any] = {
    "task": "Mackey-Glass, direct prediction `horizon` steps ahead",
    "horizon": 10,
    "tau": 17.0,
    "discard": 300,
    "density": 0.1,
    "bias": 0.0,
    "readout_input": True,
    "dtype": "float32",
    "ridges": [float(f"{r:.0e}") for r in np.logspace(-15, 0, 16)],
    "grid_seed": 0,
    "ridge_choice": "lowest validation NRMSE, ties to the larger ridge",
    "error": "NRMSE: RMSE divided by the standard deviation of the target (rnncourse.esn.nrmse)",
}


def make_data(config: dict[str, Any]) -> dict[str, np.ndarray]:
    """The series cut into input/target pairs: ``train``, ``rest`` (validation then test), float64 ``(T, 1)``."""
    horizon = config["horizon"]
    total = config["train"] + config["valid"] + config["test"]
    series = mackey_glass(total + horizon, tau=config["tau"], discard=config["discard"])[:, None]
    inputs, targets = series[:-horizon], series[horizon:]
    cut = config["train"]
    return {"train_inputs": inputs[:cut], "train_targets": targets[:cut],
            "rest_inputs": inputs[cut:], "rest_targets": targets[cut:]}


def features(inputs: np.ndarray, states: np.ndarray) -> np.ndarray:
    """The readout's features ``[1, x, h]`` in float64, one row per step (the layout of ``ESN.readout``)."""
    inputs = np.asarray(inputs, dtype=np.float64)
    return np.concatenate([np.ones((inputs.shape[0], 1)), inputs, np.asarray(states, dtype=np.float64)], axis=1)


def evaluate(units: int, spectral_radius: float, input_scaling: float, leak_rate: float, seed: int,
             data: dict[str, np.ndarray], config: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """Fit one reservoir, choose its ridge on the validation part, and score the choice on the test part.

    Returns the setting's record: ``valid`` and ``test`` NRMSE at the chosen ``ridge``, ``valid_by_ridge``,
    ``fit_seconds`` (building the reservoir and fitting), ``refit_seconds`` (mean per ridge) and ``seconds``.
    """
    started = time.perf_counter()
    dtype = torch.float64 if config["dtype"] == "float64" else torch.float32
    ridges = config["ridges"]
    model = ESN(units, spectral_radius=spectral_radius, leak_rate=leak_rate, input_scaling=input_scaling,
                density=config["density"], ridge=ridges[0], seed=seed, bias=config["bias"],
                readout_input=config["readout_input"], device=None if device == "cpu" else device, dtype=dtype)
    model.fit(data["train_inputs"], data["train_targets"], warmup=config["warmup"])
    fit_seconds = time.perf_counter() - started
    # the reservoir continues from where training ended, through validation and test, once
    _, states = model.predict(data["rest_inputs"], resume=True, return_states=True)
    phi = features(data["rest_inputs"], states)
    targets = data["rest_targets"]
    valid = slice(0, config["valid"])
    test = slice(config["valid"], config["valid"] + config["test"])
    valid_errors, refit_seconds, readouts = [], 0.0, []
    for ridge in ridges:
        tick = time.perf_counter()
        model.refit(ridge)
        refit_seconds += time.perf_counter() - tick
        readout = np.asarray(model.readout, dtype=np.float64) if device == "cpu" else \
            model.readout.detach().cpu().double().numpy()
        readouts.append(readout)
        valid_errors.append(nrmse(targets[valid], phi[valid] @ readout.T))
    errors = np.asarray(valid_errors)
    errors = np.where(np.isfinite(errors), errors, np.inf)
    best = min(range(len(ridges)), key=lambda i: (errors[i], -ridges[i]))
    test_error = nrmse(targets[test], phi[test] @ readouts[best].T)
    return {
        "units": units,
        "spectral_radius": spectral_radius,
        "input_scaling": input_scaling,
        "leak_rate": leak_rate,
        "seed": seed,
        "ridge": ridges[best],
        "valid": _round(valid_errors[best]),
        "test": _round(test_error),
        "valid_by_ridge": [_round(e) for e in valid_errors],
        "fit_seconds": round(fit_seconds, 4),
        "refit_seconds": round(refit_seconds / len(ridges), 5),
        "seconds": round(time.perf_counter() - started, 4),
    }


def refit_check(data: dict[str, np.ndarray], config: dict[str, Any], units: int, setting: dict[str, float],
                ridge_from: float = 1e-8, ridge_to: float = 1e-4) -> dict[str, Any]:
    """Fit in float64 with ``ridge_from`` then :meth:`ESN.refit` to ``ridge_to``, against a fresh fit with
    ``ridge_to``: the largest absolute difference of the readouts (0 up to rounding), and the two timings."""
    def build(ridge: float) -> ESN:
        return ESN(units, spectral_radius=setting["spectral_radius"], leak_rate=setting["leak_rate"],
                   input_scaling=setting["input_scaling"], density=config["density"], ridge=ridge,
                   seed=config["grid_seed"], bias=config["bias"], readout_input=config["readout_input"],
                   dtype=torch.float64)

    refitted = build(ridge_from).fit(data["train_inputs"], data["train_targets"], warmup=config["warmup"])
    tick = time.perf_counter()
    refitted.refit(ridge_to)
    refit_seconds = time.perf_counter() - tick
    tick = time.perf_counter()
    fresh = build(ridge_to).fit(data["train_inputs"], data["train_targets"], warmup=config["warmup"])
    fit_seconds = time.perf_counter() - tick
    difference = float(np.max(np.abs(np.asarray(refitted.readout) - np.asarray(fresh.readout))))
    scale = float(np.max(np.abs(np.asarray(fresh.readout))))
    return {"units": units, **setting, "dtype": "float64", "ridge_from": ridge_from, "ridge_to": ridge_to,
            "max_abs_difference": difference, "max_abs_weight": scale,
            "fit_seconds": round(fit_seconds, 4), "refit_seconds": round(refit_seconds, 6)}


def _round(value: float, digits: int = 4) -> float | None:
    """``value`` to ``digits`` significant digits; ``None`` for NaN or infinity (JSON has neither)."""
    if not np.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _stats(values: Sequence[float | None]) -> dict[str, float | None]:
    finite = [v for v in values if v is not None]
    if not finite:
        return {"mean": None, "std": None, "min": None, "max": None}
    return {"mean": _round(float(np.mean(finite))), "std": _round(float(np.std(finite))),
            "min": _round(min(finite)), "max": _round(max(finite))}


def _key(record: dict[str, Any]) -> float:
    return np.inf if record["valid"] is None else record["valid"]


def single_threaded() -> bool:
    """Run NumPy's OpenBLAS and torch on one thread; return whether OpenBLAS was found and set.

    The reservoir's steps are small matrix-vector products, which gain nothing from threads, and on a shared
    machine a second BLAS thread that waits for a busy core makes the timings erratic (up to 20 times slower).
    NumPy reads ``OPENBLAS_NUM_THREADS`` only when it is first imported, so the thread count is set through
    OpenBLAS's own function in the library NumPy has loaded (as ``threadpoolctl`` does).
    """
    torch.set_num_threads(1)
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
    except OSError:
        return False
    found = False
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads64_", "openblas_set_num_threads"):
            setter = getattr(library, name, None)
            if setter is not None:
                setter(1)
                found = True
                break
    return found


def cpu_name() -> str:
    """A one-line description of the CPU (for the timings), or ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    p = parser(NAME, __doc__.splitlines()[0])
    args = p.parse_args(argv)
    started = time.perf_counter()
    blas_single = single_threaded()
    seed_everything(0)
    config: dict[str, Any] = {**(TINY if args.tiny else FULL), **SETTINGS}
    data = make_data(config)
    radii, scalings, leaks = config["spectral_radii"], config["input_scalings"], config["leak_rates"]
    grid_size = len(radii) * len(scalings) * len(leaks)
    total = grid_size + config["top"] * config["top_seeds"] + len(config["sizes"]) * config["size_seeds"]
    bar = progress_bar(total, "esn-sweep settings", args.progress)
    try:
        # 1. the grid, one draw of weights (seed grid_seed) rescaled to every setting
        grid: list[dict[str, Any]] = []
        grid_started = time.perf_counter()
        for leak in leaks:
            for radius in radii:
                for scaling in scalings:
                    record = evaluate(config["units"], radius, scaling, leak, config["grid_seed"], data, config,
                                      args.device)
                    grid.append(record)
                    bar.update()
                    bar.set_postfix_str(f"best valid {min(_key(r) for r in grid):.4g}")
        grid_seconds = time.perf_counter() - grid_started
        # 2. the best few settings, with fresh draws
        ranked = sorted(grid, key=_key)[: config["top"]]
        top = []
        for record in ranked:
            setting = {k: record[k] for k in ("spectral_radius", "input_scaling", "leak_rate")}
            runs = []
            for seed in range(config["top_seeds"]):
                runs.append(evaluate(config["units"], **setting, seed=seed, data=data, config=config,
                                     device=args.device))
                bar.update()
            top.append({**setting, "grid_valid": record["valid"], "grid_test": record["test"],
                        "seeds": list(range(config["top_seeds"])),
                        "valid": [r["valid"] for r in runs], "test": [r["test"] for r in runs],
                        "ridge": [r["ridge"] for r in runs],
                        "valid_stats": _stats([r["valid"] for r in runs]),
                        "test_stats": _stats([r["test"] for r in runs])})
        best = min(top, key=lambda t: np.inf if t["valid_stats"]["mean"] is None else t["valid_stats"]["mean"])
        best_setting = {k: best[k] for k in ("spectral_radius", "input_scaling", "leak_rate")}
        # 3. the reservoir size at the best setting
        sizes = []
        for units in config["sizes"]:
            runs = []
            for seed in range(config["size_seeds"]):
                runs.append(evaluate(units, **best_setting, seed=seed, data=data, config=config, device=args.device))
                bar.update()
            sizes.append({"units": units, "seeds": list(range(config["size_seeds"])),
                          "valid": [r["valid"] for r in runs], "test": [r["test"] for r in runs],
                          "ridge": [r["ridge"] for r in runs], "seconds": [r["seconds"] for r in runs],
                          "fit_seconds": [r["fit_seconds"] for r in runs],
                          "refit_seconds": [r["refit_seconds"] for r in runs],
                          "valid_stats": _stats([r["valid"] for r in runs]),
                          "test_stats": _stats([r["test"] for r in runs])})
            print(f"size {units:5d}: test NRMSE {sizes[-1]['test_stats']['mean']} "
                  f"(+- {sizes[-1]['test_stats']['std']}), {np.mean(sizes[-1]['seconds']):.2f} s per setting",
                  flush=True)
    finally:
        bar.close()
    check = refit_check(data, config, config["units"], best_setting)

    # the grid as arrays [leak][radius][scaling], and the heatmaps (best over the leak rate, on validation)
    shape = (len(leaks), len(radii), len(scalings))

    def array(field: str) -> list:
        return np.asarray([r[field] for r in grid], dtype=object).reshape(shape).tolist()

    valid_array = np.asarray([_key(r) for r in grid], dtype=float).reshape(shape)
    which_leak = valid_array.argmin(axis=0)  # (radius, scaling)
    pick = lambda field: [[grid[(which_leak[i, j] * len(radii) + i) * len(scalings) + j][field]  # noqa: E731
                           for j in range(len(scalings))] for i in range(len(radii))]
    grid_best = min(grid, key=_key)
    fit_times = [r["fit_seconds"] for r in grid]
    refit_times = [r["refit_seconds"] for r in grid]
    results = {
        "config": config,
        "cpu": cpu_name(),
        "threads": {"torch": torch.get_num_threads(), "openblas": 1 if blas_single else "default"},
        "data": {"steps": {k: config[k] for k in ("train", "valid", "test", "warmup")},
                 "target_std": {"valid": _round(float(np.std(data["rest_targets"][: config["valid"]]))),
                                "test": _round(float(np.std(data["rest_targets"][config["valid"]:])))}},
        "grid": {
            "axes": ["leak_rate", "spectral_radius", "input_scaling"],
            "leak_rates": leaks, "spectral_radii": radii, "input_scalings": scalings,
            "units": config["units"],
            "valid": array("valid"), "test": array("test"), "ridge": array("ridge"), "seconds": array("seconds"),
            "settings": grid_size,
            "readouts": grid_size * len(config["ridges"]),
            "seconds_total": round(grid_seconds, 2),
            "seconds_per_setting": _round(grid_seconds / grid_size),
            "best": {k: grid_best[k] for k in ("spectral_radius", "input_scaling", "leak_rate", "ridge",
                                               "valid", "test", "valid_by_ridge")},
        },
        "heatmap": {
            "rows": "spectral_radius", "columns": "input_scaling",
            "spectral_radii": radii, "input_scalings": scalings,
            "valid": pick("valid"), "test": pick("test"), "leak_rate": pick("leak_rate"), "ridge": pick("ridge"),
        },
        "timing": {
            "fit_seconds_median": _round(float(np.median(fit_times))),
            "refit_seconds_median": _round(float(np.median(refit_times))),
            "fit_over_refit": _round(float(np.median(fit_times) / max(np.median(refit_times), 1e-12)), 3),
            "setting_seconds_median": _round(float(np.median([r["seconds"] for r in grid]))),
            "what": "fit: build the reservoir (spectral radius by eigenvalues) + run the training part + normal "
                    "equations + one solve; refit: one solve of the kept normal equations for another ridge",
        },
        "top": top,
        "best": {**best_setting, "units": config["units"], "valid_stats": best["valid_stats"],
                 "test_stats": best["test_stats"], "ridge": best["ridge"],
                 "chosen_by": "lowest mean validation NRMSE over the top settings' fresh draws"},
        "sizes": {"units": config["sizes"], "setting": best_setting,
                  "valid_mean": [s["valid_stats"]["mean"] for s in sizes],
                  "valid_std": [s["valid_stats"]["std"] for s in sizes],
                  "test_mean": [s["test_stats"]["mean"] for s in sizes],
                  "test_std": [s["test_stats"]["std"] for s in sizes],
                  "seconds_mean": [_round(float(np.mean(s["seconds"]))) for s in sizes],
                  "runs": sizes},
        "refit_check": check,
        "configurations": grid_size + config["top"] * config["top_seeds"] + len(config["sizes"]) * config["size_seeds"],
    }
    print(f"grid: {grid_size} settings x {len(config['ridges'])} ridges in {grid_seconds:.1f} s; best on validation "
          f"{results['grid']['best']}", flush=True)
    print(f"best setting over {config['top_seeds']} draws: {best_setting}, test NRMSE {best['test_stats']}", flush=True)
    print(f"refit vs fresh fit (float64): max |difference| {check['max_abs_difference']:.2e}", flush=True)
    write_results(NAME, args, results, started)
    return 0
