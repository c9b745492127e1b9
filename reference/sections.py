"""Settings sections that experiment files share: one physics, the thermal quench, the
electrodes and the laser pulse.

Every experiment file, of the workflows (:mod:`fast.runs`) and of the exact-only programs
(:mod:`reference.programs`), describes the Holstein model in one ``[physics]`` section with
the same keys and meanings: ``hopping``, ``g``, ``k``, ``kappa``, ``mass``, ``coupling``,
``filling``, ``mu`` and ``temperature`` (:class:`Physics`). Only the defaults depend on the
paper a kind reproduces: :class:`Physics` holds paper 003's (the quench),
:class:`VoltagePhysics` paper 001's and :class:`LaserPhysics` paper 000's; the subclasses
change defaults and add the checks their dynamics need, never a key. The lattice size is not
physics: it belongs to the section of the runs that use it (``[simulate] size``,
``[brownian] Lx``, ``[ehrenfest] size``, ...). ``[electrodes]`` (paper 001) and ``[pulse]``
(paper 000) are read by the workflow and the exact program of their kind alike.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from reference.lattice import SquareLattice
from reference.model import (
    PULSE_QUANTITIES,
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)
from reference.runio import finite, float_pair, non_negative, positive

__all__ = [
    "ElectrodeSettings",
    "Langevin",
    "LaserPhysics",
    "Physics",
    "PulseSettings",
    "VoltagePhysics",
]


@attrs.frozen(kw_only=True)
class Physics:
    """``[physics]``: the Holstein model and its electrons (defaults: paper 003 at half filling).

    Parameters
    ----------
    hopping, g, k, kappa, mass : float
        Hamiltonian (:class:`reference.model.HolsteinParams`): nearest-neighbour hopping
        ``t``, electron-lattice coupling, on-site stiffness, neighbour stiffness, mass.
    coupling : {"n-1/2", "n"}
        ``-g (n_i - 1/2) Q_i`` or ``-g n_i Q_i``.
    filling, mu : float
        The electrons at a fixed ``filling``, or at the fixed chemical potential ``mu`` when
        it is given (``mu = 0`` is half filling on average for the ``n-1/2`` coupling, by
        particle-hole symmetry). Fixed-filling labels depend on the whole lattice through the
        chemical potential, a non-locality no local model can learn
        (specs/equations/training.md).
    temperature : float
        That of the electrons, and of whatever bath the kind couples to the lattice
        (Langevin, Brownian, the leads); 0 is the electronic ground state.
    """

    hopping: float = 1.0
    g: float = 3.5
    k: float = attrs.field(default=1.0, validator=positive)
    kappa: float = 0.18
    mass: float = attrs.field(default=5.0, validator=positive)
    coupling: str = "n-1/2"
    filling: float = 0.5
    mu: float | None = None
    temperature: float = attrs.field(default=0.1, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.filling < 1.0:  # checked even when mu replaces it
            raise ValueError(f"filling must lie in (0, 1), got {self.filling!r}")
        self.model(4)

    @property
    def omega(self) -> float:
        """``sqrt(k/m)``, the bare phonon frequency (paper 003's inverse time unit)."""
        return math.sqrt(self.k / self.mass)

    @property
    def tau0(self) -> float:
        r""":math:`\tau_0 = \sqrt{m/k} = 1/\Omega`, the bare phonon period over :math:`2\pi`."""
        return math.sqrt(self.mass / self.k)

    @property
    def q0(self) -> float:
        """The uniform distortion :math:`Q_0 = g(\\bar n - c)/(k + 4\\kappa)` at ``filling``."""
        return self.g * (self.filling - self.params().coupling.offset) / (self.k + 4 * self.kappa)

    def params(self) -> HolsteinParams:
        """The Hamiltonian parameters.

        Returns
        -------
        HolsteinParams
            ``hopping``, ``g``, ``k``, ``kappa``, ``mass`` and ``coupling`` of this section.
        """
        return HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling)

    def ensemble(self) -> ElectronEnsemble:
        """Fixed ``filling``, or the fixed chemical potential ``mu`` when it is given.

        Returns
        -------
        ElectronEnsemble
            At this section's ``temperature``.
        """
        if self.mu is not None:
            return ElectronEnsemble(self.temperature, filling=None, mu=self.mu)
        return ElectronEnsemble(self.temperature, filling=self.filling)

    def model(self, lattice: SquareLattice | int) -> HolsteinModel:
        """The model on ``lattice``, or on the periodic ``lattice x lattice`` square.

        Parameters
        ----------
        lattice : SquareLattice or int
            The lattice, or the side ``L >= 2`` of a periodic ``L x L`` lattice.

        Returns
        -------
        HolsteinModel
            The lattice with :meth:`params` and :meth:`ensemble`.
        """
        if not isinstance(lattice, SquareLattice):
            lattice = SquareLattice(lattice, lattice)
        return HolsteinModel(lattice, self.params(), self.ensemble())

    def _no_mu(self, why: str) -> None:
        if self.mu is not None:
            raise ValueError(f"physics.mu is not used here ({why}); leave it out, use filling")


@attrs.frozen(kw_only=True)
class VoltagePhysics(Physics):
    r"""``[physics]`` with paper 001's defaults (sec. IV and App. A).

    ``g = sqrt(lambda W k)`` with :math:`\lambda = 0.28`, ``W = 8``, ``k = 1``;
    :math:`\kappa/k = 0.18`; ``k_B T = 0.1``; the coupling ``n-1/2`` centres the CDW gap at
    :math:`\epsilon_F = 0`, as the paper's setup requires. ``temperature`` is that of every
    reservoir, of the Brownian noise and of the initial CDW (half filling). The overdamped
    dynamics does not use ``mass`` (default 1). The leads fix the electrons' chemical
    potentials, so ``mu`` is not allowed.
    """

    g: float = math.sqrt(0.28 * 8.0)
    mass: float = attrs.field(default=1.0, validator=positive)

    def __attrs_post_init__(self) -> None:
        self._no_mu("the leads set the chemical potentials")
        super().__attrs_post_init__()


@attrs.frozen(kw_only=True)
class LaserPhysics(Physics):
    r"""``[physics]`` with paper 000's defaults (sec. II).

    ``g = sqrt(lambda W k)`` with :math:`\lambda = 0.375`, ``W = 8``, ``k = 1``, no
    :math:`\kappa`, coupling ``-g n_i Q_i``, hopping ``-1`` (a gauge choice on the bipartite
    lattice). Paper 000's "r = 0.2" we read as :math:`\Omega = \sqrt{k/m} = 0.2` (the phonons
    five times slower than the electrons): ``m = 25``, :math:`\tau_0 = 5`. The electrons
    start in the ground state (``temperature = 0``) at half filling; the Ehrenfest dynamics
    conserves their number, so ``mu`` is not allowed.
    """

    hopping: float = -1.0
    g: float = math.sqrt(3.0)
    kappa: float = 0.0
    mass: float = attrs.field(default=25.0, validator=positive)
    coupling: str = "n"
    temperature: float = attrs.field(default=0.0, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        self._no_mu("the Ehrenfest dynamics conserves the number of electrons")
        super().__attrs_post_init__()


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
        """The time step ``dt_omega / omega``.

        Parameters
        ----------
        physics : Physics
            The ``[physics]`` section; its ``k`` and ``mass`` set ``omega = sqrt(k/m)``.

        Returns
        -------
        float
            The time step in the model's units (those of ``sqrt(m/k)``).
        """
        return self.dt_omega / physics.omega

    def gamma(self, physics: Physics) -> float:
        """The friction ``omega_tau k / omega`` (``omega tau = omega_tau``, ``tau = gamma/k``).

        Parameters
        ----------
        physics : Physics
            The ``[physics]`` section; its ``k`` and ``mass`` set ``omega = sqrt(k/m)``.

        Returns
        -------
        float
            The friction coefficient ``gamma`` of :func:`reference.dynamics.langevin_baoab`.
        """
        return self.omega_tau * physics.k / physics.omega


@attrs.frozen(kw_only=True)
class ElectrodeSettings:
    r"""``[electrodes]``: leads on the first and last column and a weak bath on every site
    (paper 001, sec. II and App. A: :math:`\Gamma_{\rm lead} = 1`,
    :math:`\Gamma_{\rm bath} = 0.001`, :math:`\mu_R = \epsilon_F = 0`, :math:`\mu_L = -V`).
    The paper does not state ``V``; ``V = 3`` is our choice. The reservoirs' temperature is
    ``[physics] temperature``."""

    gamma_lead: float = attrs.field(default=1.0, validator=positive)
    gamma_bath: float = attrs.field(default=0.001, validator=positive)
    voltage: float = attrs.field(default=3.0, validator=finite)

    def electrodes(self, physics: Physics) -> Electrodes:
        """The :class:`reference.model.Electrodes` at the physics' temperature.

        Parameters
        ----------
        physics : Physics
            The ``[physics]`` section; its ``temperature`` is that of every reservoir.

        Returns
        -------
        Electrodes
            The lead and bath broadenings, the voltage and the temperature.
        """
        return Electrodes(self.gamma_lead, self.gamma_bath, self.voltage, physics.temperature)


@attrs.frozen(kw_only=True)
class PulseSettings:
    """``[pulse]``: eq. 10 of paper 000 (amplitude 0.6, frequency 1.5, width ``tau0/10``,
    polarisation (1, 1)); ``centre`` is our choice (six widths after t = 0). ``quantity``:
    ``"field"`` reads eq. 10 as E(t), as written; ``"potential"`` as A(t), E = -dA/dt."""

    amplitude: float = attrs.field(default=0.6, validator=finite)
    frequency: float = attrs.field(default=1.5, validator=positive)
    width: float = attrs.field(default=0.5, validator=positive)
    centre: float = attrs.field(default=3.0, validator=finite)
    polarisation: tuple[float, float] = attrs.field(default=(1.0, 1.0), converter=float_pair)
    quantity: str = attrs.field(default="field")

    @quantity.validator
    def _check_quantity(self, _: Any, value: str) -> None:
        if value not in PULSE_QUANTITIES:
            raise ValueError(f"quantity must be one of {PULSE_QUANTITIES}, got {value!r}")

    @polarisation.validator
    def _check_polarisation(self, _: Any, value: tuple[float, float]) -> None:
        if not all(math.isfinite(c) for c in value) or math.hypot(*value) == 0.0:
            raise ValueError(f"polarisation must be a finite nonzero vector, got {value!r}")

    def pulse(self) -> LaserPulse:
        """The :class:`reference.model.LaserPulse`.

        Returns
        -------
        LaserPulse
            The pulse with this section's amplitude, frequency, width, centre, polarisation
            and quantity.
        """
        return LaserPulse(self.amplitude, self.frequency, self.width, self.centre,
                          self.polarisation, self.quantity)  # fmt: skip
