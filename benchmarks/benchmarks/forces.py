"""Exact-diagonalisation forces and one Langevin step, by backend and lattice size."""

from __future__ import annotations

import numpy as np

from benchmarks._backend import BACKENDS, array, package, sync
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams


def _model(size: int) -> HolsteinModel:
    return HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1, 0.5))


class ExactForce:
    """ED total force of a batch of 4 configurations at half filling, T = 0.1 (paper 003)."""

    params = (BACKENDS, [8, 16, 24])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        self.pkg = package(backend)
        self.model = _model(size)
        self.Q = array(backend, np.random.default_rng(0).normal(scale=3.0, size=(4, size, size)))

    def time_total_force(self, backend: str, size: int) -> None:
        self.pkg.ed.total_force(self.Q, self.model)
        sync(backend)


class ClusterForce:
    """Local-cluster force (r_c = 3.61, 45-site clusters) of one configuration at mu = 0."""

    params = (BACKENDS, [16, 24, 40])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        self.pkg = package(backend)
        self.model = HolsteinModel(
            SquareLattice(size, size), HolsteinParams(g=3.5), ElectronEnsemble(0.1, None, mu=0.0)
        )
        self.Q = array(backend, np.random.default_rng(0).normal(scale=3.0, size=(size, size)))

    def time_cluster_force(self, backend: str, size: int) -> None:
        self.pkg.ed.cluster_force(self.Q, self.model, 3.61)
        sync(backend)


class LangevinStep:
    """One BAOAB step of a 4-member ensemble with exact forces (paper 003 time step and damping)."""

    params = (BACKENDS, [8, 16])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        pkg = package(backend)
        model = _model(size)
        omega = model.params.omega
        integ = pkg.dynamics.langevin_baoab(
            pkg.ed.ExactForceField(model),
            mass=5.0,
            gamma=0.09 / omega,
            temperature=0.1,
            dt=0.022 / omega,
        )
        self.step = integ.step
        q0 = array(backend, np.random.default_rng(1).normal(scale=3.0, size=(4, size, size)))
        self.state = integ.init(q0, rng=2)
        self.backend = backend

    def time_step(self, backend: str, size: int) -> None:
        self.step(self.state)
        sync(backend)
