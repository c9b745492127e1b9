"""CPU dense eigensolvers for stacks of matrices: which LAPACK, on how many threads.

On accelerators (or when gradients are needed) :func:`eigh` and :func:`eig` are single
``torch.linalg`` calls. On CPU, a stack of matrices below order 1000 is split over
``torch.get_num_threads()`` worker threads, each running NumPy's LAPACK single-threaded
(``threadpoolctl``): for such matrices OpenBLAS's own threads gain little, and they spin
against torch's OpenMP threads between calls. Measured on a 2-core machine
(``benchmarks/README.md``, "Exact diagonalisation on CPU"):

* Hermitian stacks: 1.2-2.7x faster than one NumPy call threading each matrix; a lone
  matrix below order 200 runs single-threaded, larger ones use all of OpenBLAS's threads
  one at a time (from order 1000 the two ways measured equal: ``eigh`` is memory-bound);
  complex Hermitian matrices from order 400 go to torch's MKL ``heevd`` (2.3 s against
  OpenBLAS's 4.4 s at 1600).
* general (non-Hermitian) stacks: 6 matrices of order 200, 23 ms each against 44 ms
  (NumPy, threaded) and 49 ms (``torch.linalg.eig``).

Every branch is a full LAPACK decomposition of each matrix (``syevd``/``heevd``,
``geev``), so the choice is of speed only; results agree to rounding. On a machine shared
with other work, a lone large matrix on all of OpenBLAS's threads runs several times slower
than its share of the cores; :func:`fast.threads.configure_threads` can make it take only
the spare ones (:mod:`fast.threads`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import threadpoolctl
import torch

from fast._tensor import Tensor
from fast.threads import lapack_threads

MKL_COMPLEX_FROM = 400
"""Order from which complex Hermitian CPU matrices go to torch's MKL ``heevd``."""

THREADED_FROM = 200
"""Order from which a CPU matrix outside a worker thread is worth OpenBLAS's threads."""

POOLED_BELOW = 1000
"""Order below which a CPU stack is split over worker threads."""


def eigh(h: Tensor) -> tuple[Tensor, Tensor]:
    """Hermitian eigendecomposition of ``h`` ``(..., n, n)``: levels ascending, vectors."""
    if h.device.type != "cpu" or h.requires_grad:
        eps, vecs = torch.linalg.eigh(h)
        return eps, vecs
    if h.is_complex() and h.shape[-1] >= MKL_COMPLEX_FROM:
        eps, vecs = torch.linalg.eigh(h)
        return eps, vecs
    eps_np, vecs_np = lapack_stack(np.linalg.eigh, h.detach().numpy())
    return torch.from_numpy(eps_np), torch.from_numpy(vecs_np)


def eig(a: Tensor) -> tuple[Tensor, Tensor]:
    """General eigendecomposition of complex ``a`` ``(..., n, n)``: ``a = R diag(lam) R^-1``.

    Eigenvalues in LAPACK's order and unit-norm right eigenvectors (columns of ``R``), as
    ``torch.linalg.eig``; complex128 in, complex128 out.
    """
    if a.device.type != "cpu" or a.requires_grad:
        lam, right = torch.linalg.eig(a)
        return lam, right
    lam_np, right_np = lapack_stack(np.linalg.eig, a.detach().numpy())
    return torch.from_numpy(lam_np.astype(np.complex128, copy=False)), torch.from_numpy(
        right_np.astype(np.complex128, copy=False)
    )


def lapack_stack(
    solver: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], a: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``solver`` (a stacked NumPy decomposition) of ``a`` ``(..., n, n)``, split over
    worker threads with single-threaded LAPACK where that was measured faster.

    Each matrix of a split stack is one single-threaded LAPACK call whatever the number of
    workers, so the results do not depend on it. A matrix threaded by OpenBLAS gets its
    threads from :func:`fast.threads.lapack_threads` (all of them unless adapting to the
    load, so its rounding depends on the load only then).
    """
    n = a.shape[-1]
    flat = a.reshape(-1, n, n)
    workers = min(len(flat), max(1, torch.get_num_threads()))
    if workers > 1 and n < POOLED_BELOW:
        with single_threaded_blas():
            parts = list(_pool(workers).map(solver, np.array_split(flat, workers)))
        first = np.concatenate([p[0] for p in parts])
        second = np.concatenate([p[1] for p in parts])
    elif n >= THREADED_FROM:
        available = blas_thread_count()
        count = lapack_threads(available)
        with blas_threads(count) if count < available else contextlib.nullcontext():
            first, second = solver(flat)
    else:
        with single_threaded_blas():
            first, second = solver(flat)
    return first.reshape(a.shape[:-1]), second.reshape(a.shape)


@functools.lru_cache(maxsize=4)
def _pool_for(workers: int, pid: int) -> ThreadPoolExecutor:
    del pid  # part of the key only: a forked child must not reuse its parent's threads
    return ThreadPoolExecutor(workers, thread_name_prefix="fast-lapack")


def _pool(workers: int) -> ThreadPoolExecutor:
    return _pool_for(workers, os.getpid())


@functools.lru_cache(maxsize=1)
def _blas_controller() -> threadpoolctl.ThreadpoolController:
    return threadpoolctl.ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager[object]:
    """Limit NumPy's BLAS/LAPACK to one thread inside the ``with`` block."""
    return blas_threads(1)


def blas_threads(count: int) -> contextlib.AbstractContextManager[object]:
    """Limit NumPy's BLAS/LAPACK to ``count`` threads inside the ``with`` block."""
    limit: contextlib.AbstractContextManager[object] = _blas_controller().limit(
        limits=count, user_api="blas"
    )
    return limit


def blas_thread_count() -> int:
    """The threads NumPy's BLAS/LAPACK runs on now (at least 1)."""
    blas = _blas_controller().select(user_api="blas")
    return max([1, *(int(lib.num_threads) for lib in blas.lib_controllers)])
