"""Per-student feedback pages: scores, what each check found, and why — never test source."""

from __future__ import annotations

import html

from rnncourse.grading.grader import SubmissionResult

__all__ = ["feedback_html"]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 56rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
td, th { border: 1px solid #ccc; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.ok { color: #1a7f37; } .bad { color: #b3261e; }
.status { padding: .5rem .75rem; background: #fff4e5; border-left: 4px solid #f0a020; }
"""


def feedback_html(result: SubmissionResult) -> str:
    """The feedback page of one result, as a complete HTML document."""
    e = html.escape
    rows = []
    for part in result.parts:
        checks = "".join(
            f"<li class='{'ok' if c.passed else 'bad'}'>{'✔' if c.passed else '✘'} {e(c.name)}: {e(c.message)}</li>"
            for c in part.cases
        )
        why = f"<p class='bad'>No points: {e(part.delegation)}. Write this computation yourself.</p>" if part.delegation else ""
        rows.append(
            f"<tr><td><code>{e(part.cell)}</code><br><code>{e(part.function)}()</code></td>"
            f"<td>{part.score:g} / {part.points:g}</td><td>{why}<ul>{checks}</ul></td></tr>"
        )
    status = (
        "" if result.status == "ok"
        else f"<p class='status'><strong>Grading notes:</strong> {e(result.status)}</p>"
    )
    if result.errors:
        items = "".join(f"<li><code>{e(error)}</code></li>" for error in result.errors)
        status += f"<h2>Errors in your cells</h2><p>These happened while your cells ran; code after an error in the same cell still ran.</p><ul>{items}</ul>"
    if result.info:
        status += "<h2>Good to know</h2><ul>" + "".join(f"<li>{e(item)}</li>" for item in result.info) + "</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(result.assignment)}: feedback for {e(result.student)}</title>
<style>{STYLE}</style></head>
<body>
<h1>{e(result.assignment)}: feedback for {e(result.student)}</h1>
<p><strong>Score: {result.score:g} / {result.max_score:g}</strong></p>
{status}
<p>Each graded cell was checked by calling your functions on new random inputs and comparing the results
with a reference outside your notebook. Partial credit is the fraction of checks passed.</p>
<table><tr><th>part</th><th>points</th><th>checks</th></tr>
{''.join(rows)}
</table>
</body></html>
"""
