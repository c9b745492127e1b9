r"""Symmetry-adapted descriptors of a site's neighbourhood (papers 001, 002, 003, 004).

The force on site ``i`` depends on the distortions in its neighbourhood
:math:`\mathcal{C}_i = \{Q_j : |\mathbf{r}_j - \mathbf{r}_i| \le r_c\}` (paper 003
eq 9). A force field must give the same output for the :math:`|G|` neighbourhoods
related by the site's point group G (D4 for the bare lattice, Cs with electrodes).
This module builds, with generic group theory from :mod:`reference.symmetry`:

1. the IR decomposition of the neighbourhood (:func:`decompose_neighbourhood`):
   the offsets split into G-orbits (shells), each orbit's permutation
   representation is decomposed by transfer operators; for D4 and
   :math:`r_c = 3.61` the 45 sites give 9 A1 + 3 A2 + 6 B1 + 5 B2 + 11 E
   (paper 004 sec. III A);
2. the IR coefficients of every site of a field at once, one fixed linear map
   (:func:`irrep_coefficients`);
3. the invariants of paper 003 App. A: the power spectrum (eq A1), reference IRs
   from large symmetric blocks, the phases relative to the reference (eq A2), the
   standard frame of the reference (eqs A3, A4), and the 45-feature descriptor
   that combines them (:func:`d4_descriptor`);
4. the Cs descriptor of paper 001 eqs 11-12 (:func:`cs_descriptor`, 113 features
   for :math:`r_c = 6`).

The 45-feature count
--------------------
Paper 002 (sec. III) and paper 003 (App. B) feed 45 descriptor features to their
MLPs at :math:`r_c = 3.61`; the neighbourhood has 45 sites, and 45 is also the
number of independent invariants of a generic 45-dimensional configuration
modulo a finite group. The literal set :math:`\{p^\Gamma_r, \eta^\Gamma_r,
\eta^\Gamma_{\mathrm{ref}}\}` has 34 + 34 + 5 = 73 entries, is redundant for the
1-D IRs (:math:`\eta` is a sign there) and, because :math:`\eta^E_r` is a cosine,
cannot tell an E component from its mirror image about the reference. We
therefore use one number per 1-D IR occurrence,
:math:`p^\Gamma_r\,\eta^\Gamma_r\,\eta^\Gamma_{\mathrm{ref}}`, and two per E
occurrence, the components of :math:`\mathbf{f}^E_r` in the standard frame of the
reference (whose angle to the reference has cosine :math:`\eta^E_r`): 23 + 22 = 45
features, exactly invariant and complete. Both are the IR coefficients expressed
in the standard frame :math:`\mathcal{T}`, which is what :func:`d4_descriptor`
returns.

Conventions
-----------
* Coefficients are with respect to orthonormal basis vectors (paper 003 App. A
  writes unnormalised sums such as ``a + b + c + d``; the two differ by one
  constant factor per shell).
* On an open axis, neighbours beyond the edge contribute ``Q = 0``.
* The power spectrum is :math:`|\mathbf{f}|` (paper 003 eq A1; paper 002 writes
  :math:`|\mathbf{f}|^2`).
* Reference IRs: the neighbourhood minus its centre is split into the |G|
  angular sectors around the images :math:`g\,\mathbf{p}_0` of a generic point
  :math:`\mathbf{p}_0 = (2, 1)`; sites on a sector boundary are shared equally.
  For D4 the sectors are the eight octants, for Cs the upper and lower half
  planes (paper 001's "top" and "bottom" regions). The sector means transform in
  the regular representation, whose decomposition gives the references
  (D4: one each of A1, A2, B1, B2 and two E; Cs: one A' and one A'').
* The standard frame is the group element that maximises, lexicographically,
  the transformed reference coefficients (E first), with ties (within
  ``5e-13`` of the largest coefficient) broken by the next reference coefficient
  and then by the neighbourhood coefficients in order. For D4 this puts
  :math:`\mathcal{T}\mathbf{f}^E_{\mathrm{ref}}` at an angle in
  :math:`[0, \pi/4]` from :math:`\mathbf{e}_1`, as paper 003 eq A3 prescribes.
"""

from __future__ import annotations

import functools
import math

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.lattice import SquareLattice, neighbour_shells, offset_table
from reference.symmetry import (
    CS,
    D4,
    PointGroup,
    group_orbits,
    permutation_representation,
    symmetry_adapted_basis,
)
from reference.validation import check_array, check_positive

__all__ = [
    "IrrepLabel",
    "Neighbourhood",
    "canonical_element",
    "cs_descriptor",
    "d4_descriptor",
    "decompose_neighbourhood",
    "descriptor_size",
    "frame_features",
    "irrep_coefficients",
    "mirror_pair_features",
    "neighbourhood_values",
    "phases",
    "power_spectrum",
    "reference_irreps",
    "reference_phases",
    "sector_weights",
    "split_irreps",
    "standard_frame",
    "transform_irreps",
]

GENERIC_POINT = (2, 1)
"""A point with a trivial stabiliser in D4 and Cs: its images label the group elements."""
_TIE_TOL = 5e-13


@attrs.frozen
class IrrepLabel:
    """The label of one IR coefficient.

    Attributes
    ----------
    irrep : str
        IR name.
    multiplicity : int
        Occurrence ``r`` of this IR in the whole neighbourhood (0-based, by shell).
    component : int
        Partner ``k`` within the IR (0-based).
    orbit : int
        Index of the orbit (shell) the basis vector lives on.
    """

    irrep: str
    multiplicity: int
    component: int
    orbit: int


@attrs.frozen(eq=False)
class Neighbourhood:
    """A neighbourhood of lattice offsets and its decomposition into IRs of a point group.

    Attributes
    ----------
    group : PointGroup
    cutoff : float
        The cutoff radius ``r_c``.
    offsets : (m, 2) int64
        Offsets ``(dx, dy)`` with ``|delta| <= r_c``, ordered by radius, orbit and angle.
    orbits : tuple of (m_k, 2) int64
        The G-orbits (shells) of the offsets, in the same order.
    basis : (m, m) float64
        Orthogonal matrix; row ``a`` is the basis vector of coefficient ``labels[a]``,
        so the coefficients of values ``v`` (indexed like ``offsets``) are ``basis @ v``.
        Rows are grouped by IR (``group.irrep_names`` order), then multiplicity, then
        component, so each IR is a contiguous block.
    labels : tuple of IrrepLabel
    """

    group: PointGroup
    cutoff: float
    offsets: NDArray[np.int64]
    orbits: tuple[NDArray[np.int64], ...]
    basis: NDArray[np.float64]
    labels: tuple[IrrepLabel, ...]

    @property
    def size(self) -> int:
        """The number of sites ``m`` in the neighbourhood."""
        return int(self.offsets.shape[0])

    @property
    def multiplicities(self) -> dict[str, int]:
        """How often each IR occurs, e.g. ``{'A1': 9, 'A2': 3, 'B1': 6, 'B2': 5, 'E': 11}``."""
        out = dict.fromkeys(self.group.irrep_names, 0)
        for lab in self.labels:
            if lab.component == 0:
                out[lab.irrep] += 1
        return out

    def check_fits(self, lattice: SquareLattice) -> None:
        r"""Raise ``ValueError`` if the neighbourhood would wrap onto itself on ``lattice``.

        Two offsets :math:`\boldsymbol\delta \ne \boldsymbol\delta'` read the same site
        when :math:`\boldsymbol\delta - \boldsymbol\delta'` is a nonzero lattice period: a
        multiple of ``L`` along a periodic axis, zero along an open one (open axes never
        wrap). The offsets along an axis span ``2 floor(r_c)`` (the disk reaches
        :math:`\pm\lfloor r_c\rfloor`), so the sites are distinct exactly when every
        periodic length is at least ``2 floor(r_c) + 1``.

        Parameters
        ----------
        lattice : SquareLattice
            The lattice the neighbourhood is to be read on.

        Raises
        ------
        ValueError
            If a periodic length is below ``2 floor(r_c) + 1``.
        """
        for axis, (size, periodic) in enumerate(zip(lattice.shape, lattice.periodic, strict=True)):
            span = int(self.offsets[:, axis].max() - self.offsets[:, axis].min())
            if periodic and size <= span:
                name = "xy"[axis]
                raise ValueError(
                    f"r_c = {self.cutoff:g} is too large for the {lattice.Lx} x {lattice.Ly} "
                    f"lattice: the neighbourhood wraps onto itself along the periodic {name} "
                    f"axis; L{name} must be >= 2 floor(r_c) + 1 = {span + 1}, got L{name} = {size}"
                )

    def irrep_slice(self, irrep: str) -> slice:
        """The contiguous rows of ``basis`` (and coefficients) belonging to ``irrep``.

        Parameters
        ----------
        irrep : str
            One of ``group.irrep_names``; anything else raises ``ValueError``.

        Returns
        -------
        slice
            The rows of ``irrep``; empty (``slice(0, 0)``) when it does not occur.
        """
        rows = [a for a, lab in enumerate(self.labels) if lab.irrep == irrep]
        self.group.irrep(irrep)  # validate the name
        if not rows:
            return slice(0, 0)
        return slice(rows[0], rows[-1] + 1)


@functools.lru_cache(maxsize=32)
def decompose_neighbourhood(
    group: PointGroup, r_c: float, include_centre: bool = True
) -> Neighbourhood:
    r"""Split the neighbourhood within ``r_c`` into G-orbits and decompose each into IRs.

    Every orbit (a shell of equal distance, or part of one) carries a permutation
    representation that is decomposed by transfer operators
    (:func:`reference.symmetry.symmetry_adapted_basis`); the neighbourhood's basis is
    the direct sum over orbits, reordered so that each IR forms a contiguous block.
    Paper 003 App. A (types I, II, III are the orbits of 4 axis, 4 diagonal and
    8 general sites); paper 004 eq 9 and sec. III A.

    Parameters
    ----------
    group : PointGroup
        :data:`reference.symmetry.D4` or :data:`reference.symmetry.CS`.
    r_c : float
        Cutoff radius in lattice constants (> 0).
    include_centre : bool
        Whether the centre site itself is part of the neighbourhood.

    Returns
    -------
    Neighbourhood

    Examples
    --------
    >>> decompose_neighbourhood(D4, 3.61).multiplicities
    {'A1': 9, 'A2': 3, 'B1': 6, 'B2': 5, 'E': 11}
    """
    r_c = check_positive("r_c", r_c)
    orbits: list[NDArray[np.int64]] = []
    for shell in neighbour_shells(r_c, include_origin=include_centre):
        orbits.extend(group_orbits(group, shell.offsets))
    offsets = np.concatenate(orbits)
    m = len(offsets)
    rows: list[tuple[tuple[int, int, int, int], NDArray[np.float64], str]] = []
    start = 0
    seen = dict.fromkeys(group.irrep_names, 0)
    for o, orbit in enumerate(orbits):
        basis, labels = symmetry_adapted_basis(group, permutation_representation(group, orbit))
        first_r: dict[str, int] = {}
        for vec, (name, r, k) in zip(basis, labels, strict=True):
            first_r.setdefault(name, seen[name])
            full = np.zeros(m)
            full[start : start + len(orbit)] = vec
            key = (group.irrep_names.index(name), first_r[name] + r, k, o)
            rows.append((key, full, name))
        for name in first_r:
            seen[name] += sum(1 for lab in labels if lab[0] == name and lab[2] == 0)
        start += len(orbit)
    rows.sort(key=lambda row: row[0])
    basis_all = np.array([row[1] for row in rows])
    for array in (offsets, basis_all, *orbits):
        array.flags.writeable = False  # shared by the cache
    labels_all = tuple(IrrepLabel(row[2], row[0][1], row[0][2], row[0][3]) for row in rows)
    return Neighbourhood(group, r_c, offsets, tuple(orbits), basis_all, labels_all)


def neighbourhood_values(
    field: NDArray[np.float64], offsets: NDArray[np.int64], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Gather the field at ``r_i + delta`` for every site ``i`` and offset ``delta``.

    :math:`v_{i,j} = Q(\mathbf{r}_i + \boldsymbol{\delta}_j)`, wrapped on periodic
    axes and zero beyond open edges.

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field (e.g. distortions ``Q``) on ``lattice``; leading axes are batch axes.
    offsets : (m, 2) int
        The offsets :math:`\boldsymbol{\delta}_j` in lattice constants.
    lattice : SquareLattice
        The lattice of ``field``.

    Returns
    -------
    (..., Lx, Ly, m) float64
    """
    f = lattice.check_field("field", field)
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    index, inside = offset_table(lattice, offs)
    flat = f.reshape(*f.shape[:-2], -1)
    out = np.where(inside, flat[..., index], 0.0)
    return out.reshape(*f.shape, len(offs))


def irrep_coefficients(
    field: NDArray[np.float64], neighbourhood: Neighbourhood, lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return the IR coefficients :math:`f^{\Gamma,r}_k` of every site's neighbourhood.

    One fixed linear map: :math:`f_{i,a} = \sum_j U_{aj}\, Q(\mathbf{r}_i + \boldsymbol{\delta}_j)`
    with ``U = neighbourhood.basis``. Paper 004 eq 9; paper 003 App. A.

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field (e.g. distortions ``Q``) on ``lattice``; leading axes are batch axes.
    neighbourhood : Neighbourhood
        The decomposition (e.g. from :func:`decompose_neighbourhood`).
    lattice : SquareLattice
        The lattice of ``field``.

    Returns
    -------
    (..., Lx, Ly, m) float64
        Coefficients in the order of ``neighbourhood.labels``.

    Raises
    ------
    ValueError
        If the neighbourhood wraps onto itself on the lattice
        (:meth:`Neighbourhood.check_fits`).
    """
    neighbourhood.check_fits(lattice)
    return neighbourhood_values(field, neighbourhood.offsets, lattice) @ neighbourhood.basis.T


def split_irreps(
    coefficients: NDArray[np.float64], neighbourhood: Neighbourhood
) -> dict[str, NDArray[np.float64]]:
    """Group coefficients by IR.

    Parameters
    ----------
    coefficients : (..., m) float64
        In the order of ``neighbourhood.labels``.
    neighbourhood : Neighbourhood
        The decomposition (e.g. from :func:`decompose_neighbourhood`).

    Returns
    -------
    dict
        IR name -> array of shape ``(..., n_Gamma, d_Gamma)`` (multiplicity, component).
    """
    c = check_array("coefficients", coefficients, min_ndim=1)
    if c.shape[-1] != neighbourhood.size:
        raise ValueError(
            f"coefficients must have last axis {neighbourhood.size}, got shape {c.shape}"
        )
    out = {}
    for name in neighbourhood.group.irrep_names:
        d = neighbourhood.group.dimension(name)
        block = c[..., neighbourhood.irrep_slice(name)]
        out[name] = block.reshape(*c.shape[:-1], -1, d)
    return out


def transform_irreps(
    blocks: dict[str, NDArray[np.float64]], group: PointGroup, element: NDArray[np.int64]
) -> dict[str, NDArray[np.float64]]:
    r"""Apply group elements to IR blocks.

    .. math:: \mathbf{f}^{\Gamma,r} \to D_\Gamma(g)\,\mathbf{f}^{\Gamma,r}

    Parameters
    ----------
    blocks : dict of (..., n, d) float64
        IR name -> coefficients (multiplicity, component), as from :func:`split_irreps`.
    group : PointGroup
        The point group of the IR blocks (:data:`reference.symmetry.D4` or ``CS``).
    element : (...) int
        Element index per leading position (broadcast against the blocks' leading axes).

    Returns
    -------
    dict of (..., n, d) float64
    """
    g = np.asarray(element, dtype=np.int64)
    out = {}
    for name, f in blocks.items():
        d = group.irrep(name)[g]  # (..., d, d)
        out[name] = np.einsum("...kl,...rl->...rk", d, f)
    return out


def power_spectrum(blocks: dict[str, NDArray[np.float64]]) -> dict[str, NDArray[np.float64]]:
    r"""Return the power spectrum :math:`p^\Gamma_r = |\mathbf{f}^\Gamma_r|`.

    Paper 003 eq A1 (paper 002 sec. III uses the square).

    Parameters
    ----------
    blocks : dict of (..., n, d) float64
        IR name -> coefficients (multiplicity, component), as from :func:`split_irreps`.

    Returns
    -------
    dict of (..., n) float64
    """
    return {name: np.linalg.norm(f, axis=-1) for name, f in blocks.items()}


def sector_weights(neighbourhood: Neighbourhood) -> NDArray[np.float64]:
    r"""Return the weights that average the neighbourhood over the |G| angular sectors.

    Sector ``b`` collects the offsets whose direction is closest to
    :math:`g_b \mathbf{p}_0` with :math:`\mathbf{p}_0 = (2, 1)`; offsets equally
    close to several images (on a mirror line) are shared equally, and the centre
    is left out. Each row is normalised to sum to one, so ``weights @ v`` are the
    sector means (paper 001: the "top" and "bottom" averages :math:`Q_t, Q_b`;
    paper 003 App. A: "large symmetry-related blocks").

    Parameters
    ----------
    neighbourhood : Neighbourhood
        The decomposition (e.g. from :func:`decompose_neighbourhood`).

    Returns
    -------
    (|G|, m) float64
    """
    group = neighbourhood.group
    images = group.matrices @ np.array(GENERIC_POINT)
    directions = images / np.linalg.norm(images, axis=1, keepdims=True)
    w = np.zeros((group.order, neighbourhood.size))
    for j, delta in enumerate(neighbourhood.offsets):
        norm = math.hypot(float(delta[0]), float(delta[1]))
        if norm == 0.0:
            continue
        cos = directions @ (delta / norm)
        nearest = np.flatnonzero(cos > cos.max() - 1e-12)
        w[nearest, j] = 1.0 / len(nearest)
    return np.asarray(w / w.sum(axis=1, keepdims=True), dtype=np.float64)


def reference_irreps(
    values: NDArray[np.float64], neighbourhood: Neighbourhood
) -> dict[str, NDArray[np.float64]]:
    r"""Return the reference IRs :math:`\mathbf{f}^\Gamma_{\mathrm{ref}}` from the sector means.

    The |G| sector means (:func:`sector_weights`) transform in the regular
    representation, which is decomposed like any other orbit. Paper 003 App. A
    ("large symmetry-related blocks"), paper 002 sec. III, paper 001 (the
    reference :math:`f^{\mathrm{ref}}_{A''} = Q_t - Q_b` up to normalisation).

    Parameters
    ----------
    values : (..., m) float64
        Neighbourhood values in the order of ``neighbourhood.offsets``.
    neighbourhood : Neighbourhood
        The decomposition (e.g. from :func:`decompose_neighbourhood`).

    Returns
    -------
    dict of (..., n_ref, d) float64
        D4: one copy of each 1-D IR and two of E; Cs: one A' and one A''.
    """
    v = check_array("values", values, min_ndim=1)
    group = neighbourhood.group
    sectors = v @ sector_weights(neighbourhood).T  # (..., |G|)
    images = group.matrices @ np.array(GENERIC_POINT)
    basis, labels = symmetry_adapted_basis(group, permutation_representation(group, images))
    coeff = sectors @ basis.T
    out = {}
    for name in group.irrep_names:
        rows = [a for a, lab in enumerate(labels) if lab[0] == name]
        out[name] = coeff[..., rows].reshape(*v.shape[:-1], -1, group.dimension(name))
    return out


def canonical_element(
    keys: list[tuple[str, NDArray[np.float64]]], group: PointGroup, tol: float = _TIE_TOL
) -> NDArray[np.int64]:
    r"""Return, per position, the element that maximises the transformed keys lexicographically.

    The candidates :math:`D_\Gamma(g)\,\mathbf{f}` are compared key by key, component
    by component; values within ``tol`` times the largest absolute key value count as
    equal, so that exact symmetries are resolved by the next key rather than by
    rounding. The first maximising element (in ``group`` order) is returned.

    Parameters
    ----------
    keys : list of (irrep name, (..., n, d) float64)
        The blocks in priority order.
    group : PointGroup
        The point group of the IR blocks (:data:`reference.symmetry.D4` or ``CS``).
    tol : float
        Relative tie tolerance.

    Returns
    -------
    (...) int64
    """
    if not keys:
        raise ValueError("keys must hold at least one block")
    lead = keys[0][1].shape[:-2]
    cands = []
    for name, f in keys:
        d = group.irrep(name)  # (G, d, d)
        t = np.einsum("gkl,...rl->...grk", d, f)
        cands.append(t.reshape(*lead, group.order, -1))
    table = np.concatenate(cands, axis=-1)  # (..., G, n_keys)
    scale = np.max(np.abs(table), axis=(-2, -1), keepdims=True)[..., 0]
    alive = np.ones((*lead, group.order), dtype=bool)
    for k in range(table.shape[-1]):
        vals = np.where(alive, table[..., k], -np.inf)
        best = vals.max(axis=-1, keepdims=True)
        alive &= vals >= best - tol * scale
    return np.asarray(np.argmax(alive, axis=-1), dtype=np.int64)


def standard_frame(
    reference: dict[str, NDArray[np.float64]], group: PointGroup
) -> NDArray[np.int64]:
    r"""Return the standard-frame element :math:`\mathcal{T}` of the reference IRs.

    Paper 003 eq A3: :math:`\mathcal{T}` puts :math:`\mathcal{T}\mathbf{f}^E_{\mathrm{ref}}`
    within :math:`[0, \pi/4]` of :math:`\mathbf{e}_1`. Implemented as
    :func:`canonical_element` on the reference blocks, higher-dimensional IRs first.

    Parameters
    ----------
    reference : dict of (..., n_ref, d) float64
        IR name -> reference IRs, as from :func:`reference_irreps`.
    group : PointGroup
        The point group of the IR blocks (:data:`reference.symmetry.D4` or ``CS``).

    Returns
    -------
    (...) int64
    """
    return canonical_element(_reference_keys(reference, group), group)


def _reference_keys(
    reference: dict[str, NDArray[np.float64]], group: PointGroup
) -> list[tuple[str, NDArray[np.float64]]]:
    order = sorted(
        group.irrep_names, key=lambda n: (-group.dimension(n), group.irrep_names.index(n))
    )
    return [(name, reference[name]) for name in order if reference[name].shape[-2] > 0]


def phases(
    blocks: dict[str, NDArray[np.float64]], reference: dict[str, NDArray[np.float64]]
) -> dict[str, NDArray[np.float64]]:
    r"""Return the phases relative to the reference, :math:`\eta^\Gamma_r`.

    .. math:: \eta^\Gamma_r = \frac{\mathbf{f}^\Gamma_r \cdot \mathbf{f}^\Gamma_{\mathrm{ref}}}
              {|\mathbf{f}^\Gamma_r|\,|\mathbf{f}^\Gamma_{\mathrm{ref}}|}

    Paper 003 eq A2, with the first reference copy of each IR; zero where either
    norm is below ``5e-13`` of the largest coefficient (a vanishing IR has no phase,
    and rounding noise must not invent one).

    Parameters
    ----------
    blocks : dict of (..., n, d) float64
        IR name -> coefficients (multiplicity, component), as from :func:`split_irreps`.
    reference : dict of (..., n_ref, d) float64
        IR name -> reference IRs, as from :func:`reference_irreps`.

    Returns
    -------
    dict of (..., n) float64
    """
    scale = _TIE_TOL * np.max(
        [
            np.max(np.abs(f), axis=(-2, -1))
            for f in (*blocks.values(), *reference.values())
            if f.size
        ],
        axis=0,
    )
    out = {}
    for name, f in blocks.items():
        ref = reference[name][..., :1, :]
        dot = np.sum(f * ref, axis=-1)
        nf, nr = np.linalg.norm(f, axis=-1), np.linalg.norm(ref, axis=-1)
        ok = (nf > scale[..., None]) & (nr > scale[..., None])
        out[name] = np.divide(dot, nf * nr, out=np.zeros_like(dot), where=ok)
    return out


def reference_phases(
    reference: dict[str, NDArray[np.float64]], group: PointGroup
) -> dict[str, NDArray[np.float64]]:
    r"""Return the standard-form phases of the reference itself.

    .. math:: \eta^E_{\mathrm{ref}} =
              \frac{\mathcal{T}\mathbf{f}^E_{\mathrm{ref}} \cdot \mathbf{e}_1}
              {|\mathbf{f}^E_{\mathrm{ref}}|}, \qquad
              \eta^\Gamma_{\mathrm{ref}} = \operatorname{sign}(\mathcal{T} f^\Gamma_{\mathrm{ref}})
              \ (\Gamma \text{ one-dimensional})

    Paper 003 eqs A3-A4 (first reference copy of each IR). A 1-D reference within
    ``5e-13`` of the largest reference coefficient counts as zero (sign 0), so that a
    reference that vanishes by symmetry does not pick up the sign of rounding noise.

    Parameters
    ----------
    reference : dict of (..., n_ref, d) float64
        IR name -> reference IRs, as from :func:`reference_irreps`.
    group : PointGroup
        The point group of the IR blocks (:data:`reference.symmetry.D4` or ``CS``).

    Returns
    -------
    dict of (...) float64
    """
    t = standard_frame(reference, group)
    moved = transform_irreps(reference, group, t)
    scale = np.max([np.max(np.abs(f), axis=(-2, -1)) for f in reference.values() if f.size], axis=0)
    out = {}
    for name, f in moved.items():
        first = f[..., 0, :]
        if group.dimension(name) == 1:
            value = first[..., 0]
            out[name] = np.where(np.abs(value) > _TIE_TOL * scale, np.sign(value), 0.0)
        else:
            norm = np.linalg.norm(first, axis=-1)
            out[name] = np.divide(first[..., 0], norm, out=np.zeros_like(norm), where=norm > 0)
    return out


def frame_features(
    values: NDArray[np.float64], neighbourhood: Neighbourhood
) -> NDArray[np.float64]:
    r"""Return the IR coefficients of neighbourhoods expressed in their standard frame.

    The element :math:`\mathcal{T}` is :func:`canonical_element` of the reference IRs
    followed by the neighbourhood's own coefficients (which only break ties of the
    reference); the features are :math:`D_\Gamma(\mathcal{T})\,\mathbf{f}^{\Gamma}_r`
    for every IR occurrence. For a 1-D IR this is
    :math:`p^\Gamma_r\,\eta^\Gamma_r\,\eta^\Gamma_{\mathrm{ref}}` (paper 003 eqs A1-A4);
    for E it is the pair of components whose angle to the reference has cosine
    :math:`\eta^E_r`. Exactly invariant, and complete: two neighbourhoods have equal
    features only if a group element maps one onto the other.

    Parameters
    ----------
    values : (..., m) float64
        Neighbourhood values in the order of ``neighbourhood.offsets``.
    neighbourhood : Neighbourhood
        The decomposition (e.g. from :func:`decompose_neighbourhood`).

    Returns
    -------
    (..., m) float64
        In the order of ``neighbourhood.labels``.
    """
    v = check_array("values", values, min_ndim=1)
    if v.shape[-1] != neighbourhood.size:
        raise ValueError(f"values must have last axis {neighbourhood.size}, got shape {v.shape}")
    group = neighbourhood.group
    coeff = v @ neighbourhood.basis.T
    blocks = split_irreps(coeff, neighbourhood)
    keys = _reference_keys(reference_irreps(v, neighbourhood), group) + [
        (name, blocks[name]) for name in group.irrep_names if blocks[name].shape[-2] > 0
    ]
    moved = transform_irreps(blocks, group, canonical_element(keys, group))
    return np.concatenate(
        [moved[name].reshape(*coeff.shape[:-1], -1) for name in group.irrep_names], axis=-1
    )


def d4_descriptor(
    field: NDArray[np.float64], lattice: SquareLattice, r_c: float = 3.61
) -> NDArray[np.float64]:
    r"""Return the invariant descriptor of paper 003 App. A at every site.

    :func:`frame_features` of every site's D4 neighbourhood: one feature per
    neighbourhood site, 45 for :math:`r_c = 3.61` (papers 002, 003).

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field (e.g. distortions ``Q``) on ``lattice``; leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``field``.
    r_c : float
        Cutoff radius (> 0). Every periodic length of ``lattice`` must be at least
        ``2 floor(r_c) + 1``, so that no neighbourhood wraps onto itself
        (:meth:`Neighbourhood.check_fits`); open axes never wrap.

    Returns
    -------
    (..., Lx, Ly, m) float64
        Features in the order of ``decompose_neighbourhood(D4, r_c).labels``.
    """
    hood = decompose_neighbourhood(D4, r_c)
    hood.check_fits(lattice)
    return frame_features(neighbourhood_values(field, hood.offsets, lattice), hood)


def mirror_pair_features(
    values: NDArray[np.float64], neighbourhood: Neighbourhood
) -> NDArray[np.float64]:
    r"""Return paper 001's mirror-invariant features of Cs neighbourhoods.

    .. math:: G_{A'} = f_{A'} = Q_j + Q_{\hat{j}}, \qquad
              G_{A''} = f_{A''}\, f^{\mathrm{ref}}_{A''}, \quad f_{A''} = Q_j - Q_{\hat{j}}

    (paper 001 eqs 11-12; orthonormal pair combinations here), with
    :math:`f^{\mathrm{ref}}_{A''}` from the top and bottom half-plane means
    (:func:`reference_irreps`). Sites on the mirror line give A' features only.
    Continuous, and complete wherever :math:`f^{\mathrm{ref}}_{A''} \ne 0`.

    Parameters
    ----------
    values : (..., m) float64
        Neighbourhood values in the order of ``neighbourhood.offsets``.
    neighbourhood : Neighbourhood
        A decomposition under :data:`reference.symmetry.CS`.

    Returns
    -------
    (..., m) float64
        A' features first, then A''.
    """
    if neighbourhood.group is not CS:
        raise ValueError(
            f"neighbourhood must be decomposed under Cs, got {neighbourhood.group.name}"
        )
    v = check_array("values", values, min_ndim=1)
    if v.shape[-1] != neighbourhood.size:
        raise ValueError(f"values must have last axis {neighbourhood.size}, got shape {v.shape}")
    blocks = split_irreps(v @ neighbourhood.basis.T, neighbourhood)
    ref = reference_irreps(v, neighbourhood)["A''"][..., 0, 0]
    return np.concatenate([blocks["A'"][..., 0], blocks["A''"][..., 0] * ref[..., None]], axis=-1)


def cs_descriptor(
    field: NDArray[np.float64], lattice: SquareLattice, r_c: float = 6.0
) -> NDArray[np.float64]:
    r"""Return the mirror-invariant descriptor of paper 001 at every site.

    :func:`mirror_pair_features` of every site's Cs neighbourhood. For
    :math:`r_c = 6` there are 13 sites on the mirror line and 50 mirror pairs:
    63 + 50 = 113 features. The mirror is :math:`y \to -y` (the electrodes sit at
    the two ends of x).

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field (e.g. distortions ``Q``) on ``lattice``; leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``field`` (paper 001: open along x, periodic along y).
    r_c : float
        Cutoff radius (> 0); the neighbourhood must not wrap onto itself along a periodic
        axis (:meth:`Neighbourhood.check_fits`).

    Returns
    -------
    (..., Lx, Ly, m) float64
    """
    hood = decompose_neighbourhood(CS, r_c)
    hood.check_fits(lattice)
    return mirror_pair_features(neighbourhood_values(field, hood.offsets, lattice), hood)


def descriptor_size(group: PointGroup, r_c: float) -> int:
    """Return the number of descriptor features for ``group`` at cutoff ``r_c`` (= sites).

    Parameters
    ----------
    group : PointGroup
        :data:`reference.symmetry.D4` (:func:`d4_descriptor`) or ``CS``
        (:func:`cs_descriptor`).
    r_c : float
        Cutoff radius in lattice constants (> 0).

    Returns
    -------
    int
        The number of sites within ``r_c``, centre included (45 for D4 at 3.61).
    """
    return decompose_neighbourhood(group, r_c).size
