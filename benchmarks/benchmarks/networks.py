"""Descriptors and the papers' network forward passes, by lattice size.

Paper-size architectures with random weights. The ``backend`` parameter will gain
``fast:cpu`` and ``fast:cuda`` with the torch twin; for now it times the NumPy reference.
"""

from __future__ import annotations

import numpy as np

from reference import descriptors, nn
from reference.lattice import SquareLattice


class Descriptor:
    """The 45-feature D4 descriptor (paper 003) and the 113-feature Cs descriptor (paper 001)."""

    params = (["reference"], [10, 20])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        self.lattice = SquareLattice(size, size)
        self.Q = np.random.default_rng(0).normal(size=(size, size))
        descriptors.decompose_neighbourhood.cache_clear()
        descriptors.d4_descriptor(self.Q, self.lattice)  # warm the decomposition cache
        descriptors.cs_descriptor(self.Q, self.lattice)

    def time_d4_descriptor(self, backend: str, size: int) -> None:
        descriptors.d4_descriptor(self.Q, self.lattice)

    def time_cs_descriptor(self, backend: str, size: int) -> None:
        descriptors.cs_descriptor(self.Q, self.lattice)


class NetworkForces:
    """Forces of each paper architecture on one configuration."""

    params = (
        ["reference"],
        ["paper003_mlp", "paper002_gnn", "paper002_mpnn", "paper004_enn"],
        [10],
    )
    param_names = ("backend", "network", "size")
    timeout = 300

    def setup(self, backend: str, network: str, size: int) -> None:
        lattice = SquareLattice(size, size)
        weights = nn.init_weights(nn.PAPER_ARCHITECTURES[network], np.random.default_rng(1))
        self.field = nn.NetworkForceField(weights, lattice)
        self.Q = np.random.default_rng(2).normal(size=(size, size))
        self.field.forces(self.Q)  # warm caches

    def time_forces(self, backend: str, network: str, size: int) -> None:
        self.field.forces(self.Q)
