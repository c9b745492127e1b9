"""Hypothesis strategies for lattices, parameters and fields."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.lattice import SquareLattice
from reference.model import Coupling, ElectronEnsemble, HolsteinModel, HolsteinParams


@st.composite
def lattices(
    draw: st.DrawFn,
    min_size: int = 2,
    max_size: int = 6,
    square: bool = False,
    periodic: bool | None = None,
) -> SquareLattice:
    """Small lattices, periodic or open per axis."""
    lx = draw(st.integers(min_size, max_size))
    ly = lx if square else draw(st.integers(min_size, max_size))
    if periodic is None:
        px, py = draw(st.booleans()), draw(st.booleans())
        if square:
            py = px
    else:
        px = py = periodic
    return SquareLattice(lx, ly, px, py)


def fields(lattice: SquareLattice, scale: float = 3.0) -> st.SearchStrategy[np.ndarray]:
    """Finite fields of the lattice's shape with entries in [-scale, scale]."""
    return hnp.arrays(
        np.float64,
        lattice.shape,
        elements=st.floats(-scale, scale, allow_nan=False, allow_infinity=False, width=64),
    )


@st.composite
def params(draw: st.DrawFn) -> HolsteinParams:
    """Hamiltonian parameters spanning weak to strong coupling, both conventions."""
    k = draw(st.floats(0.5, 2.0))
    return HolsteinParams(
        hopping=draw(st.sampled_from([1.0, -1.0, 0.7])),
        g=draw(st.floats(0.0, 4.0)),
        k=k,
        kappa=draw(st.floats(-0.24, 0.24)) * k,
        mass=draw(st.floats(0.5, 5.0)),
        coupling=draw(st.sampled_from(list(Coupling))),
    )


@st.composite
def ensembles(draw: st.DrawFn, allow_zero_temperature: bool = False) -> ElectronEnsemble:
    """Electron ensembles at fixed filling or fixed mu."""
    lo = 0.0 if allow_zero_temperature else 0.05
    t = draw(st.floats(lo, 1.0))
    if draw(st.booleans()):
        return ElectronEnsemble(t, filling=draw(st.floats(0.1, 0.9)))
    return ElectronEnsemble(t, filling=None, mu=draw(st.floats(-3.0, 3.0)))


@st.composite
def models(draw: st.DrawFn, /, **lattice_kwargs: object) -> HolsteinModel:
    """Complete small models."""
    return HolsteinModel(draw(lattices(**lattice_kwargs)), draw(params()), draw(ensembles()))  # type: ignore[arg-type]
