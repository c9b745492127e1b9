"""Point groups D4 and Cs: the reference's tables, shared.

Group theory is computed once by :mod:`reference.symmetry` (multiplication tables,
irreps, projectors, Clebsch-Gordan coefficients) and used as constants by
:mod:`fast.descriptors` and :mod:`fast.nn`; this module re-exports it so that the
two packages present the same names and never hold two copies of the tables.
"""

from __future__ import annotations

from reference.symmetry import (
    CS,
    D4,
    ClebschGordan,
    PointGroup,
    character_table,
    characters,
    clebsch_gordan,
    conjugacy_classes,
    group_orbits,
    inverses,
    irrep_multiplicities,
    multiplication_table,
    permutation_representation,
    product_decomposition,
    product_table,
    projector,
    symmetry_adapted_basis,
    transfer_operator,
)

__all__ = [
    "CS",
    "D4",
    "ClebschGordan",
    "PointGroup",
    "character_table",
    "characters",
    "clebsch_gordan",
    "conjugacy_classes",
    "group_orbits",
    "inverses",
    "irrep_multiplicities",
    "multiplication_table",
    "permutation_representation",
    "product_decomposition",
    "product_table",
    "projector",
    "symmetry_adapted_basis",
    "transfer_operator",
]
