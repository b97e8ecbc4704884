"""The built book in a real browser: Debian's headless Chromium, driven by Playwright for Python (no
browser download: Playwright is pointed at the system binary).

Every page of the freshly built book is opened twice, served from localhost and as a file:// URL, and
must show: math typeset with no MathJax error and no raw LaTeX left in the text, every image loaded,
widgets with saved state rendered, no console error, no uncaught script error and no failed request.
No page may be wider than the viewport at 1280 px or at 390 px (tables and code scroll inside their own
box). Internal links and anchors resolve, and the search page finds a term. A screenshot of each
chapter's first screen is written to ``_build/screenshots/`` as a test artefact.

The set-up (``make env``) installs Debian's ``chromium`` when it runs as root; elsewhere install it
with ``apt-get install chromium``. Without a browser these tests fail and say so, unless
``RNNCOURSE_SKIP_BROWSER=1`` is set on purpose.
"""

from __future__ import annotations

import functools
import html.parser
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urldefrag, urljoin, urlparse

import pytest

from _notebooks import ROOT

SCREENSHOTS = ROOT / "_build" / "screenshots"
WIDTHS = (1280, 390)
# Sphinx's own and the vendored folders are assets, not pages
ASSET_DIRS = {"_static", "vendor", "_sources", "_images", "@jupyter-widgets"}

if os.environ.get("RNNCOURSE_SKIP_BROWSER") == "1":
    pytest.skip("RNNCOURSE_SKIP_BROWSER=1: the browser tests were switched off", allow_module_level=True)

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is in requirements-test.txt")


def _chromium() -> str:
    """The system Chromium's real binary (Debian's /usr/bin/chromium is a shell wrapper around it)."""
    for candidate in (os.environ.get("RNNCOURSE_CHROMIUM"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium-browser"), shutil.which("chromium"), shutil.which("google-chrome")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no Chromium found: install Debian's package (apt-get install chromium; `make env` does this as "
                "root), point RNNCOURSE_CHROMIUM at a Chromium binary, or set RNNCOURSE_SKIP_BROWSER=1")


def _pages(html_dir: Path) -> list[str]:
    return sorted(
        p.relative_to(html_dir).as_posix() for p in html_dir.rglob("*.html")
        if not ASSET_DIRS & set(p.relative_to(html_dir).parts)
    )


def _page_ids() -> list[str]:
    """Page names for test ids, from the sources (the book is built by a fixture, after collection)."""
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc.get("parts", []) for c in part["chapters"]]
    return ["index"] + files + ["search", "genindex", "py-modindex"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def server(built_book: Path):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


def _wait_for_math(page) -> None:
    """Wait until MathJax (when the page loads it) has typeset the page."""
    page.wait_for_load_state("load")
    page.evaluate("""async () => {
        for (let i = 0; i < 100 && window.MathJax && !window.MathJax.startup; i++)
            await new Promise(r => setTimeout(r, 50));
        if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise;
    }""")
    page.wait_for_timeout(200)


# What a page shows, measured in the page: text outside code with LaTeX left raw, MathJax errors, images
# that did not load, widgets, and the document's width against the viewport's.
INSPECT = r"""() => {
    const article = document.querySelector('main') || document.body;
    const copy = article.cloneNode(true);
    copy.querySelectorAll('pre, code, script, style, textarea, .highlight, mjx-container, mjx-assistive-mml').forEach(e => e.remove());
    const text = copy.textContent;
    const raw = [];
    const pattern = /\$\$|\\begin\{|\\end\{|\\frac\b|\\mathbf\b|\\mathrm\b|\\odot\b|\\tanh\b|\\sum\b|\\alpha\b|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$/g;
    let m;
    while ((m = pattern.exec(text)) !== null && raw.length < 5) raw.push(text.slice(Math.max(0, m.index - 60), m.index + 60));
    const mathErrors = [...document.querySelectorAll('mjx-merror, [data-mjx-error]')]
        .map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5);
    const images = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src'));
    // a widget's output area (re-drawn by the widget, kept as saved state) is exempt: the same figure is
    // shown with a caption and alt text in the chapter
    const alts = [...article.querySelectorAll('img')].filter(i => !i.closest('.jupyter-widgets'))
        .filter(i => !(i.getAttribute('alt') || '').trim()).map(i => (i.getAttribute('src') || '').slice(0, 80));
    const widgetStates = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
    const widgetsShown = document.querySelectorAll('.jupyter-widgets.widget-container, .jupyter-widgets .widget-slider, .widget-inline-hbox').length;
    // tables whose columns do not fit their box (they scroll sideways, hiding columns)
    const clipped = [...article.querySelectorAll('table')].filter(t => t.scrollWidth > t.clientWidth + 1)
        .map(t => (t.querySelector('th, td') || t).textContent.trim().slice(0, 40));
    return {raw, mathErrors, images, alts, widgetStates, widgetsShown, clipped,
            typeset: document.querySelectorAll('mjx-container').length,
            scrollWidth: document.documentElement.scrollWidth, clientWidth: document.documentElement.clientWidth};
}"""


def _open(browser, url: str, width: int):
    """Open url in a fresh context; returns (page, problems) where problems collects what the browser logs."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(f"uncaught script error: {err}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url} ({req.failure})"))
    page.on("response", lambda res: problems.append(f"HTTP {res.status}: {res.url}") if res.status >= 400 else None)
    page.goto(url, wait_until="load")
    if urlparse(url).path.endswith("/index.html") and "/book/" not in url and "/exercises/" not in url:
        # the site's index.html only redirects to the intro page
        page.wait_for_url("**/book/intro.html", timeout=10_000)
    _wait_for_math(page)
    return page, problems


def _check_page(browser, url: str, name: str, width: int, screenshot: Path | None = None) -> None:
    page, problems = _open(browser, url, width)
    try:
        shown = page.evaluate(INSPECT)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot))
    finally:
        page.context.close()
    assert not problems, f"{name} at {width} px ({url}) logged:\n" + "\n".join(problems[:10])
    assert not shown["mathErrors"], f"{name}: MathJax could not typeset: {shown['mathErrors']}"
    assert not shown["raw"], f"{name}: LaTeX left untypeset in the text: {shown['raw']}"
    assert not shown["images"], f"{name}: images that did not load: {shown['images']}"
    assert not shown["alts"], f"{name}: images without alt text: {shown['alts']}"
    if shown["widgetStates"]:
        assert shown["widgetsShown"] >= shown["widgetStates"], (
            f"{name}: {shown['widgetStates']} saved widgets, but only {shown['widgetsShown']} rendered")
    if width >= 1280:
        assert not shown["clipped"], f"{name}: tables that hide columns behind a scrollbar at {width} px: {shown['clipped']}"
    assert shown["scrollWidth"] <= shown["clientWidth"], (
        f"{name} is {shown['scrollWidth']} px wide in a {shown['clientWidth']} px viewport: something wide "
        "does not scroll inside its own box")


@pytest.mark.parametrize("name", _page_ids())
def test_page_served_from_localhost(browser, server, built_book, name):
    """Each page over HTTP, at desktop width (with a screenshot of the first screen) and at phone width."""
    assert (built_book / f"{name}.html").is_file(), f"{name}.html was not built"
    shot = SCREENSHOTS / f"{name.replace('/', '__')}.png" if name.startswith(("book/", "exercises/", "index")) else None
    _check_page(browser, server + f"{name}.html", name, 1280, shot)
    _check_page(browser, server + f"{name}.html", name, 390)


@pytest.mark.parametrize("name", _page_ids())
def test_page_opened_from_file(browser, built_book, name):
    """Each page as a file on disk, as a reader who downloaded the built site opens it."""
    _check_page(browser, (built_book / f"{name}.html").as_uri(), name, 1280)


def test_every_built_page_is_checked(built_book):
    """The pages the browser tests visit are all the pages there are."""
    assert set(_pages(built_book)) == {f"{name}.html" for name in _page_ids()}


def test_math_is_typeset(browser, server):
    page, problems = _open(browser, server + "book/ch01_dynamics.html", 1280)
    try:
        count = page.evaluate("document.querySelectorAll('mjx-container').length")
    finally:
        page.context.close()
    assert count > 20, f"chapter 1 should show typeset equations, found {count}"
    assert not problems


def test_widgets_with_saved_state_render(browser, server):
    """Chapter 1's widget renders from its saved state: sliders a reader can see (moving them needs a kernel)."""
    page, problems = _open(browser, server + "book/ch01_dynamics.html", 1280)
    try:
        page.wait_for_selector(".widget-slider", timeout=10_000)
        sliders = page.locator(".widget-slider").count()
    finally:
        page.context.close()
    assert sliders >= 1
    assert not problems


def test_search_finds_a_term(browser, server):
    page, problems = _open(browser, server + "search.html?q=backpropagation", 1280)
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=20_000)
        hits = page.locator("#search-results ul.search li a").all_inner_texts()
    finally:
        page.context.close()
    assert any("Backpropagation" in hit or "BPTT" in hit for hit in hits), hits
    assert not problems


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for key in ("id", "name"):
            if values.get(key):
                self.ids.add(values[key])
        if tag == "a" and values.get("href"):
            self.hrefs.append(values["href"])


def test_no_broken_internal_link_or_anchor(built_book):
    parsed: dict[Path, _Links] = {}

    def parse(path: Path) -> _Links:
        if path not in parsed:
            parser = _Links()
            parser.feed(path.read_text(encoding="utf-8"))
            parsed[path] = parser
        return parsed[path]

    broken = []
    for name in _pages(built_book):
        source = built_book / name
        for href in parse(source).hrefs:
            if urlparse(href).scheme or href.startswith(("//", "mailto:", "javascript:")):
                continue
            target_url, anchor = urldefrag(urljoin(source.as_uri(), href))
            target = Path(unquote(urlparse(target_url).path))
            if not target.exists():
                broken.append(f"{name}: {href} (no such file)")
                continue
            if target.is_dir():
                target = target / "index.html"
            if anchor and target.suffix == ".html" and unquote(anchor) not in parse(target).ids:
                broken.append(f"{name}: {href} (no anchor #{anchor})")
    assert not broken, "\n".join(broken[:20])
