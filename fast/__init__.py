"""Batched, GPU-ready torch twin of :mod:`reference` (same module and function names).

Every public function of ``reference.<topic>`` exists in ``fast.<topic>`` with the
same name and parameter names; it accepts NumPy arrays or tensors and returns
tensors on the input's device. Hot paths (exact diagonalisation, integrators,
descriptors, networks, structure factors, NEGF densities) run as batched tensor
operations; one-off analysis delegates to the reference (each such function says
so). ``python -m fast check`` compares the two packages on your device.
"""

from fast import (
    descriptors,
    dynamics,
    ed,
    ehrenfest,
    forcefield,
    lattice,
    model,
    negf,
    nn,
    observables,
    symmetry,
    testing,
)

__version__ = "0.1.0"

__all__ = [
    "descriptors",
    "dynamics",
    "ed",
    "ehrenfest",
    "forcefield",
    "lattice",
    "model",
    "negf",
    "nn",
    "observables",
    "symmetry",
    "testing",
]
