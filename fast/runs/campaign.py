"""Campaigns: an experiment file with a ``[sweep]`` table runs as many points, each an ordinary
run folder.

The ``[sweep]`` table names settings by their dotted path and gives their values::

    [sweep]
    "physics.temperature" = [0.1, 0.2, 0.3]
    "physics.filling" = [0.4, 0.5]
    mode = "product"        # every combination (default); "zip": the i-th of every list
    replicas = 2            # each point with seeds seed, seed + 1, ...

:func:`expand_sweep` turns it into :class:`Point` s, each the base file with its values put in;
every point is checked (its settings loaded into the workflow) before any work starts, so a
value that fails a setting's own validation is one error line naming the point and the
setting. :func:`run_campaign` runs the points, each in ``<out>/points/<name>/`` with its own
lock, stages and resumption (a finished point is skipped), on the calling process or on a
:mod:`dask.distributed` client, and writes ``<out>/campaign.json`` and ``<out>/metrics.json``
with every point's settings and metrics, and ``<out>/report.md`` with one row per point and
each workflow's side-by-side summary.

On a cluster, a point is a task, and so is each unit of its long stages
(:mod:`fast.runs.units`, e.g. the blocks of members of an ensemble of Langevin runs): the
point's task submits them and waits. A worker killed in the middle of a unit loses only
that unit's work since its last checkpoint: Dask runs the task again, and it resumes.
Stages that points would compute with equal settings are computed once
(:func:`plan_sharing`).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from fast.runs.clusters import worker_threads
from fast.runs.registry import WORKFLOWS
from fast.runs.report import CampaignEntry
from fast.runs.runner import (
    METRICS_FILE,
    Workflow,
    fingerprint,
    parse_settings,
    read_experiment_file,
    run_experiment,
    with_settings,
)
from fast.runs.units import Executor, Unit, sequential, unit_executor
from reference import runio

__all__ = [
    "PROGRESS_TOPIC",
    "SWEEP_MODES",
    "Point",
    "campaign_report",
    "dask_units",
    "expand_sweep",
    "load_campaign",
    "plan_sharing",
    "point_task",
    "run_campaign",
    "run_remote",
    "unit_task",
]

log = logging.getLogger("fast.runs")

SWEEP_MODES = ("product", "zip")
"""How the value lists of a sweep combine."""

REPORT_FILE = "report.md"
"""The campaign's table of points (:func:`campaign_report`)."""
CAMPAIGN_FILE = "campaign.json"
"""The campaign's points, their settings and their state (written by :func:`run_campaign`)."""


@attrs.frozen
class Point:
    """One point of a sweep: its folder name and the settings it changes (dotted paths)."""

    name: str
    values: dict[str, Any]


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"physics": {"temperature": [..]}}`` (TOML's bare dotted keys) and
    ``{"physics.temperature": [..]}`` (quoted keys) alike become ``{"physics.temperature": ..}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat |= _flatten(value, f"{path}.")
        else:
            flat[path] = value
    return flat


def _label(value: Any) -> str:
    text = format(value, "g") if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text)


def expand_sweep(sweep: Mapping[str, Any], seed: int, where: str) -> list[Point]:
    """The points of a ``[sweep]`` table (see the module docstring).

    Parameters
    ----------
    sweep : mapping
        The ``[sweep]`` table: value lists by dotted setting path (nested tables, from
        TOML's bare dotted keys, alike), and optionally ``mode`` (``"product"``, the
        default, or ``"zip"``) and ``replicas`` (an integer >= 1, default 1).
    seed : int
        The experiment's seed; replica ``r`` of a point gets ``experiment.seed = seed + r``.
    where : str
        The file's path, for error messages.

    Returns
    -------
    list of Point
        In order: the combinations (``itertools.product`` order, or the lists' order for
        ``"zip"``), each followed by its replicas. A point's name joins its
        ``path-value`` labels with ``__`` (and ``replica-r``).

    Raises
    ------
    ValueError
        Naming the file and the entry, for an empty or non-list value list, lists of
        different lengths with ``mode = "zip"``, an unknown mode or a bad ``replicas``.
    """
    entries = _flatten(sweep)
    mode = entries.pop("mode", "product")
    replicas = entries.pop("replicas", 1)
    if mode not in SWEEP_MODES:
        raise ValueError(f"[sweep] mode must be one of {SWEEP_MODES} in {where!r}, got {mode!r}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"[sweep] replicas must be an integer >= 1 in {where!r}, got {replicas!r}")
    for path, values in entries.items():
        if not isinstance(values, list) or not values:
            raise ValueError(
                f"[sweep] {path!r} must be a non-empty list of values in {where!r}, got {values!r}"
            )
        if "." not in path:
            raise ValueError(
                f"[sweep] {path!r} in {where!r} must name a setting as 'section.key' "
                '(e.g. "physics.temperature")'
            )
    if not entries and replicas == 1:
        raise ValueError(f"[sweep] in {where!r} sweeps nothing: give settings or replicas > 1")
    names, lists = list(entries), list(entries.values())
    if mode == "zip":
        lengths = {len(v) for v in lists}
        if len(lengths) > 1:
            raise ValueError(
                f'[sweep] mode = "zip" needs lists of one length in {where!r}, got lengths '
                + ", ".join(f"{n}: {len(v)}" for n, v in zip(names, lists, strict=True))
            )
        combos = list(zip(*lists, strict=True)) if lists else [()]
    else:
        combos = list(itertools.product(*lists))
    points = []
    for combo in combos:
        for replica in range(replicas):
            values = dict(zip(names, combo, strict=True))
            label = "__".join(f"{n}-{_label(v)}" for n, v in values.items())
            if replicas > 1:
                values["experiment.seed"] = seed + replica
                label = f"{label}__replica-{replica}" if label else f"replica-{replica}"
            points.append(Point(label, values))
    return points


def load_campaign(
    path: str | os.PathLike[str],
    overrides: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> list[tuple[Point, Workflow]]:
    """Read an experiment file with a ``[sweep]`` into its points, each loaded and checked.

    Parameters
    ----------
    path : path-like
        The experiment file (TOML) with a ``[sweep]`` table.
    overrides : mapping, optional
        Replace ``[experiment]`` keys (e.g. ``seed``) of every point; ``None`` values are
        ignored. None (default): none.
    settings : mapping, optional
        The command line's ``--set`` values by dotted path, put in before the sweep's (a
        swept setting wins). None (default): none.

    Returns
    -------
    list of (Point, Workflow)
        Every point with its validated settings, in :func:`expand_sweep` order.

    Raises
    ------
    ValueError
        One line naming the file, the point and the setting, for any point whose settings
        are invalid (and for a bad ``[sweep]`` table).
    """
    where = os.fspath(path)
    data = read_experiment_file(path, settings)
    data.pop("cluster", None)  # where it runs, not what: fast.runs.clusters.read_cluster
    sweep = data.pop("sweep", None)
    if not isinstance(sweep, dict):
        raise ValueError(f"{where!r} has no [sweep] table")
    head = data.get("experiment", {})
    seed = head.get("seed", 0) if isinstance(head, dict) else 0
    if overrides and overrides.get("seed") is not None:
        seed = overrides["seed"]
    points = []
    for point in expand_sweep(sweep, seed if isinstance(seed, int) else 0, where):
        try:
            experiment = parse_settings(
                with_settings(data, point.values, "[sweep]"), WORKFLOWS, where, overrides
            )
        except ValueError as exc:
            raise ValueError(f"sweep point {point.name!r}: {exc}") from None
        points.append((point, experiment))
    return points


def plan_sharing(points: Sequence[tuple[Point, Workflow]]) -> dict[str, tuple[str, str]]:
    """Which points take stages from an earlier point instead of computing them.

    A stage's output depends only on the settings its fingerprint covers
    (:func:`fast.runs.runner.fingerprint`: the sections it and the stages before it depend
    on). A point whose first stages have, one by one, the fingerprints of an earlier
    point's first stages takes those stages from the first such point (its leader): for a
    sweep over ``[simulate]`` settings, one dataset and one trained model serve every point.
    A seed or physics setting that a stage depends on makes it the point's own.

    Parameters
    ----------
    points : sequence of (Point, Workflow)
        The campaign's points in order (:func:`load_campaign`); a leader is always an
        earlier point of the same workflow kind.

    Returns
    -------
    dict of str to (str, str)
        ``{point: (leader, last shared stage)}`` for every point that shares.
    """
    first: dict[tuple[str, ...], str] = {}
    plan: dict[str, tuple[str, str]] = {}
    for point, experiment in points:
        chain: tuple[str, ...] = (experiment.kind,)
        for stage in experiment.STAGES:
            chain = (*chain, fingerprint(experiment, stage.name))
            leader = first.setdefault(chain, point.name)
            if leader != point.name:
                plan[point.name] = (leader, stage.name)
    return plan


def run_campaign(
    points: Sequence[tuple[Point, Workflow]],
    out: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    client: Any = None,
) -> dict[str, Any]:
    """Run every point in ``<out>/points/<name>/`` and gather their metrics.

    Points run one after the other in this process, or, with a
    :class:`dask.distributed.Client`, as tasks on its cluster, with the units of their long
    stages (:mod:`fast.runs.units`) as further tasks. A finished point is not recomputed
    (its stages are skipped), and stages that points share (:func:`plan_sharing`) are
    computed once. The points' settings and metrics go to ``<out>/campaign.json`` and
    ``<out>/metrics.json``, their side-by-side summary to ``<out>/report.md``.

    Parameters
    ----------
    points : sequence of (Point, Workflow)
        The campaign's points (:func:`load_campaign`).
    out : path-like
        The campaign folder (created if needed; locked while the campaign runs).
    device : str or torch.device
        Where every point computes (default ``"cpu"``).
    progress : bool
        Show progress bars (default True; tasks on a cluster never show them).
    client : dask.distributed.Client, optional
        The cluster to run on; None (default): every point in this process, in turn.

    Returns
    -------
    dict of str to dict
        The metrics of every finished point, by point name.

    Raises
    ------
    ValueError
        Naming the point, if a point fails; the finished points' work is kept.
    """
    folder = runio.prepare_run_folder(out)
    results: dict[str, Any] = {}
    plan = plan_sharing(points)
    with runio.lock_folder(folder):
        (folder / "points").mkdir(exist_ok=True)
        _write_campaign(folder, points, results, plan)
        targets = {p.name: str(folder / "points" / p.name) for p, _ in points}
        try:
            if client is None:
                _in_turn(points, targets, plan, str(device), progress, results, folder)
            else:
                _on_cluster(client, points, targets, plan, str(device), results, folder)
        finally:
            _write_campaign(folder, points, results, plan)
            runio.write_json(folder / METRICS_FILE, {"points": results})
            report = campaign_report(points, results, folder)
            runio.atomic_write(folder / REPORT_FILE, lambda p: p.write_text(report))
    return results


def _in_turn(
    points: Sequence[tuple[Point, Workflow]],
    targets: Mapping[str, str],
    plan: Mapping[str, tuple[str, str]],
    device: str,
    progress: bool,
    results: dict[str, Any],
    folder: Path,
) -> None:
    start = time.perf_counter()
    for point, experiment in points:
        log.info("campaign: point %s", point.name)
        share = _share(point.name, plan, targets)
        results[point.name] = point_task(point, experiment, targets[point.name], device,
                                         progress, share)  # fmt: skip
        _done(point.name, len(results), len(points), start)
        _write_campaign(folder, points, results, plan)


def _share(
    name: str, plan: Mapping[str, tuple[str, str]], targets: Mapping[str, str]
) -> tuple[str, str] | None:
    if name not in plan:
        return None
    leader, last = plan[name]
    return targets[leader], last


def _done(name: str, done: int, total: int, start: float) -> None:
    log.info("campaign: %d/%d points done (%s) after %.0f s", done, total, name,
             time.perf_counter() - start)  # fmt: skip


def _on_cluster(
    client: Any,
    points: Sequence[tuple[Point, Workflow]],
    targets: Mapping[str, str],
    plan: Mapping[str, tuple[str, str]],
    device: str,
    results: dict[str, Any],
    folder: Path,
) -> None:
    """The points as tasks: a leader's shared stages first (a task of their own), then every
    point, each after the stages it takes from its leader."""
    from distributed import as_completed

    by_name = {p.name: (p, e) for p, e in points}
    order = {p.name: [s.name for s in e.STAGES] for p, e in points}
    needed: dict[str, set[str]] = {}
    for leader, last in plan.values():
        needed.setdefault(leader, set()).add(last)
    prefixes: dict[tuple[str, str], Any] = {}

    def prefix(name: str, last: str) -> Any:
        """The task that runs ``name``'s stages up to ``last`` (after those it shares)."""
        if (name, last) not in prefixes:
            point, experiment = by_name[name]
            rank = order[name].index
            deps = [prefix(name, s) for s in needed[name] if rank(s) < rank(last)][-1:]
            share = _share(name, plan, targets)
            if share is not None:
                upto = min(share[1], last, key=rank)
                deps.append(prefix(plan[name][0], upto))
                share = (share[0], upto)
            prefixes[name, last] = client.submit(
                point_task, point, experiment, targets[name], device, False, share, last, deps,
                None, priority[name], key=f"stages to {last} of {targets[name]}", pure=False,
                priority=priority[name],
            )  # fmt: skip
        return prefixes[name, last]

    # Dask priority by rank, handed on to the point's units: among the tasks waiting on a
    # worker, an earlier point's go first, so a campaign stopped half-way tends to leave its
    # first points whole. (It is no global order: Dask assigns ready tasks to workers early.)
    priority = {p.name: len(points) - i for i, (p, _) in enumerate(points)}
    futures = {}
    for point, experiment in points:
        rank = order[point.name].index
        deps = (
            [prefix(point.name, max(needed[point.name], key=rank))] if point.name in needed else []
        )
        share = _share(point.name, plan, targets)
        if share is not None:
            deps.append(prefix(plan[point.name][0], share[1]))
        futures[client.submit(point_task, point, experiment, targets[point.name], device,
                              False, share, None, deps, None, priority[point.name],
                              key=f"point {targets[point.name]}", pure=False,
                              priority=priority[point.name])] = point.name  # fmt: skip
    client.subscribe_topic(PROGRESS_TOPIC, _progress)
    start = time.perf_counter()
    try:
        for future in as_completed(list(futures)):  # type: ignore[no-untyped-call]
            results[futures[future]] = future.result()
            _done(futures[future], len(results), len(points), start)
            _write_campaign(folder, points, results, plan)
    except BaseException:
        client.cancel([*futures, *prefixes.values()])
        raise


def run_remote(
    experiment: Workflow,
    out: str | os.PathLike[str],
    client: Any,
    *,
    device: str | torch.device = "cpu",
    stage: str | None = None,
) -> dict[str, Any]:
    """Run one experiment as a task on the cluster of ``client`` (its long stages' units as
    further tasks).

    Parameters
    ----------
    experiment : Workflow
        The experiment's settings.
    out : path-like
        The run folder, which the workers must reach at the same path.
    client : dask.distributed.Client
        The cluster to run on.
    device : str or torch.device
        Where the task computes, on its worker (default ``"cpu"``).
    stage : str, optional
        Run (or redo) only this stage; None (default): every unfinished stage.

    Returns
    -------
    dict
        Its metrics, as :func:`fast.runs.runner.run_experiment` returns them.
    """
    folder = str(runio.prepare_run_folder(out))
    client.subscribe_topic(PROGRESS_TOPIC, _progress)
    future = client.submit(point_task, Point("", {}), experiment, folder, str(device), False,
                           None, None, [], stage, key=f"run {folder}", pure=False)  # fmt: skip
    result: dict[str, Any] = future.result()
    return result


PROGRESS_TOPIC = "holstein-progress"
"""The Dask event topic on which units report that they are done."""


def _progress(event: tuple[float, Any]) -> None:
    message = event[1]
    log.info("unit %s done in %.0f s", message["unit"], message["seconds"])


def point_task(
    point: Point,
    experiment: Workflow,
    folder: str,
    device: str,
    progress: bool,
    share: tuple[str, str] | None = None,
    until: str | None = None,
    after: Sequence[Any] = (),
    stage: str | None = None,
    priority: int = 0,
) -> dict[str, Any]:
    """Run one point (its stages up to ``until``) in its own folder, with its own lock, and
    return its metrics: what a Dask worker executes. On a worker, its stages' units become
    tasks of their own (:func:`dask_units`) with the point's Dask ``priority``.

    Parameters
    ----------
    point : Point
        The point; an empty name marks a single run (:func:`run_remote`), whose errors are
        not renamed.
    experiment : Workflow
        The point's settings.
    folder : str
        The point's run folder.
    device : str
        Where it computes.
    progress : bool
        Show progress bars.
    share : (str, str), optional
        ``(leader folder, last stage)`` to take from the leader (:func:`plan_sharing`);
        None (default): nothing shared.
    until : str, optional
        Stop after this stage; None (default): run to the last.
    after : sequence
        The Dask futures this task waits for (Dask resolves them before it runs; their
        values are unused). Default: none.
    stage : str, optional
        Run (or redo) only this stage; None (default): every unfinished stage.
    priority : int
        Dask priority of the point's units (higher runs first; default 0).

    Returns
    -------
    dict
        The point's metrics (:func:`fast.runs.runner.run_experiment`).

    Raises
    ------
    ValueError
        Naming the point, if it fails with a ``ValueError`` or ``OSError``.
    """
    del after
    worker_threads()
    executor: Executor = (
        functools.partial(dask_units, priority=priority) if _on_worker() else sequential
    )
    try:
        with unit_executor(executor):
            return run_experiment(experiment, folder, device=device, progress=progress,
                                  stage=stage, until=until, share=share)  # fmt: skip
    except (ValueError, OSError) as exc:
        if not point.name:
            raise
        raise ValueError(f"sweep point {point.name!r} failed: {exc}") from exc


def _on_worker() -> bool:
    try:
        from distributed import get_worker
    except ImportError:
        return False
    try:
        get_worker()
    except ValueError:
        return False
    return True


def dask_units(units: Sequence[Unit], priority: int = 0) -> list[Any]:
    """The executor of units on Dask (:func:`fast.runs.units.unit_executor`): each unit a
    task keyed by its folder, submitted from the task that runs the stage (which leaves its
    worker's thread while it waits, so the worker can take a unit).

    Parameters
    ----------
    units : sequence of Unit
        The stage's units.
    priority : int
        Dask priority of their tasks (higher runs first; default 0).

    Returns
    -------
    list
        The units' results, in their order.
    """
    from distributed import worker_client

    with worker_client() as client:
        futures = [client.submit(unit_task, unit, key=f"unit {unit.key}", pure=False,
                                 priority=priority) for unit in units]  # fmt: skip
        return list(client.gather(futures))


def unit_task(unit: Unit) -> Any:
    """One unit on a worker: its threads set, then run; reports when done.

    Parameters
    ----------
    unit : Unit
        The unit to run.

    Returns
    -------
    Any
        What the unit returns.
    """
    worker_threads()
    start = time.perf_counter()
    result = unit()
    seconds = time.perf_counter() - start
    with contextlib.suppress(ValueError, ImportError):
        from distributed import get_worker

        get_worker().log_event(PROGRESS_TOPIC, {"unit": unit.key, "seconds": seconds})
    return result


def campaign_report(
    points: Sequence[tuple[Point, Workflow]], results: Mapping[str, Any], folder: Path
) -> str:
    """``report.md`` of a campaign: one row per point with its swept values and its run's
    one-line summary (:meth:`fast.runs.runner.Workflow.summary`), then each workflow's
    summary of its points side by side (:meth:`Workflow.campaign_summary`), its figures
    in ``<folder>/figures``.

    Parameters
    ----------
    points : sequence of (Point, Workflow)
        The campaign's points.
    results : mapping of str to dict
        The metrics of the finished points, by point name (others are "not finished").
    folder : Path
        The campaign folder (points under ``points/``).

    Returns
    -------
    str
        The Markdown text, ending with a newline.
    """
    swept = sorted({k for p, _ in points for k in p.values})
    lines = [
        f"# Campaign of {len(points)} points",
        "",
        "Each point is a run folder under `points/`, with its own `report.md`.",
        "",
        "| point | " + " | ".join(swept) + " | result |",
        "|" + "---|" * (len(swept) + 2),
    ]
    for point, experiment in points:
        metrics = results.get(point.name)
        summary = experiment.summary(metrics) if metrics else "not finished"
        values = " | ".join(_label(point.values.get(k, "")) for k in swept)
        lines.append(f"| `{point.name}` | {values} | {summary} |")
    by_kind: dict[str, list[tuple[Point, Workflow]]] = {}
    for point, experiment in points:
        by_kind.setdefault(experiment.kind, []).append((point, experiment))
    for group in by_kind.values():
        entries = [
            CampaignEntry(p.name, dict(p.values), folder / "points" / p.name, results.get(p.name))
            for p, _ in group
        ]
        lines += ["", group[0][1].campaign_summary(entries, folder)]
    return "\n".join(lines) + "\n"


def _write_campaign(
    folder: Path,
    points: Sequence[tuple[Point, Workflow]],
    results: Mapping[str, Any],
    plan: Mapping[str, tuple[str, str]],
) -> None:
    runio.write_json(
        folder / CAMPAIGN_FILE,
        {
            "points": [
                {
                    "name": p.name,
                    "values": p.values,
                    "kind": e.kind,
                    "finished": p.name in results,
                    "shares": dict(zip(("from", "until"), plan[p.name], strict=True))
                    if p.name in plan
                    else None,
                }
                for p, e in points
            ]
        },
    )
