"""Tests of reference.dynamics: thermostats reach equipartition, NVE conserves energy, TDGL."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
from hypothesis import given
from hypothesis import strategies as st

from reference import dynamics, ed
from reference.forcefield import numerical_forces
from reference.lattice import SquareLattice
from reference.model import (
    ElasticForceField,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    kinetic_energy,
)
from tests.strategies import fields, lattices


def _harmonic(
    kappa: float = 0.0, mass: float = 1.0, k: float = 1.0, L: int = 4
) -> ElasticForceField:
    return ElasticForceField(
        HolsteinModel(SquareLattice(L, L), HolsteinParams(k=k, kappa=kappa, mass=mass))
    )


def _sample(
    integrator: dynamics.Integrator, state: dynamics.DynamicsState, burn: int, n: int, every: int
):  # type: ignore[no-untyped-def]
    for _ in range(burn):
        state = integrator.step(state)
    qs, ps, fs = [], [], []
    for i in range(n):
        state = integrator.step(state)
        if i % every == 0:
            qs.append(state.Q)
            ps.append(state.P)
            fs.append(state.forces)
    return np.array(qs), np.array(ps), np.array(fs)


@pytest.mark.parametrize("scheme", [dynamics.langevin_baoab, dynamics.langevin_vv_ou])
def test_langevin_gives_equipartition_for_independent_oscillators(scheme) -> None:  # type: ignore[no-untyped-def]
    """<P^2/m> = T and <k Q^2> = T for the harmonic lattice with kappa = 0."""
    T, m, k = 0.5, 2.0, 1.0
    ff = _harmonic(0.0, m, k)
    integ = scheme(ff, mass=m, gamma=2.0, temperature=T, dt=0.05)
    state = integ.init(np.zeros((256, 4, 4)), rng=np.random.default_rng(7))
    q, p, _ = _sample(integ, state, burn=300, n=1500, every=15)
    # 100 nearly independent frames x 4096 modes: 1 sigma ~ sqrt(2/4e5) ~ 0.2 %
    assert np.mean(p**2) / m == pytest.approx(T, rel=0.02)
    assert np.mean(k * q**2) == pytest.approx(T, rel=0.02)


def test_langevin_gives_generalised_equipartition_on_coupled_lattice() -> None:
    """<Q_i dV/dQ_i> = T per site for the coupled harmonic lattice (kappa != 0)."""
    T = 0.3
    ff = _harmonic(0.2, 1.0, 1.0)
    integ = dynamics.langevin_baoab(ff, mass=1.0, gamma=1.0, temperature=T, dt=0.05)
    state = integ.init(np.zeros((256, 4, 4)), rng=np.random.default_rng(8))
    q, p, f = _sample(integ, state, burn=400, n=2000, every=20)
    assert np.mean(-q * f) == pytest.approx(T, rel=0.02)
    assert np.mean(dynamics.kinetic_temperature(p, 1.0)) == pytest.approx(T, rel=0.02)


def test_langevin_with_exact_forces_thermalises_the_momenta() -> None:
    """Equipartition of kinetic energy holds for any force: here exact-diagonalisation forces."""
    T, m = 0.2, 1.0
    model = HolsteinModel(
        SquareLattice(4, 4),
        HolsteinParams(g=1.0, mass=m),
        ElectronEnsemble(0.2, filling=None, mu=0.0),
    )
    integ = dynamics.langevin_baoab(
        ed.ExactForceField(model), mass=m, gamma=1.0, temperature=T, dt=0.1
    )
    state = integ.init(np.zeros((48, 4, 4)), rng=np.random.default_rng(9))
    _, p, _ = _sample(integ, state, burn=100, n=600, every=10)
    assert np.mean(p**2) / m == pytest.approx(T, rel=0.05)


def test_brownian_stationary_variance_matches_the_exact_discrete_result() -> None:
    """Euler-Maruyama on F = -kQ: var = T / (k (1 - k dt / 2 gamma)), not T / k."""
    T, k, gamma, dt = 0.4, 1.0, 1.0, 0.2
    ff = _harmonic(0.0, 1.0, k)
    integ = dynamics.brownian(ff, gamma=gamma, temperature=T, dt=dt)
    state = integ.init(np.zeros((256, 4, 4)), rng=np.random.default_rng(10))
    q, p, _ = _sample(integ, state, burn=100, n=1000, every=10)
    exact = T / (k * (1 - k * dt / (2 * gamma)))
    assert np.var(q) == pytest.approx(exact, rel=0.02)
    assert abs(np.var(q) - T / k) > 0.05 * T / k  # the test resolves the discretisation
    assert np.all(p == 0.0)


def test_velocity_verlet_conserves_energy_with_exact_forces_at_paper_time_step() -> None:
    """Paper 003: dt = 0.022/omega with m = 5, k = 1 gives dt ~ 0.05; energy error stays bounded."""
    model = HolsteinModel(SquareLattice(6, 6), HolsteinParams(), ElectronEnsemble(0.1, 0.5))
    ff = ed.ExactForceField(model)
    dt = 0.022 / model.params.omega
    integ = dynamics.velocity_verlet(ff, mass=model.params.mass, dt=dt)
    rng = np.random.default_rng(11)
    q0 = ed.ground_state(model).Q + 0.5 * rng.normal(size=(6, 6))
    state = integ.init(q0, rng.normal(scale=math.sqrt(0.5 * 5.0), size=(6, 6)))
    energies = []
    for _ in range(600):
        state = integ.step(state)
        energies.append(float(kinetic_energy(state.P, model) + ff.energy(state.Q)))
    e = np.array(energies)
    scale = float(kinetic_energy(state.P, model))
    assert np.abs(e - e[0]).max() < 2e-3 * scale
    # no secular drift: the first and last fifths have the same mean within the oscillation
    assert abs(e[-120:].mean() - e[:120].mean()) < 1e-3 * scale


def test_velocity_verlet_energy_error_is_second_order_in_dt() -> None:
    ff = _harmonic(0.2, 1.0, 1.0)
    rng = np.random.default_rng(12)
    q0, p0 = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    model = ff.model
    errors = []
    for dt in (0.1, 0.05):
        integ = dynamics.velocity_verlet(ff, mass=1.0, dt=dt)
        state = integ.init(q0, p0)
        e0 = float(kinetic_energy(p0, model) + ff.energy(q0))
        worst = 0.0
        for _ in range(round(20 / dt)):
            state = integ.step(state)
            worst = max(worst, abs(float(kinetic_energy(state.P, model) + ff.energy(state.Q)) - e0))
        errors.append(worst)
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.15)


@pytest.mark.parametrize("scheme", [dynamics.langevin_baoab, dynamics.langevin_vv_ou])
def test_langevin_without_friction_is_velocity_verlet(scheme) -> None:  # type: ignore[no-untyped-def]
    ff = _harmonic(0.1, 1.5, 1.0)
    rng = np.random.default_rng(13)
    q0, p0 = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    lang = scheme(ff, mass=1.5, gamma=0.0, temperature=0.7, dt=0.05)
    vv = dynamics.velocity_verlet(ff, mass=1.5, dt=0.05)
    a, b = lang.init(q0, p0, rng=1), vv.init(q0, p0)
    for _ in range(50):
        a, b = lang.step(a), vv.step(b)
    np.testing.assert_allclose(a.Q, b.Q, atol=1e-12)
    np.testing.assert_allclose(a.P, b.P, atol=1e-12)


@given(lattices(max_size=4), st.data())
def test_baoab_step_with_explicit_noise_matches_the_written_out_splitting(
    lat: SquareLattice, data: st.DataObject
) -> None:
    ff = ElasticForceField(HolsteinModel(lat, HolsteinParams(kappa=0.1, mass=2.0)))
    m, gamma, T, dt = 2.0, 0.7, 0.3, 0.05
    q, p, xi = (data.draw(fields(lat)) for _ in range(3))
    integ = dynamics.langevin_baoab(ff, mass=m, gamma=gamma, temperature=T, dt=dt)
    new = integ.step(integ.init(q, p, rng=0), noise=xi)
    a = math.exp(-gamma * dt / m)
    p1 = p + dt / 2 * ff.forces(q)
    q1 = q + dt / 2 * p1 / m
    p2 = a * p1 + math.sqrt((1 - a * a) * m * T) * xi
    q2 = q1 + dt / 2 * p2 / m
    p3 = p2 + dt / 2 * ff.forces(q2)
    np.testing.assert_allclose(new.Q, q2, atol=1e-12)
    np.testing.assert_allclose(new.P, p3, atol=1e-12)
    assert new.t == pytest.approx(dt)


def test_same_seed_reproduces_the_trajectory_and_explicit_noise_overrides_rng() -> None:
    ff = _harmonic(0.1)
    integ = dynamics.langevin_baoab(ff, mass=1.0, gamma=1.0, temperature=0.5, dt=0.05)
    q0 = np.zeros((4, 4))
    run1 = dynamics.simulate(integ, integ.init(q0, rng=42), 30, record_every=10)
    run2 = dynamics.simulate(integ, integ.init(q0, rng=42), 30, record_every=10)
    np.testing.assert_array_equal(run1.Q, run2.Q)
    assert run1.Q.shape == (4, 4, 4)
    np.testing.assert_allclose(run1.t, [0.0, 0.5, 1.0, 1.5])
    xi = np.random.default_rng(0).standard_normal((4, 4))
    s1 = integ.step(integ.init(q0, rng=1), noise=xi)
    s2 = integ.step(integ.init(q0, rng=2), noise=xi)
    np.testing.assert_array_equal(s1.Q, s2.Q)


@given(lattices(max_size=5), st.data())
def test_ginzburg_landau_force_is_minus_gradient_of_free_energy(
    lat: SquareLattice, data: st.DataObject
) -> None:
    gl = dynamics.GinzburgLandauForceField(lat, K=0.7, A=0.4, phi0=1.2)
    phi = data.draw(fields(lat, scale=2.0))
    np.testing.assert_allclose(
        gl.forces(phi), numerical_forces(gl.energy, phi, step=1e-3), atol=1e-7
    )


def test_tdgl_samples_the_single_site_double_well() -> None:
    """With K = 0 each site is independent: <phi^2> = int phi^2 e^{-A(phi^2-phi0^2)^2/T} / Z."""
    A, phi0, T = 1.0, 1.0, 0.5
    lat = SquareLattice(8, 8)
    integ = dynamics.tdgl(lat, K=0.0, A=A, phi0=phi0, Gamma=1.0, temperature=T, dt=0.004)
    state = integ.init(np.ones((32, 8, 8)), rng=np.random.default_rng(14))
    q, _, _ = _sample(integ, state, burn=500, n=3000, every=60)

    def weight(x: float) -> float:
        return math.exp(-A * (x * x - phi0 * phi0) ** 2 / T)

    z = scipy.integrate.quad(weight, -5, 5)[0]
    second = scipy.integrate.quad(lambda x: x * x * weight(x), -5, 5)[0] / z
    assert np.mean(q**2) == pytest.approx(second, rel=0.03)


def test_tdgl_at_zero_temperature_orders_a_nearly_uniform_field() -> None:
    lat = SquareLattice(6, 6)
    integ = dynamics.tdgl(lat, K=1.0, A=1.0, phi0=0.8, Gamma=1.0, temperature=0.0, dt=0.02)
    start = 0.1 + 0.01 * np.random.default_rng(15).normal(size=(6, 6))
    run = dynamics.simulate(integ, integ.init(start), 2000, record_every=2000)
    np.testing.assert_allclose(run.final.Q, 0.8, atol=1e-6)


def test_dynamics_inputs_are_validated() -> None:
    ff = _harmonic()
    with pytest.raises(ValueError, match="mass must be > 0"):
        dynamics.langevin_baoab(ff, mass=0.0, gamma=1.0, temperature=1.0, dt=0.1)
    with pytest.raises(ValueError, match="dt must be > 0"):
        dynamics.velocity_verlet(ff, mass=1.0, dt=-0.1)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        dynamics.brownian(ff, gamma=1.0, temperature=-1.0, dt=0.1)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        dynamics.brownian(ff, gamma=0.0, temperature=1.0, dt=0.1)
    with pytest.raises(ValueError, match="gamma must be >= 0"):
        dynamics.langevin_vv_ou(ff, mass=1.0, gamma=-1.0, temperature=1.0, dt=0.1)
    integ = dynamics.langevin_baoab(ff, mass=1.0, gamma=1.0, temperature=1.0, dt=0.1)
    with pytest.raises(ValueError, match=r"Q must have shape \(\.\.\., 4, 4\)"):
        integ.init(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="P must have the shape of Q"):
        integ.init(np.zeros((2, 4, 4)), np.zeros((4, 4)))
    state = integ.init(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="noise must have the shape of Q"):
        integ.step(state, noise=np.zeros(3))
    with pytest.raises(ValueError, match="noise must contain only finite values"):
        integ.step(state, noise=np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="n_steps must be an integer >= 0"):
        dynamics.simulate(integ, state, -1)
    with pytest.raises(ValueError, match="record_every must be an integer >= 1"):
        dynamics.simulate(integ, state, 5, record_every=0)
    with pytest.raises(ValueError, match="A must be > 0"):
        dynamics.GinzburgLandauForceField(SquareLattice(2, 2), K=1.0, A=0.0, phi0=1.0)


@given(st.integers(1, 8), st.integers(0, 2**32 - 1), st.data())
def test_kinetic_temperature_since_is_the_mean_of_the_per_frame_temperatures(
    n_frames: int, seed: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    t = np.cumsum(np.full(n_frames, 0.1))  # accumulated like a run's clock: k * 0.1 +- ulps
    p = rng.normal(size=(n_frames, 3, 4, 5))
    mass = float(rng.uniform(0.5, 5.0))
    k = data.draw(st.integers(0, n_frames - 1))
    t_from = 0.1 * (k + 1)  # frame k's nominal time: the window includes frame k
    per_frame = [
        float(np.mean(dynamics.kinetic_temperature(p[j], mass))) for j in range(k, n_frames)
    ]
    assert dynamics.kinetic_temperature_since(t, p, mass, t_from) == pytest.approx(
        np.mean(per_frame), rel=1e-12
    )
    assert dynamics.kinetic_temperature_since(t, p, mass, -1.0) == pytest.approx(
        float(np.mean(p**2)) / mass, rel=1e-12
    )


def test_kinetic_temperature_since_refuses_an_empty_window_and_mismatched_frames() -> None:
    t = 0.5 * np.arange(4)
    p = np.ones((4, 2, 3, 3))
    assert dynamics.kinetic_temperature_since(t, p, 2.0, 1.5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"t_from = 1\.6 leaves no frame"):
        dynamics.kinetic_temperature_since(t, p, 2.0, 1.6)
    with pytest.raises(ValueError, match="t must have shape"):
        dynamics.kinetic_temperature_since(t[:3], p, 2.0, 0.0)
    with pytest.raises(ValueError, match="mass must be > 0"):
        dynamics.kinetic_temperature_since(t, p, 0.0, 0.0)
    with pytest.raises(ValueError, match="t_from must be finite"):
        dynamics.kinetic_temperature_since(t, p, 2.0, math.nan)


def test_brownian_keeps_frozen_sites_fixed_and_pin_sites_sets_them() -> None:
    ff = _harmonic(0.1, 1.0, 1.0, L=4)
    frozen = np.zeros((4, 4), dtype=bool)
    frozen[0] = True
    integ = dynamics.brownian(ff, gamma=1.0, temperature=0.5, dt=0.1, frozen=frozen)
    q0 = np.random.default_rng(11).normal(size=(4, 4))
    state = integ.init(q0, rng=12)
    for _ in range(20):
        state = integ.step(state)
    np.testing.assert_array_equal(state.Q[0], q0[0])
    assert np.all(state.Q[1:] != q0[1:])
    pinned = dynamics.pin_sites(state, frozen, np.full((4, 4), 7.0), ff)
    assert np.all(pinned.Q[0] == 7.0) and np.array_equal(pinned.Q[1:], state.Q[1:])
    np.testing.assert_allclose(pinned.forces, ff.forces(pinned.Q))
    with pytest.raises(ValueError, match="frozen"):
        dynamics.brownian(ff, gamma=1.0, temperature=0.5, dt=0.1, frozen=np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="mask"):
        dynamics.pin_sites(state, np.zeros((4, 4)), q0, ff)  # type: ignore[arg-type]


def test_brownian_frozen_sites_follow_the_prescribed_values_and_drive_the_free_ones() -> None:
    ff = _harmonic(0.2, 1.0, 1.0, L=4)  # kappa couples the columns
    frozen = np.zeros((4, 4), dtype=bool)
    frozen[0] = True

    def boundary(t: float) -> np.ndarray:
        return np.full((4, 4), np.sin(t))

    q0 = np.random.default_rng(3).normal(size=(4, 4))
    driven = dynamics.brownian(
        ff, gamma=1.0, temperature=0.0, dt=0.1, frozen=frozen, prescribed=boundary
    )
    held = dynamics.brownian(ff, gamma=1.0, temperature=0.0, dt=0.1, frozen=frozen)
    a, b = driven.init(q0, rng=1), held.init(q0, rng=1)
    for _ in range(5):
        a, b = driven.step(a), held.step(b)
    np.testing.assert_allclose(a.Q[0], np.sin(a.t))
    np.testing.assert_allclose(a.forces, ff.forces(a.Q))  # forces see the prescribed values
    assert np.max(np.abs(a.Q[1] - b.Q[1])) > 1e-3  # the boundary drives its neighbours
    with pytest.raises(ValueError, match="prescribed needs frozen"):
        dynamics.brownian(ff, gamma=1.0, temperature=0.0, dt=0.1, prescribed=boundary)


def test_bath_schedule_decays_from_the_pumped_value() -> None:
    s = dynamics.BathSchedule(gamma0=0.003, delta_gamma=0.017, t1=80.0, tau=25.0)
    assert s(0.0) == pytest.approx(0.02) == dynamics.damping(80.0, s)
    assert s(105.0) == pytest.approx(0.003 + 0.017 / math.e)
    assert s(1e6) == pytest.approx(0.003)
    with pytest.raises(ValueError, match="tau"):
        dynamics.BathSchedule(gamma0=0.1, tau=0.0)
    with pytest.raises(ValueError, match="delta_gamma"):
        dynamics.BathSchedule(gamma0=0.1, delta_gamma=-1.0)


def test_time_dependent_bath_reaches_equipartition_once_gamma_settles() -> None:
    """Paper 000 eqs. 27-31: after the excess damping decays, <m Qdot^2> = T (eq. 30)."""
    T, m = 0.4, 2.0
    ff = _harmonic(0.1, m, 1.0)
    schedule = dynamics.BathSchedule(gamma0=1.0, delta_gamma=5.0, t1=0.0, tau=2.0)
    integ = dynamics.langevin_time_dependent_bath(
        ff, mass=m, schedule=schedule, temperature=T, dt=0.05
    )
    state = integ.init(np.zeros((256, 4, 4)), rng=np.random.default_rng(13))
    q, p, f = _sample(integ, state, burn=600, n=1500, every=15)
    assert np.mean(dynamics.kinetic_temperature(p, m)) == pytest.approx(T, rel=0.02)
    assert np.mean(-q * f) == pytest.approx(T, rel=0.03)


def test_time_dependent_bath_with_constant_gamma_is_baoab() -> None:
    ff = _harmonic(0.1, 1.0, 1.0)
    schedule = dynamics.BathSchedule(gamma0=0.7)
    a = dynamics.langevin_time_dependent_bath(
        ff, mass=1.0, schedule=schedule, temperature=0.3, dt=0.1
    )
    b = dynamics.langevin_baoab(ff, mass=1.0, gamma=0.7, temperature=0.3, dt=0.1)
    q0 = np.random.default_rng(14).normal(size=(4, 4))
    sa, sb = a.init(q0, rng=1), b.init(q0, rng=1)
    for _ in range(10):
        sa, sb = a.step(sa), b.step(sb)
    np.testing.assert_allclose(sa.Q, sb.Q, atol=1e-14)
    with pytest.raises(ValueError, match="schedule"):
        dynamics.langevin_time_dependent_bath(ff, mass=1.0, schedule=0.5, temperature=0.3, dt=0.1)  # type: ignore[arg-type]


def test_integrators_evaluate_a_time_conditioned_force_field_at_the_new_time() -> None:
    from reference.nn import GNNArchitecture, NetworkForceField, init_weights

    lattice = SquareLattice(4, 4)
    weights = init_weights(GNNArchitecture((2, 6, 1), time_channel=True), np.random.default_rng(0))
    ff = NetworkForceField(weights, lattice, time=2.0)
    schedule = dynamics.BathSchedule(gamma0=0.1, delta_gamma=0.2, t1=2.0, tau=1.0)
    integ = dynamics.langevin_time_dependent_bath(
        ff, mass=1.0, schedule=schedule, temperature=0.1, dt=0.5
    )
    q0 = np.random.default_rng(1).normal(size=(4, 4))
    state = integ.init(q0, rng=2, t0=2.0)
    np.testing.assert_allclose(state.forces, ff.forces(q0))
    state = integ.step(state)
    np.testing.assert_allclose(state.forces, ff.at_time(2.5).forces(state.Q))
    assert np.max(np.abs(state.forces - ff.forces(state.Q))) > 1e-6  # time matters
    np.testing.assert_allclose(dynamics.forces_at(ff, q0, 3.0), ff.at_time(3.0).forces(q0))
