"""One-run measurement: the wall time of a 4-point sweep on a local Dask cluster of one
worker with all the cores against as many single-threaded workers as cores (issue 18).

Each layout runs the same small quench campaign (four temperatures, independent points:
dataset, training, simulation and the exact-vs-ML comparison each) from an empty folder,
through the command line as a user would; the layouts alternate, ``--repeats`` times, so
that the machine's changing load falls on both. The points are also checked to give the
same metrics (timings aside) in every layout.

    python benchmarks/sweep_workers.py --out benchmarks/results/sweep_workers.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SWEEP = """
[experiment]
name = "sweep-workers"
kind = "quench"
seed = 11

[dataset]
size = 12
n_random = 24
n_runs = 2
snapshots_per_run = 12
snapshot_every = 20
chunk = 12

[train]
hidden = [32, 16]
epochs = 20
batch_size = 4
patience = 20

[simulate]
size = 32
ensemble = 2
steps = 600
record_every = 50
checkpoint_every = 300

[compare]
size = 12
ensemble = 4
times = [100, 400]
checkpoint_every = 200
members_per_unit = 2

[analyse]
bootstrap = 20

[sweep]
"physics.temperature" = [0.05, 0.1, 0.15, 0.2]
"""

TIMINGS = ("seconds", "speedup", "timing", "code_version")


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not any(t in k for t in TIMINGS)}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def run_layout(sweep: Path, out: Path, workers: int) -> float:
    """Wall seconds of the whole campaign with ``workers`` local workers (0: in turn)."""
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, "-m", "fast", "run", str(sweep), "--out", str(out), "--quiet",
            "--device", "cpu", "--workers", str(workers)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=env, capture_output=True, text=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the results")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--in-turn", action="store_true", help="also time the points in turn "
                        "in one process, without Dask")  # fmt: skip
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    layouts = {f"1 worker x {cores} threads": 1, f"{cores} workers x 1 thread": cores}
    if args.in_turn:
        layouts["in turn, no Dask (torch default threads)"] = 0
    times: dict[str, list[float]] = {name: [] for name in layouts}
    metrics: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "sweep.toml"
        sweep.write_text(SWEEP)
        for repeat in range(args.repeats):
            for name, workers in layouts.items():
                out = Path(tmp) / f"run-{workers}"
                load = os.getloadavg()[0]
                seconds = run_layout(sweep, out, workers)
                times[name].append(seconds)
                print(f"repeat {repeat}: {name}: {seconds:.1f} s (load before {load:.1f})",
                      flush=True)  # fmt: skip
                metrics[name] = _strip(json.loads((out / "metrics.json").read_text()))
    same = all(m == next(iter(metrics.values())) for m in metrics.values())
    result = {
        "machine": {"cores": cores, "python": sys.version.split()[0]},
        "sweep": "4 quench points (temperatures), dataset 12x12, training 20 epochs, "
        "simulate 32x32 x 2 x 600 steps, compare 12x12 x 4 x 400 steps (2 units per arm)",
        "wall_seconds": times,
        "median_seconds": {k: sorted(v)[len(v) // 2] for k, v in times.items()},
        "metrics_equal_across_layouts": same,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
