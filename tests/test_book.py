"""The built book, as readers get it: every page built with warnings as errors, math and widgets
served from the site itself, chapters linking to exercises, and nothing secret on any page."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _notebooks import ROOT, secret_lines, squash, visible_text
from rnncourse.grading import course

HTML = ROOT / "_build" / "html"


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


@pytest.fixture(scope="module")
def built_book() -> Path:
    """Build the book as `make book` does, into a fresh _build/html (execution is cached, so this is quick)."""
    shutil.rmtree(HTML, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--warningiserror", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
    return HTML


def _pages(html: Path) -> list[Path]:
    return [p for p in html.rglob("*.html") if "vendor" not in p.relative_to(html).parts and "_static" not in p.relative_to(html).parts]


def test_every_toc_entry_is_a_page(built_book):
    for entry in _toc_files():
        assert (built_book / f"{entry}.html").is_file(), f"{entry} was not built"


def test_no_page_loads_anything_from_the_internet(built_book):
    remote = re.compile(r"<(?:script|link|img)\b[^>]*(?:src|href)=\"(?:https?:)?//", re.I)
    for page in _pages(built_book):
        hits = remote.findall(page.read_text(encoding="utf-8"))
        assert not hits, f"{page.relative_to(built_book)} loads remote resources: {hits[:3]}"


def test_vendored_assets_are_where_pages_point(built_book):
    page = built_book / "book" / "notation.html"
    text = page.read_text(encoding="utf-8")
    match = re.search(r'<script[^>]+src="([^"?]*tex-chtml\.js)', text)
    assert match, "notation page does not load MathJax"
    assert (page.parent / match.group(1)).resolve().is_file()
    assert (built_book / "vendor" / "require.js").is_file()
    assert (built_book / "vendor" / "html-manager" / "embed-amd.js").is_file()
    # the widget manager fetches its icon fonts relative to the page
    assert list((built_book / "book" / "@jupyter-widgets" / "html-manager" / "dist").glob("*.woff2"))


def test_sphinx_never_read_environment_solutions_or_tests(built_book):
    sources = {p.relative_to(built_book / "_sources").parts[0] for p in (built_book / "_sources").rglob("*") if p.is_file()}
    assert sources <= {"book", "exercises"}, sources
    assert not (built_book / "solutions").exists() and not (built_book / "tests").exists()


def test_chapter_one_has_figures_math_and_a_saved_widget(built_book):
    text = (built_book / "book" / "ch01_dynamics.html").read_text(encoding="utf-8")
    assert text.count("<img") >= 4, "chapter 1 should show its figures"
    assert "\\tanh" in text, "chapter 1 should typeset the Elman equations"
    states = re.findall(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>', text, re.S)
    assert states, "the dynamics explorer's widget state was not saved into the page"
    models = json.loads(states[0])["state"]
    names = {m["model_name"] for m in models.values()}
    assert {"FloatSliderModel", "OutputModel"} <= names
    outputs = [m["state"].get("outputs", []) for m in models.values() if m["model_name"] == "OutputModel"]
    assert any("image/png" in o.get("data", {}) for out in outputs for o in out), "the explorer's saved view has no plot"
    assert re.search(r'<script[^>]+src="[^"]*vendor/html-manager/embed-amd\.js', text)


def test_chapters_link_to_their_exercise(built_book):
    text = (built_book / "book" / "ch01_dynamics.html").read_text(encoding="utf-8")
    assert 'href="../exercises/ex01_elman/ex01_elman.html' in text


def test_exercise_pages_show_the_student_version(built_book):
    for assignment in course.assignments(ROOT):
        for name in course.notebooks(ROOT, assignment):
            text = visible_text((built_book / "exercises" / assignment / f"{name}.html").read_text(encoding="utf-8"))
            assert "raise NotImplementedError()" in text
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text


def test_no_solution_or_hidden_test_on_any_page(built_book):
    secrets = []
    for assignment in course.assignments(ROOT):
        for name in course.notebooks(ROOT, assignment):
            path = ROOT / "solutions" / assignment / f"{name}.ipynb"
            secrets += secret_lines(path, "solution") + secret_lines(path, "hidden")
    assert secrets
    for page in _pages(built_book):
        text = visible_text(page.read_text(encoding="utf-8"))
        leaked = [line for line in secrets if squash(line) in text]
        assert not leaked, f"{page.relative_to(built_book)} shows solution or hidden-test code: {leaked[:3]}"
