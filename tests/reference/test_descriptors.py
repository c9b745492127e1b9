"""Tests of reference.descriptors: IR decomposition, invariance and completeness of descriptors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.descriptors import (
    canonical_element,
    cs_descriptor,
    d4_descriptor,
    decompose_neighbourhood,
    descriptor_size,
    frame_features,
    irrep_coefficients,
    mirror_pair_features,
    neighbourhood_values,
    phases,
    power_spectrum,
    reference_irreps,
    reference_phases,
    sector_weights,
    split_irreps,
    standard_frame,
    transform_irreps,
)
from reference.lattice import (
    D4_OPERATIONS,
    SquareLattice,
    apply_point_operation,
    offset_table,
    translate,
)
from reference.symmetry import CS, D4, PointGroup, permutation_representation
from tests.strategies import fields

HOOD = decompose_neighbourhood(D4, 3.61)
CS_HOOD = decompose_neighbourhood(CS, 6.0)


def _values(m: int) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(
        np.float64, (m,), elements=st.floats(-3, 3, allow_nan=False, allow_infinity=False)
    )


def _act(group: PointGroup, hood_offsets: np.ndarray, g: int, v: np.ndarray) -> np.ndarray:
    """The neighbourhood values of the rotated configuration, (g v)_j = v(g^-1 delta_j)."""
    return permutation_representation(group, hood_offsets)[g] @ v


def _channels_act(op, features: np.ndarray, lattice: SquareLattice) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Apply a point operation to every channel of a (Lx, Ly, C) feature field."""
    moved = apply_point_operation(np.moveaxis(features, -1, 0), op, lattice)
    return np.moveaxis(moved, 0, -1)


def test_paper_neighbourhood_has_the_stated_multiplicities() -> None:
    assert HOOD.size == 45
    assert HOOD.multiplicities == {"A1": 9, "A2": 3, "B1": 6, "B2": 5, "E": 11}
    assert [len(o) for o in HOOD.orbits] == [1, 4, 4, 4, 8, 4, 4, 8, 8]
    np.testing.assert_allclose(HOOD.basis @ HOOD.basis.T, np.eye(45), atol=1e-12)
    assert CS_HOOD.size == 113 == descriptor_size(CS, 6.0)
    assert CS_HOOD.multiplicities == {"A'": 63, "A''": 50}


def test_nearest_neighbour_shell_matches_paper_003_type_one_block() -> None:
    # sites a, b, c, d at +x, +y, -x, -y; paper 003 App. A: A1 = a+b+c+d, B1 = a-b+c-d,
    # E = (a-c, b-d) (up to normalisation and the sign of each partner)
    rows = [a for a, lab in enumerate(HOOD.labels) if lab.orbit == 1]
    got = {HOOD.labels[a].irrep + str(HOOD.labels[a].component): HOOD.basis[a] for a in rows}
    cols = [
        int(np.flatnonzero((HOOD.offsets == o).all(axis=1))[0])
        for o in ([1, 0], [0, 1], [-1, 0], [0, -1])
    ]
    expected = {
        "A10": [1, 1, 1, 1],
        "B10": [1, -1, 1, -1],
        "E0": [1, 0, -1, 0],
        "E1": [0, 1, 0, -1],
    }
    assert set(got) == set(expected)
    for key, vec in expected.items():
        v = np.array(vec, dtype=float) / np.linalg.norm(vec)
        np.testing.assert_allclose(np.abs(got[key][cols] @ v), 1.0, atol=1e-12, err_msg=key)


def test_coefficients_of_a_rotated_neighbourhood_transform_with_the_irreps() -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=45)
    blocks = split_irreps(HOOD.basis @ v, HOOD)
    for g in range(D4.order):
        rotated = split_irreps(HOOD.basis @ _act(D4, HOOD.offsets, g, v), HOOD)
        expected = transform_irreps(blocks, D4, np.array(g))
        for name in D4.irrep_names:
            np.testing.assert_allclose(rotated[name], expected[name], atol=1e-12)


def test_whole_field_coefficients_are_one_linear_map() -> None:
    lat = SquareLattice(9, 9)
    rng = np.random.default_rng(2)
    q1, q2 = rng.normal(size=(2, 9, 9))
    c = irrep_coefficients(np.stack([q1, q2]), HOOD, lat)
    assert c.shape == (2, 9, 9, 45)
    np.testing.assert_allclose(
        irrep_coefficients(2 * q1 - 3 * q2, HOOD, lat), 2 * c[0] - 3 * c[1], atol=1e-12
    )
    # site (x, y) sees Q at (x + dx, y + dy), wrapped
    v = neighbourhood_values(q1, HOOD.offsets, lat)
    for j, (dx, dy) in enumerate(HOOD.offsets):
        assert v[2, 7, j] == q1[(2 + dx) % 9, (7 + dy) % 9]


def test_open_edges_pad_with_zeros() -> None:
    lat = SquareLattice(4, 5, periodic_x=False)
    q = np.arange(20, dtype=float).reshape(4, 5) + 1
    v = neighbourhood_values(q, np.array([[1, 0], [-1, 0], [0, 1]]), lat)
    assert v[3, 0, 0] == 0.0 and v[0, 0, 1] == 0.0
    assert v[0, 4, 2] == q[0, 0]  # periodic along y


def _atol(v: np.ndarray) -> float:
    """1e-12 relative to the largest value: ties are resolved at 5e-13 of that scale."""
    return 1e-12 * max(1.0, float(np.max(np.abs(v))))


@given(v=_values(45))
def test_d4_frame_features_are_invariant(v: np.ndarray) -> None:
    base = frame_features(v, HOOD)
    assert base.shape == (45,)
    for g in range(D4.order):
        np.testing.assert_allclose(
            frame_features(_act(D4, HOOD.offsets, g, v), HOOD), base, rtol=0, atol=_atol(v)
        )


@given(q=fields(SquareLattice(8, 8)))
def test_d4_descriptor_of_a_field_is_covariant(q: np.ndarray) -> None:
    lat = SquareLattice(8, 8)
    d = d4_descriptor(q, lat)
    assert d.shape == (8, 8, 45)
    for op in D4_OPERATIONS:
        np.testing.assert_allclose(
            d4_descriptor(apply_point_operation(q, op, lat), lat),
            _channels_act(op, d, lat),
            rtol=0,
            atol=_atol(q),
        )
    shifted = d4_descriptor(translate(q, (3, 5), lat), lat)
    np.testing.assert_allclose(
        shifted, np.moveaxis(translate(np.moveaxis(d, -1, 0), (3, 5), lat), 0, -1), atol=1e-12
    )


@given(
    seed=st.integers(0, 2**32 - 1),
    g=st.integers(0, 7),
    eps=st.sampled_from([0.0, 1e-4, 1e-2, 1.0]),
)
def test_d4_frame_features_separate_unrelated_neighbourhoods(seed: int, g: int, eps: float) -> None:
    """w = g v + eps u: the features agree exactly when eps = 0 (related) and differ otherwise."""
    rng = np.random.default_rng(seed)
    v, u = rng.normal(size=(2, 45))
    w = _act(D4, HOOD.offsets, g, v) + eps * u
    diff = np.abs(frame_features(v, HOOD) - frame_features(w, HOOD)).max()
    if eps == 0.0:
        assert diff < 1e-12
    else:
        assert diff > 0.01 * eps


def _move_orbit(v: np.ndarray, orbit: int, g: int) -> np.ndarray:
    """Apply g to the values on one orbit (shell) only."""
    start = sum(len(o) for o in HOOD.orbits[:orbit])
    stop = start + len(HOOD.orbits[orbit])
    out = v.copy()
    out[start:stop] = _act(D4, HOOD.orbits[orbit], g, v[start:stop])
    return out


@pytest.mark.parametrize("orbit", range(1, 9))
@pytest.mark.parametrize("g", range(1, 8))
def test_rotating_or_reflecting_a_single_shell_changes_the_descriptor(orbit: int, g: int) -> None:
    rng = np.random.default_rng(100 * orbit + g)
    v = rng.normal(size=45)
    near_miss = _move_orbit(v, orbit, g)
    # the power spectrum cannot tell them apart ...
    p1 = power_spectrum(split_irreps(HOOD.basis @ v, HOOD))
    p2 = power_spectrum(split_irreps(HOOD.basis @ near_miss, HOOD))
    for name in D4.irrep_names:
        np.testing.assert_allclose(p1[name], p2[name], atol=1e-12)
    # ... the descriptor with reference phases can
    diff = np.abs(frame_features(v, HOOD) - frame_features(near_miss, HOOD)).max()
    assert diff > 1e-3


def test_reference_irreps_transform_covariantly_and_use_octant_means() -> None:
    w = sector_weights(HOOD)
    assert w.shape == (8, 45)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    np.testing.assert_allclose(w.sum(axis=0)[1:], 8 / 44)  # every non-centre site shared fully
    assert np.all(w[:, 0] == 0)
    rng = np.random.default_rng(3)
    v = rng.normal(size=45)
    ref = reference_irreps(v, HOOD)
    assert {k: a.shape for k, a in ref.items()} == {
        "A1": (1, 1),
        "A2": (1, 1),
        "B1": (1, 1),
        "B2": (1, 1),
        "E": (2, 2),
    }
    for g in range(8):
        moved = reference_irreps(_act(D4, HOOD.offsets, g, v), HOOD)
        expected = transform_irreps(ref, D4, np.array(g))
        for name in D4.irrep_names:
            np.testing.assert_allclose(moved[name], expected[name], atol=1e-12)


@given(v=_values(45))
def test_standard_frame_puts_the_reference_doublet_in_the_first_octant(v: np.ndarray) -> None:
    ref = reference_irreps(v, HOOD)
    t = standard_frame(ref, D4)
    e = transform_irreps(ref, D4, t)["E"][0]
    x, y = e
    assert x >= -1e-12 and -1e-12 <= y <= x + 1e-12
    # the paper's invariants A1-A4 are invariant too
    blocks = split_irreps(HOOD.basis @ v, HOOD)
    eta, p, eta_ref = phases(blocks, ref), power_spectrum(blocks), reference_phases(ref, D4)
    for g in range(8):
        v2 = _act(D4, HOOD.offsets, g, v)
        ref2, blocks2 = reference_irreps(v2, HOOD), split_irreps(HOOD.basis @ v2, HOOD)
        for name in D4.irrep_names:
            # the phase of a tiny component is ill-conditioned; p * eta is not
            np.testing.assert_allclose(
                p[name] * phases(blocks2, ref2)[name], p[name] * eta[name], atol=1e-10
            )
            np.testing.assert_allclose(power_spectrum(blocks2)[name], p[name], atol=1e-12)
        if np.linalg.norm(e) > 1e-6:  # the frame is unique only for a non-zero reference
            r2 = reference_phases(ref2, D4)
            for name in D4.irrep_names:
                np.testing.assert_allclose(r2[name], eta_ref[name], atol=1e-9)
    for name in D4.irrep_names:
        assert np.all(np.abs(eta[name]) <= 1 + 1e-12)


def test_one_d_frame_features_are_power_times_phases() -> None:
    rng = np.random.default_rng(4)
    v = rng.normal(size=45)
    blocks = split_irreps(HOOD.basis @ v, HOOD)
    ref = reference_irreps(v, HOOD)
    feats = split_irreps(frame_features(v, HOOD), HOOD)
    eta, p, eta_ref = phases(blocks, ref), power_spectrum(blocks), reference_phases(ref, D4)
    for name in ("A2", "B1", "B2"):
        np.testing.assert_allclose(feats[name][..., 0], p[name] * eta[name] * eta_ref[name])
    np.testing.assert_allclose(feats["A1"], blocks["A1"])  # A1 needs no frame
    np.testing.assert_allclose(np.linalg.norm(feats["E"], axis=-1), p["E"])


def test_canonical_element_resolves_symmetric_ties_by_the_next_key() -> None:
    # reference doublet on the diagonal: sigma_d fixes it, the next key decides
    # identity and sigma_d both keep (1, 1); they send (-2, 0) to (-2, 0) and (0, -2)
    ref = np.array([[[1.0, 1.0]]])
    nxt = np.array([[[-2.0, 0.0]]])
    t = int(canonical_element([("E", ref), ("E", nxt)], D4)[0])
    assert D4.element_names[t] == "sigma_d"
    np.testing.assert_allclose(D4.irrep("E")[t] @ nxt[0, 0], [0, -2])
    with pytest.raises(ValueError, match="keys"):
        canonical_element([], D4)


@given(v=_values(113))
def test_cs_features_are_mirror_invariant(v: np.ndarray) -> None:
    base = mirror_pair_features(v, CS_HOOD)
    assert base.shape == (113,)
    np.testing.assert_allclose(
        mirror_pair_features(_act(CS, CS_HOOD.offsets, 1, v), CS_HOOD), base, atol=1e-12
    )


def test_cs_descriptor_of_a_field_is_mirror_covariant_and_complete() -> None:
    lat = SquareLattice(14, 13)
    rng = np.random.default_rng(5)
    q = rng.normal(size=(14, 13))
    d = cs_descriptor(q, lat)
    assert d.shape == (14, 13, 113)
    mirror = next(op for op in D4_OPERATIONS if op.name == "sigma_x")
    np.testing.assert_allclose(
        cs_descriptor(apply_point_operation(q, mirror, lat), lat),
        _channels_act(mirror, d, lat),
        atol=1e-12,
    )
    # a rotation is not a symmetry with electrodes: the Cs descriptor must see it
    c2 = next(op for op in D4_OPERATIONS if op.name == "C2")
    assert not np.allclose(cs_descriptor(apply_point_operation(q, c2, lat), lat)[0, 0], d[0, 0])
    # G_A'' = f_A'' f_ref: the pair differences are recovered up to the mirror's sign
    v = neighbourhood_values(q, CS_HOOD.offsets, lat)[3, 4]
    odd = split_irreps(CS_HOOD.basis @ v, CS_HOOD)["A''"][:, 0]
    ref = reference_irreps(v, CS_HOOD)["A''"][0, 0]
    np.testing.assert_allclose(d[3, 4, 63:], odd * ref, atol=1e-12)


def test_cs_reference_is_proportional_to_top_minus_bottom() -> None:
    # paper 001: f_ref = Q_t - Q_b. The half-plane sectors share the 12 on-line sites
    # (weight 1/2 each, total weight 50 + 6 per sector), which cancel in the difference.
    top, bottom = CS_HOOD.offsets[:, 1] > 0, CS_HOOD.offsets[:, 1] < 0
    rng = np.random.default_rng(6)
    for _ in range(5):
        v = rng.normal(size=CS_HOOD.size)
        ref = reference_irreps(v, CS_HOOD)["A''"][0, 0]
        expected = (v[top].sum() - v[bottom].sum()) / 56 / np.sqrt(2)
        assert abs(ref) == pytest.approx(abs(expected), rel=1e-12)


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="r_c"):
        decompose_neighbourhood(D4, -1.0)
    with pytest.raises(ValueError, match="last axis 45"):
        frame_features(np.zeros(44), HOOD)
    with pytest.raises(ValueError, match="Cs"):
        mirror_pair_features(np.zeros(45), HOOD)
    with pytest.raises(ValueError, match="shape"):
        d4_descriptor(np.zeros((4, 5)), SquareLattice(7, 7))


@given(seed=st.integers(0, 2**32 - 1), g=st.integers(0, 1), eps=st.sampled_from([0.0, 1e-3, 1.0]))
def test_cs_features_separate_unrelated_neighbourhoods(seed: int, g: int, eps: float) -> None:
    rng = np.random.default_rng(seed)
    v, u = rng.normal(size=(2, CS_HOOD.size))
    w = _act(CS, CS_HOOD.offsets, g, v) + eps * u
    diff = np.abs(mirror_pair_features(v, CS_HOOD) - mirror_pair_features(w, CS_HOOD)).max()
    assert diff < 1e-12 if eps == 0.0 else diff > 0.01 * eps


def test_a_neighbourhood_must_not_wrap_onto_itself() -> None:
    # r_c = 3.61 reaches +-3 sites along each axis: a periodic length of 6 or less puts
    # (3, 0) and (-3, 0) on one site; 7 is the smallest that keeps the 45 sites distinct
    for lat, message in (
        (
            SquareLattice(4, 4),
            r"4 x 4 .* x axis; Lx must be >= 2 floor\(r_c\) \+ 1 = 7, got Lx = 4",
        ),
        (
            SquareLattice(6, 7),
            r"6 x 7 .* x axis; Lx must be >= 2 floor\(r_c\) \+ 1 = 7, got Lx = 6",
        ),
        (
            SquareLattice(4, 6, periodic_x=False),
            r"4 x 6 .* y axis; Ly must be >= .* = 7, got Ly = 6",
        ),
    ):
        for describe in (d4_descriptor, lambda f, lat: irrep_coefficients(f, HOOD, lat)):
            with pytest.raises(ValueError, match=f"r_c = 3.61 is too large for the {message}"):
                describe(np.zeros(lat.shape), lat)
    # the Cs descriptor of paper 001 (r_c = 6, open along x) needs 13 periodic rows
    cs_lattice = SquareLattice(40, 12, periodic_x=False)
    with pytest.raises(ValueError, match=r"r_c = 6 is too large .* Ly must be >= .* = 13"):
        cs_descriptor(np.zeros(cs_lattice.shape), cs_lattice)
    assert cs_descriptor(np.zeros((40, 13)), SquareLattice(40, 13, periodic_x=False)).shape == (
        40,
        13,
        113,
    )
    # open axes never wrap; 7 periodic sites are enough
    open_x = SquareLattice(4, 7, periodic_x=False)
    assert d4_descriptor(np.zeros(open_x.shape), open_x).shape == (4, 7, 45)
    assert d4_descriptor(np.zeros((7, 7)), SquareLattice(7, 7)).shape == (7, 7, 45)
    # the condition is exact: with L = 2 floor(r_c) + 1 every neighbourhood's sites are
    # distinct, with one site fewer they are not
    for r_c in (1.0, 1.5, 2.0, 2.9, 3.61):
        hood = decompose_neighbourhood(D4, r_c)
        n = 2 * int(np.floor(r_c)) + 1
        fits, wraps = SquareLattice(n, n), SquareLattice(n - 1, n + 1)
        assert len(set(offset_table(fits, hood.offsets)[0][0].tolist())) == hood.size
        assert len(set(offset_table(wraps, hood.offsets)[0][0].tolist())) < hood.size
        d4_descriptor(np.zeros(fits.shape), fits, r_c)
        with pytest.raises(ValueError, match=f"got Lx = {n - 1}"):
            d4_descriptor(np.zeros(wraps.shape), wraps, r_c)
