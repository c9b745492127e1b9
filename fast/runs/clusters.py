"""Where a campaign runs: in turn here, on a local Dask cluster, on an existing Dask
scheduler, or on SLURM or PBS through :mod:`dask_jobqueue`.

An experiment file may hold a ``[cluster]`` table (:class:`ClusterSettings`); the command
line overrides it (``--cluster``, ``--workers``, ``--scheduler``). It says where the work
runs, never what is computed: it is not part of any stage's fingerprint, and moving a
campaign from a laptop to a cluster half-way resumes it.

Every worker runs one task at a time on its share of the cores: the torch, OpenMP, MKL and
OpenBLAS thread counts and the OpenMP wait policy (idle threads sleep rather than spin,
:mod:`fast.threads`) are set in the worker's environment before it starts (so before
torch or a BLAS initialise), and the thread counts again by each task
(:func:`worker_threads`).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from fast.threads import configure_threads, thread_environment
from reference import runio

__all__ = [
    "CLUSTER_KINDS",
    "THREADS_VARIABLE",
    "ClusterSettings",
    "dask_client",
    "read_cluster",
    "worker_environment",
    "worker_threads",
]

CLUSTER_KINDS = ("local", "slurm", "pbs")
"""Where the workers of a campaign come from."""

THREADS_VARIABLE = "HOLSTEIN_THREADS"
"""Environment variable with the torch threads of one worker (set per Dask worker)."""

_WALLTIME = re.compile(r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*([KMGT]i?B|[kMGT]B)$")


def _kind(instance: Any, attribute: Any, value: str) -> None:
    if value not in CLUSTER_KINDS:
        raise ValueError(f"kind must be one of {CLUSTER_KINDS}, got {value!r}")


def _count(instance: Any, attribute: Any, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _lines(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    if not all(isinstance(v, str) and "\n" not in v for v in value):
        raise ValueError(f"{attribute.name} must be a list of one-line strings")


@attrs.frozen(kw_only=True)
class ClusterSettings:
    """``[cluster]``: the Dask workers of a campaign.

    Attributes
    ----------
    kind : {"local", "slurm", "pbs"}
        ``local``: worker processes on this machine (:class:`dask.distributed.LocalCluster`);
        ``slurm``/``pbs``: one batch job per worker (:mod:`dask_jobqueue`).
    workers : int
        Worker processes (local) or jobs (SLURM, PBS). ``0`` with ``kind = "local"`` runs
        the points in turn in this process, without Dask.
    cores : int
        Cores per job (SLURM, PBS): the worker's threads. ``0``: local workers share the
        machine's cores equally (``cores // workers`` each).
    memory : str
        Memory per job (``"4GiB"``), passed to the batch system.
    walltime : str
        Time limit per job, ``[D-]HH:MM[:SS]``.
    queue, account : str
        Partition or queue, and account to charge (empty: the system's default).
    directives : list of str
        Further batch directives, e.g. ``["--gres=gpu:1"]`` (SLURM) or ``["-l ngpus=1"]``.
    prologue : list of str
        Shell lines each job runs before its worker starts (``module load``, ``source
        venv/bin/activate``).
    interface : str
        Network interface the workers and scheduler talk over (empty: Dask's default).
    log_directory : str
        Where the jobs' output goes (empty: ``<out>/cluster-logs``).
    """

    kind: str = attrs.field(default="local", validator=_kind)
    workers: int = attrs.field(default=0, validator=_count)
    cores: int = attrs.field(default=0, validator=_count)
    memory: str = "4GiB"
    walltime: str = "01:00:00"
    queue: str = ""
    account: str = ""
    directives: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_lines)
    prologue: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_lines)
    interface: str = ""
    log_directory: str = ""

    def __attrs_post_init__(self) -> None:
        if self.kind != "local":
            if self.workers < 1:
                raise ValueError(f"workers must be >= 1 for kind {self.kind!r}")
            if not _WALLTIME.match(self.walltime):
                raise ValueError(f"walltime must be [D-]HH:MM[:SS], got {self.walltime!r}")
            if not _MEMORY.match(self.memory):
                raise ValueError(f"memory must be like '4GiB' or '500MB', "
                                 f"got {self.memory!r}")  # fmt: skip

    @property
    def distributed(self) -> bool:
        """Whether the campaign runs on Dask (else in turn, in this process)."""
        return self.kind != "local" or self.workers > 0


def read_cluster(
    data: dict[str, Any], where: str, kind: str | None = None, workers: int | None = None
) -> ClusterSettings:
    """Take the ``[cluster]`` table out of an experiment file's tables ``data`` (read from
    ``where``) with the command line's ``kind`` and ``workers`` put in.

    Parameters
    ----------
    data : dict
        The file's tables by name; its ``cluster`` entry is removed (in place).
    where : str
        The file's path, for error messages.
    kind : {"local", "slurm", "pbs"}, optional
        ``--cluster``: replaces the table's ``kind``. None (default): the table's.
    workers : int, optional
        ``--workers``: replaces the table's ``workers``. None (default): the table's.

    Returns
    -------
    ClusterSettings
        The defaults where neither the table nor the command line gives a value.

    Raises
    ------
    ValueError
        One line naming the file and the key, for an unknown key or a bad value.
    """
    table = data.pop("cluster", {})
    if not isinstance(table, dict):
        raise ValueError(f"[cluster] must be a table in {where!r}")
    table = dict(table)
    if kind is not None:
        table["kind"] = kind
    if workers is not None:
        table["workers"] = workers
    return runio.structure(table, ClusterSettings, f"[cluster] of {where!r}")


def worker_environment(threads: int) -> dict[str, str]:
    """The environment of a worker with ``threads`` threads: the thread counts and wait
    policy of :func:`fast.threads.thread_environment`, and :data:`THREADS_VARIABLE` (set
    before the worker process starts, so before OpenMP or a BLAS initialise).

    Parameters
    ----------
    threads : int
        The worker's threads (>= 1).

    Returns
    -------
    dict of str to str
        Environment variables by name.
    """
    return thread_environment(threads) | {THREADS_VARIABLE: str(threads)}


def worker_threads() -> None:
    """Set torch's and OpenBLAS's threads to the worker's share (:data:`THREADS_VARIABLE`),
    if set (:func:`fast.threads.configure_threads`): what every campaign task does first."""
    threads = os.environ.get(THREADS_VARIABLE)
    if threads:
        configure_threads(int(threads))


@contextlib.contextmanager
def dask_client(settings: ClusterSettings, scheduler: str | None, out: Path) -> Iterator[Any]:
    """A :class:`dask.distributed.Client` for a campaign writing to ``out``, for the
    ``with`` block; the cluster it started (and, on SLURM or PBS, its jobs) closed after.

    With ``scheduler``: connected to that existing cluster (left running). Else a new
    cluster of ``settings.workers`` workers: local processes sharing this machine's cores,
    or one SLURM or PBS job each (:mod:`dask_jobqueue`), each worker one task at a time.

    Parameters
    ----------
    settings : ClusterSettings
        The workers to start (ignored with ``scheduler``).
    scheduler : str or None
        The address of an existing Dask scheduler (``--scheduler``, e.g.
        ``"tcp://host:8786"``); None: start a cluster.
    out : Path
        The campaign folder (batch jobs' logs go to ``out / "cluster-logs"`` unless
        ``settings.log_directory`` says otherwise).

    Yields
    ------
    dask.distributed.Client
        Connected to the cluster for the ``with`` block.

    Raises
    ------
    ValueError
        If Dask (or dask-jobqueue) is missing, or the scheduler cannot be reached.
    """
    # Dask's start-up chatter (INFO) off unless the user configured its logging
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "running on Dask needs dask.distributed: pip install 'holstein-mlff[distributed]'"
        ) from None
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        with client:
            yield client
        return
    if settings.kind == "local":
        workers = max(1, settings.workers)
        threads = settings.cores or max(1, (os.cpu_count() or 1) // workers)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               env=worker_environment(threads),
                               dashboard_address=":0")  # type: ignore[no-untyped-call]  # fmt: skip
    else:
        cluster = _jobqueue_cluster(settings, out)
        cluster.scale(jobs=settings.workers)
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


def _jobqueue_cluster(settings: ClusterSettings, out: Path) -> Any:
    """A :mod:`dask_jobqueue` cluster of one single-threaded-task worker per job."""
    try:
        from dask_jobqueue.pbs import PBSCluster
        from dask_jobqueue.slurm import SLURMCluster
    except ImportError:
        raise ValueError(
            f"kind = {settings.kind!r} needs dask-jobqueue: "
            "pip install 'holstein-mlff[distributed]'"
        ) from None
    cores = settings.cores or 1
    logs = Path(settings.log_directory or out / "cluster-logs")
    logs.mkdir(parents=True, exist_ok=True)
    environment = [f"export {k}={v}" for k, v in worker_environment(cores).items()]
    options: dict[str, Any] = dict(
        cores=cores, processes=1, memory=settings.memory, walltime=settings.walltime,
        job_extra_directives=list(settings.directives),
        job_script_prologue=[*environment, *settings.prologue],
        worker_extra_args=["--nthreads", "1"], log_directory=str(logs),
        python=sys.executable, scheduler_options={"dashboard_address": ":0"},
    )  # fmt: skip
    if settings.queue:
        options["queue"] = settings.queue
    if settings.account:
        options["account"] = settings.account
    if settings.interface:
        options["interface"] = settings.interface
    make = SLURMCluster if settings.kind == "slurm" else PBSCluster
    return make(**options)
