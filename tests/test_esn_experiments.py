"""The chapter 4 experiments: the ESN sweep and the ESN-style initialisation, at a tiny size."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import rnncourse
from rnncourse.esn import ESN, nrmse, spectral_radius
from rnncourse.experiments import EXPERIMENTS, results_path
from rnncourse.experiments import esn_init, esn_sweep

from _notebooks import ROOT


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("esn") / "esn_sweep.json"
    assert esn_sweep.main(["--tiny", "--out", str(out), "--no-progress"]) == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def init(tmp_path_factory):
    out = tmp_path_factory.mktemp("esn") / "esn_init.json"
    assert esn_init.main(["--tiny", "--out", str(out), "--no-progress"]) == 0
    return json.loads(out.read_text())


def test_both_are_registered():
    assert EXPERIMENTS["esn-sweep"] == "rnncourse.experiments.esn_sweep"
    assert EXPERIMENTS["esn-init"] == "rnncourse.experiments.esn_init"


def test_the_sweep_writes_a_well_formed_record(sweep):
    assert sweep["experiment"] == "esn-sweep" and sweep["tiny"] is True
    config, grid = sweep["config"], sweep["grid"]
    shape = (len(config["leak_rates"]), len(config["spectral_radii"]), len(config["input_scalings"]))
    for field in ("valid", "test", "ridge", "seconds"):
        assert np.asarray(grid[field], dtype=float).shape == shape, field
    assert grid["settings"] == int(np.prod(shape))
    assert grid["readouts"] == grid["settings"] * len(config["ridges"])
    assert np.all(np.isfinite(np.asarray(grid["valid"], dtype=float)))
    assert set(np.asarray(grid["ridge"]).ravel()) <= set(config["ridges"])
    heat = sweep["heatmap"]
    assert np.asarray(heat["valid"], dtype=float).shape == shape[1:]
    assert set(np.asarray(heat["leak_rate"]).ravel()) <= set(config["leak_rates"])
    # the heatmap holds the best leak rate of each cell, on validation
    assert np.allclose(np.asarray(heat["valid"], dtype=float), np.asarray(grid["valid"], dtype=float).min(axis=0))
    assert len(sweep["top"]) == config["top"]
    assert all(len(t["test"]) == config["top_seeds"] for t in sweep["top"])
    assert sweep["sizes"]["units"] == config["sizes"]
    assert len(sweep["sizes"]["test_mean"]) == len(config["sizes"])
    assert sweep["configurations"] == grid["settings"] + config["top"] * config["top_seeds"] \
        + len(config["sizes"]) * config["size_seeds"]
    assert sweep["refit_check"]["max_abs_difference"] <= 1e-10
    assert sweep["timing"]["refit_seconds_median"] < sweep["timing"]["fit_seconds_median"]
    for key in ("python", "numpy", "torch", "seconds", "cpu", "threads"):
        assert key in sweep


def test_refit_gives_the_readout_of_a_fresh_fit():
    series = rnncourse.esn.mackey_glass(900, discard=100)[:, None]
    inputs, targets = series[:-10], series[10:]
    kwargs = dict(units=60, spectral_radius=1.1, leak_rate=0.5, input_scaling=0.5, seed=3, dtype=torch.float64)
    refitted = ESN(ridge=1e-9, **kwargs).fit(inputs, targets, warmup=50)
    for ridge in (1e-6, 1e-3, 1.0):
        refitted.refit(ridge)
        fresh = ESN(ridge=ridge, **kwargs).fit(inputs, targets, warmup=50)
        np.testing.assert_allclose(refitted.readout, fresh.readout, rtol=0, atol=1e-10)


def test_the_sweep_scores_what_a_fresh_model_predicts():
    """``evaluate`` computes its predictions from the states; a fresh ESN with the chosen ridge agrees."""
    config = {**esn_sweep.TINY, **esn_sweep.SETTINGS, "dtype": "float64"}
    data = esn_sweep.make_data(config)
    record = esn_sweep.evaluate(40, 0.9, 0.5, 0.5, 1, data, config)
    model = ESN(40, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, density=config["density"],
                ridge=record["ridge"], seed=1, dtype=torch.float64)
    model.fit(data["train_inputs"], data["train_targets"], warmup=config["warmup"])
    predictions = model.predict(data["rest_inputs"], resume=True)
    valid, test = slice(0, config["valid"]), slice(config["valid"], config["valid"] + config["test"])
    assert nrmse(data["rest_targets"][valid], predictions[valid]) == pytest.approx(record["valid"], rel=1e-3)
    assert nrmse(data["rest_targets"][test], predictions[test]) == pytest.approx(record["test"], rel=1e-3)
    assert record["valid"] == pytest.approx(min(e for e in record["valid_by_ridge"] if e is not None))


def test_the_init_experiment_writes_a_well_formed_record(init):
    assert init["experiment"] == "esn-init" and init["tiny"] is True
    config = init["config"]
    assert init["chosen"] in config["candidates"]
    assert len(init["selection"]["valid_mse"]) == len(config["candidates"])
    assert len(init["runs"]) == len(init["arms"]) * config["seeds"]
    for run in init["runs"]:
        assert run["steps"] == config["steps"]
        assert len(run["train_curve"]) == -(-config["steps"] // config["curve_every"])
        assert run["valid_curve"]["steps"][0] == 0 and run["valid_curve"]["steps"][-1] == config["steps"]
        assert run["test_mse"] is None or run["test_mse"] >= 0
    for arm in init["arms"]:
        assert len(init["summary"][arm]["test_mse"]) == config["seeds"]
    # the two arms of one seed start from different recurrent weights, and the ESN arm at the chosen radius
    esn_runs = [r for r in init["runs"] if r["arm"] == "esn"]
    assert all(r["spectral_radius_before"] == pytest.approx(init["chosen"]["spectral_radius"], abs=1e-3)
               for r in esn_runs)


def test_esn_initialise_follows_the_recipe():
    rnn = rnncourse.RNN(2, 50)
    esn_init.esn_initialise(rnn, 1.1, 0.001, 15, np.random.default_rng(0))
    W = rnn.weight_hh_l0.detach().numpy()
    assert np.all((W != 0).sum(axis=1) == 15), "15 incoming connections per unit"
    assert spectral_radius(W) == pytest.approx(1.1, rel=1e-5)
    assert float(rnn.weight_ih_l0.detach().std()) == pytest.approx(0.001, rel=0.5)
    assert float(rnn.bias_ih_l0.detach().abs().sum() + rnn.bias_hh_l0.detach().abs().sum()) == 0.0
    with pytest.raises(ValueError):
        esn_init.esn_initialise(rnncourse.RNN(2, 10, num_layers=2), 1.1, 0.1, 5, np.random.default_rng(0))


@pytest.mark.parametrize("name, fixture", [("esn-sweep", "sweep"), ("esn-init", "init")])
def test_a_tiny_run_writes_the_keys_of_the_committed_run(name, fixture, request):
    path = results_path(name, ROOT)
    if not path.is_file():
        pytest.skip(f"{path} is not written yet")
    committed = json.loads(path.read_text())
    assert set(committed) == set(request.getfixturevalue(fixture))
