"""Tests of reference.symmetry: group axioms, irreps, projectors and Clebsch-Gordan tensors.

The generic checks run on both groups (D4 and Cs).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.lattice import neighbour_shells
from reference.symmetry import (
    CS,
    D4,
    PointGroup,
    character_table,
    characters,
    clebsch_gordan,
    conjugacy_classes,
    group_orbits,
    inverses,
    irrep_multiplicities,
    multiplication_table,
    permutation_representation,
    product_decomposition,
    product_table,
    projector,
    symmetry_adapted_basis,
    transfer_operator,
)

GROUPS = pytest.mark.parametrize("group", [D4, CS], ids=["D4", "Cs"])


def _offsets(r_c: float) -> np.ndarray:
    return np.concatenate([s.offsets for s in neighbour_shells(r_c)])


@GROUPS
def test_multiplication_is_closed_associative_with_identity_and_inverses(
    group: PointGroup,
) -> None:
    table = multiplication_table(group)
    n = group.order
    assert table.shape == (n, n)
    for a, b in itertools.product(range(n), repeat=2):
        assert np.array_equal(group.matrices[a] @ group.matrices[b], group.matrices[table[a, b]])
    for a, b, c in itertools.product(range(n), repeat=3):
        assert table[table[a, b], c] == table[a, table[b, c]]
    assert np.array_equal(table[0], np.arange(n)) and np.array_equal(table[:, 0], np.arange(n))
    inv = inverses(group)
    assert all(table[a, inv[a]] == 0 == table[inv[a], a] for a in range(n))
    # every row of a Cayley table is a permutation
    assert all(sorted(row) == list(range(n)) for row in table)


@GROUPS
def test_every_irrep_is_an_orthogonal_homomorphism(group: PointGroup) -> None:
    table = multiplication_table(group)
    for name, d in zip(group.irrep_names, group.irreps, strict=True):
        dim = d.shape[1]
        for a, b in itertools.product(range(group.order), repeat=2):
            np.testing.assert_allclose(d[a] @ d[b], d[table[a, b]], atol=1e-14, err_msg=name)
        for a in range(group.order):
            np.testing.assert_allclose(d[a] @ d[a].T, np.eye(dim), atol=1e-14)
        np.testing.assert_allclose(d[0], np.eye(dim))


@GROUPS
def test_characters_are_orthonormal_and_irreps_complete(group: PointGroup) -> None:
    chi = characters(group)
    np.testing.assert_allclose(chi @ chi.T / group.order, np.eye(len(group.irrep_names)))
    dims = [group.dimension(n) for n in group.irrep_names]
    assert sum(d * d for d in dims) == group.order
    assert len(conjugacy_classes(group)) == len(group.irrep_names)
    # great orthogonality of matrix elements
    for (na, a), (nb, b) in itertools.product(
        zip(group.irrep_names, group.irreps, strict=True), repeat=2
    ):
        overlap = np.einsum("gij,gkl->ijkl", a, b) / group.order
        if na != nb:
            np.testing.assert_allclose(overlap, 0.0, atol=1e-14)
        else:
            dim = a.shape[1]
            expected = np.einsum("ik,jl->ijkl", np.eye(dim), np.eye(dim)) / dim
            np.testing.assert_allclose(overlap, expected, atol=1e-14)


def test_d4_character_table_and_classes() -> None:
    classes = conjugacy_classes(D4)
    names = [[D4.element_names[g] for g in c] for c in classes]
    assert names == [["E"], ["C4", "C4^3"], ["C2"], ["sigma_x", "sigma_y"], ["sigma_d", "sigma_d'"]]
    expected = np.array(
        [
            [1, 1, 1, 1, 1],  # A1
            [1, 1, 1, -1, -1],  # A2
            [1, -1, 1, 1, -1],  # B1: x^2 - y^2, even under the axis mirrors
            [1, -1, 1, -1, 1],  # B2: xy, even under the diagonal mirrors
            [2, 0, -2, 0, 0],  # E
        ]
    )
    np.testing.assert_array_equal(character_table(D4), expected)
    np.testing.assert_array_equal(character_table(CS), [[1, 1], [1, -1]])


def test_d4_product_table_has_the_textbook_entries() -> None:
    table = product_table(D4)
    assert table[("E", "E")] == {"A1": 1, "A2": 1, "B1": 1, "B2": 1}
    assert table[("B1", "B2")] == {"A2": 1}
    assert table[("A2", "B1")] == {"B2": 1}
    for one_d in ("A1", "A2", "B1", "B2"):
        assert table[(one_d, "E")] == {"E": 1}
        assert table[(one_d, one_d)] == {"A1": 1}
    assert product_table(CS)[("A''", "A''")] == {"A'": 1}


@GROUPS
def test_clebsch_gordan_tensors_intertwine_and_are_orthonormal(group: PointGroup) -> None:
    for a, b in itertools.product(group.irrep_names, repeat=2):
        da, db = group.dimension(a), group.dimension(b)
        cgs = clebsch_gordan(group, a, b)
        counts: dict[str, int] = {}
        for cg in cgs:
            counts[cg.irrep] = counts.get(cg.irrep, 0) + 1
            c = cg.coefficients.reshape(da * db, -1)
            d = group.irrep(cg.irrep)
            for g in range(group.order):
                np.testing.assert_allclose(
                    np.kron(group.irrep(a)[g], group.irrep(b)[g]) @ c, c @ d[g], atol=1e-12
                )
        assert counts == product_decomposition(group, a, b)
        full = np.concatenate([cg.coefficients.reshape(da * db, -1) for cg in cgs], axis=1)
        # all CG columns together form an orthogonal change of basis of the product space
        np.testing.assert_allclose(full.T @ full, np.eye(da * db), atol=1e-12)


def test_e_times_e_coupling_is_the_dot_and_cross_products() -> None:
    coupled = {cg.irrep: cg.coefficients[:, :, 0] for cg in clebsch_gordan(D4, "E", "E")}
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(coupled["A1"], s * np.eye(2), atol=1e-14)
    np.testing.assert_allclose(coupled["A2"], s * np.array([[0, 1], [-1, 0]]), atol=1e-14)
    np.testing.assert_allclose(coupled["B1"], s * np.diag([1, -1]), atol=1e-14)
    np.testing.assert_allclose(coupled["B2"], s * np.array([[0, 1], [1, 0]]), atol=1e-14)


@GROUPS
@given(r_c=st.floats(0.5, 5.0))
def test_projectors_split_every_neighbourhood_into_its_irreps(
    group: PointGroup, r_c: float
) -> None:
    rep = permutation_representation(group, _offsets(r_c))
    m = rep.shape[1]
    mult = irrep_multiplicities(group, rep)
    total = np.zeros((m, m))
    for name in group.irrep_names:
        p = projector(group, name, rep)
        np.testing.assert_allclose(p @ p, p, atol=1e-12)
        np.testing.assert_allclose(p, p.T, atol=1e-12)
        assert round(np.trace(p)) == mult[name] * group.dimension(name)
        total += p
    np.testing.assert_allclose(total, np.eye(m), atol=1e-12)


@GROUPS
@given(r_c=st.floats(0.5, 5.0))
def test_symmetry_adapted_basis_transforms_with_the_irrep_matrices(
    group: PointGroup, r_c: float
) -> None:
    rep = permutation_representation(group, _offsets(r_c))
    basis, labels = symmetry_adapted_basis(group, rep)
    np.testing.assert_allclose(basis @ basis.T, np.eye(len(basis)), atol=1e-12)
    # block-diagonal D(g) in the new basis
    for g in range(group.order):
        block = basis @ rep[g] @ basis.T
        expected = np.zeros_like(block)
        start = 0
        while start < len(labels):
            name = labels[start][0]
            dim = group.dimension(name)
            expected[start : start + dim, start : start + dim] = group.irrep(name)[g]
            start += dim
        np.testing.assert_allclose(block, expected, atol=1e-12)


def test_transfer_operators_map_partners_into_each_other() -> None:
    rep = permutation_representation(D4, np.array([[1, 0], [0, 1], [-1, 0], [0, -1]]))
    p01, p10 = (transfer_operator(D4, "E", rep, k, j) for k, j in ((0, 1), (1, 0)))
    p00, p11 = (transfer_operator(D4, "E", rep, k, k) for k in (0, 1))
    np.testing.assert_allclose(p01 @ p10, p00, atol=1e-14)
    np.testing.assert_allclose(p10 @ p01, p11, atol=1e-14)
    with pytest.raises(ValueError, match="k and j"):
        transfer_operator(D4, "E", rep, 2, 0)


def test_orbits_of_the_paper_neighbourhood() -> None:
    sizes = [len(o) for s in neighbour_shells(3.61) for o in group_orbits(D4, s.offsets)]
    assert sizes == [1, 4, 4, 4, 8, 4, 4, 8, 8]
    # radius 5 holds two D4 orbits: the axis sites and the (3, 4) family
    five = next(s for s in neighbour_shells(5.0) if s.squared_radius == 25)
    assert sorted(len(o) for o in group_orbits(D4, five.offsets)) == [4, 8]
    # Cs orbits are pairs off the mirror line and singletons on it
    assert sorted(len(o) for o in group_orbits(CS, _offsets(1.0))) == [1, 1, 1, 2]


def test_bad_input_is_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="irrep must be one of"):
        D4.irrep("T2")
    with pytest.raises(ValueError, match="not closed"):
        permutation_representation(D4, np.array([[1, 0], [0, 1]]))
    with pytest.raises(ValueError, match="not an element"):
        D4.index(np.array([[2, 0], [0, 1]]))
    with pytest.raises(ValueError, match="identity"):
        PointGroup("bad", ("m",), np.array([[[1, 0], [0, -1]]]), ("A",), (np.ones((1, 1, 1)),))
