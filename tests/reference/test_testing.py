"""Tests of reference.testing: the helpers pass correct force fields and catch broken ones."""

from __future__ import annotations

import numpy as np
import pytest

from reference.ed import ExactForceField
from reference.lattice import SquareLattice, neighbour_sum
from reference.model import ElasticForceField, ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.testing import (
    assert_conservative,
    assert_d4_equivariant,
    assert_local,
    assert_translation_equivariant,
)

LAT = SquareLattice(6, 6)
Q = np.random.default_rng(0).normal(size=LAT.shape)


def test_exact_forces_pass_every_check() -> None:
    model = HolsteinModel(LAT, HolsteinParams(), ElectronEnsemble(0.1, filling=0.5))
    ff = ExactForceField(model)
    assert_d4_equivariant(ff, Q, LAT, atol=1e-9, rtol=1e-9)
    assert_translation_equivariant(ff, Q, LAT, atol=1e-9, rtol=1e-9)
    assert_conservative(ff, Q, step=1e-4, atol=1e-6, rtol=1e-6)
    elastic = ElasticForceField(model)
    assert_local(elastic, Q, LAT, (2, 3), 1.0, metric="manhattan")


def test_a_direction_dependent_map_fails_d4_but_passes_translations() -> None:
    def east_minus_west(q: np.ndarray) -> np.ndarray:
        return np.roll(q, -1, axis=-2) - np.roll(q, 1, axis=-2)

    assert_translation_equivariant(east_minus_west, Q, LAT)
    with pytest.raises(AssertionError, match="C4"):
        assert_d4_equivariant(east_minus_west, Q, LAT)


def test_a_position_dependent_map_fails_translations() -> None:
    weight = np.arange(36.0).reshape(6, 6)
    with pytest.raises(AssertionError, match="shift"):
        assert_translation_equivariant(lambda q: weight * q, Q, LAT)


def test_a_global_map_fails_locality_and_a_local_one_passes() -> None:
    with pytest.raises(AssertionError, match="beyond"):
        assert_local(lambda q: np.full_like(q, q.mean()), Q, LAT, (0, 0), 2.0)
    assert_local(lambda q: neighbour_sum(q, LAT), Q, LAT, (0, 0), 1.0)
    with pytest.raises(AssertionError):
        assert_local(lambda q: neighbour_sum(q, LAT), Q, LAT, (0, 0), 0.5)
    with pytest.raises(ValueError, match="no site lies beyond"):
        assert_local(lambda q: q, Q, LAT, (0, 0), 10.0)
    with pytest.raises(ValueError, match="site must lie"):
        assert_local(lambda q: q, Q, LAT, (6, 0), 1.0)


class _Curl:
    """A force with a curl: F_x = Q of the +x neighbour (not a gradient)."""

    lattice = LAT

    def forces(self, q: np.ndarray) -> np.ndarray:
        return np.roll(q, -1, axis=-2)

    def energy(self, q: np.ndarray) -> np.ndarray:
        return -0.5 * np.sum(q * np.roll(q, -1, axis=-2), axis=(-2, -1))


def test_a_non_conservative_force_fails_and_energy_is_required() -> None:
    with pytest.raises(AssertionError, match="dE/dQ"):
        assert_conservative(_Curl(), Q)
    model = HolsteinModel(LAT, HolsteinParams(), ElectronEnsemble(0.1, filling=0.5))

    class NoEnergy:
        lattice = LAT

        def forces(self, q: np.ndarray) -> np.ndarray:
            return q

    with pytest.raises(ValueError, match="energy"):
        assert_conservative(NoEnergy(), Q)  # type: ignore[arg-type]
    assert_conservative(ElasticForceField(model), Q)


def test_rectangular_lattices_check_the_operations_they_allow() -> None:
    lat = SquareLattice(6, 4)
    q = np.random.default_rng(1).normal(size=lat.shape)
    assert_d4_equivariant(lambda f: neighbour_sum(f, lat), q, lat)
    with pytest.raises(ValueError, match="forces must be"):
        assert_d4_equivariant(42, q, lat)  # type: ignore[arg-type]
