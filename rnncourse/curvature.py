"""Curvature: Newton's step, steepest descent and conjugate gradient on a quadratic (chapter 2,
*Backpropagation through time*, section *The curvature view*).

Near a point :math:`\\theta`, a loss is approximated by the quadratic model of a step :math:`\\Delta\\theta`

.. math::

    q(\\Delta\\theta) = L(\\theta) + \\nabla L^\\top \\Delta\\theta + \\tfrac12\\, \\Delta\\theta^\\top A\\, \\Delta\\theta,
    \\qquad A = \\nabla^2 L(\\theta),

and when :math:`A` is symmetric positive definite its minimum is Newton's step
:math:`\\Delta\\theta^\\ast = -A^{-1} \\nabla L`. Everything here minimises
:math:`q(x) = \\tfrac12 x^\\top A x + g^\\top x` (the constant dropped, ``g`` the gradient), i.e. solves
:math:`A x = -g`. Steepest descent and conjugate gradient need :math:`A` only through products
:math:`A v` (``A_matvec``): for a network, :func:`hessian_vector_product` computes one for the cost of
about two gradients, without ever forming the :math:`n \\times n` matrix. The Hessian is written
:math:`\\nabla^2 L` or :math:`A`, never :math:`H`, which counts hidden units in this course.

Reference for the algorithms: Shewchuk (1994), *An introduction to the conjugate gradient method without
the agonizing pain*.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch

Array = NDArray[np.floating]
Matvec = Callable[[Array], Array]

__all__ = [
    "Descent",
    "conjugate_gradient",
    "hessian_vector_product",
    "newton_step",
    "quadratic_value",
    "random_spd_matrix",
    "steepest_descent",
]


@dataclass
class Descent:
    """The path of an iterative minimiser of :math:`q(x) = \\tfrac12 x^\\top A x + g^\\top x`.

    Attributes:
        x: the final iterate ``(n,)``.
        iterates: ``(k + 1, n)``, the start and every iterate after it.
        residual_norms: ``(k + 1,)``, :math:`\\lVert -g - A x_i \\rVert` (the gradient of ``q``, negated) at each.
        directions: ``(k, n)``, the search direction of each step.
    """

    x: Array
    iterates: Array
    residual_norms: Array
    directions: Array = field(default_factory=lambda: np.empty((0, 0)))

    @property
    def steps(self) -> int:
        return len(self.iterates) - 1


def _as_matvec(A: Array | Matvec) -> Matvec:
    if callable(A):
        return A
    matrix = np.asarray(A, dtype=np.float64)
    return lambda v: matrix @ v


def quadratic_value(A: Array | Matvec, g: Array, x: Array) -> float:
    """:math:`q(x) = \\tfrac12 x^\\top A x + g^\\top x`; ``A`` is a matrix or a function ``v -> A v``."""
    x = np.asarray(x, dtype=np.float64)
    return float(0.5 * x @ _as_matvec(A)(x) + np.asarray(g) @ x)


def newton_step(A: Array, g: Array) -> Array:
    """Newton's step :math:`\\Delta\\theta = -A^{-1} g`: on a quadratic with symmetric positive definite
    :math:`A` it lands on the minimum in one step. Costs :math:`O(n^3)` time and :math:`O(n^2)` memory
    for the matrix, which is why networks with millions of parameters cannot use it directly."""
    return -np.linalg.solve(np.asarray(A, dtype=np.float64), np.asarray(g, dtype=np.float64))


def steepest_descent(
    A: Array | Matvec, g: Array, x0: Array | None = None, steps: int = 100, tol: float = 1e-10
) -> Descent:
    """Steepest descent with exact line search on :math:`q`:

    .. math::

        r_i = -g - A x_i, \\qquad \\zeta_i = \\frac{r_i^\\top r_i}{r_i^\\top A r_i}, \\qquad x_{i+1} = x_i + \\zeta_i r_i.

    Each step goes to the minimum along the gradient, so consecutive directions are orthogonal and the
    path zig-zags when the curvature differs between directions.

    Args:
        A: symmetric positive definite ``(n, n)`` matrix, or a function ``v -> A v``.
        g: ``(n,)``, the linear term (the gradient at the expansion point).
        x0: start (zeros when omitted).
        steps: at most this many steps.
        tol: stop when :math:`\\lVert r_i \\rVert \\le` ``tol`` :math:`\\cdot \\max(\\lVert g \\rVert, \\lVert r_0 \\rVert)`.
    """
    matvec = _as_matvec(A)
    g = np.asarray(g, dtype=np.float64)
    x = np.zeros_like(g) if x0 is None else np.array(x0, dtype=np.float64)
    r = -g - matvec(x)
    start = float(np.linalg.norm(r))
    scale = max(float(np.linalg.norm(g)), start)
    iterates, norms, directions = [x.copy()], [start], []
    for _ in range(steps):
        if norms[-1] <= tol * scale or norms[-1] == 0.0:
            break
        Ar = matvec(r)
        alpha = (r @ r) / (r @ Ar)
        directions.append(r.copy())
        x = x + alpha * r
        r = r - alpha * Ar
        iterates.append(x.copy())
        norms.append(float(np.linalg.norm(r)))
    return Descent(x=x, iterates=np.array(iterates), residual_norms=np.array(norms),
                   directions=np.array(directions).reshape(len(directions), g.size))


def conjugate_gradient(
    A_matvec: Array | Matvec, g: Array, x0: Array | None = None, max_iter: int | None = None, tol: float = 1e-12
) -> Descent:
    """Conjugate gradient (Hestenes and Stiefel 1952) for :math:`\\min_x q(x)`, i.e. :math:`A x = -g`:

    .. math::

        p_0 = r_0 = -g - A x_0, \\qquad \\zeta_i = \\frac{r_i^\\top r_i}{p_i^\\top A p_i}, \\qquad
        x_{i+1} = x_i + \\zeta_i p_i, \\qquad r_{i+1} = r_i - \\zeta_i A p_i,

        \\beta_{i+1} = \\frac{r_{i+1}^\\top r_{i+1}}{r_i^\\top r_i}, \\qquad p_{i+1} = r_{i+1} + \\beta_{i+1} p_i.

    Every step minimises :math:`q` exactly along :math:`p_i`, and the directions are *conjugate*,
    :math:`p_i^\\top A p_j = 0` for :math:`i \\ne j`: moving along a new direction leaves the gradient along
    the old ones at zero. So, in exact arithmetic, the minimum of an :math:`n`-dimensional quadratic is
    reached in at most :math:`n` steps, and in as many steps as :math:`A` has distinct eigenvalues. In
    floating point the directions slowly lose conjugacy, and for some spectra (many small eigenvalues and
    a few large, isolated ones) a few more steps are needed.

    Args:
        A_matvec: a function ``v -> A v`` (or the matrix itself), ``A`` symmetric positive definite.
        g: ``(n,)``, the linear term.
        x0: start (zeros when omitted).
        max_iter: at most this many steps (default ``n``).
        tol: stop when :math:`\\lVert r_i \\rVert \\le` ``tol`` :math:`\\cdot \\max(\\lVert g \\rVert, \\lVert r_0 \\rVert)`.

    Returns:
        The :class:`Descent`, with the conjugate directions in ``directions``.
    """
    matvec = _as_matvec(A_matvec)
    g = np.asarray(g, dtype=np.float64)
    x = np.zeros_like(g) if x0 is None else np.array(x0, dtype=np.float64)
    max_iter = g.size if max_iter is None else max_iter
    r = -g - matvec(x)
    d = r.copy()
    rr = float(r @ r)
    start = np.sqrt(rr)
    scale = max(float(np.linalg.norm(g)), start)
    iterates, norms, directions = [x.copy()], [start], []
    for _ in range(max_iter):
        if norms[-1] <= tol * scale or rr == 0.0:
            break
        Ad = matvec(d)
        alpha = rr / float(d @ Ad)
        directions.append(d.copy())
        x = x + alpha * d
        r = r - alpha * Ad
        rr_new = float(r @ r)
        d = r + (rr_new / rr) * d
        rr = rr_new
        iterates.append(x.copy())
        norms.append(np.sqrt(rr))
    return Descent(x=x, iterates=np.array(iterates), residual_norms=np.array(norms),
                   directions=np.array(directions).reshape(len(directions), g.size))


def random_spd_matrix(eigenvalues: Array, rng: np.random.Generator) -> Array:
    """A symmetric positive definite matrix :math:`Q \\operatorname{diag}(\\lambda) Q^\\top` with the given
    eigenvalues and a random orthogonal :math:`Q` (for demos and tests)."""
    eigenvalues = np.asarray(eigenvalues, dtype=np.float64)
    if np.any(eigenvalues <= 0):
        raise ValueError("eigenvalues of a positive definite matrix must be positive")
    q, r = np.linalg.qr(rng.standard_normal((eigenvalues.size, eigenvalues.size)))
    q *= np.sign(np.diag(r))
    return (q * eigenvalues) @ q.T


def hessian_vector_product(
    loss_fn: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, v: torch.Tensor
) -> torch.Tensor:
    """:math:`\\nabla^2 L(\\theta)\\, v` without forming :math:`\\nabla^2 L`: differentiate
    :math:`\\nabla L(\\theta)^\\top v` once more (Pearlmutter 1994), at the cost of about two gradients.

    Args:
        loss_fn: the loss as a function of one flat parameter vector ``(n,)``.
        theta: ``(n,)``, where to take the curvature.
        v: ``(n,)``, the direction.
    """
    import torch

    theta = theta.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(loss_fn(theta), theta, create_graph=True)
    (hv,) = torch.autograd.grad(grad @ v, theta)
    return hv
