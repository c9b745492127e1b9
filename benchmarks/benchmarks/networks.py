"""Descriptors and the papers' network forward passes, by backend."""

from __future__ import annotations

import numpy as np

from benchmarks._backend import BACKENDS, array, package, sync
from reference import nn
from reference.lattice import SquareLattice


class Descriptor:
    """The 45-feature D4 descriptor (paper 003) and the 113-feature Cs descriptor (paper 001)."""

    params = (BACKENDS, [20, 40])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        self.pkg = package(backend)
        self.lattice = SquareLattice(size, size)
        self.Q = array(backend, np.random.default_rng(0).normal(size=(size, size)))
        self.pkg.descriptors.d4_descriptor(self.Q, self.lattice)  # warm the caches
        self.pkg.descriptors.cs_descriptor(self.Q, self.lattice)

    def time_d4_descriptor(self, backend: str, size: int) -> None:
        self.pkg.descriptors.d4_descriptor(self.Q, self.lattice)
        sync(backend)

    def time_cs_descriptor(self, backend: str, size: int) -> None:
        self.pkg.descriptors.cs_descriptor(self.Q, self.lattice)
        sync(backend)


class NetworkForces:
    """Forces of each paper architecture on one configuration (random weights)."""

    params = (
        BACKENDS,
        ["paper003_mlp", "paper002_gnn", "paper002_mpnn", "paper004_enn"],
        [20],
    )
    param_names = ("backend", "network", "size")
    timeout = 300

    def setup(self, backend: str, network: str, size: int) -> None:
        pkg = package(backend)
        lattice = SquareLattice(size, size)
        weights = nn.init_weights(nn.PAPER_ARCHITECTURES[network], np.random.default_rng(1))
        if backend != "reference":
            weights = pkg.nn.Network.from_weights(
                weights, device="cuda" if backend == "fast:cuda" else "cpu"
            )
        self.field = pkg.nn.NetworkForceField(weights, lattice)
        self.Q = array(backend, np.random.default_rng(2).normal(size=(size, size)))
        self.field.forces(self.Q)  # warm caches

    def time_forces(self, backend: str, network: str, size: int) -> None:
        self.field.forces(self.Q)
        sync(backend)


class MLLangevinStep:
    """One BAOAB step driven by the paper-003 descriptor MLP, ensemble of 4 (ML dynamics)."""

    params = (BACKENDS, [20, 40])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        pkg = package(backend)
        lattice = SquareLattice(size, size)
        weights = nn.init_weights(nn.PAPER_ARCHITECTURES["paper003_mlp"], np.random.default_rng(3))
        if backend != "reference":
            weights = pkg.nn.Network.from_weights(
                weights, device="cuda" if backend == "fast:cuda" else "cpu"
            )
        field = pkg.nn.NetworkForceField(weights, lattice)
        integ = pkg.dynamics.langevin_baoab(field, mass=5.0, gamma=0.2, temperature=0.1, dt=0.05)
        q0 = np.random.default_rng(4).normal(size=(4, size, size))
        if backend != "reference":
            q0 = array(backend, q0).float()
        self.state = integ.init(q0, rng=5)
        self.step = integ.step

    def time_step(self, backend: str, size: int) -> None:
        self.step(self.state)
        sync(backend)
