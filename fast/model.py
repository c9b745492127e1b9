"""The Holstein model on tensors: h(Q) in batches, elastic energy and force, the laser field.

Twin of :mod:`reference.model`. Parameter classes are the reference's frozen
descriptions; functions of fields run on tensors ``(..., Lx, Ly)`` on any device.
"""

from __future__ import annotations

import functools

import torch

from fast._tensor import Tensor, as_tensor, delegate, device_of
from fast.lattice import _field, neighbour_sum
from reference import model as _ref
from reference.lattice import SquareLattice
from reference.model import (
    PULSE_QUANTITIES,
    Coupling,
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)

__all__ = [
    "PULSE_QUANTITIES",
    "Coupling",
    "ElasticForceField",
    "Electrodes",
    "ElectronEnsemble",
    "HolsteinModel",
    "HolsteinParams",
    "LaserPulse",
    "band_energies",
    "coupling_constant_energy",
    "elastic_energy",
    "elastic_force",
    "electric_field",
    "hamiltonian",
    "hopping_matrix",
    "kinetic_energy",
    "peierls_hamiltonian",
    "peierls_hopping_matrix",
    "vector_potential",
]

band_energies = delegate(_ref.band_energies)
vector_potential = delegate(_ref.vector_potential)
peierls_hopping_matrix = delegate(_ref.peierls_hopping_matrix)


@functools.lru_cache(maxsize=64)
def _hopping_cpu(lattice: SquareLattice, hopping: float) -> Tensor:
    return torch.as_tensor(_ref.hopping_matrix(lattice, hopping))


def hopping_matrix(lattice: SquareLattice, hopping: float) -> Tensor:
    r"""Return the hopping matrix :math:`-t_{nn}\sum_{\langle ij\rangle}(c_i^\dagger c_j + h.c.)`,
    (N, N) float64.

    Parameters
    ----------
    lattice : SquareLattice
        Sizes and boundary conditions; sites ordered ``i = x * Ly + y``.
    hopping : float
        Nearest-neighbour hopping :math:`t_{nn}` (the energy unit).

    Returns
    -------
    Tensor, shape (N, N), float64
        Real symmetric, on the CPU (a fresh copy of a cached table).
    """
    return _hopping_cpu(lattice, float(hopping)).clone()


def hamiltonian(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`h_{ij}(Q) = -t_{ij} - gQ_i\delta_{ij}` for a batch, shape ``(..., N, N)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    model : HolsteinModel
        Lattice and parameters.

    Returns
    -------
    Tensor, shape (..., N, N)
        Real symmetric, site order ``i = x * Ly + y``; float64 (float32 ``Q`` is promoted),
        on ``Q``'s device.
    """
    q = _field("Q", Q, model.lattice)
    n = model.lattice.n_sites
    h0 = _hopping_cpu(model.lattice, model.params.hopping).to(q.device)
    flat = q.reshape(*q.shape[:-2], n)
    return h0 + torch.diag_embed(-model.params.g * flat)


def coupling_constant_energy(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`g c \sum_i Q_i`, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    model : HolsteinModel
        Lattice and parameters.

    Returns
    -------
    Tensor, shape (...)
        Zero for the ``n`` coupling, :math:`(g/2)\sum_i Q_i` for ``n - 1/2``.
    """
    q = _field("Q", Q, model.lattice)
    return model.params.g * model.params.coupling.offset * q.sum(dim=(-2, -1))


def elastic_energy(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`\frac{k}{2}\sum_i Q_i^2 + \kappa\sum_{\langle ij\rangle} Q_iQ_j`, shape
    ``(...)``.

    The bond sum is half of :math:`\sum_i Q_i \sum_j' Q_j` (every bond counted from both ends).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    model : HolsteinModel
        Lattice and parameters.

    Returns
    -------
    Tensor, shape (...)
    """
    q = _field("Q", Q, model.lattice)
    p = model.params
    bond = 0.5 * (q * neighbour_sum(q, model.lattice)).sum(dim=(-2, -1))
    return 0.5 * p.k * (q * q).sum(dim=(-2, -1)) + p.kappa * bond


def elastic_force(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`-kQ_i - \kappa\sum_j' Q_j`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    model : HolsteinModel
        Lattice and parameters.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    q = _field("Q", Q, model.lattice)
    return -model.params.k * q - model.params.kappa * neighbour_sum(q, model.lattice)


def kinetic_energy(P: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`\sum_i P_i^2/2m`, shape ``(...)``.

    Parameters
    ----------
    P : Tensor, shape (..., Lx, Ly)
        Lattice momenta.
    model : HolsteinModel
        Supplies the lattice and the mass.

    Returns
    -------
    Tensor, shape (...)
    """
    p = _field("P", P, model.lattice)
    return (p * p).sum(dim=(-2, -1)) / (2 * model.params.mass)


def electric_field(t: Tensor | float, pulse: LaserPulse) -> Tensor:
    r"""Return :math:`\mathbf{E}(t)` of paper 000 eq. 10, shape ``(..., 2)``; when eq. 10 is the
    vector potential (``pulse.quantity == "potential"``), :math:`-\dot{\mathbf{A}}`.

    Parameters
    ----------
    t : Tensor or float, shape (...)
        Times, in the experiment's time unit.
    pulse : LaserPulse
        Amplitude, frequency, width, centre, polarisation and what eq. 10 gives.

    Returns
    -------
    Tensor, shape (..., 2), float64
        :math:`(E_x, E_y)` on ``t``'s device (CPU for a float).
    """
    tt = as_tensor("t", t, device=device_of(t))
    envelope = torch.exp(-((tt - pulse.centre) ** 2) / (2 * pulse.width**2))
    if pulse.quantity == "field":
        scalar = pulse.amplitude * envelope * torch.sin(pulse.frequency * tt)
    else:  # eq. 10 is A(t): E = -dA/dt
        scalar = (
            -pulse.amplitude
            * envelope
            * (
                pulse.frequency * torch.cos(pulse.frequency * tt)
                - (tt - pulse.centre) / pulse.width**2 * torch.sin(pulse.frequency * tt)
            )
        )
    return scalar[..., None] * torch.as_tensor(pulse.polarisation, dtype=tt.dtype, device=tt.device)


def peierls_hamiltonian(Q: Tensor, model: HolsteinModel, A: Tensor) -> Tensor:
    r"""Return :math:`h(Q, \mathbf{A})` with Peierls phases, (N, N) complex128.

    Parameters
    ----------
    Q : Tensor, shape (Lx, Ly)
        One configuration (no batch axes; ``ValueError`` otherwise).
    model : HolsteinModel
        Lattice and parameters.
    A : Tensor, shape (2,)
        Vector potential :math:`(A_x, A_y)`.

    Returns
    -------
    Tensor, shape (N, N), complex128
        Hermitian, on ``Q``'s device.
    """
    q = _field("Q", Q, model.lattice)
    if q.ndim != 2:
        raise ValueError(
            f"Q must be one configuration of shape {model.lattice.shape}, got {tuple(q.shape)}"
        )
    a = as_tensor("A", A).cpu().numpy()
    h = torch.as_tensor(
        _ref.peierls_hopping_matrix(model.lattice, model.params.hopping, a), device=q.device
    )
    return h - model.params.g * torch.diag(q.reshape(-1)).to(h.dtype)


class ElasticForceField:
    """The harmonic lattice alone as a conservative force provider on tensors."""

    def __init__(self, model: HolsteinModel) -> None:
        self.model = model

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: Tensor) -> Tensor:
        """The elastic force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
            :func:`elastic_force`.
        """
        return elastic_force(Q, self.model)

    def energy(self, Q: Tensor) -> Tensor:
        """The elastic energy, shape ``(...)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (...)
            :func:`elastic_energy`.
        """
        return elastic_energy(Q, self.model)
