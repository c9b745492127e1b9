"""Units of work finer than a run: what a cluster can spread.

A long stage can split its work into :class:`Unit` s (for example the blocks of members of
an ensemble of Langevin runs: a 30-member exact comparison as 30 units) and hand them to
:func:`run_units`. Each unit is a picklable call that writes its own checkpointed files in
its own folder, under that folder's lock, and returns something small; the stage joins the
units' files when all are done.

Where the units run is not the stage's business: :func:`run_units` runs them one after the
other in this process, unless the caller installed another executor with
:func:`unit_executor` (a campaign on :mod:`dask.distributed` installs one that submits each
unit as a task, :func:`fast.runs.campaign.run_campaign`). A unit that is run twice (a
worker thought lost, a retried task) resumes from its checkpoint or finds its file
finished, so the result does not depend on where or how often units ran.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

__all__ = ["UNITS_FOLDER", "Executor", "Unit", "run_units", "sequential", "unit_executor"]

log = logging.getLogger("fast.runs")

UNITS_FOLDER = "units"
"""The folder of a run folder that holds its units' folders (each with its own lock, so
the run's own clean-up of a killed writer's files leaves them alone)."""


@attrs.frozen
class Unit:
    """One unit of work: ``function(*args)``, picklable, named by ``key``.

    Attributes
    ----------
    key : str
        Names the unit uniquely within its campaign (e.g. its folder): a cluster treats two
        submissions of one key as one task.
    function : callable
        A module-level function (so that it pickles by reference).
    args : tuple
        Its arguments: settings, paths as strings, small arrays.
    """

    key: str
    function: Callable[..., Any]
    args: tuple[Any, ...]

    def __call__(self) -> Any:
        return self.function(*self.args)


Executor = Callable[[Sequence[Unit]], list[Any]]
"""Runs units (in any order, anywhere) and returns their results in the units' order."""


def sequential(units: Sequence[Unit]) -> list[Any]:
    """The default executor: each unit in turn, in this process (each logged when done).

    Parameters
    ----------
    units : sequence of Unit
        The units to run.

    Returns
    -------
    list
        Their results, in the units' order.
    """
    results = []
    for number, unit in enumerate(units, 1):
        start = time.perf_counter()
        results.append(unit())
        log.info("unit %d/%d done in %.1f s: %s", number, len(units),
                 time.perf_counter() - start, unit.key)  # fmt: skip
    return results


_EXECUTOR: contextvars.ContextVar[Executor] = contextvars.ContextVar(
    "fast_runs_unit_executor", default=sequential
)


def run_units(units: Sequence[Unit]) -> list[Any]:
    """Run ``units`` with the executor in force (:func:`unit_executor`; by default
    :func:`sequential`) and return their results in order.

    Parameters
    ----------
    units : sequence of Unit
        The units to run; each key should be unique.

    Returns
    -------
    list
        Their results, in the units' order.
    """
    return _EXECUTOR.get()(units)


@contextlib.contextmanager
def unit_executor(executor: Executor) -> Iterator[None]:
    """Run the units of every stage inside the ``with`` block with ``executor``.

    Parameters
    ----------
    executor : Executor
        Takes a sequence of units and returns their results in order.

    Yields
    ------
    None
        Control passes to the ``with`` block; the previous executor is restored on leaving
        it.
    """
    token = _EXECUTOR.set(executor)
    try:
        yield
    finally:
        _EXECUTOR.reset(token)
