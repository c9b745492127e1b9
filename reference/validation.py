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
    """Return ``value`` as a float, or raise if it is not a finite real number.

    Parameters
    ----------
    name : str
        Name of the parameter being checked, quoted in the error message.
    value : float
        The value to check; anything ``float()`` accepts (int, NumPy scalar, numeric string).

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` cannot be converted to a float, or is NaN or infinite.
    """
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def check_positive(name: str, value: float) -> float:
    """Return ``value`` if it is finite and strictly positive.

    Parameters
    ----------
    name : str
        Name of the parameter being checked, quoted in the error message.
    value : float
        The value to check; must be a finite real number > 0.

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number or is <= 0.
    """
    x = check_finite_scalar(name, value)
    if x <= 0.0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return x


def check_non_negative(name: str, value: float) -> float:
    """Return ``value`` if it is finite and >= 0.

    Parameters
    ----------
    name : str
        Name of the parameter being checked, quoted in the error message.
    value : float
        The value to check; must be a finite real number >= 0.

    Returns
    -------
    float
        ``float(value)``.

    Raises
    ------
    ValueError
        If ``value`` is not a finite real number or is < 0.
    """
    x = check_finite_scalar(name, value)
    if x < 0.0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return x


def check_array(name: str, array: Any, *, min_ndim: int = 0) -> NDArray[np.float64]:
    """Return ``array`` as a float64 array after checking it is real and finite.

    Parameters
    ----------
    name : str
        Name of the parameter being checked, quoted in the error message.
    array : array_like
        Boolean, integer or real floating-point values; complex or non-numeric dtypes raise.
    min_ndim : int, optional
        Smallest number of dimensions allowed (default 0: scalars pass).

    Returns
    -------
    ndarray of float64
        ``array`` converted to float64 (no copy when it already is), same shape.

    Raises
    ------
    ValueError
        If ``array`` is complex or non-numeric, has fewer than ``min_ndim`` dimensions, or
        contains NaN or inf.
    """
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
    """Return a finite float64 field of shape ``(..., Lx, Ly)`` matching the lattice ``shape``.

    Parameters
    ----------
    name : str
        Name of the parameter being checked, quoted in the error message.
    field : array_like, shape (..., Lx, Ly)
        Real, finite values on the lattice; leading axes are batch axes.
    shape : (int, int)
        The lattice shape ``(Lx, Ly)`` the last two axes must match.

    Returns
    -------
    (..., Lx, Ly) float64
        ``field`` converted to float64.

    Raises
    ------
    ValueError
        If ``field`` fails :func:`check_array` (with ``min_ndim=2``) or its last two axes
        are not ``shape``.
    """
    a = check_array(name, field, min_ndim=2)
    if a.shape[-2:] != shape:
        raise ValueError(
            f"{name} must have shape (..., {shape[0]}, {shape[1]}) to match the lattice, "
            f"got shape {a.shape}"
        )
    return a
