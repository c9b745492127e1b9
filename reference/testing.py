r"""Assertions that check a force field's symmetry, locality and conservativeness.

Use them on your own models as the test suite uses them on the papers' networks:

>>> from reference.testing import assert_d4_equivariant
>>> assert_d4_equivariant(my_force_field, Q, lattice)  # doctest: +SKIP

Each helper accepts either a :class:`reference.forcefield.ForceField` (anything
with ``forces(Q)``) or a plain callable ``Q -> F`` on fields of shape
``(..., Lx, Ly)``, and raises :class:`AssertionError` with the largest deviation
and where it occurred.

* :func:`assert_d4_equivariant`: :math:`F(gQ) = g F(Q)` for the whole-lattice
  rotations and reflections (paper 003 App. A, paper 004 sec. II B).
* :func:`assert_translation_equivariant`: :math:`F(T_a Q) = T_a F(Q)`.
* :func:`assert_local`: changing :math:`Q_j` outside the cutoff or receptive field of
  site ``i`` leaves :math:`F_i` unchanged (nearsightedness, paper 004 eqs 3-6).
* :func:`assert_conservative`: :math:`F = -\nabla E` (paper 002 sec. V).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from reference.forcefield import ForceField, numerical_forces
from reference.lattice import (
    D4_OPERATIONS,
    PointOperation,
    SquareLattice,
    apply_point_operation,
    translate,
)
from reference.validation import check_non_negative, check_positive

__all__ = [
    "assert_conservative",
    "assert_d4_equivariant",
    "assert_local",
    "assert_translation_equivariant",
]

FieldMap = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _as_map(forces: ForceField | FieldMap) -> FieldMap:
    if isinstance(forces, ForceField):
        return forces.forces
    if callable(forces):
        return forces
    raise ValueError(f"forces must be a ForceField or a callable, got {forces!r}")


def _compare(
    actual: NDArray[np.float64],
    expected: NDArray[np.float64],
    atol: float,
    rtol: float,
    what: str,
) -> None:
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        raise AssertionError(f"{what}: shapes differ, {a.shape} vs {e.shape}")
    err = np.abs(a - e)
    bound = atol + rtol * np.abs(e)
    if not np.all(err <= bound):
        worst = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        raise AssertionError(
            f"{what}: max deviation {float(err.max()):.3e} (tolerance {atol:.1e} + {rtol:.1e}|F|) "
            f"at index {tuple(int(i) for i in worst)}"
        )


def assert_d4_equivariant(
    forces: ForceField | FieldMap,
    Q: NDArray[np.float64],
    lattice: SquareLattice,
    operations: Iterable[PointOperation] = D4_OPERATIONS,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> None:
    r"""Assert :math:`F(gQ) = g F(Q)` for whole-lattice point operations.

    Operations act about site 0 on periodic axes
    (:func:`reference.lattice.apply_point_operation`). Those that exchange x and y
    need a square lattice and are skipped otherwise, so the check also runs on
    rectangular lattices (with C2 and the axis mirrors).

    Parameters
    ----------
    forces : ForceField or callable
        The force field, or a map from ``Q`` to forces of the same shape.
    Q : (..., Lx, Ly) float64
        Configuration(s) at which to test (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``.
    operations : iterable of PointOperation
        Defaults to all eight elements of D4.
    atol, rtol : float
        Absolute and relative tolerance (each >= 0).

    Raises
    ------
    AssertionError
        If :math:`F(gQ)` and :math:`g F(Q)` differ by more than ``atol + rtol |g F(Q)|``.
    """
    f = _as_map(forces)
    q = lattice.check_field("Q", Q)
    atol, rtol = check_non_negative("atol", atol), check_non_negative("rtol", rtol)
    square = lattice.Lx == lattice.Ly and lattice.periodic_x == lattice.periodic_y
    base = f(q)
    for op in operations:
        if op.swaps_axes and not square:
            continue
        _compare(
            f(apply_point_operation(q, op, lattice)),
            apply_point_operation(base, op, lattice),
            atol,
            rtol,
            f"F(gQ) != g F(Q) for g = {op.name}",
        )


def assert_translation_equivariant(
    forces: ForceField | FieldMap,
    Q: NDArray[np.float64],
    lattice: SquareLattice,
    shifts: Iterable[tuple[int, int]] | None = None,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> None:
    r"""Assert :math:`F(T_{\mathbf{a}} Q) = T_{\mathbf{a}} F(Q)` for lattice translations.

    Parameters
    ----------
    forces : ForceField or callable
        The force field, or a map from ``Q`` to forces of the same shape.
    Q : (..., Lx, Ly) float64
        Configuration(s) at which to test (finite); leading axes are batch axes.
    lattice : SquareLattice
        The lattice of ``Q``.
        Translations along an open axis are not symmetries; pass shifts along periodic axes only.
    shifts : iterable of (int, int), optional
        Defaults to ``(1, 0)``, ``(0, 1)`` and ``(Lx // 2, Ly // 3)`` restricted to periodic axes.
    atol, rtol : float
        Absolute and relative tolerance (each >= 0).

    Raises
    ------
    AssertionError
        If :math:`F(T_{\mathbf{a}} Q)` and :math:`T_{\mathbf{a}} F(Q)` differ beyond the
        tolerance.
    """
    f = _as_map(forces)
    q = lattice.check_field("Q", Q)
    atol, rtol = check_non_negative("atol", atol), check_non_negative("rtol", rtol)
    if shifts is None:
        px, py = lattice.periodic
        candidates = [(1, 0), (0, 1), (lattice.Lx // 2, lattice.Ly // 3)]
        shifts = [(a if px else 0, b if py else 0) for a, b in candidates]
    base = f(q)
    for shift in shifts:
        _compare(
            f(translate(q, shift, lattice)),
            translate(base, shift, lattice),
            atol,
            rtol,
            f"F(T Q) != T F(Q) for shift {tuple(shift)}",
        )


def _distances(
    lattice: SquareLattice, site: tuple[int, int], metric: Literal["euclidean", "manhattan"]
) -> NDArray[np.float64]:
    d = lattice.coordinates - np.asarray(site)
    for axis, (n, periodic) in enumerate(zip(lattice.shape, lattice.periodic, strict=True)):
        if periodic:
            d[:, axis] = (d[:, axis] + n // 2) % n - n // 2
    d = np.abs(d)
    dist = np.hypot(d[:, 0], d[:, 1]) if metric == "euclidean" else d.sum(axis=1)
    return np.asarray(dist, dtype=np.float64).reshape(lattice.shape)


def assert_local(
    forces: ForceField | FieldMap,
    Q: NDArray[np.float64],
    lattice: SquareLattice,
    site: tuple[int, int],
    radius: float,
    metric: Literal["euclidean", "manhattan"] = "euclidean",
    rng: np.random.Generator | None = None,
    atol: float = 1e-12,
) -> None:
    r"""Assert that :math:`F_i` ignores every :math:`Q_j` farther than ``radius`` from site ``i``.

    All sites beyond ``radius`` (minimum-image distance on periodic axes) get fresh
    random values; the force at ``site`` must not change. Use ``metric="euclidean"``
    with the descriptor cutoff :math:`r_c` and ``metric="manhattan"`` with the
    number of message-passing hops of a graph network.

    Parameters
    ----------
    forces : ForceField or callable
        The force field, or a map from ``Q`` to forces of the same shape.
    Q : (Lx, Ly) float64
        The configuration whose far sites are replaced (batch axes are accepted too).
    lattice : SquareLattice
        The lattice of ``Q``.
    site : (int, int)
        The site ``(x, y)`` whose force is checked.
    radius : float
        Cutoff or receptive field (>= 0).
    metric : {"euclidean", "manhattan"}
        How the distance from ``site`` is measured (minimum image on periodic axes).
    rng : numpy.random.Generator, optional
        Source of the replacement values (seeded 0 by default).
    atol : float
        Absolute tolerance on the change of the force at ``site`` (not validated).

    Raises
    ------
    AssertionError
        If the force at ``site`` changes by more than ``atol``.
    """
    f = _as_map(forces)
    q = lattice.check_field("Q", Q)
    radius = check_non_negative("radius", radius)
    if metric not in ("euclidean", "manhattan"):
        raise ValueError(f"metric must be 'euclidean' or 'manhattan', got {metric!r}")
    x, y = site
    if not (0 <= x < lattice.Lx and 0 <= y < lattice.Ly):
        raise ValueError(f"site must lie on the {lattice.Lx}x{lattice.Ly} lattice, got {site}")
    far = _distances(lattice, (x, y), metric) > radius + 1e-9
    if not far.any():
        raise ValueError(
            f"no site lies beyond radius {radius} on lattice {lattice}; use a larger lattice"
        )
    gen = np.random.default_rng(0) if rng is None else rng
    scale = float(np.std(q)) or 1.0
    q2 = q.copy()
    q2[..., far] = gen.normal(0.0, scale, size=q2[..., far].shape)
    _compare(
        np.asarray(f(q2))[..., x, y],
        np.asarray(f(q))[..., x, y],
        atol,
        0.0,
        f"F at site {site} changed when sites beyond {metric} radius {radius} changed",
    )


def assert_conservative(
    force_field: ForceField,
    Q: NDArray[np.float64],
    step: float = 1e-5,
    atol: float = 1e-6,
    rtol: float = 1e-6,
) -> None:
    r"""Assert :math:`F_i = -\partial E/\partial Q_i` by fourth-order finite differences.

    The force field must have ``energy(Q)``. Differences are taken with steps ``h``
    and ``h/10``, and the closer of the two is used at each site, so that a
    piecewise-linear activation kink inside one stencil does not fail the check.

    Parameters
    ----------
    force_field : ForceField with an ``energy`` method
        The force field to check, e.g. a :class:`~reference.forcefield.ConservativeForceField`.
    Q : (Lx, Ly) float64
        One configuration on ``force_field.lattice`` (no batch axes).
    step : float
        Finite-difference step (> 0).
    atol, rtol : float
        Absolute and relative tolerance on the difference (not validated).

    Raises
    ------
    AssertionError
        If the forces differ from the finite-difference gradient beyond the tolerance.
    """
    energy = getattr(force_field, "energy", None)
    if not callable(energy):
        raise ValueError(f"force_field must have an energy(Q) method, got {force_field!r}")
    h = check_positive("step", step)
    q = force_field.lattice.check_field("Q", Q)
    analytic = force_field.forces(q)
    coarse = numerical_forces(energy, q, h)
    fine = numerical_forces(energy, q, h / 10)
    best = np.where(np.abs(coarse - analytic) <= np.abs(fine - analytic), coarse, fine)
    _compare(analytic, best, atol, rtol, "F != -dE/dQ")
