"""Tensor conversion shared by every :mod:`fast` module.

``fast`` functions accept NumPy arrays or torch tensors and return tensors on the
device of their first tensor argument (CPU when they receive none). Physics runs in
float64 (complex128 where needed).

Functions that are not on a hot path (one-off analysis, construction of constant
tables, optimisers) *delegate* to :mod:`reference`: :func:`delegate` wraps the
reference function with the same signature, moves tensor arguments to NumPy,
calls it and moves array results back to the caller's device. Their docstring says
so; they are exactly as accurate as the reference and no faster.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec

import attrs
import numpy as np
import torch

P = ParamSpec("P")

Tensor = torch.Tensor


def device_of(*values: object) -> torch.device:
    """The device of the first tensor among ``values`` (CPU if none is a tensor)."""
    for v in values:
        if isinstance(v, torch.Tensor):
            return v.device
        if isinstance(v, list | tuple):
            for w in v:
                if isinstance(w, torch.Tensor):
                    return w.device
    return torch.device("cpu")


def as_tensor(
    name: str,
    value: object,
    *,
    dtype: torch.dtype | None = torch.float64,
    device: torch.device | None = None,
    check_finite: bool = True,
) -> Tensor:
    """Return ``value`` as a tensor of ``dtype`` (on its own device, or ``device``).

    ``dtype=None`` keeps the floating dtype of a tensor (float32 networks stay float32)
    and makes anything else float64. Raises ``ValueError`` naming ``name`` for
    non-numeric or non-finite input.
    """
    if dtype is None:
        floating = isinstance(value, torch.Tensor) and (
            value.is_floating_point() or value.is_complex()
        )
        dtype = value.dtype if isinstance(value, torch.Tensor) and floating else torch.float64
    if isinstance(value, torch.Tensor):
        t = value.to(dtype=dtype, device=device if device is not None else value.device)
    else:
        a = np.asarray(value)
        if a.dtype.kind not in "biufc":
            raise ValueError(f"{name} must be a numeric array, got dtype {a.dtype}")
        if a.dtype.kind == "c" and not dtype.is_complex:
            raise ValueError(f"{name} must be real-valued, got dtype {a.dtype}")
        t = torch.as_tensor(a, dtype=dtype, device=device)
    if check_finite and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must contain only finite values")
    return t


def to_numpy(value: object) -> Any:
    """Recursively convert tensors (also inside tuples, lists, dicts) to NumPy arrays."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, tuple):
        return tuple(to_numpy(v) for v in value)
    if isinstance(value, list):
        return [to_numpy(v) for v in value]
    if isinstance(value, dict):
        return {k: to_numpy(v) for k, v in value.items()}
    if attrs.has(type(value)):
        record: Any = value
        changes = {
            f.name: to_numpy(getattr(record, f.name))
            for f in attrs.fields(type(record))
            if f.init and isinstance(getattr(record, f.name), torch.Tensor)
        }
        return attrs.evolve(record, **changes) if changes else record
    return value


def to_torch(value: object, device: torch.device) -> Any:
    """Recursively convert NumPy arrays (also inside containers) to tensors on ``device``."""
    if isinstance(value, np.ndarray):
        return torch.as_tensor(value, device=device)
    if isinstance(value, np.generic):
        return (
            torch.as_tensor(value.item(), device=device)
            if value.dtype.kind in "fc"
            else value.item()
        )
    if isinstance(value, tuple):
        return tuple(to_torch(v, device) for v in value)
    if isinstance(value, list):
        return [to_torch(v, device) for v in value]
    if isinstance(value, dict):
        return {k: to_torch(v, device) for k, v in value.items()}
    if attrs.has(type(value)):
        # frozen result objects (e.g. Relaxation, GrowthFit): convert their array fields
        record: Any = value
        changes = {
            f.name: to_torch(getattr(record, f.name), device)
            for f in attrs.fields(type(record))
            if f.init and isinstance(getattr(record, f.name), np.ndarray)
        }
        return attrs.evolve(record, **changes) if changes else record
    return value


def delegate(reference_function: Callable[P, Any]) -> Callable[P, Any]:
    """Wrap a :mod:`reference` function: NumPy in, the caller's device out, same signature."""

    @functools.wraps(reference_function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        device = device_of(*args, *kwargs.values())
        result = reference_function(*to_numpy(args), **to_numpy(kwargs))
        return to_torch(result, device)

    note = (
        "\n\n    (:mod:`fast`: delegates to the NumPy reference; not a hot path. Tensors in, "
        "tensors on the input's device out.)"
    )
    wrapper.__doc__ = (reference_function.__doc__ or "").rstrip() + note
    wrapper.__module__ = "fast"
    return wrapper
