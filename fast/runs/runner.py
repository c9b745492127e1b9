"""The generic runner: an experiment file's stages in a run folder, each done once.

A workflow (:class:`Workflow`) is a frozen attrs class of settings sections that declares its
:class:`Stage` list: each stage's name, the settings sections its results depend on, the files
it writes and the function that runs it. The runner knows no workflow, no file name and no
metrics key:

* :func:`load_settings` reads an experiment file into the workflow its ``[experiment] kind``
  names (the mapping of kinds to workflows is given by the caller: :mod:`fast.runs.registry`);
* :func:`preflight` checks, before any work, that every finished stage in the folder was made
  with the same settings (``stages.json`` holds a fingerprint of each), that a requested stage
  has what it needs, and whatever the workflow checks of the folder itself
  (:meth:`Workflow.check_folder`, e.g. that a model file belongs to this experiment);
* :func:`run_experiment` takes the folder's lock (:func:`reference.runio.lock_folder`: one
  run per folder), clears what a killed run left behind, runs the checks above and the
  memory estimate of the stages to run (:func:`check_memory`), then runs the unfinished
  stages in order, recording each when done (its files synced to the disk first).

Asking for a finished stage again redoes it: its outputs and those of every later stage are
deleted first, so nothing stale survives.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import logging
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import attrs
import torch

from fast.ml.provenance import on_device
from fast.ml.provenance import provenance as file_provenance
from fast.runs.units import UNITS_FOLDER
from reference import runio

__all__ = [
    "Estimable",
    "MemoryNeed",
    "Stage",
    "StageFunction",
    "TimeNeed",
    "Workflow",
    "adopt_stages",
    "available_memory",
    "check_memory",
    "fingerprint",
    "load_settings",
    "parse_settings",
    "preflight",
    "provenance",
    "read_experiment_file",
    "run_experiment",
    "settings_fingerprint",
    "with_settings",
]

log = logging.getLogger("fast.runs")

StageFunction = Callable[[Any, Path, torch.device, bool], None]
"""``run(experiment, folder, device, progress)``: does the stage's work in ``folder``."""

STAGES_FILE = "stages.json"
"""The finished stages and the fingerprint of the settings each was made with."""
SETTINGS_FILE = "experiment.json"
"""The experiment's settings and derived quantities, rewritten by every run, with the
provenance of the last run (:func:`provenance`)."""
LOG_FILE = "run.log"
"""Every run's log lines (those of the console and each training epoch), with times,
appended run after run."""
METRICS_FILE = "metrics.json"
"""What a workflow's last stage writes: the run's results, returned by :func:`run_experiment`
and read by :meth:`Workflow.summary` (the one file the runner and workflows agree on)."""


@attrs.frozen
class Stage:
    """One step of a workflow.

    Attributes
    ----------
    name : str
    depends : tuple of str
        The settings sections the stage's results depend on: its own and those of the stages
        before it (a change in any of them makes the stage stale).
    outputs : tuple of str
        What the stage writes in the run folder, work in progress included: file and folder
        names, or glob patterns (``"figures/*.png"``). Redoing the stage deletes them.
    run : StageFunction
    discard_when_done : tuple of str
        Files deleted once the stage is recorded as done (a training checkpoint: it must
        survive a kill until then).
    """

    name: str
    depends: tuple[str, ...]
    outputs: tuple[str, ...]
    run: StageFunction
    discard_when_done: tuple[str, ...] = ()


class Workflow(Protocol):
    """What the runner needs of an experiment: its settings and its stages."""

    STAGES: ClassVar[tuple[Stage, ...]]

    @property
    def name(self) -> str:
        """The experiment's name (``[experiment] name``)."""
        ...

    @property
    def kind(self) -> str:
        """The workflow's key in the registry (``[experiment] kind``)."""
        ...

    @property
    def seed(self) -> int:
        """The seed of every stage (``[experiment] seed``)."""
        ...

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` next to the settings.

        Returns
        -------
        dict
            JSON-ready values by name (e.g. time steps in physical units).
        """
        ...

    def check_folder(self, folder: Path, redone: Sequence[str]) -> None:
        """Raise ``ValueError`` if a file in ``folder`` belongs to another experiment.

        Parameters
        ----------
        folder : Path
            The run folder.
        redone : sequence of str
            Names of the stages about to be redone: their files do not count.

        Raises
        ------
        ValueError
            Naming the file and what to do.
        """
        ...

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line about the finished run, from its ``metrics.json``.

        Parameters
        ----------
        metrics : mapping
            The contents of the run folder's ``metrics.json`` (what :func:`run_experiment`
            returns).

        Returns
        -------
        str
            A line for the console.
        """
        ...

    def memory_estimate(self) -> dict[str, MemoryNeed]:
        """The memory each stage needs at its peak, by stage name: checked against the
        device before any work (:func:`check_memory`).

        Returns
        -------
        dict of str to MemoryNeed
            By stage name; stages that need little may be left out.
        """
        ...

    def campaign_summary(self, entries: Sequence[Any], folder: Path) -> str:
        """Markdown for a campaign's ``report.md`` that puts its points of this workflow
        side by side.

        Parameters
        ----------
        entries : sequence of fast.runs.report.CampaignEntry
            One per point of the campaign of this workflow.
        folder : Path
            The campaign folder; figures are written to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown (headings, tables, figure links relative to ``folder``).
        """
        ...


@attrs.frozen
class MemoryNeed:
    """What a stage holds in memory at its peak: ``bytes`` for ``what`` (the arrays, and the
    settings that size them, so that a refusal says what to lower)."""

    bytes: float
    what: str


@attrs.frozen
class TimeNeed:
    """A stage's run time on a device, estimated from a short measured probe: ``seconds``
    for ``what`` (the work and the measured rate, so that a long estimate says what to
    lower)."""

    seconds: float
    what: str


@runtime_checkable
class Estimable(Protocol):
    """A workflow that can estimate its stages' run times (``holstein run --dry-run``)."""

    def time_estimate(self, device: torch.device) -> dict[str, TimeNeed]:
        """The run time of each stage it can estimate, from a probe of a few seconds at
        most.

        Parameters
        ----------
        device : torch.device
            Where the probe runs (and the run would).

        Returns
        -------
        dict of str to TimeNeed
            By stage name; stages it cannot estimate are left out.
        """
        ...


def available_memory(device: torch.device) -> float:
    """Bytes a run can still allocate: free memory of a CUDA device, else the system's
    available memory (``MemAvailable`` of ``/proc/meminfo``, or physical memory).

    Parameters
    ----------
    device : torch.device
        The run's device.

    Returns
    -------
    float
        Bytes.
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def check_memory(experiment: Workflow, stages: Sequence[str], device: torch.device) -> None:
    """Refuse, before any work, a run whose stages would not fit in the device's memory.

    Parameters
    ----------
    experiment : Workflow
        Gives the estimates (:meth:`Workflow.memory_estimate`).
    stages : sequence of str
        The names of the stages about to run.
    device : torch.device
        The run's device (:func:`available_memory`).

    Raises
    ------
    ValueError
        Naming the stage, its estimate, what it is for and the memory available.
    """
    needs = experiment.memory_estimate()
    available = available_memory(device)
    for name in stages:
        need = needs.get(name)
        if need is not None and need.bytes > available:
            raise ValueError(
                f"stage '{name}' needs about {_size(need.bytes)} for {need.what}, more than the "
                f"{_size(available)} available on {device}; make those settings smaller"
            )


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def settings_fingerprint(experiment: object, sections: Sequence[str]) -> str:
    """SHA-256 of the named settings sections of an attrs ``experiment``.

    Parameters
    ----------
    experiment : attrs instance
        The settings (a workflow's, or a campaign's).
    sections : sequence of str
        Names of its fields (settings sections) to hash, as sorted-key JSON.

    Returns
    -------
    str
        Hexadecimal digest.
    """
    values = runio.to_jsonable(attrs.asdict(experiment))  # type: ignore[arg-type]
    text = json.dumps({k: values[k] for k in sections}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(experiment: Workflow, stage: str) -> str:
    """SHA-256 of the settings ``stage`` of ``experiment`` depends on.

    Parameters
    ----------
    experiment : Workflow
        The experiment's settings.
    stage : str
        The name of one of its stages (its :attr:`Stage.depends` are hashed).

    Returns
    -------
    str
        Hexadecimal digest (:func:`settings_fingerprint`).

    Raises
    ------
    ValueError
        If ``stage`` names no stage of the workflow.
    """
    return settings_fingerprint(experiment, _stage(experiment, stage).depends)


def _names(experiment: Workflow) -> list[str]:
    return [s.name for s in experiment.STAGES]


def _stage(experiment: Workflow, name: str) -> Stage:
    for stage in experiment.STAGES:
        if stage.name == name:
            return stage
    raise ValueError(f"stage must be one of {_names(experiment)}, got {name!r}")


# ============================================================================ settings


def with_settings(
    data: Mapping[str, Any], values: Mapping[str, Any], source: str = "--set"
) -> dict[str, Any]:
    """A copy of an experiment file's tables ``data`` with the dotted ``values`` put in.

    Parameters
    ----------
    data : mapping
        The parsed file: tables by name.
    values : mapping
        Settings by dotted path, ``"section.key"`` (e.g. ``"langevin.dt_omega"`` or
        ``"experiment.seed"``): each replaces that key of that table, or adds it.
    source : str
        Where the values come from, for the error message (``--set``, the default, or
        ``[sweep]``).

    Returns
    -------
    dict
        The new tables; ``data`` is left as it was.

    Raises
    ------
    ValueError
        Naming ``source`` and the path, for a path that is not ``section.key``.
    """
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    for path, value in values.items():
        section, _, key = path.partition(".")
        table = out.setdefault(section, {})
        if not section or not key or not isinstance(table, dict) or "." in key:
            raise ValueError(
                f"{source} {path!r} does not name a setting of a settings section "
                "(section.key, e.g. langevin.dt_omega)"
            )
        table[key] = value
    return out


def read_experiment_file(
    path: str | os.PathLike[str], settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The tables of an experiment file, with the command line's ``settings`` (dotted
    paths, :func:`with_settings`) put in.

    Parameters
    ----------
    path : path-like
        The TOML file.
    settings : mapping, optional
        ``--set`` values by dotted path; checked later with the file's own. None (default):
        none.

    Returns
    -------
    dict
        Tables by name.

    Raises
    ------
    ValueError
        Naming the file, if it does not exist or is not UTF-8 TOML; naming a ``--set``
        path that is not ``section.key``.
    """
    where = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8")
        return with_settings(tomllib.loads(text), settings or {})
    except FileNotFoundError:
        raise ValueError(f"experiment file {where!r} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"experiment file {where!r} is a directory") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"experiment file {where!r} is not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{where!r} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"{where!r} is nested too deeply to be an experiment file") from None


def load_settings(
    path: str | os.PathLike[str],
    workflows: Mapping[str, type[Any]],
    overrides: Mapping[str, Any] | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Read an experiment file into the workflow class its ``[experiment] kind`` names
    (:func:`parse_settings`), with the dotted ``settings`` of ``--set`` put in
    (:func:`with_settings`); a file with a ``[sweep]`` table is a campaign, read by
    :func:`fast.runs.campaign.load_campaign`. A ``[cluster]`` table is ignored
    (:func:`fast.runs.clusters.read_cluster` reads it).

    Parameters
    ----------
    path : path-like
        The experiment file (TOML).
    workflows : mapping of str to type
        Workflow classes by ``[experiment] kind`` (:data:`fast.runs.registry.WORKFLOWS`).
    overrides : mapping, optional
        Replace ``[experiment]`` keys (e.g. ``seed``); ``None`` values are ignored. None
        (default): none.
    settings : mapping, optional
        Settings by dotted path (``--set``). None (default): none.

    Returns
    -------
    Workflow
        An instance of the class of its kind.

    Raises
    ------
    ValueError
        One line naming the file and every unknown kind, section or key and every invalid
        value; also for a file that is not UTF-8 TOML, or names no kind.
    """
    data = read_experiment_file(path, settings)
    data.pop("cluster", None)  # where it runs, not what: fast.runs.clusters.read_cluster
    if "sweep" in data:
        raise ValueError(
            f"{os.fspath(path)!r} has a [sweep] table: it is a campaign of many runs "
            "(python -m fast run reads it as one)"
        )
    return parse_settings(data, workflows, os.fspath(path), overrides)


def parse_settings(
    data: Mapping[str, Any],
    workflows: Mapping[str, type[Any]],
    where: str,
    overrides: Mapping[str, Any] | None = None,
) -> Any:
    """The workflow settings of an experiment file's tables ``data`` (read from ``where``).

    ``[experiment]`` holds ``name``, ``kind`` (required) and ``seed``; every other table is
    a settings section of the workflow.

    Parameters
    ----------
    data : mapping
        The file's tables by name (a ``[cluster]`` or ``[sweep]`` table already removed).
    workflows : mapping of str to type
        Workflow classes by ``[experiment] kind``.
    where : str
        Where the tables come from (the file's path), for error messages.
    overrides : mapping, optional
        Replace ``[experiment]`` keys; ``None`` values are ignored. None (default): none.

    Returns
    -------
    Workflow
        An instance of the class of its kind, every value validated.

    Raises
    ------
    ValueError
        One line naming ``where`` and every unknown kind, section or key and every invalid
        value.
    """
    data = dict(data)
    head = data.pop("experiment", {})
    if not isinstance(head, dict):
        raise ValueError(f"[experiment] must be a table in {where!r}")
    loose = [k for k, v in data.items() if not isinstance(v, dict)]
    if loose:
        raise ValueError(
            f"keys {sorted(loose)} in {where!r} belong in a table ([experiment] or a "
            "settings section)"
        )
    values = {**data, **head, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    kind = values.get("kind")
    if kind is None:
        raise ValueError(
            f"{where!r} names no workflow: give [experiment] kind, one of {sorted(workflows)}"
        )
    if not isinstance(kind, str) or kind not in workflows:
        raise ValueError(f"kind must be one of {sorted(workflows)} in {where!r}, got {kind!r}")
    cls = workflows[kind]
    sections = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(values) - sections)
    if unknown:
        raise ValueError(f"unknown settings {unknown} in {where!r}; allowed: {sorted(sections)}")
    return runio.structure(values, cls, f"experiment {where!r}")


# ============================================================================ run folder


def _read_stages(folder: Path) -> dict[str, str]:
    path = folder / STAGES_FILE
    if not path.exists():
        return {}
    with runio.reading(path, "record of finished stages", "delete it to redo every stage"):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise TypeError("expected a JSON object of stage names and fingerprints")
    return {str(k): str(v) for k, v in data.items()}


def _remove_orphans(experiment: Workflow, folder: Path) -> None:
    """Remove what a killed run can leave behind: temporary files, a work-in-progress folder
    whose finished file exists (a kill between the final rename and the folder's removal),
    staging folders, and the files a finished stage discards (a kill before the discard).

    Called with the folder's lock held, so every such file is a dead writer's; the units'
    folders (:data:`fast.runs.units.UNITS_FOLDER`) have locks of their own, and each unit
    cleans its own."""
    for tmp in folder.rglob(runio.TEMPORARY):
        if UNITS_FOLDER not in tmp.relative_to(folder).parts[:1]:
            tmp.unlink(missing_ok=True)
    for staging in folder.glob("*.partial.new-*"):
        shutil.rmtree(staging, ignore_errors=True)
    for partial in folder.glob("*.partial"):
        if partial.is_dir() and partial.with_name(partial.name[: -len(".partial")]).exists():
            shutil.rmtree(partial)
    done = _read_stages(folder)
    for stage in experiment.STAGES:
        if stage.name in done:
            for file in stage.discard_when_done:
                (folder / file).unlink(missing_ok=True)


def _later(experiment: Workflow, stage: str, include: bool) -> list[str]:
    names = _names(experiment)
    start = names.index(stage) + (0 if include else 1)
    return names[start:]


def _forget(experiment: Workflow, folder: Path, stage: str) -> None:
    """Delete the outputs of ``stage`` and of every later stage, and their records."""
    later = _later(experiment, stage, include=True)
    for name in later:
        for pattern in _stage(experiment, name).outputs:
            for path in folder.glob(pattern):
                if path.is_dir():  # a run or dataset in progress
                    shutil.rmtree(path)
                else:
                    path.unlink(missing_ok=True)
    done = {k: v for k, v in _read_stages(folder).items() if k not in later}
    runio.write_json(folder / STAGES_FILE, done)


def _mark_done(experiment: Workflow, folder: Path, stage: str) -> None:
    """Record ``stage`` as finished and forget the later stages, which it made stale."""
    later = _later(experiment, stage, include=False)
    done = {k: v for k, v in _read_stages(folder).items() if k not in later}
    runio.write_json(folder / STAGES_FILE, done | {stage: fingerprint(experiment, stage)})


def preflight(experiment: Workflow, folder: Path, stage: str | None) -> list[str]:
    """Check everything that can be checked before work starts; return the stages to run.

    Parameters
    ----------
    experiment : Workflow
        The experiment's settings.
    folder : Path
        The run folder (its ``stages.json`` records the finished stages).
    stage : str or None
        The one stage requested (redone if finished); None: every unfinished stage.

    Returns
    -------
    list of str
        The stages to run, in order: ``[stage]``, or every unfinished one.

    Raises
    ------
    ValueError
        If ``stage`` is not a stage of the workflow, if a finished stage (other than
        ``stage``, which is redone, and the later ones it makes stale) was made with other
        settings, if ``stage`` needs an unfinished earlier stage, or if the workflow finds a
        file of another experiment in the folder (:meth:`Workflow.check_folder`).
    """
    names = _names(experiment)
    if stage is not None and stage not in names:
        raise ValueError(f"stage must be one of {names}, got {stage!r}")
    done = _read_stages(folder)
    redone = _later(experiment, stage, include=True) if stage is not None else []
    for name, recorded in done.items():
        if name in redone or name not in names:
            continue  # redone on request, or made stale by the redo
        if fingerprint(experiment, name) != recorded:
            raise ValueError(
                f"{str(folder)!r} holds a '{name}' stage made with other settings "
                f"(sections {', '.join(_stage(experiment, name).depends)}); use a new --out"
            )
    experiment.check_folder(folder, redone)
    if stage is None:
        return [s for s in names if s not in done]
    missing = [s for s in names[: names.index(stage)] if s not in done]
    if missing:
        raise ValueError(f"stage '{stage}' needs {missing} first (run without --stage)")
    return [stage]


def provenance(device: torch.device) -> dict[str, Any]:
    """Where and with what a run ran (:func:`fast.ml.provenance.provenance`), its time
    under ``started``.

    Parameters
    ----------
    device : torch.device
        The run's device.

    Returns
    -------
    dict
        Package version, git commit (from a checkout), Python, torch and NumPy versions,
        device and its name, threads, host and the start time.
    """
    record = file_provenance(device)
    record["started"] = record.pop("time")
    return record


@contextlib.contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """Append the log lines of :mod:`fast` and :mod:`reference` (INFO, and each training
    epoch at DEBUG) to ``path``, with times, for the ``with`` block. The loggers' own levels
    are opened to DEBUG for it; what the console shows is up to its own handler's level."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in ("fast", "reference")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


def run_experiment(
    experiment: Workflow,
    out: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    stage: str | None = None,
    progress: bool = True,
    until: str | None = None,
    share: tuple[str | os.PathLike[str], str] | None = None,
) -> dict[str, Any]:
    """Run the unfinished stages of ``experiment`` (or only ``stage``) in the folder ``out``.

    Parameters
    ----------
    experiment : Workflow
        The experiment's settings.
    out : path-like
        The run folder (created if needed; locked while the run lasts).
    device : str or torch.device
        Where the stages compute (default ``"cpu"``).
    stage : str, optional
        On a finished stage: redo it (its outputs and those of every later stage are
        deleted first). On an unfinished stage: run (or resume) it. None (default): every
        unfinished stage.
    progress : bool
        Show progress bars (default True).
    until : str, optional
        Stop after this stage. None (default): run to the last stage.
    share : (path-like, str), optional
        ``(folder, last)``: first take the finished stages up to ``last`` from the run
        folder ``folder`` of equal settings for them (:func:`adopt_stages`) instead of
        computing them again. None (default): compute everything here.

    Returns
    -------
    dict
        The contents of ``metrics.json`` when the last stage is current (made by this call,
        or nothing was left to do), else ``{}``.

    Raises
    ------
    ValueError
        If the device is not available, ``until`` or ``stage`` names no stage, or the
        checks of :func:`preflight` and :func:`check_memory` fail.
    """
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device {str(device)!r} is not available: {exc}") from None
    if until is not None:
        _stage(experiment, until)
    folder = runio.prepare_run_folder(out)
    with runio.lock_folder(folder), _logging_to(folder / LOG_FILE), on_device(dev):
        _remove_orphans(experiment, folder)
        if share is not None:
            adopt_stages(experiment, folder, Path(share[0]), share[1])
        return _run_locked(experiment, folder, dev, stage, progress, until)


def adopt_stages(experiment: Workflow, folder: Path, source: Path, last: str) -> list[str]:
    """Take the stages up to ``last`` from the run folder ``source`` into ``folder`` (whose
    lock the caller holds): their output files are linked (copied across filesystems) and
    the stages recorded as done. Only stages that ``source`` finished with the fingerprint
    ``experiment`` gives them are taken, and none that ``folder`` already records (done or
    made with other settings: :func:`preflight` judges those).

    Output files are never changed in place (every writer renames a new file over the
    old), so a link is as good as a copy.

    Parameters
    ----------
    experiment : Workflow
        The experiment's settings (the fingerprints the stages must have).
    folder : Path
        The run folder taking the stages.
    source : Path
        Another run folder.
    last : str
        The last stage to take (stages are taken in order, up to the first that ``source``
        has not finished with the same fingerprint).

    Returns
    -------
    list of str
        The stages taken, in order.
    """
    names = _names(experiment)
    theirs, ours = _read_stages(source), _read_stages(folder)
    taken: list[str] = []
    for name in names[: names.index(last) + 1]:
        if name in ours:
            continue
        if theirs.get(name) != fingerprint(experiment, name):
            break
        current = _stage(experiment, name)
        for pattern in current.outputs:
            for path in sorted(source.glob(pattern)):
                if path.is_file() and path.name not in current.discard_when_done:
                    _link(path, folder / path.relative_to(source))
        taken.append(name)
    if taken:
        runio.fsync_path(folder)
        runio.write_json(folder / STAGES_FILE, ours | {n: theirs[n] for n in taken})
        log.info("took stages %s from %s (same settings)", taken, source)
    return taken


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}-link.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:  # another filesystem, or links not allowed
        shutil.copyfile(source, tmp)
        runio.fsync_path(tmp)
    os.replace(tmp, target)


def _run_locked(
    experiment: Workflow,
    folder: Path,
    dev: torch.device,
    stage: str | None,
    progress: bool,
    until: str | None = None,
) -> dict[str, Any]:
    """:func:`run_experiment` in the folder whose lock this process holds."""
    todo = preflight(experiment, folder, stage)
    if until is not None:
        names = _names(experiment)
        todo = [name for name in todo if names.index(name) <= names.index(until)]
    check_memory(experiment, todo, dev)
    settings = attrs.asdict(experiment) | experiment.derived()  # type: ignore[arg-type]
    started = provenance(dev)
    runio.write_json(folder / SETTINGS_FILE, settings | {"provenance": started})
    if stage is not None and stage in _read_stages(folder):
        log.info("redoing stage %s: deleting its outputs and those of the later stages", stage)
        _forget(experiment, folder, stage)
    for name in todo:
        log.info("stage %s", name)
        start = time.perf_counter()
        current = _stage(experiment, name)
        current.run(experiment, folder, dev, progress)
        runio.fsync_path(folder)  # every output was synced as written (runio.atomic_write)
        _mark_done(experiment, folder, name)
        for file in current.discard_when_done:  # only now: a kill before the mark loses nothing
            (folder / file).unlink(missing_ok=True)
        log.info("stage %s done in %.1f s", name, time.perf_counter() - start)
    ended = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    runio.write_json(folder / SETTINGS_FILE,
                     settings | {"provenance": started | {"ended": ended}})  # fmt: skip
    metrics = folder / METRICS_FILE
    if _names(experiment)[-1] not in todo and todo:
        return {}  # the metrics on disk (if any) predate what this call did
    if not metrics.exists():
        return {}
    with runio.reading(metrics, "metrics file", "redo the last stage with --stage"):
        return dict(json.loads(metrics.read_text()))
