"""Checks that every workflow's settings share, written once.

Each workflow (:mod:`fast.runs.quench`, :mod:`fast.runs.voltage`, :mod:`fast.runs.laser`)
keeps its own settings sections, with the papers' defaults; the checks they have in common
live here, so one rule gives one message everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
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
    "probe_seconds",
    "torch_dtype",
]

PRECISIONS = {"float32": torch.float32, "float64": torch.float64}
"""The precisions a network may run in, by name."""


def check_recording(steps: int, record_every: int, checkpoint_every: int) -> None:
    """A run of ``steps`` records a frame every ``record_every`` steps (at most ``steps``) and
    checkpoints every ``checkpoint_every`` steps, a multiple of ``record_every`` (a checkpoint
    falls on a recorded frame, so a resumed run records the same frames).

    Parameters
    ----------
    steps : int
        Integrator steps of the run.
    record_every : int
        Steps between recorded frames (at most ``steps``).
    checkpoint_every : int
        Steps between checkpoints (a multiple of ``record_every``).

    Raises
    ------
    ValueError
        Naming the setting that breaks the rule.
    """
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every!r}")
    check_checkpoints(record_every, checkpoint_every)


def check_checkpoints(record_every: int, checkpoint_every: int) -> None:
    """Checkpoints every ``checkpoint_every`` steps fall on recorded frames: a multiple of
    ``record_every``.

    Parameters
    ----------
    record_every : int
        Steps between recorded frames.
    checkpoint_every : int
        Steps between checkpoints.

    Raises
    ------
    ValueError
        If ``checkpoint_every`` is not a multiple of ``record_every``.
    """
    if checkpoint_every % record_every:
        raise ValueError(
            f"checkpoint_every must be a multiple of record_every ({record_every}), "
            f"got {checkpoint_every!r}"
        )


def check_square_size(size: int) -> None:
    """A periodic ``size x size`` lattice with both CDW sublattices: even, at least 4.

    Parameters
    ----------
    size : int
        The lattice's side, in sites.

    Raises
    ------
    ValueError
        If ``size`` is odd or below 4.
    """
    if size < 4 or size % 2:
        raise ValueError(f"size must be an even integer >= 4, got {size!r}")


def check_precision(precision: str) -> None:
    """``precision`` names one of :data:`PRECISIONS`.

    Parameters
    ----------
    precision : str
        ``"float32"`` or ``"float64"``.

    Raises
    ------
    ValueError
        For any other name.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be 'float32' or 'float64', got {precision!r}")


def torch_dtype(precision: str) -> torch.dtype:
    """The torch dtype of a precision name.

    Parameters
    ----------
    precision : {"float32", "float64"}
        A key of :data:`PRECISIONS`.

    Returns
    -------
    torch.dtype
        ``torch.float32`` or ``torch.float64``.

    Raises
    ------
    ValueError
        For any other name.
    """
    check_precision(precision)
    return PRECISIONS[precision]


def network_bytes(architecture: Any, sites: float, precision: str) -> float:
    """Memory of a network's forces on ``sites`` sites at once: every layer's activations
    per site, kept three times over (forward values, their gradients for the force, and
    the autograd workspace).

    Parameters
    ----------
    architecture : Architecture
        A network with layer ``widths`` (MLP), ``channels`` (GNN, MPNN) or ``hidden``
        channels per irreducible representation (ENN).
    sites : float
        Sites evaluated at once.
    precision : {"float32", "float64"}
        The precision the network runs in (4 or 8 bytes per value).

    Returns
    -------
    float
        Bytes, an estimate.
    """
    if hasattr(architecture, "hidden"):  # equivariant: channels per IR, summed over the IRs
        ir_dimensions = 6 if architecture.group == "D4" else 2  # D4: 4 x 1 + E; Cs: A', A''
        widths = tuple(c * ir_dimensions for c in architecture.hidden)
    else:
        widths = tuple(getattr(architecture, "widths", None) or architecture.channels)
    itemsize = 4 if precision == "float32" else 8
    return 3.0 * sites * float(sum(widths)) * itemsize


def dense_bytes(sites: float, batch: float, complex_valued: bool = False) -> float:
    """Memory of ``batch`` dense ``sites x sites`` matrix problems at once (a Hamiltonian,
    its eigenvectors and the LAPACK workspace: four matrices each).

    Parameters
    ----------
    sites : float
        The matrices' dimension (sites of the lattice).
    batch : float
        Matrix problems held at once.
    complex_valued : bool
        Complex matrices (16 bytes per entry) rather than real float64 (8 bytes); default
        False.

    Returns
    -------
    float
        Bytes, an estimate.
    """
    return 4.0 * batch * sites**2 * (16 if complex_valued else 8)


def check_receptive_radius(radius: int, periodic_lengths: Mapping[str, int]) -> None:
    """Every periodic length (by its setting's name) exceeds twice the network's receptive
    ``radius``, so that no neighbourhood wraps onto itself.

    Parameters
    ----------
    radius : int
        The network's receptive radius, in lattice constants.
    periodic_lengths : mapping of str to int
        Each periodic length of the lattice, in sites, keyed by the name of the setting that
        gives it (named in the error).

    Raises
    ------
    ValueError
        If a length is below ``2 * radius + 1``.
    """
    for name, length in periodic_lengths.items():
        if length < 2 * radius + 1:
            raise ValueError(
                f"{name} ({length}) must exceed twice the network's receptive radius "
                f"({radius}) so that no neighbourhood wraps onto itself"
            )


def probe_seconds(
    operation: Callable[[], Any], device: torch.device, budget: float = 0.5, most: int = 20
) -> float:
    """The seconds one call of ``operation`` takes on ``device``: a first, untimed call, then
    calls until ``budget`` seconds or ``most`` calls (at least one), synchronised on CUDA.

    Parameters
    ----------
    operation : callable
        The work to time, without arguments.
    device : torch.device
        Where it runs (synchronised before and after the timed calls on CUDA).
    budget : float
        Wall seconds to spend timing, after the first call; default 0.5.
    most : int
        The most timed calls; default 20.

    Returns
    -------
    float
        Mean seconds per timed call.
    """

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    operation()
    sync()
    calls, start = 0, time.perf_counter()
    while calls < 1 or (time.perf_counter() - start < budget and calls < most):
        operation()
        calls += 1
    sync()
    return (time.perf_counter() - start) / calls
