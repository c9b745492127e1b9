"""Backend selection shared by the benchmarks: ``reference``, ``fast:cpu``, ``fast:cuda``."""

from __future__ import annotations

from typing import Any

import numpy as np

BACKENDS = ["reference", "fast:cpu", "fast:cuda"]


def package(backend: str) -> Any:
    """The package for ``backend``; raises NotImplementedError (asv: skip) without CUDA."""
    if backend == "reference":
        import reference.descriptors
        import reference.dynamics
        import reference.ed
        import reference.ehrenfest
        import reference.negf
        import reference.nn

        return reference
    import torch

    import fast

    if backend == "fast:cuda" and not torch.cuda.is_available():
        raise NotImplementedError("no CUDA device")
    return fast


def array(backend: str, values: np.ndarray) -> Any:
    """``values`` as the backend's array type (a tensor on the backend's device for fast)."""
    if backend == "reference":
        return values
    import torch

    return torch.as_tensor(values, device="cuda" if backend == "fast:cuda" else "cpu")


def sync(backend: str) -> None:
    """Wait for queued GPU work so that timings include it."""
    if backend == "fast:cuda":
        import torch

        torch.cuda.synchronize()
