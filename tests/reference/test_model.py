"""Tests of reference.model: parameter validation, h(Q), the band, elastic energy and force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference.forcefield import ConservativeForceField, numerical_forces
from reference.lattice import SquareLattice
from reference.model import (
    Coupling,
    ElasticForceField,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    band_energies,
    coupling_constant_energy,
    elastic_energy,
    elastic_force,
    hamiltonian,
    hopping_matrix,
    kinetic_energy,
)
from tests.strategies import fields, lattices, models, params


@given(models(), st.data())
def test_hamiltonian_is_real_symmetric_with_minus_gq_on_diagonal(
    model: HolsteinModel, data: st.DataObject
) -> None:
    q = data.draw(fields(model.lattice))
    h = hamiltonian(q, model)
    np.testing.assert_array_equal(h, h.T)
    np.testing.assert_allclose(np.diag(h), -model.params.g * q.ravel(), atol=1e-14)


@given(lattices(max_size=8), st.sampled_from([1.0, -1.0, 0.6]))
def test_q_zero_spectrum_equals_the_analytic_band(lat: SquareLattice, t: float) -> None:
    eps = np.linalg.eigvalsh(hopping_matrix(lat, t))
    np.testing.assert_allclose(eps, band_energies(lat, t), atol=1e-12)


def test_band_of_periodic_lattice_spans_minus_four_to_four() -> None:
    eps = band_energies(SquareLattice(8, 8), 1.0)
    assert eps[0] == pytest.approx(-4.0) and eps[-1] == pytest.approx(4.0)
    assert np.sum(np.isclose(eps, 0.0)) == 14  # the nested Fermi surface at half filling


@given(models(), st.data())
def test_elastic_force_is_minus_gradient_of_elastic_energy(
    model: HolsteinModel, data: st.DataObject
) -> None:
    q = data.draw(fields(model.lattice))
    expected = numerical_forces(lambda x: elastic_energy(x, model), q, step=1e-3)
    np.testing.assert_allclose(elastic_force(q, model), expected, atol=1e-8)


@given(models(), st.data())
def test_batched_elastic_terms_equal_per_configuration(
    model: HolsteinModel, data: st.DataObject
) -> None:
    q = np.stack([data.draw(fields(model.lattice)) for _ in range(3)])
    np.testing.assert_allclose(elastic_energy(q, model), [elastic_energy(x, model) for x in q])
    np.testing.assert_allclose(elastic_force(q, model), [elastic_force(x, model) for x in q])


def test_elastic_energy_of_checkerboard() -> None:
    lat = SquareLattice(4, 4)
    model = HolsteinModel(lat, HolsteinParams(k=1.0, kappa=0.2))
    sign = np.where(np.indices((4, 4)).sum(0) % 2 == 0, 1.0, -1.0)
    # k/2 N A^2 + kappa * (2N bonds) * (-A^2) = N A^2 (k/2 - 2 kappa)
    assert elastic_energy(2.0 * sign, model) == pytest.approx(16 * 4 * (0.5 - 0.4))


@given(params())
def test_coupling_constant_is_g_offset_sum_q(p: HolsteinParams) -> None:
    model = HolsteinModel(SquareLattice(3, 3), p)
    q = np.arange(9.0).reshape(3, 3)
    expected = 0.5 * p.g * q.sum() if p.coupling is Coupling.DENSITY_MINUS_HALF else 0.0
    assert coupling_constant_energy(q, model) == pytest.approx(expected)


def test_kinetic_energy() -> None:
    model = HolsteinModel(SquareLattice(2, 2), HolsteinParams(mass=2.0))
    assert kinetic_energy(np.ones((2, 2)), model) == pytest.approx(1.0)


def test_elastic_force_field_is_conservative_force_field() -> None:
    ff = ElasticForceField(HolsteinModel(SquareLattice(3, 3)))
    assert isinstance(ff, ConservativeForceField)
    q = np.linspace(-1, 1, 9).reshape(3, 3)
    np.testing.assert_allclose(ff.forces(q), numerical_forces(ff.energy, q), atol=1e-8)


def test_coupling_parses_both_spellings() -> None:
    assert HolsteinParams(coupling="n").coupling is Coupling.DENSITY
    assert HolsteinParams(coupling="n - 1/2").coupling is Coupling.DENSITY_MINUS_HALF


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0.0}, "k must be > 0"),
        ({"k": -1.0}, "k must be > 0"),
        ({"mass": 0.0}, "mass must be > 0"),
        ({"kappa": 0.3}, r"kappa must satisfy \|kappa\| < k/4"),
        ({"g": float("nan")}, "g must be finite"),
        ({"hopping": 0.0}, "hopping must be nonzero"),
        ({"coupling": "n+1"}, "coupling must be 'n' or 'n-1/2'"),
    ],
)
def test_invalid_params_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HolsteinParams(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": -0.1}, "temperature must be >= 0"),
        ({"temperature": float("inf")}, "temperature must be finite"),
        ({"filling": 0.0}, r"filling must lie in \(0, 1\)"),
        ({"filling": 1.0}, r"filling must lie in \(0, 1\)"),
        ({"filling": 0.5, "mu": 0.0}, "exactly one of filling and mu"),
        ({"filling": None}, "exactly one of filling and mu"),
        ({"filling": None, "mu": float("nan")}, "mu must be finite"),
    ],
)
def test_invalid_ensembles_raise(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ElectronEnsemble(**kwargs)  # type: ignore[arg-type]


def test_fields_inconsistent_with_the_lattice_raise() -> None:
    model = HolsteinModel(SquareLattice(4, 4))
    with pytest.raises(ValueError, match=r"Q must have shape \(\.\.\., 4, 4\)"):
        hamiltonian(np.zeros((4, 3)), model)
    with pytest.raises(ValueError, match="Q must contain only finite values"):
        elastic_force(np.full((4, 4), np.inf), model)
    with pytest.raises(ValueError, match="Q must be real-valued"):
        elastic_energy(np.zeros((4, 4), complex), model)
    with pytest.raises(ValueError, match="n_electrons is defined only at fixed filling"):
        _ = HolsteinModel(
            SquareLattice(2, 2), electrons=ElectronEnsemble(filling=None, mu=0.0)
        ).n_electrons
