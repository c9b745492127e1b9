"""NEGF densities (paper 001) and an Ehrenfest step (paper 000), by backend."""

from __future__ import annotations

import math

import numpy as np

from benchmarks._backend import BACKENDS, array, package, sync
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import (
    Electrodes,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)


class NEGFDensities:
    """Steady-state densities at paper 001's parameters; reference = the paper's Riemann sum."""

    params = (BACKENDS, [8, 12])
    param_names = ("backend", "size")
    timeout = 600

    def setup(self, backend: str, size: int) -> None:
        self.pkg = package(backend)
        lat = SquareLattice(size, size, periodic_x=False)
        self.model = HolsteinModel(
            lat, HolsteinParams(g=math.sqrt(2.24), kappa=0.18), ElectronEnsemble(0.1, 0.5)
        )
        self.electrodes = Electrodes(gamma_lead=1.0, gamma_bath=0.001, voltage=1.0, temperature=0.1)
        q = 1.2 * sublattice_sign(lat) + 0.1 * np.random.default_rng(0).normal(size=lat.shape)
        self.Q = array(backend, q)
        self.kwargs = {"step": 0.003} if backend == "reference" else {}

    def time_densities(self, backend: str, size: int) -> None:
        self.pkg.negf.negf_densities(self.Q, self.model, self.electrodes, **self.kwargs)
        sync(backend)


class EhrenfestStep:
    """One coupled electron-lattice step with the laser on (paper 000 parameters)."""

    params = (BACKENDS, [8, 12])
    param_names = ("backend", "size")

    def setup(self, backend: str, size: int) -> None:
        import reference.ehrenfest

        self.pkg = package(backend)
        params = HolsteinParams(-1.0, math.sqrt(3), 1.0, 0.0, 25.0, "n")
        self.model = HolsteinModel(SquareLattice(size, size), params, ElectronEnsemble(0.0, 0.5))
        self.state = reference.ehrenfest.initial_state(self.model, noise_temperature=1e-5, rng=0)
        self.pulse = LaserPulse()

    def time_step(self, backend: str, size: int) -> None:
        self.pkg.ehrenfest.ehrenfest_step(self.state, self.model, 0.05, self.pulse)
        sync(backend)
