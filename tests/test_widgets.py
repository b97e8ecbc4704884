"""The book's explorers show their plot as an image with alt text that says what the plot shows."""

from __future__ import annotations

import html
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402

from rnncourse import widgets  # noqa: E402


@pytest.fixture(autouse=True)
def shell():
    """display() publishes rich outputs (that capture_output collects) only inside an IPython shell."""
    return InteractiveShell.instance()


def test_show_displays_a_png_with_escaped_alt_text_and_closes_the_figure():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with capture_output() as captured:
        widgets._show(fig, 'a line falling from 1 to 0 "quoted" <b>')
    (shown,) = captured.outputs
    page = shown.data["text/html"]
    assert re.match(r'<img alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]+"', page)
    assert html.escape('a line falling from 1 to 0 "quoted" <b>') in page
    assert not plt.fignum_exists(fig.number)


def test_the_explorers_alt_text_reports_the_settings_and_the_result():
    explorer = widgets.dynamics_explorer(hidden_size=12, steps=40)
    with capture_output() as captured:
        explorer.f(spectral_radius=0.5, input_gain=0.0)
    page = captured.outputs[0].data["text/html"]
    alt = html.unescape(re.search(r'alt="([^"]*)"', page).group(1))
    assert alt.startswith("Activity of four of the 12 units over 40 steps at spectral radius 0.50 and input gain 0.00")
    assert "not chaotic" in alt  # a contracting network (radius 0.5) has a negative exponent
