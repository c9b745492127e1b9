"""The command line of the toolkit: ``holstein`` (or ``python -m fast``), the top layer.

``holstein run EXPERIMENT --out DIR [--device cuda] [--seed 1] [--stage train] [--set S=V]``
    runs an experiment's stages (for the papers' workflows: dataset, train, simulate,
    analyse, report), skipping finished ones. ``EXPERIMENT`` is a TOML file or the name of
    a shipped one (``holstein list``). ``[experiment] kind`` picks the workflow
    (:data:`fast.runs.registry.WORKFLOWS`): ``quench`` (papers 002-004,
    :mod:`fast.runs.quench`), ``voltage`` (paper 001, :mod:`fast.runs.voltage`), ``laser``
    (paper 000, :mod:`fast.runs.laser`) or ``coarsening`` (:mod:`fast.runs.coarsening`).
    ``--set section.key=value`` (repeatable) replaces a setting of the file, checked like
    the file's own (the value is read as TOML, else as text). ``--dry-run`` checks
    everything, prints each stage's state, memory and (where the workflow can) an estimate
    of its time from a probe of about a second, and exits (:mod:`fast.runs.dryrun`). A file
    with a ``[sweep]`` table is a campaign of many runs (:mod:`fast.runs.campaign`);
    ``--workers N``, ``--cluster local|slurm|pbs`` (or the file's ``[cluster]`` table) and
    ``--scheduler ADDRESS`` run it, or a single experiment, on Dask.
``holstein demo [--out runs/demo]``
    runs the shipped ``demo.toml``: a small quench trained and simulated end to end in a few
    minutes on a laptop CPU.
``holstein init KIND [--size small|cpu|paper] [--out FILE]``
    writes a commented experiment file for a workflow (small by default) to edit and run.
``holstein list``
    lists the shipped experiment files.
``holstein check [--device cuda] [--seeds 3]``
    runs the equivalence registry (every registered fast/reference pair) on your device
    and prints the largest deviation of each against its tolerance. Exit status 1 if any
    case fails.
``holstein --version``
    prints the version.

Every failure gives one ``error:`` line naming the file or setting and what to do, and exit
status 2: a malformed experiment file, a run folder made with other settings or in use by
another run, settings too large for the device's memory, an unavailable device, an
unwritable folder or full disk, a damaged file. An unexpected error (a bug) gives exit status
1; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch


def check(device: str, seeds: int, pattern: str | None) -> int:
    """Run the registry; print a table; return the number of failures.

    Parameters
    ----------
    device : str
        The torch device the fast side runs on (e.g. ``"cpu"``, ``"cuda"``).
    seeds : int
        Random inputs per case (>= 1).
    pattern : str or None
        Run only cases whose name contains this text; None: every case.

    Returns
    -------
    int
        The number of cases that failed or raised.
    """
    from fast._registry import CASES, compare

    dev = torch.device(device)
    print(f"fast check on {dev} (torch {torch.__version__}), {seeds} seed(s) per case")
    print(f"{'case':52s} {'max error':>11s} {'tolerance':>11s} {'time':>7s}  status")
    failures = 0
    for case in CASES:
        if pattern and pattern not in case.name:
            continue
        start = time.perf_counter()
        try:
            results = [compare(case, seed, dev) for seed in range(seeds)]
            err, tol = max(results, key=lambda r: r[0] / max(r[1], 1e-300))
            status = "ok" if all(e <= t for e, t in results) else "FAIL"
        except Exception as exc:  # report every case, even a crashing one
            err, tol, status = float("nan"), float("nan"), f"ERROR {type(exc).__name__}: {exc}"
        failures += status != "ok"
        elapsed = time.perf_counter() - start
        print(f"{case.name:52s} {err:11.2e} {tol:11.2e} {elapsed:6.2f}s  {status}")
    print("all cases agree" if failures == 0 else f"{failures} case(s) failed")
    return failures


DEMO = "demo"
"""The shipped experiment ``holstein demo`` runs."""


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    """``--set`` arguments ``section.key=value`` as settings by dotted path; each value is
    read as a TOML value (``0.1``, ``true``, ``[1, 2]``, ``"text"``), else taken as text.

    Parameters
    ----------
    items : sequence of str
        The ``--set`` arguments, each ``section.key=value``.

    Returns
    -------
    dict
        Values by dotted path (a later assignment of a path replaces an earlier one).

    Raises
    ------
    ValueError
        Naming the argument, if it has no ``=`` or no ``section.key`` before it.
    """
    values: dict[str, Any] = {}
    for item in items:
        path, sep, text = item.partition("=")
        path = path.strip()
        if not sep or "." not in path:
            raise ValueError(
                f"--set {item!r} must be section.key=value, e.g. langevin.dt_omega=0.01"
            )
        try:
            values[path] = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            values[path] = text.strip()
    return values


def run(
    path: str,
    out: str,
    device: str,
    seed: int | None,
    stage: str | None,
    quiet: bool,
    debug: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    assignments: Sequence[str] = (),
    dry_run: bool = False,
) -> int:
    """Run an experiment file or a shipped experiment by name (a campaign if it has a
    ``[sweep]``), here or on the Dask cluster its ``[cluster]`` table or the options name,
    with the ``--set`` ``assignments`` put in; print a one-line summary or one error line
    (with ``debug``, also the traceback). With ``dry_run``, check and describe instead.

    Parameters
    ----------
    path : str
        An experiment file, or the name of a shipped one (``quench_cpu``).
    out : str
        The run (or campaign) folder.
    device : str
        The torch device (``"cpu"``, ``"cuda"``, ...).
    seed : int or None
        ``--seed``: replaces ``[experiment] seed``; None: the file's.
    stage : str or None
        ``--stage``: run only this stage (refused for a campaign); None: every unfinished
        stage.
    quiet : bool
        No progress bars.
    debug : bool
        Print the traceback of an error (default False).
    workers : int, optional
        ``--workers``: Dask workers (replaces ``[cluster] workers``; 0: in turn, here).
    scheduler : str, optional
        ``--scheduler``: the address of an existing Dask scheduler.
    cluster : {"local", "slurm", "pbs"}, optional
        ``--cluster``: where the workers run (replaces ``[cluster] kind``).
    assignments : sequence of str
        ``--set`` arguments, ``section.key=value`` (:func:`parse_assignments`).
    dry_run : bool
        Check everything and print each stage's state, memory and time estimate, without
        running (default False).

    Returns
    -------
    int
        The exit status (:func:`reference.runio.run_cli`): 0 on success, 2 for an error
        in the input, the folder or the device (one ``error:`` line), 1 for an
        unexpected error, 130 when interrupted.
    """
    from fast.runs.clusters import read_cluster
    from fast.runs.registry import load_experiment
    from fast.runs.runner import read_experiment_file, run_experiment
    from fast.runs.shipped import experiment_file
    from reference.runio import run_cli

    def job() -> str:
        settings = parse_assignments(assignments)
        file = experiment_file(path)
        data = read_experiment_file(file, settings)
        where = read_cluster(data, str(file), cluster, workers)
        if "sweep" in data:
            if stage is not None:
                raise ValueError("--stage runs one stage of one run; a [sweep] file is many")
            return _campaign(file, out, device, seed, quiet, where, scheduler, settings, dry_run)
        experiment = load_experiment(file, {"seed": seed}, settings)
        if dry_run:
            return _dry_run(experiment, out, device, stage)
        _warn_if_long(experiment, out, device, stage)
        if where.distributed or scheduler is not None:
            with _client(where, scheduler, out) as client:
                from fast.runs.campaign import run_remote

                metrics = run_remote(experiment, out, client, device=device, stage=stage)
        else:
            metrics = run_experiment(experiment, out, device=device, stage=stage,
                                     progress=not quiet)  # fmt: skip
        if not metrics:
            return f"{out}: stage {stage} done"
        return f"{out}: {experiment.summary(metrics)}"

    return run_cli(job, debug=debug)


def _torch_device(device: str) -> torch.device:
    """``device`` as a usable torch device; a ValueError naming it otherwise."""
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device {device!r} is not available: {exc}") from None
    return dev


def _dry_run(experiment: Any, out: str, device: str, stage: str | None) -> str:
    from fast.runs.dryrun import describe_run, duration

    lines, seconds = describe_run(experiment, Path(out), _torch_device(device), stage)
    print("\n".join(lines))
    return f"dry run: nothing written; estimated {duration(seconds)} for the stages to run"


def _warn_if_long(experiment: Any, out: str, device: str, stage: str | None) -> None:
    """Say before a run starts that it is estimated to take more than an hour."""
    from fast.runs.dryrun import long_run_warning, time_estimates
    from fast.runs.runner import check_memory, preflight

    try:
        dev = _torch_device(device)
        to_run = preflight(experiment, Path(out), stage)
        check_memory(experiment, to_run, dev)  # no probe of what cannot fit
    except ValueError:
        return  # the run itself names the problem
    if not to_run:
        return
    times = time_estimates(experiment, dev)
    warning = long_run_warning(sum(times[s].seconds for s in to_run if s in times), dev)
    if warning is not None:
        logging.getLogger("fast.runs").warning(warning)


@contextlib.contextmanager
def _client(settings: Any, scheduler: str | None, out: str) -> Iterator[Any]:
    """A Dask client for ``settings`` (:class:`fast.runs.clusters.ClusterSettings`) for the
    ``with`` block; its dashboard address printed."""
    from fast.runs.clusters import dask_client

    with dask_client(settings, scheduler, Path(out)) as client:
        if client.dashboard_link:
            print(f"Dask dashboard: {client.dashboard_link}", file=sys.stderr)
        yield client


def _campaign(
    path: Path,
    out: str,
    device: str,
    seed: int | None,
    quiet: bool,
    where: Any,
    scheduler: str | None,
    settings: dict[str, Any],
    dry_run: bool,
) -> str:
    """Run a file with a ``[sweep]``: every point checked first, then run here or on Dask."""
    from fast.runs.campaign import load_campaign, run_campaign

    points = load_campaign(path, {"seed": seed}, settings)
    if dry_run:
        from fast.runs.dryrun import describe_campaign, duration

        lines, seconds = describe_campaign(points, Path(out), _torch_device(device),
                                           where.workers)  # fmt: skip
        print("\n".join(lines))
        return f"dry run: nothing written; estimated {duration(seconds)} of wall time"
    if not where.distributed and scheduler is None:
        run_campaign(points, out, device=device, progress=not quiet)
    else:
        with _client(where, scheduler, out) as client:
            run_campaign(points, out, device=device, progress=False, client=client)
    return f"{out}: campaign of {len(points)} points done; metrics of every point in metrics.json"


def init(kind: str, size: str, out: str | None, force: bool) -> int:
    """Write the commented experiment file of ``kind`` (:func:`fast.runs.shipped.init_text`)
    to ``out`` (default ``KIND.toml``), refusing to replace a file unless ``force``.

    Parameters
    ----------
    kind : {"quench", "voltage", "laser", "coarsening"}
        The workflow.
    size : {"small", "cpu", "paper"}
        Which shipped file to start from (:data:`fast.runs.shipped.TEMPLATES`).
    out : str or None
        The file to write; None: ``<kind>.toml`` in the working directory.
    force : bool
        Replace an existing file.

    Returns
    -------
    int
        The exit status (:func:`reference.runio.run_cli`): 0 on success, 2 for an error
        in the input, the folder or the device (one ``error:`` line), 1 for an
        unexpected error, 130 when interrupted.
    """
    from fast.runs.shipped import init_text
    from reference.runio import run_cli

    def job() -> str:
        target = Path(out or f"{kind}.toml")
        text = init_text(kind, size)
        if target.exists() and not force:
            raise ValueError(f"{str(target)!r} exists; choose another --out or add --force")
        try:
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot write {str(target)!r}: {exc.strerror}") from None
        return (f"{target}: a {size} {kind} experiment; edit it, then "
                f"`holstein run {target} --out runs/{target.stem}`")  # fmt: skip

    return run_cli(job)


def list_experiments() -> int:
    """Print the shipped experiment files, one line each.

    Returns
    -------
    int
        The exit status, 0.
    """
    from fast.runs.shipped import EXPERIMENTS, shipped_experiments, summary_line

    shipped = shipped_experiments()
    print(f"shipped experiments ({EXPERIMENTS}); run one with `holstein run NAME --out DIR`:")
    for name, path in shipped.items():
        print(f"  {name:20s} {summary_line(path)}")
    return 0


def _program() -> str:
    """``holstein`` when run as the console script, else ``python -m fast``."""
    return "holstein" if Path(sys.argv[0]).name.startswith("holstein") else "python -m fast"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``holstein`` and ``python -m fast``.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; None (default): ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status: that of ``run``, ``demo``, ``init`` or ``list`` (:func:`run`,
        :func:`init`, :func:`list_experiments`); for ``check``, 0 if every case agrees, 1
        if any fails, 2 for a bad ``--seeds`` or an unavailable device.
    """
    import fast

    parser = argparse.ArgumentParser(
        prog=_program(),
        description="Machine-learned force fields of the semiclassical Holstein model: run "
        "the papers' workflows, check fast against reference, start an experiment file.",
    )
    parser.add_argument("--version", action="version",
                        version=f"holstein-mlff {fast.__version__}")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    p_run = sub.add_parser("run", help="run an experiment file's stages")
    p_run.add_argument("experiment", help="experiment file or shipped name, e.g. quench_cpu "
                       "(kind quench, voltage, laser or coarsening; see `list`)")  # fmt: skip
    p_run.add_argument("--out", required=True, help="run folder")
    p_demo = sub.add_parser("demo", help="run the shipped demo.toml (a few CPU minutes)")
    p_demo.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    for p in (p_run, p_demo):
        p.add_argument("--device", default=default_device, help="torch device (cpu, cuda, ...)")
        p.add_argument("--seed", type=int, help="replaces the file's [experiment] seed")
        p.add_argument("--stage", help="run only this stage (dataset, train, simulate, "
                       "analyse, report)")  # fmt: skip
        p.add_argument("--set", dest="assignments", action="append", default=[],
                       metavar="SECTION.KEY=VALUE",
                       help="replace a setting of the file (repeatable), e.g. "
                       "--set langevin.dt_omega=0.01")  # fmt: skip
        p.add_argument("--dry-run", action="store_true", help="check everything, print each "
                       "stage's state, memory and time estimate, and exit")  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p_run.add_argument(
        "--workers",
        type=int,
        help="Dask workers: local processes, or batch jobs with --cluster slurm/pbs "
        "(replaces [cluster] workers; 0: in turn, here)",
    )
    p_run.add_argument("--cluster", help="where the workers run: local, slurm or pbs "
                       "(replaces [cluster] kind)")  # fmt: skip
    p_run.add_argument("--scheduler", help="run on the existing Dask cluster of this "
                       "scheduler address (tcp://host:8786)")  # fmt: skip
    p_init = sub.add_parser("init", help="write a commented experiment file to start from")
    p_init.add_argument("kind", help="workflow: quench, voltage, laser or coarsening")
    p_init.add_argument(
        "--size",
        default="small",
        help="small (minutes on a laptop, the "
        "default), cpu (the science on a 2-core CPU) or paper (a GPU or cluster)",
    )
    p_init.add_argument("--out", help="file to write (default KIND.toml)")
    p_init.add_argument("--force", action="store_true", help="replace an existing file")
    sub.add_parser("list", help="list the shipped experiment files")
    p_check = sub.add_parser("check", help="compare fast with the reference on this device")
    p_check.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p_check.add_argument("--seeds", type=int, default=3, help="random inputs per case")
    p_check.add_argument("--only", help="run only cases whose name contains this text")
    args = parser.parse_args(argv)
    if args.command in ("run", "demo"):
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        for handler in logging.getLogger().handlers:  # the console: INFO (run.log: more)
            handler.setLevel(logging.INFO)
        path = args.experiment if args.command == "run" else DEMO
        return run(path, args.out, args.device, args.seed, args.stage, args.quiet, args.debug,
                   getattr(args, "workers", None), getattr(args, "scheduler", None),
                   getattr(args, "cluster", None), args.assignments,
                   args.dry_run)  # fmt: skip
    if args.command == "init":
        return init(args.kind, args.size, args.out, args.force)
    if args.command == "list":
        return list_experiments()
    if args.seeds < 1:
        print("error: --seeds must be >= 1", file=sys.stderr)
        return 2
    try:
        torch.empty(1, device=args.device)
    except (RuntimeError, AssertionError) as exc:
        print(f"error: device {args.device!r} is not available: {exc}", file=sys.stderr)
        return 2
    return 1 if check(args.device, args.seeds, args.only) else 0
