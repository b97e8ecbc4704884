"""Interactive explorers for the book (ipywidgets). In the built book the saved view shows;
moving a slider needs a live kernel (JupyterLab, Binder or a local ``jupyter lab``)."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from rnncourse.dynamics import (
    iterate_network,
    largest_lyapunov_exponent,
    random_recurrent_matrix,
)
from rnncourse.plots import plot_trajectory

__all__ = ["dynamics_explorer"]


def dynamics_explorer(
    hidden_size: int = 60, steps: int = 200, seed: int = 0, spectral_radius: float = 1.5
) -> widgets.interactive:
    """Sliders for the spectral radius of ``W`` and the gain of a sinusoidal input drive.

    The network is ``h[t] = tanh(W h[t-1] + gain * U sin(2 pi t / 25))`` with a fixed random
    ``W`` rescaled to the chosen spectral radius. The plot shows four units and the title
    the largest Lyapunov exponent (positive: chaos).
    """
    rng = np.random.default_rng(seed)
    base = random_recurrent_matrix(hidden_size, 1.0, rng)
    U = rng.standard_normal((hidden_size, 1))
    h0 = 0.5 * rng.standard_normal(hidden_size)
    burn_in = 300
    total = burn_in + max(steps, 400)
    inputs = np.sin(2 * np.pi * np.arange(total) / 25.0)[:, None]

    def show(spectral_radius: float, input_gain: float) -> None:
        W = spectral_radius * base
        trajectory = iterate_network(W, h0, steps, U, inputs, input_gain)
        lyapunov = largest_lyapunov_exponent(
            W, h0, steps=total - burn_in, burn_in=burn_in, U=U, inputs=inputs, input_gain=input_gain
        )
        verdict = "chaotic" if lyapunov > 1e-3 else "not chaotic"
        fig, ax = plt.subplots(figsize=(7.0, 3.0))
        plot_trajectory(
            trajectory,
            ax=ax,
            title=f"spectral radius {spectral_radius:.2f}, input gain {input_gain:.2f}: "
            f"Lyapunov exponent {lyapunov:+.3f} ({verdict})",
        )
        plt.show()

    radius_slider = widgets.FloatSlider(
        value=spectral_radius, min=0.2, max=3.0, step=0.1, description="spectral radius",
        continuous_update=False, style={"description_width": "initial"},
    )
    gain_slider = widgets.FloatSlider(
        value=0.0, min=0.0, max=3.0, step=0.1, description="input gain",
        continuous_update=False, style={"description_width": "initial"},
    )
    return widgets.interactive(show, spectral_radius=radius_slider, input_gain=gain_slider)
