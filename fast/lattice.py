"""The square lattice on tensors: neighbour sums, sublattice sign, point operations, translations.

Twin of :mod:`reference.lattice`. The lattice description (:class:`SquareLattice`),
the neighbour shells and the D4 operations are the reference objects themselves;
the field operations run on tensors of shape ``(..., Lx, Ly)`` on any device, as
gathers with index maps computed once by the reference.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from fast._tensor import Tensor, as_tensor, delegate
from reference import lattice as _ref
from reference.lattice import (
    D4_OPERATIONS,
    NEIGHBOUR_OFFSETS,
    PointOperation,
    Shell,
    SquareLattice,
    neighbour_shells,
    transform_offsets,
)

__all__ = [
    "D4_OPERATIONS",
    "NEIGHBOUR_OFFSETS",
    "PointOperation",
    "Shell",
    "SquareLattice",
    "apply_point_operation",
    "bonds",
    "neighbour_shells",
    "neighbour_sum",
    "neighbour_table",
    "offset_table",
    "pair_distances",
    "sublattice_sign",
    "transform_offsets",
    "translate",
]

neighbour_table = delegate(_ref.neighbour_table)
offset_table = delegate(_ref.offset_table)
bonds = delegate(_ref.bonds)
pair_distances = delegate(_ref.pair_distances)


def _field(name: str, field: object, lattice: SquareLattice) -> Tensor:
    """Return ``field`` as a float64 tensor of shape ``(..., Lx, Ly)`` or raise ``ValueError``."""
    t = as_tensor(name, field, dtype=None)
    if t.is_complex():
        raise ValueError(f"{name} must be real-valued, got dtype {t.dtype}")
    if t.ndim < 2 or tuple(t.shape[-2:]) != lattice.shape:
        raise ValueError(
            f"{name} must have shape (..., {lattice.Lx}, {lattice.Ly}) to match the lattice, "
            f"got shape {tuple(t.shape)}"
        )
    return t


def neighbour_sum(field: Tensor, lattice: SquareLattice) -> Tensor:
    r"""Return :math:`\sum_{j \in \mathcal{N}(i)} f_j` on tensors (paper 003, eqs. 5, 12).

    Four rolls; neighbours across an open edge contribute zero. Accepts float or complex
    tensors of shape ``(..., Lx, Ly)``.

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Float or complex field (an array is converted to float64).
    lattice : SquareLattice
        Sizes and boundary conditions.

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        Dtype and device of ``field``.
    """
    f = field if isinstance(field, torch.Tensor) else as_tensor("field", field)
    if f.ndim < 2 or tuple(f.shape[-2:]) != lattice.shape:
        raise ValueError(
            f"field must have shape (..., {lattice.Lx}, {lattice.Ly}), got {tuple(f.shape)}"
        )
    total = torch.zeros_like(f)
    for axis, periodic in zip((-2, -1), lattice.periodic, strict=True):
        for shift in (1, -1):
            rolled = torch.roll(f, -shift, dims=axis)  # rolled[r] = f[r + shift e_axis]
            if not periodic:
                rolled = rolled.clone()
                if shift == 1:
                    rolled.narrow(axis, f.shape[axis] - 1, 1).zero_()
                else:
                    rolled.narrow(axis, 0, 1).zero_()
            total = total + rolled
    return total


def sublattice_sign(lattice: SquareLattice) -> Tensor:
    r"""Return :math:`(-1)^{x + y}`, shape ``(Lx, Ly)`` float64 (CPU).

    Parameters
    ----------
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (Lx, Ly), float64
        On the CPU; ``+1`` on the sublattice of site ``(0, 0)``.
    """
    return torch.as_tensor(_ref.sublattice_sign(lattice))


@functools.lru_cache(maxsize=256)
def _gather_index(lattice: SquareLattice, key: tuple[object, ...]) -> np.ndarray:
    """Flat source index of every site for a point operation or translation (from the reference)."""
    source = np.arange(lattice.n_sites, dtype=np.float64).reshape(lattice.shape)
    if key[0] == "op":
        op = next(o for o in D4_OPERATIONS if o.matrix == key[1])
        moved = _ref.apply_point_operation(source, op, lattice)
    else:
        moved = _ref.translate(source, key[1], lattice)  # type: ignore[arg-type]
    return np.rint(moved).astype(np.int64).ravel()


def _gather(field: Tensor, lattice: SquareLattice, index: np.ndarray) -> Tensor:
    flat = field.reshape(*field.shape[:-2], lattice.n_sites)
    idx = torch.as_tensor(index, device=field.device)
    return flat[..., idx].reshape(field.shape)


def apply_point_operation(
    field: Tensor, operation: PointOperation, lattice: SquareLattice
) -> Tensor:
    r"""Return :math:`(g f)(\mathbf{r}) = f(g^{-1}\mathbf{r})` as one gather (twin of the
    reference).

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field; float32 stays float32, anything else becomes float64.
    operation : PointOperation
        One of :data:`D4_OPERATIONS`; one that exchanges x and y needs ``Lx == Ly`` and
        equal boundary conditions (``ValueError`` otherwise).
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        Dtype and device of ``field``.
    """
    f = _field("field", field, lattice)
    if operation.swaps_axes and (
        lattice.Lx != lattice.Ly or lattice.periodic_x != lattice.periodic_y
    ):
        raise ValueError(
            f"operation {operation.name} exchanges x and y and needs Lx == Ly with equal "
            f"boundary conditions, got lattice {lattice}"
        )
    return _gather(f, lattice, _gather_index(lattice, ("op", operation.matrix)))


def translate(field: Tensor, shift: tuple[int, int], lattice: SquareLattice) -> Tensor:
    r"""Return :math:`(T_{\mathbf a} f)(\mathbf r) = f(\mathbf r - \mathbf a)` (twin of the
    reference).

    Parameters
    ----------
    field : Tensor, shape (..., Lx, Ly)
        Real field; float32 stays float32, anything else becomes float64.
    shift : tuple of int
        The translation :math:`\mathbf a = (a_x, a_y)` in lattice constants; a nonzero
        shift along an open axis raises ``ValueError``.
    lattice : SquareLattice

    Returns
    -------
    Tensor, shape (..., Lx, Ly)
        Dtype and device of ``field``.
    """
    f = _field("field", field, lattice)
    key = (int(shift[0]), int(shift[1]))
    return _gather(f, lattice, _gather_index(lattice, ("shift", key)))
