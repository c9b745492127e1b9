"""Tests of reference.lattice: neighbours, shells, D4 and translations on whole fields."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.lattice import (
    D4_OPERATIONS,
    NEIGHBOUR_OFFSETS,
    SquareLattice,
    apply_point_operation,
    bonds,
    neighbour_shells,
    neighbour_sum,
    neighbour_table,
    pair_distances,
    sublattice_sign,
    transform_offsets,
    translate,
)
from tests.strategies import fields, lattices


def _op(name: str):  # type: ignore[no-untyped-def]
    return next(o for o in D4_OPERATIONS if o.name == name)


def test_neighbour_table_of_periodic_lattice_has_four_distinct_neighbours() -> None:
    lat = SquareLattice(4, 5)
    table = neighbour_table(lat)
    assert table.shape == (20, 4)
    assert np.all(table >= 0)
    assert all(len(set(row)) == 4 for row in table)
    # site (0, 0): +x -> (1, 0) = 5, -x -> (3, 0) = 15, +y -> (0, 1) = 1, -y -> (0, 4) = 4
    assert table[0].tolist() == [5, 15, 1, 4]


def test_open_edges_remove_neighbours() -> None:
    lat = SquareLattice(3, 3, periodic_x=False, periodic_y=False)
    counts = (neighbour_table(lat) >= 0).sum(axis=1).reshape(3, 3)
    assert counts.tolist() == [[2, 3, 2], [3, 4, 3], [2, 3, 2]]
    assert len(bonds(lat)) == 12


@given(lattices())
def test_neighbour_relation_is_symmetric_and_bond_count_matches(lat: SquareLattice) -> None:
    table = neighbour_table(lat)
    adjacency = np.zeros((lat.n_sites, lat.n_sites))
    for i, row in enumerate(table):
        for j in row[row >= 0]:
            adjacency[i, j] += 1
    np.testing.assert_array_equal(adjacency, adjacency.T)
    assert len(bonds(lat)) * 2 == adjacency.sum()


@given(lattices(), st.data())
def test_neighbour_sum_matches_neighbour_table(lat: SquareLattice, data: st.DataObject) -> None:
    f = data.draw(fields(lat))
    flat = np.append(f.ravel(), 0.0)  # index -1 picks the appended zero
    expected = flat[neighbour_table(lat)].sum(axis=1).reshape(lat.shape)
    np.testing.assert_allclose(neighbour_sum(f, lat), expected, atol=1e-12)


def test_sublattice_sign_is_checkerboard() -> None:
    s = sublattice_sign(SquareLattice(4, 4))
    assert s[0, 0] == 1 and s[0, 1] == -1 and s[1, 1] == 1
    # every bond joins opposite sublattices on a bipartite lattice
    lat = SquareLattice(4, 6)
    b = bonds(lat)
    ss = sublattice_sign(lat).ravel()
    assert np.all(ss[b[:, 0]] == -ss[b[:, 1]])


def test_odd_periodic_lattice_is_not_bipartite() -> None:
    assert not SquareLattice(5, 4).is_bipartite
    assert SquareLattice(5, 4, periodic_x=False).is_bipartite


def test_shells_within_paper_cutoff_hold_45_sites() -> None:
    shells = neighbour_shells(3.61)
    sizes = [s.size for s in shells]
    radii2 = [s.squared_radius for s in shells]
    assert sum(sizes) == 45
    assert radii2 == [0, 1, 2, 4, 5, 8, 9, 10, 13]
    assert sizes == [1, 4, 4, 4, 8, 4, 4, 8, 8]
    assert sum(s.size for s in neighbour_shells(3.61, include_origin=False)) == 44


@given(st.floats(0.5, 6.5))
def test_every_shell_is_mapped_onto_itself_by_d4(r_c: float) -> None:
    for shell in neighbour_shells(r_c):
        original = {tuple(o) for o in shell.offsets}
        assert all(np.sum(shell.offsets**2, axis=1) == shell.squared_radius)
        for op in D4_OPERATIONS:
            assert {tuple(o) for o in transform_offsets(shell.offsets, op)} == original


def test_d4_matrices_form_a_group() -> None:
    mats = [op.array for op in D4_OPERATIONS]
    keys = {m.tobytes() for m in mats}
    assert len(keys) == 8
    for a, b in itertools.product(mats, mats):
        assert (a @ b).tobytes() in keys


@given(lattices(square=True), st.data())
def test_field_action_is_a_group_homomorphism(lat: SquareLattice, data: st.DataObject) -> None:
    f = data.draw(fields(lat))
    for a, b in itertools.product(D4_OPERATIONS, D4_OPERATIONS):
        product = next(o for o in D4_OPERATIONS if np.array_equal(o.array, a.array @ b.array))
        lhs = apply_point_operation(apply_point_operation(f, b, lat), a, lat)
        np.testing.assert_array_equal(lhs, apply_point_operation(f, product, lat))


def test_field_action_moves_values_to_rotated_sites() -> None:
    lat = SquareLattice(5, 5)
    f = np.zeros(lat.shape)
    f[1, 0] = 1.0
    rotated = apply_point_operation(f, _op("C4"), lat)  # (1, 0) -> (0, 1)
    assert rotated[0, 1] == 1.0 and rotated.sum() == 1.0
    open_lat = SquareLattice(3, 3, False, False)
    g = np.zeros((3, 3))
    g[2, 1] = 1.0  # right of centre -> above centre
    assert apply_point_operation(g, _op("C4"), open_lat)[1, 2] == 1.0


@given(lattices(square=True), st.data())
def test_point_operations_preserve_neighbour_sums(lat: SquareLattice, data: st.DataObject) -> None:
    f = data.draw(fields(lat))
    for op in D4_OPERATIONS:
        np.testing.assert_allclose(
            neighbour_sum(apply_point_operation(f, op, lat), lat),
            apply_point_operation(neighbour_sum(f, lat), op, lat),
            atol=1e-12,
        )


@given(lattices(periodic=True), st.data())
def test_translations_commute_with_neighbour_sum(lat: SquareLattice, data: st.DataObject) -> None:
    f = data.draw(fields(lat))
    shift = (data.draw(st.integers(-5, 5)), data.draw(st.integers(-5, 5)))
    np.testing.assert_allclose(
        neighbour_sum(translate(f, shift, lat), lat), translate(neighbour_sum(f, lat), shift, lat)
    )


def test_pair_distances_use_minimum_image() -> None:
    d = pair_distances(SquareLattice(4, 4))
    assert d[0, 3] == 1.0  # (0,0) to (0,3) wraps to distance 1
    assert d[0, 10] == pytest.approx(np.sqrt(8))  # (0,0) to (2,2)
    d_open = pair_distances(SquareLattice(4, 4, False, False))
    assert d_open[0, 3] == 3.0


def test_bad_input_raises_clear_errors() -> None:
    with pytest.raises(ValueError, match="Lx must be an integer >= 2"):
        SquareLattice(1, 4)
    with pytest.raises(ValueError, match="Ly must be an integer >= 2"):
        SquareLattice(4, 2.5)  # type: ignore[arg-type]
    lat = SquareLattice(4, 4)
    with pytest.raises(ValueError, match=r"field must have shape \(\.\.\., 4, 4\)"):
        neighbour_sum(np.zeros((4, 5)), lat)
    with pytest.raises(ValueError, match="finite"):
        neighbour_sum(np.full((4, 4), np.nan), lat)
    with pytest.raises(ValueError, match="exchanges x and y"):
        apply_point_operation(np.zeros((4, 6)), _op("C4"), SquareLattice(4, 6))
    with pytest.raises(ValueError, match="open x axis"):
        translate(np.zeros((4, 4)), (1, 0), SquareLattice(4, 4, periodic_x=False))
    with pytest.raises(ValueError, match="r_c must be > 0"):
        neighbour_shells(-1.0)
    with pytest.raises(ValueError, match="outside the open lattice"):
        SquareLattice(3, 3, False, False).site_index(3, 0)


def test_offset_table_wraps_periodic_axes_and_masks_open_edges() -> None:
    from reference.lattice import offset_table

    lat = SquareLattice(4, 3, periodic_x=True, periodic_y=False)
    index, inside = offset_table(lat, np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]]))
    assert index.shape == inside.shape == (12, 5)
    np.testing.assert_array_equal(index[:, 0], np.arange(12))
    # x wraps: site (3, 1) + (1, 0) is (0, 1); y is open: (2, 2) + (0, 1) leaves the lattice
    assert index[3 * 3 + 1, 1] == 0 * 3 + 1 and inside[3 * 3 + 1, 1]
    assert not inside[2 * 3 + 2, 3] and inside[2 * 3 + 2, 4]
    assert inside.sum() == 12 * 5 - 2 * 4  # the y = 0 and y = 2 rows lose one neighbour each
    # the nearest-neighbour table is the same relation
    table = neighbour_table(lat)
    nn_index, nn_inside = offset_table(lat, np.array(NEIGHBOUR_OFFSETS))
    np.testing.assert_array_equal(np.where(nn_inside, nn_index, -1), table)


def test_periodic_flags_must_be_bools() -> None:
    # a truthy string would otherwise make the axis periodic silently
    for value in ("false", "True", 0, 1, None, 1.0):
        with pytest.raises(ValueError, match=r"periodic_x must be a bool \(True or False\)"):
            SquareLattice(4, 4, periodic_x=value)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"periodic_y must be a bool \(True or False\)"):
            SquareLattice(4, 4, periodic_y=value)  # type: ignore[arg-type]
    lat = SquareLattice(4, 4, np.bool_(False), np.bool_(True))  # type: ignore[arg-type]
    assert lat.periodic == (False, True) and type(lat.periodic_x) is bool
    assert lat == SquareLattice(4, 4, False, True)


def test_complex_fields_are_refused() -> None:
    lat = SquareLattice(4, 4)
    z = np.zeros(lat.shape, dtype=np.complex128)
    with pytest.raises(ValueError, match="field must be real-valued"):
        apply_point_operation(z, D4_OPERATIONS[1], lat)
    with pytest.raises(ValueError, match="field must be real-valued"):
        translate(z, (1, 0), lat)
