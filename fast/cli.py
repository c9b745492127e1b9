"""The command line of :mod:`fast` (``python -m fast``): the top layer.

``python -m fast run <experiment>.toml --out <dir> [--device cuda] [--seed 1] [--stage train]``
    runs an experiment's stages (for the papers' workflows: dataset, train, simulate,
    analyse, report), skipping finished ones. ``[experiment] kind`` picks the workflow
    (:data:`fast.runs.registry.WORKFLOWS`): ``quench`` (papers 002-004,
    :mod:`fast.runs.quench`), ``voltage`` (paper 001, :mod:`fast.runs.voltage`), ``laser``
    (paper 000, :mod:`fast.runs.laser`) or ``coarsening`` (:mod:`fast.runs.coarsening`).
    A file with a ``[sweep]`` table is a campaign of many runs (:mod:`fast.runs.campaign`);
    ``--workers N``, ``--cluster local|slurm|pbs`` (or the file's ``[cluster]`` table) and
    ``--scheduler ADDRESS`` run it, or a single experiment, on Dask.
``python -m fast demo [--out runs/demo]``
    runs ``specs/experiments/demo.toml``: a small quench trained and simulated end to end
    in a few minutes on a laptop CPU.
``python -m fast check [--device cuda] [--seeds 3]``
    runs the equivalence registry (every registered fast/reference pair) on your device
    and prints the largest deviation of each against its tolerance. Exit status 1 if any
    case fails.

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
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch


def check(device: str, seeds: int, pattern: str | None) -> int:
    """Run the registry; print a table; return the number of failures."""
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


DEMO = Path(__file__).resolve().parent.parent / "specs" / "experiments" / "demo.toml"


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
) -> int:
    """Run an experiment file (a campaign if it has a ``[sweep]``), here or on the Dask
    cluster its ``[cluster]`` table or the options name; print a one-line summary or one
    error line (with ``debug``, also the traceback)."""
    from fast.runs.clusters import read_cluster
    from fast.runs.registry import load_experiment
    from fast.runs.runner import read_experiment_file, run_experiment
    from reference.runio import run_cli

    def job() -> str:
        data = read_experiment_file(path)
        where = read_cluster(data, path, cluster, workers)
        if "sweep" in data:
            if stage is not None:
                raise ValueError("--stage runs one stage of one run; a [sweep] file is many")
            return _campaign(path, out, device, seed, quiet, where, scheduler)
        experiment = load_experiment(path, {"seed": seed})
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
    path: str,
    out: str,
    device: str,
    seed: int | None,
    quiet: bool,
    where: Any,
    scheduler: str | None,
) -> str:
    """Run a file with a ``[sweep]``: every point checked first, then run here or on Dask."""
    from fast.runs.campaign import load_campaign, run_campaign

    points = load_campaign(path, {"seed": seed})
    if not where.distributed and scheduler is None:
        run_campaign(points, out, device=device, progress=not quiet)
    else:
        with _client(where, scheduler, out) as client:
            run_campaign(points, out, device=device, progress=False, client=client)
    return f"{out}: campaign of {len(points)} points done; metrics of every point in metrics.json"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fast``."""
    parser = argparse.ArgumentParser(prog="python -m fast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    p_run = sub.add_parser("run", help="run an experiment file's stages")
    p_run.add_argument("experiment", help="experiment file, e.g. specs/experiments/quench.toml "
                       "(kind quench, voltage or laser)")  # fmt: skip
    p_run.add_argument("--out", required=True, help="run folder")
    p_demo = sub.add_parser("demo", help="run specs/experiments/demo.toml (a few CPU minutes)")
    p_demo.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    for p in (p_run, p_demo):
        p.add_argument("--device", default=default_device, help="torch device (cpu, cuda, ...)")
        p.add_argument("--seed", type=int, help="replaces the file's [experiment] seed")
        p.add_argument("--stage", help="run only this stage (dataset, train, simulate, "
                       "analyse, report)")  # fmt: skip
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
    p_check = sub.add_parser("check", help="compare fast with the reference on this device")
    p_check.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p_check.add_argument("--seeds", type=int, default=3, help="random inputs per case")
    p_check.add_argument("--only", help="run only cases whose name contains this text")
    args = parser.parse_args(argv)
    if args.command in ("run", "demo"):
        logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
        for handler in logging.getLogger().handlers:  # the console: INFO (run.log: more)
            handler.setLevel(logging.INFO)
        path = args.experiment if args.command == "run" else str(DEMO)
        return run(path, args.out, args.device, args.seed, args.stage, args.quiet, args.debug,
                   getattr(args, "workers", None), getattr(args, "scheduler", None),
                   getattr(args, "cluster", None))  # fmt: skip
    if args.seeds < 1:
        print("error: --seeds must be >= 1", file=sys.stderr)
        return 2
    try:
        torch.empty(1, device=args.device)
    except (RuntimeError, AssertionError) as exc:
        print(f"error: device {args.device!r} is not available: {exc}", file=sys.stderr)
        return 2
    return 1 if check(args.device, args.seeds, args.only) else 0
