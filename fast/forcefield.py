"""The force-provider interface and the finite-difference oracle, on tensors.

Twin of :mod:`reference.forcefield`: the protocols are shared; :func:`numerical_forces`
evaluates all ``4N`` displaced configurations as one batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch

from fast._tensor import Tensor, as_tensor
from reference.lattice import SquareLattice
from reference.validation import check_positive


@runtime_checkable
class ForceField(Protocol):
    """Anything that returns the force on every lattice mode for distortions ``Q`` (tensors)."""

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        ...

    def forces(self, Q: Tensor) -> Tensor:
        """Return the forces, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions; leading axes are a batch.

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
            :math:`F_i`, in units of the hopping per unit distortion.
        """
        ...


@runtime_checkable
class ConservativeForceField(ForceField, Protocol):
    """A force field with a potential energy: ``forces(Q) == -grad energy(Q)``."""

    def energy(self, Q: Tensor) -> Tensor:
        """Return the potential energy, shape ``(...)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions; leading axes are a batch.

        Returns
        -------
        Tensor, shape (...)
            The energy whose negative gradient is ``forces(Q)``.
        """
        ...


__all__ = ["ConservativeForceField", "ForceField", "numerical_forces"]


def numerical_forces(
    energy_fn: Callable[[Tensor], Tensor], Q: Tensor, step: float = 1e-5
) -> Tensor:
    r"""Return :math:`-\partial E/\partial Q_i` by fourth-order central differences, batched.

    ``energy_fn`` must map a batch ``(B, Lx, Ly)`` to energies ``(B,)``.

    Parameters
    ----------
    energy_fn : callable
        ``energy_fn(Q)`` with ``Q`` of shape ``(B, Lx, Ly)`` returns a tensor ``(B,)``; it is
        called once with all ``B = 4N`` displaced configurations.
    Q : Tensor, shape (Lx, Ly)
        One configuration (no batch axes; ``ValueError`` otherwise); converted to float64.
    step : float
        Finite-difference step (> 0).

    Returns
    -------
    Tensor, shape (Lx, Ly), float64
        On ``Q``'s device; error :math:`O(\mathrm{step}^4)` plus round-off.
    """
    q = as_tensor("Q", Q)
    if q.ndim != 2:
        raise ValueError(
            f"Q must be a single configuration of shape (Lx, Ly), got {tuple(q.shape)}"
        )
    h = check_positive("step", step)
    n = q.numel()
    eye = torch.eye(n, dtype=q.dtype, device=q.device).reshape(n, *q.shape)
    shifts = torch.tensor([2.0, 1.0, -1.0, -2.0], dtype=q.dtype, device=q.device) * h
    batch = q + shifts[:, None, None, None] * eye  # (4, N, Lx, Ly)
    e = energy_fn(batch.reshape(4 * n, *q.shape)).reshape(4, n)
    grad = (-e[0] + 8 * e[1] - 8 * e[2] + e[3]) / (12 * h)
    return -grad.reshape(q.shape)
