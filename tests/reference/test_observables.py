"""Tests of reference.observables: order parameters, S(k), C(r), domain lengths, growth fits."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
import scipy.stats
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.lattice import (
    D4_OPERATIONS,
    SquareLattice,
    apply_point_operation,
    pair_distances,
    sublattice_sign,
    transform_offsets,
    translate,
)
from reference.observables import (
    GrowthFit,
    correlation_map,
    domain_length_from_correlation,
    domain_length_from_structure_factor,
    domain_wall_position,
    ensemble_order_parameter,
    equal_time_correlation,
    fit_growth_exponent,
    local_cdw_order,
    local_lattice_order,
    metallic_fraction,
    momentum_grid,
    radial_average,
    radial_structure_factor,
    scaling_collapse,
    spatial_fluctuation,
    staggered_order,
    structure_factor,
)
from tests.strategies import fields, lattices

OPEN = SquareLattice(4, 5, periodic_x=False, periodic_y=False)
"""An open lattice, on which the Fourier-space functions must refuse to work."""


def _stripes(lattice: SquareLattice, d: int) -> np.ndarray:
    """Square wave along x: +1 for ``x // d`` even, -1 for odd (period ``2 d``)."""
    x = np.arange(lattice.Lx)[:, None] * np.ones(lattice.Ly)
    return np.where((x // d) % 2 == 0, 1.0, -1.0)


def _blocks(lattice: SquareLattice, d: int) -> np.ndarray:
    """Square ``d x d`` domains of alternating sign (a coarse checkerboard)."""
    x, y = np.meshgrid(np.arange(lattice.Lx), np.arange(lattice.Ly), indexing="ij")
    return np.where(((x // d) + (y // d)) % 2 == 0, 1.0, -1.0)


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Each component wrapped into [-pi, pi)."""
    return np.asarray((angle + np.pi) % (2 * np.pi) - np.pi)


def _cdw_density(lattice: SquareLattice, domains: np.ndarray, delta: float = 0.8) -> np.ndarray:
    """The CDW of paper 003, eq. (11), with its sign flipped domain by domain."""
    return np.asarray(0.5 + 0.5 * delta * sublattice_sign(lattice) * domains)


# --- order parameters -------------------------------------------------------------------------


@given(lattices(), st.floats(-3.0, 3.0))
def test_staggered_order_of_checkerboard_is_its_amplitude(lat: SquareLattice, a: float) -> None:
    q = np.stack([a * sublattice_sign(lat), -a * sublattice_sign(lat)])
    np.testing.assert_allclose(staggered_order(q, lat), [a, -a], atol=1e-12)


@given(lattices(periodic=True), st.data())
def test_staggered_order_is_fourier_component_at_pi_pi(
    lat: SquareLattice, data: st.DataObject
) -> None:
    q = data.draw(fields(lat))
    x, y = lat.coordinates.T
    direct = np.sum(q.ravel() * np.exp(1j * np.pi * (x + y))) / lat.n_sites
    assert abs(direct.imag) < 1e-12
    np.testing.assert_allclose(staggered_order(q, lat), direct.real, atol=1e-12)


@pytest.mark.parametrize(
    "lat",
    [SquareLattice(4, 4), SquareLattice(6, 4), OPEN, SquareLattice(5, 4, periodic_x=False)],
    ids=str,
)
def test_phi_is_one_on_checkerboard(lat: SquareLattice) -> None:
    s = sublattice_sign(lat)
    np.testing.assert_allclose(local_cdw_order((1 + s) / 2, lat), 1.0, atol=1e-12)
    np.testing.assert_allclose(local_cdw_order((1 - s) / 2, lat), -1.0, atol=1e-12)


@given(lattices(), st.floats(-1.0, 1.0))
def test_phi_equals_delta_for_the_paper_cdw(lat: SquareLattice, delta: float) -> None:
    assume(lat.is_bipartite)
    n = 0.5 * (1 + delta * sublattice_sign(lat))
    np.testing.assert_allclose(local_cdw_order(n, lat), delta, atol=1e-12)


@given(lattices(periodic=True), st.data())
def test_phi_is_density_minus_quarter_neighbour_sum_on_periodic_lattice(
    lat: SquareLattice, data: st.DataObject
) -> None:
    n = data.draw(fields(lat))
    quarter = sum(np.roll(n, s, axis=a) for a in (0, 1) for s in (1, -1)) / 4
    np.testing.assert_allclose(
        local_cdw_order(n, lat), (n - quarter) * sublattice_sign(lat), atol=1e-12
    )


def test_phi_uses_mean_of_existing_neighbours_on_open_edges() -> None:
    lat = SquareLattice(4, 4, periodic_x=False, periodic_y=False)
    n = np.arange(16.0).reshape(4, 4) ** 2
    phi = local_cdw_order(n, lat)
    # bulk site (1, 2): the paper's 1/4 sum; sublattice sign (-1)^3 = -1
    assert phi[1, 2] == pytest.approx(-(n[1, 2] - (n[0, 2] + n[2, 2] + n[1, 1] + n[1, 3]) / 4))
    # corner (0, 0): two neighbours; edge (0, 1): three neighbours
    assert phi[0, 0] == pytest.approx(n[0, 0] - (n[1, 0] + n[0, 1]) / 2)
    assert phi[0, 1] == pytest.approx(-(n[0, 1] - (n[1, 1] + n[0, 0] + n[0, 2]) / 3))


@given(lattices(), st.floats(-2.0, 2.0), st.floats(-2.0, 2.0))
def test_zeta_is_amplitude_of_staggered_distortion(lat: SquareLattice, q0: float, a: float) -> None:
    q = q0 + a * sublattice_sign(lat)
    np.testing.assert_allclose(local_lattice_order(q, q0, lat), a, atol=1e-12)


# --- structure factor and its domain length ----------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (6, 8)])
def test_momentum_grid_is_indexed_like_numpy_fft(shape: tuple[int, int]) -> None:
    lat = SquareLattice(*shape)
    kx, ky = momentum_grid(lat)
    assert kx.shape == ky.shape == shape
    np.testing.assert_allclose(kx[:, 0], 2 * np.pi * np.fft.fftfreq(shape[0]) % (2 * np.pi))
    np.testing.assert_allclose(ky[0, :], 2 * np.pi * np.fft.fftfreq(shape[1]) % (2 * np.pi))
    np.testing.assert_array_equal(kx[:, 1:], kx[:, :-1])
    np.testing.assert_array_equal(ky[1:, :], ky[:-1, :])


@given(lattices(max_size=5, periodic=True), st.data())
def test_structure_factor_matches_direct_fourier_sum(
    lat: SquareLattice, data: st.DataObject
) -> None:
    n = data.draw(fields(lat))
    kx, ky = momentum_grid(lat)
    x, y = lat.coordinates.T
    dn = n.ravel() - n.mean()
    phase = np.exp(1j * (kx.ravel()[:, None] * x[None, :] + ky.ravel()[:, None] * y[None, :]))
    n_tilde = phase @ dn / lat.n_sites
    np.testing.assert_allclose(
        structure_factor(n, lat), (np.abs(n_tilde) ** 2).reshape(lat.shape), atol=1e-12
    )


@given(st.sampled_from([(4, 4), (6, 4), (8, 8)]), st.floats(0.05, 1.0))
def test_structure_factor_of_checkerboard_is_a_single_peak_at_pi_pi(
    shape: tuple[int, int], delta: float
) -> None:
    lat = SquareLattice(*shape)
    s = structure_factor(0.5 + 0.5 * delta * sublattice_sign(lat), lat)
    expected = np.zeros(shape)
    expected[shape[0] // 2, shape[1] // 2] = (delta / 2) ** 2
    np.testing.assert_allclose(s, expected, atol=1e-14)


@given(lattices(periodic=True), st.data())
def test_structure_factor_sums_to_spatial_variance_of_density(
    lat: SquareLattice, data: st.DataObject
) -> None:
    # Parseval: sum_k |(1/N) sum_i dn_i e^{ik.r_i}|^2 = (1/N) sum_i dn_i^2
    n = data.draw(fields(lat))
    s = structure_factor(n, lat)
    assert s.sum() == pytest.approx(np.var(n), rel=1e-10, abs=1e-12)
    assert s[0, 0] == pytest.approx(0.0, abs=1e-12)


@given(lattices(periodic=True), st.integers(-7, 7), st.integers(-7, 7), st.data())
def test_structure_factor_is_translation_invariant(
    lat: SquareLattice, sx: int, sy: int, data: st.DataObject
) -> None:
    n = data.draw(fields(lat))
    np.testing.assert_allclose(
        structure_factor(translate(n, (sx, sy), lat), lat), structure_factor(n, lat), atol=1e-12
    )


@given(lattices(square=True, periodic=True), st.data())
def test_structure_factor_moves_to_rotated_momenta_under_d4(
    lat: SquareLattice, data: st.DataObject
) -> None:
    # (g n)(r) = n(R^-1 r) has n~'(k) = n~(R^-1 k), so S'(R k) = S(k) with R k taken modulo 2 pi
    n = data.draw(fields(lat))
    s = structure_factor(n, lat)
    indices = np.stack(np.meshgrid(np.arange(lat.Lx), np.arange(lat.Ly), indexing="ij"), axis=-1)
    for op in D4_OPERATIONS:
        s_rotated = structure_factor(apply_point_operation(n, op, lat), lat)
        rk = transform_offsets(indices, op) % lat.Lx
        np.testing.assert_allclose(s_rotated[rk[..., 0], rk[..., 1]], s, atol=1e-12)


@given(lattices(square=True, periodic=True), st.integers(-5, 5), st.integers(-5, 5), st.data())
def test_domain_length_is_invariant_under_d4_and_translations(
    lat: SquareLattice, sx: int, sy: int, data: st.DataObject
) -> None:
    n = data.draw(fields(lat))
    assume(np.var(n) > 1e-6)
    length = domain_length_from_structure_factor(structure_factor(n, lat), lat)
    q, s_q = radial_structure_factor(structure_factor(n, lat), lat)
    for op in D4_OPERATIONS:
        moved = translate(apply_point_operation(n, op, lat), (sx, sy), lat)
        s_moved = structure_factor(moved, lat)
        assert domain_length_from_structure_factor(s_moved, lat) == pytest.approx(length, rel=1e-9)
        q_moved, s_q_moved = radial_structure_factor(s_moved, lat)
        np.testing.assert_array_equal(q_moved, q)
        np.testing.assert_allclose(s_q_moved, s_q, atol=1e-12)


@pytest.mark.parametrize("d", [2, 4, 8])
def test_domain_length_of_stripes_matches_square_wave_spectrum(d: int) -> None:
    # n - 1/2 = (delta/2) e^{iK.r} sigma(x) with sigma a square wave of period 2d, so
    # S(K + q) = (delta/2)^2 |sigma~(q)|^2 with |sigma~(pi m / d)|^2 = 1 / (d sin(pi m / 2d))^2
    # for odd m, zero otherwise (the DFT of a square wave); eq. (15) then gives L in closed form.
    lat = SquareLattice(16, 4)
    m = np.arange(1, 2 * d, 2)
    weight = 1 / np.sin(np.pi * m / (2 * d)) ** 2
    distance = np.abs(_wrap(np.pi * m / d))
    expected = weight.sum() / (weight * distance).sum()
    s = structure_factor(_cdw_density(lat, _stripes(lat, d)), lat)
    assert domain_length_from_structure_factor(s, lat) == pytest.approx(expected, rel=1e-12)


def test_domain_length_of_stripes_grows_with_stripe_width() -> None:
    # The square wave's tail S ~ 1/q^2 makes sum_k S |k - K| grow like log d, so L ~ d / log d:
    # doubling d more than preserves L but less than doubles it (ratios 1.55 and 1.64 here).
    lat = SquareLattice(16, 16)
    lengths = [
        float(domain_length_from_structure_factor(structure_factor(_cdw_density(lat, p), lat), lat))
        for p in (_stripes(lat, 2), _stripes(lat, 4), _stripes(lat, 8))
    ]
    ratios = np.array(lengths[1:]) / np.array(lengths[:-1])
    assert np.all((ratios > 1.4) & (ratios < 2.0))


def test_domain_length_of_square_domains_grows_with_domain_size() -> None:
    lat = SquareLattice(16, 16)
    lengths = [
        float(domain_length_from_structure_factor(structure_factor(_cdw_density(lat, p), lat), lat))
        for p in (_blocks(lat, 2), _blocks(lat, 4), _blocks(lat, 8))
    ]
    ratios = np.array(lengths[1:]) / np.array(lengths[:-1])
    assert np.all((ratios > 1.4) & (ratios < 2.0))


def test_domain_length_of_perfect_checkerboard_is_infinite() -> None:
    lat = SquareLattice(6, 6)
    exact_peak = np.zeros(lat.shape)
    exact_peak[3, 3] = 0.04
    assert domain_length_from_structure_factor(exact_peak, lat) == math.inf
    # the FFT leaves ~1e-33 of round-off weight away from K: L is finite but astronomical
    s = structure_factor(0.5 + 0.4 * sublattice_sign(lat), lat)
    assert domain_length_from_structure_factor(s, lat) > 1e15


def test_radial_structure_factor_shells_are_distances_from_pi_pi() -> None:
    lat = SquareLattice(4, 4)
    s = np.arange(16.0).reshape(4, 4)
    q, s_q = radial_structure_factor(s, lat)
    # k - K has components in {-pi, -pi/2, 0, pi/2}: |k - K| in units of pi/2 is sqrt of a sum
    # of two squares from {0, 1, 4}
    np.testing.assert_allclose(q / (np.pi / 2), np.sqrt([0, 1, 2, 4, 5, 8]))
    assert s_q[0] == s[2, 2]
    assert s_q[1] == pytest.approx((s[1, 2] + s[3, 2] + s[2, 1] + s[2, 3]) / 4)
    assert s_q[-1] == s[0, 0]


@given(lattices(periodic=True), st.data())
def test_radial_structure_factor_preserves_total_weight(
    lat: SquareLattice, data: st.DataObject
) -> None:
    s = np.abs(data.draw(fields(lat)))
    q, s_q = radial_structure_factor(s, lat)
    assert np.all(np.diff(q) > 1e-9)
    kx, ky = momentum_grid(lat)
    distance = np.hypot(_wrap(kx - np.pi), _wrap(ky - np.pi))
    counts = np.array([np.sum(np.abs(distance - value) < 1e-9) for value in q])
    assert counts.sum() == lat.n_sites
    assert np.sum(counts * s_q) == pytest.approx(s.sum(), rel=1e-12, abs=1e-12)


@given(
    st.lists(st.floats(1.0, 20.0), min_size=1, max_size=4),
    hnp.arrays(np.float64, 7, elements=st.floats(0.0, 3.0), unique=True),
)
def test_scaling_collapse_of_exact_scaling_form_is_one_curve(
    lengths: list[float], q: np.ndarray
) -> None:
    def scaling_function(x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + x**2) ** 1.5

    length = np.array(lengths)
    s_q = length[:, None] ** 2 * scaling_function(q[None, :] * length[:, None])
    x, y = scaling_collapse(q, s_q, length)
    assert x.shape == y.shape == s_q.shape
    np.testing.assert_allclose(x, q[None, :] * length[:, None], rtol=1e-14)
    np.testing.assert_allclose(y, scaling_function(x), rtol=1e-12)


# --- real-space correlations ------------------------------------------------------------------


@given(lattices(periodic=True), st.data())
def test_correlation_map_is_one_at_origin_and_even(lat: SquareLattice, data: st.DataObject) -> None:
    phi = data.draw(fields(lat))
    assume(np.var(phi) > 1e-6)
    c = correlation_map(phi, lat)
    assert c[0, 0] == pytest.approx(1.0, abs=1e-12)
    minus_r = np.roll(c[::-1, ::-1], shift=(1, 1), axis=(0, 1))  # C[-dx mod Lx, -dy mod Ly]
    np.testing.assert_allclose(c, minus_r, atol=1e-12)
    assert np.all(np.abs(c) <= 1 + 1e-12)  # Cauchy-Schwarz


@given(lattices(periodic=True), st.integers(-6, 6), st.integers(-6, 6), st.data())
def test_correlation_map_is_translation_invariant(
    lat: SquareLattice, sx: int, sy: int, data: st.DataObject
) -> None:
    phi = data.draw(fields(lat))
    assume(np.var(phi) > 1e-6)
    np.testing.assert_allclose(
        correlation_map(translate(phi, (sx, sy), lat), lat), correlation_map(phi, lat), atol=1e-12
    )


@given(lattices(max_size=5, periodic=True), st.data())
def test_correlation_map_matches_direct_average_over_reference_site(
    lat: SquareLattice, data: st.DataObject
) -> None:
    phi = data.draw(fields(lat))
    assume(np.var(phi) > 1e-6)
    expected = np.empty(lat.shape)
    for dx, dy in itertools.product(range(lat.Lx), range(lat.Ly)):
        shifted = np.roll(phi, shift=(-dx, -dy), axis=(0, 1))  # shifted[r0] = phi[r0 + r]
        expected[dx, dy] = (np.mean(phi * shifted) - phi.mean() ** 2) / np.var(phi)
    np.testing.assert_allclose(correlation_map(phi, lat), expected, atol=1e-10)


@pytest.mark.parametrize("d", [2, 4, 8])
def test_correlation_of_square_wave_is_triangle_wave_crossing_half_at_quarter_width(d: int) -> None:
    # sigma(x) of period 2d has (1/Lx) sum_x sigma(x) sigma(x + r) = 1 - 2 r / d for 0 <= r <= d
    lat = SquareLattice(16, 4)
    c = correlation_map(_stripes(lat, d), lat)
    r = np.arange(d + 1.0)
    np.testing.assert_allclose(c[: d + 1, 0], 1 - 2 * r / d, atol=1e-12)
    np.testing.assert_allclose(c[0, :], 1.0, atol=1e-12)
    assert domain_length_from_correlation(r, c[: d + 1, 0]) == pytest.approx(d / 4, rel=1e-12)


@pytest.mark.parametrize("pattern", [_stripes, _blocks])
def test_correlation_length_of_phi_grows_with_domain_size(
    pattern: Callable[[SquareLattice, int], np.ndarray],
) -> None:
    lat = SquareLattice(16, 16)
    lengths = []
    for d in (2, 4, 8):
        phi = local_cdw_order(_cdw_density(lat, pattern(lat, d)), lat)
        r, c = radial_average(correlation_map(phi, lat), lat)
        lengths.append(float(domain_length_from_correlation(r, c)))
    assert lengths[0] < lengths[1] < lengths[2]
    assert lengths[2] / lengths[0] > 2.0


def test_radial_average_groups_minimum_image_lengths() -> None:
    lat = SquareLattice(4, 4)
    values = np.arange(16.0).reshape(4, 4)
    r, f = radial_average(values, lat)
    np.testing.assert_allclose(r, np.sqrt([0, 1, 2, 4, 5, 8]))
    assert f[0] == values[0, 0]
    assert f[1] == pytest.approx((values[1, 0] + values[3, 0] + values[0, 1] + values[0, 3]) / 4)
    assert f[3] == pytest.approx((values[2, 0] + values[0, 2]) / 2)
    assert f[5] == values[2, 2]


@given(lattices(periodic=True), st.floats(-3.0, 3.0))
def test_radial_average_of_constant_map_is_constant(lat: SquareLattice, value: float) -> None:
    r, f = radial_average(np.full((2, *lat.shape), value), lat)
    assert r[0] == 0.0
    assert np.all(np.diff(r) > 1e-9)
    assert f.shape == (2, r.size)
    np.testing.assert_allclose(f, value, atol=1e-12)


@given(st.lists(st.floats(0.6, 6.0), min_size=1, max_size=3))
def test_domain_length_from_correlation_interpolates_linear_decay_exactly(
    lengths: list[float],
) -> None:
    # C(r) = 1 - r / (2 ell) is linear, so linear interpolation recovers C(ell) = 1/2 exactly
    r = np.arange(0.0, 14.0)
    ell = np.array(lengths)
    c = 1 - r[None, :] / (2 * ell[:, None])
    np.testing.assert_allclose(domain_length_from_correlation(r, c), ell, rtol=1e-12)


def test_domain_length_from_correlation_takes_first_crossing() -> None:
    r = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    c = np.array([1.0, 0.7, 0.3, 0.9, 0.1])
    assert domain_length_from_correlation(r, c) == pytest.approx(1.5)


@given(lattices(), st.data())
def test_equal_time_correlation_at_zero_distance_is_mean_square(
    lat: SquareLattice, data: st.DataObject
) -> None:
    q = data.draw(fields(lat))
    r, c = equal_time_correlation(q, lat)
    assert r[0] == 0.0
    assert c[0] == pytest.approx(np.mean(q**2), rel=1e-12, abs=1e-12)


@given(lattices(max_size=5), st.data())
def test_equal_time_correlation_matches_loop_over_pairs(
    lat: SquareLattice, data: st.DataObject
) -> None:
    q = data.draw(fields(lat)).ravel()
    distance = pair_distances(lat)
    r, c = equal_time_correlation(q.reshape(lat.shape), lat)
    for value, c_r in zip(r, c, strict=True):
        pairs = [(i, j) for i in range(lat.n_sites) for j in range(lat.n_sites)]
        at_r = [q[i] * q[j] for i, j in pairs if abs(distance[i, j] - value) < 1e-9]
        assert c_r == pytest.approx(np.mean(at_r), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "lat",
    [SquareLattice(6, 6), SquareLattice(4, 8), OPEN, SquareLattice(5, 5, False, False)],
    ids=str,
)
def test_equal_time_correlation_of_checkerboard_alternates_with_parity(lat: SquareLattice) -> None:
    # Q_i Q_j = A^2 (-1)^(dx + dy) and dx + dy has the parity of dx^2 + dy^2 = r^2, so every
    # pair at one distance shares the sign (on even periodic axes the minimum image keeps it)
    a = 0.8
    r, c = equal_time_correlation(a * sublattice_sign(lat), lat)
    parity = np.rint(r**2).astype(int) % 2
    np.testing.assert_allclose(c, a**2 * (-1.0) ** parity, atol=1e-12)


def test_observables_act_independently_on_batch_axes() -> None:
    lat = SquareLattice(6, 4)
    rng = np.random.default_rng(7)
    batch = rng.uniform(0, 1, size=(2, 3, *lat.shape))
    functions: list[Callable[[np.ndarray], object]] = [
        lambda f: staggered_order(f, lat),
        lambda f: local_cdw_order(f, lat),
        lambda f: structure_factor(f, lat),
        lambda f: domain_length_from_structure_factor(structure_factor(f, lat), lat),
        lambda f: correlation_map(f, lat),
        lambda f: radial_average(f, lat)[1],
        lambda f: radial_structure_factor(f, lat)[1],
        lambda f: equal_time_correlation(f, lat)[1],
    ]
    for function in functions:
        together = np.asarray(function(batch))
        assert together.shape[:2] == (2, 3)
        for i, j in itertools.product(range(2), range(3)):
            np.testing.assert_allclose(
                together[i, j], np.asarray(function(batch[i, j])), atol=1e-12
            )


# --- growth exponent --------------------------------------------------------------------------


@given(st.floats(0.01, 2.0), st.floats(0.1, 10.0), st.integers(3, 30))
def test_fit_recovers_exact_power_law(alpha: float, prefactor: float, n: int) -> None:
    t = np.logspace(0, 4, n)
    fit = fit_growth_exponent(t, prefactor * t**alpha)
    assert isinstance(fit, GrowthFit)
    assert fit.alpha == pytest.approx(alpha, rel=1e-9)
    assert fit.prefactor == pytest.approx(prefactor, rel=1e-9)
    assert fit.alpha_stderr < 1e-9
    assert fit.n_points == n


def test_fit_stderr_of_noisy_data_matches_linregress() -> None:
    rng = np.random.default_rng(3)
    t = np.logspace(1, 3, 25)
    length = 2.0 * t**0.15 * np.exp(rng.normal(0, 0.05, t.size))
    fit = fit_growth_exponent(t, length)
    reference = scipy.stats.linregress(np.log(t), np.log(length))
    assert fit.alpha_stderr > 0
    assert fit.alpha == pytest.approx(reference.slope, rel=1e-10)
    assert fit.alpha_stderr == pytest.approx(reference.stderr, rel=1e-10)
    assert math.log(fit.prefactor) == pytest.approx(reference.intercept, rel=1e-10)


def test_fit_window_ignores_points_outside_it() -> None:
    t = np.arange(1.0, 21.0)
    length = np.where(t < 5, 100.0, 3.0 * t**0.5)  # an early transient the window excludes
    fit = fit_growth_exponent(t, length, t_min=5.0, t_max=18.0)
    assert fit.n_points == 14
    assert fit.alpha == pytest.approx(0.5, rel=1e-12)
    assert fit.prefactor == pytest.approx(3.0, rel=1e-12)


def test_two_point_fit_has_undefined_stderr() -> None:
    fit = fit_growth_exponent(np.array([1.0, 4.0]), np.array([1.0, 2.0]))
    assert fit.alpha == pytest.approx(0.5)
    assert fit.n_points == 2
    assert math.isnan(fit.alpha_stderr)


# --- input validation -------------------------------------------------------------------------

_LAT = SquareLattice(4, 4)
_GOOD = np.arange(16.0).reshape(4, 4) % 3
_NAN = np.where(np.eye(4) > 0, np.nan, 1.0)
_T = np.array([1.0, 2.0, 4.0])


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: staggered_order(_NAN, _LAT), "Q", id="staggered-nan"),
        pytest.param(lambda: staggered_order(np.ones((4, 5)), _LAT), "Q", id="staggered-shape"),
        pytest.param(lambda: local_cdw_order(_NAN, _LAT), "n", id="phi-nan"),
        pytest.param(lambda: local_cdw_order(np.ones(16), _LAT), "n", id="phi-shape"),
        pytest.param(lambda: local_lattice_order(_GOOD, math.nan, _LAT), "Q0", id="zeta-q0"),
        pytest.param(lambda: local_lattice_order(_NAN, 0.0, _LAT), "Q", id="zeta-nan"),
        pytest.param(lambda: momentum_grid(OPEN), "lattice", id="grid-open"),
        pytest.param(
            lambda: structure_factor(np.ones((4, 5)), OPEN), "lattice", id="structure-open"
        ),
        pytest.param(lambda: structure_factor(_NAN, _LAT), "n", id="structure-nan"),
        pytest.param(lambda: structure_factor(np.ones((5, 4)), _LAT), "n", id="structure-shape"),
        pytest.param(
            lambda: domain_length_from_structure_factor(_GOOD - 0.5, _LAT),
            "S",
            id="length-negative",
        ),
        pytest.param(
            lambda: domain_length_from_structure_factor(np.zeros((4, 4)), _LAT),
            "S",
            id="length-zero",
        ),
        pytest.param(
            lambda: domain_length_from_structure_factor(np.ones((4, 5)), OPEN),
            "lattice",
            id="length-open",
        ),
        pytest.param(lambda: radial_structure_factor(_NAN, _LAT), "S", id="radial-s-nan"),
        pytest.param(lambda: scaling_collapse(-_T, np.ones(3), 1.0), "q", id="collapse-q"),
        pytest.param(lambda: scaling_collapse(_T, np.ones(4), 1.0), "S_q", id="collapse-shape"),
        pytest.param(lambda: scaling_collapse(_T, np.ones(3), 0.0), "L", id="collapse-l-zero"),
        pytest.param(
            lambda: scaling_collapse(_T, np.ones((2, 3)), np.ones(3)), "L", id="collapse-l-shape"
        ),
        pytest.param(lambda: correlation_map(np.ones((4, 4)), _LAT), "phi", id="corr-uniform"),
        pytest.param(lambda: correlation_map(np.zeros((4, 4)), _LAT), "phi", id="corr-zero"),
        pytest.param(lambda: correlation_map(_NAN, _LAT), "phi", id="corr-nan"),
        pytest.param(lambda: correlation_map(np.eye(4, 5), OPEN), "lattice", id="corr-open"),
        pytest.param(lambda: radial_average(np.ones(4), _LAT), "field_map", id="radial-shape"),
        pytest.param(lambda: radial_average(np.ones((4, 5)), OPEN), "lattice", id="radial-open"),
        pytest.param(
            lambda: domain_length_from_correlation(_T, np.ones(3)), "C", id="halfmax-never"
        ),
        pytest.param(
            lambda: domain_length_from_correlation(_T, np.array([0.4, 0.3, 0.2])),
            "C",
            id="halfmax-start",
        ),
        pytest.param(
            lambda: domain_length_from_correlation(_T, np.ones(4)), "C", id="halfmax-shape"
        ),
        pytest.param(
            lambda: domain_length_from_correlation(_T[::-1], np.ones(3)), "r", id="halfmax-order"
        ),
        pytest.param(lambda: equal_time_correlation(_NAN, _LAT), "Q", id="pairs-nan"),
        pytest.param(lambda: fit_growth_exponent(_T - 1, _T), "t", id="fit-t-zero"),
        pytest.param(lambda: fit_growth_exponent(_T, -_T), "L", id="fit-l-negative"),
        pytest.param(lambda: fit_growth_exponent(_T, _T[:2]), "L", id="fit-shape"),
        pytest.param(lambda: fit_growth_exponent(_T, _T, t_min=3.0), "t", id="fit-one-point"),
        pytest.param(
            lambda: fit_growth_exponent(_T, _T, t_min=3.0, t_max=2.0), "t_min", id="fit-window"
        ),
        pytest.param(lambda: fit_growth_exponent(_T, _T, t_max=math.inf), "t_max", id="fit-inf"),
        pytest.param(
            lambda: fit_growth_exponent(np.array([1.0, math.nan]), _T[:2]), "t", id="fit-t-nan"
        ),
        pytest.param(
            lambda: metallic_fraction(np.ones((4, 4)), _LAT, 0.0), "threshold", id="metal-zero"
        ),
        pytest.param(
            lambda: metallic_fraction(np.ones((4, 4)), _LAT, 0.2, np.ones((4, 5), bool)),
            "columns",
            id="metal-mask-shape",
        ),
        pytest.param(
            lambda: metallic_fraction(np.ones((4, 4)), _LAT, 0.2, np.ones((4, 4))),
            "columns",
            id="metal-mask-dtype",
        ),
        pytest.param(
            lambda: metallic_fraction(np.ones((4, 4)), _LAT, 0.2, np.zeros((4, 4), bool)),
            "columns",
            id="metal-mask-empty",
        ),
    ],
)
def test_invalid_input_raises_value_error_naming_the_parameter(
    call: Callable[[], object], name: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()


def test_ensemble_order_parameter_and_spatial_fluctuation() -> None:
    lat = SquareLattice(4, 4)
    sign = sublattice_sign(lat)
    q0 = 0.9
    # member 0: perfect CDW of amplitude 0.5; member 1: opposite domains of amplitude 0.5
    half = np.where(np.arange(4)[:, None] < 2, 1.0, -1.0) * np.ones((4, 4))
    ensemble = np.stack([q0 + 0.5 * sign, q0 + 0.5 * sign * half])
    assert ensemble_order_parameter(ensemble, lat) == pytest.approx((0.5 + 0.0) / 2)
    # zeta is +-0.5 everywhere: no spread for the single domain, 0.5 for the two halves
    assert spatial_fluctuation(ensemble, q0, lat) == pytest.approx((0.0 + 0.5) / 2)
    frames = np.stack([ensemble, ensemble[::-1]])
    np.testing.assert_allclose(ensemble_order_parameter(frames, lat), [0.25, 0.25])
    with pytest.raises(ValueError, match="ensemble axis"):
        ensemble_order_parameter(ensemble[0], lat)


def test_domain_wall_position_is_the_metallic_fraction() -> None:
    lat = SquareLattice(10, 4, periodic_x=False)
    sign = sublattice_sign(lat)
    n = 0.5 + 0.4 * sign  # CDW with |phi| = 0.8
    n[:3] = 0.5  # three metallic columns at the left electrode
    assert domain_wall_position(n, lat) == pytest.approx(0.3)
    assert domain_wall_position(np.full(lat.shape, 0.5), lat) == 1.0
    assert domain_wall_position(0.5 + 0.4 * sign, lat) == 0.0
    with pytest.raises(ValueError, match="threshold"):
        domain_wall_position(n, lat, threshold=1.5)


def test_metallic_fraction_is_zero_on_a_perfect_cdw_and_one_on_a_uniform_half_filling() -> None:
    for lat in (SquareLattice(6, 4), SquareLattice(5, 3, periodic_x=False, periodic_y=False)):
        sign = sublattice_sign(lat)
        some = np.zeros(lat.shape, bool)
        some[1:3] = True
        for columns in (None, some):
            assert metallic_fraction(0.5 + 0.4 * sign, lat, 0.25, columns) == 0.0
            assert metallic_fraction(np.full(lat.shape, 0.5), lat, 0.25, columns) == 1.0


def test_metallic_fraction_counts_only_the_selected_columns() -> None:
    lat = SquareLattice(10, 4, periodic_x=False)
    n = 0.5 + 0.4 * sublattice_sign(lat)
    n[:3] = 0.5  # three metallic columns at the left electrode
    n = np.stack([n, 0.5 + 0.4 * sublattice_sign(lat)])  # and a frame without metal
    columns = np.zeros(lat.shape, bool)
    columns[1:6] = True  # x = 1..5: two of its five columns are metallic
    np.testing.assert_array_equal(metallic_fraction(n, lat, 0.25, columns), [0.4, 0.0])
    np.testing.assert_array_equal(
        metallic_fraction(n, lat, 0.25, np.ones(lat.shape, bool)), domain_wall_position(n, lat)
    )
    np.testing.assert_array_equal(metallic_fraction(n, lat, 0.25), [0.3, 0.0])


@given(
    lattices(square=True, periodic=True, min_size=3),
    st.integers(-5, 5),
    st.integers(-5, 5),
    st.integers(0, 2**32 - 1),
)
def test_metallic_fraction_of_all_sites_is_invariant_under_d4_and_translations(
    lat: SquareLattice, sx: int, sy: int, seed: int
) -> None:
    # continuous random densities: no |phi_i| sits within round-off of the threshold
    rng = np.random.default_rng(seed)
    n = rng.uniform(0.0, 1.0, size=(2, *lat.shape))
    threshold = float(rng.uniform(0.05, 0.5))
    xi = metallic_fraction(n, lat, threshold)
    for op in D4_OPERATIONS:
        moved = translate(apply_point_operation(n, op, lat), (sx, sy), lat)
        np.testing.assert_array_equal(metallic_fraction(moved, lat, threshold), xi)
