"""Checks that every workflow's settings share, written once.

Each workflow (:mod:`fast.runs.quench`, :mod:`fast.runs.voltage`, :mod:`fast.runs.laser`)
keeps its own settings sections, with the papers' defaults; the checks they have in common
live here, so one rule gives one message everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

__all__ = [
    "PRECISIONS",
    "check_checkpoints",
    "check_precision",
    "check_receptive_radius",
    "check_recording",
    "check_square_size",
    "dense_bytes",
    "network_bytes",
    "torch_dtype",
]

PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
"""The precisions a network may run in, by name."""


def check_recording(steps: int, record_every: int, checkpoint_every: int) -> None:
    """A run of ``steps`` records a frame every ``record_every`` steps (at most ``steps``) and
    checkpoints every ``checkpoint_every`` steps, a multiple of ``record_every`` (a checkpoint
    falls on a recorded frame, so a resumed run records the same frames)."""
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every!r}")
    check_checkpoints(record_every, checkpoint_every)


def check_checkpoints(record_every: int, checkpoint_every: int) -> None:
    """Checkpoints every ``checkpoint_every`` steps fall on recorded frames: a multiple of
    ``record_every``."""
    if checkpoint_every % record_every:
        raise ValueError(
            f"checkpoint_every must be a multiple of record_every ({record_every}), "
            f"got {checkpoint_every!r}"
        )


def check_square_size(size: int) -> None:
    """A periodic ``size x size`` lattice with both CDW sublattices: even, at least 4."""
    if size < 4 or size % 2:
        raise ValueError(f"size must be an even integer >= 4, got {size!r}")


def check_precision(precision: str) -> None:
    """``precision`` names one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision name."""
    check_precision(precision)
    return PRECISIONS[precision]


def network_bytes(architecture: Any, sites: float, precision: str) -> float:
    """Memory of a network's forces on ``sites`` sites at once: every layer's activations
    per site, kept three times over (forward values, their gradients for the force, and
    the autograd workspace)."""
    widths = tuple(getattr(architecture, "widths", None) or architecture.channels)
    itemsize = 4 if precision == "float32" else 8
    return 3.0 * sites * float(sum(widths)) * itemsize


def dense_bytes(sites: float, batch: float, complex_valued: bool = False) -> float:
    """Memory of ``batch`` dense ``sites x sites`` matrix problems at once (a Hamiltonian,
    its eigenvectors and the LAPACK workspace: four matrices each)."""
    return 4.0 * batch * sites**2 * (16 if complex_valued else 8)


def check_receptive_radius(radius: int, periodic_lengths: Mapping[str, int]) -> None:
    """Every periodic length (by its setting's name) exceeds twice the network's receptive
    ``radius``, so that no neighbourhood wraps onto itself."""
    for name, length in periodic_lengths.items():
        if length < 2 * radius + 1:
            raise ValueError(
                f"{name} ({length}) must exceed twice the network's receptive radius "
                f"({radius}) so that no neighbourhood wraps onto itself"
            )
