"""Every experiment is reachable as a command, runs at a tiny size, and has committed full-size results."""

from __future__ import annotations

import json

import pytest

from rnncourse import cli
from rnncourse.experiments import EXPERIMENTS, load_results, results_path

from _notebooks import ROOT


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_committed_results_are_a_full_run(name):
    results = load_results(name, ROOT)
    assert results["experiment"] == name and results["tiny"] is False
    assert results["command"] == f"rnncourse experiment {name}"
    assert results_path(name, ROOT).stat().st_size < 100_000, "results files are small"


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_the_chapter_reads_every_experiment(name):
    pages = "".join(p.read_text() for p in (ROOT / "book").glob("ch*.md"))
    assert f'load_results("{name}")' in pages
    assert (ROOT / "experiments" / f"{name.replace('-', '_')}.py").is_file(), "a script per experiment"


def test_teacher_forcing_runs_tiny_from_the_command_line(tmp_path):
    out = tmp_path / "teacher_forcing.json"
    assert cli.main(["experiment", "teacher-forcing", "--tiny", "--out", str(out), "--no-progress"]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True and results["experiment"] == "teacher-forcing"
    committed = load_results("teacher-forcing", ROOT)
    assert set(committed) == set(results), "a tiny run writes the same keys as the committed full run"


def test_an_unknown_experiment_is_refused():
    with pytest.raises(SystemExit):
        cli.main(["experiment", "no-such-experiment"])
