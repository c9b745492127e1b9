"""Tests of reference.ehrenfest and the laser field: invariants, energy bookkeeping, force split."""

from __future__ import annotations

import math

import attrs
import numpy as np
import pytest
import scipy.integrate

from reference import ed
from reference.ehrenfest import (
    EhrenfestState,
    adiabatic_densities,
    adiabatic_force,
    band_populations,
    density_deviation,
    density_matrix_rhs,
    ehrenfest_energy,
    ehrenfest_force,
    ehrenfest_step,
    electronic_energy,
    equilibrium_density_matrix,
    initial_state,
    lattice_current,
    nonadiabatic_densities,
    propagator,
    simulate_ehrenfest,
)
from reference.lattice import SquareLattice
from reference.model import (
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
    band_energies,
    electric_field,
    hamiltonian,
    hopping_matrix,
    peierls_hamiltonian,
    peierls_hopping_matrix,
    vector_potential,
)

# Paper 000: t_nn = -1, g = sqrt(3), m Omega^2 = 1, kappa = 0, "n" coupling; Omega = 0.2.
PARAMS = HolsteinParams(hopping=-1.0, g=math.sqrt(3), k=1.0, kappa=0.0, mass=25.0, coupling="n")
LAT = SquareLattice(4, 4)
MODEL = HolsteinModel(LAT, PARAMS, ElectronEnsemble(0.0, filling=0.5))
PULSE = LaserPulse(amplitude=0.6, frequency=1.5, width=0.5, centre=2.0, polarisation=(1.0, 1.0))


@pytest.fixture(scope="module")
def start() -> EhrenfestState:
    return initial_state(MODEL, noise_temperature=1e-3, rng=3)


# --------------------------------------------------------------------------- field


def test_vector_potential_integrates_the_pulse() -> None:
    t = np.linspace(-3.0, 10.0, 26001)
    e = electric_field(t, PULSE)
    a = vector_potential(t, PULSE)
    numeric = -scipy.integrate.cumulative_trapezoid(e, t, axis=0, initial=0)
    np.testing.assert_allclose(a, numeric, atol=1e-7)
    np.testing.assert_allclose(np.gradient(a[:, 0], t), -e[:, 0], atol=1e-6)
    assert np.abs(vector_potential(-30.0, PULSE)).max() < 1e-30
    # the polarisation is normalised; the envelope bounds the field
    np.testing.assert_allclose(np.linalg.norm(PULSE.polarisation), 1.0)
    envelope = 0.6 * np.exp(-((t - 2.0) ** 2) / (2 * 0.5**2))
    assert np.all(np.linalg.norm(e, axis=-1) <= envelope + 1e-15)


@pytest.mark.parametrize("width", [0.2, 3.0, 40.0])
def test_vector_potential_stays_finite_for_long_and_short_pulses(width: float) -> None:
    pulse = LaserPulse(amplitude=1.0, frequency=2.0, width=width, centre=8 * width)
    t = np.linspace(0.0, 16 * width, 40001)
    numeric = -scipy.integrate.cumulative_trapezoid(electric_field(t, pulse), t, axis=0, initial=0)
    a = vector_potential(t, pulse)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a, numeric + vector_potential(0.0, pulse), atol=1e-4)


def test_a_potential_pulse_is_eq_10_as_a_with_field_minus_its_derivative() -> None:
    pulse = LaserPulse(0.6, 1.5, 0.5, 3.0, (1.0, 1.0), "potential")
    t = np.linspace(-3.0, 10.0, 26001)
    a, e = vector_potential(t, pulse), electric_field(t, pulse)
    envelope = 0.6 * np.exp(-((t - 3.0) ** 2) / (2 * 0.5**2))
    np.testing.assert_allclose(a, (envelope * np.sin(1.5 * t))[:, None] * PULSE.polarisation)
    np.testing.assert_allclose(np.gradient(a[:, 0], t), -e[:, 0], atol=2e-6)
    # A returns to zero after the pulse (no net area), and -int E dt gives A back
    assert np.abs(a[-1]).max() < 1e-30 and np.abs(a[0]).max() < 1e-15
    numeric = -scipy.integrate.cumulative_trapezoid(e, t, axis=0, initial=0)
    np.testing.assert_allclose(numeric, a, atol=1e-7)
    # the field reading of the same numbers has a net area
    assert np.abs(vector_potential(10.0, attrs.evolve(pulse, quantity="field"))).max() > 0.1
    with pytest.raises(ValueError, match="quantity"):
        LaserPulse(quantity="intensity")


def test_peierls_phases_are_hermitian_and_a_gauge_on_open_lattices() -> None:
    a = np.array([0.37, -1.1])
    open_lat = SquareLattice(4, 3, periodic_x=False, periodic_y=False)
    model = HolsteinModel(open_lat, PARAMS, MODEL.electrons)
    q = np.random.default_rng(0).normal(size=open_lat.shape)
    h_a = peierls_hamiltonian(q, model, a)
    np.testing.assert_allclose(h_a, h_a.conj().T)
    # on an open lattice a uniform A is the gauge transformation U = diag(exp(i A . r))
    u = np.exp(1j * open_lat.coordinates @ a)
    np.testing.assert_allclose(
        h_a, u[:, None] * hamiltonian(q, model) * u.conj()[None, :], atol=1e-14
    )
    np.testing.assert_allclose(
        peierls_hopping_matrix(LAT, -1.0, np.zeros(2)), hopping_matrix(LAT, -1.0)
    )


def test_uniform_vector_potential_shifts_the_band_on_a_periodic_lattice() -> None:
    a = np.array([0.3, 0.1])
    eps = np.linalg.eigvalsh(peierls_hopping_matrix(LAT, 1.0, a))
    k = 2 * np.pi * np.arange(4) / 4
    kx, ky = np.meshgrid(k, k, indexing="ij")
    shifted = -2 * (np.cos(kx - a[0]) + np.cos(ky - a[1]))
    np.testing.assert_allclose(eps, np.sort(shifted.ravel()), atol=1e-12)
    np.testing.assert_allclose(
        np.linalg.eigvalsh(peierls_hopping_matrix(LAT, 1.0, np.zeros(2))),
        band_energies(LAT, 1.0),
        atol=1e-12,
    )


def test_constant_vector_potential_leaves_the_fermi_sea_stationary() -> None:
    """Bloch states of the uniform lattice are eigenstates for any uniform A."""
    q = np.full(LAT.shape, 0.4)
    model = HolsteinModel(LAT, PARAMS, ElectronEnsemble(0.3, filling=0.5))
    rho = equilibrium_density_matrix(q, model)
    a = np.array([0.8, -0.3])
    h = peierls_hamiltonian(q, model, a)
    assert np.abs(density_matrix_rhs(rho, h)).max() < 1e-12
    u = propagator(h, 0.7)
    np.testing.assert_allclose(u @ rho @ u.conj().T, rho, atol=1e-12)
    # whereas a CDW eigenstate of h(Q, 0) is not an eigenstate of h(Q, A): the field acts
    q_cdw = 0.5 + 0.4 * np.indices(LAT.shape).sum(axis=0) % 2
    rho_cdw = equilibrium_density_matrix(q_cdw, model)
    assert np.abs(density_matrix_rhs(rho_cdw, peierls_hamiltonian(q_cdw, model, a))).max() > 1e-3


# --------------------------------------------------------------------------- dynamics


def test_density_matrix_stays_a_hermitian_projector_over_ten_thousand_steps(
    start: EhrenfestState,
) -> None:
    state = start
    n_e = MODEL.n_electrons
    for _ in range(10_000):
        state = ehrenfest_step(state, MODEL, 0.05, PULSE)
    rho = state.rho
    assert np.abs(rho - rho.conj().T).max() < 1e-12
    assert abs(np.trace(rho).real - n_e) < 1e-10
    assert np.abs(rho @ rho - rho).max() < 1e-10


def test_total_energy_is_conserved_without_a_field_to_second_order(start: EhrenfestState) -> None:
    def drift(dt: float) -> float:
        traj = simulate_ehrenfest(start, MODEL, dt, round(40 / dt))
        return float(np.abs(traj.energy - traj.energy[0]).max())

    coarse, fine = drift(0.1), drift(0.05)
    assert fine < 1e-5
    assert coarse / fine == pytest.approx(4.0, rel=0.3)


def test_energy_change_equals_the_work_done_by_the_field(start: EhrenfestState) -> None:
    traj = simulate_ehrenfest(start, MODEL, 0.02, 500, pulse=PULSE)
    gained = traj.energy - traj.energy[0]
    assert gained[-1] > 1e-2  # the pulse heats the electrons
    np.testing.assert_allclose(gained, traj.work, atol=1e-5 * abs(traj.energy[0]))
    # the booked work is the integral of J . E
    state, power, times = start, [], []
    for _ in range(500):
        times.append(state.t)
        power.append(
            lattice_current(state.rho, MODEL, vector_potential(state.t, PULSE))
            @ electric_field(state.t, PULSE)
        )
        state = ehrenfest_step(state, MODEL, 0.02, PULSE)
    times.append(state.t)
    power.append(
        lattice_current(state.rho, MODEL, vector_potential(state.t, PULSE))
        @ electric_field(state.t, PULSE)
    )
    assert scipy.integrate.trapezoid(power, times) == pytest.approx(state.work, rel=1e-3)


def test_noiseless_ground_state_is_stationary() -> None:
    model = HolsteinModel(LAT, PARAMS, ElectronEnsemble(0.05, filling=0.5))
    state = initial_state(model)
    assert np.abs(ehrenfest_force(state.rho, state.Q, model)).max() < 1e-6
    end = simulate_ehrenfest(state, model, 0.1, 200).final
    assert np.abs(end.Q - state.Q).max() < 1e-6
    assert np.abs(end.rho - state.rho).max() < 1e-6


def test_energy_bookkeeping_adds_up(start: EhrenfestState) -> None:
    e = ehrenfest_energy(start, MODEL, PULSE)
    assert e["total"] == pytest.approx(e["electronic"] + e["elastic"] + e["kinetic"])
    assert e["electronic"] == pytest.approx(electronic_energy(start.rho, start.Q, MODEL))
    assert e["total_minus_work"] == e["total"]
    with pytest.raises(ValueError, match="dt"):
        ehrenfest_step(start, MODEL, 0.0)


# --------------------------------------------------------------------------- force decomposition


def test_deviation_vanishes_for_an_eigenstate_and_populations_sum_to_the_electron_number() -> None:
    q = np.random.default_rng(1).normal(size=LAT.shape)
    model = HolsteinModel(LAT, PARAMS, ElectronEnsemble(0.2, filling=0.5))
    rho = equilibrium_density_matrix(q, model)
    assert np.abs(density_deviation(rho, q, model)).max() < 1e-12
    eps, f = band_populations(rho, q, model)
    np.testing.assert_allclose(f, ed.occupations(q, model)[1], atol=1e-12)
    # the adiabatic force of a thermal state is the exact force
    np.testing.assert_allclose(adiabatic_force(rho, q, model), ed.total_force(q, model), atol=1e-12)
    np.testing.assert_allclose(eps, np.linalg.eigvalsh(hamiltonian(q, model)), atol=1e-12)


def test_populations_after_the_pulse(start: EhrenfestState) -> None:
    state = simulate_ehrenfest(start, MODEL, 0.05, 100, pulse=PULSE).final
    a = vector_potential(state.t, PULSE)
    _, f = band_populations(state.rho, state.Q, MODEL, a)
    n_ad = adiabatic_densities(state.rho, state.Q, MODEL, a)
    n_nad = nonadiabatic_densities(state.rho, MODEL)
    assert f.sum() == pytest.approx(MODEL.n_electrons, abs=1e-10)
    assert n_ad.sum() == pytest.approx(MODEL.n_electrons, abs=1e-10)
    assert np.all((f > -1e-12) & (f < 1 + 1e-12))
    chi = density_deviation(state.rho, state.Q, MODEL, a)
    np.testing.assert_allclose(chi, n_nad - n_ad)
    assert np.abs(chi).max() > 1e-4  # the pulse leaves interband coherence behind
    # band populations are no longer a step: carriers were excited across the gap
    assert f[len(f) // 2 :].sum() > 1e-3


def test_adiabatic_density_is_basis_independent_in_degenerate_levels() -> None:
    """Uniform Q on a periodic lattice is degenerate: n_ad must not depend on the eigenbasis."""
    q = np.full(LAT.shape, 0.2)
    rng = np.random.default_rng(2)
    psi = np.linalg.qr(rng.normal(size=(16, 8)) + 1j * rng.normal(size=(16, 8)))[0]
    rho = psi @ psi.conj().T  # a random 8-electron Slater determinant
    h = peierls_hamiltonian(q, MODEL, np.zeros(2))
    eps, v = np.linalg.eigh(h)
    expected = np.zeros(16)
    for level in np.unique(eps.round(9)):
        block = v[:, np.isclose(eps, level, atol=1e-9)]
        proj = block @ block.conj().T
        expected += np.real(np.diagonal(proj @ rho @ proj))
    np.testing.assert_allclose(adiabatic_densities(rho, q, MODEL).ravel(), expected, atol=1e-12)


def test_yoshida_composition_is_fourth_order(start: EhrenfestState) -> None:
    """order=4 composes the symmetric step: the error drops ~16x per halving of dt."""

    def run(dt: float, order: int) -> np.ndarray:
        state = start
        for _ in range(round(4.0 / dt)):
            state = ehrenfest_step(state, MODEL, dt, PULSE, order)
        return state.rho

    exact = run(0.01, 4)
    errors = [np.abs(run(dt, 4) - exact).max() for dt in (0.2, 0.1)]
    assert errors[0] / errors[1] == pytest.approx(16.0, rel=0.35)
    second = np.abs(run(0.1, 2) - exact).max()
    assert errors[1] < second / 10
    rho = run(0.2, 4)
    assert np.abs(rho @ rho - rho).max() < 1e-12
    with pytest.raises(ValueError, match="order"):
        ehrenfest_step(start, MODEL, 0.1, PULSE, order=3)
