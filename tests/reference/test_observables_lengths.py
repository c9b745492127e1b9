"""Tests of the domain-length estimators and growth-law tools of reference.observables.

Every estimator is checked on patterns whose size is known: square domains of side ``a``,
stripes of width ``d``, random tilings of ``a x a`` blocks (whose expected structure factor
is known in closed form), exact dilations of one tiling, and thresholded Gaussian random
fields (a stand-in for coarsening domains with sharp walls).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.lattice import (
    D4_OPERATIONS,
    SquareLattice,
    apply_point_operation,
    bonds,
    sublattice_sign,
    translate,
)
from reference.observables import (
    ExponentBand,
    OffsetGrowthFit,
    domain_length_first_moment,
    domain_length_from_peak_width,
    domain_length_from_structure_factor,
    domain_length_from_walls,
    domain_length_second_moment,
    effective_exponent,
    effective_exponent_band,
    fit_growth_exponent,
    fit_growth_with_offset,
    local_cdw_order,
    momentum_grid,
    porod_exponent,
    structure_factor,
    structure_factor_background,
    wall_mobility,
)
from tests.strategies import fields, lattices

PEAK_LENGTHS: dict[str, Callable[[np.ndarray, SquareLattice], np.ndarray]] = {
    "first moment": lambda s, lat: domain_length_first_moment(s, lat),
    "first moment, window 2": lambda s, lat: domain_length_first_moment(s, lat, window=2.0),
    "second moment": lambda s, lat: domain_length_second_moment(s, lat),
    "peak width": lambda s, lat: domain_length_from_peak_width(s, lat),
}
"""The background-corrected lengths read from the CDW peak of S, with their defaults."""

SCALING_LENGTHS = ["first moment, window 2", "second moment", "peak width"]
"""Those whose summation region scales with the peak, so that they are proportional to it."""


def _cdw_density(lattice: SquareLattice, domains: np.ndarray, delta: float = 0.8) -> np.ndarray:
    """The CDW of paper 003, eq. (11), with its sign flipped domain by domain."""
    return np.asarray(0.5 + 0.5 * delta * sublattice_sign(lattice) * domains)


def _squares(lattice: SquareLattice, a: int) -> np.ndarray:
    """Square ``a x a`` domains of alternating sign."""
    x, y = np.meshgrid(np.arange(lattice.Lx), np.arange(lattice.Ly), indexing="ij")
    return np.where(((x // a) + (y // a)) % 2 == 0, 1.0, -1.0)


def _stripes(lattice: SquareLattice, d: int) -> np.ndarray:
    """Stripes of width ``d`` along y, alternating in sign along x."""
    x = np.arange(lattice.Lx)[:, None] * np.ones(lattice.Ly)
    return np.where((x // d) % 2 == 0, 1.0, -1.0)


def _tiling(signs: np.ndarray, a: int) -> np.ndarray:
    """Blocks of side ``a`` carrying the signs of ``signs``: an exact dilation by ``a``."""
    return np.kron(signs, np.ones((a, a)))


def _tiling_spectrum(lattice: SquareLattice, a: int, delta: float = 0.8) -> np.ndarray:
    """The expected S of the CDW density on a random tiling of ``a x a`` blocks.

    Independent block signs give ``E |m~(K + q)|^2 = F(q_x) F(q_y) / (N a^2)`` with the
    block form factor ``F(q) = sin^2(a q / 2) / sin^2(q / 2)`` (``a^2`` at ``q = 0``); the
    density carries ``(delta / 2)^2`` and ``S(0) = 0`` (the mean is removed).
    """
    kx, ky = momentum_grid(lattice)

    def form_factor(k: np.ndarray) -> np.ndarray:
        q = k - np.pi
        small = np.abs(np.sin(q / 2)) < 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(small, float(a * a), np.sin(a * q / 2) ** 2 / np.sin(q / 2) ** 2)

    s = (delta / 2) ** 2 * form_factor(kx) * form_factor(ky) / (lattice.n_sites * a * a)
    s[0, 0] = 0.0
    return np.asarray(s)


def _thresholded_field(rng: np.random.Generator, size: int, ell: float) -> np.ndarray:
    """The sign of white noise smoothed by a Gaussian of width ``ell``: sharp-walled domains."""
    k = 2 * np.pi * np.fft.fftfreq(size)
    kernel = np.exp(-0.5 * (k[:, None] ** 2 + k[None, :] ** 2) * ell**2)
    smooth = np.fft.ifft2(np.fft.fft2(rng.normal(size=(size, size))) * kernel).real
    return np.where(smooth >= 0, 1.0, -1.0)


# --- background ------------------------------------------------------------------------------


@given(st.sampled_from([(8, 8), (9, 12), (16, 10)]), st.floats(0.8, 2.0), st.floats(0.0, 5.0))
def test_background_of_a_flat_spectrum_is_its_level(
    shape: tuple[int, int], q_cut: float, level: float
) -> None:
    lat = SquareLattice(*shape)
    assert structure_factor_background(np.full(shape, level), lat, q_cut) == pytest.approx(level)


def test_background_of_white_noise_is_its_variance_over_n() -> None:
    # <|eta~(k)|^2> = sigma^2 / N at every k != 0; 40 configurations of 64 x 64 sites put
    # about 1e5 momenta in the background region, so the mean is within ~1 % of it
    lat = SquareLattice(64, 64)
    sigma = 0.3
    noise = 0.5 + sigma * np.random.default_rng(11).normal(size=(40, *lat.shape))
    level = structure_factor_background(structure_factor(noise, lat).mean(axis=0), lat)
    assert level * lat.n_sites == pytest.approx(sigma**2, rel=0.02)


@given(st.integers(0, 2**32 - 1), st.floats(1e-6, 1e-2), st.floats(0.8, 2.0))
def test_peak_lengths_are_unchanged_by_a_flat_floor_while_eq15_is_not(
    seed: int, floor: float, q_cut: float
) -> None:
    # a constant added to S is absorbed exactly by the background level
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(12, 12))
    lat = SquareLattice(48, 48)
    s = structure_factor(_cdw_density(lat, _tiling(signs, 4)), lat)
    lifted = s + floor
    for name, length in PEAK_LENGTHS.items():
        assert length(lifted, lat) == pytest.approx(length(s, lat), rel=1e-9), name
    for window in (2.0, 3.0, math.inf):
        shifted = domain_length_first_moment(lifted, lat, q_cut, window)
        assert shifted == pytest.approx(domain_length_first_moment(s, lat, q_cut, window), 1e-9)
    assert structure_factor_background(lifted, lat, q_cut) == pytest.approx(
        structure_factor_background(s, lat, q_cut) + floor, rel=1e-9
    )
    assert domain_length_from_structure_factor(lifted, lat) < domain_length_from_structure_factor(
        s, lat
    )


def test_peak_lengths_are_statistically_unchanged_by_white_noise_while_eq15_is_not() -> None:
    # noise of a quarter of the domain signal's power (sigma = 0.2 against (delta/2)^2 = 0.16)
    # cuts eq. (15)'s length by a third on 128 x 128 sites; the background-corrected lengths
    # only scatter, by the sampling noise of the peak momenta (measured over 40 patterns:
    # mean ratio 1.000-1.002, spread 0.6-1.2 %, worst 6 %)
    lat = SquareLattice(128, 128)
    ratios: dict[str, list[float]] = {name: [] for name in [*PEAK_LENGTHS, "eq. 15"]}
    for seed in range(10):
        rng = np.random.default_rng(seed)
        n = _cdw_density(lat, _thresholded_field(rng, 128, 3.0))
        s = structure_factor(n, lat)
        s_noisy = structure_factor(n + 0.2 * rng.normal(size=n.shape), lat)
        for name, length in PEAK_LENGTHS.items():
            ratios[name].append(float(length(s_noisy, lat) / length(s, lat)))
        printed = domain_length_from_structure_factor(s_noisy, lat)
        ratios["eq. 15"].append(float(printed / domain_length_from_structure_factor(s, lat)))
    for name in PEAK_LENGTHS:
        assert np.mean(ratios[name]) == pytest.approx(1.0, abs=0.015), name
        assert np.all(np.abs(np.array(ratios[name]) - 1) < 0.1), name
    assert np.max(ratios["eq. 15"]) < 0.75


# --- lengths from the peak of S: known sizes ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "per_side"),
    [
        ("peak width", 0.342),
        ("second moment", 0.341),
        ("first moment, window 2", 0.377),
    ],
)
def test_peak_lengths_of_random_tilings_are_documented_multiples_of_the_block_side(
    name: str, per_side: float
) -> None:
    # the expected S of a random tiling is known in closed form (see _tiling_spectrum); the
    # scaling lengths approach per_side * a from above, within 1 % by a = 32 (6 % at a = 8)
    for a, tolerance in ((8, 0.07), (16, 0.03), (32, 0.01)):
        lat = SquareLattice(24 * a, 24 * a)
        length = PEAK_LENGTHS[name](_tiling_spectrum(lat, a), lat)
        assert length / a == pytest.approx(per_side, rel=tolerance), (name, a)


def test_tiling_spectrum_is_the_mean_structure_factor_of_random_tilings() -> None:
    lat = SquareLattice(32, 32)
    rng = np.random.default_rng(5)
    signs = rng.choice([-1.0, 1.0], size=(1000, 8, 8))
    measured = structure_factor(_cdw_density(lat, _tiling(signs, 4)), lat).mean(axis=0)
    expected = _tiling_spectrum(lat, 4)
    peak = expected > 0.1 * expected.max()
    np.testing.assert_allclose(measured[peak], expected[peak], rtol=0.25)
    for name, length in PEAK_LENGTHS.items():
        assert length(measured, lat) == pytest.approx(length(expected, lat), rel=0.03), name


def test_scaling_lengths_double_under_an_exact_dilation_while_fixed_region_moments_do_not() -> None:
    # one random tiling drawn with blocks of side 8 and of side 16 (lattices 192 and 384):
    # a length proportional to the domain size doubles. The fixed-region first moment and
    # eq. (15) grow like a / log(a) (Porod tail), by about 1.65.
    signs = np.random.default_rng(2).choice([-1.0, 1.0], size=(24, 24))
    lengths: dict[str, list[float]] = {name: [] for name in [*PEAK_LENGTHS, "eq. 15", "walls"]}
    for a in (8, 16):
        domains = _tiling(signs, a)
        lat = SquareLattice(*domains.shape)
        n = _cdw_density(lat, domains)
        s = structure_factor(n, lat)
        for name, length in PEAK_LENGTHS.items():
            lengths[name].append(float(length(s, lat)))
        lengths["eq. 15"].append(float(domain_length_from_structure_factor(s, lat)))
        lengths["walls"].append(float(domain_length_from_walls(local_cdw_order(n, lat), lat)))
    ratio = {name: values[1] / values[0] for name, values in lengths.items()}
    assert ratio["walls"] == pytest.approx(2.0, rel=1e-12)
    assert ratio["second moment"] == pytest.approx(2.0, abs=0.04)
    assert ratio["first moment, window 2"] == pytest.approx(2.0, abs=0.04)
    assert ratio["peak width"] == pytest.approx(2.0, abs=0.12)
    assert ratio["first moment"] < 1.75
    assert ratio["eq. 15"] < 1.75


def test_scaling_lengths_follow_the_wall_length_of_thresholded_fields() -> None:
    # smoothing lengths 2, 4, 8 on 256 x 256 sites, S averaged over 4 patterns each: the
    # lengths whose region scales with the peak grow as the wall length to the power
    # 0.95-1.01 (measured over 6 seeds); the fixed-region first moment and eq. (15) as 0.72
    # and 0.77 (the Porod tail's logarithm)
    rng = np.random.default_rng(4)
    lat = SquareLattice(256, 256)
    rows = []
    for ell in (2.0, 4.0, 8.0):
        n = np.stack([_cdw_density(lat, _thresholded_field(rng, 256, ell)) for _ in range(4)])
        s = structure_factor(n, lat).mean(axis=0)
        walls = 1 / np.mean(1 / domain_length_from_walls(local_cdw_order(n, lat), lat))
        lengths = [float(length(s, lat)) for length in PEAK_LENGTHS.values()]
        rows.append([walls, *lengths, float(domain_length_from_structure_factor(s, lat))])
    logs = np.log(np.array(rows))
    slope = {
        name: np.polyfit(logs[:, 0], logs[:, i], 1)[0]
        for i, name in enumerate([*PEAK_LENGTHS, "eq. 15"], start=1)
    }
    for name in SCALING_LENGTHS:
        assert 0.92 < slope[name] < 1.05, (name, slope[name])
    assert slope["first moment"] < 0.8
    assert slope["eq. 15"] < 0.8


@given(st.sampled_from([12, 15, 16]), st.integers(0, 2**32 - 1), st.integers(-5, 5))
def test_peak_lengths_are_invariant_under_d4_and_translations(
    size: int, seed: int, shift: int
) -> None:
    rng = np.random.default_rng(seed)
    lat = SquareLattice(size, size)
    domains = _tiling(rng.choice([-1.0, 1.0], size=(size // 3, size // 3)), 3)
    domains = np.pad(domains, (0, size % 3), mode="wrap")
    n = _cdw_density(lat, domains) + 0.1 * rng.normal(size=lat.shape)
    s = structure_factor(n, lat)
    for op in D4_OPERATIONS:
        moved = translate(apply_point_operation(n, op, lat), (shift, 2 * shift), lat)
        s_moved = structure_factor(moved, lat)
        for name, length in PEAK_LENGTHS.items():
            np.testing.assert_allclose(
                length(s_moved, lat), length(s, lat), rtol=1e-9, err_msg=name
            )


def test_peak_width_is_infinite_when_half_the_excess_sits_at_k() -> None:
    lat = SquareLattice(8, 8)
    s = np.full(lat.shape, 1e-3)
    s[4, 4] = 1.0
    assert domain_length_from_peak_width(s, lat) == math.inf
    assert domain_length_second_moment(s, lat) == math.inf
    assert math.isnan(domain_length_first_moment(np.full(lat.shape, 1e-3), lat))


def test_peak_lengths_act_independently_on_batch_axes() -> None:
    lat = SquareLattice(16, 12)
    rng = np.random.default_rng(8)
    domains = np.stack([_squares(lat, a) for a in (2, 3, 4, 4, 2, 3)]).reshape(2, 3, *lat.shape)
    s = structure_factor(_cdw_density(lat, domains) + 0.05 * rng.normal(size=domains.shape), lat)
    functions = [*PEAK_LENGTHS.values(), structure_factor_background]
    for function in functions:
        together = function(s, lat)
        for i, j in itertools.product(range(2), range(3)):
            np.testing.assert_allclose(together[i, j], function(s[i, j], lat), rtol=1e-12)
    phi = local_cdw_order(_cdw_density(lat, domains), lat)
    together = domain_length_from_walls(phi, lat)
    for i, j in itertools.product(range(2), range(3)):
        assert together[i, j] == domain_length_from_walls(phi[i, j], lat)


# --- domain walls ------------------------------------------------------------------------------


@pytest.mark.parametrize("a", [2, 3, 4, 8])
def test_wall_length_of_square_domains_is_their_side(a: int) -> None:
    lat = SquareLattice(4 * a, 6 * a)
    domains = _squares(lat, a)
    assert domain_length_from_walls(domains, lat) == pytest.approx(a, rel=1e-12)
    phi = local_cdw_order(_cdw_density(lat, domains), lat)  # phi keeps the domains' signs
    assert domain_length_from_walls(phi, lat) == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_wall_length_of_stripes_is_twice_their_width(d: int) -> None:
    lat = SquareLattice(6 * d, 7)
    assert domain_length_from_walls(_stripes(lat, d), lat) == pytest.approx(2 * d, rel=1e-12)


@given(st.integers(2, 6), st.integers(0, 2**32 - 1))
def test_wall_length_of_a_random_tiling_counts_its_walls(a: int, seed: int) -> None:
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(10, 10))
    lat = SquareLattice(10 * a, 10 * a)
    unlike = np.sum(signs != np.roll(signs, 1, axis=0)) + np.sum(signs != np.roll(signs, 1, axis=1))
    expected = math.inf if unlike == 0 else 2 * lat.n_sites / (a * unlike)
    assert domain_length_from_walls(_tiling(signs, a), lat) == pytest.approx(expected, rel=1e-12)


def test_wall_length_of_random_tilings_averages_twice_the_block_side() -> None:
    # half of the block edges are walls: E N_wall = N / a
    signs = np.random.default_rng(1).choice([-1.0, 1.0], size=(200, 16, 16))
    lat = SquareLattice(64, 64)
    inverse = 1 / domain_length_from_walls(_tiling(signs, 4), lat)
    assert 1 / inverse.mean() == pytest.approx(8.0, rel=0.02)


@given(lattices(), st.data())
def test_wall_count_matches_a_loop_over_the_bonds(lat: SquareLattice, data: st.DataObject) -> None:
    phi = data.draw(fields(lat))
    walls = sum(1 for i, j in bonds(lat) if phi.flat[i] * phi.flat[j] < 0)
    expected = math.inf if walls == 0 else 2 * lat.n_sites / walls
    assert domain_length_from_walls(phi, lat) == pytest.approx(expected, rel=1e-12)


@given(lattices(square=True, periodic=True), st.data())
def test_wall_length_is_invariant_under_d4_and_translations(
    lat: SquareLattice, data: st.DataObject
) -> None:
    phi = data.draw(fields(lat))
    shift = (data.draw(st.integers(-5, 5)), data.draw(st.integers(-5, 5)))
    for op in D4_OPERATIONS:
        moved = translate(apply_point_operation(phi, op, lat), shift, lat)
        assert domain_length_from_walls(moved, lat) == domain_length_from_walls(phi, lat)


# --- wall mobility -------------------------------------------------------------------------------


@given(st.integers(2, 5), st.integers(0, 2**32 - 1), st.floats(0.01, 10.0))
def test_walls_that_stay_put_have_zero_mobility(a: int, seed: int, dt: float) -> None:
    """Amplitudes change, signs stay (or all flip at once): no wall moves."""
    rng = np.random.default_rng(seed)
    lat = SquareLattice(6 * a, 6 * a)
    phi = _tiling(rng.choice([-1.0, 1.0], size=(6, 6)), a) * rng.uniform(0.1, 1.0, lat.shape)
    has_walls = domain_length_from_walls(phi, lat) < math.inf
    rescaled = phi * rng.uniform(0.5, 2.0, lat.shape)
    expected = 0.0 if has_walls else math.nan
    np.testing.assert_equal(wall_mobility(phi, rescaled, lat, dt), expected)
    np.testing.assert_equal(wall_mobility(phi, -phi, lat, dt), expected)


@pytest.mark.parametrize(("d", "shift"), [(3, 1), (3, 2), (4, 1), (4, 3), (5, 2)])
def test_stripes_translated_off_their_walls_change_every_wall_bond(d: int, shift: int) -> None:
    """Stripes of width d moved by less than d: no wall bond is shared, the share is 1 per
    frame interval; moved by d (a sign flip) or 2d (a period), none changed."""
    lat = SquareLattice(4 * d, 5)
    stripes = _stripes(lat, d)
    for dt in (1.0, 0.25):
        moved = np.roll(stripes, shift, axis=0)
        assert wall_mobility(stripes, moved, lat, dt) == pytest.approx(1.0 / dt, rel=1e-14)
    assert wall_mobility(stripes, np.roll(stripes, d, axis=0), lat, 0.5) == 0.0
    assert wall_mobility(stripes, np.roll(stripes, 2 * d, axis=0), lat, 0.5) == 0.0


@pytest.mark.parametrize("width", [2, 5])
def test_one_of_two_walls_moving_by_one_site_changes_half_the_wall_bonds(width: int) -> None:
    lat = SquareLattice(16, 7)
    x = np.arange(lat.Lx)[:, None] * np.ones(lat.Ly)
    stripe = np.where(x < width, 1.0, -1.0)  # walls at x = width - 1 | width and 15 | 0
    wider = np.where(x < width + 1, 1.0, -1.0)
    assert wall_mobility(stripe, wider, lat, 2.0) == pytest.approx(0.25, rel=1e-14)


@given(lattices(), st.data())
def test_wall_mobility_matches_a_loop_over_the_bonds(
    lat: SquareLattice, data: st.DataObject
) -> None:
    before, after = data.draw(fields(lat)), data.draw(fields(lat))
    dt = data.draw(st.floats(0.1, 10.0))
    changed = total = 0
    for i, j in bonds(lat):
        wall_a = before.flat[i] * before.flat[j] < 0
        wall_b = after.flat[i] * after.flat[j] < 0
        changed += int(wall_a != wall_b)
        total += int(wall_a) + int(wall_b)
    mobility = wall_mobility(before, after, lat, dt)
    if total == 0:
        assert math.isnan(mobility)
    else:
        assert mobility == pytest.approx(changed / total / dt, rel=1e-12)
        assert 0.0 <= mobility * dt <= 1.0


@given(lattices(square=True, periodic=True), st.data())
def test_wall_mobility_is_symmetric_and_invariant_under_d4_and_translations(
    lat: SquareLattice, data: st.DataObject
) -> None:
    before, after = data.draw(fields(lat)), data.draw(fields(lat))
    shift = (data.draw(st.integers(-5, 5)), data.draw(st.integers(-5, 5)))
    value = wall_mobility(before, after, lat, 0.5)
    np.testing.assert_equal(wall_mobility(after, before, lat, 0.5), value)
    for op in D4_OPERATIONS:
        a, b = (translate(apply_point_operation(f, op, lat), shift, lat) for f in (before, after))
        np.testing.assert_equal(wall_mobility(a, b, lat, 0.5), value)


def test_wall_mobility_acts_independently_on_batch_axes() -> None:
    rng = np.random.default_rng(3)
    lat = SquareLattice(8, 6)
    before, after = rng.normal(size=(2, 3, *lat.shape)), rng.normal(size=(2, 3, *lat.shape))
    batch = wall_mobility(before, after, lat, 0.3)
    assert batch.shape == (2, 3)
    for i, j in itertools.product(range(2), range(3)):
        assert batch[i, j] == wall_mobility(before[i, j], after[i, j], lat, 0.3)


# --- Porod tail ----------------------------------------------------------------------------------


@given(st.sampled_from([(12, 12), (15, 10), (32, 32)]), st.floats(0.5, 5.0), st.floats(1e-3, 1e3))
def test_porod_exponent_of_an_exact_power_law_is_its_exponent(
    shape: tuple[int, int], gamma: float, amplitude: float
) -> None:
    lat = SquareLattice(*shape)
    kx, ky = momentum_grid(lat)
    q = np.hypot(kx - np.pi, ky - np.pi)
    s = amplitude * np.where(q > 0, q, 1.0) ** -gamma
    assert porod_exponent(s, lat, 0.5, 2.5) == pytest.approx(gamma, rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_porod_exponent_of_sharp_domains_is_three(seed: int) -> None:
    # thresholded fields have walls one bond wide: S ~ q^-3 from a few peak widths out
    # (here q_1/2 ~ 0.1) to q ~ 1 (measured 2.97 +- 0.03 over realisations)
    lat = SquareLattice(256, 256)
    n = _cdw_density(lat, _thresholded_field(np.random.default_rng(seed), 256, 10.0))
    s = structure_factor(n, lat)
    q_half = 1 / float(domain_length_from_peak_width(s, lat))
    assert porod_exponent(s, lat, 3 * q_half, 1.0) == pytest.approx(3.0, abs=0.15)


# --- effective exponent ----------------------------------------------------------------------


@given(
    st.lists(st.floats(0.01, 3.0), min_size=3, max_size=20),
    st.floats(-1.0, 2.0),
    st.floats(0.1, 10.0),
    st.integers(1, 3),
)
def test_effective_exponent_of_a_power_law_is_its_exponent_at_any_spacing(
    increments: list[float], alpha: float, prefactor: float, step: int
) -> None:
    t = 0.5 + np.cumsum(increments)
    if t.size <= 2 * step:
        step = 1
    t_mid, alpha_eff = effective_exponent(t, prefactor * t**alpha, step)
    np.testing.assert_allclose(alpha_eff, alpha, atol=1e-9)
    np.testing.assert_allclose(t_mid, np.sqrt(t[: -2 * step] * t[2 * step :]), rtol=1e-12)


def test_effective_exponent_of_an_offset_power_law_is_its_local_slope() -> None:
    # d ln L / d ln t = alpha b t / (a + b t); 30 frames per decade resolve it to 1e-3
    t = np.logspace(0, 4, 121)
    alpha, a, b = 0.5, 30.0, 2.0
    t_mid, alpha_eff = effective_exponent(t, (a + b * t) ** alpha)
    np.testing.assert_allclose(t_mid, t[1:-1], rtol=1e-12)
    np.testing.assert_allclose(alpha_eff, alpha * b * t_mid / (a + b * t_mid), atol=1e-3)


def _noisy_replicas(n_replicas: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    t = np.logspace(0, 3, 25)
    noise = np.random.default_rng(seed).normal(scale=0.05, size=(n_replicas, t.size))
    return t, 2.0 * t**0.4 * np.exp(noise)


def test_exponent_band_brackets_the_mean_and_narrows_with_more_replicas() -> None:
    t, few = _noisy_replicas(8, 0)
    _, many = _noisy_replicas(128, 1)
    band = effective_exponent_band(t, few, rng=3)
    assert isinstance(band, ExponentBand)
    np.testing.assert_allclose(band.alpha, effective_exponent(t, few.mean(axis=0))[1])
    assert np.all((band.lower <= band.alpha + 1e-12) & (band.alpha <= band.upper + 1e-12))
    # the true exponent 0.4 lies inside a 68 % band at most frames
    assert np.mean((band.lower <= 0.4) & (band.upper >= 0.4)) > 0.5
    wide = np.median(band.upper - band.lower)
    narrow = effective_exponent_band(t, many, rng=3)
    assert np.median(narrow.upper - narrow.lower) < 0.4 * wide  # sqrt(8 / 128) = 0.25


def test_exponent_band_of_identical_replicas_has_no_width_and_is_reproducible() -> None:
    t, one = _noisy_replicas(1, 2)
    band = effective_exponent_band(t, np.repeat(one, 5, axis=0), n_resamples=50, rng=0)
    np.testing.assert_allclose(band.lower, band.alpha, atol=1e-12)
    np.testing.assert_allclose(band.upper, band.alpha, atol=1e-12)
    _, noisy = _noisy_replicas(6, 3)
    first = effective_exponent_band(t, noisy, rng=9)
    second = effective_exponent_band(t, noisy, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(first.lower, second.lower)


def test_exponent_band_acts_independently_on_batch_axes() -> None:
    t, replicas = _noisy_replicas(12, 4)
    stacked = np.stack([replicas, replicas[::-1] * 1.5])
    band = effective_exponent_band(t, stacked, rng=1)
    assert band.alpha.shape == band.lower.shape == (2, t.size - 2)
    np.testing.assert_allclose(band.alpha[0], band.alpha[1], atol=1e-12)


# --- offset fit -------------------------------------------------------------------------------


@given(st.floats(0.1, 1.0), st.floats(0.5, 50.0), st.floats(0.2, 5.0))
def test_offset_fit_recovers_an_exact_offset_power_law(alpha: float, a: float, b: float) -> None:
    t = np.logspace(0, 3, 30)
    fit = fit_growth_with_offset(t, (a + b * t) ** alpha)
    assert isinstance(fit, OffsetGrowthFit)
    assert fit.alpha == pytest.approx(alpha, rel=1e-6)
    assert fit.a == pytest.approx(a, rel=1e-4)
    assert fit.b == pytest.approx(b, rel=1e-4)
    assert fit.n_points == 30


def test_offset_fit_recovers_alpha_from_noisy_data_where_the_plain_fit_is_biased() -> None:
    t = np.logspace(0, 3, 40)
    rng = np.random.default_rng(6)
    length = (25.0 + t) ** 0.5 * np.exp(rng.normal(scale=0.01, size=t.size))
    fit = fit_growth_with_offset(t, length, t_min=10.0)
    plain = fit_growth_exponent(t, length, t_min=10.0)
    assert abs(fit.alpha - 0.5) < 3 * fit.alpha_stderr
    assert fit.alpha_stderr < 0.03
    assert plain.alpha < 0.42  # the local slope 0.5 t / (25 + t) is 0.14 to 0.49 here
    assert abs(plain.alpha - 0.5) > 10 * plain.alpha_stderr


def test_offset_fit_stderr_matches_the_scatter_over_noise_realisations() -> None:
    t = np.logspace(0, 3, 30)
    rng = np.random.default_rng(12)
    fits = [
        fit_growth_with_offset(t, (10.0 + 2.0 * t) ** 0.5 * np.exp(rng.normal(0, 0.02, t.size)))
        for _ in range(120)
    ]
    alphas = np.array([f.alpha for f in fits])
    stderrs = np.array([f.alpha_stderr for f in fits])
    assert alphas.mean() == pytest.approx(0.5, abs=3 * alphas.std() / math.sqrt(alphas.size) + 2e-3)
    assert np.median(stderrs) == pytest.approx(alphas.std(), rel=0.3)


def test_offset_fit_window_ignores_points_outside_it() -> None:
    t = np.arange(1.0, 41.0)
    length = np.where(t < 10, 1.0, (5.0 + 0.5 * t) ** 0.3)
    fit = fit_growth_with_offset(t, length, t_min=10.0, t_max=35.0)
    assert fit.n_points == 26
    assert fit.alpha == pytest.approx(0.3, rel=1e-6)


# --- input validation -------------------------------------------------------------------------

_LAT = SquareLattice(8, 8)
_S = np.ones((8, 8))
_T = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
_OPEN = SquareLattice(8, 8, periodic_x=False)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: structure_factor_background(-_S, _LAT), "S", id="bg-negative"),
        pytest.param(lambda: structure_factor_background(_S, _OPEN), "lattice", id="bg-open"),
        pytest.param(lambda: structure_factor_background(_S, _LAT, 0.0), "q_cut", id="bg-cut"),
        pytest.param(lambda: structure_factor_background(_S, _LAT, 4.0), "q_cut", id="bg-empty"),
        pytest.param(
            lambda: structure_factor_background(np.ones((9, 9)), SquareLattice(9, 9), 0.1),
            "q_cut",
            id="peak-empty",
        ),
        pytest.param(
            lambda: domain_length_first_moment(_S, _LAT, window=0.0), "window", id="m1-window"
        ),
        pytest.param(
            lambda: domain_length_second_moment(_S, _LAT, window=math.nan), "window", id="m2-nan"
        ),
        pytest.param(lambda: domain_length_from_peak_width(_S[:4], _LAT), "S", id="pw-shape"),
        pytest.param(lambda: domain_length_from_walls(_S[:4], _LAT), "phi", id="walls-shape"),
        pytest.param(
            lambda: wall_mobility(_S, np.ones((2, 8, 8)), _LAT, 1.0), "phi_after", id="mob-shape"
        ),
        pytest.param(lambda: wall_mobility(_S[:4], _S, _LAT, 1.0), "phi_before", id="mob-lattice"),
        pytest.param(lambda: wall_mobility(_S, _S, _LAT, 0.0), "dt", id="mob-dt"),
        pytest.param(lambda: wall_mobility(_S, _S, _LAT, math.inf), "dt", id="mob-dt-inf"),
        pytest.param(lambda: porod_exponent(_S, _LAT, 0.0, 1.0), "q_min", id="porod-zero"),
        pytest.param(lambda: porod_exponent(_S, _LAT, 1.0, 0.5), "q_max", id="porod-order"),
        pytest.param(lambda: porod_exponent(_S, _LAT, 0.1, 0.2), "q_min", id="porod-shells"),
        pytest.param(lambda: porod_exponent(0 * _S, _LAT, 0.5, 2.0), "S", id="porod-zero-s"),
        pytest.param(lambda: effective_exponent(_T, _T[:4]), "L", id="eff-shape"),
        pytest.param(lambda: effective_exponent(_T - 1, _T), "t", id="eff-t-zero"),
        pytest.param(lambda: effective_exponent(_T[::-1], _T), "t", id="eff-order"),
        pytest.param(lambda: effective_exponent(_T, _T, step=2.5), "step", id="eff-step"),
        pytest.param(lambda: effective_exponent(_T, _T, step=3), "step", id="eff-step-long"),
        pytest.param(lambda: effective_exponent_band(_T, _T[None]), "L", id="band-one"),
        pytest.param(
            lambda: effective_exponent_band(_T, np.stack([_T, _T]), level=1.0),
            "level",
            id="band-level",
        ),
        pytest.param(
            lambda: effective_exponent_band(_T, np.stack([_T, _T]), n_resamples=1),
            "n_resamples",
            id="band-resamples",
        ),
        pytest.param(lambda: fit_growth_with_offset(_T[:3], _T[:3]), "t", id="offset-three"),
        pytest.param(lambda: fit_growth_with_offset(_T - 2, _T), "t", id="offset-negative"),
        pytest.param(lambda: fit_growth_with_offset(_T, -_T), "L", id="offset-l"),
        pytest.param(
            lambda: fit_growth_with_offset(_T, _T, t_min=5.0, t_max=1.0), "t_min", id="offset-win"
        ),
    ],
)
def test_length_scale_input_errors_name_the_parameter(
    call: Callable[[], object], name: str
) -> None:
    with pytest.raises(ValueError, match=rf"^{name} "):
        call()
