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
with every point's settings and metrics, and ``<out>/report.md`` with one row per point.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
import torch

from fast.runs.registry import WORKFLOWS
from fast.runs.runner import (
    METRICS_FILE,
    Workflow,
    parse_settings,
    read_experiment_file,
    run_experiment,
)
from reference import runio

__all__ = [
    "SWEEP_MODES",
    "THREADS_VARIABLE",
    "Point",
    "campaign_report",
    "dask_client",
    "expand_sweep",
    "load_campaign",
    "run_campaign",
    "run_point",
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


def _with_values(data: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the parsed file ``data`` with the dotted ``values`` put in."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for path, value in values.items():
        section, _, key = path.partition(".")
        table = out.setdefault(section, {})
        if not isinstance(table, dict) or "." in key:
            raise ValueError(f"[sweep] {path!r} does not name a setting of a settings section")
        table[key] = value
    return out


def load_campaign(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> list[tuple[Point, Workflow]]:
    """Read an experiment file with a ``[sweep]`` into its points, each loaded and checked.

    Raises
    ------
    ValueError
        One line naming the file, the point and the setting, for any point whose settings
        are invalid (and for a bad ``[sweep]`` table).
    """
    where = os.fspath(path)
    data = read_experiment_file(path)
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
                _with_values(data, point.values), WORKFLOWS, where, overrides
            )
        except ValueError as exc:
            raise ValueError(f"sweep point {point.name!r}: {exc}") from None
        points.append((point, experiment))
    return points


def run_point(
    experiment: Workflow, folder: str, device: str, progress: bool = False
) -> dict[str, Any]:
    """Run one point in its own folder (with its own lock) and return its metrics; what a
    Dask worker executes."""
    return run_experiment(experiment, folder, device=device, progress=progress)


def run_campaign(
    points: Sequence[tuple[Point, Workflow]],
    out: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    submit: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Run every point in ``<out>/points/<name>/`` and gather their metrics.

    Points run one after the other in this process, or, with ``submit`` (the ``submit``
    method of a :class:`dask.distributed.Client`), as one task each on the cluster; a
    finished point is not recomputed (its stages are skipped). The points' settings and
    metrics go to ``<out>/campaign.json`` and ``<out>/metrics.json``.

    Raises
    ------
    ValueError
        Naming the point, if a point fails; the finished points' work is kept.
    """
    folder = runio.prepare_run_folder(out)
    results: dict[str, Any] = {}
    with runio.lock_folder(folder):
        (folder / "points").mkdir(exist_ok=True)
        _write_campaign(folder, points, results)
        targets = {p.name: str(folder / "points" / p.name) for p, _ in points}
        if submit is None:
            for point, experiment in points:
                log.info("campaign: point %s", point.name)
                results[point.name] = _guarded(point, experiment, targets[point.name],
                                               str(device), progress)  # fmt: skip
                _write_campaign(folder, points, results)
        else:
            futures = {
                p.name: submit(
                    _guarded,
                    p,
                    e,
                    targets[p.name],
                    str(device),
                    False,
                    key=f"point-{p.name}",
                    pure=False,
                )
                for p, e in points
            }
            for name, future in futures.items():
                results[name] = future.result()
                _write_campaign(folder, points, results)
        runio.write_json(folder / METRICS_FILE, {"points": results})
        report = campaign_report(points, results)
        runio.atomic_write(folder / REPORT_FILE, lambda p: p.write_text(report))
    return results


def campaign_report(points: Sequence[tuple[Point, Workflow]], results: Mapping[str, Any]) -> str:
    """``report.md`` of a campaign: one row per point with its swept values and its run's
    one-line summary (the workflow's own, :meth:`fast.runs.runner.Workflow.summary`)."""
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
    return "\n".join(lines) + "\n"


THREADS_VARIABLE = "HOLSTEIN_THREADS"
"""Environment variable with the torch threads of one campaign task (set per Dask worker)."""


def _guarded(
    point: Point, experiment: Workflow, folder: str, device: str, progress: bool
) -> dict[str, Any]:
    threads = os.environ.get(THREADS_VARIABLE)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        return run_point(experiment, folder, device, progress)
    except (ValueError, OSError) as exc:
        raise ValueError(f"sweep point {point.name!r} failed: {exc}") from exc


def dask_client(scheduler: str | None, workers: int) -> Any:
    """A :class:`dask.distributed.Client`: connected to the scheduler at ``scheduler``, or
    to a new :class:`dask.distributed.LocalCluster` of ``workers`` processes that share the
    machine's cores (each worker runs one task at a time, with ``cores // workers`` torch,
    OpenMP, MKL and OpenBLAS threads, set before any work).

    Raises
    ------
    ValueError
        If the scheduler cannot be reached, or ``workers`` is not positive.
    """
    # Dask's start-up chatter (INFO) off unless the user configured its logging
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError(
            "--workers and --scheduler need dask.distributed: "
            "pip install 'holstein-mlff[distributed]'"
        ) from None
    if scheduler is not None:
        try:
            return Client(scheduler, timeout="10s")  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError) as exc:
            raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env = {name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                      "OPENBLAS_NUM_THREADS", THREADS_VARIABLE)}  # fmt: skip
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, env=env,
                           dashboard_address=":0")  # type: ignore[no-untyped-call]  # fmt: skip
    return Client(cluster)  # type: ignore[no-untyped-call]


def _write_campaign(
    folder: Path, points: Sequence[tuple[Point, Workflow]], results: Mapping[str, Any]
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
                }
                for p, e in points
            ]
        },
    )
