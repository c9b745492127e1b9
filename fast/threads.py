"""CPU threads on a shared machine: how many to run, and how idle ones wait.

Two thread pools compute on CPU: torch's OpenMP team (with the MKL it links), and
OpenBLAS's own threads behind NumPy's LAPACK (:mod:`fast._lapack`). Both split each call
into equal parts, one per thread, and wait for the last. On a machine where other
processes also compute, that goes wrong in two ways (``benchmarks/README.md``, "Threads
under contention"):

* An idle thread spins before it sleeps (libgomp's default: 300,000 polls; OpenBLAS:
  about 0.1 s of ``sched_yield``). A spinning thread uses up its share of the cores while
  it waits, so when its part of the next call arrives the kernel runs the other
  processes first, and the whole call waits for it. ``OMP_WAIT_POLICY=PASSIVE`` makes
  OpenMP threads sleep at once. libgomp reads it only when it loads, so :mod:`fast` sets
  it (unless already set) before it imports torch, and :func:`thread_environment` sets it
  for worker processes. The LAPACK pool's worker threads block without spinning.
* A call split over more threads than there are free cores waits, at each of its
  synchronisation points, for a thread the kernel has descheduled. OpenBLAS's
  ``syevd`` of one matrix of order 1600 synchronises thousands of times, and OpenBLAS
  spins while it waits: on two threads and two cores, the exact 40x40 Langevin step ran
  2.8-3.7x slower than idle beside one CPU-bound process, and 7.3-8.7x beside three
  (fair shares 1.5x and 2.5x).
  Only fewer threads help. ``configure_threads(adapt_to_load=True)`` threads such a
  matrix over no more than the cores other processes leave free at the call
  (:func:`spare_cores`). It is off by default because a matrix's rounding depends on its
  thread count: the trajectory of an exact run would then depend on the machine's load,
  and a resumed run would not reproduce the uninterrupted one bit for bit.
"""

from __future__ import annotations

import logging
import os

import threadpoolctl

__all__ = [
    "WAIT_POLICY",
    "adapting_to_load",
    "configure_threads",
    "lapack_threads",
    "machine_cores",
    "other_runnable",
    "spare_cores",
    "thread_environment",
]

WAIT_POLICY = "PASSIVE"
"""``OMP_WAIT_POLICY`` of every process that imports :mod:`fast` first (unless set)."""

_LOADAVG = "/proc/loadavg"
_TASKS = "/proc/self/task"

log = logging.getLogger(__name__)

_adapt_to_load = False  # set by configure_threads


def adapting_to_load() -> bool:
    """Return whether a matrix that OpenBLAS threads gets only the cores other processes
    leave free (``configure_threads(adapt_to_load=True)``).

    Returns
    -------
    bool
    """
    return _adapt_to_load


def lapack_threads(threads: int) -> int:
    """Return the OpenBLAS threads for a matrix OpenBLAS threads: ``threads``, or no more
    than :func:`spare_cores` when :func:`adapting_to_load`.

    Parameters
    ----------
    threads : int
        The configured thread count (>= 1).

    Returns
    -------
    int
        At least 1.
    """
    return min(threads, spare_cores()) if _adapt_to_load else threads


def machine_cores() -> int:
    """Return the number of cores this process may run on (its CPU affinity).

    Returns
    -------
    int
        ``os.cpu_count()`` where the affinity is unknown (not Linux).
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _runnable_in_loadavg(text: str) -> int:
    """The runnable tasks of the whole machine: ``R`` of the ``R/T`` field of
    ``/proc/loadavg``."""
    return int(text.split()[3].split("/")[0])


def _own_runnable() -> int:
    """This process's threads that are running or runnable now (``R`` in their stat)."""
    count = 0
    for tid in os.listdir(_TASKS):
        try:
            with open(f"{_TASKS}/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # the thread ended meanwhile
            continue
        state = stat.rindex(b")") + 2  # the command name may hold spaces and brackets
        if stat[state : state + 1] == b"R":
            count += 1
    return count


def other_runnable() -> int | None:
    """Return the tasks of other processes that are running or waiting for a core now.

    The machine's runnable tasks (``/proc/loadavg``) less this process's own, so a thread
    pool of ours that is still spinning does not count as load. ``None`` where the kernel
    does not say (not Linux). An instant's count: a CPU-bound process always counts, one
    that mostly waits counts now and then.

    Returns
    -------
    int or None
        At least 0; None where ``/proc/loadavg`` cannot be read.
    """
    try:
        with open(_LOADAVG, "rb") as f:
            total = _runnable_in_loadavg(f.read().decode())
        # the caller is one of them; only look for more of ours when others may run
        return 0 if total <= 1 else max(0, total - _own_runnable())
    except (OSError, ValueError, IndexError):
        return None


def spare_cores(cores: int | None = None) -> int:
    """Return the cores that other processes leave free now, at least 1.

    ``cores`` (default :func:`machine_cores`) less :func:`other_runnable`; all of them
    where the load is unknown.

    Parameters
    ----------
    cores : int, optional
        The cores to share; :func:`machine_cores` when omitted.

    Returns
    -------
    int
        At least 1.
    """
    total = machine_cores() if cores is None else cores
    busy = other_runnable()
    if busy is None:
        return max(1, total)
    return max(1, total - busy)


def thread_environment(threads: int) -> dict[str, str]:
    """Return the environment for a worker process that computes on ``threads`` threads.

    Thread counts of OpenMP (torch), MKL and OpenBLAS, and the OpenMP wait policy
    (idle threads sleep: :data:`WAIT_POLICY`; ``KMP_BLOCKTIME=0`` for Intel's OpenMP).
    Pass it to the process when it starts: OpenMP reads it only once, when it loads.

    Parameters
    ----------
    threads : int
        Threads per pool, at least 1.

    Returns
    -------
    dict of str to str
        Variable names and values, to merge into the worker's environment.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive integer.

    Examples
    --------
    >>> thread_environment(2)["OMP_WAIT_POLICY"]
    'PASSIVE'
    """
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    count = str(threads)
    return {
        "OMP_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "OMP_WAIT_POLICY": WAIT_POLICY,
        "KMP_BLOCKTIME": "0",
    }


def configure_threads(threads: int | None = None, *, adapt_to_load: bool = False) -> int:
    """Set this process's compute threads, torch's and OpenBLAS's; return their number.

    Call it once, before any work (a campaign worker, a script). The wait policy cannot
    change once OpenMP has loaded: where ``OMP_WAIT_POLICY`` is not :data:`WAIT_POLICY`
    (torch was imported before :mod:`fast`, or the variable was set otherwise), a warning
    is logged.

    Parameters
    ----------
    threads : int, optional
        Threads per pool, at least 1; default :func:`machine_cores`.
    adapt_to_load : bool, default False
        Thread each matrix that OpenBLAS threads (on CPU, a lone matrix from order 200,
        or each of a stack from order 1000) over no more than the cores that other
        processes leave free at the time of the call (:func:`lapack_threads`). Faster on
        a shared machine, but such a matrix's rounding then depends on the load, so runs
        driven by exact forces are no longer reproducible bit for bit. Stacks of smaller
        matrices (single-threaded LAPACK on worker threads) are unaffected.

    Returns
    -------
    int
        The thread count set.

    Raises
    ------
    ValueError
        If ``threads`` is not a positive integer.
    """
    import torch  # here: fast/__init__ imports this module before torch loads OpenMP

    global _adapt_to_load
    count = machine_cores() if threads is None else threads
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    torch.set_num_threads(count)
    threadpoolctl.threadpool_limits(limits=count, user_api="blas")
    _adapt_to_load = bool(adapt_to_load)
    policy = os.environ.get("OMP_WAIT_POLICY", "")
    if policy.upper() != WAIT_POLICY:
        log.warning(
            "OMP_WAIT_POLICY is %r, not %r: idle OpenMP threads spin and slow other work "
            "on a busy machine; set it before torch is imported",
            policy,
            WAIT_POLICY,
        )
    return count
