"""``holstein run --dry-run``: everything a run would check, and what it would do, without
doing it.

A dry run reads and validates the experiment file (every point of a campaign), the
``[cluster]`` table and the run folder (a finished stage made with other settings is an
error here too), then prints, per stage, whether it is done or to run, its peak memory
(:meth:`fast.runs.runner.Workflow.memory_estimate`) against what the device has, and, for a
workflow that can (:class:`fast.runs.runner.Estimable`), its run time from a probe of about a
second on the device. It writes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from fast.runs.runner import (
    STAGES_FILE,
    Estimable,
    TimeNeed,
    Workflow,
    available_memory,
    fingerprint,
    preflight,
)

__all__ = [
    "LONG_RUN_SECONDS",
    "describe_campaign",
    "describe_run",
    "duration",
    "long_run_warning",
    "time_estimates",
]

log = logging.getLogger("fast.runs")

LONG_RUN_SECONDS = 3600.0
"""A run estimated to take longer than this says so before it starts."""


def duration(seconds: float) -> str:
    """``seconds`` as a short human duration (``45 s``, ``12 min``, ``3.4 h``, ``2.1 days``).

    Parameters
    ----------
    seconds : float
        A duration in seconds (>= 0).

    Returns
    -------
    str
        Seconds below 90 s, minutes below 90 min, hours below 48 h, else days.
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def time_estimates(experiment: Workflow, device: torch.device) -> dict[str, TimeNeed]:
    """The workflow's run-time estimates by stage (empty if it cannot estimate).

    Parameters
    ----------
    experiment : Workflow
        The loaded workflow (estimates only if it is :class:`fast.runs.runner.Estimable`).
    device : torch.device
        Where the probe runs.

    Returns
    -------
    dict of str to TimeNeed
        By stage name.
    """
    if not isinstance(experiment, Estimable):
        return {}
    try:
        return experiment.time_estimate(device)
    except (RuntimeError, MemoryError) as exc:  # a probe too large for the device
        log.warning("no time estimate: its probe failed (%s)", str(exc).splitlines()[0])
        return {}


def _done(folder: Path) -> dict[str, str]:
    try:
        recorded: dict[str, str] = json.loads((folder / STAGES_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return recorded


def describe_run(
    experiment: Workflow,
    folder: Path,
    device: torch.device,
    stage: str | None = None,
    shared_until: str | None = None,
) -> tuple[list[str], float]:
    """The dry run of one experiment: a line per stage, and the estimated seconds of the
    stages still to run (those it can estimate).

    Parameters
    ----------
    experiment : Workflow
        The loaded, validated workflow.
    folder : Path
        The run folder (need not exist).
    device : torch.device
        Where it would run.
    stage : str, optional
        Only this stage (``--stage``); None (default): every unfinished one.
    shared_until : str or None
        In a campaign, the last stage this run takes from an earlier point
        (:func:`fast.runs.campaign.plan_sharing`): it and the stages before it are shown as
        ``shared`` and not counted. None (default): nothing shared.

    Returns
    -------
    lines : list of str
        The table.
    seconds : float
        The sum of the estimates of the stages to run.

    Raises
    ------
    ValueError
        As the run itself would, before any work: a folder made with other settings, a
        stage whose earlier stages are unfinished, a missing model file.
    """
    to_run = preflight(experiment, folder, stage)
    done = _done(folder)
    memory = experiment.memory_estimate()
    available = available_memory(device)
    fits = all(memory[s].bytes <= available for s in to_run if s in memory)
    times = time_estimates(experiment, device) if to_run and fits else {}
    state = "new folder" if not folder.exists() else f"{len(done)} stage(s) recorded done"
    lines = [
        f"{experiment.kind} experiment {experiment.name!r} (seed {experiment.seed}): settings "
        f"valid; run folder {str(folder)!r} ({state}); device {device}, "
        f"{_size(available)} available",
        f"  {'stage':10s} {'state':8s} {'peak memory':>12s} {'time':>9s}  what",
    ]
    names = [s.name for s in experiment.STAGES]
    shared = names[: names.index(shared_until) + 1] if shared_until is not None else []
    total = 0.0
    for s in experiment.STAGES:
        recorded = done.get(s.name) == fingerprint(experiment, s.name)
        status = "to run" if s.name in to_run else ("done" if recorded else "skipped")
        if status == "to run" and s.name in shared:
            status = "shared"
        need, estimate = memory.get(s.name), times.get(s.name)
        if status == "to run" and estimate is not None:
            total += estimate.seconds
        mem = _size(need.bytes) if need is not None else "small"
        when = duration(estimate.seconds) if estimate is not None else "n/a"
        what = "; ".join(x.what for x in (estimate, need) if x is not None)
        flag = " (MORE than available)" if need is not None and need.bytes > available else ""
        lines.append(f"  {s.name:10s} {status:8s} {mem:>12s} {when:>9s}  {what}{flag}")
    if to_run and not times:
        lines.append("  (this workflow gives no run-time estimate: see its file's comments)")
    return lines, total


def describe_campaign(
    points: Sequence[tuple[Any, Workflow]],
    folder: Path,
    device: torch.device,
    workers: int,
) -> tuple[list[str], float]:
    """The dry run of a campaign: per point its folder and its stages
    (:func:`describe_run`), then the total estimated work and, spread over ``workers``
    (0: in turn), its wall time at best.

    Parameters
    ----------
    points : sequence of (Point, Workflow)
        The campaign's points (:func:`fast.runs.campaign.load_campaign`).
    folder : Path
        The campaign folder (need not exist); point folders are ``folder / "points" / name``.
    device : torch.device
        Where it would run.
    workers : int
        Dask workers the points are spread over (0: in turn, in this process).

    Returns
    -------
    lines : list of str
        The report.
    seconds : float
        The estimated wall time (the sum of the points' estimates over ``max(workers, 1)``).
    """
    from fast.runs.campaign import plan_sharing

    shares = plan_sharing(points)
    lines = [f"campaign of {len(points)} points into {str(folder)!r}"]
    total = 0.0
    for point, experiment in points:
        sub = folder / "points" / point.name
        leader, last = shares.get(point.name, (None, None))
        point_lines, seconds = describe_run(experiment, sub, device, shared_until=last)
        if leader is not None:
            point_lines.append(f"  stages up to {last!r} taken from point {leader!r}")
        lines += [f"point {point.name}:", *("  " + line for line in point_lines)]
        total += seconds
    spread = max(workers, 1)
    wall = total / spread
    lines.append(
        f"estimated work {duration(total)}"
        + (f", {duration(wall)} on {spread} workers at best" if spread > 1 else "")
    )
    return lines, wall


def long_run_warning(seconds: float, device: torch.device) -> str | None:
    """The line a run estimated beyond :data:`LONG_RUN_SECONDS` prints before it starts.

    Parameters
    ----------
    seconds : float
        The run's estimated time (:func:`describe_run`, :func:`describe_campaign`).
    device : torch.device
        Where it runs (named in the line).

    Returns
    -------
    str or None
        The warning, or None for a run of at most :data:`LONG_RUN_SECONDS`.
    """
    if seconds <= LONG_RUN_SECONDS:
        return None
    return (
        f"estimated {duration(seconds)} on {device} (from a short probe); the run checkpoints "
        "and resumes where it stopped when started again with the same --out"
    )
