"""Symmetry, locality and conservativeness assertions for force fields that work on tensors.

Twin of :mod:`reference.testing`: the same checks and signatures. The force field is
called with tensors on the device of ``Q`` (CPU if ``Q`` is an array) and its output
is compared on the CPU in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import numpy as np
import torch

from fast._tensor import device_of, to_numpy
from fast.forcefield import ForceField, numerical_forces
from reference import testing as _ref
from reference.lattice import D4_OPERATIONS, PointOperation, SquareLattice

__all__ = [
    "assert_conservative",
    "assert_d4_equivariant",
    "assert_local",
    "assert_translation_equivariant",
]


def _numpy_map(forces: Any, device: torch.device, method: str = "forces") -> Callable[[Any], Any]:
    fn = getattr(forces, method) if hasattr(forces, method) else forces
    if not callable(fn):
        raise ValueError(f"forces must be a ForceField or a callable, got {forces!r}")

    def call(q: Any) -> Any:
        return np.asarray(to_numpy(fn(torch.as_tensor(np.asarray(q), device=device))))

    return call


def assert_d4_equivariant(
    forces: Any,
    Q: Any,
    lattice: SquareLattice,
    operations: Iterable[PointOperation] = D4_OPERATIONS,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> None:
    """Assert ``F(gQ) = g F(Q)`` (see :func:`reference.testing.assert_d4_equivariant`).

    Parameters
    ----------
    forces : ForceField or callable
        A force field (its ``forces`` method is used) or a function of ``Q``; called with
        tensors on ``Q``'s device (CPU when ``Q`` is an array).
    Q : Tensor or ndarray, shape (..., Lx, Ly)
        Distortions.
    lattice : SquareLattice
        Operations that exchange x and y are skipped on a rectangular lattice.
    operations : iterable of PointOperation
        Defaults to all eight elements of D4.
    atol : float
        Absolute tolerance.
    rtol : float
        Relative tolerance.

    Raises
    ------
    AssertionError
        If a transformed force differs from the force of the transformed field.
    """
    _ref.assert_d4_equivariant(
        _numpy_map(forces, device_of(Q)), to_numpy(Q), lattice, operations, atol, rtol
    )


def assert_translation_equivariant(
    forces: Any,
    Q: Any,
    lattice: SquareLattice,
    shifts: Iterable[tuple[int, int]] | None = None,
    atol: float = 1e-10,
    rtol: float = 1e-10,
) -> None:
    """Assert ``F(T Q) = T F(Q)`` (see :func:`reference.testing.assert_translation_equivariant`).

    Parameters
    ----------
    forces : ForceField or callable
        A force field (its ``forces`` method is used) or a function of ``Q``; called with
        tensors on ``Q``'s device (CPU when ``Q`` is an array).
    Q : Tensor or ndarray, shape (..., Lx, Ly)
        Distortions.
    lattice : SquareLattice
        Translations are symmetries only along periodic axes.
    shifts : iterable of (int, int), optional
        Defaults to ``(1, 0)``, ``(0, 1)`` and ``(Lx // 2, Ly // 3)``, restricted to
        periodic axes.
    atol : float
        Absolute tolerance.
    rtol : float
        Relative tolerance.

    Raises
    ------
    AssertionError
        If a translated force differs from the force of the translated field.
    """
    _ref.assert_translation_equivariant(
        _numpy_map(forces, device_of(Q)), to_numpy(Q), lattice, shifts, atol, rtol
    )


def assert_local(
    forces: Any,
    Q: Any,
    lattice: SquareLattice,
    site: tuple[int, int],
    radius: float,
    metric: Literal["euclidean", "manhattan"] = "euclidean",
    rng: np.random.Generator | None = None,
    atol: float = 1e-12,
) -> None:
    """Assert that ``F_i`` ignores sites beyond ``radius`` (see
    :func:`reference.testing.assert_local`).

    Parameters
    ----------
    forces : ForceField or callable
        A force field (its ``forces`` method is used) or a function of ``Q``; called with
        tensors on ``Q``'s device (CPU when ``Q`` is an array).
    Q : Tensor or ndarray, shape (Lx, Ly)
        One configuration.
    lattice : SquareLattice
    site : (int, int)
        The site ``(x, y)`` whose force is checked.
    radius : float
        Cutoff or receptive field (>= 0), in lattice constants or hops.
    metric : {"euclidean", "manhattan"}
        Distance (minimum image on periodic axes): Euclidean for a descriptor cutoff,
        Manhattan for the hops of a graph network.
    rng : numpy.random.Generator, optional
        Source of the replacement values beyond ``radius`` (seeded 0 by default).
    atol : float
        Absolute tolerance on the change of ``F_i``.

    Raises
    ------
    AssertionError
        If the force at ``site`` changes.
    """
    _ref.assert_local(
        _numpy_map(forces, device_of(Q)), to_numpy(Q), lattice, site, radius, metric, rng, atol
    )


def assert_conservative(
    force_field: ForceField, Q: Any, step: float = 1e-5, atol: float = 1e-6, rtol: float = 1e-6
) -> None:
    """Assert ``F = -grad E`` by batched fourth-order differences (best of ``h`` and ``h/10``).

    Same check as :func:`reference.testing.assert_conservative`; the ``4N`` displaced
    configurations are evaluated as one batch (:func:`fast.forcefield.numerical_forces`).

    Parameters
    ----------
    force_field : ForceField
        With an ``energy(Q)`` method that accepts a batch ``(B, Lx, Ly)`` (``ValueError``
        without one).
    Q : Tensor or ndarray, shape (Lx, Ly)
        One configuration; evaluated in float64 on its device.
    step : float
        Finite-difference step ``h`` (> 0).
    atol : float
        Absolute tolerance.
    rtol : float
        Relative tolerance.

    Raises
    ------
    AssertionError
        If a force differs from the finite-difference gradient beyond the tolerance.
    """
    energy = getattr(force_field, "energy", None)
    if not callable(energy):
        raise ValueError(f"force_field must have an energy(Q) method, got {force_field!r}")
    if not step > 0:
        raise ValueError(f"step must be > 0, got {step!r}")
    q = torch.as_tensor(np.asarray(to_numpy(Q)), device=device_of(Q), dtype=torch.float64)
    analytic = np.asarray(to_numpy(force_field.forces(q)))
    coarse = np.asarray(to_numpy(numerical_forces(energy, q, step)))
    fine = np.asarray(to_numpy(numerical_forces(energy, q, step / 10)))
    best = np.where(np.abs(coarse - analytic) <= np.abs(fine - analytic), coarse, fine)
    err = np.abs(analytic - best)
    bound = atol + rtol * np.abs(best)
    if not np.all(err <= bound):
        worst = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        raise AssertionError(
            f"F != -dE/dQ: max deviation {float(err.max()):.3e} at index "
            f"{tuple(int(i) for i in worst)}"
        )
