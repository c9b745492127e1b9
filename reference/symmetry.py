r"""Finite point groups of the square lattice: D4 and its mirror subgroup Cs.

A lattice force field must respect the site symmetry of the lattice: D4 (also
written C4v) for the bare square lattice (paper 003 App. A, paper 004 sec. II B),
and only the mirror group Cs once two electrodes along x break the rotations
(paper 001, sec. III). This module holds one :class:`PointGroup` abstraction and
derives everything else from its integer matrices and irrep matrices:

* the multiplication table, inverses and conjugacy classes;
* characters and the character table;
* the permutation representation on a set of lattice offsets and the projection
  (transfer) operators that decompose it into irreducible representations (IRs);
* the Clebsch-Gordan (CG) coefficients of every product of IRs, found by solving
  the intertwiner equations numerically (nothing typed in), and the product table
  they imply (for D4: :math:`E \otimes E = A_1 \oplus A_2 \oplus B_1 \oplus B_2`).

Conventions
-----------
* A group element ``g`` is a 2x2 integer matrix acting on offsets, ``r' = g r``.
  On functions it acts actively, :math:`(g f)(\mathbf{r}) = f(g^{-1}\mathbf{r})`
  (the convention of :func:`reference.lattice.apply_point_operation`).
* IRs are real orthogonal matrices ``D(g)``. For D4 the 1-D IRs are the
  transformation characters of the functions :math:`1` (A1), :math:`xy(x^2-y^2)`
  (A2), :math:`x^2-y^2` (B1) and :math:`xy` (B2); E is the vector
  representation ``D_E(g) = g``. So sites on the axes carry B1 and sites on the
  diagonals carry B2: a shell of four axis sites decomposes as A1 + B1 + E and a
  shell of four diagonal sites as A1 + B2 + E, which gives paper 004's
  45 = 9 A1 + 3 A2 + 6 B1 + 5 B2 + 11 E. (Paper 003 App. A labels the diagonal
  shell's second 1-D IR "B1"; that is the other common labelling of the two
  B IRs, and only this one reproduces paper 004's multiplicities.)
* For Cs = {E, sigma} with sigma: (x, y) -> (x, -y) (the mirror line along x
  through the site, paper 001), A' is even and A'' odd under sigma.
* A CG tensor ``C`` of shape ``(d1, d2, d)`` couples IRs a and b to c:
  :math:`\sum_{\mu\nu} C_{\mu\nu\kappa}\, x_\mu y_\nu` transforms as c when x
  transforms as a and y as b. Each copy is normalised so that
  ``C.reshape(d1*d2, d).T @ C.reshape(d1*d2, d) = I``, and its sign is fixed by
  making the first entry of largest magnitude positive.
"""

from __future__ import annotations

import functools
from functools import cached_property

import attrs
import numpy as np
from numpy.typing import NDArray

from reference.lattice import D4_OPERATIONS

__all__ = [
    "CS",
    "D4",
    "ClebschGordan",
    "PointGroup",
    "character_table",
    "characters",
    "clebsch_gordan",
    "conjugacy_classes",
    "group_orbits",
    "inverses",
    "irrep_multiplicities",
    "multiplication_table",
    "permutation_representation",
    "product_decomposition",
    "product_table",
    "projector",
    "symmetry_adapted_basis",
    "transfer_operator",
]

_TOL = 1e-10


@attrs.frozen(eq=False)
class PointGroup:
    """A finite group of integer 2x2 matrices with its real irreducible representations.

    Attributes
    ----------
    name : str
    element_names : tuple of str
        Names of the elements, in the order of ``matrices``; the first is the identity.
    matrices : (n, 2, 2) int64
        The elements acting on lattice offsets, ``r' = g r``.
    irrep_names : tuple of str
    irreps : tuple of (n, d, d) float64
        Real orthogonal matrices ``D(g)`` of each IR, in the order of ``irrep_names``.
    """

    name: str
    element_names: tuple[str, ...]
    matrices: NDArray[np.int64]
    irrep_names: tuple[str, ...]
    irreps: tuple[NDArray[np.float64], ...]

    def __attrs_post_init__(self) -> None:
        n = len(self.element_names)
        if self.matrices.shape != (n, 2, 2):
            raise ValueError(f"matrices must have shape ({n}, 2, 2), got {self.matrices.shape}")
        if not np.array_equal(self.matrices[0], np.eye(2, dtype=np.int64)):
            raise ValueError("the first element of a PointGroup must be the identity")
        if len(self.irreps) != len(self.irrep_names):
            raise ValueError("irreps and irrep_names must have the same length")
        for name, d in zip(self.irrep_names, self.irreps, strict=True):
            if d.ndim != 3 or d.shape[0] != n or d.shape[1] != d.shape[2]:
                raise ValueError(f"irrep {name} must have shape ({n}, d, d), got {d.shape}")

    @property
    def order(self) -> int:
        """The number of elements ``|G|``."""
        return len(self.element_names)

    def irrep(self, name: str) -> NDArray[np.float64]:
        """The matrices ``D(g)`` of IR ``name``, shape ``(|G|, d, d)``.

        Parameters
        ----------
        name : str
            One of :attr:`irrep_names`; anything else raises ``ValueError``.

        Returns
        -------
        (|G|, d, d) float64
            The real orthogonal matrices of the IR, in the order of :attr:`matrices`.
        """
        try:
            return self.irreps[self.irrep_names.index(name)]
        except ValueError:
            raise ValueError(
                f"irrep must be one of {self.irrep_names} for group {self.name}, got {name!r}"
            ) from None

    def dimension(self, name: str) -> int:
        """The dimension ``d`` of IR ``name``.

        Parameters
        ----------
        name : str
            One of :attr:`irrep_names`; anything else raises ``ValueError``.

        Returns
        -------
        int
            ``d`` (1 or 2 for the groups here).
        """
        return int(self.irrep(name).shape[1])

    def index(self, matrix: NDArray[np.int64]) -> int:
        """The position of ``matrix`` in :attr:`matrices`; raises if it is not an element.

        Parameters
        ----------
        matrix : (2, 2) int
            An integer matrix that must equal one of the group's elements.

        Returns
        -------
        int
            Its index in ``[0, |G|)``.

        Raises
        ------
        ValueError
            If ``matrix`` is not an element of the group.
        """
        m = np.asarray(matrix)
        for k in range(self.order):
            if np.array_equal(self.matrices[k], m):
                return k
        raise ValueError(f"matrix {m.tolist()} is not an element of {self.name}")

    @cached_property
    def _table(self) -> NDArray[np.int64]:
        return np.array(
            [[self.index(a @ b) for b in self.matrices] for a in self.matrices], dtype=np.int64
        )


def multiplication_table(group: PointGroup) -> NDArray[np.int64]:
    """Return the Cayley table ``T[a, b] = index of g_a g_b``.

    Raises ``ValueError`` if the matrices are not closed under multiplication.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    (|G|, |G|) int64
    """
    return group._table.copy()


def inverses(group: PointGroup) -> NDArray[np.int64]:
    """Return ``inv[a]``, the index of :math:`g_a^{-1}`, shape ``(|G|,)``.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    (|G|,) int64
        ``inv[a]`` is the index of the inverse of element ``a``.
    """
    table = group._table
    return np.array([int(np.flatnonzero(table[a] == 0)[0]) for a in range(group.order)])


def conjugacy_classes(group: PointGroup) -> tuple[tuple[int, ...], ...]:
    r"""Return the conjugacy classes :math:`\{h g h^{-1} : h \in G\}` as sorted index tuples.

    Classes are ordered by their smallest element index, so the identity's class is first.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    tuple of tuple of int
        Each class as the sorted indices of its elements.
    """
    table, inv = group._table, inverses(group)
    seen: set[int] = set()
    classes = []
    for g in range(group.order):
        if g in seen:
            continue
        cls = sorted({int(table[table[h, g], inv[h]]) for h in range(group.order)})
        seen.update(cls)
        classes.append(tuple(cls))
    return tuple(classes)


def characters(group: PointGroup) -> NDArray[np.float64]:
    r"""Return the characters :math:`\chi_\Gamma(g) = \operatorname{tr} D_\Gamma(g)`.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    (n_irreps, |G|) float64
        Row ``k`` belongs to ``group.irrep_names[k]``.
    """
    return np.array([np.trace(d, axis1=1, axis2=2) for d in group.irreps])


def character_table(group: PointGroup) -> NDArray[np.float64]:
    """Return the character table: one row per IR, one column per conjugacy class.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    (n_irreps, n_classes) float64
    """
    chi = characters(group)
    return np.array([[row[cls[0]] for cls in conjugacy_classes(group)] for row in chi])


def permutation_representation(
    group: PointGroup, offsets: NDArray[np.int64]
) -> NDArray[np.float64]:
    r"""Return the matrices of the group acting on values attached to a set of offsets.

    For values :math:`v_j = f(\boldsymbol{\delta}_j)` the active action
    :math:`(g f)(\boldsymbol{\delta}) = f(g^{-1}\boldsymbol{\delta})` is the permutation
    :math:`R(g)_{jk} = 1` if :math:`\boldsymbol{\delta}_j = g\,\boldsymbol{\delta}_k`.
    Paper 004, eqs 7-8: the neighbourhood :math:`\mathcal{C}_i` carries this
    (reducible) representation.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    offsets : (m, 2) int
        A set of offsets mapped onto itself by every element.

    Returns
    -------
    (|G|, m, m) float64
    """
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    lookup = {(int(a), int(b)): j for j, (a, b) in enumerate(offs)}
    if len(lookup) != len(offs):
        raise ValueError("offsets must be distinct")
    m = len(offs)
    rep = np.zeros((group.order, m, m))
    for g, mat in enumerate(group.matrices):
        for k, delta in enumerate(offs):
            image = mat @ delta
            j = lookup.get((int(image[0]), int(image[1])))
            if j is None:
                raise ValueError(
                    f"offsets are not closed under {group.name}: {group.element_names[g]} maps "
                    f"{delta.tolist()} to {image.tolist()}"
                )
            rep[g, j, k] = 1.0
    return rep


def group_orbits(group: PointGroup, offsets: NDArray[np.int64]) -> tuple[NDArray[np.int64], ...]:
    r"""Split a closed set of offsets into orbits :math:`\{g \boldsymbol{\delta} : g \in G\}`.

    Orbits are returned in order of first appearance in ``offsets`` and keep the
    order of ``offsets`` inside each orbit.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    offsets : (m, 2) int
        A set of offsets mapped onto itself by every element (else ``ValueError``).

    Returns
    -------
    tuple of (m_k, 2) int64
    """
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    label = -np.ones(len(offs), dtype=np.int64)
    lookup = {(int(a), int(b)): j for j, (a, b) in enumerate(offs)}
    n_orbits = 0
    for j, delta in enumerate(offs):
        if label[j] >= 0:
            continue
        for mat in group.matrices:
            image = mat @ delta
            k = lookup.get((int(image[0]), int(image[1])))
            if k is None:
                raise ValueError(f"offsets are not closed under {group.name}")
            label[k] = n_orbits
        n_orbits += 1
    return tuple(offs[label == k] for k in range(n_orbits))


def irrep_multiplicities(group: PointGroup, representation: NDArray[np.float64]) -> dict[str, int]:
    r"""Return how often each IR occurs in a representation.

    .. math:: n_\Gamma = \frac{1}{|G|} \sum_g \chi_\Gamma(g)\, \chi(g)

    (real characters). Paper 003 App. A; paper 004 sec. II B.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    representation : (|G|, m, m) float64
        Matrices ``R(g)`` of a representation of ``group``, in the order of its elements.

    Returns
    -------
    dict
        IR name -> multiplicity, in the order of ``group.irrep_names``.
    """
    chi = np.trace(representation, axis1=1, axis2=2)
    out = {}
    for name, row in zip(group.irrep_names, characters(group), strict=True):
        n = float(row @ chi) / group.order
        if abs(n - round(n)) > 1e-8:
            raise ValueError("representation is not a representation of this group")
        out[name] = round(n)
    return out


def projector(
    group: PointGroup, irrep: str, representation: NDArray[np.float64]
) -> NDArray[np.float64]:
    r"""Return the projector onto the isotypic component of IR ``irrep``.

    .. math:: P^\Gamma = \frac{d_\Gamma}{|G|} \sum_{g} \chi_\Gamma(g)\, R(g)

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    irrep : str
        Name of an IR of ``group`` (one of ``group.irrep_names``).
    representation : (|G|, m, m) float64
        Matrices ``R(g)`` of a representation of ``group``, in the order of its elements.

    Returns
    -------
    (m, m) float64
    """
    d = group.irrep(irrep)
    chi = np.trace(d, axis1=1, axis2=2)
    p = d.shape[1] / group.order * np.einsum("g,gjk->jk", chi, representation)
    return np.asarray(p, dtype=np.float64)


def transfer_operator(
    group: PointGroup, irrep: str, representation: NDArray[np.float64], k: int, j: int
) -> NDArray[np.float64]:
    r"""Return the transfer operator that maps partner ``j`` of IR ``irrep`` to partner ``k``.

    .. math:: P^\Gamma_{kj} = \frac{d_\Gamma}{|G|} \sum_{g} D_\Gamma(g)_{kj}\, R(g)

    (real orthogonal IRs). :math:`P^\Gamma_{kk}` projects onto the k-th partner
    space and :math:`P^\Gamma_{kl} e_l = e_k` for a symmetry-adapted basis.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    irrep : str
        Name of an IR of ``group`` (one of ``group.irrep_names``).
    representation : (|G|, m, m) float64
        Matrices ``R(g)`` of a representation of ``group``, in the order of its elements.
    k, j : int
        Partner indices, each in ``[0, d)`` with ``d`` the dimension of ``irrep``.

    Returns
    -------
    (m, m) float64
    """
    d = group.irrep(irrep)
    dim = d.shape[1]
    if not (0 <= k < dim and 0 <= j < dim):
        raise ValueError(f"k and j must lie in [0, {dim}) for irrep {irrep}, got {k}, {j}")
    p = dim / group.order * np.einsum("g,gab->ab", d[:, k, j], representation)
    return np.asarray(p, dtype=np.float64)


def symmetry_adapted_basis(
    group: PointGroup, representation: NDArray[np.float64]
) -> tuple[NDArray[np.float64], tuple[tuple[str, int, int], ...]]:
    r"""Decompose an orthogonal representation into IRs by transfer operators.

    For each IR the first-partner space is the range of :math:`P^\Gamma_{11}`; an
    orthonormal basis :math:`e^{(r)}_1` of it is built by Gram-Schmidt on the
    projected unit vectors (in their natural order), and the other partners are
    :math:`e^{(r)}_k = P^\Gamma_{k1} e^{(r)}_1`. The result transforms exactly as
    the IR matrices: :math:`R(g)\, e^{(r)}_l = \sum_k D_\Gamma(g)_{kl}\, e^{(r)}_k`,
    so the coefficients :math:`f^{\Gamma,r}_k = e^{(r)}_k \cdot v` of a vector
    ``v`` transform as :math:`\mathbf{f} \to D_\Gamma(g)\,\mathbf{f}`.

    Paper 003 App. A; paper 004 eq 9.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    representation : (|G|, m, m) float64
        An orthogonal representation (e.g. from :func:`permutation_representation`).

    Returns
    -------
    basis : (m, m) float64
        Orthogonal matrix whose rows are the basis vectors, ordered by IR (in
        ``group.irrep_names`` order), then multiplicity ``r``, then partner ``k``.
    labels : tuple of (irrep, r, k)
        The label of each row.
    """
    rep = np.asarray(representation, dtype=np.float64)
    m = rep.shape[1]
    rows: list[NDArray[np.float64]] = []
    labels: list[tuple[str, int, int]] = []
    for name in group.irrep_names:
        dim = group.dimension(name)
        p11 = transfer_operator(group, name, rep, 0, 0)
        firsts: list[NDArray[np.float64]] = []
        for j in range(m):
            v = p11[:, j].copy()
            for u in firsts:
                v -= (u @ v) * u
            norm = float(np.linalg.norm(v))
            if norm > 1e-8:
                firsts.append(v / norm)
        partners = [transfer_operator(group, name, rep, k, 0) for k in range(dim)]
        for r, e1 in enumerate(firsts):
            for k in range(dim):
                rows.append(partners[k] @ e1)
                labels.append((name, r, k))
    basis = np.array(rows).reshape(-1, m)
    if basis.shape != (m, m) or not np.allclose(basis @ basis.T, np.eye(m), atol=1e-9):
        raise ValueError("representation is not an orthogonal representation of this group")
    return basis, tuple(labels)


@attrs.frozen(eq=False)
class ClebschGordan:
    """One copy of IR ``irrep`` in the product ``left x right``.

    Attributes
    ----------
    left, right, irrep : str
    coefficients : (d_left, d_right, d_irrep) float64
        ``out_kappa = sum_{mu nu} coefficients[mu, nu, kappa] x_mu y_nu``.
    """

    left: str
    right: str
    irrep: str
    coefficients: NDArray[np.float64]


@functools.lru_cache(maxsize=256)
def clebsch_gordan(group: PointGroup, left: str, right: str) -> tuple[ClebschGordan, ...]:
    r"""Solve the intertwiner equations for every IR in ``left x right``.

    For each IR :math:`\Gamma` the CG matrices :math:`C \in \mathbb{R}^{d_1 d_2 \times d}`
    are the solutions of

    .. math:: \big(D_{\Gamma_1}(g) \otimes D_{\Gamma_2}(g)\big)\, C = C\, D_\Gamma(g)
              \quad \forall g \in G,

    found as the null space of the stacked linear system (an SVD), normalised to
    :math:`C^\top C = 1` and sign-fixed. Paper 003 App. A (bispectrum); paper 004 eq 11.
    Results are cached per (group, left, right); the arrays are read-only.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    left, right : str
        Names of the two IRs of ``group`` whose product is decomposed.

    Returns
    -------
    tuple of ClebschGordan
        In ``group.irrep_names`` order, one entry per copy.
    """
    a, b = group.irrep(left), group.irrep(right)
    da, db = a.shape[1], b.shape[1]
    product = np.einsum("gij,gkl->gikjl", a, b).reshape(group.order, da * db, da * db)
    out = []
    for name in group.irrep_names:
        d = group.irrep(name)
        dim = d.shape[1]
        # vec(K C - C D) = (I kron K - D^T kron I) vec(C), column-major vec.
        eqs = np.concatenate(
            [
                np.kron(np.eye(dim), product[g]) - np.kron(d[g].T, np.eye(da * db))
                for g in range(group.order)
            ]
        )
        _, s, vt = np.linalg.svd(eqs)
        rank = int(np.sum(s > _TOL * max(1.0, float(s[0]))))
        for vec in vt[rank:]:
            c = vec.reshape(dim, da * db).T * np.sqrt(dim)
            flat = c.ravel()
            big = np.abs(flat) > np.max(np.abs(flat)) - 1e-9
            lead = flat[np.argmax(big)]  # the first entry of largest magnitude
            c = np.where(np.abs(c) < 1e-13, 0.0, c * np.sign(lead))
            coefficients = c.reshape(da, db, dim)
            coefficients.flags.writeable = False  # shared by the cache
            out.append(ClebschGordan(left, right, name, coefficients))
    return tuple(out)


def product_decomposition(group: PointGroup, left: str, right: str) -> dict[str, int]:
    r"""Return the multiplicities of IRs in ``left x right`` from the characters.

    .. math:: n_\Gamma = \frac{1}{|G|}\sum_g \chi_\Gamma(g)\,\chi_{\Gamma_1}(g)\,\chi_{\Gamma_2}(g)

    Only IRs that occur are listed.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.
    left, right : str
        Names of the two IRs of ``group`` (``ValueError`` if not in ``group.irrep_names``).

    Returns
    -------
    dict of str to int
        IR name -> multiplicity (> 0), in the order of ``group.irrep_names``.
    """
    group.irrep(left), group.irrep(right)  # validate the names
    chi = dict(zip(group.irrep_names, characters(group), strict=True))
    prod = chi[left] * chi[right]
    out = {}
    for name in group.irrep_names:
        n = round(float(chi[name] @ prod) / group.order)
        if n:
            out[name] = n
    return out


def product_table(group: PointGroup) -> dict[tuple[str, str], dict[str, int]]:
    """Return :func:`product_decomposition` for every ordered pair of IRs.

    Parameters
    ----------
    group : PointGroup
        The point group, e.g. :data:`D4` or :data:`CS`.

    Returns
    -------
    dict of (str, str) to dict of str to int
        ``(left, right)`` -> the multiplicities of :func:`product_decomposition`.
    """
    return {
        (a, b): product_decomposition(group, a, b)
        for a in group.irrep_names
        for b in group.irrep_names
    }


def _d4() -> PointGroup:
    names = tuple(op.name for op in D4_OPERATIONS)
    mats = np.array([op.array for op in D4_OPERATIONS], dtype=np.int64)
    g = mats.astype(np.float64)
    det = np.linalg.det(g).round()
    b1 = g[:, 0, 0] ** 2 - g[:, 0, 1] ** 2  # x^2 - y^2 -> +-(x^2 - y^2)
    one = np.ones(len(mats))
    irreps = (
        one[:, None, None],  # A1: 1
        (det * one)[:, None, None],  # A2: xy(x^2 - y^2), a pseudo-scalar
        b1[:, None, None],  # B1: x^2 - y^2
        (det * b1)[:, None, None],  # B2: xy
        g.copy(),  # E: (x, y)
    )
    return PointGroup("D4", names, mats, ("A1", "A2", "B1", "B2", "E"), irreps)


def _cs() -> PointGroup:
    mats = np.array([[[1, 0], [0, 1]], [[1, 0], [0, -1]]], dtype=np.int64)
    return PointGroup(
        "Cs",
        ("E", "sigma_x"),
        mats,
        ("A'", "A''"),
        (np.ones((2, 1, 1)), np.array([1.0, -1.0])[:, None, None]),
    )


D4: PointGroup = _d4()
"""The square lattice's site symmetry (elements as :data:`reference.lattice.D4_OPERATIONS`)."""

CS: PointGroup = _cs()
"""The mirror group {E, sigma_x: (x, y) -> (x, -y)} left when electrodes break D4 (paper 001)."""
