"""Tests of reference.negf: Keldysh algebra, limits, sum rules and symmetry of the open lattice."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import ed
from reference.lattice import D4_OPERATIONS, SquareLattice, apply_point_operation
from reference.model import Electrodes, ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.negf import (
    NEGFForceField,
    chemical_potentials,
    energy_grid,
    lesser_green,
    lesser_self_energy,
    level_broadening,
    negf_densities,
    negf_force,
    particle_currents,
    retarded_green,
    retarded_self_energy,
    spectral_function,
)
from reference.testing import assert_translation_equivariant
from tests.strategies import fields

LAT = SquareLattice(4, 3, periodic_x=False)
MODEL = HolsteinModel(LAT, HolsteinParams(g=1.5, kappa=0.18), ElectronEnsemble(0.1, None, mu=0.0))
DRIVEN = Electrodes(gamma_lead=1.0, gamma_bath=0.05, voltage=0.7, temperature=0.1)
SIGMA_X = next(op for op in D4_OPERATIONS if op.name == "sigma_x")


def _q(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(scale=0.6, size=LAT.shape)


def test_reservoir_layout_follows_paper_001() -> None:
    gamma = level_broadening(LAT, DRIVEN)
    mu = chemical_potentials(LAT, DRIVEN)
    assert np.all(gamma[0] == 1.0) and np.all(gamma[-1] == 1.0) and np.all(gamma[1:-1] == 0.05)
    assert np.all(mu[0] == -0.7) and np.all(mu[-1] == 0.0) and np.all(mu[1:-1] == 0.0)
    np.testing.assert_allclose(retarded_self_energy(LAT, DRIVEN), np.diag(-1j * gamma.ravel()))
    with pytest.raises(ValueError, match="open along x"):
        level_broadening(SquareLattice(4, 3), DRIVEN)
    with pytest.raises(ValueError, match="gamma_lead"):
        Electrodes(gamma_lead=-1.0)


def test_lesser_self_energy_is_the_fluctuation_dissipation_partner() -> None:
    # Sigma< = -(Sigma^r - Sigma^a) f  with  Sigma^r = -i Gamma
    energies = np.array([-1.0, -0.7, 0.0, 0.4])
    sigma = lesser_self_energy(energies, LAT, DRIVEN)
    gamma = level_broadening(LAT, DRIVEN).ravel()
    mu = chemical_potentials(LAT, DRIVEN).ravel()
    f = 1 / (np.exp((energies[:, None] - mu) / 0.1) + 1)
    np.testing.assert_allclose(sigma, 2j * gamma * f)


def test_green_functions_obey_the_keldysh_identities() -> None:
    q = _q()
    e = np.array([-2.0, 0.3])
    gr = retarded_green(e, q, MODEL, DRIVEN)
    gl = lesser_green(e, q, MODEL, DRIVEN)
    # G< is anti-Hermitian with a non-negative (-i G<) diagonal
    np.testing.assert_allclose(gl, -np.conj(np.swapaxes(gl, -1, -2)), atol=1e-14)
    assert np.all(np.real(-1j * np.diagonal(gl, axis1=1, axis2=2)) >= -1e-14)
    # G^r - G^a = -i G^r (2 Gamma) G^a
    gamma = 2 * level_broadening(LAT, DRIVEN).ravel()
    lhs = gr - np.conj(np.swapaxes(gr, -1, -2))
    rhs = -1j * np.einsum("eij,j,ekj->eik", gr, gamma, gr.conj())
    np.testing.assert_allclose(lhs, rhs, atol=1e-13)


def test_equilibrium_densities_are_the_broadened_fermi_sum() -> None:
    """All chemical potentials equal: -i G< = f A, so n = int f A / 2 pi on the same grid."""
    eq = Electrodes(gamma_lead=0.8, gamma_bath=0.1, voltage=0.0, temperature=0.2)
    q = _q(1)
    grid = energy_grid(q, MODEL, eq, step=0.002)
    a = spectral_function(grid, q, MODEL, eq)
    f = 1 / (np.exp(grid / 0.2) + 1)
    expected = np.einsum("e,exy->xy", f, a) * 0.002 / (2 * np.pi)
    got = negf_densities(q, MODEL, eq, step=0.002, tail_correction=False)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_spectral_weight_of_every_site_is_one() -> None:
    q = _q(2)
    eq = Electrodes(gamma_lead=0.5, gamma_bath=0.5, voltage=0.0, temperature=0.1)
    grid = np.arange(-400, 400, 0.005) + 0.0025
    weight = spectral_function(grid, q, MODEL, eq).sum(axis=0) * 0.005 / (2 * np.pi)
    # the Lorentzian tails beyond +-400 hold Gamma / (pi * 400) each
    np.testing.assert_allclose(weight, 1 - 2 * 0.5 / (np.pi * 400), atol=2e-5)


def test_vanishing_broadening_recovers_exact_diagonalisation() -> None:
    q = _q(3)
    exact = ed.densities(q, MODEL)  # grand canonical at mu = 0, T = 0.1
    errors = []
    for gamma in (0.04, 0.02, 0.01):
        res = Electrodes(gamma_lead=gamma, gamma_bath=gamma, voltage=0.0, temperature=0.1)
        errors.append(np.abs(negf_densities(q, MODEL, res, step=gamma / 10) - exact).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 5e-3
    # the error is linear in the broadening
    assert errors[0] / errors[2] == pytest.approx(4.0, rel=0.15)


@given(q=fields(LAT, scale=1.5), voltage=st.floats(-2.0, 2.0))
def test_particle_currents_sum_to_zero(q: np.ndarray, voltage: float) -> None:
    res = Electrodes(gamma_lead=1.0, gamma_bath=0.01, voltage=voltage, temperature=0.1)
    j = particle_currents(q, MODEL, res, step=0.02)
    assert abs(j.sum()) < 1e-12 * max(1.0, np.abs(j).max())


def test_bias_drives_a_current_from_the_lead_at_higher_chemical_potential() -> None:
    q = np.zeros(LAT.shape)
    res = Electrodes(gamma_lead=1.0, gamma_bath=0.0, voltage=-1.0, temperature=0.1)  # mu_L = +1
    j = particle_currents(q, MODEL, res, step=0.005)
    assert j[0].sum() > 1e-3 and j[-1].sum() < -1e-3
    np.testing.assert_allclose(j[0].sum(), -j[-1].sum(), rtol=1e-10)
    zero = Electrodes(gamma_lead=1.0, gamma_bath=0.0, voltage=0.0, temperature=0.1)
    assert np.abs(particle_currents(q, MODEL, zero, step=0.005)).max() < 1e-12


def test_riemann_sum_converges_as_the_step_shrinks() -> None:
    q = _q(4)
    window = (-12.0, 5.0)
    ref = negf_densities(q, MODEL, DRIVEN, step=0.0005, window=window)
    errors = [
        np.abs(negf_densities(q, MODEL, DRIVEN, step=s, window=window) - ref).max()
        for s in (0.04, 0.02, 0.01)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-4


def test_tail_correction_makes_the_result_window_independent() -> None:
    q = _q(5)
    wide = negf_densities(q, MODEL, DRIVEN, step=0.004, window=(-60.0, 5.0))
    for lower in (-8.0, -20.0):
        corrected = negf_densities(q, MODEL, DRIVEN, step=0.004, window=(lower, 5.0))
        np.testing.assert_allclose(corrected, wide, atol=1e-8)
    plain = negf_densities(q, MODEL, DRIVEN, step=0.004, window=(-8.0, 5.0), tail_correction=False)
    # cutting the Lorentzian tails loses ~Gamma / (pi * distance) on the lead columns
    assert (wide - plain)[0].min() > 0.01


def test_densities_are_mirror_and_y_translation_covariant() -> None:
    lat = SquareLattice(4, 4, periodic_x=False)
    model = HolsteinModel(lat, MODEL.params, MODEL.electrons)
    q = np.random.default_rng(6).normal(scale=0.6, size=lat.shape)
    n = negf_densities(q, model, DRIVEN, step=0.01)
    mirrored = negf_densities(apply_point_operation(q, SIGMA_X, lat), model, DRIVEN, step=0.01)
    np.testing.assert_allclose(mirrored, apply_point_operation(n, SIGMA_X, lat), atol=1e-12)
    ff = NEGFForceField(model, DRIVEN, step=0.01)
    assert_translation_equivariant(ff, q, lat, shifts=[(0, 1), (0, 3)], atol=1e-11, rtol=1e-11)


def test_force_is_the_generalised_hellmann_feynman_force() -> None:
    q = _q(7)
    n = negf_densities(q, MODEL, DRIVEN, step=0.01)
    p = MODEL.params
    expected = (
        p.g * (n - p.coupling.offset)
        - p.k * q
        - p.kappa
        * np.array(
            [[sum(q[x2, y2] for x2, y2 in _neighbours(x, y)) for y in range(3)] for x in range(4)]
        )
    )
    np.testing.assert_allclose(negf_force(q, MODEL, DRIVEN, step=0.01), expected, atol=1e-12)
    ff = NEGFForceField(MODEL, DRIVEN, step=0.01)
    batch = np.stack([q, _q(8)])
    np.testing.assert_allclose(ff.forces(batch)[0], ff.forces(q), atol=1e-14)


def _neighbours(x: int, y: int) -> list[tuple[int, int]]:
    out = [((x + dx), (y + dy) % 3) for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))]
    return [(a, b) for a, b in out if 0 <= a < 4]


def test_bad_windows_and_steps_are_rejected() -> None:
    with pytest.raises(ValueError, match="window"):
        energy_grid(_q(), MODEL, DRIVEN, window=(1.0, -1.0))
    with pytest.raises(ValueError, match="step"):
        negf_densities(_q(), MODEL, DRIVEN, step=0.0)
    with pytest.raises(ValueError, match="open along x"):
        NEGFForceField(HolsteinModel(SquareLattice(4, 4)), DRIVEN)


def test_a_steady_state_needs_some_broadening() -> None:
    # without any reservoir broadening no density is defined (the sums would be zero)
    with pytest.raises(ValueError, match="gamma_lead and gamma_bath must not both be 0"):
        Electrodes(gamma_lead=0.0, gamma_bath=0.0)
    # Lx = 2: every site is a lead site, so a bath alone broadens nothing
    model = HolsteinModel(SquareLattice(2, 3, periodic_x=False), HolsteinParams(g=1.5))
    bath_only = Electrodes(gamma_lead=0.0, gamma_bath=0.1, voltage=0.5, temperature=0.1)
    q = np.zeros((2, 3))
    message = "gamma_lead must be > 0 on a lattice with Lx = 2"
    for call in (
        lambda: level_broadening(model.lattice, bath_only),
        lambda: negf_densities(q, model, bath_only),
        lambda: negf_force(q, model, bath_only),
        lambda: particle_currents(q, model, bath_only),
        lambda: NEGFForceField(model, bath_only),
    ):
        with pytest.raises(ValueError, match=message):
            call()
    # one broadening is enough
    lead_only = Electrodes(gamma_lead=0.5, gamma_bath=0.0, voltage=0.0, temperature=0.1)
    n = negf_densities(q, model, lead_only, step=0.01)
    assert np.all(n > 0.05) and np.all(n < 0.95)
