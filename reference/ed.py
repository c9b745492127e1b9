r"""Exact diagonalisation: adiabatic electrons, their free energy, and the lattice forces.

In the adiabatic (Born-Oppenheimer) limit the electrons are in thermal
equilibrium for the instantaneous distortions ``Q`` (paper 003, eq. 8). The
single-particle Hamiltonian :func:`reference.model.hamiltonian` is diagonalised,
``h phi^(m) = eps_m phi^(m)``, and the densities are (paper 002, eq. 9)

.. math::

    n_i = \sum_m f_{\rm FD}(\varepsilon_m - \mu)\, |\phi^{(m)}_i|^2 .

The Hellmann-Feynman electronic force is ``F_i = g (n_i - c)`` (paper 003,
eq. 7). At ``T > 0`` it is minus the gradient of the electronic *free energy*
appropriate to the ensemble (grand potential at fixed mu, Helmholtz free energy
at fixed filling), not of ``<H_e>`` as the papers write; the two coincide at
``T = 0``. :func:`free_energy` is therefore the energy that the force
conserves, and the tests check it by finite differences.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
import scipy.optimize
import scipy.special
from numpy.typing import NDArray

from reference.lattice import SquareLattice, offset_table, sublattice_sign
from reference.model import (
    HolsteinModel,
    coupling_constant_energy,
    elastic_energy,
    elastic_force,
    hamiltonian,
    hopping_matrix,
)
from reference.validation import check_array, check_finite_scalar, check_non_negative

__all__ = [
    "ClusterForceField",
    "ExactForceField",
    "Relaxation",
    "chemical_potential",
    "cluster_chemical_potential",
    "cluster_densities",
    "cluster_force",
    "cluster_offsets",
    "cluster_tables",
    "densities",
    "densities_from_forces",
    "eigensystem",
    "electronic_energy",
    "electronic_entropy",
    "electronic_force",
    "fermi_dirac",
    "free_energy",
    "ground_state",
    "occupations",
    "total_energy",
    "total_force",
]

_DEGENERACY_TOL = 1e-10
"""Levels closer than this (relative to the bandwidth scale) are degenerate at T = 0."""


def fermi_dirac(energy: NDArray[np.float64], mu: float, temperature: float) -> NDArray[np.float64]:
    r"""Return the Fermi-Dirac occupation :math:`f(\varepsilon) = 1/(e^{(\varepsilon-\mu)/T} + 1)`.

    At ``T = 0`` it is the step ``1, 1/2, 0`` for ``eps <, =, > mu``. Evaluated as
    ``expit(-(eps - mu)/T)``, which never overflows.

    Parameters
    ----------
    energy : (...) float64
        Single-particle energies ``eps`` (finite), in units of the hopping.
    mu : float
        Chemical potential (finite).
    temperature : float (>= 0)
        ``k_B T`` in units of the hopping; 0 gives the step function.

    Returns
    -------
    (...) float64, in [0, 1]
    """
    e = check_array("energy", energy)
    mu = check_finite_scalar("mu", mu)
    t = check_non_negative("temperature", temperature)
    if t == 0.0:
        return np.asarray(np.where(e < mu, 1.0, np.where(e > mu, 0.0, 0.5)))
    return np.asarray(scipy.special.expit(-(e - mu) / t))


def eigensystem(
    Q: NDArray[np.float64], model: HolsteinModel
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the eigenvalues and eigenvectors of h(Q).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    energies : (..., N) float64
        Ascending.
    vectors : (..., N, N) float64
        Column ``m`` is ``phi^(m)``, indexed by site ``i = x * Ly + y``.
    """
    h = hamiltonian(Q, model)
    n = model.lattice.n_sites
    flat = h.reshape(-1, n, n)
    # One LAPACK call per matrix: NumPy's stacked eigh was ~10x slower here.
    eps = np.empty(flat.shape[:2])
    vecs = np.empty_like(flat)
    for b, matrix in enumerate(flat):
        eps[b], vecs[b] = np.linalg.eigh(matrix)
    return eps.reshape(h.shape[:-1]), vecs.reshape(h.shape)


def _degeneracy_tol(energies: NDArray[np.float64]) -> float:
    return _DEGENERACY_TOL * max(1.0, float(energies[-1] - energies[0]))


def _resolvable_temperature(energies: NDArray[np.float64], temperature: float) -> float:
    """Return ``temperature``, or 0 when it is below what double precision resolves.

    Below ``1e-3`` of the degeneracy tolerance every Fermi factor of a level
    outside the Fermi shell is ``exp(-500)`` or less, so the ``T = 0`` filling
    is exact to machine precision, and it avoids root solves at denormal ``T``.
    """
    return 0.0 if temperature < 1e-3 * _degeneracy_tol(energies) else temperature


def chemical_potential(
    energies: NDArray[np.float64], n_electrons: float, temperature: float
) -> float:
    r"""Return the chemical potential that puts ``n_electrons`` into the levels ``energies``.

    Solves :math:`\sum_m f(\varepsilon_m - \mu) = N_e` with Brent's method on a
    bracket that is guaranteed to contain the root. At ``T = 0`` it returns the
    midpoint of the gap between the highest occupied and lowest empty level, or
    the energy of a partially filled degenerate shell.

    Parameters
    ----------
    energies : (N,) float64
        Single-particle levels of one configuration.
    n_electrons : float
        In (0, N).
    temperature : float (>= 0)
        ``k_B T`` in units of the hopping.

    Returns
    -------
    float
        The chemical potential ``mu``.
    """
    eps = np.sort(check_array("energies", energies))
    if eps.ndim != 1:
        raise ValueError(f"energies must be one-dimensional, got shape {eps.shape}")
    n_e = check_finite_scalar("n_electrons", n_electrons)
    if not 0.0 < n_e < eps.size:
        raise ValueError(f"n_electrons must lie in (0, {eps.size}), got {n_electrons!r}")
    t = _resolvable_temperature(eps, check_non_negative("temperature", temperature))
    if t == 0.0:
        tol = _degeneracy_tol(eps)
        n_full = math.floor(n_e + 1e-12)
        if abs(n_e - n_full) > 1e-12 or n_full == 0:
            return float(eps[min(n_full, eps.size - 1)])  # partially filled level
        lo, hi = float(eps[n_full - 1]), float(eps[n_full])
        if hi - lo <= tol:
            return lo  # Fermi level inside a degenerate shell
        return 0.5 * (lo + hi)

    def excess(mu: float) -> float:
        return float(scipy.special.expit(-(eps - mu) / t).sum() - n_e)

    # f < e^-40 below lo and 1 - f < e^-40 above hi: both ends have the right sign.
    lo = float(eps[0]) - 40.0 * t - 1.0
    hi = float(eps[-1]) + 40.0 * t + 1.0
    root = scipy.optimize.brentq(excess, lo, hi, xtol=min(1e-13, 1e-6 * t), rtol=1e-15, maxiter=500)
    return float(root)


def _share_degenerate(eps: NDArray[np.float64], f: NDArray[np.float64]) -> NDArray[np.float64]:
    """Give every level of a degenerate cluster the cluster's mean occupation.

    Exactly degenerate levels must be equally occupied; eigh splits them by
    round-off (~1e-15), which at very low T would otherwise pick an arbitrary,
    symmetry-breaking basis of the degenerate subspace.
    """
    tol = _degeneracy_tol(eps)
    breaks = np.flatnonzero(np.diff(eps) > tol) + 1
    shared = f.copy()
    for cluster in np.split(np.arange(eps.size), breaks):
        if cluster.size > 1:
            shared[cluster] = f[cluster].mean()
    return shared


def _occupations_one(
    eps: NDArray[np.float64], model: HolsteinModel
) -> tuple[NDArray[np.float64], float]:
    ens = model.electrons
    t = ens.temperature
    if ens.mu is not None:
        return _share_degenerate(eps, fermi_dirac(eps, ens.mu, t)), float(ens.mu)
    n_e = model.n_electrons
    mu = chemical_potential(eps, n_e, t)
    if _resolvable_temperature(eps, t) > 0.0:
        return _share_degenerate(eps, fermi_dirac(eps, mu, t)), mu
    # T = 0 at fixed filling: fill from the bottom; a degenerate Fermi shell
    # shares the remaining electrons equally (the T -> 0+ limit).
    tol = _degeneracy_tol(eps)
    f = np.where(eps < mu - tol, 1.0, 0.0)
    shell = np.abs(eps - mu) <= tol
    remaining = n_e - f.sum()
    if shell.any():
        f[shell] = remaining / shell.sum()
    return f, mu


def occupations(
    Q: NDArray[np.float64], model: HolsteinModel
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Return the levels, their occupations and the chemical potential for each configuration.

    Fixed mu: ``f_m = f_FD(eps_m - mu)``. Fixed filling: mu from
    :func:`chemical_potential`, and at ``T = 0`` a degenerate Fermi shell is
    filled uniformly (the ``T -> 0+`` limit of the Fermi function). At any
    ``T``, levels degenerate to within ``1e-10`` of the bandwidth share their
    mean occupation, so densities do not depend on the eigenbasis chosen
    inside a degenerate subspace.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    energies : (..., N) float64
    occ : (..., N) float64
        In [0, 1]; at fixed filling ``occ.sum(-1) == filling * N``.
    mu : (...) float64
    """
    eps, _ = eigensystem(Q, model)
    f, mu = _fill(eps, model)
    return eps, f, mu


def _fill(
    eps: NDArray[np.float64], model: HolsteinModel
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    batch = eps.shape[:-1]
    flat = eps.reshape(-1, eps.shape[-1])
    f = np.empty_like(flat)
    mu = np.empty(flat.shape[0])
    for b in range(flat.shape[0]):
        f[b], mu[b] = _occupations_one(flat[b], model)
    return f.reshape(eps.shape), mu.reshape(batch)


def densities(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the site densities :math:`n_i = \sum_m f_m |\phi^{(m)}_i|^2`.

    Paper 002, eq. (9); paper 003, eq. (8).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (..., Lx, Ly) float64, in [0, 1]
    """
    eps, vecs = eigensystem(Q, model)
    f, _ = _fill(eps, model)
    n = np.einsum("...im,...m->...i", vecs**2, f)
    return np.asarray(n, dtype=np.float64).reshape(np.shape(Q))


def electronic_energy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return :math:`\langle \mathcal{H}_e \rangle = \sum_m f_m \varepsilon_m + g c \sum_i Q_i`.

    Paper 002, eq. (7), electronic part.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (...) float64
        The electronic energy of each configuration, in units of the hopping.
    """
    eps, f, _ = occupations(Q, model)
    return np.asarray((f * eps).sum(-1) + coupling_constant_energy(Q, model))


def electronic_entropy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the entropy :math:`S = -\sum_m [f_m \ln f_m + (1-f_m)\ln(1-f_m)]` (k_B = 1).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (...) float64, >= 0
    """
    _, f, _ = occupations(Q, model)
    return np.asarray((scipy.special.entr(f) + scipy.special.entr(1.0 - f)).sum(-1))


def free_energy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the electronic free energy whose gradient gives the Hellmann-Feynman force.

    Fixed mu (grand canonical):

    .. math:: \Omega = -T \sum_m \ln\big(1 + e^{-(\varepsilon_m - \mu)/T}\big) + g c \sum_i Q_i,

    fixed filling: :math:`F = \Omega + \mu N_e = \langle \mathcal{H}_e\rangle - T S`.
    At ``T = 0`` both reduce to the ground-state energy
    :math:`\sum_m f_m (\varepsilon_m - \mu) + [\mu N_e] + g c \sum_i Q_i`.
    In either ensemble :math:`-\partial/\partial Q_i = g (n_i - c)`
    (paper 003, eqs. 4 and 7).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (...) float64
        The free energy of each configuration, in units of the hopping.
    """
    eps, f, mu = occupations(Q, model)
    t = model.electrons.temperature
    x = eps - mu[..., None]
    if t > 0.0:
        omega = -t * np.logaddexp(0.0, -x / t).sum(-1)
    else:
        omega = (f * x).sum(-1)
    if model.electrons.fixed_filling:
        omega = omega + mu * model.n_electrons
    return np.asarray(omega + coupling_constant_energy(Q, model))


def electronic_force(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return the Hellmann-Feynman force :math:`F^{\rm elec}_i = g (n_i - c)`.

    Paper 003, eq. (7) (``c = 1/2``); paper 002, eq. (8) first term (``c = 0``).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (..., Lx, Ly) float64
        The electronic force on every lattice mode.
    """
    p = model.params
    return p.g * (densities(Q, model) - p.coupling.offset)


def total_force(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    r"""Return :math:`F_i = g(n_i - c) - k Q_i - \kappa \sum_j' Q_j`.

    Paper 002, eq. (8); paper 003, eq. (4); paper 004, eq. (16).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (..., Lx, Ly) float64
        The total (electronic plus elastic) force on every lattice mode.
    """
    return electronic_force(Q, model) + elastic_force(Q, model)


def densities_from_forces(
    Q: NDArray[np.float64], forces: NDArray[np.float64], model: HolsteinModel
) -> NDArray[np.float64]:
    r"""Return the densities behind total forces, :math:`n_i = (F_i - F^{\rm elastic}_i)/g + c`.

    The inverse of :func:`total_force`: the Hellmann-Feynman force is
    :math:`F_i = g (n_i - c) + F^{\rm elastic}_i` (paper 003, eqs. 4-7; paper 002, eq. 8),
    with :math:`F^{\rm elastic}` from :func:`reference.model.elastic_force` and ``c`` the
    coupling convention's offset. Exact for exact forces; for the forces of a trained
    model it is the density the model implies, which is how paper 003 (Sec. III, after
    eq. 10) obtains ``n_i`` from its force model. Round-off grows as ``1/g``.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Distortions at which ``forces`` were evaluated.
    forces : (..., Lx, Ly) float64
        Total forces, the shape of ``Q``.
    model : HolsteinModel
        ``model.params.g`` must be non-zero.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    q = model.lattice.check_field("Q", Q)
    f = model.lattice.check_field("forces", forces)
    if f.shape != q.shape:
        raise ValueError(f"forces must have the shape of Q {q.shape}, got {f.shape}")
    p = model.params
    if p.g == 0.0:
        raise ValueError(
            f"g must be non-zero to recover densities from forces (the electronic force "
            f"g (n - c) carries no density at g = 0), got g={p.g!r}"
        )
    return np.asarray((f - elastic_force(q, model)) / p.g + p.coupling.offset)


def total_energy(Q: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    """Return the adiabatic potential energy surface: :func:`free_energy` plus the elastic energy.

    ``total_force == -grad total_energy``; at ``T = 0`` this is paper 002's eq. (7).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).

    Returns
    -------
    (...) float64
        The potential energy of each configuration, in units of the hopping.
    """
    return np.asarray(free_energy(Q, model) + elastic_energy(Q, model))


@attrs.frozen
class ExactForceField:
    """Exact-diagonalisation forces of a :class:`~reference.model.HolsteinModel`.

    A conservative :class:`~reference.forcefield.ForceField`: ``forces`` is
    :func:`total_force`, ``energy`` is :func:`total_energy`.
    """

    model: HolsteinModel

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the total force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`total_force` of ``Q``.
        """
        return total_force(Q, self.model)

    def energy(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the adiabatic potential energy, shape ``(...)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (...) float64
            :func:`total_energy` of ``Q``.
        """
        return total_energy(Q, self.model)

    def densities(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the site densities, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`densities` of ``Q``, in [0, 1].
        """
        return densities(Q, self.model)


# --------------------------------------------------------------------------- local clusters


def cluster_offsets(r_c: float) -> NDArray[np.int64]:
    r"""Return the offsets :math:`\boldsymbol\delta` with :math:`|\boldsymbol\delta| \le r_c`,
    the centre first, then by distance.

    With ``r_c = 3.61`` these are the 45 sites of paper 003's descriptor neighbourhood.

    Parameters
    ----------
    r_c : float
        Cluster radius in lattice constants (>= 0; 0 gives the centre alone).

    Returns
    -------
    (m, 2) int64
    """
    r = check_non_negative("r_c", r_c)
    span = math.floor(r)
    pairs = [
        (dx, dy)
        for dx in range(-span, span + 1)
        for dy in range(-span, span + 1)
        if dx * dx + dy * dy <= r * r + 1e-9
    ]
    pairs.sort(key=lambda d: (d[0] ** 2 + d[1] ** 2, d[0], d[1]))
    return np.array(pairs, dtype=np.int64)


def cluster_tables(
    lattice: SquareLattice, r_c: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Return the lattice index of every cluster site and the cluster bonds.

    Site ``i``'s cluster holds the sites ``i + d`` for the offsets ``d`` of
    :func:`cluster_offsets`; its bonds are the offset pairs one lattice step apart with both
    sites inside the lattice (open edges cut the cluster).

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.
    r_c : float
        Cluster radius in lattice constants (>= 0); ``m = len(cluster_offsets(r_c))``.

    Returns
    -------
    idx : (N, m) int64
        Lattice index of cluster site ``a`` of site ``i`` (clipped where outside).
    bonds : (N, m, m) bool
        Whether cluster sites ``a`` and ``b`` of site ``i`` are nearest neighbours.
    """
    offsets = cluster_offsets(r_c)
    idx, inside = offset_table(lattice, offsets)
    step = np.abs(offsets[:, None, :] - offsets[None, :, :]).sum(-1) == 1
    return idx, step[None] & inside[:, :, None] & inside[:, None, :]


def _cluster_spectra(
    q: NDArray[np.float64], model: HolsteinModel, r_c: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return every cluster's levels and their centre weights, both ``(..., N, m)``.

    Level ``m`` of site ``i``'s cluster Hamiltonian has energy ``eps[..., i, m]`` and
    centre weight ``w[..., i, m] = |phi_{m, centre}|^2`` (``w.sum(-1) == 1``).
    """
    idx, bonds = cluster_tables(model.lattice, r_c)
    values = q.reshape(*q.shape[:-2], model.lattice.n_sites)[..., idx]  # (..., N, m)
    h = -model.params.hopping * bonds + (-model.params.g * values)[..., None] * np.eye(idx.shape[1])
    eps, vecs = np.linalg.eigh(h)
    return eps, vecs[..., 0, :] ** 2


_NEGLIGIBLE_WEIGHT = 1e-20
"""Cluster levels with a smaller centre weight hold none of the electron count (T = 0 rule).

They are the levels of sites cut off by an open edge (decoupled from the centre) and levels
with a node at the centre; only round-off gives them a weight, ~1e-32.
"""


_FILLING_TOL = 1e-10
"""Relative tolerance of the T = 0 cluster rule: a cumulative weight this close to ``f N``
ends exactly on a level."""


def _cluster_filling_at_zero_temperature(
    eps: NDArray[np.float64], w: NDArray[np.float64], n_electrons: float
) -> tuple[NDArray[np.float64], float]:
    """Return the occupations ``(N, m)`` and mu of one configuration's clusters at ``T = 0``.

    The weighted analogue of :func:`chemical_potential`'s rule; see
    :func:`cluster_chemical_potential`.
    """
    tol = _degeneracy_tol(np.sort(eps.ravel()))
    tol_count = _FILLING_TOL * max(1.0, n_electrons)
    keep = w.ravel() > _NEGLIGIBLE_WEIGHT
    order = np.argsort(eps.ravel()[keep], kind="stable")
    e, weight = eps.ravel()[keep][order], w.ravel()[keep][order]
    starts = [0, *(np.flatnonzero(np.diff(e) > tol) + 1)]
    stops = [*starts[1:], e.size]
    below = 0.0  # electrons in the levels under the current one
    for start, stop in zip(starts, stops, strict=True):
        level = float(weight[start:stop].sum())
        if below + level >= n_electrons - tol_count or stop == e.size:
            break
        below += level
    lo, hi = float(e[start]), float(e[stop - 1])
    if abs(below + level - n_electrons) <= tol_count and stop < e.size:
        mu, share = 0.5 * (hi + float(e[stop])), 1.0  # the count ends on a level: mid-gap
    else:
        mu, share = lo, (n_electrons - below) / level  # the Fermi level is partly filled
    return np.where(eps < lo, 1.0, np.where(eps <= hi, share, 0.0)), mu


def _cluster_filling(
    eps: NDArray[np.float64], w: NDArray[np.float64], n_electrons: float, temperature: float
) -> tuple[NDArray[np.float64], float]:
    """Return the occupations ``(N, m)`` and the global mu of one configuration's clusters."""
    t = _resolvable_temperature(np.sort(eps.ravel()), temperature)
    if t == 0.0:
        return _cluster_filling_at_zero_temperature(eps, w, n_electrons)

    def excess(mu: float) -> float:
        return float(np.sum(w * scipy.special.expit(-(eps - mu) / t)) - n_electrons)

    # As in chemical_potential: the bracket's ends have the right signs. xtol <= 1e-12 T
    # keeps the count's error below 1e-12 N / 4, since d(count)/d(mu) <= N / (4T).
    lo = float(eps.min()) - 40.0 * t - 1.0
    hi = float(eps.max()) + 40.0 * t + 1.0
    root = scipy.optimize.brentq(
        excess, lo, hi, xtol=min(1e-13, 1e-12 * t), rtol=1e-15, maxiter=500
    )
    mu = float(root)
    return fermi_dirac(eps, mu, t), mu


def cluster_chemical_potential(
    Q: NDArray[np.float64], model: HolsteinModel, r_c: float = 3.61
) -> NDArray[np.float64]:
    r"""Return the global chemical potential that gives the cluster-centre densities ``f N``
    electrons.

    Beyond the papers. At fixed filling the local-cluster densities of
    :func:`cluster_densities` share one :math:`\mu` per configuration, the root of

    .. math::

        \sum_i n^{C}_i(\mu) = \sum_i \sum_m w_{im}\, f(\varepsilon^{C_i}_m - \mu) = f N,
        \qquad w_{im} = |\phi^{C_i}_{m,i}|^2,\ \sum_m w_{im} = 1,

    which increases monotonically with :math:`\mu` (strictly at ``T > 0``), so the root is
    unique. Each cluster is diagonalised once; the root search reuses the levels.
    ``T > 0``: Brent's method on a bracket that surely holds the root, as in
    :func:`chemical_potential`. ``T = 0`` (or below what double precision resolves): the
    weighted form of :func:`chemical_potential`'s rule. The pairs
    :math:`(\varepsilon_{im}, w_{im})` are sorted by energy and grouped into levels
    (energies within ``1e-10`` of the bandwidth are one level; pairs of centre weight below
    ``1e-20`` carry no electrons and are left out); where the cumulative weight reaches
    :math:`fN`, :math:`\mu` is the midpoint of the gap to the next level when the count
    ends exactly on a level (to ``1e-10`` relative), otherwise that level's energy. These
    are the ``T -> 0+`` limits of the ``T > 0`` root.

    Why it is the papers' canonical ensemble: a perturbation beyond ``r_c`` barely changes
    :math:`n_i` at fixed :math:`\mu` (nearsightedness), so :math:`\sum_i n^{C}_i(\mu)` is
    the exact count :math:`\sum_m f(\varepsilon_m - \mu)` up to the local error of each
    site, and its root tends to the exact fixed-filling :math:`\mu` as ``r_c`` grows. On a
    large lattice one global :math:`\mu` per configuration is what the fixed filling of
    papers 002-004 (paper 003, eq. 8) amounts to; on an open lattice whose every site is
    within ``r_c`` of every other each cluster is the whole lattice and :math:`\mu` is the
    exact one.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        At fixed filling (``N_e = f N``); at fixed :math:`\mu` that :math:`\mu` is returned.
    r_c : float
        Cluster radius (>= 0).

    Returns
    -------
    (...) float64
        One chemical potential per configuration.
    """
    q = model.lattice.check_field("Q", Q)
    ens = model.electrons
    if ens.mu is not None:
        check_non_negative("r_c", r_c)
        return np.full(q.shape[:-2], float(ens.mu))
    eps, w = _cluster_spectra(q, model, r_c)
    n = model.lattice.n_sites
    flat_eps, flat_w = eps.reshape(-1, n, eps.shape[-1]), w.reshape(-1, n, w.shape[-1])
    mu = [
        _cluster_filling(e, weight, model.n_electrons, ens.temperature)[1]
        for e, weight in zip(flat_eps, flat_w, strict=True)
    ]
    return np.asarray(mu, dtype=np.float64).reshape(q.shape[:-2])


def cluster_densities(
    Q: NDArray[np.float64], model: HolsteinModel, r_c: float = 3.61
) -> NDArray[np.float64]:
    r"""Return the local-cluster approximation of the site densities.

    Each site :math:`i` sees only the cluster :math:`C_i` of sites within ``r_c`` of it
    (on the lattice unfolded around :math:`i`; sites beyond an open edge are left out).
    Its density is the centre element of the Fermi function of the cluster Hamiltonian,

    .. math::

        n_i \approx [f(h_{C_i})]_{ii} = \sum_m f(\varepsilon^{C_i}_m - \mu)\,
        |\phi^{C_i}_{m,i}|^2, \qquad
        (h_{C_i})_{ab} = -t_{ab} - g Q_a \delta_{ab},\ a, b \in C_i .

    Not in the papers: it is the training-free local model the papers' networks
    approximate. The exact densities at fixed :math:`\mu` are nearsighted (a
    perturbation beyond ``r_c`` barely reaches :math:`n_i`), so this converges to
    :func:`densities` as ``r_c`` grows, exponentially in ``r_c`` (measured in
    ``benchmarks/README.md``); on an open lattice whose every site is within ``r_c`` of
    every other it is exact. The cost is linear in the number of sites, one ``m x m``
    ``eigh`` per site.

    At fixed filling :math:`\mu` is one per configuration, from
    :func:`cluster_chemical_potential` (:math:`\sum_i n_i = fN`), and at ``T = 0`` the
    pairs of its Fermi level share the remaining electrons in proportion to their weight
    (the ``T -> 0+`` limit). At fixed :math:`\mu` every site is independent.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        At fixed chemical potential or at fixed filling.
    r_c : float
        Cluster radius (>= 0); ``r_c = 0`` is the atomic limit :math:`f(-gQ_i - \mu)`.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    q = model.lattice.check_field("Q", Q)
    ens = model.electrons
    eps, w = _cluster_spectra(q, model, r_c)
    if ens.mu is not None:
        n = np.sum(w * fermi_dirac(eps, ens.mu, ens.temperature), axis=-1)
        return np.asarray(n, dtype=np.float64).reshape(q.shape)
    flat_eps, flat_w = eps.reshape(-1, *eps.shape[-2:]), w.reshape(-1, *w.shape[-2:])
    n = np.stack(
        [
            np.sum(weight * _cluster_filling(e, weight, model.n_electrons, ens.temperature)[0], -1)
            for e, weight in zip(flat_eps, flat_w, strict=True)
        ]
    )
    return np.asarray(n, dtype=np.float64).reshape(q.shape)


def cluster_force(
    Q: NDArray[np.float64], model: HolsteinModel, r_c: float = 3.61
) -> NDArray[np.float64]:
    r"""Return :math:`g(n^{C}_i - c) - kQ_i - \kappa\sum_j' Q_j` with the local-cluster
    densities of :func:`cluster_densities`.

    At fixed :math:`\mu` or at fixed filling (one global :math:`\mu` per configuration,
    :func:`cluster_chemical_potential`).

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions on ``model.lattice`` (finite); leading axes are batch axes.
    model : HolsteinModel
        The model: lattice, parameters and electron ensemble (fixed mu or fixed filling).
    r_c : float
        Cluster radius in lattice constants (>= 0); see :func:`cluster_densities`.

    Returns
    -------
    (..., Lx, Ly) float64
        The total force on every lattice mode.
    """
    p = model.params
    n = cluster_densities(Q, model, r_c)
    return np.asarray(p.g * (n - p.coupling.offset) + elastic_force(Q, model), dtype=np.float64)


@attrs.frozen
class ClusterForceField:
    """The local-cluster forces of :func:`cluster_force` as a force provider.

    Like the papers' direct-force networks it is not conservative (no ``energy``): each
    site's force comes from its own cluster.
    """

    model: HolsteinModel
    r_c: float = 3.61

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: NDArray[np.float64]) -> NDArray[np.float64]:
        """Return the total force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : (..., Lx, Ly) float64
            Lattice distortions on ``self.lattice`` (finite); leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            :func:`cluster_force` of ``Q`` with radius ``self.r_c``.
        """
        return cluster_force(Q, self.model, self.r_c)


@attrs.frozen
class Relaxation:
    """Result of :func:`ground_state`.

    Attributes
    ----------
    Q : (Lx, Ly) float64
        The relaxed distortions.
    energy : float
        :func:`total_energy` at ``Q``.
    max_force : float
        ``max_i |F_i|`` at ``Q``.
    n_iterations : int
    """

    Q: NDArray[np.float64] = attrs.field(eq=False)
    energy: float
    max_force: float
    n_iterations: int


def _force_free_distortions(n: NDArray[np.float64], model: HolsteinModel) -> NDArray[np.float64]:
    """Return ``K^-1 g (n - c)``: the Q at which the force vanishes for fixed densities ``n``.

    ``K = k 1 + kappa A`` is the elastic stiffness matrix (``A`` the adjacency).
    """
    lat, p = model.lattice, model.params
    stiffness = p.k * np.eye(lat.n_sites) - p.kappa * hopping_matrix(lat, 1.0)
    q = np.linalg.solve(stiffness, p.g * (n - p.coupling.offset).ravel())
    return np.asarray(q, dtype=np.float64).reshape(lat.shape)


def _cdw_guess(model: HolsteinModel) -> NDArray[np.float64]:
    """Distortions in linear response to a perfect checkerboard at the model's filling."""
    fill = 0.5 if model.electrons.filling is None else float(model.electrons.filling)
    delta = min(fill, 1.0 - fill)
    return _force_free_distortions(fill + delta * sublattice_sign(model.lattice), model)


def ground_state(
    model: HolsteinModel,
    Q_init: NDArray[np.float64] | None = None,
    *,
    force_tol: float = 1e-8,
    max_iterations: int = 2000,
    seed: int | None = 0,
) -> Relaxation:
    """Return a force-free configuration, by default the checkerboard CDW of the model.

    Minimises :func:`total_energy` with L-BFGS (its gradient is minus
    :func:`total_force`), starting from ``Q_init`` or from the linear response of
    the lattice to a perfect checkerboard of the model's filling. A small random
    displacement (``1e-3``, from ``seed``) is added first: away from half
    filling the uniform checkerboard is a saddle point (the doped holes lower
    the energy by localising) and a symmetric start would never leave it.

    Parameters
    ----------
    model : HolsteinModel
        The model to relax; its filling (0.5 at fixed mu) sets the default start.
    Q_init : (Lx, Ly) float64, optional
        Starting distortions (finite, one configuration); default: the CDW guess above.
    force_tol : float
        Convergence when ``max_i |F_i| < force_tol`` (>= 0).
    max_iterations : int
        Iteration limit of L-BFGS, and separately of the self-consistency polish.
    seed : int or None
        Seed of the symmetry-breaking displacement.

    Returns
    -------
    Relaxation

    Raises
    ------
    RuntimeError
        If the force tolerance is not reached.
    """
    lat = model.lattice
    q0 = _cdw_guess(model) if Q_init is None else lat.check_field("Q_init", Q_init)
    if q0.shape != lat.shape:
        raise ValueError(f"Q_init must have shape {lat.shape}, got {q0.shape}")
    tol = check_non_negative("force_tol", force_tol)
    q0 = q0 + 1e-3 * np.random.default_rng(seed).standard_normal(q0.shape)

    def fun(x: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        q = x.reshape(lat.shape)
        return float(total_energy(q, model)), -total_force(q, model).ravel()

    res = scipy.optimize.minimize(
        fun,
        q0.ravel(),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": max_iterations, "gtol": 1e-7, "ftol": 0.0, "maxcor": 30},
    )
    q = np.asarray(res.x).reshape(lat.shape)
    # L-BFGS stalls once energy differences reach round-off; polish with the
    # self-consistency map Q <- K^-1 g (n(Q) - c), whose fixed points are the
    # force-free states, while it improves. One diagonalisation per trial Q
    # gives both its densities and its force.
    p = model.params

    def max_force_and_densities(q: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        n = densities(q, model)
        force = p.g * (n - p.coupling.offset) + elastic_force(q, model)
        return float(np.abs(force).max()), n

    max_force, n = max_force_and_densities(q)
    n_polish = 0
    while max_force > tol and n_polish < max_iterations:
        n_polish += 1
        target = _force_free_distortions(n, model)
        for mixing in (1.0, 0.5, 0.25, 0.125):  # damp the step if the full one overshoots
            trial = q + mixing * (target - q)
            trial_force, trial_n = max_force_and_densities(trial)
            if trial_force < max_force:
                break
        else:
            break
        q, max_force, n = trial, trial_force, trial_n
    if max_force > tol:
        raise RuntimeError(
            f"ground_state did not converge: max |F| = {max_force:.3e} > force_tol = {tol:.1e} "
            f"after {res.nit} L-BFGS and {n_polish} self-consistency iterations"
        )
    return Relaxation(q, float(total_energy(q, model)), max_force, int(res.nit) + n_polish)
