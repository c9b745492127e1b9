r"""Lattice integrators on tensors: Langevin (BAOAB, VV+OU, time-dependent bath), Brownian, NVE,
TDGL.

Twin of :mod:`reference.dynamics` with the same ``(init, step)`` pairs, parameter
names and sub-steps. Ensembles are leading batch axes of ``Q``; the noise comes
from a ``torch.Generator`` on the tensors' device, or is passed explicitly so that
both packages can be driven by identical noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import attrs
import numpy as np
import torch
from tqdm.auto import tqdm

from fast._tensor import Tensor, as_tensor, device_of
from fast.forcefield import ForceField
from fast.lattice import _field, neighbour_sum
from reference.dynamics import BathSchedule, damping
from reference.lattice import SquareLattice
from reference.validation import check_finite_scalar, check_non_negative, check_positive

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


@attrs.frozen
class DynamicsState:
    """The state of an integrator: tensors ``Q``, ``P``, ``forces`` ``(..., Lx, Ly)``, time,
    generator.
    """

    Q: Tensor = attrs.field(eq=False)
    P: Tensor = attrs.field(eq=False)
    forces: Tensor = attrs.field(eq=False)
    t: float
    rng: torch.Generator = attrs.field(eq=False)


class Integrator(NamedTuple):
    """An integrator as the pair of functions ``init`` and ``step``."""

    init: Callable[..., DynamicsState]
    step: Callable[..., DynamicsState]


def b_step(P: Tensor, forces: Tensor, dt: float) -> Tensor:
    r"""Return :math:`P + \Delta t\,F` (sub-step B).

    Parameters
    ----------
    P : Tensor, shape (..., Lx, Ly)
        Momenta.
    forces : Tensor, shape (..., Lx, Ly)
        Forces at the current ``Q``.
    dt : float
        Length of the sub-step.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        The kicked momenta.
    """
    return P + dt * forces


def a_step(Q: Tensor, P: Tensor, mass: float, dt: float) -> Tensor:
    r"""Return :math:`Q + \Delta t\,P/m` (sub-step A).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    P : Tensor, shape (..., Lx, Ly)
        Momenta.
    mass : float
        Lattice mass (> 0).
    dt : float
        Length of the sub-step.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        The drifted distortions.
    """
    return Q + dt * P / mass


def o_step(
    P: Tensor, mass: float, gamma: float, temperature: float, dt: float, noise: Tensor
) -> Tensor:
    r"""Return :math:`aP + \sqrt{(1 - a^2)mT}\,\xi` with :math:`a = e^{-\gamma\Delta t/m}` (O).

    Parameters
    ----------
    P : Tensor, shape (..., Lx, Ly)
        Momenta.
    mass : float
        Lattice mass (> 0).
    gamma : float
        Friction coefficient (>= 0; force per velocity).
    temperature : float
        Bath temperature ``k_B T`` (>= 0), in units of the hopping.
    dt : float
        Length of the sub-step.
    noise : Tensor, shape (..., Lx, Ly)
        Standard normal :math:`\xi`.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        The momenta after the exact Ornstein-Uhlenbeck update.
    """
    a = math.exp(-gamma * dt / mass)
    return a * P + math.sqrt((1.0 - a * a) * mass * temperature) * noise


def forces_at(force_field: ForceField, Q: Tensor, t: float) -> Tensor:
    """Forces at ``Q`` and time ``t``; a time-conditioned field (``time`` set) is evaluated
    at ``t`` (twin of :func:`reference.dynamics.forces_at`).

    Parameters
    ----------
    force_field : ForceField
        Any force provider; one whose ``time`` attribute is set is moved to ``t`` with
        ``at_time``.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions.
    t : float
        Time (ignored by force fields without a time channel).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        Whatever ``force_field.forces`` returns.
    """
    if getattr(force_field, "time", None) is not None:
        force_field = force_field.at_time(t)  # type: ignore[attr-defined]
    return force_field.forces(Q)


def _forces(force_field: ForceField, q: Tensor, t: float) -> Tensor:
    """The forces at time ``t`` as a tensor like ``q`` (a NumPy force field works too)."""
    f = forces_at(force_field, q, t)
    if isinstance(f, torch.Tensor) and f.device == q.device and f.dtype == q.dtype:
        return f
    return torch.as_tensor(f, dtype=q.dtype, device=q.device)


def _check_common(mass: float | None, dt: float, temperature: float | None) -> None:
    if mass is not None:
        check_positive("mass", mass)
    check_positive("dt", dt)
    if temperature is not None:
        check_non_negative("temperature", temperature)


def _generator(
    rng: torch.Generator | np.random.Generator | int | None, device: torch.device
) -> torch.Generator:
    """A torch generator on ``device``: given, seeded by an int or from a NumPy generator."""
    if isinstance(rng, torch.Generator):
        return rng
    gen = torch.Generator(device=device)
    if rng is None:
        gen.seed()
    elif isinstance(rng, np.random.Generator):
        gen.manual_seed(int(rng.integers(2**63 - 1)))
    else:
        gen.manual_seed(int(rng))
    return gen


def _make_init(force_field: ForceField) -> Callable[..., DynamicsState]:
    def init(
        Q: Tensor,
        P: Tensor | None = None,
        *,
        rng: torch.Generator | np.random.Generator | int | None = None,
        t0: float = 0.0,
    ) -> DynamicsState:
        """Return the initial state; ``P`` defaults to zero, ``rng`` to a fresh generator."""
        lat = force_field.lattice
        q = _field("Q", Q, lat).clone()
        p = torch.zeros_like(q) if P is None else _field("P", P, lat).to(q.device).clone()
        if p.shape != q.shape:
            raise ValueError(f"P must have the shape of Q {tuple(q.shape)}, got {tuple(p.shape)}")
        forces = _forces(force_field, q, t0)
        return DynamicsState(q, p, forces, check_finite_scalar("t0", t0), _generator(rng, q.device))

    return init


def _noise(state: DynamicsState, noise: Tensor | None) -> Tensor:
    if noise is None:
        return torch.randn(
            state.Q.shape, generator=state.rng, dtype=state.Q.dtype, device=state.Q.device
        )
    xi = as_tensor("noise", noise, device=state.Q.device)
    if xi.shape != state.Q.shape:
        raise ValueError(
            f"noise must have the shape of Q {tuple(state.Q.shape)}, got {tuple(xi.shape)}"
        )
    return xi


def langevin_baoab(
    force_field: ForceField, *, mass: float, gamma: float, temperature: float, dt: float
) -> Integrator:
    r"""Return ``(init, step)`` for inertial Langevin dynamics, BAOAB splitting (twin of the
    reference).

    Parameters
    ----------
    force_field : ForceField
        The force provider; its ``lattice`` fixes the field shape.
    mass : float
        Lattice mass (> 0).
    gamma : float
        Friction coefficient (>= 0).
    temperature : float
        Bath temperature ``k_B T`` (>= 0).
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0) -> DynamicsState``: ``Q`` (and ``P``, zero by
        default) of shape ``(..., Lx, Ly)``; ``rng`` a ``torch.Generator``, a NumPy generator
        or an int seed (a fresh generator on ``Q``'s device when None). ``step(state,
        noise=None) -> DynamicsState``: one step of length ``dt``; ``noise``, shape of ``Q``,
        is the standard normal of the O sub-step (drawn from ``state.rng`` when None).
    """
    _check_common(mass, dt, temperature)
    check_non_negative("gamma", gamma)

    def step(state: DynamicsState, noise: Tensor | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal of the O sub-step."""
        xi = _noise(state, noise)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        q = a_step(q, p, mass, dt / 2)
        f = _forces(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def langevin_vv_ou(
    force_field: ForceField, *, mass: float, gamma: float, temperature: float, dt: float
) -> Integrator:
    r"""Return ``(init, step)`` for velocity Verlet followed by an exact OU update (authors'
    scheme).

    Parameters
    ----------
    force_field : ForceField
        The force provider; its ``lattice`` fixes the field shape.
    mass : float
        Lattice mass (> 0).
    gamma : float
        Friction coefficient (>= 0).
    temperature : float
        Bath temperature ``k_B T`` (>= 0).
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0) -> DynamicsState``: ``Q`` (and ``P``, zero by
        default) of shape ``(..., Lx, Ly)``; ``rng`` a ``torch.Generator``, a NumPy generator
        or an int seed (a fresh generator on ``Q``'s device when None). ``step(state,
        noise=None) -> DynamicsState``: one step of length ``dt``; ``noise``, shape of ``Q``,
        is the standard normal of the O sub-step (drawn from ``state.rng`` when None).
    """
    _check_common(mass, dt, temperature)
    check_non_negative("gamma", gamma)

    def step(state: DynamicsState, noise: Tensor | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal of the O sub-step."""
        xi = _noise(state, noise)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt)
        f = _forces(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def langevin_time_dependent_bath(
    force_field: ForceField,
    *,
    mass: float,
    schedule: BathSchedule,
    temperature: float,
    dt: float,
) -> Integrator:
    r"""Return ``(init, step)`` for Langevin dynamics in a bath with :math:`\gamma(t)` (paper 000,
    eqs. 27-31).

    Parameters
    ----------
    force_field : ForceField
        The force provider; its ``lattice`` fixes the field shape.
    mass : float
        Lattice mass (> 0).
    schedule : BathSchedule
        The damping :math:`\gamma(t)`, taken at mid-step in the O sub-step.
    temperature : float
        Bath temperature ``k_B T`` (>= 0), fixed.
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0) -> DynamicsState``: ``Q`` (and ``P``, zero by
        default) of shape ``(..., Lx, Ly)``; ``rng`` a ``torch.Generator``, a NumPy generator
        or an int seed (a fresh generator on ``Q``'s device when None). ``step(state,
        noise=None) -> DynamicsState``: one step of length ``dt``; ``noise``, shape of ``Q``,
        is the standard normal of the O sub-step (drawn from ``state.rng`` when None).
    """
    _check_common(mass, dt, temperature)
    if not isinstance(schedule, BathSchedule):
        raise ValueError(f"schedule must be a BathSchedule, got {schedule!r}")

    def step(state: DynamicsState, noise: Tensor | None = None) -> DynamicsState:
        """Advance one step; the O sub-step uses the damping at mid-step."""
        xi = _noise(state, noise)
        gamma = damping(state.t + dt / 2, schedule)
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt / 2)
        p = o_step(p, mass, gamma, temperature, dt, xi)
        q = a_step(q, p, mass, dt / 2)
        f = _forces(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def velocity_verlet(force_field: ForceField, *, mass: float, dt: float) -> Integrator:
    r"""Return ``(init, step)`` for NVE dynamics :math:`m\ddot Q = F(Q)` (velocity Verlet).

    Parameters
    ----------
    force_field : ForceField
        The force provider; its ``lattice`` fixes the field shape.
    mass : float
        Lattice mass (> 0).
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0) -> DynamicsState``: ``Q`` (and ``P``, zero by
        default) of shape ``(..., Lx, Ly)``; ``rng`` a ``torch.Generator``, a NumPy generator
        or an int seed (a fresh generator on ``Q``'s device when None). ``step(state,
        noise=None) -> DynamicsState``: one step of length ``dt``; ``noise``, shape of ``Q``,
        is accepted and ignored (the step is deterministic).
    """
    _check_common(mass, dt, None)

    def step(state: DynamicsState, noise: Tensor | None = None) -> DynamicsState:
        """Advance one deterministic step (``noise`` is ignored)."""
        p = b_step(state.P, state.forces, dt / 2)
        q = a_step(state.Q, p, mass, dt)
        f = _forces(force_field, q, state.t + dt)
        p = b_step(p, f, dt / 2)
        return DynamicsState(q, p, f, state.t + dt, state.rng)

    return Integrator(_make_init(force_field), step)


def _mask(force_field: ForceField, frozen: object, name: str) -> Tensor:
    m = torch.as_tensor(frozen)
    if m.dtype != torch.bool or tuple(m.shape) != force_field.lattice.shape:
        raise ValueError(
            f"{name} must be a boolean array of shape {force_field.lattice.shape}, "
            f"got dtype {m.dtype} and shape {tuple(m.shape)}"
        )
    return m


def brownian(
    force_field: ForceField,
    *,
    gamma: float,
    temperature: float,
    dt: float,
    frozen: Tensor | None = None,
    prescribed: Callable[[float], Tensor] | None = None,
) -> Integrator:
    r"""Return ``(init, step)`` for overdamped Brownian dynamics, :math:`\gamma\dot Q = F + \eta`
    (paper 001 eq. 3); ``prescribed(t)`` sets the ``frozen`` sites at time ``t``.

    Parameters
    ----------
    force_field : ForceField
        The force provider; its ``lattice`` fixes the field shape.
    gamma : float
        Damping coefficient (> 0); paper 001 measures time in units of ``1/gamma``.
    temperature : float
        Bath temperature ``k_B T`` (>= 0).
    dt : float
        Time step (> 0).
    frozen : Tensor, shape (Lx, Ly), bool, optional
        Sites the dynamics does not move.
    prescribed : callable, optional
        ``prescribed(t)`` returns the values, shape ``(..., Lx, Ly)``, the ``frozen`` sites
        take at time ``t``; needs ``frozen``. Without it the frozen sites keep their values.

    Returns
    -------
    Integrator
        ``init(Q, P=None, *, rng=None, t0=0.0) -> DynamicsState``: ``Q`` (and ``P``, zero by
        default) of shape ``(..., Lx, Ly)``; ``rng`` a ``torch.Generator``, a NumPy generator
        or an int seed (a fresh generator on ``Q``'s device when None). ``step(state,
        noise=None) -> DynamicsState``: one step of length ``dt``; ``noise``, shape of ``Q``,
        is the standard normal ``xi`` (drawn from ``state.rng`` when None). ``P`` stays zero.
    """
    _check_common(None, dt, temperature)
    check_positive("gamma", gamma)
    amplitude = math.sqrt(2.0 * temperature * dt / gamma)
    mask = None if frozen is None else _mask(force_field, frozen, "frozen")
    if prescribed is not None and mask is None:
        raise ValueError("prescribed needs frozen: the mask of the sites it sets")

    def step(state: DynamicsState, noise: Tensor | None = None) -> DynamicsState:
        """Advance one step; ``noise`` is the standard normal ``xi``."""
        xi = _noise(state, noise)
        q = state.Q + (dt / gamma) * state.forces + amplitude * xi
        if mask is not None:
            held = state.Q if prescribed is None else prescribed(state.t + dt)
            q = torch.where(mask.to(q.device), torch.as_tensor(held, device=q.device), q)
        return DynamicsState(
            q, state.P, _forces(force_field, q, state.t + dt), state.t + dt, state.rng
        )

    return Integrator(_make_init(force_field), step)


def pin_sites(
    state: DynamicsState, mask: Tensor, values: Tensor, force_field: ForceField
) -> DynamicsState:
    """Return ``state`` with the masked sites set to ``values`` and the forces recomputed.

    Parameters
    ----------
    state : DynamicsState
        The state to modify (not changed in place).
    mask : Tensor, shape (Lx, Ly), bool
        The sites to set.
    values : Tensor, shape (..., Lx, Ly)
        Values for the masked sites (the other entries are ignored).
    force_field : ForceField
        Evaluates the forces of the new ``Q`` at ``state.t``.

    Returns
    -------
    DynamicsState
        New ``Q`` and ``forces``; ``P``, ``t`` and ``rng`` of ``state``.
    """
    m = _mask(force_field, mask, "mask").to(state.Q.device)
    v = _field("values", values, force_field.lattice).to(state.Q.device)
    q = torch.where(m, v, state.Q)
    return DynamicsState(q, state.P, _forces(force_field, q, state.t), state.t, state.rng)


class GinzburgLandauForceField:
    r"""The lattice Ginzburg-Landau free energy of model A (paper 002, eq. 5) on tensors."""

    def __init__(self, lattice: SquareLattice, K: float, A: float, phi0: float) -> None:
        self.lattice = lattice
        self.K = check_non_negative("K", K)
        self.A = check_positive("A", A)
        self.phi0 = check_finite_scalar("phi0", phi0)

    def energy(self, Q: Tensor) -> Tensor:
        r"""The free energy, shape ``(...)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            The order parameter field :math:`\phi`.

        Returns
        -------
        Tensor, shape (...)
        """
        phi = _field("phi", Q, self.lattice)
        gradient = torch.zeros(phi.shape[:-2], dtype=phi.dtype, device=phi.device)
        for axis, periodic in zip((-2, -1), self.lattice.periodic, strict=True):
            diff = torch.roll(phi, -1, dims=axis) - phi
            if not periodic:
                diff = diff.narrow(axis, 0, phi.shape[axis] - 1)
            gradient = gradient + (diff * diff).sum(dim=(-2, -1))
        local = (self.A * (phi * phi - self.phi0**2) ** 2).sum(dim=(-2, -1))
        return self.K * gradient + local

    def forces(self, Q: Tensor) -> Tensor:
        r"""The force :math:`-\partial\mathcal{F}/\partial\phi`, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            The order parameter field :math:`\phi`.

        Returns
        -------
        Tensor, shape (..., Lx, Ly)
        """
        phi = _field("phi", Q, self.lattice)
        ones = torch.ones(self.lattice.shape, dtype=phi.dtype, device=phi.device)
        laplacian = neighbour_sum(phi, self.lattice) - neighbour_sum(ones, self.lattice) * phi
        return 2 * self.K * laplacian - 4 * self.A * phi * (phi * phi - self.phi0**2)


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
    r"""Return ``(init, step)`` for model-A (TDGL) dynamics: Brownian with ``gamma = 1/Gamma``.

    Parameters
    ----------
    lattice : SquareLattice
    K : float
        Gradient stiffness (>= 0).
    A : float
        Double-well strength (> 0).
    phi0 : float
        Minimum of the double well.
    Gamma : float
        Kinetic coefficient (> 0).
    temperature : float
        Noise temperature (>= 0).
    dt : float
        Time step (> 0).

    Returns
    -------
    Integrator
        As :func:`brownian` on a :class:`GinzburgLandauForceField`; ``state.Q`` holds ``phi``.
    """
    check_positive("Gamma", Gamma)
    field = GinzburgLandauForceField(lattice, K, A, phi0)
    return brownian(field, gamma=1.0 / Gamma, temperature=temperature, dt=dt)


def kinetic_temperature(P: Tensor, mass: float) -> Tensor:
    r"""Return :math:`\langle P_i^2\rangle/m` over the lattice axes (paper 000, eq. 30).

    Parameters
    ----------
    P : Tensor, shape (..., Lx, Ly)
        Momenta.
    mass : float
        Lattice mass (> 0).

    Returns
    -------
    Tensor, shape (...), float64
    """
    p = as_tensor("P", P)
    check_positive("mass", mass)
    if p.ndim < 2:
        raise ValueError(f"P must have shape (..., Lx, Ly), got {tuple(p.shape)}")
    return (p * p).mean(dim=(-2, -1)) / mass


_TIME_SLACK = 1e-9


def kinetic_temperature_since(t: Tensor, P: Tensor, mass: float, t_from: float) -> Tensor:
    r"""Return :math:`\langle P_i^2\rangle/m` over the frames with :math:`t \ge t_{\rm from}`, all
    members and sites, as a 0-d tensor (paper 000, eq. 30; see the reference for the slack).

    Parameters
    ----------
    t : Tensor, shape (n_frames,)
        Frame times.
    P : Tensor, shape (n_frames, ..., Lx, Ly)
        Momenta of each frame (e.g. :attr:`Trajectory.P`).
    mass : float
        Lattice mass (> 0).
    t_from : float
        Start of the window (inclusive); ``ValueError`` if no frame lies in it.

    Returns
    -------
    Tensor, shape (), float64
        On the device of ``t`` (or ``P``); the reference returns a float.
    """
    device = device_of(t, P)
    times = as_tensor("t", t, device=device)
    momenta = as_tensor("P", P, device=device)
    if times.ndim != 1 or momenta.ndim < 3 or momenta.shape[0] != times.shape[0]:
        raise ValueError(
            f"t must have shape (n_frames,) and P shape (n_frames, ..., Lx, Ly) with the same "
            f"n_frames, got t {tuple(times.shape)} and P {tuple(momenta.shape)}"
        )
    start = check_finite_scalar("t_from", t_from)
    late = times >= start - _TIME_SLACK * max(1.0, abs(start))
    if not bool(late.any()):
        last = f"the last is at t = {float(times.max())!r}" if times.numel() else "none recorded"
        raise ValueError(f"t_from = {start!r} leaves no frame in the window ({last})")
    return kinetic_temperature(momenta[late], mass).mean()


@attrs.frozen
class Trajectory:
    """Snapshots recorded by :func:`simulate`: ``t`` (n_frames,), ``Q``, ``P``, ``forces``,
    ``final``.
    """

    t: Tensor = attrs.field(eq=False)
    Q: Tensor = attrs.field(eq=False)
    P: Tensor = attrs.field(eq=False)
    forces: Tensor = attrs.field(eq=False)
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
    """Run ``n_steps`` steps from ``state`` and record every ``record_every``-th state (frame 0 =
    ``state``).

    Parameters
    ----------
    integrator : Integrator
        The ``(init, step)`` pair; only ``step`` is used.
    state : DynamicsState
        The initial state, from ``integrator.init``.
    n_steps : int
        Number of steps (>= 0).
    record_every : int
        Keep the state after every step whose number is a multiple of this (>= 1).
    progress : bool
        Show a tqdm progress bar.
    description : str
        Label of the progress bar.

    Returns
    -------
    Trajectory
        ``t`` (n_frames,) float64 on the CPU; ``Q``, ``P``, ``forces`` stacked to
        ``(n_frames, ..., Lx, Ly)`` on the state's device; ``final`` the last state.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    frames = [state]
    for n in tqdm(range(1, n_steps + 1), desc=description, disable=not progress, unit="step"):
        state = integrator.step(state)
        if n % record_every == 0:
            frames.append(state)
    return Trajectory(
        t=torch.tensor([s.t for s in frames], dtype=torch.float64),
        Q=torch.stack([s.Q for s in frames]),
        P=torch.stack([s.P for s in frames]),
        forces=torch.stack([s.forces for s in frames]),
        final=state,
    )
