"""Reference implementation of the semiclassical Holstein toolkit: plain NumPy/SciPy.

Each module holds one physics topic and writes its equations out as the papers
do, citing paper file and equation number. It is slow on purpose and serves as
the oracle for :mod:`fast` and for users' own models.

Physics topics (each mirrored by the torch twin of the same name in :mod:`fast`):
:mod:`~reference.lattice`, :mod:`~reference.model`, :mod:`~reference.forcefield`,
:mod:`~reference.ed`, :mod:`~reference.negf`, :mod:`~reference.ehrenfest`,
:mod:`~reference.dynamics`, :mod:`~reference.observables`, :mod:`~reference.symmetry`,
:mod:`~reference.descriptors`, :mod:`~reference.nn`, :mod:`~reference.testing`.

Plumbing shared with :mod:`fast` (not physics, no twin): :mod:`~reference.validation`
(argument checks) and :mod:`~reference.runio` (strict TOML-to-attrs settings, run folders,
atomic writes, one-line errors) and :mod:`~reference.sections` (the settings sections that
experiment files share). Programs: :mod:`reference.programs` (exact-only runs).
"""

__version__ = "0.1.0"
"""The version of the toolkit (both packages); ``pyproject.toml`` reads it from here."""

TOPICS = (
    "lattice", "model", "forcefield", "ed", "negf", "ehrenfest", "dynamics", "observables",
    "symmetry", "descriptors", "nn", "testing",
)  # fmt: skip
"""The physics topic modules; :mod:`fast` has a twin of each with the same public names."""

PLUMBING = ("validation", "runio", "sections")
"""Modules of shared plumbing (public, used by :mod:`fast` too, no twin)."""
