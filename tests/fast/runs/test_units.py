"""Units of work finer than a run (issue 18): an ensemble of Langevin runs as blocks of
members that run anywhere, in any order, any number of times, and join to one trajectory."""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch

from fast.runs import quench
from fast.runs.quench import QuenchExperiment
from fast.runs.runner import parse_settings
from fast.runs.trained import ensemble_run
from fast.runs.trajectories import load_trajectory
from fast.runs.units import UNITS_FOLDER, Unit, run_units, sequential, unit_executor

SETTINGS: dict[str, Any] = {
    "experiment": {"kind": "quench", "seed": 5},
    "physics": {"temperature": 0.1},
    "compare": {"size": 10, "ensemble": 5, "times": [4, 8], "checkpoint_every": 4},
}


def _experiment() -> QuenchExperiment:
    experiment: QuenchExperiment = parse_settings(SETTINGS, {"quench": QuenchExperiment}, "t")
    return experiment


def _run(folder: Path, members_per_unit: int) -> dict[str, np.ndarray]:
    experiment = _experiment()
    cpu = torch.device("cpu")
    q0, p0 = quench._hot_start(experiment, 10, 5, 101, cpu)
    factory = functools.partial(quench.make_integrator, experiment, str(folder), "exact", 10)
    folder.mkdir(parents=True, exist_ok=True)
    stored = ensemble_run(
        experiment, folder, "compare_exact", factory, q0, p0,
        members_per_unit=members_per_unit, steps=8, stream=101, record_every=4,
        checkpoint_every=4, device=cpu, progress=False,
    )  # fmt: skip
    return {"t": stored.t, "Q": stored.Q, "forces": stored.forces}


def _reversed(units: Sequence[Unit]) -> list[Any]:
    return [unit() for unit in list(units)[::-1]][::-1]


def test_blocks_join_to_the_whole_ensemble_whatever_the_executor(tmp_path: Path) -> None:
    batch = _run(tmp_path / "batch", 0)
    blocks = _run(tmp_path / "blocks", 2)  # 5 members: blocks of 2, 2, 1
    assert blocks["Q"].shape == batch["Q"].shape == (3, 5, 10, 10)
    np.testing.assert_array_equal(blocks["Q"][0], batch["Q"][0])  # the same initial states
    assert not np.array_equal(blocks["Q"][-1], batch["Q"][-1])  # each block its own noise
    assert not (tmp_path / "blocks" / UNITS_FOLDER).exists()  # joined, then removed
    with unit_executor(_reversed):  # other processes: tests/fast/runs/test_cluster.py
        spread = _run(tmp_path / "spread", 2)
    for name in ("t", "Q", "forces"):
        np.testing.assert_array_equal(spread[name], blocks[name])
    with h5py.File(tmp_path / "blocks" / "compare_exact.h5") as fh:
        assert fh.attrs["blocks"] == 3


def test_a_block_is_the_run_of_its_members_alone(tmp_path: Path) -> None:
    """Block 1 (members 2, 3) equals a one-unit run of those members with its noise."""
    blocks = _run(tmp_path / "blocks", 2)
    experiment = _experiment()
    cpu = torch.device("cpu")
    q0, p0 = quench._hot_start(experiment, 10, 5, 101, cpu)
    alone = quench.make_integrator(experiment, str(tmp_path), "exact", 10, cpu)
    from fast.runs.trained import simulation_run

    stored = simulation_run(
        experiment, tmp_path, "alone", alone, q0[2:4], p0[2:4], steps=8, stream=101,
        record_every=4, checkpoint_every=4, device=cpu, progress=False, block=1,
    )  # fmt: skip
    np.testing.assert_array_equal(stored.Q, blocks["Q"][:, 2:4])


def test_a_unit_run_twice_at_once_waits_and_gives_one_result(tmp_path: Path) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def twice(units: Sequence[Unit]) -> list[Any]:
        """Each unit twice at the same time (in two threads): the second waits for the
        first's lock, then finds its trajectory finished. (One unit at a time: BLAS thread
        limits are per process, so units computing in threads of one process could differ
        in rounding.)"""
        results = []
        for unit in units:
            with ThreadPoolExecutor(2) as pool:
                pair = list(pool.map(lambda u: u(), [unit, unit]))
            results.append(pair[0])
            with lock:
                seen.append(len(pair))
        return results

    with unit_executor(twice):
        doubled = _run(tmp_path / "doubled", 2)
    once = _run(tmp_path / "once", 2)
    assert seen == [2, 2, 2]
    np.testing.assert_array_equal(doubled["Q"], once["Q"])


def test_a_joined_file_of_other_blocks_is_refused(tmp_path: Path) -> None:
    _run(tmp_path / "r", 2)
    with pytest.raises(ValueError, match="holds another run"):
        _run(tmp_path / "r", 3)


def test_the_default_executor_runs_units_in_order() -> None:
    order: list[int] = []
    units = [Unit(str(i), order.append, (i,)) for i in range(3)]
    assert run_units(units) == [None, None, None] and order == [0, 1, 2]
    assert sequential(units) == [None] * 3


def test_the_joined_trajectory_loads_like_any_other(tmp_path: Path) -> None:
    _run(tmp_path / "r", 1)
    stored = load_trajectory(tmp_path / "r" / "compare_exact.h5")
    assert stored.attributes["steps"] == 8 and stored.attributes["seconds"] > 0
    assert stored.Q.dtype == np.float64
