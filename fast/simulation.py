"""Long dynamics runs that checkpoint and resume exactly.

:func:`run_dynamics` advances any integrator of :mod:`fast.dynamics` (any force field:
exact, NEGF or a trained network; ensembles as leading batch axes) and

* appends recorded frames (``t``, ``Q`` and the forces, from which densities follow) to
  ``<path>.partial``, an HDF5 file, every ``checkpoint_every`` steps;
* after each such flush writes the full integrator state (``Q``, ``P``, forces, time, step,
  number of frames on disk and the generator state) atomically to ``<path>.state.pt``;
* on a restart reloads that state (``torch.load(..., weights_only=True)``), drops any frame
  written after it and continues, so a killed run ends with exactly the trajectory of an
  uninterrupted one;
* renames ``<path>.partial`` to ``path`` when done (a finished-looking file is whole).

The state file is written atomically and is never half-written. HDF5 appends are not
atomic: a kill in the middle of writing frames can, rarely, leave ``<path>.partial``
unreadable, and the run then has to start over (the error says which file to delete).
"""

from __future__ import annotations

import functools
import json
import os
import time
from pathlib import Path
from typing import Any

import attrs
import h5py
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

import fast
from fast.dynamics import DynamicsState, Integrator
from reference._runio import atomic_write

__all__ = ["StoredTrajectory", "load_trajectory", "run_dynamics"]

STATE_FORMAT = "holstein-mlff/dynamics-state/1"
_FRAME_DTYPES = {"float32": np.float32, "float64": np.float64}


@attrs.frozen(eq=False)
class StoredTrajectory:
    """A finished run read back from disk.

    Attributes
    ----------
    t : (n_frames,) float64
    Q, forces : (n_frames, ..., Lx, Ly)
        Frames in the stored precision.
    attributes : dict
        ``identity`` (the caller's description of the run), ``code_version``, ``steps``,
        ``seconds`` (wall time of the steps, summed over resumptions).
    """

    t: NDArray[np.float64]
    Q: NDArray[Any]
    forces: NDArray[Any]
    attributes: dict[str, Any]


def _paths(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.name + ".partial"), path.with_name(path.name + ".state.pt")


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def load_trajectory(path: str | os.PathLike[str]) -> StoredTrajectory:
    """Read a trajectory written by :func:`run_dynamics`."""
    p = Path(path)
    if not p.exists():
        raise ValueError(f"trajectory {str(p)!r} does not exist")
    with h5py.File(p, "r") as fh:
        return StoredTrajectory(
            t=fh["t"][...],
            Q=fh["Q"][...],
            forces=fh["forces"][...],
            attributes={
                k: (v.decode() if isinstance(v, bytes) else v) for k, v in fh.attrs.items()
            },
        )


def run_dynamics(
    integrator: Integrator,
    state: DynamicsState,
    n_steps: int,
    path: str | os.PathLike[str],
    *,
    identity: str,
    record_every: int = 1,
    checkpoint_every: int = 100,
    frame_dtype: str = "float32",
    progress: bool = False,
    description: str = "dynamics",
    on_checkpoint: Any = None,
) -> StoredTrajectory:
    """Run ``n_steps`` steps from ``state`` into the trajectory file ``path``, resumably.

    Parameters
    ----------
    integrator : Integrator
    state : DynamicsState
        The initial state (ignored when a saved state of the same run exists).
    n_steps : int
    path : path-like
        The finished HDF5 trajectory; if it exists it is returned as is.
    identity : str
        Text that names the run (e.g. its configuration as JSON); a saved state or file
        with another identity is refused, so two runs are never mixed.
    record_every : int
        Steps between frames (frame 0 is the initial state).
    checkpoint_every : int
        Steps between checkpoints; a multiple of ``record_every``.
    frame_dtype : {"float32", "float64"}
        Precision of the stored frames (the state is always saved exactly).
    progress : bool
    description : str
    on_checkpoint : callable, optional
        Called with the step number after each checkpoint, the one at step 0 included
        (tests use it to interrupt).

    Returns
    -------
    StoredTrajectory
    """
    _check_count("n_steps", n_steps, 0)
    _check_count("record_every", record_every, 1)
    _check_count("checkpoint_every", checkpoint_every, 1)
    if checkpoint_every % record_every:
        raise ValueError(
            f"checkpoint_every must be a multiple of record_every ({record_every}), "
            f"got {checkpoint_every}"
        )
    if frame_dtype not in _FRAME_DTYPES:
        raise ValueError(f"frame_dtype must be one of {sorted(_FRAME_DTYPES)}, got {frame_dtype!r}")
    final = Path(path)
    partial, state_file = _paths(final)
    if final.exists():
        stored = load_trajectory(final)
        if stored.attributes.get("identity") != identity:
            raise ValueError(f"{str(final)!r} holds another run; use another output folder")
        return stored
    settings = json.dumps([n_steps, record_every, frame_dtype])
    step, n_frames, seconds = 0, 0, 0.0
    if state_file.exists() and partial.exists():
        saved = torch.load(state_file, map_location=state.Q.device, weights_only=True)
        if saved.get("format") != STATE_FORMAT or saved.get("identity") != identity:
            raise ValueError(
                f"{str(state_file)!r} belongs to another run; delete it or use another folder"
            )
        if saved.get("settings") != settings:
            raise ValueError(
                f"{str(state_file)!r} was saved with n_steps, record_every, frame_dtype = "
                f"{saved.get('settings')}, not {settings}; delete it to start over"
            )
        rng = torch.Generator(device=state.Q.device)
        rng.set_state(saved["rng"])
        state = DynamicsState(saved["Q"], saved["P"], saved["forces"], float(saved["t"]), rng)
        step, n_frames = int(saved["step"]), int(saved["n_frames"])
        seconds = float(saved["seconds"])
    else:
        state_file.unlink(missing_ok=True)
        _create(partial, state, identity, frame_dtype)
    # frame 0 is the initial state, unless a checkpoint already put it on disk
    buffer: list[DynamicsState] = [state] if n_frames == 0 else []
    bar = tqdm(total=n_steps, initial=step, desc=description, disable=not progress, unit="step")
    start = time.perf_counter()
    while True:
        if step % checkpoint_every == 0 or step == n_steps:
            n_frames = _append(partial, buffer, n_frames)
            buffer = []
            payload = {
                "format": STATE_FORMAT,
                "identity": identity,
                "settings": settings,
                "Q": state.Q,
                "P": state.P,
                "forces": state.forces,
                "t": state.t,
                "step": step,
                "n_frames": n_frames,
                "seconds": seconds + time.perf_counter() - start,
                "rng": state.rng.get_state(),
            }
            atomic_write(state_file, functools.partial(_save, payload))
            if on_checkpoint is not None:
                on_checkpoint(step)
        if step == n_steps:
            break
        state = integrator.step(state)
        step += 1
        bar.update(1)
        if step % record_every == 0:
            buffer.append(state)
    bar.close()
    with h5py.File(partial, "a") as fh:
        fh.attrs["steps"] = n_steps
        # wall time of the steps, summed over every call that worked on this run
        fh.attrs["seconds"] = seconds + time.perf_counter() - start
    os.replace(partial, final)
    state_file.unlink()
    return load_trajectory(final)


def _save(payload: dict[str, Any], path: Path) -> None:
    torch.save(payload, path)


def _create(partial: Path, state: DynamicsState, identity: str, frame_dtype: str) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    shape = tuple(state.Q.shape)
    dtype = _FRAME_DTYPES[frame_dtype]
    with h5py.File(partial, "w") as fh:
        fh.attrs["identity"] = identity
        fh.attrs["code_version"] = fast.__version__
        fh.attrs["layout"] = json.dumps(["frame", *["batch"] * (len(shape) - 2), "x", "y"])
        fh.create_dataset("t", shape=(0,), maxshape=(None,), dtype="f8")
        for name in ("Q", "forces"):
            fh.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(1, *shape)
            )


def _append(partial: Path, frames: list[DynamicsState], n_frames: int) -> int:
    """Truncate the file to ``n_frames`` (dropping frames after the last checkpoint), then
    append ``frames``; return the new count."""
    with h5py.File(partial, "a") as fh:
        total = n_frames + len(frames)
        for name in ("t", "Q", "forces"):
            fh[name].resize(total, axis=0)
        for offset, frame in enumerate(frames):
            fh["t"][n_frames + offset] = frame.t
            fh["Q"][n_frames + offset] = frame.Q.detach().cpu().numpy()
            fh["forces"][n_frames + offset] = frame.forces.detach().cpu().numpy()
        fh.flush()
    return total
