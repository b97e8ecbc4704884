"""The built book, as readers get it: every page built with warnings as errors, math and widgets
served from the site itself, chapters linking to exercises, and nothing secret on any page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from _notebooks import ROOT, secret_lines, squash, visible_text
from rnncourse.grading import course


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part["chapters"]]
    return files


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
    # the explorer shows its plot as an <img> with alt text describing it (rnncourse.widgets._show)
    views = [o.get("data", {}).get("text/html", "") for out in outputs for o in out]
    views = ["".join(v) if isinstance(v, list) else v for v in views]
    assert any('src="data:image/png;base64,' in v for v in views), "the explorer's saved view has no plot"
    assert any(re.search(r'<img alt="Activity of four of the 60 units over 200 steps at spectral radius 1\.50', v)
               for v in views), "the explorer's plot has no alt text saying what it shows"
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


def _code_cells(markdown: str) -> list[str]:
    """The code cells of a MyST notebook page, each with its option lines (``:tags:``, ``mystnb:``)."""
    return re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```", markdown, flags=re.S | re.M)


def test_every_chapter_has_the_reading_apparatus():
    """What a reader finds in every chapter: what you will learn, numbered figures with captions and alt
    text, numbered key equations, plotting code folded away, a summary, the exercise and references."""
    chapters = sorted((ROOT / "book").glob("ch[0-9][0-9]_*.md"))
    assert len(chapters) == 5
    for path in chapters:
        text = path.read_text(encoding="utf-8")
        name = path.name
        assert "By the end of the chapter you should be able to" in text, f"{name}: no 'you will learn' opening"
        for heading in ("## Summary", "## References"):
            assert re.search(rf"^{heading}\s*$", text, re.M), f"{name}: no {heading}"
        assert re.search(r"\.\./exercises/ex0\d_\w+/ex0\d_\w+\.ipynb", text), f"{name}: no link to its exercise"
        assert len(re.findall(r"^\$\$.*\$\$ *\(\S+\)\s*$|^\$\$ *\(\S+\)\s*$", text, re.M)) >= 5, f"{name}: few numbered equations"
        figures = 0
        for cell in _code_cells(text):
            if cell.startswith("---\n"):
                options, _, code = cell[4:].partition("\n---\n")
            else:
                lines = cell.splitlines()
                head = next((i for i, line in enumerate(lines) if not line.startswith(":")), len(lines))
                options, code = "\n".join(lines[:head]), "\n".join(lines[head:])
            if "figure:" in options:
                figures += 1
                assert re.search(r"caption:\s*\S", options), f"{name}: a figure without a caption"
                assert re.search(r"alt:\s*\S.{20,}", options), f"{name}: a figure without alt text"
                assert re.search(r"name:\s*\S", options), f"{name}: a figure without a name to number and cite"
            if re.search(r"\b(plt\.subplots|new_figure)\(", code) and "def " not in code.split("\n", 1)[0]:
                assert "hide-input" in options, f"{name}: plotting code shown unfolded:\n{code[:200]}"
        assert figures >= 2, f"{name}: {figures} numbered figures"


def test_launch_buttons_follow_the_repository_url(built_book, tmp_path):
    """With no repository URL (this repository's _config.yml) no page has launch buttons; setting the URL alone
    gives Binder on chapters and exercises, and Colab on the exercises only (Colab cannot open a chapter's
    Markdown source). Built without execution: only the page chrome is checked."""
    assert "mybinder.org" not in (built_book / "book" / "ch01_dynamics.html").read_text(encoding="utf-8")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["repository"]["url"] = "https://github.com/example-course/rnncourse"
    config["execute"]["execute_notebooks"] = "off"
    # local_extensions are found relative to the configuration file, so it lives beside the real one
    path = ROOT / f"_config-launch-test-{os.getpid()}.yml"
    path.write_text(yaml.safe_dump(config))
    try:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "--config", str(path),
             "--path-output", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
    finally:
        path.unlink()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html_dir = tmp_path / "_build" / "html"
    chapter = (html_dir / "book" / "ch01_dynamics.html").read_text(encoding="utf-8")
    exercise = (html_dir / "exercises" / "ex01_elman" / "ex01_elman.html").read_text(encoding="utf-8")
    intro = (html_dir / "book" / "intro.html").read_text(encoding="utf-8")
    assert "mybinder.org/v2/gh/example-course/rnncourse/main?urlpath=lab/tree/book/ch01_dynamics.md" in chapter
    assert "colab.research.google.com" not in chapter
    assert "colab.research.google.com/github/example-course/rnncourse/blob/main/exercises/ex01_elman/ex01_elman.ipynb" in exercise
    assert "mybinder.org" not in intro
    assert "the rocket at the top of the page opens this notebook on Binder or Colab" in exercise
    assert "this copy has none" in (built_book / "book" / "ch01_dynamics.html").read_text(encoding="utf-8")


def test_api_signatures_are_readable(built_book):
    """Defaults appear as written in the source, long signatures take one parameter per line, and a module
    constant's long value is not dumped into its heading."""
    page = (built_book / "book" / "api.html").read_text(encoding="utf-8")
    assert '<span class="pre">STDLIB_MODULES</span>' in page
    assert "configparser" not in page, "the 60 module names of STDLIB_MODULES are spelled out on the API page"
    # python_maximum_signature_line_length: Sphinx lays such a signature out as a list of parameters
    assert len(re.findall(r'<dd><em class="sig-param">', page)) > 20
    assert "&#39;april&#39;" not in page and "'april'" not in page
