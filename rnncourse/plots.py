"""Figures shared by the book's chapters: one look across the course."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from numpy.typing import NDArray

__all__ = ["draw_graph", "new_figure", "plot_phase_portrait", "plot_trajectory", "use_course_style"]

#: Box colours of :func:`draw_graph`, by the first letter of a node's name: input, hidden, output.
GRAPH_COLOURS = {"x": "#f4b6b6", "h": "#b9e3b0", "o": "#b6cdf4"}
_BOX_W, _BOX_H = 0.7, 0.48


def use_course_style() -> None:
    """Set the course's matplotlib defaults (sizes that read well in the book)."""
    plt.rcParams.update(
        {
            "figure.figsize": (7.0, 3.2),
            "figure.dpi": 100,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
        }
    )


def plot_trajectory(
    trajectory: NDArray[np.floating],
    ax: Axes | None = None,
    units: int = 4,
    title: str | None = None,
) -> Axes:
    """Plot the first ``units`` coordinates of a trajectory ``(steps, H)`` against time."""
    if ax is None:
        _, ax = plt.subplots()
    for i in range(min(units, trajectory.shape[1])):
        ax.plot(trajectory[:, i], lw=1.2, label=f"$h_{{{i + 1}}}$")
    ax.set_xlabel("time step $t$")
    ax.set_ylabel("activation")
    ax.set_ylim(-1.05, 1.05)
    if title:
        ax.set_title(title)
    return ax


def plot_phase_portrait(
    trajectory: NDArray[np.floating], ax: Axes | None = None, title: str | None = None
) -> Axes:
    """Plot unit 2 against unit 1 of a trajectory ``(steps, H)``; the start is marked with a dot."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.2, 3.2))
    ax.plot(trajectory[:, 0], trajectory[:, 1], lw=0.8)
    ax.plot(trajectory[0, 0], trajectory[0, 1], "o", ms=4)
    ax.set_xlabel("$h_1$")
    ax.set_ylabel("$h_2$")
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)
    return ax


def new_figure(ncols: int = 1, width: float = 7.0, height: float = 3.0) -> tuple[Figure, list[Axes]]:
    """A figure with ``ncols`` side-by-side axes, returned as a list."""
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    return fig, list(axes[0])


def draw_graph(
    ax: Axes,
    nodes: dict[str, tuple[float, float, str]],
    edges: list[tuple[str, str, str]],
    title: str | None = None,
) -> Axes:
    """Draw a computational graph of boxes and arrows (the book's folded and unfolded RNN diagrams).

    Args:
        nodes: ``{name: (x, y, label)}``; the first letter of the name picks the colour
            (``x`` input, ``h`` hidden, ``o`` output).
        edges: ``[(start, end, label)]``; an edge from a node to itself is drawn as a loop
            through a one-step delay (a black square). Edges run vertically or horizontally.
        title: optional axes title.
    """
    for name, (x, y, label) in nodes.items():
        ax.add_patch(FancyBboxPatch(
            (x - _BOX_W / 2, y - _BOX_H / 2), _BOX_W, _BOX_H,
            boxstyle="round,pad=0.03", fc=GRAPH_COLOURS[name[0]], ec="k", lw=0.8))
        ax.text(x, y, label, ha="center", va="center", fontsize=11)
    for start, end, label in edges:
        (x0, y0, _), (x1, y1, _) = nodes[start], nodes[end]
        if start == end:
            right, reach = x0 + _BOX_W / 2 + 0.03, x0 + _BOX_W / 2 + 0.38
            loop = Path([(right, y0 + 0.13), (reach, y0 + 0.13), (reach, y0 - 0.13), (right, y0 - 0.13)])
            ax.add_patch(FancyArrowPatch(path=loop, arrowstyle="-|>", mutation_scale=12, lw=1.0))
            ax.plot(reach, y0, "ks", ms=6)
            ax.text(reach + 0.12, y0, label, va="center", fontsize=11)
            continue
        if x0 == x1:  # vertical: top of one box to the bottom of the next
            a, b = (x0, y0 + _BOX_H / 2 + 0.03), (x1, y1 - _BOX_H / 2 - 0.03)
            spot = (x0 + 0.07, (y0 + y1) / 2)
        else:  # horizontal
            a, b = (x0 + _BOX_W / 2 + 0.03, y0), (x1 - _BOX_W / 2 - 0.03, y1)
            spot = ((x0 + x1) / 2 - 0.08, y0 + 0.1)
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, lw=1.0))
        if label:
            ax.text(*spot, label, fontsize=10, va="bottom" if x0 != x1 else "center")
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
