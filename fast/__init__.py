"""Batched, GPU-ready torch twin of :mod:`reference` (same module and function names).

Every public function of ``reference.<topic>`` exists in ``fast.<topic>`` with the
same name and parameter names; it accepts NumPy arrays or tensors and returns
tensors on the input's device. Hot paths (exact diagonalisation, integrators,
descriptors, networks, structure factors, NEGF densities) run as batched tensor
operations; one-off analysis delegates to the reference (each such function says
so). ``python -m fast check`` compares the two packages on your device.

Importing :mod:`fast` before torch sets ``OMP_WAIT_POLICY=PASSIVE`` (unless it is set):
idle OpenMP threads then sleep instead of spinning, so that on a machine shared with other
work the ML steps lose no more than their share of the cores (:mod:`fast.threads`).
"""

import os
import sys

from fast.threads import WAIT_POLICY  # imports no torch

if "torch" not in sys.modules:  # libgomp reads the policy once, when torch loads it
    os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)

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
    threads,
)
from reference import __version__ as __version__  # one version source, read by pyproject

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
    "threads",
]
