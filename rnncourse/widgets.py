"""Interactive explorers for the book (ipywidgets). In the built book the saved view shows;
moving a slider needs a live kernel (JupyterLab, Binder or a local ``jupyter lab``)."""

from __future__ import annotations

import base64
import html
import io

import ipywidgets as widgets
from IPython.display import HTML, display
import matplotlib.pyplot as plt
import numpy as np

from rnncourse.dynamics import (
    iterate_network,
    largest_lyapunov_exponent,
    random_recurrent_matrix,
)
from rnncourse.plots import plot_trajectory

__all__ = ["dynamics_explorer", "esn_explorer"]


def _show(fig: plt.Figure, alt: str) -> None:
    """Show ``fig`` as a PNG with alt text (a plain ``plt.show()`` gives an image with none) and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    display(HTML(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}" style="max-width: 100%"/>'))


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
        _show(fig, f"Activity of four of the {hidden_size} units over {steps} steps at spectral radius "
                   f"{spectral_radius:.2f} and input gain {input_gain:.2f}; the largest Lyapunov exponent is "
                   f"{lyapunov:+.3f}, so the network is {verdict}.")

    radius_slider = widgets.FloatSlider(
        value=spectral_radius, min=0.2, max=3.0, step=0.1, description="spectral radius",
        continuous_update=False, style={"description_width": "initial"},
    )
    gain_slider = widgets.FloatSlider(
        value=0.0, min=0.0, max=3.0, step=0.1, description="input gain",
        continuous_update=False, style={"description_width": "initial"},
    )
    return widgets.interactive(show, spectral_radius=radius_slider, input_gain=gain_slider)


def esn_explorer(horizon: int = 10, seed: int = 0) -> widgets.interactive:
    """Sliders for an echo state network predicting the Mackey-Glass series ``horizon`` steps ahead.

    Spectral radius, input scaling, leak rate and reservoir size set a fresh :class:`~rnncourse.ESN` (same
    seed), which is fitted on 2000 steps (200 of warm-up) and tested on the next 500; the plot shows the
    test target and prediction and the title the test NRMSE. Each setting takes well under a second.
    """
    from rnncourse.esn import ESN, mackey_glass, nrmse

    series = mackey_glass(2700 + horizon, discard=200)[:, None]
    train, test = slice(0, 2000), slice(2000, 2500)

    def show(spectral_radius: float, input_scaling: float, leak_rate: float, units: int) -> None:
        model = ESN(units, spectral_radius=spectral_radius, leak_rate=leak_rate, input_scaling=input_scaling,
                    ridge=1e-7, seed=seed)
        model.fit(series[train], series[horizon : 2000 + horizon], warmup=200)
        prediction = model.predict(series[test], resume=True)
        target = series[2000 + horizon : 2500 + horizon]
        fig, ax = plt.subplots(figsize=(7.0, 2.8))
        steps = np.arange(2000, 2500)
        ax.plot(steps, target[:, 0], c="k", lw=1.2, label=f"target $x^{{(t+{horizon})}}$")
        ax.plot(steps, prediction[:, 0], c="C1", lw=1.0, ls="--", label="prediction")
        ax.set(xlabel="step $t$", title=f"{units} units: test NRMSE {nrmse(target, prediction):.3g}")
        ax.legend(fontsize=8, loc="upper right")
        error = nrmse(target, prediction)
        _show(fig, f"Mackey-Glass target and the {units}-unit reservoir's prediction {horizon} steps ahead over "
                   f"test steps 2000 to 2499 (spectral radius {spectral_radius:.2f}, input scaling "
                   f"{input_scaling:.3g}, leak rate {leak_rate:.2f}); test NRMSE {error:.3g}.")

    style = {"description_width": "initial"}
    return widgets.interactive(
        show,
        spectral_radius=widgets.FloatSlider(value=0.9, min=0.1, max=1.5, step=0.05, description="spectral radius",
                                            continuous_update=False, style=style),
        input_scaling=widgets.FloatLogSlider(value=0.5, base=10, min=-2, max=1, step=0.25,
                                             description="input scaling", continuous_update=False, style=style),
        leak_rate=widgets.FloatSlider(value=0.3, min=0.05, max=1.0, step=0.05, description="leak rate",
                                      continuous_update=False, style=style),
        units=widgets.Dropdown(options=[25, 50, 100, 200, 400], value=200, description="units", style=style),
    )
