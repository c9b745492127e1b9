"""Reference implementation of the semiclassical Holstein toolkit: plain NumPy/SciPy.

Each module holds one physics topic and writes its equations out as the papers
do, citing paper file and equation number. It is slow on purpose and serves as
the oracle for :mod:`fast` and for users' own models.

Modules: :mod:`~reference.lattice`, :mod:`~reference.model`,
:mod:`~reference.forcefield`, :mod:`~reference.ed`, :mod:`~reference.dynamics`,
:mod:`~reference.observables`, :mod:`~reference.symmetry`, :mod:`~reference.descriptors`,
:mod:`~reference.nn`, :mod:`~reference.testing`.
"""

__version__ = "0.1.0"
