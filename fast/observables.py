"""Observables of CDW ordering on tensors.

Twin of :mod:`reference.observables`. The per-frame field maps (order parameters,
structure factor, correlation map) and the per-frame lengths read from the peak of
``S`` and from domain walls run on tensors on any device, batched over leading axes;
the one-dimensional post-processing (radial averages, crossings, the growth-law fits,
effective exponents, the Porod fit) delegates to the reference.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from fast._tensor import Tensor, delegate
from fast.lattice import _field, neighbour_sum, sublattice_sign
from reference import observables as _ref
from reference.lattice import SquareLattice
from reference.observables import ExponentBand, GrowthFit, OffsetGrowthFit
from reference.validation import check_finite_scalar, check_positive

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

domain_length_from_correlation = delegate(_ref.domain_length_from_correlation)
domain_length_from_structure_factor = delegate(_ref.domain_length_from_structure_factor)
equal_time_correlation = delegate(_ref.equal_time_correlation)
fit_growth_exponent = delegate(_ref.fit_growth_exponent)
momentum_grid = delegate(_ref.momentum_grid)
radial_average = delegate(_ref.radial_average)
radial_structure_factor = delegate(_ref.radial_structure_factor)
scaling_collapse = delegate(_ref.scaling_collapse)
porod_exponent = delegate(_ref.porod_exponent)
effective_exponent = delegate(_ref.effective_exponent)
effective_exponent_band = delegate(_ref.effective_exponent_band)
fit_growth_with_offset = delegate(_ref.fit_growth_with_offset)

_Q_CUT = 0.5 * math.pi
"""Default boundary ``|k - K|`` between the CDW peak region and the background region."""


def _sign(lattice: SquareLattice, like: Tensor) -> Tensor:
    return sublattice_sign(lattice).to(dtype=like.dtype, device=like.device)


def staggered_order(Q: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`Q_{\pi,\pi} = N^{-1}\sum_i Q_i (-1)^{x_i+y_i}`, shape ``(...)``.

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Lattice distortions (or any real field).
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (...)
        ``A`` for the perfect checkerboard ``Q_i = A (-1)^(x+y)``.
    """
    q = _field("Q", Q, lattice)
    return (q * _sign(lattice, q)).mean(dim=(-2, -1))


def local_cdw_order(n: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\phi_i = (n_i - \overline{n}_{\mathcal{N}(i)})(-1)^{x_i+y_i}` (paper 003, eq.
    12).

    Parameters
    ----------
    n : Tensor, shape (..., Lx, Ly)
        Site densities.
    lattice : SquareLattice
        Open edges average over the neighbours that exist.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    d = _field("n", n, lattice)
    ones = torch.ones(lattice.shape, dtype=d.dtype, device=d.device)
    mean = neighbour_sum(d, lattice) / neighbour_sum(ones, lattice)
    return (d - mean) * _sign(lattice, d)


def local_lattice_order(Q: Tensor, Q0: float, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\zeta_i = (Q_i - Q_0)(-1)^{x_i+y_i}` (paper 000, eq. 32).

    Parameters
    ----------
    Q : Tensor, shape (..., Lx, Ly)
        Lattice distortions.
    Q0 : float
        The uniform offset subtracted from every ``Q_i``.
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
    """
    q = _field("Q", Q, lattice)
    return (q - float(Q0)) * _sign(lattice, q)


def _require_periodic(lattice: SquareLattice, function: str) -> None:
    if not all(lattice.periodic):
        raise ValueError(f"{function} needs a lattice periodic along both axes, got {lattice}")


def structure_factor(n: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`S(\mathbf{k}) = |\tilde n(\mathbf{k})|^2`, :math:`\tilde n = N^{-1}\sum_i (n_i
    - \bar n) e^{i\mathbf{k}\cdot\mathbf{r}_i}`.

    Parameters
    ----------
    n : Tensor, shape (..., Lx, Ly)
        Site densities.
    lattice : SquareLattice
        Periodic along both axes (``ValueError`` otherwise).

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        ``S[..., a, b]`` at ``k = (2 pi a / Lx, 2 pi b / Ly)``; real, dtype of ``n``.
    """
    _require_periodic(lattice, "structure_factor")
    d = _field("n", n, lattice)
    amp = torch.fft.ifft2(d - d.mean(dim=(-2, -1), keepdim=True))
    power: Tensor = amp.real**2 + amp.imag**2
    return power


def correlation_map(phi: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return the normalised correlation :math:`C(\mathbf{r})` of ``phi`` (paper 002, eq. 26), by
    FFT.

    Parameters
    ----------
    phi : Tensor, shape (..., Lx, Ly)
        Typically :func:`local_cdw_order`; must not be uniform in any batch entry.
    lattice : SquareLattice
        Periodic along both axes.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        ``C[..., dx, dy]`` for the displacement ``(dx, dy)`` modulo ``(Lx, Ly)``; ``C = 1`` at 0.
    """
    _require_periodic(lattice, "correlation_map")
    f = _field("phi", phi, lattice)
    fluct = f - f.mean(dim=(-2, -1), keepdim=True)
    variance = (fluct * fluct).mean(dim=(-2, -1))
    if bool((variance <= 1e-20 * (f * f).mean(dim=(-2, -1))).any()):
        raise ValueError("phi must vary in space: C(r) is undefined for a uniform field")
    amp = torch.fft.fft2(fluct)
    covariance = torch.fft.ifft2(amp.real**2 + amp.imag**2).real / lattice.n_sites
    correlation: Tensor = covariance / variance[..., None, None]
    return correlation


def ensemble_order_parameter(Q: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`O = N_\alpha^{-1}\sum_\alpha|Q^\alpha_{\pi,\pi}|` over the ensemble axis (-3)
    (paper 000, eq. 13).

    Parameters
    ----------
    Q : Tensor, shape (..., n_ensemble, Lx, Ly)
        Distortions; the axis before the lattice axes holds the ensemble members.
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (...)
    """
    q = _field("Q", Q, lattice)
    if q.ndim < 3:
        raise ValueError(
            f"Q must have shape (..., n_ensemble, {lattice.Lx}, {lattice.Ly}) with an "
            f"ensemble axis, got {tuple(q.shape)}"
        )
    return staggered_order(q, lattice).abs().mean(dim=-1)


def spatial_fluctuation(Q: Tensor, Q0: float, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\sigma`, the ensemble mean of the spatial spread of :math:`\zeta_i` (paper
    000, Fig. 1).

    Parameters
    ----------
    Q : Tensor, shape (..., n_ensemble, Lx, Ly)
        Distortions; the axis before the lattice axes holds the ensemble members.
    Q0 : float
        Uniform offset (paper 000: ``g / (2 m Omega^2)``).
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (...)
        Mean over members of the population standard deviation of :math:`\zeta_i`.
    """
    q = _field("Q", Q, lattice)
    if q.ndim < 3:
        raise ValueError(
            f"Q must have shape (..., n_ensemble, {lattice.Lx}, {lattice.Ly}) with an "
            f"ensemble axis, got {tuple(q.shape)}"
        )
    zeta = local_lattice_order(q, Q0, lattice)
    spread = zeta.reshape(*zeta.shape[:-2], -1).std(dim=-1, unbiased=False)
    return spread.mean(dim=-1)


def domain_wall_position(n: Tensor, lattice: SquareLattice, threshold: float = 0.25) -> Tensor:
    r"""Return :math:`\xi`, the fraction of sites with :math:`|\phi_i| < \phi_c` (paper 001, Fig.
    4).

    Parameters
    ----------
    n : Tensor, shape (..., Lx, Ly)
        Densities.
    lattice : SquareLattice
    threshold : float
        :math:`\phi_c` in (0, 1).

    Returns
    -------
    Tensor, shape (...)
        In [0, 1].
    """
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    return metallic_fraction(n, lattice, threshold)


def metallic_fraction(
    n: Tensor, lattice: SquareLattice, threshold: float, columns: Tensor | None = None
) -> Tensor:
    r"""Return :math:`\#\{i \in R : |\phi_i| < \phi_c\}/\#R`, shape ``(...)``, for the sites
    ``R`` of the boolean mask ``columns`` ``(Lx, Ly)`` (``None``: all, paper 001's :math:`\xi`).

    Parameters
    ----------
    n : Tensor, shape (..., Lx, Ly)
        Densities.
    lattice : SquareLattice
    threshold : float
        :math:`\phi_c > 0`.
    columns : Tensor, shape (Lx, Ly), bool, optional
        The sites counted; None counts every site. At least one must be selected.

    Returns
    -------
    Tensor, shape (...)
        In [0, 1].
    """
    phi_c = check_finite_scalar("threshold", threshold)
    if phi_c <= 0.0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    phi = local_cdw_order(n, lattice)
    metal = (phi.abs() < phi_c).to(phi.dtype)
    if columns is None:
        return metal.mean(dim=(-2, -1))
    mask = torch.as_tensor(columns, device=phi.device)
    if mask.dtype != torch.bool or tuple(mask.shape) != lattice.shape or not bool(mask.any()):
        raise ValueError(
            f"columns must be a boolean mask of shape {lattice.shape} selecting at least one "
            f"site, got dtype {mask.dtype}, shape {tuple(mask.shape)} and "
            f"{int((mask != 0).sum())} selected"
        )
    weights = mask.to(phi.dtype)
    return (metal * weights).sum(dim=(-2, -1)) / weights.sum()


@functools.lru_cache(maxsize=64)
def _peak_geometry(
    lattice: SquareLattice, q_cut: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Index maps of the peak and background regions (see
    :func:`reference.observables.structure_factor_background`).

    Returns the flat indices of the peak momenta sorted by ``q = |k - K|``, their ``q``, the
    index of the last momentum of each shell of equal ``q`` in that order, the shell radii
    and the flat indices of the background momenta.
    """
    kx, ky = _ref.momentum_grid(lattice)

    def wrap(angle: np.ndarray) -> np.ndarray:
        return np.asarray((angle + np.pi) % (2 * np.pi) - np.pi)

    distance = np.hypot(wrap(kx - np.pi), wrap(ky - np.pi)).ravel()
    from_origin = np.hypot(wrap(kx), wrap(ky)).ravel()
    peak = np.flatnonzero(distance <= q_cut)
    background = np.flatnonzero((distance > q_cut) & (from_origin > q_cut))
    if peak.size == 0:
        raise ValueError(
            f"q_cut must be >= the smallest |k - K| = {distance.min()!r} on this lattice so "
            f"that the peak region holds a momentum, got {q_cut!r}"
        )
    if background.size == 0:
        raise ValueError(
            f"q_cut must leave momenta farther than it from both K and k = 0 (the background "
            f"region), got {q_cut!r}"
        )
    order = peak[np.argsort(distance[peak], kind="stable")]
    q = distance[order]
    last = np.flatnonzero(np.append(np.diff(q) > 1e-9, True))
    starts = np.append(0, last[:-1] + 1)
    radii = np.add.reduceat(q, starts) / (last - starts + 1)
    return order, q, last, radii, background


def _peak_split(
    S: Tensor, lattice: SquareLattice, q_cut: float, function: str
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(S - B on the peak momenta sorted by q, their q, shell ends, shell radii, B)``."""
    _require_periodic(lattice, function)
    s = _field("S", S, lattice)
    if bool((s < 0).any()):
        raise ValueError(f"S must be non-negative (it is |n(k)|^2), got minimum {float(s.min())!r}")
    order, q, last, radii, background = _peak_geometry(lattice, check_positive("q_cut", q_cut))
    flat = s.reshape(*s.shape[:-2], lattice.n_sites)
    dev = s.device
    level = flat[..., torch.as_tensor(background, device=dev)].mean(dim=-1)
    excess = flat[..., torch.as_tensor(order, device=dev)] - level[..., None]
    return (
        excess,
        torch.as_tensor(q, dtype=s.dtype, device=dev),
        torch.as_tensor(last, device=dev),
        torch.as_tensor(radii, dtype=s.dtype, device=dev),
        level,
    )


def _half_weight_radius(excess: Tensor, last: Tensor, radii: Tensor) -> Tensor:
    cumulative = excess.cumsum(dim=-1)[..., last]
    total = cumulative[..., -1]
    half = 0.5 * total
    j = (cumulative >= half[..., None]).to(torch.int64).argmax(dim=-1)
    previous = (j - 1).clamp(min=0)
    zero = torch.zeros_like(half)
    before = torch.where(j > 0, cumulative.gather(-1, previous[..., None])[..., 0], zero)
    after = cumulative.gather(-1, j[..., None])[..., 0]
    r_before = torch.where(j > 0, radii[previous], zero)
    radius = r_before + (half - before) / (after - before) * (radii[j] - r_before)
    return torch.where(total > 0, radius, torch.full_like(radius, math.nan))


def _check_window(window: float) -> float:
    try:
        w = float(window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a real number, got {window!r}") from None
    if not w > 0.0:
        raise ValueError(f"window must be > 0 (math.inf for no window), got {window!r}")
    return w


def _moment_length(
    S: Tensor, lattice: SquareLattice, q_cut: float, window: float, power: int, function: str
) -> Tensor:
    w = _check_window(window)
    excess, q, last, radii, _ = _peak_split(S, lattice, q_cut, function)
    if math.isinf(w):
        radius = torch.full(excess.shape[:-1], float(q_cut), dtype=excess.dtype, device=q.device)
    else:
        radius = (w * _half_weight_radius(excess, last, radii)).clamp(max=float(q_cut))
    inside = q <= radius[..., None]
    weight = torch.where(inside, excess, 0.0).sum(dim=-1)
    moment = torch.where(inside, excess * q**power, 0.0).sum(dim=-1)
    length = (weight / moment) ** (1.0 / power)
    length = torch.where(moment == 0, math.inf, length)
    return torch.where((weight > 0) & (moment >= 0), length, math.nan)


def structure_factor_background(S: Tensor, lattice: SquareLattice, q_cut: float = _Q_CUT) -> Tensor:
    r"""Return :math:`B`, the mean of :math:`S` over :math:`|\mathbf{k}-\mathbf{K}| > q_c`,
    :math:`|\mathbf{k}| > q_c` (the white-noise floor; see the reference), shape ``(...)``.

    Parameters
    ----------
    S : Tensor, shape (..., Lx, Ly)
        Structure factor on :func:`momentum_grid` (one configuration or an ensemble
        average), non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c > 0`, the boundary between the peak region about
        :math:`\mathbf{K} = (\pi, \pi)` and the background region; each must hold a momentum.

    Returns
    -------
    Tensor, shape (...)
    """
    return _peak_split(S, lattice, q_cut, "structure_factor_background")[4]


def domain_length_first_moment(
    S: Tensor, lattice: SquareLattice, q_cut: float = _Q_CUT, window: float = math.inf
) -> Tensor:
    r"""Return :math:`L_1 = \sum (S - B) / \sum (S - B) q` over
    :math:`q \le \min(q_c, w q_{1/2})`: eq. (15) of paper 003 without the flat background.

    Parameters
    ----------
    S : Tensor, shape (..., Lx, Ly)
        Structure factor on :func:`momentum_grid` (one configuration or an ensemble
        average), non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c > 0`, the boundary between the peak region about
        :math:`\mathbf{K} = (\pi, \pi)` and the background region; each must hold a momentum.
    window : float
        :math:`w > 0`, the summation radius in units of :math:`q_{1/2}`; ``math.inf`` sums
        the whole peak region.

    Returns
    -------
    Tensor, shape (...)
        In lattice constants; ``inf`` when the summed excess sits at ``K`` alone, NaN when
        there is no peak above the background.
    """
    return _moment_length(S, lattice, q_cut, window, 1, "domain_length_first_moment")


def domain_length_second_moment(
    S: Tensor, lattice: SquareLattice, q_cut: float = _Q_CUT, window: float = 2.0
) -> Tensor:
    r"""Return :math:`L_2 = [\sum (S - B) / \sum (S - B) q^2]^{1/2}` over
    :math:`q \le \min(q_c, w q_{1/2})`, shape ``(...)``.

    Parameters
    ----------
    S : Tensor, shape (..., Lx, Ly)
        Structure factor on :func:`momentum_grid` (one configuration or an ensemble
        average), non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c > 0`, the boundary between the peak region about
        :math:`\mathbf{K} = (\pi, \pi)` and the background region; each must hold a momentum.
    window : float
        :math:`w > 0`, the summation radius in units of :math:`q_{1/2}` (``math.inf``: the
        whole peak region).

    Returns
    -------
    Tensor, shape (...)
        In lattice constants; ``inf`` when the summed excess sits at ``K`` alone, NaN when
        there is no peak above the background.
    """
    return _moment_length(S, lattice, q_cut, window, 2, "domain_length_second_moment")


def domain_length_from_peak_width(
    S: Tensor, lattice: SquareLattice, q_cut: float = _Q_CUT
) -> Tensor:
    r"""Return :math:`1/q_{1/2}`, the inverse radius of the disc about K holding half of
    :math:`\sum_{q \le q_c} (S - B)`, shape ``(...)``.

    Parameters
    ----------
    S : Tensor, shape (..., Lx, Ly)
        Structure factor on :func:`momentum_grid` (one configuration or an ensemble
        average), non-negative.
    lattice : SquareLattice
        Periodic along both axes.
    q_cut : float
        :math:`q_c > 0`, the boundary between the peak region about
        :math:`\mathbf{K} = (\pi, \pi)` and the background region; each must hold a momentum.

    Returns
    -------
    Tensor, shape (...)
        ``inf`` when half the excess sits at ``K`` itself; NaN when the summed excess is not
        positive.
    """
    excess, _, last, radii, _ = _peak_split(S, lattice, q_cut, "domain_length_from_peak_width")
    return 1.0 / _half_weight_radius(excess, last, radii)


def domain_length_from_walls(phi: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`L = 2N / N_{\rm wall}`, :math:`N_{\rm wall}` the nearest-neighbour
    bonds with :math:`\phi_i \phi_j < 0`, shape ``(...)``.

    Parameters
    ----------
    phi : Tensor, shape (..., Lx, Ly)
        Local order, positive in one domain type and negative in the other.
    lattice : SquareLattice
        No bond crosses an open edge.

    Returns
    -------
    Tensor, shape (...)
        ``inf`` when no bond crosses a wall.
    """
    f = _field("phi", phi, lattice)
    walls = torch.zeros(f.shape[:-2], dtype=f.dtype, device=f.device)
    for wall in _wall_bonds(f, lattice):
        walls = walls + wall.sum(dim=(-2, -1)).to(f.dtype)
    # a Python scalar over a tensor is a reciprocal and a product in torch; divide as NumPy does
    length: Tensor = torch.full_like(walls, 2.0 * lattice.n_sites) / walls
    return length


def _wall_bonds(f: Tensor, lattice: SquareLattice) -> list[Tensor]:
    """Per axis, whether each bond ``(r, r + e_axis)`` crosses a wall; none across an open edge."""
    masks = []
    for axis, periodic in zip((-2, -1), lattice.periodic, strict=True):
        product = f * torch.roll(f, -1, dims=axis)
        if not periodic:
            product = product.narrow(axis, 0, f.shape[axis] - 1)
        masks.append(product < 0)
    return masks


def wall_mobility(
    phi_before: Tensor, phi_after: Tensor, lattice: SquareLattice, dt: float
) -> Tensor:
    r"""Return :math:`|W_a \triangle W_b| / ((|W_a| + |W_b|)\,\Delta t)`, the share of wall bonds
    (:math:`\phi_i \phi_j < 0`) that changed between two frames per unit time, shape ``(...)``;
    NaN where neither frame has a wall.

    Parameters
    ----------
    phi_before : Tensor, shape (..., Lx, Ly)
        Local order (:func:`local_cdw_order`, or a TDGL field) at the earlier frame.
    phi_after : Tensor, shape (..., Lx, Ly)
        The same at the later frame; moved to ``phi_before``'s device.
    lattice : SquareLattice
    dt : float
        The time between the frames (> 0).

    Returns
    -------
    Tensor, shape (...)
        In inverse time units; NaN where neither frame has a wall.
    """
    before = _field("phi_before", phi_before, lattice)
    after = _field("phi_after", phi_after, lattice).to(before.device)
    if after.shape != before.shape:
        raise ValueError(
            f"phi_after must have the shape of phi_before {tuple(before.shape)}, "
            f"got {tuple(after.shape)}"
        )
    interval = check_positive("dt", dt)
    changed = torch.zeros(before.shape[:-2], dtype=before.dtype, device=before.device)
    total = torch.zeros_like(changed)
    for wa, wb in zip(_wall_bonds(before, lattice), _wall_bonds(after, lattice), strict=True):
        changed = changed + (wa != wb).sum(dim=(-2, -1)).to(before.dtype)
        total = total + (wa.sum(dim=(-2, -1)) + wb.sum(dim=(-2, -1))).to(before.dtype)
    share = torch.where(total > 0, changed / total.clamp(min=1), math.nan)
    return share / interval
