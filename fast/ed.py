"""Exact diagonalisation on tensors: batched eigh, vectorised filling, forces and energies.

Twin of :mod:`reference.ed`. A batch of configurations ``(..., Lx, Ly)`` is
diagonalised together (:func:`eigh`: one ``torch.linalg.eigh`` call on a GPU, LAPACK
over worker threads on CPU); the chemical potential at fixed
filling is found for the whole batch at once by bisection on a bracket that
always holds the root (to ``1e-14`` absolute), and degenerate levels share their
mean occupation exactly as in the reference, so the two agree to ~1e-12. The global
chemical potential of the local clusters at fixed filling is a safeguarded Newton
iteration over all configurations at once (:func:`cluster_chemical_potential`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator

import torch

from fast import _lapack
from fast._tensor import Tensor, as_tensor, delegate, device_of
from fast.lattice import _field
from fast.model import coupling_constant_energy, elastic_energy, elastic_force, hamiltonian
from reference import ed as _ref
from reference.ed import Relaxation
from reference.lattice import SquareLattice
from reference.model import HolsteinModel
from reference.validation import check_non_negative

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

ground_state = delegate(_ref.ground_state)
cluster_offsets = _ref.cluster_offsets  # a constant table: computed once, shared


def fermi_dirac(energy: Tensor, mu: Tensor | float, temperature: float) -> Tensor:
    r"""Return :math:`1/(e^{(\varepsilon - \mu)/T} + 1)` (a step at ``T = 0``).

    Parameters
    ----------
    energy : Tensor, shape (...)
        Single-particle energies; converted to float64.
    mu : Tensor or float
        Chemical potential, broadcast against ``energy`` (e.g. shape ``(..., 1)``).
    temperature : float
        ``k_B T`` (>= 0), in units of the hopping; at 0 the step is ``1, 1/2, 0``.

    Returns
    -------
    Tensor, shape (...), float64
        Occupations in ``[0, 1]`` on ``energy``'s device.
    """
    e = as_tensor("energy", energy)
    m = as_tensor("mu", mu, device=e.device)
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0.0:
        return torch.where(e < m, 1.0, torch.where(e > m, 0.0, 0.5)).to(e.dtype)
    return torch.sigmoid(-(e - m) / temperature)


def eigh(h: Tensor) -> tuple[Tensor, Tensor]:
    """Batched Hermitian eigendecomposition of ``h`` ``(..., n, n)``: levels ascending.

    On accelerators (or when gradients are needed) this is one ``torch.linalg.eigh``
    call. On CPU the LAPACK and the thread layout are chosen by what was measured fastest
    (:mod:`fast._lapack`; ``benchmarks/README.md``, "Exact diagonalisation on CPU"): a
    stack below order 1000 is split over ``torch.get_num_threads()`` worker threads with
    single-threaded LAPACK, complex matrices from order 400 go to torch's MKL. Every
    choice is a full ``syevd``/``heevd`` of each matrix, so it is one of speed only.

    Parameters
    ----------
    h : Tensor, shape (..., n, n)
        Real symmetric or complex Hermitian matrices.

    Returns
    -------
    energies : Tensor, shape (..., n)
        Real eigenvalues, ascending.
    vectors : Tensor, shape (..., n, n)
        Column ``m`` is the eigenvector of level ``m``; dtype of ``h``.
    """
    return _lapack.eigh(h)


def eigensystem(Q: Tensor, model: HolsteinModel) -> tuple[Tensor, Tensor]:
    r"""Return the levels ``(..., N)`` and eigenvectors ``(..., N, N)`` of h(Q).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    energies : Tensor, shape (..., N), float64
        Ascending.
    vectors : Tensor, shape (..., N, N), float64
        Column ``m`` is :math:`\phi^{(m)}`, indexed by site ``i = x * Ly + y``.
    """
    return eigh(hamiltonian(Q, model))


def _tolerance(eps: Tensor) -> Tensor:
    return _DEGENERACY_TOL * torch.clamp(eps[..., -1] - eps[..., 0], min=1.0)


def chemical_potential(energies: Tensor, n_electrons: float, temperature: float) -> Tensor:
    r"""Return the chemical potential putting ``n_electrons`` into each row of ``energies``.

    Batched over leading axes. ``T > 0``: bisection of :math:`\sum_m f(\varepsilon_m - \mu) = N_e`
    on :math:`[\varepsilon_0 - 40T - 1, \varepsilon_{N-1} + 40T + 1]`. ``T = 0`` (or below
    what double precision resolves): mid-gap, or the energy of a partially filled level.

    Parameters
    ----------
    energies : Tensor, shape (..., N)
        Single-particle levels, one row per configuration (need not be sorted).
    n_electrons : float
        Electron count, in ``(0, N)``.
    temperature : float
        ``k_B T`` (>= 0).

    Returns
    -------
    Tensor, shape (...), float64
        One chemical potential per row (the reference takes one row and returns a float).
    """
    eps, _ = torch.sort(as_tensor("energies", energies), dim=-1)
    n_levels = eps.shape[-1]
    if not 0.0 < n_electrons < n_levels:
        raise ValueError(f"n_electrons must lie in (0, {n_levels}), got {n_electrons!r}")
    if temperature < 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    tol = _tolerance(eps)
    zero_t = temperature < 1e-3 * tol
    mu0 = _zero_temperature_mu(eps, n_electrons, tol)
    if bool(zero_t.all()) or temperature == 0.0:
        return mu0
    lo = eps[..., 0] - 40.0 * temperature - 1.0
    hi = eps[..., -1] + 40.0 * temperature + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        excess = torch.sigmoid(-(eps - mid[..., None]) / temperature).sum(-1) - n_electrons
        lo = torch.where(excess < 0, mid, lo)
        hi = torch.where(excess < 0, hi, mid)
        if bool(((hi - lo) <= 1e-14 * torch.clamp(hi.abs(), min=1.0)).all()):
            break
    return torch.where(zero_t, mu0, 0.5 * (lo + hi))


def _zero_temperature_mu(eps: Tensor, n_electrons: float, tol: Tensor) -> Tensor:
    n_full = math.floor(n_electrons + 1e-12)
    n_levels = eps.shape[-1]
    if abs(n_electrons - n_full) > 1e-12 or n_full == 0:
        return eps[..., min(n_full, n_levels - 1)]
    lo, hi = eps[..., n_full - 1], eps[..., n_full]
    return torch.where(hi - lo <= tol, lo, 0.5 * (lo + hi))


def _share_degenerate(eps: Tensor, f: Tensor) -> Tensor:
    """Give every level of a degenerate cluster (gaps <= tol) its cluster's mean occupation."""
    tol = _tolerance(eps)
    starts = torch.ones_like(eps, dtype=torch.bool)
    starts[..., 1:] = (eps[..., 1:] - eps[..., :-1]) > tol[..., None]
    cluster = torch.cumsum(starts.to(torch.int64), dim=-1) - 1  # (..., N)
    flat_c = cluster.reshape(-1, eps.shape[-1])
    flat_f = f.reshape(-1, eps.shape[-1])
    sums = torch.zeros_like(flat_f).scatter_add_(1, flat_c, flat_f)
    counts = torch.zeros_like(flat_f).scatter_add_(1, flat_c, torch.ones_like(flat_f))
    mean = sums / torch.clamp(counts, min=1.0)
    return torch.gather(mean, 1, flat_c).reshape(f.shape)


def _fill(eps: Tensor, model: HolsteinModel) -> tuple[Tensor, Tensor]:
    ens = model.electrons
    t = ens.temperature
    tol = _tolerance(eps)
    if ens.mu is not None:
        mu = torch.full(eps.shape[:-1], float(ens.mu), dtype=eps.dtype, device=eps.device)
        return _share_degenerate(eps, fermi_dirac(eps, mu[..., None], t)), mu
    n_e = model.n_electrons
    mu = chemical_potential(eps, n_e, t)
    resolvable = t >= 1e-3 * tol  # (...)
    f_t = (
        _share_degenerate(eps, fermi_dirac(eps, mu[..., None], t))
        if t > 0
        else torch.zeros_like(eps)
    )
    # T = 0 filling: full below the Fermi shell, the shell shares the rest equally
    below = (eps < (mu - tol)[..., None]).to(eps.dtype)
    shell = (eps - mu[..., None]).abs() <= tol[..., None]
    remaining = n_e - below.sum(-1)
    n_shell = shell.sum(-1).clamp(min=1).to(eps.dtype)
    f0 = torch.where(shell, (remaining / n_shell)[..., None], below)
    return torch.where(resolvable[..., None], f_t, f0), mu


def occupations(Q: Tensor, model: HolsteinModel) -> tuple[Tensor, Tensor, Tensor]:
    """Return the levels ``(..., N)``, their occupations ``(..., N)`` and mu ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    energies : Tensor, shape (..., N), float64
        Ascending levels of h(Q).
    occ : Tensor, shape (..., N), float64
        In ``[0, 1]``; at fixed filling each row sums to ``filling * N``.
    mu : Tensor, shape (...), float64
        The chemical potential (the model's own at fixed mu).
    """
    eps, _ = eigensystem(Q, model)
    f, mu = _fill(eps, model)
    return eps, f, mu


def densities(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`n_i = \sum_m f_m |\phi^{(m)}_i|^2`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
        Site densities in ``[0, 1]``.
    """
    q = _field("Q", Q, model.lattice)
    eps, vecs = eigensystem(q, model)
    f, _ = _fill(eps, model)
    n = torch.einsum("...im,...m->...i", vecs * vecs, f)
    return n.reshape(q.shape)


def electronic_energy(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`\sum_m f_m\varepsilon_m + gc\sum_i Q_i`, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (...), float64
    """
    eps, f, _ = occupations(Q, model)
    return (f * eps).sum(-1) + coupling_constant_energy(Q, model)


def _entr(x: Tensor) -> Tensor:
    return torch.where(x > 0, -x * torch.log(torch.where(x > 0, x, 1.0)), torch.zeros_like(x))


def electronic_entropy(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`-\sum_m[f_m\ln f_m + (1-f_m)\ln(1-f_m)]`, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (...), float64
        Dimensionless (``k_B = 1``), >= 0.
    """
    _, f, _ = occupations(Q, model)
    return (_entr(f) + _entr(1.0 - f)).sum(-1)


def free_energy(Q: Tensor, model: HolsteinModel) -> Tensor:
    """Return the electronic free energy whose negative gradient is the force, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (...), float64
        Grand potential at fixed mu, Helmholtz free energy at fixed filling.
    """
    eps, f, mu = occupations(Q, model)
    t = model.electrons.temperature
    x = eps - mu[..., None]
    if t > 0.0:
        omega = -t * torch.logaddexp(torch.zeros_like(x), -x / t).sum(-1)
    else:
        omega = (f * x).sum(-1)
    if model.electrons.fixed_filling:
        omega = omega + mu * model.n_electrons
    return omega + coupling_constant_energy(Q, model)


def electronic_force(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`g(n_i - c)`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    p = model.params
    return p.g * (densities(Q, model) - p.coupling.offset)


def total_force(Q: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`g(n_i - c) - kQ_i - \kappa\sum_j' Q_j`, shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    return electronic_force(Q, model) + elastic_force(Q, model)


def densities_from_forces(Q: Tensor, forces: Tensor, model: HolsteinModel) -> Tensor:
    r"""Return :math:`n_i = (F_i - F^{\rm elastic}_i)/g + c`, the densities behind total forces,
    shape ``(..., Lx, Ly)`` (inverse of :func:`total_force`; paper 003, eqs. 4-7).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions at which ``forces`` were evaluated.
    forces : Tensor, shape (..., Lx, Ly)
        Total forces, the shape of ``Q``.
    model : HolsteinModel
        ``model.params.g`` must be non-zero (``ValueError`` otherwise).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        On the device of the first tensor among ``Q`` and ``forces``.
    """
    device = device_of(Q, forces)
    q = _field("Q", Q, model.lattice).to(device)
    f = _field("forces", forces, model.lattice).to(device)
    if f.shape != q.shape:
        raise ValueError(f"forces must have the shape of Q {tuple(q.shape)}, got {tuple(f.shape)}")
    p = model.params
    if p.g == 0.0:
        raise ValueError(
            f"g must be non-zero to recover densities from forces (the electronic force "
            f"g (n - c) carries no density at g = 0), got g={p.g!r}"
        )
    return (f - elastic_force(q, model)) / p.g + p.coupling.offset


def total_energy(Q: Tensor, model: HolsteinModel) -> Tensor:
    """Return :func:`free_energy` plus the elastic energy, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).

    Returns
    -------
    Tensor, shape (...), float64
        The adiabatic potential energy; ``total_force == -grad total_energy``.
    """
    return free_energy(Q, model) + elastic_energy(Q, model)


class ExactForceField:
    """Batched exact-diagonalisation forces as a conservative force provider on tensors."""

    def __init__(self, model: HolsteinModel) -> None:
        self.model = model

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: Tensor) -> Tensor:
        """The total force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly), float64
            :func:`total_force`.
        """
        return total_force(Q, self.model)

    def energy(self, Q: Tensor) -> Tensor:
        """The adiabatic potential energy, shape ``(...)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (...), float64
            :func:`total_energy`.
        """
        return total_energy(Q, self.model)

    def densities(self, Q: Tensor) -> Tensor:
        """The site densities, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly), float64
            :func:`densities`.
        """
        return densities(Q, self.model)


# --------------------------------------------------------------------------- local clusters


cluster_tables = functools.lru_cache(maxsize=16)(_ref.cluster_tables)


def _cluster_chunks(
    q: Tensor, model: HolsteinModel, r_c: float
) -> Iterator[tuple[slice, Tensor, Tensor]]:
    """Yield ``(sites, eps, w)`` for blocks of sites of every configuration: the levels
    ``(B, n, m)`` of each site's cluster Hamiltonian and their centre weights ``(B, n, m)``.

    All clusters of a block of sites are diagonalised as one batch, ``chunk`` sites at a
    time (a 45-site cluster is 16 kB, so memory stays bounded on any lattice).
    """
    idx_np, bonds_np = cluster_tables(model.lattice, float(r_c))
    m = idx_np.shape[1]
    flat = q.reshape(-1, model.lattice.n_sites)
    p = model.params
    eye = torch.eye(m, dtype=q.dtype, device=q.device)
    chunk = max(1, _CLUSTER_CHUNK // m**2)
    for start in range(0, model.lattice.n_sites, chunk):
        sites = slice(start, start + chunk)
        idx = torch.as_tensor(idx_np[sites], device=q.device)
        bonds = torch.as_tensor(bonds_np[sites], dtype=q.dtype, device=q.device)
        values = flat[:, idx]  # (B, n, m)
        h = -p.hopping * bonds + (-p.g * values)[..., None] * eye
        eps, vecs = eigh(h)
        yield sites, eps, vecs[..., 0, :] ** 2


_CLUSTER_CHUNK = 1 << 22
"""Matrix elements per ``eigh`` batch of :func:`cluster_densities` (32 MB in float64)."""


def _cluster_spectra(q: Tensor, model: HolsteinModel, r_c: float) -> tuple[Tensor, Tensor]:
    """Return every cluster's levels and centre weights, both ``(B, N * m)``."""
    m = cluster_tables(model.lattice, float(r_c))[0].shape[1]
    batch = math.prod(q.shape[:-2])
    eps = torch.empty(batch, model.lattice.n_sites, m, dtype=q.dtype, device=q.device)
    w = torch.empty_like(eps)
    for sites, e, weight in _cluster_chunks(q, model, r_c):
        eps[:, sites], w[:, sites] = e, weight
    return eps.reshape(batch, -1), w.reshape(batch, -1)


_NEGLIGIBLE_WEIGHT = 1e-20
"""Cluster pairs of smaller centre weight hold none of the count at T = 0 (as in reference)."""
_FILLING_TOL = 1e-10
"""A T = 0 cumulative weight within this fraction of ``f N`` ends exactly on a level."""
_COUNT_RTOL = 1e-12
"""Newton stops when the electron count is within this fraction of ``f N``."""
_MAX_ITERATIONS = 200
"""Far more than needed: every step that is not Newton's halves the bracket."""


def _weighted_mu(eps: Tensor, w: Tensor, n_electrons: float, temperature: float) -> Tensor:
    r"""Return the root of :math:`\sum w f(\varepsilon - \mu) = N_e` for each row ``(B, P)``.

    Safeguarded Newton (derivative :math:`\sum w f (1 - f) / T`) on the bracket
    :math:`[\varepsilon_{\min} - 40T - 1, \varepsilon_{\max} + 40T + 1]`, kept around the
    root at every step; a bisection replaces a Newton step that would leave the bracket or
    that comes after a step which did not halve the excess.
    """
    t = temperature
    lo = eps.amin(-1) - 40.0 * t - 1.0
    hi = eps.amax(-1) + 40.0 * t + 1.0
    mu = 0.5 * (lo + hi)
    previous = torch.full_like(mu, math.inf)
    for _ in range(_MAX_ITERATIONS):
        f = torch.sigmoid((mu[:, None] - eps) / t)
        weighted = w * f
        excess = weighted.sum(-1) - n_electrons
        done = (excess.abs() <= _COUNT_RTOL * n_electrons) | (
            hi - lo <= 4e-16 * torch.clamp(mu.abs(), min=1.0)
        )
        if bool(done.all()):
            break
        lo = torch.where(excess < 0, mu, lo)
        hi = torch.where(excess > 0, mu, hi)
        slope = (weighted * (1.0 - f)).sum(-1) / t
        newton = mu - excess / slope
        inside = (newton > lo) & (newton < hi) & (excess.abs() <= 0.5 * previous)
        previous = excess.abs()
        mu = torch.where(done, mu, torch.where(inside, newton, 0.5 * (lo + hi)))
    return mu


def _zero_temperature_cluster_filling(
    eps: Tensor, w: Tensor, n_electrons: float, tol: Tensor
) -> tuple[Tensor, Tensor]:
    """The ``T = 0`` rule of :func:`reference.ed.cluster_chemical_potential` on rows ``(B, P)``:
    occupations ``(B, P)`` and mu ``(B,)``."""
    tol_count = _FILLING_TOL * max(1.0, n_electrons)
    # pairs without weight go to the top as +inf: they take no part in the count
    key = torch.where(w > _NEGLIGIBLE_WEIGHT, eps, math.inf)
    e, order = torch.sort(key, dim=-1, stable=True)
    weight = torch.gather(w, -1, order)
    n_pairs = e.shape[-1]
    n_kept = (w > _NEGLIGIBLE_WEIGHT).sum(-1)  # (B,)
    position = torch.arange(n_pairs, device=e.device)
    new_level = torch.ones_like(e, dtype=torch.bool)
    new_level[:, 1:] = (e[:, 1:] - e[:, :-1]) > tol[:, None]
    level_end = torch.ones_like(new_level)
    level_end[:, :-1] = new_level[:, 1:]
    cumulative = torch.cumsum(torch.where(position < n_kept[:, None], weight, 0.0), -1)
    last = (n_kept - 1)[:, None]
    reached = (level_end & (cumulative >= n_electrons - tol_count)) | (position == last)
    end = torch.argmax((reached & (position <= last)).to(torch.int8), -1, keepdim=True)
    start = torch.where(new_level & (position <= end), position, 0).amax(-1, keepdim=True)
    total = torch.gather(cumulative, -1, end)
    below = torch.where(
        start > 0, torch.gather(cumulative, -1, (start - 1).clamp(min=0)), torch.zeros_like(total)
    )
    lo, hi = torch.gather(e, -1, start), torch.gather(e, -1, end)
    following = torch.gather(e, -1, torch.minimum(end + 1, last))
    on_level = ((total - n_electrons).abs() <= tol_count) & (end < last)
    mu = torch.where(on_level, 0.5 * (hi + following), lo)
    share = torch.where(
        on_level, 1.0, (n_electrons - below) / torch.where(on_level, 1.0, total - below)
    )
    occ = torch.where(eps < lo, 1.0, torch.where(eps <= hi, share, 0.0))
    return occ.to(eps.dtype), mu[:, 0]


def _cluster_filling(
    eps: Tensor, w: Tensor, n_electrons: float, temperature: float
) -> tuple[Tensor, Tensor]:
    """Return the occupations ``(B, P)`` and the global mu ``(B,)`` of rows of cluster pairs."""
    tol = _DEGENERACY_TOL * torch.clamp(eps.amax(-1) - eps.amin(-1), min=1.0)
    zero_t = temperature < 1e-3 * tol
    if temperature == 0.0 or bool(zero_t.all()):
        return _zero_temperature_cluster_filling(eps, w, n_electrons, tol)
    mu = _weighted_mu(eps, w, n_electrons, temperature)
    occ = torch.sigmoid((mu[:, None] - eps) / temperature)
    if bool(zero_t.any()):
        occ0, mu0 = _zero_temperature_cluster_filling(eps, w, n_electrons, tol)
        occ = torch.where(zero_t[:, None], occ0, occ)
        mu = torch.where(zero_t, mu0, mu)
    return occ, mu


def cluster_chemical_potential(Q: Tensor, model: HolsteinModel, r_c: float = 3.61) -> Tensor:
    r"""Global :math:`\mu` per configuration with :math:`\sum_i n^C_i = fN`, shape ``(...)``.

    See :func:`reference.ed.cluster_chemical_potential`. ``T > 0``: a safeguarded Newton
    iteration vectorised over configurations, to ``1e-12`` of ``f N`` in the count.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).
    r_c : float
        Cluster radius in lattice constants (>= 0); ``r_c = 0`` is the atomic limit.

    Returns
    -------
    Tensor, shape (...), float64
        The model's own :math:`\mu` when it is fixed.
    """
    q = _field("Q", Q, model.lattice)
    ens = model.electrons
    if ens.mu is not None:
        check_non_negative("r_c", r_c)
        return torch.full(q.shape[:-2], float(ens.mu), dtype=q.dtype, device=q.device)
    eps, w = _cluster_spectra(q, model, r_c)
    _, mu = _cluster_filling(eps, w, model.n_electrons, ens.temperature)
    return mu.reshape(q.shape[:-2])


def cluster_densities(Q: Tensor, model: HolsteinModel, r_c: float = 3.61) -> Tensor:
    r"""Local-cluster densities :math:`n_i \approx [f(h_{C_i})]_{ii}`, ``(..., Lx, Ly)``.

    See :func:`reference.ed.cluster_densities`. All clusters of all configurations are
    diagonalised as one batch, ``chunk`` sites at a time (a 45-site cluster is 16 kB, so
    memory stays bounded on any lattice). At fixed filling the levels and weights of every
    cluster are kept (``16 N m`` bytes per configuration) for the global :math:`\mu` of
    :func:`cluster_chemical_potential`.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).
    r_c : float
        Cluster radius in lattice constants (>= 0); ``r_c = 0`` is the atomic limit.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    q = _field("Q", Q, model.lattice)
    ens = model.electrons
    lead = q.shape[:-2]
    if ens.mu is None:
        eps, w = _cluster_spectra(q, model, r_c)
        occ, _ = _cluster_filling(eps, w, model.n_electrons, ens.temperature)
        n = (w * occ).reshape(*w.shape[:1], model.lattice.n_sites, -1).sum(-1)
        return n.reshape(*lead, *model.lattice.shape)
    out = torch.empty_like(q.reshape(-1, model.lattice.n_sites))
    for sites, eps, w in _cluster_chunks(q, model, r_c):
        out[:, sites] = (w * fermi_dirac(eps, float(ens.mu), ens.temperature)).sum(-1)
    return out.reshape(*lead, *model.lattice.shape)


def cluster_force(Q: Tensor, model: HolsteinModel, r_c: float = 3.61) -> Tensor:
    r"""Return :math:`g(n^{C}_i - c) - kQ_i - \kappa\sum_j' Q_j` (local-cluster densities).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Distortions (any real float dtype; arrays work too).
    model : HolsteinModel
        Lattice, parameters and electron ensemble (fixed mu or fixed filling, temperature).
    r_c : float
        Cluster radius in lattice constants (>= 0); ``r_c = 0`` is the atomic limit.

    Returns
    -------
    Tensor, shape (..., Lx, Ly), float64
    """
    p = model.params
    q = _field("Q", Q, model.lattice)
    return p.g * (cluster_densities(q, model, r_c) - p.coupling.offset) + elastic_force(q, model)


class ClusterForceField:
    """Local-cluster forces (:func:`cluster_force`) as a force provider on tensors."""

    def __init__(self, model: HolsteinModel, r_c: float = 3.61) -> None:
        self.model = model
        self.r_c = r_c

    @property
    def lattice(self) -> SquareLattice:
        """The lattice the force field acts on."""
        return self.model.lattice

    def forces(self, Q: Tensor) -> Tensor:
        """The total force, shape ``(..., Lx, Ly)``.

        Parameters
        ----------
        Q : Tensor, shape (..., Lx, Ly)
            Distortions.

        Returns
        -------
        Tensor, shape (..., Lx, Ly), float64
            :func:`cluster_force` at the field's ``r_c``.
        """
        return cluster_force(Q, self.model, self.r_c)
