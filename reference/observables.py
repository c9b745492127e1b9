r"""Observables of CDW ordering: order parameters, structure factor, domain length, growth law.

The checkerboard charge-density wave (CDW) of the half-filled Holstein model
(paper 003, eq. 11)

.. math::

    n_i = \tfrac{1}{2}\,[1 + \delta\, e^{i \mathbf{K}\cdot\mathbf{r}_i}],
    \qquad \mathbf{K} = (\pi, \pi), \quad e^{i \mathbf{K}\cdot\mathbf{r}_i} = (-1)^{x_i + y_i},

breaks a Z2 (sublattice) symmetry. After a quench, domains of ``+delta`` and
``-delta`` coarsen; this module measures that process the way the papers do:

* global order: :func:`staggered_order`, the Fourier component
  ``Q(pi, pi)`` (paper 000, eq. 13; its ensemble average of ``|.|`` is O(t));
* local order: :func:`local_cdw_order` ``phi_i`` from the densities (paper 003,
  eq. 12; paper 002, eq. 24) and :func:`local_lattice_order` ``zeta_i`` from the
  distortions (paper 000, eq. 32);
* reciprocal space: :func:`structure_factor` ``S(k)`` (paper 003, eqs. 13-14),
  the domain length :func:`domain_length_from_structure_factor` (paper 003,
  eq. 15), the radial profile :func:`radial_structure_factor` and the dynamical
  scaling variables :func:`scaling_collapse` (paper 003, eq. 16);
* real space: :func:`correlation_map` ``C(r)`` of ``phi`` (paper 002, eq. 26),
  :func:`radial_average`, the half-maximum length
  :func:`domain_length_from_correlation`, and the lattice correlation
  :func:`equal_time_correlation` ``C_ij = <Q_i Q_j>`` (paper 003, Fig. 3);
* growth law: :func:`fit_growth_exponent`, ``L(t) ~ A t^alpha`` (paper 003,
  eq. 17; paper 002, eq. 28).

Conventions
-----------
* Fields have shape ``(..., Lx, Ly)``; leading axes are batch axes. Every
  function works per configuration; ensemble averages (of ``S(k)``, of
  ``C(r)``, of ``|Q(pi, pi)|``) are left to the caller, who averages the
  per-configuration arrays over the batch axis.
* Momenta are ``k = 2 pi m / L``, ``m = 0..L-1``, so ``S[..., a, b]`` has the
  index layout of :func:`numpy.fft.fft2`. The Fourier-space and displacement
  functions need a lattice periodic along both axes.
* ``|k - K|`` is measured with each component of ``k - K`` wrapped into
  ``[-pi, pi)``: the distance to the nearest periodic image of the peak.
* Distances are grouped into shells when they agree to within ``1e-9``.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.lattice import SquareLattice, neighbour_sum, pair_distances, sublattice_sign
from reference.validation import check_array, check_finite_scalar

__all__ = [
    "GrowthFit",
    "correlation_map",
    "domain_length_from_correlation",
    "domain_length_from_structure_factor",
    "domain_wall_position",
    "ensemble_order_parameter",
    "equal_time_correlation",
    "fit_growth_exponent",
    "local_cdw_order",
    "local_lattice_order",
    "metallic_fraction",
    "momentum_grid",
    "radial_average",
    "radial_structure_factor",
    "scaling_collapse",
    "spatial_fluctuation",
    "staggered_order",
    "structure_factor",
]

_SHELL_TOLERANCE = 1e-9
"""Distances closer than this belong to the same shell (radial averages)."""

_UNIFORM_TOLERANCE = 1e-20
"""A field whose variance is below this fraction of its mean square counts as uniform."""


def _require_periodic(lattice: SquareLattice, function: str) -> None:
    if not (lattice.periodic_x and lattice.periodic_y):
        raise ValueError(
            f"lattice must be periodic along both axes for {function} (it uses lattice momenta "
            f"or displacements modulo L), got {lattice}"
        )


def _wrap_to_pi(angle: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return ``angle`` wrapped into ``[-pi, pi)``."""
    return np.asarray((angle + np.pi) % (2 * np.pi) - np.pi, dtype=np.float64)


def _distance_from_ordering_vector(lattice: SquareLattice) -> NDArray[np.float64]:
    """Return ``|k - K|`` with each component wrapped into ``[-pi, pi)``, shape ``(Lx, Ly)``."""
    kx, ky = momentum_grid(lattice)
    return np.asarray(np.hypot(_wrap_to_pi(kx - np.pi), _wrap_to_pi(ky - np.pi)), dtype=np.float64)


def _displacement_lengths(lattice: SquareLattice) -> NDArray[np.float64]:
    """Return the minimum-image length of displacement ``(dx, dy)`` at index ``[dx, dy]``."""
    dx = (np.arange(lattice.Lx) + lattice.Lx // 2) % lattice.Lx - lattice.Lx // 2
    dy = (np.arange(lattice.Ly) + lattice.Ly // 2) % lattice.Ly - lattice.Ly // 2
    return np.asarray(np.hypot(dx[:, None], dy[None, :]), dtype=np.float64)


def _shell_average(
    values: NDArray[np.float64], distances: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Average ``values[..., j]`` over the entries ``j`` that share a distance ``distances[j]``.

    Returns the distinct distances, sorted ascending, and the averages ``(..., n_shells)``.
    """
    order = np.argsort(distances, kind="stable")
    d = distances[order]
    new_shell = np.concatenate(([True], np.diff(d) > _SHELL_TOLERANCE))
    starts = np.flatnonzero(new_shell)
    counts = np.diff(np.append(starts, d.size))
    centres = np.add.reduceat(d, starts) / counts
    sums = np.add.reduceat(values[..., order], starts, axis=-1)
    return np.asarray(centres, dtype=np.float64), np.asarray(sums / counts, dtype=np.float64)


def staggered_order(Q: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the staggered (checkerboard) order parameter :math:`Q_{\pi,\pi}`.

    .. math::

        Q_{\pi,\pi} = \frac{1}{N} \sum_i Q_i\, e^{i \mathbf{K}\cdot\mathbf{r}_i}
                    = \frac{1}{N} \sum_i Q_i\, (-1)^{x_i + y_i},

    the Fourier component of the distortions at ``K = (pi, pi)`` (paper 000,
    text above eq. 13; paper 003, eq. 11 for the checkerboard). It is real
    because the phase is ``+-1``. Paper 000, eq. (13), defines the ensemble
    average ``O(t) = mean_alpha |Q_pi,pi^alpha(t)|``, i.e.
    ``np.abs(staggered_order(Q, lattice)).mean(axis=0)`` for an ensemble
    on the first axis. The same formula applies to densities.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions (or any field).
    lattice : SquareLattice

    Returns
    -------
    (...) float64
        ``A`` for the perfect checkerboard ``Q_i = A (-1)^(x+y)``.

    Examples
    --------
    >>> from reference.lattice import SquareLattice, sublattice_sign
    >>> lat = SquareLattice(4, 4)
    >>> float(staggered_order(0.7 * sublattice_sign(lat), lat))
    0.7
    """
    q = lattice.check_field("Q", Q)
    return np.asarray(np.mean(q * sublattice_sign(lattice), axis=(-2, -1)), dtype=np.float64)


def local_cdw_order(n: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the local CDW order parameter :math:`\phi_i` of the densities.

    .. math::

        \phi_i = \Big(n_i - \frac{1}{4} \sum_{j}{}' n_j\Big)\, e^{i \mathbf{K}\cdot\mathbf{r}_i},

    with the primed sum over the nearest neighbours of ``i`` (paper 003,
    eq. 12; paper 002, eq. 24; paper 004, eq. 18). For the CDW of paper 003,
    eq. (11), ``phi_i = delta`` on every site.

    On an open edge a site has fewer than four neighbours; there the factor
    ``1/4`` is replaced by ``1/z_i`` with ``z_i`` the number of neighbours that
    exist, i.e. ``n_i`` minus the *mean* of its neighbours, so that a perfect
    checkerboard still gives a uniform ``phi``. In the bulk and on periodic
    lattices this is exactly the paper's ``1/4`` sum.

    Parameters
    ----------
    n : (..., Lx, Ly) float64
        Site densities.
    lattice : SquareLattice

    Returns
    -------
    (..., Lx, Ly) float64
    """
    density = lattice.check_field("n", n)
    coordination = neighbour_sum(np.ones(lattice.shape), lattice)
    neighbour_mean = neighbour_sum(density, lattice) / coordination
    return np.asarray((density - neighbour_mean) * sublattice_sign(lattice), dtype=np.float64)


def local_lattice_order(
    Q: NDArray[np.float64], Q0: float, lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return the local lattice CDW order :math:`\zeta_i` of the distortions.

    .. math::

        \zeta_i = (Q_i - Q_0)\, e^{i \mathbf{K}\cdot\mathbf{R}_i} = (Q_i - Q_0)\, (-1)^{x_i + y_i},

    paper 000, eq. (32), where ``Q_0 = g / (2 m Omega^2)`` is the uniform
    distortion of the half-filled state, so that ``zeta_i = A`` for
    ``Q_i = Q_0 + A (-1)^(x+y)``.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
        Lattice distortions.
    Q0 : float
        The uniform offset subtracted from every ``Q_i``.
    lattice : SquareLattice

    Returns
    -------
    (..., Lx, Ly) float64
    """
    q = lattice.check_field("Q", Q)
    offset = check_finite_scalar("Q0", Q0)
    return np.asarray((q - offset) * sublattice_sign(lattice), dtype=np.float64)


def momentum_grid(lattice: SquareLattice) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return the lattice momenta :math:`k_x = 2\pi a / L_x`, :math:`k_y = 2\pi b / L_y`.

    ``a = 0..Lx-1`` and ``b = 0..Ly-1``, so that index ``[a, b]`` is the index
    of :func:`numpy.fft.fft2`; all momenta lie in ``[0, 2 pi)``. ``K = (pi, pi)``
    is at ``[Lx/2, Ly/2]`` when both sizes are even. The lattice must be
    periodic along both axes.

    Returns
    -------
    kx, ky : (Lx, Ly) float64
    """
    _require_periodic(lattice, "momentum_grid")
    kx = 2 * np.pi * np.arange(lattice.Lx) / lattice.Lx
    ky = 2 * np.pi * np.arange(lattice.Ly) / lattice.Ly
    grid_x, grid_y = np.meshgrid(kx, ky, indexing="ij")
    return np.asarray(grid_x, dtype=np.float64), np.asarray(grid_y, dtype=np.float64)


def structure_factor(n: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the density structure factor :math:`S(\mathbf{k}) = |\tilde n(\mathbf{k})|^2`.

    Paper 003, eqs. (13)-(14); paper 002, eq. (25):

    .. math::

        \tilde n(\mathbf{k})
            = \frac{1}{N} \sum_i (n_i - \bar n)\, e^{+i \mathbf{k}\cdot\mathbf{r}_i},

    evaluated on :func:`momentum_grid`. The paper's ``nbar`` is the filling
    ``f``; here it is the spatial mean of ``n`` in each configuration, which
    equals ``f`` when the electron number is fixed and otherwise removes the
    ``k = 0`` peak of a fluctuating total density, so ``S(0) = 0`` always. The
    sign of the exponent does not change ``S`` (``n`` is real); the
    ``+i k.r`` of eq. (14) together with its ``1/N`` is exactly
    :func:`numpy.fft.ifft2`. By Parseval, ``sum_k S(k)`` is the spatial
    variance of ``n``. Average over an ensemble *after* this call.

    Parameters
    ----------
    n : (..., Lx, Ly) float64
        Site densities; the lattice must be periodic along both axes.
    lattice : SquareLattice

    Returns
    -------
    (..., Lx, Ly) float64
        ``S[..., a, b]`` at ``k = (2 pi a / Lx, 2 pi b / Ly)``.
    """
    _require_periodic(lattice, "structure_factor")
    density = lattice.check_field("n", n)
    deviation = density - density.mean(axis=(-2, -1), keepdims=True)
    n_tilde = np.fft.ifft2(deviation, axes=(-2, -1))
    return np.asarray(np.abs(n_tilde) ** 2, dtype=np.float64)


def domain_length_from_structure_factor(
    S: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return the domain length :math:`L` from the width of the CDW peak of :math:`S(\mathbf{k})`.

    Paper 003, eq. (15); paper 004, eq. (19):

    .. math::

        L^{-1} = \frac{\sum_{\mathbf{k}} S(\mathbf{k})\, \lvert\mathbf{k} - \mathbf{K}\rvert}
                      {\sum_{\mathbf{k}} S(\mathbf{k})}, \qquad \mathbf{K} = (\pi, \pi),

    with each component of ``k - K`` wrapped into ``[-pi, pi)``. A perfect
    checkerboard puts all weight at ``K``: ``L^{-1} = 0`` up to the round-off
    of the FFT, so ``L`` is ``inf`` or astronomically large (``> 1e15``).

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid` (one configuration or an
        ensemble average), non-negative with a positive sum.
    lattice : SquareLattice

    Returns
    -------
    (...) float64
    """
    _require_periodic(lattice, "domain_length_from_structure_factor")
    s = lattice.check_field("S", S)
    if np.any(s < 0):
        raise ValueError(f"S must be non-negative (it is |n(k)|^2), got minimum {s.min()!r}")
    total = s.sum(axis=(-2, -1))
    if np.any(total <= 0):
        raise ValueError("S must have a positive sum over k; got S = 0 (a uniform density)")
    inverse_length = (s * _distance_from_ordering_vector(lattice)).sum(axis=(-2, -1)) / total
    with np.errstate(divide="ignore"):
        return np.asarray(1.0 / inverse_length, dtype=np.float64)


def radial_structure_factor(
    S: NDArray[np.float64], lattice: SquareLattice
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return :math:`S(q)`, the mean of :math:`S(\mathbf{k})` over shells of equal distance from K.

    .. math::

        S(q) = \operatorname{mean}_{\lvert \mathbf{k} - \mathbf{K} \rvert = q} S(\mathbf{k}).

    The radial profile of paper 003, eq. (16) and Fig. 6 (paper 004, eq. 20),
    with ``q = |k - K|`` the distance from the CDW peak, each component of
    ``k - K`` wrapped into ``[-pi, pi)``. Momenta whose ``q`` agree within
    ``1e-9`` form one shell.

    Parameters
    ----------
    S : (..., Lx, Ly) float64
    lattice : SquareLattice
        Periodic along both axes.

    Returns
    -------
    q : (n_q,) float64
        The distinct distances, ascending.
    S_q : (..., n_q) float64
        The mean of ``S`` over each shell.
    """
    _require_periodic(lattice, "radial_structure_factor")
    s = lattice.check_field("S", S)
    flat = s.reshape(*s.shape[:-2], lattice.n_sites)
    return _shell_average(flat, _distance_from_ordering_vector(lattice).ravel())


def scaling_collapse(
    q: NDArray[np.float64], S_q: NDArray[np.float64], L: NDArray[np.float64] | float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return the dynamical-scaling variables :math:`x = q L` and :math:`y = S(q) / L^2`.

    Under dynamical scaling (paper 003, eq. 16 and Fig. 6; paper 004, eq. 20)

    .. math::

        S(q, t) / L^2(t) = \mathcal{G}(q L(t)),

    so ``(x, y)`` from different times fall on one curve. Paper 003 prints
    eq. (16) as ``S L^2 = G``; its Fig. 6 and paper 004, eq. (20), divide by
    ``L^2``, which is what the scaling of a 2-D structure factor requires.

    Parameters
    ----------
    q : (n_q,) float64
        Distances from the peak, ``>= 0`` (from :func:`radial_structure_factor`).
    S_q : (..., n_q) float64
    L : (...) float64 or float
        Domain lengths, ``> 0``, broadcastable against ``S_q.shape[:-1]``.

    Returns
    -------
    x, y : (..., n_q) float64
    """
    wavevector = check_array("q", q)
    if wavevector.ndim != 1:
        raise ValueError(f"q must be one-dimensional, got shape {wavevector.shape}")
    if np.any(wavevector < 0):
        raise ValueError(
            f"q must be >= 0 (a distance from the peak), got minimum {wavevector.min()!r}"
        )
    structure = check_array("S_q", S_q, min_ndim=1)
    if structure.shape[-1] != wavevector.size:
        raise ValueError(
            f"S_q must have shape (..., {wavevector.size}) to match q, got shape {structure.shape}"
        )
    length = check_array("L", L)
    if np.any(length <= 0):
        raise ValueError(f"L must be > 0, got minimum {length.min()!r}")
    try:
        np.broadcast_shapes((*length.shape, 1), structure.shape)
    except ValueError:
        raise ValueError(
            f"L must broadcast against S_q.shape[:-1] = {structure.shape[:-1]}, got shape "
            f"{length.shape}"
        ) from None
    x, y = np.broadcast_arrays(wavevector * length[..., None], structure / length[..., None] ** 2)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64)


def correlation_map(phi: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the normalised equal-time correlation :math:`C(\mathbf{r})` of a field.

    Paper 002, eq. (26):

    .. math::

        C(\mathbf{r}) = \frac{\langle \phi(\mathbf{r}_0)\, \phi(\mathbf{r}_0 + \mathbf{r}) \rangle
                            - \langle \phi \rangle^2}
                             {\langle \phi^2 \rangle - \langle \phi \rangle^2},

    with ``<...>`` the average over the reference site ``r_0`` of one
    configuration (periodic boundaries), so ``C(0) = 1``. The numerator is
    computed with the Wiener-Khinchin theorem, ``ifft2(|fft2(phi - <phi>)|^2) / N``.
    Each configuration is normalised by its own variance; the paper's ensemble
    average is left to the caller, who averages the returned maps.

    Parameters
    ----------
    phi : (..., Lx, Ly) float64
        Typically :func:`local_cdw_order`; must not be uniform.
    lattice : SquareLattice
        Periodic along both axes.

    Returns
    -------
    (..., Lx, Ly) float64
        ``C[..., dx, dy]`` for the displacement ``(dx, dy)`` modulo ``(Lx, Ly)``.
    """
    _require_periodic(lattice, "correlation_map")
    field = lattice.check_field("phi", phi)
    deviation = field - field.mean(axis=(-2, -1), keepdims=True)
    variance = np.mean(deviation**2, axis=(-2, -1))
    if np.any(variance <= _UNIFORM_TOLERANCE * np.mean(field**2, axis=(-2, -1))):
        raise ValueError("phi must vary in space: C(r) is undefined for a uniform field")
    spectrum = np.abs(np.fft.fft2(deviation, axes=(-2, -1))) ** 2
    covariance = np.fft.ifft2(spectrum, axes=(-2, -1)).real / lattice.n_sites
    return np.asarray(covariance / variance[..., None, None], dtype=np.float64)


def radial_average(
    field_map: NDArray[np.float64], lattice: SquareLattice
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return :math:`f(r)`, the average of a displacement map over displacements of length r.

    ``field_map[..., dx, dy]`` is indexed by the displacement modulo ``(Lx, Ly)``
    (as returned by :func:`correlation_map`); its length is that of the
    minimum image, :math:`r = \sqrt{dx^2 + dy^2}` with ``dx`` in
    ``[-Lx/2, Lx/2)``. This turns ``C(r)`` into the ``C(r)`` versus ``r`` of
    paper 002, Fig. 7(a).

    Parameters
    ----------
    field_map : (..., Lx, Ly) float64
    lattice : SquareLattice
        Periodic along both axes.

    Returns
    -------
    r : (n_r,) float64
        The distinct lengths, ascending (``r[0] = 0``).
    values : (..., n_r) float64
    """
    _require_periodic(lattice, "radial_average")
    values = lattice.check_field("field_map", field_map)
    flat = values.reshape(*values.shape[:-2], lattice.n_sites)
    return _shell_average(flat, _displacement_lengths(lattice).ravel())


def domain_length_from_correlation(
    r: NDArray[np.float64], C: NDArray[np.float64]
) -> NDArray[np.float64]:
    r"""Return the correlation length :math:`L` defined by :math:`C(L) = 1/2`.

    Paper 002, text after eq. (26): the half-maximum condition
    ``C(L(t), t) = 1/2``. ``L`` is the first distance where ``C`` falls to
    ``1/2``, linearly interpolated between the bracketing points
    ``C(r_{j-1}) > 1/2 >= C(r_j)``.

    Parameters
    ----------
    r : (n_r,) float64
        Strictly increasing distances (from :func:`radial_average`).
    C : (..., n_r) float64
        Normalised correlations; ``C(r[0]) > 1/2`` (``C(0) = 1``).

    Returns
    -------
    (...) float64

    Raises
    ------
    ValueError
        If ``C`` never falls to ``1/2`` within ``r``: the domains are as large
        as the system and ``L`` is not resolved.
    """
    distance = check_array("r", r)
    if distance.ndim != 1 or distance.size < 2:
        raise ValueError(
            f"r must be a 1-D array of at least 2 distances, got shape {distance.shape}"
        )
    if np.any(np.diff(distance) <= 0):
        raise ValueError("r must be strictly increasing")
    corr = check_array("C", C, min_ndim=1)
    if corr.shape[-1] != distance.size:
        raise ValueError(f"C must have shape (..., {distance.size}) to match r, got {corr.shape}")
    if np.any(corr[..., 0] <= 0.5):
        raise ValueError(
            f"C must exceed 1/2 at the first distance r[0] = {distance[0]!r} "
            "(a normalised correlation has C(0) = 1)"
        )
    below = corr <= 0.5
    if not np.all(below.any(axis=-1)):
        raise ValueError(
            f"C never falls to 1/2 within r <= {distance[-1]!r}: the domains span the system "
            "and the correlation length is not resolved"
        )
    j = np.argmax(below, axis=-1)[..., None]
    c_before = np.take_along_axis(corr, j - 1, axis=-1)[..., 0]
    c_after = np.take_along_axis(corr, j, axis=-1)[..., 0]
    r_before = distance[j[..., 0] - 1]
    r_after = distance[j[..., 0]]
    fraction = (c_before - 0.5) / (c_before - c_after)
    return np.asarray(r_before + fraction * (r_after - r_before), dtype=np.float64)


def equal_time_correlation(
    Q: NDArray[np.float64], lattice: SquareLattice
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return :math:`C(r) = \langle Q_i Q_j \rangle` averaged over pairs at distance :math:`r`.

    The lattice correlation ``C_ij = <Q_i Q_j>`` plotted against distance in
    paper 003, Fig. 3, and paper 002, Fig. 6(a): the average of ``Q_i Q_j``
    over all ordered pairs ``(i, j)`` (``i = j`` included) whose distance
    (minimum image on periodic axes, :func:`reference.lattice.pair_distances`)
    is ``r``. Works on open lattices too. The ensemble average is left to the
    caller.

    Parameters
    ----------
    Q : (..., Lx, Ly) float64
    lattice : SquareLattice

    Returns
    -------
    r : (n_r,) float64
        The distinct pair distances, ascending (``r[0] = 0``).
    C : (..., n_r) float64
        ``C[..., 0]`` is the mean of ``Q_i^2``.
    """
    q = lattice.check_field("Q", Q)
    flat = q.reshape(*q.shape[:-2], lattice.n_sites)
    products = flat[..., :, None] * flat[..., None, :]
    pairs = products.reshape(*q.shape[:-2], lattice.n_sites**2)
    return _shell_average(pairs, pair_distances(lattice).ravel())


@attrs.frozen
class GrowthFit:
    """A power-law fit ``L(t) = prefactor * t**alpha`` of domain growth.

    Attributes
    ----------
    alpha : float
        The growth exponent (the slope of ``log L`` against ``log t``).
    prefactor : float
        ``A = exp(intercept)``.
    alpha_stderr : float
        Standard error of ``alpha`` from the residuals; NaN for a two-point fit.
    n_points : int
        The number of ``(t, L)`` points inside the fit window.
    """

    alpha: float
    prefactor: float
    alpha_stderr: float
    n_points: int


def fit_growth_exponent(
    t: NDArray[np.float64],
    L: NDArray[np.float64],
    t_min: float | None = None,
    t_max: float | None = None,
) -> GrowthFit:
    r"""Return the least-squares power law :math:`L(t) = A\, t^\alpha` over a window of times.

    Paper 003, eq. (17); paper 002, eq. (28); paper 004, eq. (21). The fit is a
    straight line in log-log variables, :math:`\log L = \alpha \log t + \log A`,
    over the points with ``t_min <= t <= t_max``:

    .. math::

        \alpha = \frac{\sum (x - \bar x)(y - \bar y)}{\sum (x - \bar x)^2}, \qquad
        \sigma_\alpha^2 = \frac{\sum \varepsilon^2 / (n - 2)}{\sum (x - \bar x)^2},

    with ``x = log t``, ``y = log L`` and residuals ``epsilon``.

    Parameters
    ----------
    t : (n,) float64
        Times, ``> 0``.
    L : (n,) float64
        Domain lengths, ``> 0``.
    t_min, t_max : float or None
        The fit window (inclusive); ``None`` leaves that side open.

    Returns
    -------
    GrowthFit

    Examples
    --------
    >>> fit = fit_growth_exponent(np.array([1.0, 10.0, 100.0]), np.array([2.0, 20.0, 200.0]))
    >>> round(fit.alpha, 12), round(fit.prefactor, 12), fit.n_points
    (1.0, 2.0, 3)
    """
    times = check_array("t", t)
    lengths = check_array("L", L)
    if times.ndim != 1:
        raise ValueError(f"t must be one-dimensional, got shape {times.shape}")
    if lengths.shape != times.shape:
        raise ValueError(f"L must have the same shape as t {times.shape}, got {lengths.shape}")
    if np.any(times <= 0):
        raise ValueError(f"t must be > 0 (the fit is in log t), got minimum {times.min()!r}")
    if np.any(lengths <= 0):
        raise ValueError(f"L must be > 0 (the fit is in log L), got minimum {lengths.min()!r}")
    lower = -math.inf if t_min is None else check_finite_scalar("t_min", t_min)
    upper = math.inf if t_max is None else check_finite_scalar("t_max", t_max)
    if lower > upper:
        raise ValueError(f"t_min must be <= t_max, got t_min={t_min!r}, t_max={t_max!r}")
    window = (times >= lower) & (times <= upper)
    x = np.log(times[window])
    y = np.log(lengths[window])
    n_points = int(x.size)
    if n_points < 2:
        raise ValueError(
            f"t must have at least 2 points in the window [{lower}, {upper}], got {n_points}"
        )
    spread = float(np.sum((x - x.mean()) ** 2))
    if spread == 0.0:
        raise ValueError("t must hold at least 2 distinct times in the fit window")
    alpha = float(np.sum((x - x.mean()) * (y - y.mean()))) / spread
    intercept = float(y.mean()) - alpha * float(x.mean())
    residuals = y - (alpha * x + intercept)
    if n_points > 2:
        alpha_stderr = math.sqrt(float(np.sum(residuals**2)) / (n_points - 2) / spread)
    else:
        alpha_stderr = math.nan
    return GrowthFit(
        alpha=alpha, prefactor=math.exp(intercept), alpha_stderr=alpha_stderr, n_points=n_points
    )


def _check_ensemble(
    name: str, field: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    f = lattice.check_field(name, field)
    if f.ndim < 3:
        raise ValueError(
            f"{name} must have shape (..., n_ensemble, {lattice.Lx}, {lattice.Ly}) with an "
            f"ensemble axis, got shape {f.shape}"
        )
    return f


def ensemble_order_parameter(Q: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the ensemble order parameter (paper 000, eq. 13).

    .. math:: O(t) = \frac{1}{N_\alpha}\sum_\alpha |Q^\alpha_{\pi,\pi}(t)|


    Parameters
    ----------
    Q : (..., n_ensemble, Lx, Ly) float64
        Distortions; the axis before the lattice axes holds the ensemble members.
    lattice : SquareLattice

    Returns
    -------
    (...) float64
    """
    q = _check_ensemble("Q", Q, lattice)
    return np.asarray(np.abs(staggered_order(q, lattice)).mean(axis=-1), dtype=np.float64)


def spatial_fluctuation(
    Q: NDArray[np.float64], Q0: float, lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return :math:`\sigma(t)`, the ensemble mean of the spatial spread of :math:`\zeta_i`.

    .. math:: \sigma = \Big\langle \big[\overline{\zeta^2}
              - \overline{\zeta}^{\,2}\big]^{1/2} \Big\rangle_\alpha,
              \qquad \zeta_i = (Q_i - Q_0)(-1)^{x_i+y_i},

    with bars over sites. Paper 000 plots the "ensemble-averaged spatial fluctuation"
    :math:`\sigma(t)` (Fig. 1) without a formula; this is our reading: since
    :math:`\overline{\zeta} = Q_{\pi,\pi}`, :math:`\sigma` is the local CDW order not carried by
    the global order, finite for short-range order without long-range order.

    Parameters
    ----------
    Q : (..., n_ensemble, Lx, Ly) float64
    Q0 : float
        Uniform offset (paper 000: ``g / (2 m Omega^2)``).
    lattice : SquareLattice

    Returns
    -------
    (...) float64
    """
    q = _check_ensemble("Q", Q, lattice)
    zeta = local_lattice_order(q, Q0, lattice)
    spread = zeta.reshape(*zeta.shape[:-2], -1).std(axis=-1)
    return np.asarray(spread.mean(axis=-1), dtype=np.float64)


def domain_wall_position(
    n: NDArray[np.float64], lattice: SquareLattice, threshold: float = 0.25
) -> NDArray[np.float64]:
    r"""Return the CDW-metal interface position :math:`\xi`, the metallic fraction of the lattice.

    A site is metallic when its local CDW order is weak, :math:`|\phi_i| < \phi_c`
    (``threshold``; :func:`local_cdw_order`). Along each row ``y`` the metal grows in
    from the left electrode, so the number of metallic sites in the row is the
    interface position :math:`x_w(y)`; :math:`\xi = \langle x_w(y)\rangle_y / L_x` is the
    fraction of metallic sites (paper 001, Fig. 4: "the fractional extent of the
    metallic phase across the lattice", averaged over y).

    Parameters
    ----------
    n : (..., Lx, Ly) float64
        Densities.
    lattice : SquareLattice
    threshold : float
        :math:`\phi_c` in (0, 1); the CDW of paper 001 has :math:`|\phi| \approx \delta`.

    Returns
    -------
    (...) float64
        In [0, 1].
    """
    phi_c = check_finite_scalar("threshold", threshold)
    if not 0.0 < phi_c < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    return metallic_fraction(n, lattice, phi_c)


def metallic_fraction(
    n: NDArray[np.float64],
    lattice: SquareLattice,
    threshold: float,
    columns: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    r"""Return the share of metallic sites, :math:`|\phi_i| < \phi_c`, among the selected sites.

    .. math::

        \xi_R = \frac{\#\{i \in R : \lvert\phi_i\rvert < \phi_c\}}{\# R},

    with :math:`\phi_i` the local CDW order (:func:`local_cdw_order`) and :math:`R` the
    sites selected by ``columns``. With every site selected (``columns=None``) it is
    paper 001's domain-wall position :math:`\xi` (Sec. IV and Fig. 4: "the fractional
    extent of the metallic phase across the lattice"; :func:`domain_wall_position`).
    A mask restricts it to part of the lattice, e.g. the columns an ML force field
    drives while those next to the electrodes follow a reference run (paper 001, Sec. IV).

    Parameters
    ----------
    n : (..., Lx, Ly) float64
        Densities.
    lattice : SquareLattice
    threshold : float
        :math:`\phi_c > 0`.
    columns : (Lx, Ly) bool or None
        The sites counted; ``None`` counts every site. At least one must be selected.

    Returns
    -------
    (...) float64
        In [0, 1].
    """
    phi_c = check_finite_scalar("threshold", threshold)
    if phi_c <= 0.0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    metal = np.abs(local_cdw_order(n, lattice)) < phi_c
    if columns is None:
        return np.asarray(metal.mean(axis=(-2, -1)), dtype=np.float64)
    mask = np.asarray(columns)
    if mask.dtype != np.bool_ or mask.shape != lattice.shape or not mask.any():
        raise ValueError(
            f"columns must be a boolean mask of shape {lattice.shape} selecting at least one "
            f"site, got dtype {mask.dtype}, shape {mask.shape} and {int(np.sum(mask != 0))} "
            "selected"
        )
    return np.asarray(metal[..., mask].mean(axis=-1), dtype=np.float64)
