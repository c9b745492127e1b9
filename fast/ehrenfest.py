"""Ehrenfest dynamics and the adiabatic/bath force split: tensor API over the reference.

Twin of :mod:`reference.ehrenfest`. Every function delegates to the NumPy reference
(tensors in, tensors on the input's device out). A batched, device-resident
propagator is future work; the reference integrator is already exactly unitary.
"""

from __future__ import annotations

from fast._tensor import delegate
from reference import ehrenfest as _ref
from reference.ehrenfest import EhrenfestState, EhrenfestTrajectory

__all__ = [
    "EhrenfestState",
    "EhrenfestTrajectory",
    "adiabatic_densities",
    "adiabatic_force",
    "band_populations",
    "density_deviation",
    "density_matrix_rhs",
    "ehrenfest_energy",
    "ehrenfest_force",
    "ehrenfest_step",
    "electronic_energy",
    "equilibrium_density_matrix",
    "initial_state",
    "lattice_current",
    "nonadiabatic_densities",
    "propagator",
    "simulate_ehrenfest",
]

adiabatic_densities = delegate(_ref.adiabatic_densities)
adiabatic_force = delegate(_ref.adiabatic_force)
band_populations = delegate(_ref.band_populations)
density_deviation = delegate(_ref.density_deviation)
density_matrix_rhs = delegate(_ref.density_matrix_rhs)
ehrenfest_energy = delegate(_ref.ehrenfest_energy)
ehrenfest_force = delegate(_ref.ehrenfest_force)
ehrenfest_step = delegate(_ref.ehrenfest_step)
electronic_energy = delegate(_ref.electronic_energy)
equilibrium_density_matrix = delegate(_ref.equilibrium_density_matrix)
initial_state = delegate(_ref.initial_state)
lattice_current = delegate(_ref.lattice_current)
nonadiabatic_densities = delegate(_ref.nonadiabatic_densities)
propagator = delegate(_ref.propagator)
simulate_ehrenfest = delegate(_ref.simulate_ehrenfest)
