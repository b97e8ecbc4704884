"""Figures shared by the book's chapters: one look across the course."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import NDArray

__all__ = ["plot_phase_portrait", "plot_trajectory", "use_course_style"]


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
