"""Observables of CDW ordering on tensors.

Twin of :mod:`reference.observables`. The per-frame field maps (order parameters,
structure factor, correlation map) run on tensors on any device, batched over
leading axes; the one-dimensional post-processing (radial averages, crossings,
the growth-law fit) delegates to the reference.
"""

from __future__ import annotations

import torch

from fast._tensor import Tensor, delegate
from fast.lattice import _field, neighbour_sum, sublattice_sign
from reference import observables as _ref
from reference.lattice import SquareLattice
from reference.observables import GrowthFit
from reference.validation import check_finite_scalar

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

domain_length_from_correlation = delegate(_ref.domain_length_from_correlation)
domain_length_from_structure_factor = delegate(_ref.domain_length_from_structure_factor)
equal_time_correlation = delegate(_ref.equal_time_correlation)
fit_growth_exponent = delegate(_ref.fit_growth_exponent)
momentum_grid = delegate(_ref.momentum_grid)
radial_average = delegate(_ref.radial_average)
radial_structure_factor = delegate(_ref.radial_structure_factor)
scaling_collapse = delegate(_ref.scaling_collapse)


def _sign(lattice: SquareLattice, like: Tensor) -> Tensor:
    return sublattice_sign(lattice).to(dtype=like.dtype, device=like.device)


def staggered_order(Q: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`Q_{\pi,\pi} = N^{-1}\sum_i Q_i (-1)^{x_i+y_i}`, shape ``(...)``."""
    q = _field("Q", Q, lattice)
    return (q * _sign(lattice, q)).mean(dim=(-2, -1))


def local_cdw_order(n: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\phi_i = (n_i - \overline{n}_{\mathcal{N}(i)})(-1)^{x_i+y_i}` (paper 003, eq.
    12).
    """
    d = _field("n", n, lattice)
    ones = torch.ones(lattice.shape, dtype=d.dtype, device=d.device)
    mean = neighbour_sum(d, lattice) / neighbour_sum(ones, lattice)
    return (d - mean) * _sign(lattice, d)


def local_lattice_order(Q: Tensor, Q0: float, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\zeta_i = (Q_i - Q_0)(-1)^{x_i+y_i}` (paper 000, eq. 32)."""
    q = _field("Q", Q, lattice)
    return (q - float(Q0)) * _sign(lattice, q)


def _require_periodic(lattice: SquareLattice, function: str) -> None:
    if not all(lattice.periodic):
        raise ValueError(f"{function} needs a lattice periodic along both axes, got {lattice}")


def structure_factor(n: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`S(\mathbf{k}) = |\tilde n(\mathbf{k})|^2`, :math:`\tilde n = N^{-1}\sum_i (n_i
    - \bar n) e^{i\mathbf{k}\cdot\mathbf{r}_i}`.
    """
    _require_periodic(lattice, "structure_factor")
    d = _field("n", n, lattice)
    amp = torch.fft.ifft2(d - d.mean(dim=(-2, -1), keepdim=True))
    power: Tensor = amp.real**2 + amp.imag**2
    return power


def correlation_map(phi: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return the normalised correlation :math:`C(\mathbf{r})` of ``phi`` (paper 002, eq. 26), by
    FFT.
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
    """
    if not 0.0 < float(threshold) < 1.0:
        raise ValueError(f"threshold must lie in (0, 1), got {threshold!r}")
    return metallic_fraction(n, lattice, threshold)


def metallic_fraction(
    n: Tensor, lattice: SquareLattice, threshold: float, columns: Tensor | None = None
) -> Tensor:
    r"""Return :math:`\#\{i \in R : |\phi_i| < \phi_c\}/\#R`, shape ``(...)``, for the sites
    ``R`` of the boolean mask ``columns`` ``(Lx, Ly)`` (``None``: all, paper 001's :math:`\xi`).
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
