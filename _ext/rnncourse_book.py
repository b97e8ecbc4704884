"""Sphinx extension for the rnncourse book: fixes that the stock Jupyter Book stack needs in a browser.

* Scripts are included once. sphinx-thebe 0.3.1 registers its inline configuration script both with the
  application and with the HTML builder, and Sphinx 7.4 de-duplicates scripts by file name only, so every
  page declared ``THEBE_JS_URL`` twice and the browser logged a ``SyntaxError``.
* The ipywidgets 8 controls typeset their labels through MathJax 2's ``MathJax.Hub.Queue``; the book
  uses MathJax 3, so ``static/rnncourse.js`` gives MathJax 3 a ``Hub.Queue`` that calls ``typesetPromise``.
* The theme's colour mode defaults to light (an empty default made the theme log an error on first load).
* A favicon (``static/favicon.svg``, set in ``_config.yml``, and ``/favicon.ico`` for pages without an icon
  link): without one a first visit logged a 404.
* Students start from the book, not from a clone: the student distribution (``student_dist.py``: the package's
  wheel, each chapter and exercise as an ``.ipynb``, the exercises as a zip) is written to ``downloads/`` in
  the built site, and every chapter and exercise page opens with a box that links its notebook and says how
  to run it. The wheel is rebuilt only when its sources change (cached in ``_build/student_dist``).
* Launch buttons stay truthful: Colab opens ``.ipynb`` files only, so a chapter (a MyST ``.md`` file in the
  repository) gets no Colab button; its box says to upload the downloaded notebook instead.
* ``static/rnncourse.css`` keeps every page within the viewport: tables and signatures scroll or wrap in
  their own box instead of widening the page.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import shutil
import sys
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
ROOT = HERE.parent
DOWNLOADS = "downloads"
# pages that get a "run this page" box, and the name of their notebook in downloads/
_NOTEBOOK_PAGE = re.compile(r"^(?:book/(?P<chapter>ch\d\d_\w+)|exercises/\w+/(?P<exercise>ex\d\d_\w+))$")


@functools.cache
def _version() -> str:
    match = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    return match.group(1) if match else "0"


def _wheel_name() -> str:
    return f"rnncourse-{_version()}-py3-none-any.whl"


def _script_key(script: Any) -> tuple:
    """A script's identity: its file name ("" for an inline script, given as None or "") and attributes
    (an inline one's body)."""
    filename = getattr(script, "filename", script)
    attributes = getattr(script, "attributes", {}) or {}
    return (str(filename or ""), tuple(sorted((str(k), str(v)) for k, v in attributes.items())))


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key in seen:
            continue
        seen.add(key)
        unique.append(script)
    scripts[:] = unique


def _run_box(app: Sphinx, pagename: str, context: dict) -> None:
    """Open a chapter or exercise page with where to get its notebook and how to run it."""
    match = _NOTEBOOK_PAGE.match(pagename)
    if not match or "body" not in context:
        return
    name = match.group("chapter") or match.group("exercise")
    base = "../" * pagename.count("/")
    notebook = f"{base}{DOWNLOADS}/{name}.ipynb"
    wheel = f"{base}{DOWNLOADS}/{_wheel_name()}"
    kind = "chapter" if match.group("chapter") else "exercise"
    extra = (f' All five exercises: <a class="reference external" href="{base}{DOWNLOADS}/rnncourse-exercises.zip" '
             'download>rnncourse-exercises.zip</a>.') if kind == "exercise" else ""
    box = (
        '<div class="admonition tip rnncourse-run-box">\n'
        f'<p class="admonition-title">Run this {kind} yourself</p>\n'
        f'<p>Download <a class="reference external" href="{notebook}" download>{html.escape(name)}.ipynb</a> and the '
        f'course package <a class="reference external" href="{wheel}" download>'
        f"{html.escape(_wheel_name())}</a>.{extra}</p>\n"
        "<ul>\n"
        "<li><strong>JupyterLab on your computer</strong>: "
        f"<code>pip install {html.escape(_wheel_name())}</code>, then "
        f"<code>jupyter lab {html.escape(name)}.ipynb</code> (the package brings JupyterLab; no clone needed).</li>\n"
        "<li><strong>Colab</strong>: upload the notebook (File, Upload notebook) and the wheel, and run "
        f"<code>%pip install {html.escape(_wheel_name())}</code> in its first cell.</li>\n"
        + (
            "<li><strong>Launch buttons</strong>: the rocket at the top of the page opens this notebook on Binder"
            + (" or Colab" if kind == "exercise" else "") + ", with everything installed.</li>\n"
            if (app.config.html_theme_options or {}).get("repository_url") else
            "<li><strong>Launch buttons</strong> (Binder, JupyterHub, Colab) appear at the top of the page when the "
            "course publishing this book sets its repository's URL (see the introduction); this copy has none.</li>\n"
        )
        + "</ul>\n</div>\n"
    )
    body = context["body"]
    end = body.find("</h1>")
    context["body"] = body[: end + 5] + box + body[end + 5 :] if end >= 0 else box + body


def _truthful_launch_buttons(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Colab opens .ipynb files only: drop its button on pages whose source is Markdown."""
    if not str(context.get("sourcename", "")).endswith((".md", ".md.txt")):
        return
    for button in context.get("header_buttons", []):
        if button.get("type") == "group" and isinstance(button.get("buttons"), list):
            button["buttons"] = [b for b in button["buttons"] if b.get("text") != "Colab"]


def _page_context(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    _dedupe_scripts(app, pagename, templatename, context, doctree)
    _run_box(app, pagename, context)


def _dist_inputs_digest() -> str:
    """A hash of everything the student distribution is made of."""
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "requirements.txt", ROOT / "README.md", HERE / "student_dist.py"]
    for folder, pattern in (("rnncourse", "*.py"), ("experiments/results", "*.json"), ("book", "ch*.md"),
                            ("exercises", "*/*.ipynb")):
        files += sorted((ROOT / folder).rglob(pattern))
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _write_favicon_ico(outdir: Path) -> None:
    """A /favicon.ico beside index.html: Chromium asks for it on pages without an icon link (the redirecting
    index.html), and a 404 there is a console error."""
    target = outdir / "favicon.ico"
    if target.is_file():
        return
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (32, 32), (31, 78, 121, 255))
    ImageDraw.Draw(image).ellipse((9, 10, 23, 24), outline=(255, 255, 255, 255), width=3)
    image.save(target, format="ICO", sizes=[(32, 32)])


def _copy_own_static(outdir: Path) -> None:
    """Sphinx copies static files only when some page changed: keep this extension's own up to date anyway."""
    static = outdir / "_static"
    if static.is_dir():
        for path in STATIC.iterdir():
            if path.is_file() and path.name != "favicon.svg":
                shutil.copy2(path, static / path.name)


def _finish_site(app: Sphinx, exception: Exception | None) -> None:
    """After a successful HTML build: this extension's static files, /favicon.ico and the student downloads."""
    if exception is not None or app.builder.format != "html":
        return
    _copy_own_static(Path(app.outdir))
    _write_favicon_ico(Path(app.outdir))
    _write_downloads(Path(app.outdir))


def _write_downloads(outdir: Path) -> None:
    """Copy the student distribution into the site, building it first when its sources changed."""
    sys.path.insert(0, str(HERE))
    try:
        import student_dist
    finally:
        sys.path.remove(str(HERE))
    cache = outdir.parent / "student_dist"
    stamp = cache / ".inputs"
    digest = _dist_inputs_digest()
    if not stamp.is_file() or stamp.read_text() != digest:
        shutil.rmtree(cache, ignore_errors=True)
        student_dist.build(cache)
        stamp.write_text(digest)
    target = outdir / DOWNLOADS
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(cache, target, ignore=shutil.ignore_patterns(".inputs"))


LAUNCH_PROVIDERS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url", "jupyterlite_url", "thebe")


def _configure(app: Sphinx, config: Config) -> None:
    # launch buttons need the repository: without its URL the theme would fail on every notebook page, so
    # the providers are switched off until _config.yml's repository.url is set
    options = dict(config.html_theme_options or {})
    if not options.get("repository_url") and options.get("launch_buttons"):
        options["launch_buttons"] = {k: v for k, v in options["launch_buttons"].items() if k not in LAUNCH_PROVIDERS}
        config.html_theme_options = options
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    config.html_context = {"default_mode": "light", **(config.html_context or {})}


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _configure)
    # early: the duplicates are in the list before the event starts, and Sphinx stops calling
    # html-page-context handlers after the first one that returns a template name
    app.connect("html-page-context", _page_context, priority=1)
    # after the theme has made its launch buttons (priority 500)
    app.connect("html-page-context", _truthful_launch_buttons, priority=800)
    app.connect("build-finished", _finish_site)
    # before MathJax's own configuration script runs (priority 500), so the shim sees every assignment
    app.add_js_file("rnncourse.js", priority=400)
    app.add_css_file("rnncourse.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
