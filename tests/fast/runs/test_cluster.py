"""A tiny quench campaign on real clusters (issue 18): a local Dask cluster of worker
processes, a worker killed with SIGKILL in the middle of a unit, and a single-node SLURM
through dask-jobqueue. Every way gives the same files, bit for bit.

The sweep: two lattice sizes of the large run, two replicas each (four points; the two
sizes of a replica share its dataset and trained model), the compare ensemble of each
point run as one unit per member and arm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from fast.cli import main

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[3]

SWEEP = """
[experiment]
name = "tiny-sweep"
kind = "quench"
seed = 3

[dataset]
size = 10
n_random = 6
n_runs = 2
snapshots_per_run = 3
snapshot_every = 10
chunk = 6

[train]
hidden = [8, 4]
epochs = 3
batch_size = 2

[simulate]
size = 12
ensemble = 2
steps = 40
record_every = 10
checkpoint_every = 20

[compare]
size = 10
ensemble = 2
times = [20, 600]
checkpoint_every = 20
members_per_unit = 1

[analyse]
bootstrap = 10

[sweep]
"simulate.size" = [10, 12]
replicas = 2
"""

TIMINGS = ("seconds", "speedup", "timing", "code_version")


def _arrays(out: Path) -> dict[str, np.ndarray]:
    """Every HDF5 dataset under ``out/points``, by relative path."""
    found: dict[str, np.ndarray] = {}
    for path in sorted((out / "points").rglob("*.h5")):
        with h5py.File(path, "r") as fh:
            for name in fh:
                found[f"{path.relative_to(out)}:{name}"] = fh[name][...]
    return found


def _without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timings(v) for k, v in value.items()
                if not any(t in k for t in TIMINGS)}  # fmt: skip
    if isinstance(value, list):
        return [_without_timings(v) for v in value]
    return value


def assert_same_campaign(a: Path, b: Path) -> None:
    """Bit-identical arrays and metrics (timings aside) of two runs of the campaign."""
    left, right = _arrays(a), _arrays(b)
    assert sorted(left) == sorted(right)
    assert len(left) > 20
    for key, value in left.items():
        np.testing.assert_array_equal(right[key], value, err_msg=key)
    metrics = [json.loads((x / "metrics.json").read_text()) for x in (a, b)]
    assert _without_timings(metrics[0]) == _without_timings(metrics[1])


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "sweep.toml"
    path.write_text(SWEEP)
    return path


@pytest.fixture(scope="module")
def on_local_cluster(sweep: Path) -> Path:
    """The sweep on a local Dask cluster of two single-threaded worker processes."""
    out = sweep.parent / "local"
    argv = ["run", str(sweep), "--out", str(out), "--quiet", "--device", "cpu", "--workers", "2"]
    assert main(argv) == 0
    return out


def test_a_sweep_runs_on_a_local_cluster_and_is_not_recomputed(on_local_cluster: Path) -> None:
    out = on_local_cluster
    metrics = json.loads((out / "metrics.json").read_text())["points"]
    assert len(metrics) == 4
    listed = json.loads((out / "campaign.json").read_text())["points"]
    assert all(p["finished"] for p in listed)
    # the two sizes of a replica share its dataset and model: one training per replica
    assert listed[2]["shares"] == {"from": listed[0]["name"], "until": "train"}
    assert listed[1]["shares"] is None  # another seed: its own dataset and model
    first = out / "points" / listed[0]["name"]
    with h5py.File(first / "compare_exact.h5") as fh:
        assert fh.attrs["blocks"] == 2 and fh["Q"].shape == (31, 2, 10, 10)
    assert not (first / "units").exists()
    stamps = {p: p.stat().st_mtime_ns for p in (out / "points").rglob("*.h5")}
    argv = ["run", str(out.parent / "sweep.toml"), "--out", str(out), "--quiet", "--workers", "2"]
    assert main(argv) == 0
    assert {p: p.stat().st_mtime_ns for p in (out / "points").rglob("*.h5")} == stamps


def _unit_in_progress(out: Path) -> Path | None:
    """A compare unit's folder once it has written frames past its first checkpoint."""
    for partial in (out / "points").glob("*/units/compare_exact/block-*/compare_exact.h5.partial"):
        if len(list(partial.glob("chunk-*.npz"))) >= 2:
            return partial.parent
    return None


def test_a_worker_killed_in_a_unit_is_survived_bit_for_bit(
    sweep: Path, on_local_cluster: Path
) -> None:
    out = sweep.parent / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "fast", "run", str(sweep), "--out", str(out), "--quiet",
            "--device", "cpu", "--workers", "2"]  # fmt: skip
    run = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 600
        while killed is None and run.poll() is None and time.monotonic() < deadline:
            unit = _unit_in_progress(out)
            if unit is not None and not (unit / "compare_exact.h5").exists():
                holder = (unit / ".lock").read_text().split()
                pid = int(holder[1])
                assert pid not in (os.getpid(), run.pid)  # a worker, not the client
                os.kill(pid, signal.SIGKILL)
                killed = unit
            time.sleep(0.02)
        _, err = run.communicate(timeout=900)
    finally:
        if run.poll() is None:
            run.kill()
    assert killed is not None, "the campaign finished before a unit could be killed"
    assert run.returncode == 0, err
    assert_same_campaign(on_local_cluster, out)


@pytest.fixture(scope="module")
def slurm() -> None:
    """A single-node SLURM (``.ci/slurm.sh``: started here when we are root, else only
    checked); the test is skipped, with the reason, where it cannot run."""
    script = ROOT / ".ci" / "slurm.sh"
    action = "start" if os.geteuid() == 0 else "status"
    try:
        done = subprocess.run(["bash", str(script), action], capture_output=True, text=True,
                              timeout=600)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"no local SLURM: {exc}")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no reason given"])[-1]
        pytest.skip(f"no local SLURM ({script.name} {action}): {reason}")


def test_a_sweep_runs_on_slurm_through_dask_jobqueue(
    slurm: None, sweep: Path, on_local_cluster: Path
) -> None:
    path = sweep.parent / "slurm.toml"
    path.write_text(
        SWEEP
        + """
[cluster]
kind = "slurm"
workers = 2
cores = 1
memory = "2GiB"
walltime = "00:30:00"
interface = "lo"
"""
    )
    out = sweep.parent / "slurm"
    assert main(["run", str(path), "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert_same_campaign(on_local_cluster, out)
    logs = list((out / "cluster-logs").glob("*"))
    assert logs, "the workers' SLURM jobs left no log"
