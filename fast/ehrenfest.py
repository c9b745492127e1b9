r"""Ehrenfest dynamics on tensors: batched exact propagators and the adiabatic/bath force split.

Twin of :mod:`reference.ehrenfest`. States hold tensors: ``rho`` ``(..., N, N)``
complex128, ``Q`` and ``P`` ``(..., Lx, Ly)``; leading axes are ensemble members,
all advanced together. The electron step is the exact propagator
:math:`U = e^{-ih\Delta t}` from a batched eigendecomposition of the midpoint
Hamiltonian, applied as :math:`U\rho U^\dagger`; the Peierls hopping matrix is built
from two constant bond matrices,
:math:`K(\mathbf{A}) = -t\sum_a (B_a e^{-iA_a} + B_a^\top e^{iA_a})`.
The analyses (adiabatic densities and forces, band populations, the lattice current,
thermal density matrices) are batched torch functions too; only :func:`initial_state`,
which relaxes the ground state once and draws NumPy noise, delegates to the reference.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from tqdm.auto import tqdm

from fast._tensor import Tensor, delegate
from fast.ed import _fill, eigh
from fast.model import coupling_constant_energy, elastic_energy, elastic_force, kinetic_energy
from reference import ehrenfest as _ref
from reference.ehrenfest import EhrenfestState, EhrenfestTrajectory
from reference.lattice import SquareLattice
from reference.model import HolsteinModel, LaserPulse, vector_potential
from reference.validation import check_positive

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

initial_state = delegate(_ref.initial_state)


@functools.lru_cache(maxsize=32)
def _bond_matrices(lattice: SquareLattice) -> np.ndarray:
    """``B[a, i, j] = 1`` for the bond from site i to its +e_a neighbour j (axis a)."""
    b = np.zeros((2, lattice.n_sites, lattice.n_sites))
    for axis in range(2):
        for i, r in enumerate(lattice.coordinates):
            s = r.copy()
            s[axis] += 1
            if s[axis] >= lattice.shape[axis]:
                if not lattice.periodic[axis]:
                    continue
                s[axis] -= lattice.shape[axis]
            b[axis, i, int(s[0]) * lattice.Ly + int(s[1])] += 1.0
    return b


@functools.lru_cache(maxsize=32)
def _bond_tensor(lattice: SquareLattice, device: torch.device) -> Tensor:
    """:func:`_bond_matrices` as a complex128 tensor, built once per lattice and device."""
    return torch.as_tensor(_bond_matrices(lattice), dtype=torch.complex128, device=device)


def _hopping(model: HolsteinModel, A: np.ndarray, device: torch.device) -> Tensor:
    bonds = _bond_tensor(model.lattice, device)
    phase = torch.as_tensor(np.exp(-1j * np.asarray(A)), dtype=torch.complex128, device=device)
    forward = (bonds * phase[:, None, None]).sum(0)
    return -model.params.hopping * (forward + forward.conj().T)


def _hamiltonian(Q: Tensor, model: HolsteinModel, A: np.ndarray) -> Tensor:
    flat = Q.reshape(*Q.shape[:-2], model.lattice.n_sites).to(torch.complex128)
    return _hopping(model, A, Q.device) - model.params.g * torch.diag_embed(flat)


def _potential(A: Tensor | None) -> np.ndarray:
    """The vector potential as a NumPy ``(2,)`` array (zero if ``None``)."""
    if A is None:
        return np.zeros(2)
    a = np.asarray(torch.as_tensor(A).cpu(), dtype=np.float64)
    if a.shape != (2,):
        raise ValueError(f"A must have shape (2,), got {a.shape}")
    return a


def equilibrium_density_matrix(Q: Tensor, model: HolsteinModel, A: Tensor | None = None) -> Tensor:
    r"""Return the thermal density matrix :math:`\rho = \sum_m f_m |\phi_m\rangle\langle\phi_m|`
    of :math:`h(Q, \mathbf{A})`, batched: ``Q`` ``(..., Lx, Ly)`` gives ``(..., N, N)``
    complex128.

    Occupations as in :func:`fast.ed.occupations` (fixed filling or fixed mu; degenerate
    levels share their occupation, so the result does not depend on the eigenbasis).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or filling, temperature).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    Tensor, shape (..., N, N), complex128
        Hermitian, on ``Q``'s device.
    """
    q = torch.as_tensor(Q)
    eps, vecs = eigh(_hamiltonian(q, model, _potential(A)))
    f, _ = _fill(eps, model)
    vecs = vecs.to(torch.complex128)
    return (vecs * f.to(torch.complex128)[..., None, :]) @ vecs.conj().transpose(-1, -2)


def band_populations(
    rho: Tensor, Q: Tensor, model: HolsteinModel, A: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    r"""Return the instantaneous levels and their populations (paper 000, eqs. 17-18), batched.

    :math:`f_n = \langle\phi^{(n)}|\rho|\phi^{(n)}\rangle`; both ``(..., N)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    energies : Tensor, shape (..., N), float64
        Ascending levels of :math:`h(Q, \mathbf{A})`.
    populations : Tensor, shape (..., N), float64
        :math:`f_n`, real part.
    """
    r = torch.as_tensor(rho)
    q = torch.as_tensor(Q, device=r.device)
    eps, vecs = eigh(_hamiltonian(q, model, _potential(A)))
    vecs = vecs.to(torch.complex128)
    f = torch.einsum("...in,...ij,...jn->...n", vecs.conj(), r, vecs).real
    return eps, f


def density_deviation(
    rho: Tensor, Q: Tensor, model: HolsteinModel, A: Tensor | None = None
) -> Tensor:
    r"""Return :math:`\chi_i = n^{\rm nad}_i - n^{\rm ad}_i` (paper 000, eq. 20), batched.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    return nonadiabatic_densities(rho, model) - adiabatic_densities(rho, Q, model, A)


def adiabatic_force(
    rho: Tensor, Q: Tensor, model: HolsteinModel, A: Tensor | None = None
) -> Tensor:
    r"""Return the adiabatic force :math:`g(n^{\rm ad}_i - c) - kQ_i - \kappa\sum_j' Q_j`
    (paper 000, eq. 22 plus the elastic force of eq. 14), batched, ``(..., Lx, Ly)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        On ``rho``'s device.
    """
    p = model.params
    q = torch.as_tensor(Q, device=torch.as_tensor(rho).device)
    n_ad = adiabatic_densities(rho, q, model, A)
    return p.g * (n_ad - p.coupling.offset) + elastic_force(q, model)


def lattice_current(rho: Tensor, model: HolsteinModel, A: Tensor) -> Tensor:
    r"""Return :math:`\mathbf{J} = -\mathrm{Tr}[\rho\,\partial_{\mathbf{A}} h]`, ``(..., 2)``.

    A bond along axis ``a`` carries :math:`h_{ij} = -t e^{-iA_a} B_{a,ij}`, so
    :math:`\partial_{A_a} h = it(e^{-iA_a} B_a - e^{iA_a} B_a^\top)` and
    :math:`J_a = -2t\,\mathrm{Re}[i e^{-iA_a}\mathrm{Tr}(\rho B_a)]` for Hermitian
    :math:`\rho`, with :math:`\mathrm{Tr}(\rho B_a) = \sum_{ij} \rho_{ji} B_{a,ij}`.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Hermitian single-particle density matrices.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,)
        Vector potential :math:`(A_x, A_y)`, one for the whole batch (None counts as zero).

    Returns
    -------
    Tensor, shape (..., 2), float64
        :math:`(J_x, J_y)` on ``rho``'s device.
    """
    r = torch.as_tensor(rho)
    a = _potential(A)
    bonds = _bond_tensor(model.lattice, r.device)
    trace = torch.einsum("...ji,aij->...a", r, bonds)
    phase = torch.as_tensor(np.exp(-1j * a), dtype=torch.complex128, device=r.device)
    t = model.params.hopping
    # -Tr[rho dh/dA] = -it (e^{-iA} Tr(rho B) - e^{iA} Tr(rho B^T)); Tr(rho B^T) = conj(Tr(rho B))
    return (-1j * t * (phase * trace - (phase * trace).conj())).real


def _field(t: float, pulse: LaserPulse | None) -> np.ndarray:
    return np.zeros(2) if pulse is None else np.asarray(vector_potential(t, pulse))


def density_matrix_rhs(rho: Tensor, h: Tensor) -> Tensor:
    r"""Return :math:`\dot\rho = i[\rho, h]` (paper 000, eq. 8), batched.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices.
    h : Tensor, shape (..., N, N)
        Hamiltonians, broadcast against ``rho``; moved to ``rho``'s device.

    Returns
    -------
    Tensor, shape (..., N, N), complex128
    """
    r, hh = torch.as_tensor(rho), torch.as_tensor(h, device=torch.as_tensor(rho).device)
    return 1j * (r @ hh - hh @ r)


def propagator(h: Tensor, dt: float) -> Tensor:
    r"""Return :math:`e^{-ih\Delta t}` for Hermitian ``h`` (batched), by eigendecomposition.

    Parameters
    ----------
    h : Tensor, shape (..., N, N)
        Hermitian (real symmetric or complex) Hamiltonians.
    dt : float
        Time step, in the experiment's time unit (units of inverse hopping here).

    Returns
    -------
    Tensor, shape (..., N, N), complex128
        Unitary to rounding error.
    """
    hh = torch.as_tensor(h)
    eps, vecs = eigh(hh)
    phase = torch.exp(-1j * eps.to(torch.complex128) * dt)
    vecs = vecs.to(torch.complex128)
    return (vecs * phase[..., None, :]) @ vecs.conj().transpose(-1, -2)


def nonadiabatic_densities(rho: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`n^{\rm nad}_i = \rho_{ii}`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices.
    model : HolsteinModel
        Supplies the lattice shape.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    r = torch.as_tensor(rho)
    return torch.diagonal(r, dim1=-2, dim2=-1).real.reshape(*r.shape[:-2], *model.lattice.shape)


def adiabatic_densities(
    rho: Tensor, Q: Tensor, model: HolsteinModel, A: Tensor | None = None
) -> Tensor:
    r"""Return :math:`n^{\rm ad}_i = \sum_n |\phi^{(n)}_i|^2 f_n` (paper 000, eq. 19), batched.

    The diagonal of :math:`\sum_b P_b \rho P_b` over the degenerate levels ``b`` of
    :math:`h(Q, \mathbf{A})` (within ``1e-10`` of the bandwidth), as in the reference.
    ``rho`` ``(..., N, N)``, ``Q`` ``(..., Lx, Ly)``; returns ``(..., Lx, Ly)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        On ``rho``'s device.
    """
    r = torch.as_tensor(rho)
    q = torch.as_tensor(Q, device=r.device)
    eps, vecs = eigh(_hamiltonian(q, model, _potential(A)))
    vecs = vecs.to(torch.complex128)
    tol = 1e-10 * torch.clamp(eps[..., -1:] - eps[..., :1], min=1.0)
    starts = torch.diff(eps, dim=-1) > tol
    level = torch.cat([torch.zeros_like(starts[..., :1]), starts], dim=-1).cumsum(-1)
    same = (level[..., :, None] == level[..., None, :]).to(torch.complex128)
    block = (vecs.conj().transpose(-1, -2) @ r @ vecs) * same
    n = torch.einsum("...ia,...ab,...ib->...i", vecs, block, vecs.conj()).real
    return n.reshape(*n.shape[:-1], *model.lattice.shape)


def ehrenfest_force(rho: Tensor, Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`g(\rho_{ii} - c) - kQ_i - \kappa\sum_j' Q_j`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    p = model.params
    n = nonadiabatic_densities(rho, model)
    return p.g * (n - p.coupling.offset) + elastic_force(torch.as_tensor(Q), model)


def electronic_energy(
    rho: Tensor, Q: Tensor, model: HolsteinModel, A: Tensor | None = None
) -> Tensor:
    r"""Return :math:`\mathrm{Tr}[\rho\, h(Q, \mathbf{A})]`, shape ``(...)``.

    Parameters
    ----------
    rho : Tensor, shape (..., N, N), complex128
        Single-particle density matrices, :math:`\rho_{ij} = \langle c_j^\dagger c_i\rangle`.
    Q : Tensor, shape (..., Lx, Ly)
        Distortions, float64.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    A : Tensor, shape (2,), optional
        Vector potential :math:`(A_x, A_y)` (Peierls phases), one for the whole batch; zero
        when omitted.

    Returns
    -------
    Tensor, shape (...), float64
        One energy per ensemble member (the reference returns a float).
    """
    q = torch.as_tensor(Q)
    h = _hamiltonian(q, model, _potential(A))
    return torch.einsum("...ij,...ji->...", torch.as_tensor(rho), h).real


def ehrenfest_energy(
    state: EhrenfestState, model: HolsteinModel, pulse: LaserPulse | None = None
) -> dict[str, Tensor]:
    r"""Return the energy bookkeeping (per ensemble member): see the reference.

    Parameters
    ----------
    state : EhrenfestState
        ``rho`` ``(..., N, N)``, ``Q`` and ``P`` ``(..., Lx, Ly)`` tensors, time ``t`` and
        ``work`` (float or tensor ``(...)``).
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    pulse : LaserPulse, optional
        Gives :math:`\mathbf{A}(t)` at ``state.t``; no field when omitted.

    Returns
    -------
    dict of str to Tensor, shape (...)
        ``electronic``, ``elastic``, ``kinetic``, ``total`` (their sum), ``work`` and
        ``total_minus_work`` (conserved by the dynamics).
    """
    q, p = torch.as_tensor(state.Q), torch.as_tensor(state.P)
    a = torch.as_tensor(_field(state.t, pulse))
    rho = torch.as_tensor(state.rho)
    electronic = electronic_energy(rho, q, model, a) + coupling_constant_energy(q, model)
    elastic = elastic_energy(q, model)
    kinetic = kinetic_energy(p, model)
    total = electronic + elastic + kinetic
    work = torch.as_tensor(state.work, dtype=total.dtype, device=total.device)
    return {
        "electronic": electronic,
        "elastic": elastic,
        "kinetic": kinetic,
        "total": total,
        "work": work,
        "total_minus_work": total - work,
    }


def ehrenfest_step(
    state: EhrenfestState,
    model: HolsteinModel,
    dt: float,
    pulse: LaserPulse | None = None,
    order: int = 2,
) -> EhrenfestState:
    r"""Advance a batch of states by ``dt`` (the reference's scheme; ``order=4``: Yoshida).

    Parameters
    ----------
    state : EhrenfestState
        ``rho`` ``(..., N, N)`` complex128, ``Q`` and ``P`` ``(..., Lx, Ly)`` tensors.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    dt : float
        Time step (> 0).
    pulse : LaserPulse, optional
        The laser field; no field when omitted.
    order : {2, 4}
        2: the symmetric Strang step; 4: Yoshida's triple jump of it.

    Returns
    -------
    EhrenfestState
        Tensors on ``state.rho``'s device; ``work`` a tensor ``(...)``.
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
    rho = torch.as_tensor(state.rho)
    q = torch.as_tensor(state.Q, device=rho.device)
    p_mom = torch.as_tensor(state.P, device=rho.device)
    mass = model.params.mass
    p_half = p_mom + 0.5 * dt * ehrenfest_force(rho, q, model)
    q_new = q + dt * p_half / mass
    a0, a_mid, a1 = (_field(state.t + s * dt, pulse) for s in (0.0, 0.5, 1.0))
    u = propagator(_hamiltonian(0.5 * (q + q_new), model, a_mid), dt)
    rho_new = u @ rho @ u.conj().transpose(-1, -2)
    rho_new = 0.5 * (rho_new + rho_new.conj().transpose(-1, -2))
    work = torch.as_tensor(state.work, dtype=torch.float64, device=rho.device)
    if pulse is not None:
        k0, k_mid, k1 = (_hopping(model, a, rho.device) for a in (a0, a_mid, a1))
        # Tr[rho K] = sum_ij rho_ij K_ji, elementwise
        gained = (rho_new * (k1 - k_mid).transpose(-1, -2)).sum((-2, -1)) + (
            rho * (k_mid - k0).transpose(-1, -2)
        ).sum((-2, -1))
        work = work + gained.real
    p_new = p_half + 0.5 * dt * ehrenfest_force(rho_new, q_new, model)
    return EhrenfestState(rho_new, q_new, p_new, state.t + dt, work)  # type: ignore[arg-type]


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
        The initial state (frame 0), tensors batched over leading axes.
    model : HolsteinModel
        Lattice and parameters (hopping, g, coupling convention, elastic constants).
    dt : float
        Time step (> 0).
    n_steps : int
        Number of steps (>= 0).
    pulse : LaserPulse, optional
        The laser field; no field when omitted.
    record_every : int
        Keep the state after every step whose number is a multiple of this (>= 1).
    progress : bool
        Show a tqdm progress bar.
    order : {2, 4}
        Order of the step (:func:`ehrenfest_step`).

    Returns
    -------
    EhrenfestTrajectory
        ``t`` ``(n_frames,)`` on the CPU; ``Q``, ``P``, ``n`` ``(n_frames, ..., Lx, Ly)``;
        ``energy`` and ``work`` ``(n_frames, ...)``; ``final`` the last state.
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
    # the first frame may hold NumPy arrays and a float: every frame on the last one's device
    device = torch.as_tensor(frames[-1].rho).device
    return EhrenfestTrajectory(
        t=torch.tensor([s.t for s in frames], dtype=torch.float64),  # type: ignore[arg-type]
        Q=torch.stack([torch.as_tensor(s.Q, device=device) for s in frames]),  # type: ignore[arg-type]
        P=torch.stack([torch.as_tensor(s.P, device=device) for s in frames]),  # type: ignore[arg-type]
        n=torch.stack([nonadiabatic_densities(s.rho, model) for s in frames]),  # type: ignore[arg-type]
        energy=torch.stack([ehrenfest_energy(s, model, pulse)["total"] for s in frames]),  # type: ignore[arg-type]
        work=torch.stack(
            [torch.as_tensor(s.work, dtype=torch.float64, device=device) for s in frames]
        ),  # type: ignore[arg-type]
        final=state,
    )
