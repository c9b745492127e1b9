r"""Symmetry-adapted descriptors on tensors: one gather and one matmul per field.

Twin of :mod:`reference.descriptors`. The decomposition (basis, labels, sector
weights, reference-IR map) is computed once by the reference and reused as
constant matrices; every site of a batch of fields is then described by a gather
of its neighbourhood, a matrix product, and the vectorised standard-frame search.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import numpy as np
import torch

from fast._tensor import Tensor, as_tensor
from fast.lattice import _field
from reference.descriptors import (
    GENERIC_POINT,
    IrrepLabel,
    Neighbourhood,
    decompose_neighbourhood,
    descriptor_size,
    sector_weights,
)
from reference.lattice import SquareLattice, offset_table
from reference.symmetry import (
    CS,
    D4,
    PointGroup,
    permutation_representation,
    symmetry_adapted_basis,
)

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

_TIE_TOL = 5e-13


@functools.lru_cache(maxsize=64)
def _gather_index(
    lattice: SquareLattice, offsets: tuple[tuple[int, int], ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Flat neighbour index and inside mask, (N, m) each (`reference.lattice.offset_table`)."""
    return offset_table(lattice, np.array(offsets, dtype=np.int64).reshape(-1, 2))


@functools.lru_cache(maxsize=64)
def _device_gather(
    lattice: SquareLattice, offsets: tuple[tuple[int, int], ...], device: torch.device
) -> tuple[Tensor, Tensor | None]:
    """:func:`_gather_index` on ``device``: the index ``(N, m)`` and the inside mask (``None``
    when every neighbour is inside, as on a periodic lattice)."""
    idx, inside = _gather_index(lattice, offsets)
    mask = None if inside.all() else torch.as_tensor(inside, device=device)
    return torch.as_tensor(idx, device=device), mask


def neighbourhood_values(field: Tensor, offsets: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Gather :math:`Q(\mathbf{r}_i + \boldsymbol\delta_j)` for every site and offset, ``(..., Lx,
    Ly, m)``.

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field on the lattice; float32 stays float32, anything else becomes float64.
    offsets : Tensor, shape (m, 2), int
        Offsets ``(dx, dy)`` in lattice constants (an array or nested list also works).
    lattice : SquareLattice
        Wraps periodic axes; neighbours beyond an open edge read as zero.

    Returns
    -------
    Tensor, shape (..., Lx, Ly, m)
        Same dtype and device as ``field``.
    """
    offs = tuple(
        (int(a), int(b)) for a, b in np.asarray(torch.as_tensor(offsets).cpu()).reshape(-1, 2)
    )
    return _gather(_field("field", field, lattice), offs, lattice)


def _gather(f: Tensor, offsets: tuple[tuple[int, int], ...], lattice: SquareLattice) -> Tensor:
    """:func:`neighbourhood_values` of a validated field and offsets as a tuple."""
    idx, inside = _device_gather(lattice, offsets, f.device)
    gathered = f.reshape(*f.shape[:-2], lattice.n_sites)[..., idx]
    if inside is not None:  # open edges: neighbours outside the lattice read as zero
        gathered = gathered * inside.to(f.dtype)
    return gathered.reshape(*f.shape, len(offsets))


def irrep_coefficients(
    field: Tensor, neighbourhood: Neighbourhood, lattice: SquareLattice
) -> Tensor:
    r"""Return the IR coefficients of every site (one gather, one matmul), ``(..., Lx, Ly, m)``.

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field on the lattice.
    neighbourhood : Neighbourhood
        From :func:`decompose_neighbourhood`; must not wrap onto itself on ``lattice``
        (``ValueError`` otherwise).
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (..., Lx, Ly, m)
        Coefficients in the order of ``neighbourhood.labels``; dtype and device of ``field``.
    """
    neighbourhood.check_fits(lattice)
    values = neighbourhood_values(field, torch.tensor(neighbourhood.offsets), lattice)
    basis = torch.tensor(neighbourhood.basis, dtype=values.dtype, device=values.device)
    return values @ basis.T


def split_irreps(coefficients: Tensor, neighbourhood: Neighbourhood) -> dict[str, Tensor]:
    """Group coefficients by IR: ``{name: (..., n_Gamma, d_Gamma)}``.

    Parameters
    ----------
    coefficients : Tensor, shape (..., m)
        IR coefficients in the order of ``neighbourhood.labels``.
    neighbourhood : Neighbourhood

    Returns
    -------
    dict of str to Tensor, shape (..., n_Gamma, d_Gamma)
        IR name to its block (multiplicity, component).
    """
    c = as_tensor("coefficients", coefficients, dtype=None)
    if c.shape[-1] != neighbourhood.size:
        raise ValueError(
            f"coefficients must have last axis {neighbourhood.size}, got shape {tuple(c.shape)}"
        )
    return _split_irreps(c, neighbourhood)


def _split_irreps(c: Tensor, neighbourhood: Neighbourhood) -> dict[str, Tensor]:
    out = {}
    for name in neighbourhood.group.irrep_names:
        d = neighbourhood.group.dimension(name)
        s = neighbourhood.irrep_slice(name)
        out[name] = c[..., s].reshape(*c.shape[:-1], -1, d)
    return out


def transform_irreps(
    blocks: dict[str, Tensor], group: PointGroup, element: Tensor
) -> dict[str, Tensor]:
    r"""Apply group elements per position: :math:`\mathbf{f} \to D_\Gamma(g)\mathbf{f}`.

    Parameters
    ----------
    blocks : dict of str to Tensor, shape (..., n, d)
        IR blocks as returned by :func:`split_irreps`.
    group : PointGroup
        The group the blocks belong to (``D4`` or ``CS``).
    element : Tensor, shape (...), int
        Element index per leading position, broadcast against the blocks' leading axes.

    Returns
    -------
    dict of str to Tensor, shape (..., n, d)
        The transformed blocks, on each block's device and dtype.
    """
    out = {}
    for name, f in blocks.items():
        g = torch.as_tensor(element, device=f.device, dtype=torch.int64)
        d = torch.as_tensor(group.irrep(name), dtype=f.dtype, device=f.device)[g]
        out[name] = torch.einsum("...kl,...rl->...rk", d, f)
    return out


def power_spectrum(blocks: dict[str, Tensor]) -> dict[str, Tensor]:
    r"""Return :math:`p^\Gamma_r = |\mathbf{f}^\Gamma_r|` (paper 003, eq. A1).

    Parameters
    ----------
    blocks : dict of str to Tensor, shape (..., n, d)
        IR blocks as returned by :func:`split_irreps`.

    Returns
    -------
    dict of str to Tensor, shape (..., n)
    """
    return {name: torch.linalg.vector_norm(f, dim=-1) for name, f in blocks.items()}


@functools.lru_cache(maxsize=32)
def _reference_map(neighbourhood: Neighbourhood) -> tuple[np.ndarray, tuple[str, ...]]:
    group = neighbourhood.group
    images = group.matrices @ np.array(GENERIC_POINT)
    basis, labels = symmetry_adapted_basis(group, permutation_representation(group, images))
    return basis @ sector_weights(neighbourhood), tuple(lab[0] for lab in labels)


def reference_irreps(values: Tensor, neighbourhood: Neighbourhood) -> dict[str, Tensor]:
    """Return the reference IRs from the sector means (one constant matrix), ``{name: (..., n_ref,
    d)}``.

    Parameters
    ----------
    values : Tensor, shape (..., m)
        Neighbourhood values in the order of ``neighbourhood.offsets``.
    neighbourhood : Neighbourhood

    Returns
    -------
    dict of str to Tensor, shape (..., n_ref, d)
        D4: one copy of each 1-D IR and two of E; Cs: one A' and one A''.
    """
    return _reference_irreps(as_tensor("values", values, dtype=None), neighbourhood)


def _reference_irreps(v: Tensor, neighbourhood: Neighbourhood) -> dict[str, Tensor]:
    matrix, names = _reference_map(neighbourhood)
    coeff = v @ torch.as_tensor(matrix, dtype=v.dtype, device=v.device).T
    return _group_rows(coeff, names, neighbourhood.group)


def _group_rows(coeff: Tensor, names: tuple[str, ...], group: PointGroup) -> dict[str, Tensor]:
    """Reference coefficients ``(..., n_ref)`` labelled ``names``, as ``{name: (..., n, d)}``."""
    out = {}
    for name in group.irrep_names:
        rows = [a for a, lab in enumerate(names) if lab == name]
        out[name] = coeff[..., rows].reshape(*coeff.shape[:-1], -1, group.dimension(name))
    return out


@functools.cache
def _signed_permutation(group: PointGroup, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``(perm, sign)``, each ``(G, d)``, with ``D(g)[k, l] = sign[g, k] [l == perm[g, k]]``.

    ``None`` unless every matrix of the irrep has one entry +-1 per row and zeros
    elsewhere (true for the D4 and Cs bases). Then ``(D(g) f)_k = sign[g, k] f[perm[g, k]]``
    exactly: a transformation is a gather and a sign flip, with no arithmetic to round.
    """
    d = np.asarray(group.irrep(name))
    if not (np.all(np.isin(d, (-1.0, 0.0, 1.0))) and np.all(np.abs(d).sum(-1) == 1)):
        return None
    perm = np.abs(d).argmax(-1)
    sign = np.take_along_axis(d, perm[..., None], -1)[..., 0]
    return perm.astype(np.int64), sign


def canonical_element(
    keys: list[tuple[str, Tensor]], group: PointGroup, tol: float = _TIE_TOL
) -> Tensor:
    """Return the element maximising the transformed keys lexicographically, with relative ties
    ``tol``.

    Key columns are compared one at a time, and the comparison stops as soon as every
    position has a unique maximiser (usually after two columns). When every irrep acts by
    signed permutations (the D4 and Cs bases), one column of all ``G`` transformed keys is
    a gather of ``G`` key entries and a sign flip, and the tie scale (the largest
    transformed value) is the largest key value; otherwise the transformed table is built
    whole.

    Parameters
    ----------
    keys : list of (str, Tensor of shape (..., n, d))
        IR name and block, in priority order; at least one (``ValueError`` otherwise).
    group : PointGroup
    tol : float
        Relative tie tolerance: values within ``tol`` times the largest key value are equal.

    Returns
    -------
    Tensor, shape (...), int64
        Index into ``group`` of the first maximising element, on the keys' device.
    """
    if not keys:
        raise ValueError("keys must hold at least one block")
    return _canonical(keys, group, tol)


def _canonical(
    keys: list[tuple[str, Tensor]], group: PointGroup, tol: float, scale: Tensor | None = None
) -> Tensor:
    """:func:`canonical_element`; ``scale``, the largest key value per position, may be given
    (it is the tie scale when every irrep acts by signed permutations)."""
    lead = keys[0][1].shape[:-2]
    device, dtype = keys[0][1].device, keys[0][1].dtype
    columns: Iterable[Tensor]
    if all(_signed_permutation(group, name) is not None for name, _ in keys):
        if scale is None:
            scale = torch.stack([f.abs().amax(dim=(-2, -1)) for _, f in keys]).amax(dim=0)
        columns = _signed_columns(keys, group)
    else:
        table = [
            torch.einsum("gkl,...rl->...grk", _irrep_tensor(group, name, dtype, device), f)
            .reshape(*lead, group.order, -1)
            .movedim(-1, 0)  # (n_columns, ..., G): each key a contiguous slab
            for name, f in keys
        ]
        scale = torch.stack([t.abs().amax(dim=(0, -1)) for t in table]).amax(dim=0)
        columns = (column for t in table for column in t)
    threshold = tol * scale[..., None]
    alive = torch.ones((*lead, group.order), dtype=torch.bool, device=device)
    neg_inf = torch.tensor(-float("inf"), dtype=dtype, device=device)
    for column in columns:
        vals = torch.where(alive, column, neg_inf)
        alive = alive & (vals >= vals.amax(dim=-1, keepdim=True) - threshold)
        if bool((alive.sum(-1) == 1).all()):
            break  # every position has a unique maximiser: later keys cannot change it
    return torch.argmax(alive.to(torch.int8), dim=-1)


@functools.lru_cache(maxsize=64)
def _device_signed_permutation(
    group: PointGroup, name: str, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor]:
    """:func:`_signed_permutation` transposed to ``(d, G)`` on ``device``."""
    signed = _signed_permutation(group, name)
    assert signed is not None
    index = torch.as_tensor(signed[0].T, device=device)
    return index, torch.as_tensor(signed[1].T, dtype=dtype, device=device)


def _signed_columns(keys: list[tuple[str, Tensor]], group: PointGroup) -> Iterable[Tensor]:
    """Transformed key columns ``(..., G)`` in (block, row, component) order, by gathers."""
    for name, f in keys:
        d = group.dimension(name)
        flat = f.reshape(*f.shape[:-2], -1)
        index, signs = _device_signed_permutation(group, name, f.dtype, f.device)
        for r in range(f.shape[-2]):
            for k in range(d):
                yield flat.index_select(-1, index[k] + r * d) * signs[k]


def _irrep_tensor(group: PointGroup, name: str, dtype: torch.dtype, device: torch.device) -> Tensor:
    """The irrep's matrices ``(G, d, d)`` as a tensor."""
    return torch.as_tensor(group.irrep(name), dtype=dtype, device=device)


def _reference_keys(reference: dict[str, Tensor], group: PointGroup) -> list[tuple[str, Tensor]]:
    order = sorted(
        group.irrep_names, key=lambda n: (-group.dimension(n), group.irrep_names.index(n))
    )
    return [(name, reference[name]) for name in order if reference[name].shape[-2] > 0]


def standard_frame(reference: dict[str, Tensor], group: PointGroup) -> Tensor:
    """Return the standard-frame element of the reference IRs (paper 003, eq. A3).

    Parameters
    ----------
    reference : dict of str to Tensor, shape (..., n_ref, d)
        Reference IRs from :func:`reference_irreps`.
    group : PointGroup

    Returns
    -------
    Tensor, shape (...), int64
        Element index into ``group``.
    """
    return canonical_element(_reference_keys(reference, group), group)


def phases(blocks: dict[str, Tensor], reference: dict[str, Tensor]) -> dict[str, Tensor]:
    r"""Return :math:`\eta^\Gamma_r` (paper 003, eq. A2); zero for components below tie scale.

    Parameters
    ----------
    blocks : dict of str to Tensor, shape (..., n, d)
        IR blocks of the neighbourhood (:func:`split_irreps`).
    reference : dict of str to Tensor, shape (..., n_ref, d)
        Reference IRs (:func:`reference_irreps`); the first copy of each IR is used.

    Returns
    -------
    dict of str to Tensor, shape (..., n)
        Cosines in ``[-1, 1]``.
    """
    every = [*blocks.values(), *reference.values()]
    scale = _TIE_TOL * torch.stack([f.abs().amax(dim=(-2, -1)) for f in every if f.numel()]).amax(
        dim=0
    )
    out = {}
    for name, f in blocks.items():
        ref = reference[name][..., :1, :]
        dot = (f * ref).sum(-1)
        nf, nr = torch.linalg.vector_norm(f, dim=-1), torch.linalg.vector_norm(ref, dim=-1)
        ok = (nf > scale[..., None]) & (nr > scale[..., None])
        out[name] = torch.where(ok, dot / torch.where(ok, nf * nr, 1.0), torch.zeros_like(dot))
    return out


def reference_phases(reference: dict[str, Tensor], group: PointGroup) -> dict[str, Tensor]:
    """Return the standard-form phases of the reference (paper 003, eqs. A3-A4).

    Parameters
    ----------
    reference : dict of str to Tensor, shape (..., n_ref, d)
        Reference IRs from :func:`reference_irreps`.
    group : PointGroup

    Returns
    -------
    dict of str to Tensor, shape (...)
        A sign (-1, 0 or 1) for 1-D IRs, a cosine for E.
    """
    t = standard_frame(reference, group)
    moved = transform_irreps(reference, group, t)
    scale = torch.stack([f.abs().amax(dim=(-2, -1)) for f in reference.values() if f.numel()]).amax(
        dim=0
    )
    out = {}
    for name, f in moved.items():
        first = f[..., 0, :]
        if group.dimension(name) == 1:
            value = first[..., 0]
            out[name] = torch.where(
                value.abs() > _TIE_TOL * scale, torch.sign(value), torch.zeros_like(value)
            )
        else:
            norm = torch.linalg.vector_norm(first, dim=-1)
            out[name] = torch.where(
                norm > 0, first[..., 0] / torch.where(norm > 0, norm, 1.0), torch.zeros_like(norm)
            )
    return out


def frame_features(values: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    """Return the IR coefficients in the standard frame (45 features at r_c = 3.61).

    Parameters
    ----------
    values : Tensor, shape (..., m)
        Neighbourhood values in the order of ``neighbourhood.offsets``; float32 stays float32.
    neighbourhood : Neighbourhood

    Returns
    -------
    Tensor, shape (..., m)
        In the order of ``neighbourhood.labels``; dtype and device of ``values``.
    """
    return _frame_features(_values(values, neighbourhood), neighbourhood)


def _values(values: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    """Validated neighbourhood values ``(..., m)``."""
    v = as_tensor("values", values, dtype=None)
    if v.shape[-1] != neighbourhood.size:
        raise ValueError(
            f"values must have last axis {neighbourhood.size}, got shape {tuple(v.shape)}"
        )
    return v


def _frame_features(v: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    """:func:`frame_features` on values already validated (no finiteness pass on the hot path).

    One matmul gives the IR coefficients and the reference IRs together; the standard
    frame's element then acts on the coefficient vector as one gather and sign flip.
    """
    group = neighbourhood.group
    matrix, n_coeff = _coefficient_matrix(neighbourhood, v.dtype, v.device)
    both = v @ matrix
    coeff = both[..., :n_coeff]
    blocks = _split_irreps(coeff, neighbourhood)
    names = _reference_map(neighbourhood)[1]
    reference = _group_rows(both[..., n_coeff:], names, group)
    keys = _reference_keys(reference, group) + [
        (name, blocks[name]) for name in group.irrep_names if blocks[name].shape[-2] > 0
    ]
    # every coefficient and reference value is a key: the tie scale is the largest of them
    element = _canonical(keys, group, _TIE_TOL, both.abs().amax(dim=-1))
    signed = _coefficient_permutation(neighbourhood)
    if signed is None:
        moved = transform_irreps(blocks, group, element)
        return torch.cat(
            [moved[name].reshape(*coeff.shape[:-1], -1) for name in group.irrep_names], dim=-1
        )
    # one gather from [c, -c]: the sign is folded into the index
    table = _device_table(neighbourhood, v.device)
    lead = coeff.shape[:-1]
    rows = table.index_select(0, element.reshape(-1))
    both_signs = torch.cat([coeff, -coeff], dim=-1).reshape(-1, 2 * n_coeff)
    return both_signs.gather(-1, rows).reshape(*lead, n_coeff)


@functools.lru_cache(maxsize=64)
def _coefficient_matrix(
    neighbourhood: Neighbourhood, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, int]:
    """``[basis; reference map]^T`` as one ``(m, m + n_ref)`` constant, and ``m``."""
    ref_matrix, _ = _reference_map(neighbourhood)
    stacked = np.concatenate([neighbourhood.basis, ref_matrix]).T
    return torch.tensor(stacked, dtype=dtype, device=device), neighbourhood.size


@functools.lru_cache(maxsize=64)
def _device_table(neighbourhood: Neighbourhood, device: torch.device) -> Tensor:
    """:func:`_coefficient_permutation` on ``device``."""
    return torch.as_tensor(_coefficient_permutation(neighbourhood), device=device)


@functools.lru_cache(maxsize=32)
def _coefficient_permutation(neighbourhood: Neighbourhood) -> np.ndarray | None:
    """``(G, m)`` gather table into ``[c, -c]``: element ``g`` maps coefficient ``a`` to
    ``sign[g, a] * c[perm[g, a]]``, which is entry ``perm[g, a] + m [sign[g, a] < 0]`` of
    ``[c, -c]`` (``None`` unless every irrep acts by signed permutations).
    """
    group = neighbourhood.group
    perm = np.tile(np.arange(neighbourhood.size), (group.order, 1))
    sign = np.ones((group.order, neighbourhood.size))
    for name in group.irrep_names:
        signed = _signed_permutation(group, name)
        if signed is None:
            return None
        s, d = neighbourhood.irrep_slice(name), group.dimension(name)
        for start in range(s.start, s.stop, d):
            perm[:, start : start + d] = start + signed[0]
            sign[:, start : start + d] = signed[1]
    return perm + neighbourhood.size * (sign < 0)


def d4_descriptor(field: Tensor, lattice: SquareLattice, r_c: float = 3.61) -> Tensor:
    """Return the D4 descriptor of every site, ``(..., Lx, Ly, m)`` (paper 003, App. A).

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field; float32 stays float32, anything else becomes float64.
    lattice : SquareLattice
    r_c : float
        Cutoff radius in lattice constants (> 0); every periodic length must be at least
        ``2 floor(r_c) + 1``.

    Returns
    -------
    Tensor, shape (..., Lx, Ly, m)
        Features in the order of ``decompose_neighbourhood(D4, r_c).labels`` (m = 45 at
        the default cutoff); dtype and device of ``field``.
    """
    hood = decompose_neighbourhood(D4, r_c)
    hood.check_fits(lattice)
    # the field is validated once here; the (sites x m) values need no second pass
    return _frame_features(_gather(_field("field", field, lattice), _offsets(hood), lattice), hood)


@functools.lru_cache(maxsize=32)
def _offsets(neighbourhood: Neighbourhood) -> tuple[tuple[int, int], ...]:
    """The neighbourhood's offsets as a hashable tuple (the gather cache's key)."""
    return tuple((int(a), int(b)) for a, b in neighbourhood.offsets)


def mirror_pair_features(values: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    r"""Return paper 001's :math:`G_{A'} = f_{A'}`, :math:`G_{A''} = f_{A''}f^{\rm ref}_{A''}` (eqs.
    11-12).

    Parameters
    ----------
    values : Tensor, shape (..., m)
        Neighbourhood values in the order of ``neighbourhood.offsets``.
    neighbourhood : Neighbourhood
        A decomposition under ``CS`` (``ValueError`` otherwise).

    Returns
    -------
    Tensor, shape (..., m)
        A' features first, then A''.
    """
    if neighbourhood.group is not CS:
        raise ValueError(
            f"neighbourhood must be decomposed under Cs, got {neighbourhood.group.name}"
        )
    return _mirror_pair_features(_values(values, neighbourhood), neighbourhood)


def _mirror_pair_features(v: Tensor, neighbourhood: Neighbourhood) -> Tensor:
    coeff = v @ torch.tensor(neighbourhood.basis, dtype=v.dtype, device=v.device).T
    blocks = _split_irreps(coeff, neighbourhood)
    ref = _reference_irreps(v, neighbourhood)["A''"][..., 0, 0]
    return torch.cat([blocks["A'"][..., 0], blocks["A''"][..., 0] * ref[..., None]], dim=-1)


def cs_descriptor(field: Tensor, lattice: SquareLattice, r_c: float = 6.0) -> Tensor:
    """Return the Cs descriptor of paper 001 at every site, ``(..., Lx, Ly, m)``.

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field; float32 stays float32, anything else becomes float64.
    lattice : SquareLattice
    r_c : float
        Cutoff radius in lattice constants (> 0); the neighbourhood must not wrap onto
        itself along a periodic axis.

    Returns
    -------
    Tensor, shape (..., Lx, Ly, m)
        A' features first, then A'' (m = 113 at the default cutoff).
    """
    hood = decompose_neighbourhood(CS, r_c)
    hood.check_fits(lattice)
    return _mirror_pair_features(
        _gather(_field("field", field, lattice), _offsets(hood), lattice), hood
    )
