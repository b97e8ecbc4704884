"""Helpers shared by the pipeline and book tests: what counts as secret in a solution notebook."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the built book (tests/conftest.py builds it once per session: the fixture built_book)
HTML = ROOT / "_build" / "html"

MARKERS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
}


def cell_sources(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in notebook["cells"]]


def secret_lines(path: Path, kind: str, min_length: int = 12) -> list[str]:
    """Lines inside the ``kind`` regions of a solution notebook, stripped, long enough to be distinctive."""
    begin, end = MARKERS[kind]
    found = []
    for source in cell_sources(path):
        inside = False
        for line in source.splitlines():
            stripped = line.strip()
            if stripped == begin:
                inside = True
            elif stripped == end:
                inside = False
            elif inside and len(stripped) >= min_length and not stripped.startswith("#"):
                found.append(stripped)
    return found


def visible_text(page: str) -> str:
    """The text of an HTML page without tags, with entities decoded and whitespace collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = html.unescape(re.sub(r"<[^>]+>", "", page))
    return re.sub(r"\s+", " ", text)


def squash(code: str) -> str:
    return re.sub(r"\s+", " ", code)
