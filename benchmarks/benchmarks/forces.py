"""Exact-diagonalisation forces and one Langevin step, by lattice size.

The ``backend`` parameter will gain ``fast:cpu`` and ``fast:cuda`` when the torch
twin lands; for now it times the NumPy reference.
"""

from __future__ import annotations

import numpy as np

from reference import dynamics, ed
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams


def _model(size: int) -> HolsteinModel:
    return HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1, 0.5))


class ExactForce:
    """ED total force of one configuration at half filling, T = 0.1 (paper 003)."""

    params = (["reference"], [8, 16, 24])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        self.model = _model(size)
        self.Q = np.random.default_rng(0).normal(scale=3.0, size=(size, size))

    def time_total_force(self, backend: str, size: int) -> None:
        ed.total_force(self.Q, self.model)


class LangevinStep:
    """One BAOAB step with exact forces (paper 003 time step and damping)."""

    params = (["reference"], [8, 16])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        model = _model(size)
        omega = model.params.omega
        integ = dynamics.langevin_baoab(
            ed.ExactForceField(model),
            mass=5.0,
            gamma=0.09 / omega,
            temperature=0.1,
            dt=0.022 / omega,
        )
        self.step = integ.step
        self.state = integ.init(
            np.random.default_rng(1).normal(scale=3.0, size=(size, size)), rng=2
        )

    def time_step(self, backend: str, size: int) -> None:
        self.step(self.state)
