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
from collections.abc import Callable
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
from fast.model import elastic_force
from reference._runio import atomic_write
from reference.ehrenfest import EhrenfestState
from reference.model import HolsteinModel, LaserPulse, vector_potential

__all__ = ["StoredTrajectory", "load_trajectory", "run_dynamics", "run_ehrenfest"]

STATE_FORMAT = "holstein-mlff/dynamics-state/2"
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
    extra : dict of arrays
        Further recorded fields (:func:`run_ehrenfest`: ``P``, ``n_nad``, ``n_ad``).
    """

    t: NDArray[np.float64]
    Q: NDArray[Any]
    forces: NDArray[Any]
    attributes: dict[str, Any]
    extra: dict[str, NDArray[Any]] = attrs.field(factory=dict)


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
            extra={k: fh[k][...] for k in fh if k not in ("t", "Q", "forces")},
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

    def restore(saved: dict[str, Any]) -> DynamicsState:
        rng = torch.Generator(device=state.Q.device)
        rng.set_state(saved["rng"])
        return DynamicsState(saved["Q"], saved["P"], saved["forces"], float(saved["t"]), rng)

    def snapshot(s: DynamicsState) -> dict[str, Any]:
        return {"Q": s.Q, "P": s.P, "forces": s.forces, "t": s.t, "rng": s.rng.get_state()}

    _resumable_run(
        integrator.step, state, n_steps, Path(path), identity=identity,
        record_every=record_every, checkpoint_every=checkpoint_every, frame_dtype=frame_dtype,
        progress=progress, description=description, on_checkpoint=on_checkpoint,
        fields=("Q", "forces"), frame=_dynamics_frame, snapshot=snapshot, restore=restore,
        device=state.Q.device,
    )  # fmt: skip
    return load_trajectory(path)


def _resumable_run(
    advance: Callable[[Any], Any],
    state: Any,
    n_steps: int,
    final: Path,
    *,
    identity: str,
    record_every: int,
    checkpoint_every: int,
    frame_dtype: str,
    progress: bool,
    description: str,
    on_checkpoint: Any,
    fields: tuple[str, ...],
    frame: Callable[[Any], dict[str, Any]],
    snapshot: Callable[[Any], dict[str, Any]],
    restore: Callable[[dict[str, Any]], Any],
    device: torch.device,
) -> None:
    """The checkpointed loop behind :func:`run_dynamics` and :func:`run_ehrenfest`.

    ``advance`` makes one step; ``frame`` gives a state's recorded fields (and ``t``);
    ``snapshot`` the tensors that restore it exactly, and ``restore`` rebuilds it.
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
    partial, state_file = _paths(final)
    if final.exists():
        with h5py.File(final, "r") as fh:
            stored_identity = fh.attrs.get("identity")
        if stored_identity != identity:
            raise ValueError(f"{str(final)!r} holds another run; use another output folder")
        return
    settings = json.dumps([n_steps, record_every, frame_dtype])
    step, n_frames, seconds = 0, 0, 0.0
    if state_file.exists() and partial.exists():
        saved = torch.load(state_file, map_location=device, weights_only=True)
        if saved.get("format") != STATE_FORMAT or saved.get("identity") != identity:
            raise ValueError(
                f"{str(state_file)!r} belongs to another run; delete it or use another folder"
            )
        if saved.get("settings") != settings:
            raise ValueError(
                f"{str(state_file)!r} was saved with n_steps, record_every, frame_dtype = "
                f"{saved.get('settings')}, not {settings}; delete it to start over"
            )
        state = restore(saved["state"])
        step, n_frames = int(saved["step"]), int(saved["n_frames"])
        seconds = float(saved["seconds"])
    else:
        state_file.unlink(missing_ok=True)
        first = frame(state)
        _create(partial, tuple(first["Q"].shape), identity, frame_dtype, fields)
    # frame 0 is the initial state, unless a checkpoint already put it on disk
    buffer = [frame(state)] if n_frames == 0 else []
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
                "state": snapshot(state),
                "step": step,
                "n_frames": n_frames,
                "seconds": seconds + time.perf_counter() - start,
            }
            atomic_write(state_file, functools.partial(_save, payload))
            if on_checkpoint is not None:
                on_checkpoint(step)
        if step == n_steps:
            break
        state = advance(state)
        step += 1
        bar.update(1)
        if step % record_every == 0:
            buffer.append(frame(state))
    bar.close()
    with h5py.File(partial, "a") as fh:
        fh.attrs["steps"] = n_steps
        # wall time of the steps, summed over every call that worked on this run
        fh.attrs["seconds"] = seconds + time.perf_counter() - start
    os.replace(partial, final)
    state_file.unlink()


def _save(payload: dict[str, Any], path: Path) -> None:
    torch.save(payload, path)


def _create(
    partial: Path,
    shape: tuple[int, ...],
    identity: str,
    frame_dtype: str,
    fields: tuple[str, ...] = ("Q", "forces"),
) -> None:
    """A new frame file: ``t`` and one dataset per field, frames of ``shape``."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    dtype = _FRAME_DTYPES[frame_dtype]
    with h5py.File(partial, "w") as fh:
        fh.attrs["identity"] = identity
        fh.attrs["code_version"] = fast.__version__
        fh.attrs["layout"] = json.dumps(["frame", *["batch"] * (len(shape) - 2), "x", "y"])
        fh.create_dataset("t", shape=(0,), maxshape=(None,), dtype="f8")
        for name in fields:
            fh.create_dataset(
                name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=(1, *shape)
            )


def _append(partial: Path, frames: list[dict[str, Any]], n_frames: int) -> int:
    """Truncate the file to ``n_frames`` (dropping frames after the last checkpoint), then
    append ``frames`` (each ``t`` and the fields as tensors); return the new count."""
    with h5py.File(partial, "a") as fh:
        total = n_frames + len(frames)
        names = [name for name in fh if name != "t"]
        for name in ("t", *names):
            fh[name].resize(total, axis=0)
        for offset, frame in enumerate(frames):
            fh["t"][n_frames + offset] = frame["t"]
            for name in names:
                fh[name][n_frames + offset] = frame[name].detach().cpu().numpy()
        fh.flush()
    return total


def _dynamics_frame(state: DynamicsState) -> dict[str, Any]:
    return {"t": state.t, "Q": state.Q, "forces": state.forces}


def _adiabatic_force(n_ad: torch.Tensor, Q: torch.Tensor, model: HolsteinModel) -> torch.Tensor:
    p = model.params
    return p.g * (n_ad - p.coupling.offset) + elastic_force(Q, model)


def run_ehrenfest(
    state: EhrenfestState,
    model: HolsteinModel,
    dt: float,
    n_steps: int,
    path: str | os.PathLike[str],
    *,
    pulse: LaserPulse | None = None,
    identity: str,
    record_every: int = 1,
    checkpoint_every: int = 100,
    progress: bool = False,
    description: str = "Ehrenfest",
    on_checkpoint: Any = None,
) -> StoredTrajectory:
    r"""Run batched Ehrenfest dynamics (paper 000) into ``path``, resumably, like
    :func:`run_dynamics`.

    Frames hold ``t``, ``Q``, ``P``, the densities ``n_nad`` (:math:`\rho_{ii}`) and
    ``n_ad`` (eq. 19, in the eigenbasis of :math:`h(Q, \mathbf{A}(t))`) and ``forces``, the
    adiabatic force :math:`g(n^{\rm ad}_i - c) - kQ_i - \kappa\sum_j' Q_j` (eq. 22 plus the
    elastic force), the label of paper 000's network. The checkpoint holds ``rho``, ``Q``,
    ``P``, ``t`` and the pulse work, so a resumed run equals an uninterrupted one.
    ``StoredTrajectory.extra`` holds ``P``, ``n_nad`` and ``n_ad``.
    """
    from fast.ehrenfest import adiabatic_densities, ehrenfest_step, nonadiabatic_densities

    def advance(s: EhrenfestState) -> EhrenfestState:
        return ehrenfest_step(s, model, dt, pulse)

    def frame(s: EhrenfestState) -> dict[str, Any]:
        rho, q = torch.as_tensor(s.rho), torch.as_tensor(s.Q)
        a = torch.as_tensor(vector_potential(s.t, pulse) if pulse is not None else np.zeros(2))
        n_ad = adiabatic_densities(rho, q, model, a)
        return {"t": s.t, "Q": q, "P": torch.as_tensor(s.P), "forces": _adiabatic_force(
            n_ad, q, model), "n_nad": nonadiabatic_densities(rho, model), "n_ad": n_ad}  # fmt: skip

    def snapshot(s: EhrenfestState) -> dict[str, Any]:
        return {"rho": torch.as_tensor(s.rho), "Q": torch.as_tensor(s.Q),
                "P": torch.as_tensor(s.P), "t": s.t, "work": torch.as_tensor(s.work)}  # fmt: skip

    def restore(saved: dict[str, Any]) -> EhrenfestState:
        return EhrenfestState(saved["rho"], saved["Q"], saved["P"], float(saved["t"]),
                              saved["work"])  # fmt: skip

    _resumable_run(
        advance, state, n_steps, Path(path), identity=identity, record_every=record_every,
        checkpoint_every=checkpoint_every, frame_dtype="float64", progress=progress,
        description=description, on_checkpoint=on_checkpoint,
        fields=("Q", "P", "forces", "n_nad", "n_ad"), frame=frame, snapshot=snapshot,
        restore=restore, device=torch.as_tensor(state.rho).device,
    )  # fmt: skip
    return load_trajectory(path)
