"""The force-provider interface shared by exact solvers and trained models.

Every source of lattice forces, exact diagonalisation now, NEGF and trained
networks later, is a :class:`ForceField`: an object with a ``lattice`` and a
``forces(Q)`` method mapping distortions of shape ``(..., Lx, Ly)`` to forces of
the same shape. Integrators in :mod:`reference.dynamics` only see this
interface. A :class:`ConservativeForceField` also exposes the potential energy
whose negative gradient the forces are, which :func:`numerical_forces` checks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from reference.lattice import SquareLattice
from reference.validation import check_array, check_positive

__all__ = ["ConservativeForceField", "ForceField", "numerical_forces"]


@runtime_checkable
class ForceField(Protocol):
    """Anything that returns the force on every lattice mode for a configuration ``Q``."""

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        ...

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return ``F_i = -dE/dQ_i`` (or a non-conservative force), shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice``; leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            The force on every lattice mode, in units of the hopping per unit distortion.
        """
        ...


@runtime_checkable
class ConservativeForceField(ForceField, Protocol):
    """A force field with a potential energy: ``forces(Q) == -grad energy(Q)``."""

    def energy(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the potential energy, shape ``(...)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice``; leading axes are batch axes.

        Returns
        -------
        (...) float64
            The potential energy of each configuration, in units of the hopping.
        """
        ...


def numerical_forces(
    energy_fn: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    Q: NDArray[np.float64],
    step: float = 1e-5,
) -> NDArray[np.float64]:
    r"""Return :math:`-\partial E / \partial Q_i` by fourth-order central differences.

    .. math::

        F_i \approx -\frac{-E(Q + 2h e_i) + 8 E(Q + h e_i) - 8 E(Q - h e_i) + E(Q - 2h e_i)}{12 h}

    The finite-difference oracle used to check every analytic force
    (Hellmann-Feynman, elastic, machine-learned).

    Parameters
    ----------
    energy_fn : callable
        Maps one configuration of shape ``(Lx, Ly)`` to a scalar energy.
    Q : (Lx, Ly) float64
        The configuration at which to differentiate; one configuration, no batch axes.
    step : float
        Displacement ``h`` (> 0).

    Returns
    -------
    (Lx, Ly) float64
    """
    q = check_array("Q", Q, min_ndim=2)
    if q.ndim != 2:
        raise ValueError(f"Q must be a single configuration of shape (Lx, Ly), got {q.shape}")
    h = check_positive("step", step)
    grad = np.zeros_like(q)
    for idx in np.ndindex(q.shape):
        e = np.zeros_like(q)
        e[idx] = h
        grad[idx] = (
            -float(energy_fn(q + 2 * e))
            + 8 * float(energy_fn(q + e))
            - 8 * float(energy_fn(q - e))
            + float(energy_fn(q - 2 * e))
        ) / (12 * h)
    return -grad
