"""Checkpointed dynamics runs into trajectory files (fast.runs.trajectories): a kill at any
moment resumes to the uninterrupted trajectory."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import fast.runs.trajectories as sim
from fast import dynamics, ed
from fast.runs.trajectories import load_trajectory, run_dynamics
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams


class _StopError(Exception):
    """Raised by a test callback to simulate a kill."""


def test_a_killed_run_resumes_to_the_uninterrupted_trajectory(tmp_path: Path) -> None:
    model = HolsteinModel(SquareLattice(4, 4), HolsteinParams(), ElectronEnsemble(0.1))
    integ = dynamics.langevin_baoab(
        ed.ExactForceField(model), mass=5.0, gamma=0.2, temperature=0.1, dt=0.05
    )
    q0 = torch.as_tensor(np.random.default_rng(0).normal(size=(2, 4, 4)))

    def start() -> dynamics.DynamicsState:
        return integ.init(q0, rng=7)

    kwargs = {"identity": "run", "record_every": 2, "checkpoint_every": 10,
              "frame_dtype": "float64"}  # fmt: skip
    whole = run_dynamics(integ, start(), 40, tmp_path / "w.h5", **kwargs)  # type: ignore[arg-type]
    for stop_at in (0, 10, 30):

        def stop(step: int, stop_at: int = stop_at) -> None:
            if step == stop_at:
                raise _StopError

        path = tmp_path / f"r{stop_at}.h5"
        with pytest.raises(_StopError):
            run_dynamics(integ, start(), 40, path, on_checkpoint=stop, **kwargs)  # type: ignore[arg-type]
        assert not path.exists()
        resumed = run_dynamics(integ, start(), 40, path, **kwargs)  # type: ignore[arg-type]
        np.testing.assert_array_equal(resumed.Q, whole.Q)
        np.testing.assert_array_equal(resumed.forces, whole.forces)
        np.testing.assert_array_equal(resumed.t, whole.t)
    assert whole.Q.shape == (21, 2, 4, 4)
    assert {"r0.h5", "r10.h5", "r30.h5", "w.h5"} <= {p.name for p in tmp_path.iterdir()}
    assert float(whole.attributes["seconds"]) > 0
    # a saved state is resumed only with the settings it was made with

    def stop_early(step: int) -> None:
        if step == 10:
            raise _StopError

    with pytest.raises(_StopError):
        run_dynamics(integ, start(), 40, tmp_path / "s.h5", on_checkpoint=stop_early, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="was saved with n_steps"):
        run_dynamics(integ, start(), 20, tmp_path / "s.h5", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="another run"):
        run_dynamics(integ, start(), 40, tmp_path / "w.h5", identity="other")
    with pytest.raises(ValueError, match="checkpoint_every must be a multiple"):
        run_dynamics(integ, start(), 40, tmp_path / "x.h5", identity="x", record_every=3,
                     checkpoint_every=10)  # fmt: skip
    assert load_trajectory(tmp_path / "w.h5").attributes["identity"] == "run"


def test_a_run_killed_between_its_frames_and_its_state_resumes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill after a checkpoint's frames reach the disk but before its state does (and
    one that leaves a half-written temporary file) loses nothing and duplicates nothing."""

    model = HolsteinModel(SquareLattice(4, 4), HolsteinParams(), ElectronEnsemble(0.1))
    integ = dynamics.langevin_baoab(
        ed.ExactForceField(model), mass=5.0, gamma=0.2, temperature=0.1, dt=0.05
    )
    q0 = torch.as_tensor(np.random.default_rng(1).normal(size=(2, 4, 4)))
    kwargs = {"identity": "run", "record_every": 2, "checkpoint_every": 10,
              "frame_dtype": "float64"}  # fmt: skip
    whole = run_dynamics(integ, integ.init(q0, rng=3), 30, tmp_path / "w.h5", **kwargs)  # type: ignore[arg-type]
    save, calls = sim._save, []

    def dies_at_the_third_state(payload: dict[str, object], path: Path) -> None:
        calls.append(path)
        if len(calls) == 3:  # the checkpoint at step 20: its frames are on disk already
            path.write_bytes(b"half a state")
            raise _StopError
        save(payload, path)

    monkeypatch.setattr(sim, "_save", dies_at_the_third_state)
    path = tmp_path / "r.h5"
    with pytest.raises(_StopError):
        run_dynamics(integ, integ.init(q0, rng=3), 30, path, **kwargs)  # type: ignore[arg-type]
    partial = path.with_name("r.h5.partial")
    assert sorted(p.name for p in partial.glob("chunk-*")) == [
        "chunk-000000000.npz", "chunk-000000001.npz", "chunk-000000006.npz"
    ]  # fmt: skip
    (partial / "chunk-000000011.npz.tmp").write_bytes(b"a kill in the middle of a write")
    monkeypatch.setattr(sim, "_save", save)
    resumed = run_dynamics(integ, integ.init(q0, rng=3), 30, path, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(resumed.Q, whole.Q)
    np.testing.assert_array_equal(resumed.t, whole.t)
    assert not partial.exists()
    # a run folder left by an older version (an HDF5 file, not a folder) is named
    (tmp_path / "old.h5.partial").write_bytes(b"")
    with pytest.raises(ValueError, match="not a trajectory in progress of this version"):
        run_dynamics(integ, integ.init(q0, rng=3), 30, tmp_path / "old.h5", **kwargs)  # type: ignore[arg-type]
