r"""Ehrenfest dynamics of the laser-driven Holstein model and the adiabatic/bath force split.

Paper 000.

Electrons are a single-particle density matrix :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`
evolving in the instantaneous lattice background, and the lattice is classical
(paper 000, eqs. 5-9):

.. math::

    \dot\rho = i[\rho, h(Q, \mathbf{A}(t))], \qquad
    \dot Q_i = P_i / m, \qquad
    \dot P_i = g(\rho_{ii} - c) - kQ_i - \kappa\sum_j' Q_j,

with :math:`h_{ij} = -t_{nn} e^{-i\mathbf{A}\cdot(\mathbf{r}_j - \mathbf{r}_i)} - gQ_i\delta_{ij}`
(:func:`reference.model.peierls_hamiltonian`; the field enters by the Peierls
substitution, eq. 11). Paper 000 itself has ``c = 0``, ``kappa = 0`` and ``k = m Omega^2``.

Integrator (:func:`ehrenfest_step`): a kick-drift-kick split of the lattice around
an exactly unitary electron step :math:`\rho \to U\rho U^\dagger`,
:math:`U = e^{-ih(Q_{\rm mid}, \mathbf{A}_{\rm mid})\Delta t}` from the eigendecomposition of
the midpoint Hamiltonian. It is second order, keeps :math:`\rho` Hermitian with fixed
trace and idempotent to rounding error for any step, and books the energy the
field puts in (:attr:`EhrenfestState.work`) so that energy minus work is
conserved to :math:`O(\Delta t^2)`.

Force decomposition (paper 000, eqs. 16-22): band populations in the
instantaneous eigenbasis, the adiabatic density :math:`n^{\rm ad}`, the deviation
:math:`\chi = n^{\rm nad} - n^{\rm ad}` and the adiabatic force.
"""

from __future__ import annotations

import itertools
import math

import attrs
import numpy as np
from numpy.typing import NDArray
from tqdm.auto import tqdm

from reference.ed import _fill, ground_state
from reference.model import (
    HolsteinModel,
    LaserPulse,
    coupling_constant_energy,
    elastic_energy,
    elastic_force,
    kinetic_energy,
    peierls_hamiltonian,
    peierls_hopping_matrix,
    vector_potential,
)
from reference.validation import check_non_negative, check_positive

__all__ = [
    "EhrenfestState",
    "EhrenfestTrajectory",
    "adiabatic_densities",
    "adiabatic_force",
    "band_populations",
    "density_deviation",
    "density_matrix_rhs",
    "ehrenfest_energy",
    "ehrenfest_force",
    "ehrenfest_step",
    "electronic_energy",
    "equilibrium_density_matrix",
    "initial_state",
    "lattice_current",
    "nonadiabatic_densities",
    "propagator",
    "simulate_ehrenfest",
]

Complex = NDArray[np.complex128]
Real = NDArray[np.float64]


def _field(t: float, pulse: LaserPulse | None) -> Real:
    return np.zeros(2) if pulse is None else vector_potential(t, pulse)


@attrs.frozen
class EhrenfestState:
    """The state of the coupled electron-lattice system.

    Attributes
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\\rho_{ij} = \\langle c_j^\\dagger c_i\\rangle`.
    Q, P : (Lx, Ly) float64
        Distortions and momenta.
    t : float
    work : float
        Energy put in by the field since the start.
    """

    rho: Complex = attrs.field(eq=False)
    Q: Real = attrs.field(eq=False)
    P: Real = attrs.field(eq=False)
    t: float = 0.0
    work: float = 0.0


def equilibrium_density_matrix(Q: Real, model: HolsteinModel, A: Real | None = None) -> Complex:
    r"""Return the thermal density matrix of h(Q, A).

    .. math:: \rho = \sum_m f_m |\phi_m\rangle\langle\phi_m|


    Occupations from ``model.electrons`` (fixed filling or fixed mu, temperature,
    degenerate levels sharing their occupation, as in :mod:`reference.ed`).

    Parameters
    ----------
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model; ``model.electrons`` sets the temperature and the filling or mu.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    (N, N) complex128
    """
    h = peierls_hamiltonian(Q, model, np.zeros(2) if A is None else A)
    eps, vecs = np.linalg.eigh(h)
    f, _ = _fill(eps, model)
    return np.asarray((vecs * f) @ vecs.conj().T, dtype=np.complex128)


def initial_state(
    model: HolsteinModel,
    *,
    noise_temperature: float = 0.0,
    rng: np.random.Generator | int | None = None,
    Q: Real | None = None,
    t0: float = 0.0,
) -> EhrenfestState:
    r"""Return the CDW ground state with optional weak thermal noise in the lattice.

    Paper 000, sec. II: the lattice starts at the relaxed CDW configuration
    (:func:`reference.ed.ground_state`, or ``Q`` if given) plus Gaussian noise of an
    effective temperature :math:`T_{\rm noise}` (:math:`Q_i \mathrel{+}= N(0, T/k)`,
    :math:`P_i \sim N(0, mT)`; paper 000 uses :math:`T \sim 10^{-5}`); the electrons
    start in equilibrium with the noiseless lattice.

    Parameters
    ----------
    model : HolsteinModel
        The model whose CDW ground state (and electronic equilibrium) is the start.
    noise_temperature : float
        Effective temperature of the initial lattice noise (>= 0).
    rng : numpy.random.Generator or int, optional
        Source of the noise: a generator, or a seed for :func:`numpy.random.default_rng`.
    Q : (Lx, Ly) float64, optional
        Start from these distortions instead of the ground state.
    t0 : float
        Time of the initial state, in units of ``hbar / |t_nn|``.

    Returns
    -------
    EhrenfestState
    """
    t_noise = check_non_negative("noise_temperature", noise_temperature)
    q0 = ground_state(model).Q if Q is None else model.lattice.check_field("Q", Q).copy()
    rho = equilibrium_density_matrix(q0, model)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    p = model.params
    q = q0 + gen.normal(0.0, math.sqrt(t_noise / p.k), size=q0.shape)
    mom = gen.normal(0.0, math.sqrt(t_noise * p.mass), size=q0.shape)
    return EhrenfestState(rho, q, mom, float(t0), 0.0)


def density_matrix_rhs(rho: Complex, h: Complex) -> Complex:
    r"""Return :math:`\dot\rho = i[\rho, h]` (paper 000, eq. 8).

    Parameters
    ----------
    rho, h : (N, N) complex128
        The density matrix and the (Hermitian) single-particle Hamiltonian.

    Returns
    -------
    (N, N) complex128
    """
    return np.asarray(1j * (rho @ h - h @ rho), dtype=np.complex128)


def ehrenfest_force(rho: Complex, Q: Real, model: HolsteinModel) -> Real:
    r"""Return the lattice force (paper 000, eqs. 6, 14-16).

    .. math:: F_i = g(\rho_{ii} - c) - kQ_i - \kappa\sum_j' Q_j


    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.

    Returns
    -------
    (Lx, Ly) float64
        The force on every lattice mode.
    """
    n = nonadiabatic_densities(rho, model)
    p = model.params
    return np.asarray(p.g * (n - p.coupling.offset) + elastic_force(Q, model), dtype=np.float64)


def propagator(h: Complex, dt: float) -> Complex:
    r"""Return :math:`U = e^{-ih\Delta t}` of a Hermitian ``h`` from its eigendecomposition.

    Parameters
    ----------
    h : (N, N) complex128
        Hermitian single-particle Hamiltonian, in units of the hopping.
    dt : float
        Time step :math:`\Delta t` in units of ``hbar / |t_nn|`` (any sign; not validated).

    Returns
    -------
    (N, N) complex128
        Unitary to rounding error.
    """
    eps, vecs = np.linalg.eigh(h)
    return np.asarray((vecs * np.exp(-1j * eps * dt)) @ vecs.conj().T, dtype=np.complex128)


def electronic_energy(rho: Complex, Q: Real, model: HolsteinModel, A: Real | None = None) -> float:
    r"""Return :math:`\mathrm{Tr}[\rho\, h(Q, \mathbf{A})]`.

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    float
        The band energy, in units of the hopping (without the c-number :math:`gc\sum_i Q_i`).
    """
    h = peierls_hamiltonian(Q, model, np.zeros(2) if A is None else A)
    return float(np.real(np.trace(rho @ h)))


def ehrenfest_energy(
    state: EhrenfestState, model: HolsteinModel, pulse: LaserPulse | None = None
) -> dict[str, float]:
    r"""Return the energy bookkeeping of a state.

    ``electronic`` :math:`= \mathrm{Tr}[\rho h] + gc\sum_i Q_i`, ``elastic``, ``kinetic``,
    ``total`` (their sum), ``work`` (done by the field so far) and
    ``total_minus_work``, which the dynamics conserves.

    Parameters
    ----------
    state : EhrenfestState
        The state (its ``rho``, ``Q``, ``P``, ``t`` and ``work`` are read).
    model : HolsteinModel
        The model the state evolves in.
    pulse : LaserPulse, optional
        The pulse, for :math:`\mathbf{A}(t)` in :math:`h`; no field when omitted.

    Returns
    -------
    dict of str to float
        The keys above, energies in units of the hopping.
    """
    a = _field(state.t, pulse)
    electronic = electronic_energy(state.rho, state.Q, model, a) + float(
        coupling_constant_energy(state.Q, model)
    )
    elastic = float(elastic_energy(state.Q, model))
    kinetic = float(kinetic_energy(state.P, model))
    total = electronic + elastic + kinetic
    return {
        "electronic": electronic,
        "elastic": elastic,
        "kinetic": kinetic,
        "total": total,
        "work": state.work,
        "total_minus_work": total - state.work,
    }


def lattice_current(rho: Complex, model: HolsteinModel, A: Real) -> Real:
    r"""Return the uniform current :math:`\mathbf{J} = -\mathrm{Tr}[\rho\,\partial_{\mathbf{A}} h]`.

    With :math:`\mathbf{E} = -\dot{\mathbf{A}}` the field does work at the rate
    :math:`\mathrm{Tr}[\rho\,\partial_t h] = \mathbf{J}\cdot\mathbf{E}`.

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64
        Uniform vector potential ``(A_x, A_y)`` at which :math:`\partial_{\mathbf{A}} h` is taken.

    Returns
    -------
    (2,) float64
    """
    a = np.asarray(A, dtype=np.float64)
    return np.array(
        [-float(np.real(np.trace(rho @ _hopping_derivative(model, axis, a)))) for axis in (0, 1)]
    )


def _hopping_derivative(model: HolsteinModel, axis: int, A: Real) -> Complex:
    r""":math:`\partial h/\partial A_{\rm axis}`.

    A bond along ``axis`` from site i to i + e carries :math:`h_{ij} = -t e^{-iA_{\rm axis}}`
    and :math:`h_{ji} = h_{ij}^*`; their derivatives are :math:`-i h_{ij}` and :math:`i h_{ji}`.
    """
    lat = model.lattice
    phase = np.exp(-1j * A[axis])
    d = np.zeros((lat.n_sites, lat.n_sites), dtype=np.complex128)
    for i, r in enumerate(lat.coordinates):
        s = r.copy()
        s[axis] += 1
        if s[axis] >= lat.shape[axis]:
            if not lat.periodic[axis]:
                continue
            s[axis] -= lat.shape[axis]
        j = int(s[0]) * lat.Ly + int(s[1])
        h_ij = -model.params.hopping * phase
        d[i, j] += -1j * h_ij
        d[j, i] += 1j * np.conj(h_ij)
    return d


def ehrenfest_step(
    state: EhrenfestState,
    model: HolsteinModel,
    dt: float,
    pulse: LaserPulse | None = None,
    order: int = 2,
) -> EhrenfestState:
    r"""Advance the coupled system by ``dt``.

    .. math::

        P_{1/2} &= P + \tfrac{\Delta t}{2} F(\rho, Q), \qquad Q' = Q + \Delta t\, P_{1/2}/m, \\
        \rho' &= U\rho U^\dagger, \quad U = e^{-i h(\bar Q, \mathbf{A}(t + \Delta t/2))\Delta t},
              \quad \bar Q = (Q + Q')/2, \\
        P' &= P_{1/2} + \tfrac{\Delta t}{2} F(\rho', Q'),

    and the work :math:`\mathrm{Tr}[\rho'(K' - K_{1/2})] + \mathrm{Tr}[\rho(K_{1/2} - K)]` with
    :math:`K = K(\mathbf{A})` the hopping matrix at the start, middle and end of the step:
    the field's share of the electronic energy change (the unitary step conserves
    :math:`\mathrm{Tr}[\rho\, h_{\rm mid}]` exactly).

    Parameters
    ----------
    state : EhrenfestState
        The state at time ``state.t``.
    model : HolsteinModel
        The model the state evolves in.
    dt : float
        Time step (> 0).
    pulse : LaserPulse, optional
        No field when omitted.
    order : {2, 4}
        2: the step above. 4: Yoshida's triple jump, the step at :math:`w_1\Delta t`,
        :math:`w_0\Delta t`, :math:`w_1\Delta t` with :math:`w_1 = 1/(2 - 2^{1/3})`,
        :math:`w_0 = 1 - 2w_1` (a negative sub-step); fourth order because the step is
        time-symmetric, and still exactly unitary.

    Returns
    -------
    EhrenfestState
    """
    dt = check_positive("dt", dt)
    if order == 2:
        return _symmetric_step(state, model, dt, pulse)
    if order == 4:
        w1 = 1.0 / (2.0 - 2.0 ** (1.0 / 3.0))
        for w in (w1, 1.0 - 2.0 * w1, w1):
            state = _symmetric_step(state, model, w * dt, pulse)
        return state
    raise ValueError(f"order must be 2 or 4, got {order!r}")


def _symmetric_step(
    state: EhrenfestState, model: HolsteinModel, dt: float, pulse: LaserPulse | None
) -> EhrenfestState:
    """The time-symmetric second-order step; ``dt`` may be negative (Yoshida sub-steps)."""
    p = model.params
    p_half = state.P + 0.5 * dt * ehrenfest_force(state.rho, state.Q, model)
    q_new = state.Q + dt * p_half / p.mass
    a0, a_mid, a1 = (_field(state.t + s * dt, pulse) for s in (0.0, 0.5, 1.0))
    h_mid = peierls_hamiltonian(0.5 * (state.Q + q_new), model, a_mid)
    u = propagator(h_mid, dt)
    rho_new = u @ state.rho @ u.conj().T
    rho_new = 0.5 * (rho_new + rho_new.conj().T)  # Hermitian to the last bit
    work = state.work
    if pulse is not None:
        k0, k_mid, k1 = (
            peierls_hopping_matrix(model.lattice, p.hopping, a) for a in (a0, a_mid, a1)
        )
        work += float(
            np.real(np.trace(rho_new @ (k1 - k_mid)) + np.trace(state.rho @ (k_mid - k0)))
        )
    p_new = p_half + 0.5 * dt * ehrenfest_force(rho_new, q_new, model)
    return EhrenfestState(rho_new, q_new, p_new, state.t + dt, work)


def band_populations(
    rho: Complex, Q: Real, model: HolsteinModel, A: Real | None = None
) -> tuple[Real, Real]:
    r"""Return the instantaneous levels and their populations (paper 000, eqs. 17-18).

    .. math:: f_n = \mathrm{Tr}[\tilde\rho_n\rho] = \langle\phi^{(n)}|\rho|\phi^{(n)}\rangle,
              \qquad \tilde\rho_n = |\phi^{(n)}\rangle\langle\phi^{(n)}|

    with :math:`\phi^{(n)}` the n-th eigenvector of :math:`h(Q, \mathbf{A})`.

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    energies : (N,) float64
    populations : (N,) float64
        :math:`\sum_n f_n = \mathrm{Tr}\rho`.
    """
    h = peierls_hamiltonian(Q, model, np.zeros(2) if A is None else A)
    eps, vecs = np.linalg.eigh(h)
    f = np.real(np.einsum("in,ij,jn->n", vecs.conj(), rho, vecs))
    return np.asarray(eps, dtype=np.float64), np.asarray(f, dtype=np.float64)


def nonadiabatic_densities(rho: Complex, model: HolsteinModel) -> Real:
    r"""Return :math:`n^{\rm nad}_i = \rho_{ii}` (paper 000, eq. 16).

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    model : HolsteinModel
        The model (its lattice shape is used).

    Returns
    -------
    (Lx, Ly) float64
    """
    return np.asarray(np.real(np.diagonal(rho)), dtype=np.float64).reshape(model.lattice.shape)


def adiabatic_densities(rho: Complex, Q: Real, model: HolsteinModel, A: Real | None = None) -> Real:
    r"""Return the adiabatic reference density (paper 000, eq. 19).

    .. math:: n^{\rm ad}_i = \sum_n |\phi^{(n)}_i|^2 f_n


    Equivalently the diagonal of :math:`\sum_n \tilde\rho_n\rho\,\tilde\rho_n`, the part of
    :math:`\rho` diagonal in the instantaneous eigenbasis. Inside a degenerate level
    (within ``1e-10`` of the bandwidth) the eigenbasis is arbitrary, so the whole
    degenerate block is kept: :math:`\sum_b P_b\rho P_b`, which reduces to eq. 19 for a
    non-degenerate spectrum and does not depend on the basis.

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    (Lx, Ly) float64
    """
    h = peierls_hamiltonian(Q, model, np.zeros(2) if A is None else A)
    eps, vecs = np.linalg.eigh(h)
    tol = 1e-10 * max(float(eps[-1] - eps[0]), 1.0)
    starts = np.flatnonzero(np.concatenate([[True], np.diff(eps) > tol]))
    bounds = [*starts.tolist(), len(eps)]
    n = np.zeros(len(eps))
    for lo, hi in itertools.pairwise(bounds):
        v = vecs[:, lo:hi]
        block = v.conj().T @ rho @ v  # rho restricted to the degenerate level
        n += np.real(np.einsum("ia,ab,ib->i", v, block, v.conj()))
    return np.asarray(n, dtype=np.float64).reshape(model.lattice.shape)


def density_deviation(rho: Complex, Q: Real, model: HolsteinModel, A: Real | None = None) -> Real:
    r"""Return :math:`\chi_i = n^{\rm nad}_i - n^{\rm ad}_i` (paper 000, eq. 20).

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    (Lx, Ly) float64
    """
    return nonadiabatic_densities(rho, model) - adiabatic_densities(rho, Q, model, A)


def adiabatic_force(rho: Complex, Q: Real, model: HolsteinModel, A: Real | None = None) -> Real:
    r"""Return the adiabatic lattice force :math:`g(n^{\rm ad}_i - c) - kQ_i - \kappa\sum_j' Q_j`.

    Paper 000, eq. 22 (:math:`F^{\rm ad}_i = g n^{\rm ad}_i`) plus the elastic force of eq. 14,
    i.e. the total force the ML model of paper 000 stands in for (eq. 27).

    Parameters
    ----------
    rho : (N, N) complex128
        Single-particle density matrix, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : (Lx, Ly) float64
        One configuration of lattice distortions on ``model.lattice`` (no batch axes).
    model : HolsteinModel
        The model: lattice, hopping, coupling ``g`` and elastic constants.
    A : (2,) float64, optional
        Uniform vector potential ``(A_x, A_y)`` in the Peierls phases; zero when omitted.

    Returns
    -------
    (Lx, Ly) float64
    """
    p = model.params
    n_ad = adiabatic_densities(rho, Q, model, A)
    return np.asarray(p.g * (n_ad - p.coupling.offset) + elastic_force(Q, model), dtype=np.float64)


@attrs.frozen
class EhrenfestTrajectory:
    """Recorded frames of an Ehrenfest run.

    Attributes
    ----------
    t : (n_frames,) float64
    Q, P : (n_frames, Lx, Ly) float64
    n : (n_frames, Lx, Ly) float64
        Nonadiabatic densities :math:`\\rho_{ii}`.
    energy : (n_frames,) float64
        Total energy.
    work : (n_frames,) float64
        Work done by the field.
    final : EhrenfestState
    """

    t: Real = attrs.field(eq=False)
    Q: Real = attrs.field(eq=False)
    P: Real = attrs.field(eq=False)
    n: Real = attrs.field(eq=False)
    energy: Real = attrs.field(eq=False)
    work: Real = attrs.field(eq=False)
    final: EhrenfestState = attrs.field(eq=False)


def simulate_ehrenfest(
    state: EhrenfestState,
    model: HolsteinModel,
    dt: float,
    n_steps: int,
    *,
    pulse: LaserPulse | None = None,
    record_every: int = 1,
    progress: bool = False,
    order: int = 2,
) -> EhrenfestTrajectory:
    """Run :func:`ehrenfest_step` ``n_steps`` times, recording every ``record_every``-th state.

    Parameters
    ----------
    state : EhrenfestState
        The initial state; it is the first recorded frame.
    model : HolsteinModel
        The model the state evolves in.
    dt : float
        Time step (> 0), in units of ``hbar / |t_nn|``.
    n_steps : int
        Number of steps (an integer >= 0).
    pulse : LaserPulse, optional
        The driving pulse; no field when omitted.
    record_every : int
        Record a frame every this many steps (an integer >= 1).
    progress : bool
        Show a tqdm progress bar.
    order : {2, 4}
        Order of :func:`ehrenfest_step`.

    Returns
    -------
    EhrenfestTrajectory
        ``1 + n_steps // record_every`` frames and the final state.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be an integer >= 0, got {n_steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    frames = [state]
    for k in tqdm(range(1, n_steps + 1), desc="Ehrenfest", disable=not progress, unit="step"):
        state = ehrenfest_step(state, model, dt, pulse, order)
        if k % record_every == 0:
            frames.append(state)
    return EhrenfestTrajectory(
        t=np.array([s.t for s in frames]),
        Q=np.stack([s.Q for s in frames]),
        P=np.stack([s.P for s in frames]),
        n=np.stack([nonadiabatic_densities(s.rho, model) for s in frames]),
        energy=np.array([ehrenfest_energy(s, model, pulse)["total"] for s in frames]),
        work=np.array([s.work for s in frames]),
        final=state,
    )
