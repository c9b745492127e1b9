"""Langevin steps on a busy machine: slowdown under competing CPU-bound processes.

Run ``python benchmarks/contention.py --out benchmarks/results/contention.json`` on an
otherwise idle machine (``--quick`` for a smoke run). In one run it times the Langevin
(BAOAB) step driven by paper 003's descriptor MLP (untrained, float32 network) and by
exact diagonalisation (:class:`fast.ed.ExactForceField`), on one 40x40 configuration and
on 8 configurations of 16x16 stepped as one batch, with 0, 1 and 3 competing CPU-bound
processes (``python -c "while True: pass"``).

Each thread configuration in ``--configs`` (``CONFIGS``) runs in a worker process of its
own, started before any load and kept for the whole run; at every load level the workers
time their steps in turn, ``--rounds`` times, so the configurations see the same machine.
For every step it reports the median and range of the per-step time, the slowdown against
the idle median, the fair share
``(cores + busy) / cores`` (the slowdown of work that scales perfectly over the cores when
``busy`` other processes each take a core's worth of time), the ratio of the two, and the
CPU time per step of all the worker's threads against its idle value (work that does not
change with the load, so its growth is time spent waiting in spinning threads).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CONFIGS: dict[str, dict[str, Any]] = {
    "before": {"torch_first": True},
    "after": {},
    "adaptive": {"configure": {"adapt_to_load": True}},
    "one_thread": {"configure": {"threads": 1}},
}
"""Thread configurations a worker can run. ``torch_first``: torch is imported before
:mod:`fast`, so OpenMP keeps its default wait policy (idle threads spin), as before the
fix. ``configure``: keyword arguments of :func:`fast.threads.configure_threads`, called
before any work. ``env``: variables set before the worker starts. Nothing given: the
library's defaults."""

SPIN = "while True: pass"


def _steps(quick: bool) -> dict[str, Any]:
    """The four timed steps: name -> (step function, start state)."""
    import numpy as np
    import torch

    import fast
    import reference.nn as ref_nn
    from fast.ml.models import TrainedModel
    from reference.lattice import SquareLattice
    from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams

    torch.set_grad_enabled(False)
    arch = ref_nn.PAPER_ARCHITECTURES["paper003_mlp"]
    trained = TrainedModel(
        fast.nn.Network(arch, dtype=torch.float64).to_weights(), HolsteinParams(), "electronic", {}
    )
    steps: dict[str, Any] = {}
    for size, members in ((24, 1), (10, 8)) if quick else ((40, 1), (16, 8)):
        model = HolsteinModel(SquareLattice(size, size), HolsteinParams(), ElectronEnsemble(0.1))
        shape = (size, size) if members == 1 else (members, size, size)
        q = torch.as_tensor(np.random.default_rng(0).normal(scale=2.0, size=shape))
        for name, field in (
            ("ml", trained.force_field(model.lattice)),
            ("exact", fast.ed.ExactForceField(model)),
        ):
            integ = fast.dynamics.langevin_baoab(
                field, mass=5.0, gamma=0.2, temperature=0.1, dt=0.05
            )
            state = integ.init(q, rng=0)
            integ.step(state)  # warm up: worker threads, caches
            steps[f"{name} {size}x{size} x{members}"] = (integ.step, state)
    return steps


def _time_steps(steps: dict[str, Any], repeats: int) -> dict[str, Any]:
    """Wall and CPU seconds (all of this process's threads) of each step, ``repeats`` steps
    from the same state (six times as many of the cheap ML steps)."""
    out = {}
    for name, (step, state) in steps.items():
        step(state)
        wall, cpu = [], []
        count = repeats if name.startswith("exact") else 6 * repeats
        for _ in range(count):
            start, start_cpu = time.perf_counter(), time.process_time()
            step(state)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        out[name] = {"seconds": wall, "cpu_seconds": cpu}
    return out


def worker(config: str, quick: bool) -> None:
    """Serve timing requests on stdin (one line: the repeats) with one JSON line each."""
    settings = CONFIGS[config]
    if settings.get("torch_first"):
        import torch  # before fast: OpenMP loads with its default wait policy
    import fast.threads

    if "configure" in settings:
        fast.threads.configure_threads(**settings["configure"])
    import torch  # after fast (unless torch_first), so that idle OpenMP threads sleep

    steps = _steps(quick)
    print(json.dumps({"threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_time_steps(steps, int(line))), flush=True)


def _start_worker(config: str, quick: bool) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env |= CONFIGS[config].get("env", {})
    args = [sys.executable, __file__, "--worker", config] + (["--quick"] if quick else [])
    return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _request(proc: subprocess.Popen[str], message: str) -> Any:
    assert proc.stdin is not None and proc.stdout is not None
    if message:
        proc.stdin.write(message + "\n")
        proc.stdin.flush()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"worker {proc.args!r} exited with {proc.wait()}")
    return json.loads(line)


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _summary(
    sample: dict[str, list[float]], idle: dict[str, list[float]], fair: float
) -> dict[str, Any]:
    times = sample["seconds"]
    median = statistics.median(times)
    cpu = statistics.median(sample["cpu_seconds"])
    return {
        "seconds": times,
        "cpu_seconds": sample["cpu_seconds"],
        "median_cpu_seconds": cpu,
        "cpu_growth": cpu / statistics.median(idle["cpu_seconds"]),
        "median_seconds": median,
        "min_seconds": min(times),
        "max_seconds": max(times),
        "slowdown": median / statistics.median(idle["seconds"]),
        "fair_share": fair,
        "ratio_to_fair_share": median / statistics.median(idle["seconds"]) / fair,
    }


def measure(
    configs: list[str], loads: list[int], repeats: int, rounds: int, quick: bool
) -> dict[str, Any]:
    """Per-step times of every configuration at every load, in one run."""
    cores = len(os.sched_getaffinity(0))
    workers = {c: _start_worker(c, quick) for c in configs}
    competitors: list[subprocess.Popen[bytes]] = []
    result: dict[str, Any] = {"cores": cores, "uptime_before": _uptime(), "configs": {}}
    try:
        for c, proc in workers.items():
            result["configs"][c] = {"settings": CONFIGS[c], **_request(proc, "")}
        raw: dict[str, dict[int, dict[str, Any]]] = {c: {} for c in configs}
        for busy in loads:
            while len(competitors) < busy:
                competitors.append(subprocess.Popen([sys.executable, "-c", SPIN]))
            time.sleep(1.0)  # the competitors running, and the scheduler settled
            for _ in range(rounds):  # alternate, so drifts of the machine hit all alike
                for c, proc in workers.items():
                    time.sleep(0.5)  # the previous worker's idle threads asleep
                    sample = _request(proc, str(repeats))
                    merged = raw[c].setdefault(busy, {})
                    for name, series in sample.items():
                        for key, values in series.items():
                            merged.setdefault(name, {}).setdefault(key, []).extend(values)
                    print(f"{busy} busy, {c}: " + ", ".join(
                        f"{k} {statistics.median(v['seconds']) * 1e3:.1f} ms"
                        for k, v in sample.items()
                    ), flush=True)  # fmt: skip
            result[f"uptime_{busy}_busy"] = _uptime()
    finally:
        for spinner in competitors:
            spinner.kill()
            spinner.wait()
        for proc in workers.values():
            proc.kill()
            proc.wait()
    for c in configs:
        idle = raw[c][loads[0]]
        result["configs"][c]["steps"] = {
            name: {
                str(busy): _summary(raw[c][busy][name], idle[name], (cores + busy) / cores)
                for busy in loads
            }
            for name in idle
        }
    return result


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table: median (range) per step, slowdown / fair share."""
    lines = [
        "| step | configuration | busy | threads | median (range) ms | slowdown | fair share "
        "| ratio | CPU ms per step (x idle) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c, entry in result["configs"].items():
        for name, rows in entry["steps"].items():
            for busy, r in rows.items():
                lines.append(
                    f"| {name} | {c} | {busy} | {entry['threads']} | "
                    f"{r['median_seconds'] * 1e3:.1f} ({r['min_seconds'] * 1e3:.1f}-"
                    f"{r['max_seconds'] * 1e3:.1f}) | {r['slowdown']:.2f}x | "
                    f"{r['fair_share']:.2f}x | {r['ratio_to_fair_share']:.2f} | "
                    f"{r['median_cpu_seconds'] * 1e3:.1f} ({r['cpu_growth']:.2f}x) |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="benchmarks/results/contention.json")
    parser.add_argument("--repeats", type=int, default=5, help="exact steps per round")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each configuration")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--configs", default="before,after,adaptive", help="from CONFIGS")
    parser.add_argument("--loads", default="0,1,3", help="competing processes, idle first")
    parser.add_argument("--worker", choices=list(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.quick)
        return
    configs = args.configs.split(",")
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {sorted(CONFIGS)}")
    loads = [int(b) for b in args.loads.split(",")]
    result = measure(configs, loads, args.repeats, args.rounds, args.quick)
    print(result["uptime_before"])
    print(table(result))
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
