"""Provenance: where and with what a file or a run was made.

Every HDF5 file the package writes (datasets, trajectories, analysis arrays) carries a
``provenance`` attribute and every model file a ``provenance`` entry: a JSON object with the
package version, the git commit of the code when it runs from a checkout, the Python, torch
and NumPy versions, the device and its name, the thread count, the host and the time. The
run folder's ``experiment.json`` holds the same for the run (:mod:`fast.runs.runner`).

The device is the one a writer names, else the one the runner set for the work in progress
(:func:`on_device`), else unknown (``null``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import functools
import json
import platform
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

import fast

__all__ = ["git_commit", "on_device", "provenance", "provenance_json"]

_DEVICE: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fast_provenance_device", default=None
)


@functools.cache
def git_commit() -> str | None:
    """The git commit of the package's code, when it runs from a git checkout.

    Returns
    -------
    str or None
        The 40-digit hash of ``HEAD``; ``None`` for an installed wheel, or without git.
    """
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(fast.__file__).parent, capture_output=True,
            text=True, timeout=5, check=True,
        ).stdout.strip() or None  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None


@contextlib.contextmanager
def on_device(device: torch.device | str) -> Iterator[None]:
    """Within the ``with`` block, files written without a device of their own record
    ``device`` as theirs.

    Parameters
    ----------
    device : torch.device or str
        The torch device the work runs on (e.g. ``"cpu"``, ``"cuda:0"``).

    Yields
    ------
    None
        Control passes to the ``with`` block; the previous device is restored on leaving it.
    """
    token = _DEVICE.set(str(device))
    try:
        yield
    finally:
        _DEVICE.reset(token)


def provenance(device: torch.device | str | None = None) -> dict[str, Any]:
    """Where and with what this process computes, now.

    Parameters
    ----------
    device : torch.device or str or None
        The device the work ran on; ``None`` (default): the one of :func:`on_device`, else
        unknown.

    Returns
    -------
    dict
        ``version``, ``git_commit``, ``python``, ``torch``, ``numpy``, ``device``,
        ``device_name`` (the GPU's name, or the CPU's), ``threads``, ``host`` and
        ``time`` (UTC, ISO 8601, seconds).
    """
    where = str(device) if device is not None else _DEVICE.get()
    name: str | None = None
    if where is not None:
        dev = torch.device(where)
        if dev.type == "cuda":
            name = torch.cuda.get_device_name(dev)
        else:
            name = platform.processor() or platform.machine()
    return {
        "version": fast.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "device": where,
        "device_name": name,
        "threads": torch.get_num_threads(),
        "host": socket.gethostname(),
        "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def provenance_json(device: torch.device | str | None = None) -> str:
    """:func:`provenance` as a JSON string (for an HDF5 attribute or a model file).

    Parameters
    ----------
    device : torch.device or str or None
        The device the work ran on; ``None`` (default): the one of :func:`on_device`, else
        unknown (as for :func:`provenance`).

    Returns
    -------
    str
        Sorted-key JSON.
    """
    return json.dumps(provenance(device), sort_keys=True)
