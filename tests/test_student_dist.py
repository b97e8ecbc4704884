"""The student distribution in the built book's downloads/ (written by _ext/student_dist.py): students start from
the published book, not from a clone, so what they download must run on its own and hold nothing of the
instructor's (solution notebooks, grading specs, hidden tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from _notebooks import ROOT, secret_lines, squash
from rnncourse.grading import course

CHAPTERS = sorted(p.stem for p in (ROOT / "book").glob("ch[0-9][0-9]_*.md"))
ASSIGNMENTS = course.assignments(ROOT)


def _version() -> str:
    import re

    return re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def downloads(built_book: Path) -> Path:
    return built_book / "downloads"


@pytest.fixture(scope="module")
def wheel(downloads: Path) -> Path:
    return downloads / f"rnncourse-{_version()}-py3-none-any.whl"


def _secrets() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"solution": [], "hidden": [], "spec": []}
    for assignment in ASSIGNMENTS:
        for name in course.notebooks(ROOT, assignment):
            path = ROOT / "solutions" / assignment / f"{name}.ipynb"
            found["solution"] += secret_lines(path, "solution")
            found["hidden"] += secret_lines(path, "hidden")
        spec = ROOT / "solutions" / assignment / "grading.py"
        if spec.is_file():
            # distinctive lines of the grading spec: code, not a bare name or a comment
            found["spec"] += [
                line.strip() for line in spec.read_text().splitlines()
                if len(line.strip()) >= 30 and " " in line.strip()
                and not line.strip().startswith(("#", '"""', "from ", "import "))
            ]
    assert all(found.values()), {k: len(v) for k, v in found.items()}
    return found


def _leaks(text: str, lines: list[str]) -> list[str]:
    text = squash(text)
    return [line for line in lines if squash(line) in text]


def test_downloads_hold_the_student_distribution(downloads, wheel):
    names = {p.name for p in downloads.iterdir()}
    expected = {wheel.name, "rnncourse-exercises.zip"} | {f"{c}.ipynb" for c in CHAPTERS}
    expected |= {f"{name}.ipynb" for a in ASSIGNMENTS for name in course.notebooks(ROOT, a)}
    assert names == expected, (names ^ expected)
    with zipfile.ZipFile(downloads / "rnncourse-exercises.zip") as archive:
        assert sorted(archive.namelist()) == sorted(
            f"rnncourse-exercises/{name}.ipynb" for a in ASSIGNMENTS for name in course.notebooks(ROOT, a))
    for chapter in CHAPTERS:
        notebook = json.loads((downloads / f"{chapter}.ipynb").read_text())
        assert notebook["nbformat"] == 4 and any(c["cell_type"] == "code" for c in notebook["cells"])


def test_exercise_downloads_are_the_released_notebooks(downloads):
    for assignment in ASSIGNMENTS:
        for name in course.notebooks(ROOT, assignment):
            released = ROOT / "exercises" / assignment / f"{name}.ipynb"
            assert (downloads / f"{name}.ipynb").read_bytes() == released.read_bytes()


def test_no_solution_spec_or_hidden_test_in_the_student_distribution(downloads, wheel):
    secrets = _secrets()
    # the notebooks and the zip: no solution, no hidden test, no grading spec
    texts = {p.name: p.read_text(encoding="utf-8") for p in downloads.glob("*.ipynb")}
    with zipfile.ZipFile(downloads / "rnncourse-exercises.zip") as archive:
        texts.update({n: archive.read(n).decode("utf-8") for n in archive.namelist()})
    for name, text in texts.items():
        for kind in ("solution", "hidden", "spec"):
            leaked = _leaks(text, secrets[kind])
            assert not leaked, f"{name} holds {kind} lines: {leaked[:3]}"
    # the wheel: the package only (its reference implementations are the book's, by design), nothing from
    # solutions/ or tests/, no grading spec and no hidden test
    with zipfile.ZipFile(wheel) as archive:
        members = archive.namelist()
        assert all(m.startswith(("rnncourse/", f"rnncourse-{_version()}.dist-info/")) for m in members), members
        assert not [m for m in members if "solutions" in m or m.startswith("tests/") or m.endswith(".ipynb")]
        text = "\n".join(archive.read(m).decode("utf-8", "replace") for m in members)
    for kind in ("hidden", "spec"):
        leaked = _leaks(text, secrets[kind])
        assert not leaked, f"the wheel holds {kind} lines: {leaked[:3]}"


def test_the_wheel_carries_what_the_chapters_read(wheel):
    with zipfile.ZipFile(wheel) as archive:
        members = set(archive.namelist())
        metadata = archive.read(f"rnncourse-{_version()}.dist-info/METADATA").decode()
    committed = {p.name for p in (ROOT / "experiments" / "results").glob("*.json")}
    assert {f"rnncourse/experiments/results/{name}" for name in committed} <= members
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    for package in ("torch", "jupyterlab", "ipywidgets", "jupyter-book"):
        assert any(package in line for line in requires), f"{package} missing from {requires}"


RUN_NOTEBOOK = """
import sys, nbformat
from nbclient import NotebookClient
path, out = sys.argv[1], sys.argv[2]
nb = nbformat.read(path, as_version=4)
# the kernel says which rnncourse it imported
nb.cells.append(nbformat.v4.new_code_cell('import rnncourse; print("PACKAGE", rnncourse.__file__)'))
NotebookClient(nb, timeout=300, resources={"metadata": {"path": out}}).execute()
print("".join(o.get("text", "") for o in nb.cells[-1].outputs))
"""


def _run_installed(wheel: Path, tmp_path: Path, notebook: Path) -> str:
    """Install the wheel alone (no repository on the path) and run ``notebook`` from a folder outside the repo."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--no-index", "--target", str(site), str(wheel)], check=True, capture_output=True, text=True)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # the wheel's copy first: the repository's editable install must not be the one imported
    env["PYTHONPATH"] = str(site)
    env["RNNCOURSE_DEVICE"] = "cpu"
    result = subprocess.run([sys.executable, "-c", RUN_NOTEBOOK, str(notebook), str(work)], cwd=work, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{notebook.name} failed with the installed wheel:\n{result.stderr[-4000:]}"
    return result.stdout


def test_a_downloaded_chapter_runs_with_the_wheel_alone(downloads, wheel, tmp_path):
    """Chapter 2 reads committed experiment results: from the installed wheel they come from inside the package."""
    out = _run_installed(wheel, tmp_path, downloads / "ch02_bptt.ipynb")
    assert f"PACKAGE {tmp_path / 'site'}" in out


def _answered(assignment: str, name: str, out: Path) -> Path:
    """A finished student notebook: the instructor's answers in place of the stubs, without the hidden tests
    (which need the course's grading specs and are not in what students get)."""
    import nbformat

    notebook = nbformat.read(ROOT / "solutions" / assignment / f"{name}.ipynb", as_version=4)
    for cell in notebook.cells:
        kept, hidden = [], False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker == "### BEGIN HIDDEN TESTS":
                hidden = True
            elif marker == "### END HIDDEN TESTS":
                hidden = False
            elif not hidden and marker not in ("### BEGIN SOLUTION", "### END SOLUTION"):
                kept.append(line)
        cell.source = "\n".join(kept)
    path = out / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def test_an_exercise_self_checks_with_the_wheel_alone(wheel, tmp_path):
    """The first exercise, answered, runs its self-checks against the installed wheel from a folder with no
    course files in it."""
    out = _run_installed(wheel, tmp_path, _answered("ex01_elman", "ex01_elman", tmp_path))
    assert f"PACKAGE {tmp_path / 'site'}" in out
