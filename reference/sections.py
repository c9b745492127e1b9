"""Settings sections that experiment files share: the Holstein physics and the thermal quench.

The exact-only quench (:mod:`reference.programs.quench`), the quench workflow
(:mod:`fast.runs.quench`) and its training data (:mod:`fast.ml.datasets`) read the same
``[physics]`` and ``[langevin]`` sections, so one physics is written one way everywhere and
held by one class. Defaults are paper 003's (and its authors' script's).
"""

from __future__ import annotations

import math

import attrs

from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.runio import positive

__all__ = ["Langevin", "Physics"]


@attrs.frozen(kw_only=True)
class Physics:
    """``[physics]``: the Holstein model and its electrons (defaults: paper 003 at half filling).

    Give ``mu`` to hold the electrons at a fixed chemical potential instead of a fixed
    filling (``mu = 0`` is half filling on average for the ``n-1/2`` coupling, by
    particle-hole symmetry). Fixed-filling labels depend on the whole lattice through the
    chemical potential, a non-locality no local model can learn (specs/equations/training.md).
    ``temperature`` is that of the electrons and of the Langevin bath.
    """

    hopping: float = 1.0
    g: float = 3.5
    k: float = 1.0
    kappa: float = 0.18
    mass: float = 5.0
    coupling: str = "n-1/2"
    filling: float = 0.5
    mu: float | None = None
    temperature: float = attrs.field(default=0.1, validator=positive)

    def __attrs_post_init__(self) -> None:
        self.model(4)

    @property
    def omega(self) -> float:
        """``sqrt(k/m)``, the phonon frequency: paper 003's inverse time unit."""
        return math.sqrt(self.k / self.mass)

    def params(self) -> HolsteinParams:
        """The Hamiltonian parameters."""
        return HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling)

    def model(self, size: int) -> HolsteinModel:
        """The model on a periodic ``size x size`` lattice."""
        return HolsteinModel(SquareLattice(size, size), self.params(), self.ensemble())

    def ensemble(self) -> ElectronEnsemble:
        """Fixed ``filling``, or the fixed chemical potential ``mu`` when it is given."""
        if self.mu is not None:
            return ElectronEnsemble(self.temperature, filling=None, mu=self.mu)
        return ElectronEnsemble(self.temperature, filling=self.filling)


@attrs.frozen(kw_only=True)
class Langevin:
    """``[langevin]``: the thermal quench (paper 003, eqs. 2-3).

    ``omega_tau = omega gamma / k`` and ``dt_omega = omega dt`` with ``omega = sqrt(k/m)``
    (paper 003: 0.09 and 0.022). ``integrator`` is ``"baoab"`` or ``"vv_ou"`` (velocity
    Verlet plus an exact Ornstein-Uhlenbeck update, the authors' script). The initial state
    is a hot start at ``initial_temperature``: ``Q ~ N(0, T0/kappa)``, ``P ~ N(0, T0 m)``.
    """

    omega_tau: float = attrs.field(default=0.09, validator=positive)
    dt_omega: float = attrs.field(default=0.022, validator=positive)
    integrator: str = "baoab"
    initial_temperature: float = attrs.field(default=5.0, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.integrator not in ("baoab", "vv_ou"):
            raise ValueError(f"integrator must be 'baoab' or 'vv_ou', got {self.integrator!r}")

    def dt(self, physics: Physics) -> float:
        """The time step ``dt_omega / omega``."""
        return self.dt_omega / physics.omega

    def gamma(self, physics: Physics) -> float:
        """The friction ``omega_tau k / omega`` (``omega tau = omega_tau``, ``tau = gamma/k``)."""
        return self.omega_tau * physics.k / physics.omega
