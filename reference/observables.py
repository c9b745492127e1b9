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
  eq. 17; paper 002, eq. 28);
* beyond the papers, length scales that a thermal background does not bias and that
  scale with the domains: the flat background of ``S``
  (:func:`structure_factor_background`), eq. (15) without it
  (:func:`domain_length_first_moment`), the second moment
  (:func:`domain_length_second_moment`) and half-weight radius
  (:func:`domain_length_from_peak_width`) of the peak, the inverse wall density
  (:func:`domain_length_from_walls`), how much of the walls moved between two frames
  (:func:`wall_mobility`), the Porod tail (:func:`porod_exponent`), the
  effective exponent ``d ln L / d ln t`` with bootstrap bands over replicas
  (:func:`effective_exponent`, :func:`effective_exponent_band`) and the growth law with
  an offset, ``L = (a + b t)^alpha`` (:func:`fit_growth_with_offset`).

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
import scipy.optimize
from numpy.typing import NDArray

from reference.lattice import SquareLattice, neighbour_sum, pair_distances, sublattice_sign
from reference.validation import check_array, check_finite_scalar, check_positive

__all__ = [
    "ExponentBand",
    "GrowthFit",
    "OffsetGrowthFit",
    "correlation_map",
    "domain_length_first_moment",
    "domain_length_from_correlation",
    "domain_length_from_peak_width",
    "domain_length_from_structure_factor",
    "domain_length_from_walls",
    "domain_length_second_moment",
    "domain_wall_position",
    "effective_exponent",
    "effective_exponent_band",
    "ensemble_order_parameter",
    "equal_time_correlation",
    "fit_growth_exponent",
    "fit_growth_with_offset",
    "local_cdw_order",
    "local_lattice_order",
    "metallic_fraction",
    "momentum_grid",
    "porod_exponent",
    "radial_average",
    "radial_structure_factor",
    "scaling_collapse",
    "spatial_fluctuation",
    "staggered_order",
    "structure_factor",
    "structure_factor_background",
    "wall_mobility",
]

_SHELL_TOLERANCE = 1e-9
"""Distances closer than this belong to the same shell (radial averages)."""

_UNIFORM_TOLERANCE = 1e-20
"""A field whose variance is below this fraction of its mean square counts as uniform."""

_Q_CUT = 0.5 * math.pi
"""Default boundary ``|k - K|`` between the CDW peak region and the background region."""


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


def _shell_sums(
    values: NDArray[np.float64], distances: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Sum ``values[..., j]`` over the entries ``j`` that share a distance ``distances[j]``.

    Returns the distinct distances, sorted ascending, the sums ``(..., n_shells)`` and the
    number of entries in each shell.
    """
    order = np.argsort(distances, kind="stable")
    d = distances[order]
    new_shell = np.concatenate(([True], np.diff(d) > _SHELL_TOLERANCE))
    starts = np.flatnonzero(new_shell)
    counts = np.diff(np.append(starts, d.size))
    centres = np.add.reduceat(d, starts) / counts
    sums = np.add.reduceat(values[..., order], starts, axis=-1)
    return np.asarray(centres, dtype=np.float64), np.asarray(sums, dtype=np.float64), counts


def _shell_average(
    values: NDArray[np.float64], distances: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Average ``values[..., j]`` over the entries ``j`` that share a distance ``distances[j]``.

    Returns the distinct distances, sorted ascending, and the averages ``(..., n_shells)``.
    """
    centres, sums, counts = _shell_sums(values, distances)
    return centres, np.asarray(sums / counts, dtype=np.float64)


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
        The lattice of ``Q`` (any boundary conditions).

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
        The lattice of ``n``; sets the neighbours (open edges allowed).

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
        The lattice of ``Q`` (any boundary conditions).

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

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; must be periodic along both axes.

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
        The lattice of the field; must be periodic along both axes.

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
        The lattice of the field; must be periodic along both axes.

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


def _check_window(window: float) -> float:
    try:
        w = float(window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a real number, got {window!r}") from None
    if not w > 0.0:
        raise ValueError(f"window must be > 0 (math.inf for no window), got {window!r}")
    return w


def _peak_and_background(
    S: NDArray[np.float64], lattice: SquareLattice, q_cut: float, function: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Split ``S`` at ``|k - K| = q_cut``.

    Returns the excess ``S - B`` on the peak modes ``(..., m)``, their distances ``(m,)``
    from ``K`` and the background level ``B`` ``(...)``, the mean of ``S`` over the modes
    farther than ``q_cut`` from both ``K`` and ``k = 0``.
    """
    _require_periodic(lattice, function)
    s = lattice.check_field("S", S)
    if np.any(s < 0):
        raise ValueError(f"S must be non-negative (it is |n(k)|^2), got minimum {s.min()!r}")
    cut = check_positive("q_cut", q_cut)
    distance = _distance_from_ordering_vector(lattice)
    peak = distance <= cut
    kx, ky = momentum_grid(lattice)
    background = ~peak & (np.hypot(_wrap_to_pi(kx), _wrap_to_pi(ky)) > cut)
    if not peak.any():
        raise ValueError(
            f"q_cut must be >= the smallest |k - K| = {distance.min()!r} on this lattice so "
            f"that the peak region holds a momentum, got {q_cut!r}"
        )
    if not background.any():
        raise ValueError(
            f"q_cut must leave momenta farther than it from both K and k = 0 (the background "
            f"region), got {q_cut!r}"
        )
    level = s[..., background].mean(axis=-1)
    return s[..., peak] - level[..., None], distance[peak], np.asarray(level, dtype=np.float64)


def _half_weight_radius(
    excess: NDArray[np.float64], distance: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Radius ``q_1/2`` of the disc about ``K`` holding half of the summed ``excess``.

    The cumulative excess is linear between consecutive shells; NaN where the total
    excess is not positive.
    """
    radii, sums, _ = _shell_sums(excess, distance)
    cumulative = np.cumsum(sums, axis=-1)
    total = cumulative[..., -1]
    half = 0.5 * total
    j = np.argmax(cumulative >= half[..., None], axis=-1)
    before = np.where(
        j > 0, np.take_along_axis(cumulative, np.maximum(j - 1, 0)[..., None], -1)[..., 0], 0.0
    )
    after = np.take_along_axis(cumulative, j[..., None], axis=-1)[..., 0]
    r_before = np.where(j > 0, radii[np.maximum(j - 1, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = (half - before) / (after - before)
        radius = r_before + fraction * (radii[j] - r_before)
    return np.asarray(np.where(total > 0, radius, np.nan), dtype=np.float64)


def _length_from_moment(
    excess: NDArray[np.float64],
    distance: NDArray[np.float64],
    radius: NDArray[np.float64],
    power: int,
) -> NDArray[np.float64]:
    """``[sum w / sum w q^power]^(1/power)`` over the modes with ``q <= radius``.

    ``inf`` where the weight sits at ``q = 0`` only, NaN where the summed weight is not
    positive or the moment is negative (no peak above the background).
    """
    inside = distance <= radius[..., None]
    weight = np.where(inside, excess, 0.0).sum(axis=-1)
    moment = np.where(inside, excess * distance**power, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        length = (weight / moment) ** (1.0 / power)
    length = np.where(moment == 0.0, np.inf, length)
    return np.asarray(np.where((weight > 0) & (moment >= 0), length, np.nan), dtype=np.float64)


def _summation_radius(
    excess: NDArray[np.float64], distance: NDArray[np.float64], q_cut: float, window: float
) -> NDArray[np.float64]:
    """``min(q_cut, window * q_1/2)``; ``q_cut`` for an infinite window."""
    if math.isinf(window):
        return np.full(excess.shape[:-1], float(q_cut))
    return np.asarray(
        np.minimum(float(q_cut), window * _half_weight_radius(excess, distance)), dtype=np.float64
    )


def structure_factor_background(
    S: NDArray[np.float64], lattice: SquareLattice, q_cut: float = _Q_CUT
) -> NDArray[np.float64]:
    r"""Return the flat background :math:`B` of :math:`S(\mathbf{k})`, its mean far from the peak.

    .. math::

        B = \operatorname{mean}\{ S(\mathbf{k}) : \lvert\mathbf{k} - \mathbf{K}\rvert > q_c,\
            \lvert\mathbf{k}\rvert > q_c \}.

    Beyond the papers. Thermal fluctuations add to the densities a part
    :math:`\eta_i` that is uncorrelated from site to site (white), of variance
    :math:`\sigma^2`, on top of the domain pattern. For :math:`\mathbf{k} \neq 0`,
    :math:`\langle \lvert\tilde\eta(\mathbf{k})\rvert^2 \rangle
    = N^{-2}\sum_{ij}\langle\eta_i\eta_j\rangle e^{i\mathbf{k}\cdot(\mathbf{r}_i-\mathbf{r}_j)}
    = \sigma^2/N` at every momentum and the cross term with the domains averages to
    zero, so the noise adds the constant :math:`B = \sigma^2/N` to the expectation of
    :math:`S`. In eq. (15) that floor contributes :math:`B\sum_{\mathbf{k}}
    \lvert\mathbf{k}-\mathbf{K}\rvert \approx 2.40\,\sigma^2` (2.40 is the mean distance
    from the centre of the zone), which puts a floor under :math:`L^{-1}`.

    The level is read where the domains contribute little: the mean over every momentum
    farther than ``q_cut`` from the CDW peak ``K`` and from ``k = 0`` (61 % of the zone
    for the default :math:`q_c = \pi/2`: modulations of wavelength below 4 spacings). Near
    ``k = 0`` the density is not white either: walls that hold extra holes or electrons
    (doped systems, paper 003, Fig. 8) modulate it on the domain scale, and ``S(0)`` is
    the total density, which :func:`structure_factor` removes. The mean, not a median,
    because it is unbiased for any noise distribution and for ensemble-averaged ``S``.
    Sharp domain walls leave a Porod tail :math:`\propto q^{-3}` beyond ``q_cut`` that the
    mean also collects; its share is of relative order :math:`1/(q_c L)`, spread over the
    whole region.

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid`, non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c > 0`; the peak region :math:`\lvert\mathbf{k}-\mathbf{K}\rvert \le q_c`
        and the background region must each hold a momentum.

    Returns
    -------
    (...) float64
    """
    _, _, level = _peak_and_background(S, lattice, q_cut, "structure_factor_background")
    return level


def domain_length_first_moment(
    S: NDArray[np.float64],
    lattice: SquareLattice,
    q_cut: float = _Q_CUT,
    window: float = math.inf,
) -> NDArray[np.float64]:
    r"""Return eq. (15)'s length with the flat background removed: the first moment of the peak.

    .. math::

        L_1^{-1} = \frac{\sum_{q \le q_w} [S(\mathbf{k}) - B]\, q}
                        {\sum_{q \le q_w} [S(\mathbf{k}) - B]}, \qquad
        q = \lvert\mathbf{k} - \mathbf{K}\rvert, \quad
        q_w = \min(q_c,\ w\, q_{1/2}),

    with :math:`B` from :func:`structure_factor_background` (the mean of ``S`` beyond
    :math:`q_c`) and :math:`q_{1/2}` the half-weight radius of the peak
    (:func:`domain_length_from_peak_width`). Paper 003, eq. (15), sums :math:`S q` over
    the whole zone; beyond the papers, this subtracts the white-noise floor and sums over
    the peak region only, so a thermal background no longer bounds :math:`L` (with
    :math:`w = \infty`, the default, the region is :math:`q \le q_c`).

    The excess :math:`S - B` is summed as it is, negative values included: it has zero
    mean on a noise-only momentum, so both sums are unbiased. Clipping it at zero would
    leave every noise-only momentum a positive residue (:math:`B/e` on average for one
    configuration, whose :math:`S` is exponentially distributed), i.e. a floor again;
    on 256 x 256 sharp-walled patterns with noise of a quarter of the signal's power the
    clipped estimate fell by 10-11 % and the unclipped one moved by less than 1 %.

    Sharp walls give :math:`S \propto q^{-3}` (Porod) between the peak and the cut, so
    :math:`\sum S q` grows like :math:`\log(q_c L)` and the fixed region gives
    :math:`L_1 \propto \ell / \log(q_c \ell)` for domains of size :math:`\ell`, as eq. (15)
    does with :math:`q_c` at the zone edge: a doubling of :math:`\ell` raises :math:`L_1`
    by about 1.65 (tested), which biases a growth exponent low by about a quarter. A
    window that scales with the peak restores :math:`L_1 \propto \ell`: with
    ``window=2``, :math:`L_1 \to 0.377\,a` on random tilings of :math:`a \times a` blocks
    (tested).

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid` (one configuration or an ensemble
        average), non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c`, the boundary between the peak region and the background region.
    window : float
        :math:`w > 0`, the summation radius in units of :math:`q_{1/2}`; ``math.inf``
        sums the whole peak region.

    Returns
    -------
    (...) float64
        ``inf`` when the excess inside the summation radius sits at ``K`` alone (a perfect
        peak, or a window inside the first shell); NaN when the summed excess is not
        positive or its moment is negative (no peak above the background).
    """
    w = _check_window(window)
    excess, distance, _ = _peak_and_background(S, lattice, q_cut, "domain_length_first_moment")
    radius = _summation_radius(excess, distance, q_cut, w)
    return _length_from_moment(excess, distance, radius, 1)


def domain_length_second_moment(
    S: NDArray[np.float64],
    lattice: SquareLattice,
    q_cut: float = _Q_CUT,
    window: float = 2.0,
) -> NDArray[np.float64]:
    r"""Return the second-moment length of the CDW peak, background removed.

    .. math::

        L_2 = \left[\frac{\sum_{q \le q_w} [S(\mathbf{k}) - B]}
                         {\sum_{q \le q_w} [S(\mathbf{k}) - B]\, q^2}\right]^{1/2}, \qquad
        q_w = \min(q_c,\ w\, q_{1/2}),

    with :math:`B`, :math:`q_c` and the unclipped excess as in
    :func:`domain_length_first_moment`. Beyond the papers. The window matters more here
    than for the first moment: with a fixed region the Porod tail :math:`S \propto q^{-3}`
    makes :math:`\sum S q^2 \propto q_c/\ell`, so :math:`L_2 \propto (\ell/q_c)^{1/2}` would
    grow like the square root of the domain size. The default window of twice the
    half-weight radius scales with the peak, so :math:`L_2 \propto \ell`: on random
    tilings of independent :math:`a \times a` blocks :math:`L_2 \to 0.341\,a` (0.345 a at
    a = 8; tested), and it grows with the wall length of thresholded Gaussian fields to
    the power 0.95-1.01 (tested).

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid`, non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c`, the boundary between the peak region and the background region.
    window : float
        :math:`w > 0`, the summation radius in units of :math:`q_{1/2}` (``math.inf``: the
        whole peak region).

    Returns
    -------
    (...) float64
        ``inf`` when the excess inside the summation radius sits at ``K`` alone; NaN when
        there is no peak above the background.
    """
    w = _check_window(window)
    excess, distance, _ = _peak_and_background(S, lattice, q_cut, "domain_length_second_moment")
    radius = _summation_radius(excess, distance, q_cut, w)
    return _length_from_moment(excess, distance, radius, 2)


def domain_length_from_peak_width(
    S: NDArray[np.float64], lattice: SquareLattice, q_cut: float = _Q_CUT
) -> NDArray[np.float64]:
    r"""Return :math:`1/q_{1/2}`, the inverse radius of the disc about K holding half the peak.

    .. math::

        L_{1/2} = 1 / q_{1/2}, \qquad
        \sum_{q \le q_{1/2}} [S(\mathbf{k}) - B] = \frac{1}{2}\sum_{q \le q_c} [S(\mathbf{k}) - B],

    with :math:`q = \lvert\mathbf{k} - \mathbf{K}\rvert` and :math:`B` as in
    :func:`structure_factor_background`. Beyond the papers: a peak width that, unlike a
    moment, converges for a Porod tail (the weight beyond :math:`q` falls like
    :math:`1/(q\ell)`), so it scales with the domain size at any fixed :math:`q_c`. The
    cumulative excess is taken at each shell of equal :math:`q` and linear in between
    (the excess of a shell spread evenly back to the previous shell); :math:`q_{1/2}` is
    its first crossing of one half.

    Why not the half width at half maximum of the radial profile: its maximum is one
    shell, often the single momentum ``K``, whose :math:`S` fluctuates by 100 % from
    configuration to configuration (the staggered magnetisation squared), and the HWHM
    inherits it (20-36 % scatter between single thresholded Gaussian fields and no clean
    scaling with their length, where :math:`1/q_{1/2}` scattered by 1-15 % and doubled
    with the field's length).

    Constants: :math:`L_{1/2} \to 0.342\,a` for random tilings of independent
    :math:`a \times a` blocks, from above (0.363 a at a = 8, 0.346 a at a = 16: the region
    cuts the Porod tail, a correction of relative order :math:`1/(q_c a)`; tested); about
    0.21 times the wall length :func:`domain_length_from_walls` on thresholded Gaussian
    fields (measured).

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid`, non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c`, the boundary between the peak region and the background region.

    Returns
    -------
    (...) float64
        ``inf`` when half the excess sits at ``K`` itself (order spanning the system);
        NaN when the summed excess is not positive.
    """
    excess, distance, _ = _peak_and_background(S, lattice, q_cut, "domain_length_from_peak_width")
    with np.errstate(divide="ignore"):
        return np.asarray(1.0 / _half_weight_radius(excess, distance), dtype=np.float64)


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
        Structure factor on :func:`momentum_grid` (e.g. from :func:`structure_factor`).
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


def porod_exponent(
    S: NDArray[np.float64], lattice: SquareLattice, q_min: float, q_max: float
) -> NDArray[np.float64]:
    r"""Return the exponent :math:`\gamma` of the tail :math:`S(q) \propto q^{-\gamma}` of the peak.

    The least-squares slope of

    .. math::

        \ln S(q) = c - \gamma \ln q, \qquad q_{\min} \le q \le q_{\max},

    over the shells of :func:`radial_structure_factor` (each shell one point). Porod's law
    (paper 003, text after eq. 16 and Fig. 6) says that sharp walls between the two
    domain types give :math:`S(q) \propto L^{-1} q^{-(d+1)}`, i.e. :math:`\gamma = 3` in
    two dimensions, for :math:`1/L \ll q \ll 1/w` (:math:`w` the wall width); paper 003
    reports :math:`\gamma \approx 2` at larger :math:`q`. The window is the caller's:
    start it a few peak widths out (e.g. :math:`3 q_{1/2}`, see
    :func:`domain_length_from_peak_width`) and end it before the flat thermal background
    (:func:`structure_factor_background`) takes over, which drives :math:`\gamma` to 0.

    Parameters
    ----------
    S : (..., Lx, Ly) float64
        Structure factor on :func:`momentum_grid`, non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_min, q_max : float
        The fit window, :math:`0 < q_{\min} < q_{\max}`; it must hold at least two shells,
        and :math:`S(q) > 0` on each.

    Returns
    -------
    (...) float64
    """
    lower = check_positive("q_min", q_min)
    upper = check_finite_scalar("q_max", q_max)
    if upper <= lower:
        raise ValueError(f"q_max must exceed q_min = {q_min!r}, got {q_max!r}")
    q, s_q = radial_structure_factor(S, lattice)
    inside = (q >= lower) & (q <= upper)
    if np.count_nonzero(inside) < 2:
        raise ValueError(
            f"q_min and q_max must enclose at least 2 shells of |k - K| on this lattice, got "
            f"[{q_min!r}, {q_max!r}] holding {np.count_nonzero(inside)}"
        )
    tail = s_q[..., inside]
    if np.any(tail <= 0):
        raise ValueError(
            "S must be positive on every shell of the fit window (the fit is in log S)"
        )
    x = np.log(q[inside])
    y = np.log(tail)
    x_centred = x - x.mean()
    slope = ((y - y.mean(axis=-1, keepdims=True)) * x_centred).sum(axis=-1) / np.sum(x_centred**2)
    return np.asarray(-slope, dtype=np.float64)


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
        Radial structure factor on the shells ``q`` (from :func:`radial_structure_factor`).
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
        A map indexed by displacement, e.g. :func:`correlation_map`.
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


def domain_length_from_walls(
    phi: NDArray[np.float64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return :math:`L = 2N / N_{\rm wall}`, the inverse density of domain walls in :math:`\phi`.

    .. math::

        L = \frac{2N}{N_{\rm wall}}, \qquad
        N_{\rm wall} = \#\{\langle ij \rangle : \phi_i\, \phi_j < 0\},

    counting the nearest-neighbour bonds of :func:`reference.lattice.bonds` (each once,
    none across an open edge) whose ends have opposite signs of the local order
    :math:`\phi_i` (:func:`local_cdw_order`, :func:`local_lattice_order`); a site with
    :math:`\phi_i = 0` makes no wall. Beyond the papers.

    Normalisation: domains of area :math:`A` and perimeter :math:`P` (in bonds), each wall
    shared by two domains, give :math:`L = 4A/P`: exactly :math:`a` for a tiling by
    :math:`a \times a` squares (:math:`N/a^2` domains, :math:`N_{\rm wall} = 2N/a`), the
    diameter for discs, and :math:`2d` for stripes of width :math:`d` (two sides each,
    :math:`N_{\rm wall} = N/d`). A random tiling of :math:`a \times a` blocks with
    independent signs has walls on half the block edges, :math:`L \approx 2a`. Bonds
    measure a tilted wall in the Manhattan metric, so curved walls count
    :math:`4/\pi` of their length on average: a constant factor. Thermal noise that flips
    single sites inside domains adds walls; read :math:`\phi` where its sign is
    reliable.

    Parameters
    ----------
    phi : (..., Lx, Ly) float64
        Local order, positive in one domain type and negative in the other.
    lattice : SquareLattice
        The lattice of ``phi``; no bonds cross an open edge.

    Returns
    -------
    (...) float64
        ``inf`` when no bond crosses a wall.
    """
    field = lattice.check_field("phi", phi)
    walls = sum(np.count_nonzero(w, axis=(-2, -1)) for w in _wall_bonds(field, lattice))
    with np.errstate(divide="ignore"):
        return np.asarray(2.0 * lattice.n_sites / walls, dtype=np.float64)


def _wall_bonds(field: NDArray[np.float64], lattice: SquareLattice) -> list[NDArray[np.bool_]]:
    """Whether each bond ``(r, r + e_x)`` and ``(r, r + e_y)`` crosses a wall (``phi_i phi_j < 0``),
    one mask per axis; bonds across an open edge are dropped."""
    masks = []
    for axis, periodic in zip((-2, -1), lattice.periodic, strict=True):
        product = field * np.roll(field, -1, axis=axis)  # the bond (r, r + e_axis)
        if not periodic:
            product = np.delete(product, -1, axis=axis)  # no bond across the open edge
        masks.append(np.asarray(product < 0))
    return masks


def wall_mobility(
    phi_before: NDArray[np.float64],
    phi_after: NDArray[np.float64],
    lattice: SquareLattice,
    dt: float,
) -> NDArray[np.float64]:
    r"""Return the share of domain-wall bonds that changed between two frames, per unit time.

    .. math::

        \mu = \frac{\lvert W_a \,\triangle\, W_b \rvert}{(\lvert W_a \rvert + \lvert W_b \rvert)\,
               \Delta t}, \qquad
        W = \{\langle ij \rangle : \phi_i\, \phi_j < 0\},

    with :math:`W_a`, :math:`W_b` the wall bonds (those of :func:`domain_length_from_walls`)
    of ``phi_before`` and ``phi_after`` and :math:`\triangle` the symmetric difference: the
    bonds that are a wall in one frame and not in the other. Beyond the papers (issue 19,
    item 4): a slowly growing :math:`L(t)` may be slow coarsening or walls that have
    stopped; :math:`\mu` tells them apart. :math:`\mu\,\Delta t` lies in [0, 1]: 0 when
    every wall stayed where it was (whatever the amplitude of :math:`\phi` did, a global
    flip :math:`\phi \to -\phi` included), 1 when no wall bond is shared, as when every
    wall moved by a lattice spacing or more; a single wall of two that moves by one site
    gives 1/2. Walls made and unmade by thermal flicker of single sites count as motion;
    the rate therefore depends on the frame interval for fast walls (a wall that moved
    farther than a spacing between frames counts once) and includes flicker for
    frozen ones.

    Parameters
    ----------
    phi_before, phi_after : (..., Lx, Ly) float64
        Local order (:func:`local_cdw_order`, or a TDGL field) at two times, of one shape.
    lattice : SquareLattice
        The lattice of both fields; no bonds cross an open edge.
    dt : float
        The time between the frames, ``> 0``.

    Returns
    -------
    (...) float64
        NaN where neither frame has a wall.
    """
    before = lattice.check_field("phi_before", phi_before)
    after = lattice.check_field("phi_after", phi_after)
    if after.shape != before.shape:
        raise ValueError(
            f"phi_after must have the shape of phi_before {before.shape}, got {after.shape}"
        )
    interval = check_positive("dt", dt)
    changed = np.zeros(before.shape[:-2])
    total = np.zeros(before.shape[:-2])
    for wa, wb in zip(_wall_bonds(before, lattice), _wall_bonds(after, lattice), strict=True):
        changed = changed + np.count_nonzero(wa != wb, axis=(-2, -1))
        total = total + np.count_nonzero(wa, axis=(-2, -1)) + np.count_nonzero(wb, axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(total > 0, changed / total, np.nan) / interval, dtype=np.float64)


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
        Lattice distortions (or any field); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q`` (periodic or open; sets the pair distances).

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


def _check_growth_series(
    t: NDArray[np.float64], L: NDArray[np.float64], positive: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    times = check_array("t", t)
    lengths = check_array("L", L, min_ndim=1)
    if times.ndim != 1:
        raise ValueError(f"t must be one-dimensional, got shape {times.shape}")
    if lengths.shape[-1] != times.size:
        raise ValueError(f"L must have shape (..., {times.size}) to match t, got {lengths.shape}")
    if np.any(lengths <= 0):
        raise ValueError(f"L must be > 0 (the analysis is in log L), got minimum {lengths.min()!r}")
    if positive and np.any(times <= 0):
        raise ValueError(f"t must be > 0 (the analysis is in log t), got minimum {times.min()!r}")
    if np.any(np.diff(times) <= 0):
        raise ValueError("t must be strictly increasing")
    return times, lengths


def effective_exponent(
    t: NDArray[np.float64], L: NDArray[np.float64], step: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return the effective growth exponent :math:`\alpha_{\rm eff} = d\ln L / d\ln t` per frame.

    .. math::

        \alpha_{\rm eff}(\tilde t_j) = \frac{\ln L_{j+s} - \ln L_{j-s}}{\ln t_{j+s} - \ln t_{j-s}},
        \qquad \tilde t_j = \sqrt{t_{j-s}\, t_{j+s}},

    a centred difference over :math:`s` = ``step`` frames on each side. Beyond the papers,
    which fit one :math:`\alpha` over a late window (eq. 17): a local exponent shows
    whether :math:`L(t)` has reached a power law at all, or still bends (an offset
    :math:`L(t) = (a + bt)^\alpha` makes :math:`\alpha_{\rm eff} = \alpha\, bt/(a + bt)`
    creep up towards :math:`\alpha`). The quotient is exact for a pure power law at any
    spacing and second-order accurate at the log-midpoint :math:`\tilde t_j`, which is
    :math:`t_j` on log-spaced frames. On linearly spaced frames (every K steps) the late
    differences span little :math:`\ln t` and are noisy: raise ``step`` or use log-spaced
    frames.

    Parameters
    ----------
    t : (n,) float64
        Strictly increasing times, ``> 0``.
    L : (..., n) float64
        Lengths, ``> 0``.
    step : int
        :math:`s \ge 1`, with ``n > 2 s``.

    Returns
    -------
    t_mid : (n - 2 s,) float64
    alpha : (..., n - 2 s) float64
    """
    times, lengths = _check_growth_series(t, L, positive=True)
    if isinstance(step, bool) or int(step) != step or step < 1 or times.size <= 2 * step:
        raise ValueError(
            f"step must be an integer >= 1 with 2 * step < len(t) = {times.size}, got {step!r}"
        )
    s = int(step)
    log_t, log_l = np.log(times), np.log(lengths)
    alpha = (log_l[..., 2 * s :] - log_l[..., : -2 * s]) / (log_t[2 * s :] - log_t[: -2 * s])
    t_mid = np.exp(0.5 * (log_t[2 * s :] + log_t[: -2 * s]))
    return np.asarray(t_mid, dtype=np.float64), np.asarray(alpha, dtype=np.float64)


@attrs.frozen
class ExponentBand:
    """The effective exponent of a replica mean with its bootstrap band.

    Attributes
    ----------
    t : (m,) float64
        The log-midpoints of :func:`effective_exponent`.
    alpha : (..., m) float64
        :math:`\\alpha_{\\rm eff}` of the mean of :math:`L` over the replicas.
    lower, upper : (..., m) float64
        The bootstrap percentile band at the requested level.
    """

    t: NDArray[np.float64]
    alpha: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


def effective_exponent_band(
    t: NDArray[np.float64],
    L: NDArray[np.float64],
    step: int = 1,
    n_resamples: int = 1000,
    level: float = 0.68,
    rng: np.random.Generator | int | None = None,
) -> ExponentBand:
    r"""Return :math:`\alpha_{\rm eff}(t)` of the replica-mean length with a bootstrap band.

    .. math::

        \bar L(t) = \frac{1}{R}\sum_{r=1}^{R} L_r(t), \qquad
        \alpha_{\rm eff} = \frac{d \ln \bar L}{d \ln t}\ \text{(:func:`effective_exponent`)}.

    The band resamples the :math:`R` replicas with replacement ``n_resamples`` times
    (whole trajectories, so the correlation between frames of one run is kept),
    recomputes :math:`\alpha_{\rm eff}` of each resampled mean and takes the
    :math:`(1 \mp \text{level})/2` percentiles frame by frame. Beyond the papers.

    Parameters
    ----------
    t : (n,) float64
        Strictly increasing times, ``> 0``.
    L : (..., R, n) float64
        Lengths of ``R >= 2`` replicas, ``> 0``.
    step : int
        The difference step of :func:`effective_exponent`.
    n_resamples : int
        Bootstrap resamples, ``>= 2``.
    level : float
        Coverage of the band, in (0, 1); 0.68 is one standard error.
    rng : numpy.random.Generator or int or None
        Source of the resampling (a seed makes it reproducible).

    Returns
    -------
    ExponentBand
    """
    times, lengths = _check_growth_series(t, L, positive=True)
    if lengths.ndim < 2 or lengths.shape[-2] < 2:
        raise ValueError(
            f"L must have shape (..., n_replicas, {times.size}) with n_replicas >= 2, "
            f"got {lengths.shape}"
        )
    if isinstance(n_resamples, bool) or int(n_resamples) != n_resamples or n_resamples < 2:
        raise ValueError(f"n_resamples must be an integer >= 2, got {n_resamples!r}")
    coverage = check_finite_scalar("level", level)
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    t_mid, alpha = effective_exponent(times, lengths.mean(axis=-2), step)
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    n_replicas = lengths.shape[-2]
    picks = gen.integers(n_replicas, size=(int(n_resamples), n_replicas))
    resampled = lengths[..., picks, :].mean(axis=-2)  # (..., n_resamples, n)
    _, alphas = effective_exponent(times, resampled, step)
    lower, upper = np.quantile(alphas, [(1 - coverage) / 2, (1 + coverage) / 2], axis=-2)
    return ExponentBand(
        t=t_mid,
        alpha=alpha,
        lower=np.asarray(lower, dtype=np.float64),
        upper=np.asarray(upper, dtype=np.float64),
    )


@attrs.frozen
class OffsetGrowthFit:
    """A fit ``L(t) = (a + b t)**alpha`` of domain growth with a time offset.

    Attributes
    ----------
    alpha : float
        The growth exponent.
    a, b : float
        The offset and rate; ``a / b`` is the time shift ``t0`` in ``L = b**alpha (t + t0)**alpha``.
    alpha_stderr : float
        Standard error of ``alpha`` from the residuals and the Jacobian of the three
        parameters.
    n_points : int
        The number of ``(t, L)`` points inside the fit window.
    """

    alpha: float
    a: float
    b: float
    alpha_stderr: float
    n_points: int


_OFFSET_SPAN = 1e6
"""The shift ``t0 + t_first`` is searched within this factor of ``t_last - t_first``."""

_OFFSET_GRID = 241
"""Points of the coarse log-spaced grid over the shift before the bounded refinement."""


def _profile_fit(
    shift: float, times: NDArray[np.float64], log_l: NDArray[np.float64]
) -> tuple[float, float, float]:
    """``(alpha, c, residual sum of squares)`` of ``log L = c + alpha log(t - t_first + shift)``."""
    z = np.log(times - times[0] + shift)
    zc = z - z.mean()
    alpha = float(np.sum(zc * (log_l - log_l.mean())) / np.sum(zc**2))
    c = float(log_l.mean()) - alpha * float(z.mean())
    return alpha, c, float(np.sum((log_l - c - alpha * z) ** 2))


def fit_growth_with_offset(
    t: NDArray[np.float64],
    L: NDArray[np.float64],
    t_min: float | None = None,
    t_max: float | None = None,
) -> OffsetGrowthFit:
    r"""Return the least-squares growth law :math:`L(t) = (a + b\,t)^\alpha` over a window.

    .. math::

        \ln L = \alpha \ln b + \alpha \ln(t + t_0), \qquad t_0 = a / b,

    fitted in :math:`\ln L` (relative errors, like :func:`fit_growth_exponent`) over
    ``t_min <= t <= t_max``. Beyond the papers, whose eq. (17) fits :math:`A t^\alpha`: a
    finite length at the start of the power law, :math:`L(0) = a^\alpha`, bends
    :math:`\ln L` against :math:`\ln t` and biases that fit low (its local slope is
    :math:`\alpha\, bt/(a + bt)`); here the offset is a parameter. For each trial
    :math:`t_0` the model is linear in :math:`(\alpha, \alpha\ln b)`, solved by least
    squares; the residual is minimised over :math:`t_0` (a profile: a log-spaced grid of
    the shift :math:`t_0 + t_{\rm first}` over :math:`10^{\pm 6}` times the window's span,
    then a bounded Brent search). The standard error of :math:`\alpha` is that of
    nonlinear least squares in all three parameters,
    :math:`\sigma^2_\alpha = [\hat s^2 (J^T J)^{-1}]_{\alpha\alpha}` with
    :math:`\hat s^2 = \sum\varepsilon^2/(n - 3)` and the Jacobian columns
    :math:`\ln(t + t_0)`, 1 and :math:`\alpha/(t + t_0)`.

    Parameters
    ----------
    t : (n,) float64
        Strictly increasing times, ``>= 0``.
    L : (n,) float64
        Domain lengths, ``> 0``.
    t_min, t_max : float or None
        The fit window (inclusive); ``None`` leaves that side open. It must hold at least
        4 points.

    Returns
    -------
    OffsetGrowthFit
    """
    times, lengths = _check_growth_series(t, L, positive=False)
    if lengths.ndim != 1:
        raise ValueError(f"L must have the same shape as t {times.shape}, got {lengths.shape}")
    if np.any(times < 0):
        raise ValueError(f"t must be >= 0, got minimum {times.min()!r}")
    lower = -math.inf if t_min is None else check_finite_scalar("t_min", t_min)
    upper = math.inf if t_max is None else check_finite_scalar("t_max", t_max)
    if lower > upper:
        raise ValueError(f"t_min must be <= t_max, got t_min={t_min!r}, t_max={t_max!r}")
    window = (times >= lower) & (times <= upper)
    n_points = int(np.count_nonzero(window))
    if n_points < 4:
        raise ValueError(
            f"t must have at least 4 points in the window [{lower}, {upper}] for a "
            f"three-parameter fit, got {n_points}"
        )
    x, log_l = times[window], np.log(lengths[window])
    span = float(x[-1] - x[0])
    grid = np.linspace(math.log(span / _OFFSET_SPAN), math.log(span * _OFFSET_SPAN), _OFFSET_GRID)
    residuals = [_profile_fit(math.exp(u), x, log_l)[2] for u in grid]
    best = int(np.argmin(residuals))
    bracket = (grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)])
    search = scipy.optimize.minimize_scalar(
        lambda u: _profile_fit(math.exp(u), x, log_l)[2],
        bounds=bracket,
        method="bounded",
        options={"xatol": 1e-12},
    )
    shift = math.exp(float(search.x))
    alpha, c, rss = _profile_fit(shift, x, log_l)
    argument = x - x[0] + shift  # t + t0
    jacobian = np.stack([np.log(argument), np.ones_like(x), alpha / argument], axis=1)
    covariance = rss / (n_points - 3) * np.linalg.pinv(jacobian.T @ jacobian)
    alpha_stderr = math.sqrt(max(float(covariance[0, 0]), 0.0))
    t0 = shift - float(x[0])
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        b = float(np.exp(np.float64(c) / alpha))
    return OffsetGrowthFit(alpha=alpha, a=t0 * b, b=b, alpha_stderr=alpha_stderr, n_points=n_points)


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
        The lattice of ``Q`` (any boundary conditions).

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
        Distortions; the axis before the lattice axes holds the ensemble members.
    Q0 : float
        Uniform offset (paper 000: ``g / (2 m Omega^2)``).
    lattice : SquareLattice
        The lattice of ``Q`` (any boundary conditions).

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
        The lattice of ``n`` (paper 001: open along x, periodic along y).
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
        The lattice of ``n`` (any boundary conditions).
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
