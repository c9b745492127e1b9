"""Batched, GPU-ready torch twin of :mod:`reference` (same module and function names).

The mirror modules arrive with the `fast` issue; for now the package is
importable so that the project layout, packaging and type checks are in place.
"""

__version__ = "0.1.0"
