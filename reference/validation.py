"""Input checks shared by every public function of :mod:`reference`.

Each check raises :class:`ValueError` naming the parameter, the offending value
and what is allowed, so that a bad call fails at the boundary with a message a
physicist can act on.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def check_finite_scalar(name: str, value: float) -> float:
    """Return ``value`` as a float, or raise if it is not a finite real number."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is finite and strictly positive."""
    x = check_finite_scalar(name, value)
    if x <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return x


def check_non_negative(name: str, value: float) -> float:
    """Return ``value`` if it is finite and >= 0."""
    x = check_finite_scalar(name, value)
    if x < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def check_array(name: str, array: Any, *, min_ndim: int = 0) -> NDArray[np.float64]:
    """Return ``array`` as a float64 array after checking it is real and finite."""
    a = np.asarray(array)
    if a.dtype.kind == "c":
        raise ValueError(f"{name} must be real-valued, got dtype {a.dtype}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a numeric array, got dtype {a.dtype}")
    a = a.astype(np.float64, copy=False)
    if a.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return a


def check_field(name: str, field: Any, shape: tuple[int, int]) -> NDArray[np.float64]:
    """Return a finite float64 field of shape ``(..., Lx, Ly)`` matching the lattice ``shape``."""
    a = check_array(name, field, min_ndim=2)
    if a.shape[-2:] != shape:
        raise ValueError(
            f"{name} must have shape (..., {shape[0]}, {shape[1]}) to match the lattice, "
            f"got shape {a.shape}"
        )
    return a
