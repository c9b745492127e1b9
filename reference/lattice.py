"""The square lattice: sites, neighbours, sublattices, neighbour shells and symmetries.

Every paper of the project puts the Holstein model on a square lattice with
nearest-neighbour bonds. A field on the lattice (lattice distortions ``Q``,
densities ``n``, forces ``F``) is an array of shape ``(..., Lx, Ly)`` indexed
``[..., x, y]``; the flat site index is ``i = x * Ly + y``. Leading axes are
batch axes (ensemble members, snapshots).

Conventions
-----------
* Nearest-neighbour bonds are the directed pairs ``(r, r + e_x)`` and
  ``(r, r + e_y)`` that exist on the lattice. On a periodic axis of length 2 the
  two bonds between the same pair of sites are both kept, so the tight-binding
  band of a periodic lattice is ``-2 t (cos kx + cos ky)`` for every ``L >= 2``.
* A point operation ``g`` (an integer 2x2 matrix) acts on a field as
  ``(g f)(r) = f(g^{-1} r)``, i.e. the value at ``r`` moves to ``g r``. On a
  periodic axis the rotation centre is the site ``x = 0``; on an open axis it is
  the centre of the segment, so that ``g`` maps the lattice onto itself.
"""

from __future__ import annotations

import math
from functools import cached_property

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.validation import check_field, check_positive

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

NEIGHBOUR_OFFSETS: tuple[tuple[int, int], ...] = ((1, 0), (-1, 0), (0, 1), (0, -1))
"""The four nearest-neighbour offsets ``(dx, dy)`` in the order used by :func:`neighbour_table`."""


def _check_size(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 2:
        raise ValueError(f"{attribute.name} must be an integer >= 2, got {value!r}")


def _check_flag(name: str, value: object) -> bool:
    """Return ``value`` as a ``bool`` if it is ``True`` or ``False`` (NumPy bools too).

    A truthy string such as ``"false"`` would otherwise turn an axis periodic silently.
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be a bool (True or False), got {value!r}")
    return bool(value)


def _periodic_x(value: object) -> bool:
    return _check_flag("periodic_x", value)


def _periodic_y(value: object) -> bool:
    return _check_flag("periodic_y", value)


@attrs.frozen
class SquareLattice:
    """A finite ``Lx`` x ``Ly`` square lattice with periodic or open edges per axis.

    Parameters
    ----------
    Lx, Ly : int
        Number of sites along x and y (each >= 2).
    periodic_x, periodic_y : bool
        Periodic (torus) or open boundary along each axis; ``True`` or ``False`` (a NumPy
        bool is accepted), anything else raises ``ValueError``.

    Examples
    --------
    >>> lat = SquareLattice(4, 4)
    >>> lat.n_sites, lat.shape
    (16, (4, 4))
    """

    Lx: int = attrs.field(validator=_check_size)
    Ly: int = attrs.field(validator=_check_size)
    periodic_x: bool = attrs.field(default=True, converter=_periodic_x)
    periodic_y: bool = attrs.field(default=True, converter=_periodic_y)

    @property
    def shape(self) -> tuple[int, int]:
        """The field shape ``(Lx, Ly)``."""
        return (int(self.Lx), int(self.Ly))

    @property
    def n_sites(self) -> int:
        """The number of sites ``N = Lx * Ly``."""
        return int(self.Lx * self.Ly)

    @property
    def periodic(self) -> tuple[bool, bool]:
        """Periodicity of the (x, y) axes."""
        return (self.periodic_x, self.periodic_y)

    @property
    def is_bipartite(self) -> bool:
        """True when the checkerboard (-1)^(x+y) is consistent across every periodic edge."""
        return all((not p) or (n % 2 == 0) for n, p in zip(self.shape, self.periodic, strict=True))

    @cached_property
    def coordinates(self) -> NDArray[np.int64]:
        """Site coordinates, shape ``(N, 2)``, row ``i = x * Ly + y`` holding ``(x, y)``."""
        x, y = np.meshgrid(np.arange(self.Lx), np.arange(self.Ly), indexing="ij")
        return np.stack([x.ravel(), y.ravel()], axis=1).astype(np.int64)

    def site_index(self, x: int, y: int) -> int:
        """Return the flat index ``x * Ly + y`` of site ``(x, y)`` (wrapped on periodic axes).

        Parameters
        ----------
        x, y : int
            Site coordinates; any integer on a periodic axis (taken modulo ``Lx`` or ``Ly``),
            ``0 <= x < Lx`` (``0 <= y < Ly``) on an open axis.

        Returns
        -------
        int
            The flat site index ``i`` in ``[0, N)``.

        Raises
        ------
        ValueError
            If the site lies outside the lattice along an open axis.
        """
        xs = self._wrap(x, 0)
        ys = self._wrap(y, 1)
        if xs is None or ys is None:
            raise ValueError(f"site ({x}, {y}) lies outside the open lattice of shape {self.shape}")
        return xs * self.Ly + ys

    def _wrap(self, coordinate: int, axis: int) -> int | None:
        n = self.shape[axis]
        if self.periodic[axis]:
            return int(coordinate) % n
        return int(coordinate) if 0 <= coordinate < n else None

    def check_field(self, name: str, field: object) -> NDArray[np.float64]:
        """Return ``field`` as float64 after checking shape ``(..., Lx, Ly)`` and finiteness.

        Parameters
        ----------
        name : str
            Name of the parameter being checked, quoted in the error message.
        field : array_like, shape (..., Lx, Ly)
            Real, finite values on this lattice; leading axes are batch axes.

        Returns
        -------
        (..., Lx, Ly) float64
            ``field`` converted to float64.

        Raises
        ------
        ValueError
            If ``field`` is not real, not finite, or its last two axes are not ``(Lx, Ly)``.
        """
        return check_field(name, field, self.shape)


def neighbour_table(lattice: SquareLattice) -> NDArray[np.int64]:
    """Return the nearest neighbours of every site.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.

    Returns
    -------
    (N, 4) int64
        Column ``c`` holds the flat index of the neighbour at offset
        ``NEIGHBOUR_OFFSETS[c]`` (+x, -x, +y, -y), or -1 across an open edge.
    """
    table = np.full((lattice.n_sites, 4), -1, dtype=np.int64)
    for i, (x, y) in enumerate(lattice.coordinates):
        for c, (dx, dy) in enumerate(NEIGHBOUR_OFFSETS):
            xs = lattice._wrap(int(x) + dx, 0)
            ys = lattice._wrap(int(y) + dy, 1)
            if xs is not None and ys is not None:
                table[i, c] = xs * lattice.Ly + ys
    return table


def offset_table(
    lattice: SquareLattice, offsets: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    r"""Return the site at :math:`\mathbf{r}_i + \boldsymbol\delta_j` for every site and offset.

    The neighbourhoods of the descriptors and the local clusters of
    :func:`reference.ed.cluster_densities` are read through this table.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.
    offsets : (m, 2) int
        Displacements ``(dx, dy)`` from each site, in lattice constants.

    Returns
    -------
    index : (N, m) int64
        Flat index of the site, wrapped along periodic axes; where the offset leaves the
        lattice across an open edge, a placeholder inside the lattice (masked by ``inside``).
    inside : (N, m) bool
        False where the offset crosses an open edge.
    """
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    coords = lattice.coordinates
    index = np.zeros((lattice.n_sites, len(offs)), dtype=np.int64)
    inside = np.ones((lattice.n_sites, len(offs)), dtype=bool)
    for j, (dx, dy) in enumerate(offs):
        x, y = coords[:, 0] + dx, coords[:, 1] + dy
        for c, size, periodic in (
            (x, lattice.Lx, lattice.periodic_x),
            (y, lattice.Ly, lattice.periodic_y),
        ):
            if periodic:
                c %= size
            else:
                inside[:, j] &= (c >= 0) & (c < size)
        index[:, j] = np.clip(x, 0, lattice.Lx - 1) * lattice.Ly + np.clip(y, 0, lattice.Ly - 1)
    return index, inside


def bonds(lattice: SquareLattice) -> NDArray[np.int64]:
    """Return the nearest-neighbour bonds ``<ij>`` as pairs of flat site indices.

    Each bond is the directed pair ``(r, r + e_x)`` or ``(r, r + e_y)``; every
    unordered neighbour pair appears once, except on a periodic axis of length 2
    where the two distinct bonds joining the same sites both appear.

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.

    Returns
    -------
    (n_bonds, 2) int64
        ``2 N`` bonds on a fully periodic lattice.
    """
    table = neighbour_table(lattice)
    forward = table[:, [0, 2]]  # +x and +y neighbours
    i = np.repeat(np.arange(lattice.n_sites), 2)
    j = forward.ravel()
    keep = j >= 0
    return np.stack([i[keep], j[keep]], axis=1)


def neighbour_sum(field: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return :math:`\sum_{j \in \mathcal{N}(i)} f_j`, the sum over the nearest neighbours.

    This is the primed sum of the elastic force (paper 003, eq. 5) and of the
    local CDW order (paper 003, eq. 12). Neighbours missing across an open
    edge contribute zero.

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field ``f`` on the lattice (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice ``field`` lives on (sets neighbours and edges).

    Returns
    -------
    (..., Lx, Ly) float64
    """
    f = lattice.check_field("field", field)
    total = np.zeros_like(f)
    for axis, periodic in zip((-2, -1), lattice.periodic, strict=True):
        for shift in (1, -1):
            rolled = np.roll(f, -shift, axis=axis)  # rolled[r] = f[r + shift e_axis]
            if not periodic:
                edge = [slice(None)] * f.ndim
                edge[axis] = slice(-1, None) if shift == 1 else slice(0, 1)
                rolled[tuple(edge)] = 0.0
            total += rolled
    return total


def sublattice_sign(lattice: SquareLattice) -> NDArray[np.float64]:
    r"""Return the checkerboard phase :math:`e^{i \mathbf{Q}\cdot\mathbf{r}_i} = (-1)^{x+y}`.

    ``Q = (pi, pi)`` is the CDW ordering vector (paper 003, eq. 11). On a
    periodic axis of odd length the checkerboard is frustrated across the edge
    (see :attr:`SquareLattice.is_bipartite`).

    Parameters
    ----------
    lattice : SquareLattice
        The lattice (only its shape is used).

    Returns
    -------
    (Lx, Ly) float64
        +1 on sublattice A (x + y even), -1 on sublattice B.
    """
    x, y = np.meshgrid(np.arange(lattice.Lx), np.arange(lattice.Ly), indexing="ij")
    return np.where((x + y) % 2 == 0, 1.0, -1.0)


def _minimum_image(delta: NDArray[np.int64], n: int, periodic: bool) -> NDArray[np.int64]:
    if not periodic:
        return delta
    return (delta + n // 2) % n - n // 2


def pair_distances(lattice: SquareLattice) -> NDArray[np.float64]:
    """Return the distance between every pair of sites (minimum image on periodic axes).

    Parameters
    ----------
    lattice : SquareLattice
        The lattice; ``N = lattice.n_sites``.

    Returns
    -------
    (N, N) float64
        Euclidean distance ``|r_i - r_j|`` in lattice constants, symmetric, zero diagonal.
    """
    c = lattice.coordinates
    d = c[:, None, :] - c[None, :, :]
    dx = _minimum_image(d[..., 0], lattice.Lx, lattice.periodic_x)
    dy = _minimum_image(d[..., 1], lattice.Ly, lattice.periodic_y)
    return np.sqrt((dx * dx + dy * dy).astype(np.float64))


@attrs.frozen
class Shell:
    """Lattice offsets at one distance from a centre site.

    Attributes
    ----------
    squared_radius : int
        ``dx**2 + dy**2`` shared by every offset of the shell.
    offsets : (n, 2) int64
        The offsets, ordered by polar angle from the +x axis.
    """

    squared_radius: int
    offsets: NDArray[np.int64] = attrs.field(eq=False)

    @property
    def radius(self) -> float:
        """The shell radius in lattice constants."""
        return math.sqrt(self.squared_radius)

    @property
    def size(self) -> int:
        """The number of sites in the shell."""
        return int(self.offsets.shape[0])


def neighbour_shells(r_c: float, include_origin: bool = True) -> tuple[Shell, ...]:
    r"""Return the neighbourhood :math:`\{\mathbf{r} : |\mathbf{r}| \le r_c\}` split into shells.

    The neighbourhood of paper 003, eq. (9) (paper 002, eq. 10) is the set of
    sites within the cutoff radius ``r_c`` of a centre site; sites at equal
    distance form a shell, which the D4 operations map onto itself.

    Parameters
    ----------
    r_c : float
        Cutoff radius in lattice constants (> 0).
    include_origin : bool
        Whether the centre site (the ``r = 0`` shell) is included.

    Returns
    -------
    tuple of Shell
        Sorted by radius.

    Examples
    --------
    >>> sum(s.size for s in neighbour_shells(3.61))
    45
    """
    r_c = check_positive("r_c", r_c)
    n = math.floor(r_c)
    grouped: dict[int, list[tuple[int, int]]] = {}
    for dx in range(-n, n + 1):
        for dy in range(-n, n + 1):
            r2 = dx * dx + dy * dy
            if r2 <= r_c * r_c + 1e-12 and (include_origin or r2 > 0):
                grouped.setdefault(r2, []).append((dx, dy))
    shells = []
    for r2 in sorted(grouped):
        offs = sorted(grouped[r2], key=lambda o: math.atan2(o[1], o[0]) % (2 * math.pi))
        shells.append(Shell(r2, np.asarray(offs, dtype=np.int64).reshape(-1, 2)))
    return tuple(shells)


@attrs.frozen
class PointOperation:
    """An element of the square's point group D4, as an integer matrix acting on ``(dx, dy)``."""

    name: str
    matrix: tuple[tuple[int, int], tuple[int, int]]

    @property
    def array(self) -> NDArray[np.int64]:
        """The 2x2 integer matrix ``R`` with ``r' = R r``."""
        return np.asarray(self.matrix, dtype=np.int64)

    @property
    def swaps_axes(self) -> bool:
        """True for the operations that exchange the x and y axes."""
        return self.matrix[0][0] == 0


D4_OPERATIONS: tuple[PointOperation, ...] = (
    PointOperation("E", ((1, 0), (0, 1))),
    PointOperation("C4", ((0, -1), (1, 0))),
    PointOperation("C2", ((-1, 0), (0, -1))),
    PointOperation("C4^3", ((0, 1), (-1, 0))),
    PointOperation("sigma_x", ((1, 0), (0, -1))),
    PointOperation("sigma_y", ((-1, 0), (0, 1))),
    PointOperation("sigma_d", ((0, 1), (1, 0))),
    PointOperation("sigma_d'", ((0, -1), (-1, 0))),
)
"""The eight operations of D4: identity, rotations by 90, 180, 270 degrees
(counter-clockwise), the mirrors y -> -y (``sigma_x``) and x -> -x (``sigma_y``),
and the diagonal mirrors x <-> y (``sigma_d``) and x <-> -y (``sigma_d'``)."""


def transform_offsets(offsets: NDArray[np.int64], operation: PointOperation) -> NDArray[np.int64]:
    """Return ``R r`` for every offset ``r``.

    Parameters
    ----------
    offsets : (..., 2) int
        Offsets ``r = (dx, dy)``, the last axis holding the two components.
    operation : PointOperation
        The D4 element ``R`` to apply, e.g. one of :data:`D4_OPERATIONS`.

    Returns
    -------
    (..., 2) int64
    """
    o = np.asarray(offsets, dtype=np.int64)
    if o.shape[-1:] != (2,):
        raise ValueError(f"offsets must have shape (..., 2), got {o.shape}")
    return o @ operation.array.T


def apply_point_operation(
    field: NDArray[np.float64], operation: PointOperation, lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return the transformed field :math:`(g f)(\mathbf{r}) = f(g^{-1}\mathbf{r})`.

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field ``f`` to transform (finite); leading axes are batch axes.
    operation : PointOperation
        One of :data:`D4_OPERATIONS`. Operations that exchange the axes need a
        square lattice with the same boundary condition on both axes.
    lattice : SquareLattice
        The lattice ``field`` lives on; sets the rotation centre.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    f = lattice.check_field("field", field)
    if operation.swaps_axes and (
        lattice.Lx != lattice.Ly or lattice.periodic_x != lattice.periodic_y
    ):
        raise ValueError(
            f"operation {operation.name} exchanges x and y and needs Lx == Ly with equal "
            f"boundary conditions, got lattice {lattice}"
        )
    # Doubled coordinates relative to the rotation centre keep everything integer.
    centre = np.array(
        [0 if p else n - 1 for n, p in zip(lattice.shape, lattice.periodic, strict=True)]
    )
    u = 2 * lattice.coordinates - centre  # new-site coordinates r', doubled
    inverse = np.rint(np.linalg.inv(operation.array)).astype(np.int64)
    old = (u @ inverse.T + centre) // 2  # r = g^{-1} r'
    old %= np.array(lattice.shape)
    gathered = f.reshape(*f.shape[:-2], -1)[..., old[:, 0] * lattice.Ly + old[:, 1]]
    return gathered.reshape(f.shape)


def translate(
    field: NDArray[np.float64], shift: tuple[int, int], lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Return the translated field :math:`f(\mathbf{r} - \mathbf{a})` for ``a = shift``.

    Translations are symmetries only along periodic axes; a nonzero shift along
    an open axis raises ``ValueError``.

    Parameters
    ----------
    field : (..., Lx, Ly) float64
        The field ``f`` to translate (finite); leading axes are batch axes.
    shift : (int, int)
        The translation ``a = (ax, ay)`` in lattice constants; must be a multiple of the
        axis length along an open axis.
    lattice : SquareLattice
        The lattice ``field`` lives on.

    Returns
    -------
    (..., Lx, Ly) float64
    """
    f = lattice.check_field("field", field)
    for s, n, p, axis_name in zip(shift, lattice.shape, lattice.periodic, "xy", strict=True):
        if not p and s % n != 0:
            raise ValueError(f"shift {shift} moves along the open {axis_name} axis")
    return np.roll(f, shift=(int(shift[0]), int(shift[1])), axis=(-2, -1))
