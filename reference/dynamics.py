r"""Lattice dynamics: inertial Langevin, overdamped Brownian, NVE velocity Verlet and TDGL.

The semiclassical lattice obeys (paper 003, eqs. 2-3; paper 002, eq. 6;
paper 004, eq. 15)

.. math::

    m \ddot Q_i = F_i(Q) - \gamma \dot Q_i + \eta_i(t), \qquad
    \langle \eta_i(t) \eta_j(t') \rangle = 2 \gamma k_B T \delta_{ij} \delta(t - t'),

where ``F = -dE/dQ`` comes from any :class:`~reference.forcefield.ForceField`.

Conventions (recorded in ``specs/equations/dynamics.md``)
---------------------------------------------------------
* ``gamma`` is the friction *coefficient* (force per velocity), as in paper
  003's eq. (2), and the noise strength ``2 gamma T`` follows from the
  fluctuation-dissipation theorem. Paper 002 writes ``2 m gamma T`` with the
  same ``-gamma dQ/dt`` term, which is consistent only if ``gamma`` is a rate;
  a rate ``Gamma`` corresponds to ``gamma = m * Gamma`` here.
* Every integrator is a pair ``(init, step)`` over an immutable
  :class:`DynamicsState`. ``step(state, noise=None)`` draws standard normal
  noise from ``state.rng`` unless ``noise`` (shape of ``Q``) is given, so two
  backends can be driven by identical noise.
* The inertial schemes are split into named sub-steps: B (kick by the force),
  A (drift), O (exact Ornstein-Uhlenbeck update of the momenta):
  :func:`langevin_baoab` (Leimkuhler & Matthews, Appl. Math. Res. Express 2013)
  and :func:`langevin_vv_ou`, the authors' "velocity Verlet then OU" scheme
  (BAB + O).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import attrs
import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from reference.forcefield import ForceField
from reference.lattice import SquareLattice, neighbour_sum
from reference.validation import (
    check_array,
    check_finite_scalar,
    check_non_negative,
    check_positive,
)

__all__ = [
    "BathSchedule",
    "DynamicsState",
    "GinzburgLandauForceField",
    "Integrator",
    "Trajectory",
    "a_step",
    "b_step",
    "brownian",
    "damping",
    "forces_at",
    "kinetic_temperature",
    "kinetic_temperature_since",
    "langevin_baoab",
    "langevin_time_dependent_bath",
    "langevin_vv_ou",
    "o_step",
    "pin_sites",
    "simulate",
    "tdgl",
    "velocity_verlet",
]

Array = NDArray[np.float64]


@attrs.frozen
class DynamicsState:
    """The state of a lattice integrator.

    Attributes
    ----------
    Q : (..., Lx, Ly) float64
        Distortions.
    P : (..., Lx, Ly) float64
        Momenta (zeros for overdamped dynamics).
    forces : (..., Lx, Ly) float64
        ``F(Q)``, cached so every step evaluates the force field once.
    t : float
        Time.
    rng : numpy.random.Generator
        Source of the noise when none is passed to ``step``.
    """

    Q: Array = attrs.field(eq=False)
    P: Array = attrs.field(eq=False)
    forces: Array = attrs.field(eq=False)
    t: float
    rng: np.random.Generator = attrs.field(eq=False)


class Integrator(NamedTuple):
    """An integrator as the pair of functions ``init`` and ``step``."""

    init: Callable[..., DynamicsState]
    step: Callable[..., DynamicsState]


def b_step(P: Array, forces: Array, dt: float) -> Array:
    r"""Return the kicked momenta :math:`P + \Delta t\, F` (sub-step B).

    Parameters
    ----------
    P : (..., Lx, Ly) float64
        Momenta.
    forces : (..., Lx, Ly) float64
        Forces ``F`` at the current distortions.
    dt : float
        Length of the kick (a fraction of the time step; not validated).

    Returns
    -------
    (..., Lx, Ly) float64
        The kicked momenta.
    """
    return P + dt * forces


def a_step(Q: Array, P: Array, mass: float, dt: float) -> Array:
    r"""Return the drifted distortions :math:`Q + \Delta t\, P / m` (sub-step A).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Distortions.
    P : (..., Lx, Ly) float64
        Momenta.
    mass : float
        Mass ``m`` of every lattice mode (> 0; not validated here).
    dt : float
        Length of the drift (a fraction of the time step; not validated).

    Returns
    -------
    (..., Lx, Ly) float64
        The drifted distortions.
    """
    return Q + dt * P / mass


def o_step(
    P: Array, mass: float, gamma: float, temperature: float, dt: float, noise: Array
) -> Array:
    r"""Return the momenta after an exact Ornstein-Uhlenbeck update over ``dt`` (sub-step O).

    Solves :math:`dP = -(\gamma/m) P\, dt + \sqrt{2\gamma T}\, dW` exactly:

    .. math:: P' = a P + \sqrt{(1 - a^2)\, m T}\; \xi, \qquad a = e^{-\gamma \Delta t / m},

    with :math:`\xi` standard normal (``noise``). It leaves the Maxwell
    distribution :math:`P \sim N(0, m T)` invariant for any ``dt``.

    Parameters
    ----------
    P : (..., Lx, Ly) float64
        Momenta.
    mass : float
        Mass ``m`` (> 0; not validated here).
    gamma : float
        Friction coefficient :math:`\gamma` (>= 0; not validated here).
    temperature : float
        Bath temperature ``k_B T`` (>= 0; not validated here).
    dt : float
        Length of the update.
    noise : (..., Lx, Ly) float64
        Standard normal :math:`\xi`, the shape of ``P``.

    Returns
    -------
    (..., Lx, Ly) float64
        The updated momenta.
    """
    a = math.exp(-gamma * dt / mass)
    return a * P + math.sqrt((1.0 - a * a) * mass * temperature) * noise


def _check_common(mass: float | None, dt: float, temperature: float | None) -> None:
    if mass is not None:
        check_positive("mass", mass)
    check_positive("dt", dt)
    if temperature is not None:
        check_non_negative("temperature", temperature)


def _initial_state(
    force_field: ForceField,
    Q: Array,
    P: Array | None,
    rng: np.random.Generator | int | None,
    t0: float,
) -> DynamicsState:
    lat = force_field.lattice
    q = lat.check_field("Q", Q).copy()
    p = np.zeros_like(q) if P is None else lat.check_field("P", P).copy()
    if p.shape != q.shape:
        raise ValueError(f"P must have the shape of Q {q.shape}, got {p.shape}")
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    t = check_finite_scalar("t0", t0)
    return DynamicsState(q, p, forces_at(force_field, q, t), t, generator)


def forces_at(force_field: ForceField, Q: Array, t: float) -> Array:
    """Return the forces of ``force_field`` at ``Q`` and time ``t``.

    A time-conditioned force field (one with a ``time`` attribute that is set, such as the
    GNN of paper 000 in :class:`reference.nn.NetworkForceField`) is evaluated at ``t`` via
    its ``at_time``; any other force field ignores ``t``. Every integrator evaluates its
    forces through this function, at the time of the new state.

    Parameters
    ----------
    force_field : ForceField
        Any force field; a time-conditioned one is moved to ``t`` first.
    Q : (..., Lx, Ly) float64
        Distortions on ``force_field.lattice``.
    t : float
        Time of the configuration.

    Returns
    -------
    (..., Lx, Ly) float64
        The forces at ``Q`` (and ``t``).
    """
    if getattr(force_field, "time", None) is not None:
        force_field = force_field.at_time(t)  # type: ignore[attr-defined]
    return force_field.forces(Q)


def _noise(state: DynamicsState, noise: Array | None) -> Array:
    if noise is None:
        return state.rng.standard_normal(state.Q.shape)
    xi = np.asarray(noise, dtype=np.float64)
    if xi.shape != state.Q.shape:
        raise ValueError(f"noise must have the shape of Q {state.Q.shape}, got {xi.shape}")
    if not np.all(np.isfinite(xi)):
        raise ValueError("noise must contain only finite values")
    return xi


def _make_init(force_field: ForceField) -> Callable[..., DynamicsState]:
    def init(
        Q: Array,
        P: Array | None = None,
        *,
        rng: np.random.Generator | int | None = None,
        t0: float = 0.0,
    ) -> DynamicsState:
        """Return the initial state; ``P`` defaults to zero, ``rng`` to a fresh generator."""
        return _initial_state(force_field, Q, P, rng, t0)

    return init


def langevin_baoab(
    force_field: ForceField, *, mass: float, gamma: float, temperature: float, dt: float
) -> Integrator:
    r"""Return ``(init, step)`` for inertial Langevin dynamics with the BAOAB splitting.

    Integrates :math:`m \ddot Q = F - \gamma \dot Q + \eta` (paper 003, eqs. 2-3;
    paper 002, eq. 6; paper 004, eq. 15) as B(dt/2) A(dt/2) O(dt) A(dt/2) B(dt/2)
    with one force evaluation per step. For a harmonic force the stationary
    distribution of ``Q`` is exactly Boltzmann at any stable ``dt``.

    Parameters
    ----------
    force_field : ForceField
        Source of the forces ``F(Q)`` (its ``lattice`` fixes the field shape).
    mass : float (> 0)
        Mass ``m`` of every lattice mode.
    gamma : float (>= 0)
        Friction coefficient.
    temperature : float (>= 0)
        Bath temperature ``k_B T``.
    dt : float (> 0)
        Time step.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0)`` builds a :class:`DynamicsState` (``P``
        defaults to zero, ``rng`` is a generator or a seed); ``step(state, noise=None)``
        returns the state one ``dt`` later, drawing ``noise`` (standard normal, the shape
        of ``Q``) from ``state.rng`` when it is not given.
    """
    _check_common(mass, dt, temperature)
    check_non_negative("gamma", gamma)

    def step(state: DynamicsState, noise: Array | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal ``xi`` of the O sub-step."""
        xi = _noise(state, noise)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        q = a_step(q, p, mass, dt / 2)
        f = forces_at(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def langevin_vv_ou(
    force_field: ForceField, *, mass: float, gamma: float, temperature: float, dt: float
) -> Integrator:
    r"""Return ``(init, step)`` for Langevin dynamics as velocity Verlet followed by an OU update.

    The splitting B(dt/2) A(dt) B(dt/2) O(dt) used in the authors' public script
    for paper 002 (``v <- a v + sqrt((1 - a^2) T / m) xi``); same equation of
    motion and parameters as :func:`langevin_baoab`.

    Parameters
    ----------
    force_field : ForceField
        Source of the forces ``F(Q)`` (its ``lattice`` fixes the field shape).
    mass : float (> 0)
        Mass ``m`` of every lattice mode.
    gamma : float (>= 0)
        Friction coefficient.
    temperature : float (>= 0)
        Bath temperature ``k_B T``.
    dt : float (> 0)
        Time step.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0)`` builds a :class:`DynamicsState` (``P``
        defaults to zero, ``rng`` is a generator or a seed); ``step(state, noise=None)``
        returns the state one ``dt`` later, drawing ``noise`` (standard normal, the shape
        of ``Q``) from ``state.rng`` when it is not given.
    """
    _check_common(mass, dt, temperature)
    check_non_negative("gamma", gamma)

    def step(state: DynamicsState, noise: Array | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal ``xi`` of the O sub-step."""
        xi = _noise(state, noise)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt)
        f = forces_at(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


@attrs.frozen
class BathSchedule:
    r"""A damping that relaxes after photoexcitation (paper 000, eq. 31).

    .. math:: \gamma(t) = \gamma_0 + \Delta\gamma\, e^{-(t - t_1)/\tau_\gamma}, \qquad t \ge t_1,

    held at :math:`\gamma_0 + \Delta\gamma` before :math:`t_1` (the recovery stage starts
    at :math:`t_1`). Paper 000: :math:`\gamma_0 = 0.003`, :math:`\Delta\gamma = 0.017`,
    :math:`\tau_\gamma = 25\tau_0`, :math:`t_1 = 80\tau_0`.

    Parameters
    ----------
    gamma0 : float
        Background friction coefficient (>= 0).
    delta_gamma : float
        Pump-induced excess (>= 0).
    t1 : float
        Start of the decay.
    tau : float
        Decay time (> 0).
    """

    gamma0: float = attrs.field(converter=float)
    delta_gamma: float = attrs.field(default=0.0, converter=float)
    t1: float = attrs.field(default=0.0, converter=float)
    tau: float = attrs.field(default=1.0, converter=float)

    def __attrs_post_init__(self) -> None:
        check_non_negative("gamma0", self.gamma0)
        check_non_negative("delta_gamma", self.delta_gamma)
        check_finite_scalar("t1", self.t1)
        check_positive("tau", self.tau)

    def __call__(self, t: float) -> float:
        """The friction coefficient at time ``t``."""
        return damping(t, self)


def damping(t: float, schedule: BathSchedule) -> float:
    r"""Return the friction coefficient at time ``t`` (paper 000, eq. 31).

    .. math:: \gamma(t) = \gamma_0 + \Delta\gamma\,e^{-\max(t - t_1, 0)/\tau_\gamma}

    Parameters
    ----------
    t : float
        Time (finite), in the unit of ``schedule.t1`` and ``schedule.tau``.
    schedule : BathSchedule
        The parameters :math:`\gamma_0, \Delta\gamma, t_1, \tau_\gamma`.

    Returns
    -------
    float
        :math:`\gamma(t)`, >= 0.
    """
    elapsed = max(check_finite_scalar("t", t) - schedule.t1, 0.0)
    return schedule.gamma0 + schedule.delta_gamma * math.exp(-elapsed / schedule.tau)


def langevin_time_dependent_bath(
    force_field: ForceField,
    *,
    mass: float,
    schedule: BathSchedule,
    temperature: float,
    dt: float,
) -> Integrator:
    r"""Return ``(init, step)`` for Langevin dynamics in a time-dependent bath.

    Paper 000, eqs. 27-29:

    .. math:: m\ddot Q_i = F_i(Q) - \gamma(t)\dot Q_i + \eta_i(t), \qquad
              \langle \eta_i(t)\eta_j(t')\rangle = 2\gamma(t)\, T\,\delta_{ij}\delta(t - t')

    (paper 000 writes the bath term as :math:`g\chi_i`; eq. 27's force is the adiabatic
    one, here any :class:`~reference.forcefield.ForceField`). BAOAB with the O sub-step
    taken at :math:`\gamma(t + \Delta t/2)`: every O sub-step leaves the Maxwell
    distribution at ``T`` invariant, so the kinetic temperature relaxes to ``T``
    (eq. 30) whatever the schedule, and the configurational distribution is exact for
    a harmonic force once :math:`\gamma` is constant.

    Parameters
    ----------
    force_field : ForceField
        Source of the forces ``F(Q)`` (its ``lattice`` fixes the field shape).
    mass : float (> 0)
        Mass ``m`` of every lattice mode.
    schedule : BathSchedule
        The friction coefficient :math:`\gamma(t)` (anything else raises ``ValueError``).
    temperature : float (>= 0)
        Bath temperature, fixed (eq. 30 defines it from the late-time velocities).
    dt : float (> 0)
        Time step.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0)`` builds a :class:`DynamicsState` (``P``
        defaults to zero, ``rng`` is a generator or a seed); ``step(state, noise=None)``
        returns the state one ``dt`` later, drawing ``noise`` (standard normal, the shape
        of ``Q``) from ``state.rng`` when it is not given.
    """
    _check_common(mass, dt, temperature)
    if not isinstance(schedule, BathSchedule):
        raise ValueError(f"schedule must be a BathSchedule, got {schedule!r}")

    def step(state: DynamicsState, noise: Array | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal ``xi`` of the O sub-step."""
        xi = _noise(state, noise)
        gamma = damping(state.t + dt / 2, schedule)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        q = a_step(q, p, mass, dt / 2)
        f = forces_at(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def velocity_verlet(force_field: ForceField, *, mass: float, dt: float) -> Integrator:
    r"""Return ``(init, step)`` for Hamiltonian (NVE) dynamics :math:`m \ddot Q = F(Q)`.

    Velocity Verlet, B(dt/2) A(dt) B(dt/2): symplectic and time reversible, so
    the energy error stays bounded (no drift) for a stable ``dt``. ``step``
    accepts and ignores ``noise`` so all integrators share one signature.

    Parameters
    ----------
    force_field : ForceField
        Source of the forces ``F(Q)`` (its ``lattice`` fixes the field shape).
    mass : float (> 0)
        Mass ``m`` of every lattice mode.
    dt : float (> 0)
        Time step.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0)`` builds a :class:`DynamicsState`;
        ``step(state, noise=None)`` returns the state one ``dt`` later (``noise`` ignored).
    """
    _check_common(mass, dt, None)

    def step(state: DynamicsState, noise: Array | None = None) -> DynamicsState:
        """Advance one deterministic step."""
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt)
        f = forces_at(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def brownian(
    force_field: ForceField,
    *,
    gamma: float,
    temperature: float,
    dt: float,
    frozen: NDArray[np.bool_] | None = None,
    prescribed: Callable[[float], Array] | None = None,
) -> Integrator:
    r"""Return ``(init, step)`` for overdamped Brownian dynamics (Euler-Maruyama).

    Integrates :math:`\gamma \dot Q_i = F_i + \eta_i` with
    :math:`\langle \eta_i \eta_j \rangle = 2\gamma T \delta_{ij}\delta(t-t')`
    (paper 001, eq. 3, whose :math:`-F_i/\gamma` is a sign slip: the force must push
    downhill):

    .. math:: Q' = Q + \frac{\Delta t}{\gamma} F(Q) + \sqrt{\frac{2 T \Delta t}{\gamma}}\, \xi .

    For ``F = -k Q`` the discrete stationary variance is
    ``T / (k (1 - k dt / (2 gamma)))``, which the tests check exactly.
    ``P`` stays zero.

    Parameters
    ----------
    force_field : ForceField
        Source of the forces ``F(Q)`` (its ``lattice`` fixes the field shape).
    gamma : float
        Damping coefficient (> 0); paper 001 measures time in units of ``1/gamma``.
    temperature : float
        Bath temperature ``k_B T`` (>= 0).
    dt : float
        Time step (> 0).
    frozen : (Lx, Ly) bool, optional
        Sites the dynamics does not move (paper 001: the columns next to the electrodes).
    prescribed : callable, optional
        ``prescribed(t)`` gives the values, shape ``(..., Lx, Ly)``, that the ``frozen``
        sites take at time ``t`` (paper 001 copies them from the NEGF run); the forces of
        a step are evaluated with them in place. Without it the frozen sites keep their
        values. Needs ``frozen``.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0)`` builds a :class:`DynamicsState`;
        ``step(state, noise=None)`` returns the state one ``dt`` later, drawing ``noise``
        (standard normal, the shape of ``Q``) from ``state.rng`` when it is not given.
    """
    _check_common(None, dt, temperature)
    check_positive("gamma", gamma)
    amplitude = math.sqrt(2.0 * temperature * dt / gamma)
    mask = None
    if frozen is not None:
        mask = np.asarray(frozen)
        if mask.dtype != np.bool_ or mask.shape != force_field.lattice.shape:
            raise ValueError(
                f"frozen must be a boolean array of shape {force_field.lattice.shape}, "
                f"got dtype {mask.dtype} and shape {mask.shape}"
            )
    if prescribed is not None and mask is None:
        raise ValueError("prescribed needs frozen: the mask of the sites it sets")

    def step(state: DynamicsState, noise: Array | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal ``xi``."""
        xi = _noise(state, noise)
        q = state.Q + (dt / gamma) * state.forces + amplitude * xi
        if mask is not None:
            held = state.Q if prescribed is None else np.asarray(prescribed(state.t + dt))
            q = np.where(mask, held, q)
        return DynamicsState(
            q, state.P, forces_at(force_field, q, state.t + dt), state.t + dt, state.rng
        )

    return Integrator(_make_init(force_field), step)


def pin_sites(
    state: DynamicsState,
    mask: NDArray[np.bool_],
    values: Array,
    force_field: ForceField,
) -> DynamicsState:
    """Return ``state`` with the masked sites set to ``values`` and the forces recomputed.

    Paper 001 drives the sites next to the electrodes with the trajectory of a
    reference (exact) run; call this between steps with that run's frame.

    Parameters
    ----------
    state : DynamicsState
        The state to modify (it is not changed in place).
    mask : (Lx, Ly) bool
        True on the sites to pin; must be a boolean array of the lattice's shape.
    values : (..., Lx, Ly) float64
        Values for the masked sites (the other entries are ignored).
    force_field : ForceField
        The force field that recomputes the forces at the pinned configuration.

    Returns
    -------
    DynamicsState
        The state with pinned ``Q``, new ``forces``, and the same ``P``, ``t`` and ``rng``.
    """
    m = np.asarray(mask)
    if m.dtype != np.bool_ or m.shape != force_field.lattice.shape:
        raise ValueError(
            f"mask must be a boolean array of shape {force_field.lattice.shape}, got {m.shape}"
        )
    v = force_field.lattice.check_field("values", values)
    q = np.where(m, v, state.Q)
    return DynamicsState(q, state.P, forces_at(force_field, q, state.t), state.t, state.rng)


@attrs.frozen
class GinzburgLandauForceField:
    r"""The lattice Ginzburg-Landau free energy of model-A (TDGL) dynamics as a force field.

    Paper 002, eq. (5), discretised on the lattice with unit spacing:

    .. math::

        \mathcal{F}[\phi] = \sum_i \Big[ K \sum_{\delta = x, y} (\phi_{i+\delta} - \phi_i)^2
            + A (\phi_i^2 - \phi_0^2)^2 \Big],

    so that :math:`-\partial \mathcal{F}/\partial \phi_i = 2K \nabla^2 \phi_i
    - 4A \phi_i(\phi_i^2 - \phi_0^2)` with the five-point Laplacian
    :math:`\nabla^2 \phi_i = \sum_j' (\phi_j - \phi_i)`.
    """

    lattice: SquareLattice
    K: float = attrs.field(converter=float)
    A: float = attrs.field(converter=float)
    phi0: float = attrs.field(converter=float)

    def __attrs_post_init__(self) -> None:
        check_non_negative("K", self.K)
        check_positive("A", self.A)
        check_finite_scalar("phi0", self.phi0)

    def energy(self, Q: Array) -> Array:
        r"""Return the free energy, shape ``(...)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            The order parameter :math:`\phi` on ``self.lattice`` (finite); leading axes are
            batch axes.

        Returns
        -------
        (...) float64
            :math:`\mathcal{F}[\phi]` of each configuration.
        """
        phi = self.lattice.check_field("phi", Q)
        gradient = 0.0
        for axis, periodic in zip((-2, -1), self.lattice.periodic, strict=True):
            diff = np.roll(phi, -1, axis=axis) - phi
            if not periodic:
                diff = np.delete(diff, -1, axis=axis)  # no bond across an open edge
            gradient = gradient + (diff**2).sum(axis=(-2, -1))
        local = (self.A * (phi**2 - self.phi0**2) ** 2).sum(axis=(-2, -1))
        return np.asarray(self.K * gradient + local)

    def forces(self, Q: Array) -> Array:
        r"""Return ``-dF/dphi``, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            The order parameter :math:`\phi` on ``self.lattice`` (finite); leading axes are
            batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :math:`-\partial \mathcal{F}/\partial \phi_i` at every site.
        """
        phi = self.lattice.check_field("phi", Q)
        n_nb = neighbour_sum(np.ones(self.lattice.shape), self.lattice)
        laplacian = neighbour_sum(phi, self.lattice) - n_nb * phi
        return 2 * self.K * laplacian - 4 * self.A * phi * (phi**2 - self.phi0**2)


def tdgl(
    lattice: SquareLattice,
    *,
    K: float,
    A: float,
    phi0: float,
    Gamma: float,
    temperature: float,
    dt: float,
) -> Integrator:
    r"""Return ``(init, step)`` for model-A (TDGL) dynamics of a scalar order parameter.

    Paper 002, eqs. (4)-(5):
    :math:`\partial_t \phi = -\Gamma\, \delta\mathcal{F}/\delta\phi + \eta`.
    We take :math:`\langle \eta_i \eta_j \rangle = 2 \Gamma T \delta_{ij}\delta(t-t')`
    so that the stationary distribution is :math:`e^{-\mathcal{F}/T}`; the
    equation is then Brownian dynamics (:func:`brownian`) with
    ``gamma = 1 / Gamma`` in the :class:`GinzburgLandauForceField`. ``Q`` of the
    state holds ``phi``.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice of the order parameter.
    K : float
        Gradient stiffness (>= 0).
    A : float
        Strength of the double well (> 0).
    phi0 : float
        Value of the order parameter at the minima :math:`\pm\phi_0` (finite).
    Gamma : float
        Kinetic coefficient :math:`\Gamma` (> 0).
    temperature : float
        Noise temperature ``T`` (>= 0).
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        The :func:`brownian` integrator of the :class:`GinzburgLandauForceField`.
    """
    check_positive("Gamma", Gamma)
    field = GinzburgLandauForceField(lattice, K, A, phi0)
    return brownian(field, gamma=1.0 / Gamma, temperature=temperature, dt=dt)


def kinetic_temperature(P: Array, mass: float) -> NDArray[np.float64]:
    r"""Return the equipartition estimate :math:`T_{\rm kin} = \langle P_i^2 \rangle / m`.

    Averaged over the last two (lattice) axes; paper 000, eq. (30).

    Parameters
    ----------
    P : (..., Lx, Ly) float64
        Momenta; leading axes are batch axes.
    mass : float
        Mass ``m`` of every lattice mode (> 0).

    Returns
    -------
    (...) float64
    """
    p = np.asarray(P, dtype=np.float64)
    check_positive("mass", mass)
    if p.ndim < 2:
        raise ValueError(f"P must have shape (..., Lx, Ly), got {p.shape}")
    return np.asarray((p**2).mean(axis=(-2, -1)) / mass)


_TIME_SLACK = 1e-9
"""Relative allowance for frame times accumulated in floating point (``k dt`` vs ``t_from``)."""


def kinetic_temperature_since(t: Array, P: Array, mass: float, t_from: float) -> float:
    r"""Return the equipartition temperature :math:`T = \langle P_i^2 \rangle / m` over the
    recorded frames with :math:`t \ge t_{\rm from}`.

    .. math::

        T = \frac{1}{N_t}\sum_{t_k \ge t_{\rm from}} T_{\rm kin}(t_k),

    with :math:`T_{\rm kin}` from :func:`kinetic_temperature`, averaged over every
    qualifying frame, ensemble member and site: paper 000, eq. (30), which defines the
    effective bath temperature from the long-time velocity distribution,
    :math:`\langle m \dot Q_i^2 \rangle = T`. A frame qualifies when
    ``t >= t_from - 1e-9 max(1, |t_from|)``, so a frame recorded at a time accumulated
    as ``k dt`` is not lost to round-off.

    Parameters
    ----------
    t : (n_frames,) float64
        Frame times.
    P : (n_frames, ..., Lx, Ly) float64
        Momenta of each frame (e.g. :attr:`Trajectory.P`).
    mass : float
        ``> 0``.
    t_from : float
        Start of the window (inclusive).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If no frame lies in the window.
    """
    times = check_array("t", t)
    momenta = check_array("P", P)
    if times.ndim != 1 or momenta.ndim < 3 or momenta.shape[0] != times.size:
        raise ValueError(
            f"t must have shape (n_frames,) and P shape (n_frames, ..., Lx, Ly) with the same "
            f"n_frames, got t {times.shape} and P {momenta.shape}"
        )
    start = check_finite_scalar("t_from", t_from)
    late = times >= start - _TIME_SLACK * max(1.0, abs(start))
    if not late.any():
        last = f"the last is at t = {float(times.max())!r}" if times.size else "none recorded"
        raise ValueError(f"t_from = {start!r} leaves no frame in the window ({last})")
    check_positive("mass", mass)
    # one mean over frames, members and sites: the mean of the per-frame kinetic_temperature,
    # summed in one pass (the order the laser workflow has always used)
    return float(np.mean(momenta[late] ** 2) / mass)


@attrs.frozen
class Trajectory:
    """Snapshots recorded by :func:`simulate`.

    Attributes
    ----------
    t : (n_frames,) float64
    Q, P, forces : (n_frames, ..., Lx, Ly) float64
    final : DynamicsState
        The state after the last step, to continue the run.
    """

    t: Array = attrs.field(eq=False)
    Q: Array = attrs.field(eq=False)
    P: Array = attrs.field(eq=False)
    forces: Array = attrs.field(eq=False)
    final: DynamicsState = attrs.field(eq=False)


def simulate(
    integrator: Integrator,
    state: DynamicsState,
    n_steps: int,
    *,
    record_every: int = 1,
    progress: bool = False,
    description: str = "dynamics",
) -> Trajectory:
    """Run ``n_steps`` steps from ``state`` and record every ``record_every``-th state.

    The initial state is frame 0; a frame is kept after each step whose number
    is a multiple of ``record_every``.

    Parameters
    ----------
    integrator : Integrator
        The ``(init, step)`` pair; only ``step`` is called (with fresh noise from ``state.rng``).
    state : DynamicsState
        The initial state, e.g. from ``integrator.init``.
    n_steps : int
        Number of steps (an integer >= 0).
    record_every : int
        Record a frame every this many steps (an integer >= 1).
    progress : bool
        Show a tqdm progress bar.
    description : str
        Label of the progress bar.

    Returns
    -------
    Trajectory
        ``1 + n_steps // record_every`` frames and the final state.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int | np.integer) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, int | np.integer):
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    if record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    frames = [state]
    for n in tqdm(range(1, n_steps + 1), desc=description, disable=not progress, unit="step"):
        state = integrator.step(state)
        if n % record_every == 0:
            frames.append(state)
    return Trajectory(
        t=np.array([s.t for s in frames]),
        Q=np.stack([s.Q for s in frames]),
        P=np.stack([s.P for s in frames]),
        forces=np.stack([s.forces for s in frames]),
        final=state,
    )
