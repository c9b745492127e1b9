"""Long dynamics runs that checkpoint and resume exactly: trajectory files.

:func:`run_dynamics` advances any integrator of :mod:`fast.dynamics` (any force field:
exact, NEGF or a trained network; ensembles as leading batch axes) and

* every ``checkpoint_every`` steps writes the frames recorded since the last checkpoint
  (``t``, ``Q`` and the forces, from which densities follow) as one chunk into the folder
  ``<path>.partial`` (:class:`fast.ml.storage.ChunkFolder`, the mechanism datasets use too),
  then the full integrator state (``Q``, ``P``, forces, time, step, number of frames on disk
  and the generator state) as ``<path>.partial/state.pt``;
* on a restart reloads that state (``torch.load(..., weights_only=True)``), drops any
  frames written after it and continues, so a killed run ends with exactly the trajectory
  of an uninterrupted one;
* when done joins the frames into the HDF5 file ``path`` and removes the folder.

Every file is written under a temporary name and renamed, so a kill at any moment, even
in the middle of a write, leaves only whole files: the run always resumes, and a
finished-looking file is always whole.
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
from fast.ehrenfest import adiabatic_densities, ehrenfest_step, nonadiabatic_densities
from fast.ml.storage import ChunkFolder
from fast.model import elastic_force
from reference import runio
from reference.ehrenfest import EhrenfestState
from reference.model import HolsteinModel, LaserPulse, vector_potential
from reference.runio import atomic_write

__all__ = [
    "StoredTrajectory",
    "load_trajectory",
    "run_dynamics",
    "run_ehrenfest",
    "trajectory_files",
]

STATE_FORMAT = "holstein-mlff/dynamics-state/3"
RUN_FORMAT = "holstein-mlff/trajectory-in-progress/1"
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


def trajectory_files(*names: str) -> tuple[str, ...]:
    """The files of the runs ``<name>.h5``: finished and in progress (a folder).

    Parameters
    ----------
    *names : str
        Run names, without ``.h5``.

    Returns
    -------
    tuple of str
        ``<name>.h5`` and ``<name>.h5.partial`` for every name, in order (a stage's
        :attr:`fast.runs.runner.Stage.outputs`).
    """
    return tuple(f"{n}.h5{suffix}" for n in names for suffix in ("", ".partial"))


def _check_count(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def load_trajectory(path: str | os.PathLike[str]) -> StoredTrajectory:
    """Read a trajectory written by :func:`run_dynamics` (or :func:`run_ehrenfest`).

    Parameters
    ----------
    path : path-like
        The finished HDF5 trajectory.

    Returns
    -------
    StoredTrajectory
        Every recorded field; those other than ``t``, ``Q`` and ``forces`` in
        :attr:`StoredTrajectory.extra`.

    Raises
    ------
    ValueError
        If the file does not exist or cannot be read.
    """
    p = Path(path)
    if not p.exists():
        raise ValueError(f"trajectory {str(p)!r} does not exist")
    with runio.reading(p, "trajectory", "delete it to redo the run"), h5py.File(p, "r") as fh:
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
        Any integrator of :mod:`fast.dynamics`; its ``step`` advances the state.
    state : DynamicsState
        The initial state (ignored when a saved state of the same run exists); ``Q`` and
        ``P`` ``(..., Lx, Ly)``, leading axes an ensemble.
    n_steps : int
        Steps to run (>= 0).
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
        Show a progress bar over steps (default False).
    description : str
        The progress bar's label.
    on_checkpoint : callable, optional
        Called with the step number after each checkpoint, the one at step 0 included
        (tests use it to interrupt).

    Returns
    -------
    StoredTrajectory
        The finished run, read back from ``path``: ``n_steps // record_every + 1`` frames.

    Raises
    ------
    ValueError
        For invalid counts or ``frame_dtype``, or a file or saved state of another run
        (another ``identity``, or other ``n_steps``, ``record_every``, ``frame_dtype``).
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
    _check_run(n_steps, record_every, checkpoint_every, frame_dtype)
    folder = ChunkFolder(final, "trajectory", "t")
    state_file = folder.folder / "state.pt"
    if folder.finished():
        reading = runio.reading(final, "trajectory", "delete it to redo the run")
        with reading, h5py.File(final, "r") as fh:
            stored_identity = fh.attrs.get("identity")
        if stored_identity != identity:
            raise ValueError(f"{str(final)!r} holds another run; use another output folder")
        return
    settings = json.dumps([n_steps, record_every, frame_dtype])
    saved = _open_run(folder, identity, settings, frame_dtype, device)
    step, n_frames, seconds = 0, 0, 0.0
    if saved is not None:
        state = restore(saved["state"])
        step, n_frames = int(saved["step"]), int(saved["n_frames"])
        seconds = float(saved["seconds"])
    # frame 0 is the initial state, unless a checkpoint already put it on disk
    buffer = [frame(state)] if n_frames == 0 else []
    bar = tqdm(total=n_steps, initial=step, desc=description, disable=not progress, unit="step")
    start = time.perf_counter()
    while True:
        if step % checkpoint_every == 0 or step == n_steps:
            n_frames = _append(folder, buffer, n_frames, frame_dtype)
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
    # wall time of the steps, summed over every call that worked on this run
    _join(folder, fields, n_steps, seconds + time.perf_counter() - start)


def _open_run(
    folder: ChunkFolder, identity: str, settings: str, frame_dtype: str, device: torch.device
) -> dict[str, Any] | None:
    """The saved checkpoint of this run (``identity``, ``settings``), or None after preparing
    the folder for a fresh start (created, or emptied of a run that never reached its first
    checkpoint)."""
    state_file = folder.folder / "state.pt"
    if folder.folder.exists():
        folder.meta(RUN_FORMAT)  # refuses an older version's folder with one clear line
    if state_file.exists():
        with runio.reading(state_file, "trajectory state", "delete it to start that run over"):
            saved: dict[str, Any] = torch.load(state_file, map_location=device, weights_only=True)
            if not isinstance(saved, dict):
                raise TypeError(f"expected a dict, got {type(saved).__name__}")
        if saved.get("format") != STATE_FORMAT or saved.get("identity") != identity:
            raise ValueError(
                f"{str(state_file)!r} belongs to another run; delete it or use another folder"
            )
        if saved.get("settings") != settings:
            raise ValueError(
                f"{str(state_file)!r} was saved with n_steps, record_every, frame_dtype = "
                f"{saved.get('settings')}, not {settings}; delete it to start over"
            )
        return saved
    if folder.folder.exists():
        folder.truncate(0)
    else:
        folder.create({"format": RUN_FORMAT, "identity": identity,
                       "code_version": fast.__version__, "frame_dtype": frame_dtype})  # fmt: skip
    return None


def _check_run(n_steps: int, record_every: int, checkpoint_every: int, frame_dtype: str) -> None:
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


def _save(payload: dict[str, Any], path: Path) -> None:
    torch.save(payload, path)


def _append(
    folder: ChunkFolder, frames: list[dict[str, Any]], n_frames: int, frame_dtype: str
) -> int:
    """Remove chunks from after the last checkpoint (frames ``>= n_frames``), then write
    ``frames`` (each ``t`` and the fields as tensors) as one new chunk; return the new
    count."""
    folder.truncate(n_frames)
    if not frames:
        return n_frames
    dtype = _FRAME_DTYPES[frame_dtype]
    arrays = {"t": np.array([float(f["t"]) for f in frames])}
    for name in frames[0]:
        if name != "t":
            stacked = torch.stack([f[name].detach() for f in frames]).cpu().numpy()
            arrays[name] = stacked.astype(dtype, copy=False)
    return folder.append(n_frames, arrays)


def _join(folder: ChunkFolder, fields: tuple[str, ...], steps: int, seconds: float) -> None:
    """Join the chunks of a finished run into its HDF5 file, then remove the folder."""
    meta = folder.meta(RUN_FORMAT)
    q_ndim = None
    for _, path in folder.chunks()[:1]:
        q_ndim = folder.read_chunk(path)["Q"].ndim
    attributes: dict[str, Any] = {"identity": meta["identity"],
                                  "code_version": meta["code_version"], "steps": steps,
                                  "seconds": seconds}  # fmt: skip
    if q_ndim is not None:
        layout = ["frame", *["batch"] * (q_ndim - 3), "x", "y"]
        attributes["layout"] = json.dumps(layout)
    folder.join(("t", *fields), attributes)


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
    ``P``, ``t`` and the pulse work, so a resumed run equals an uninterrupted one. Frames
    are stored in float64.

    Parameters
    ----------
    state : EhrenfestState
        The initial state (ignored when a saved state of the same run exists): ``rho``
        ``(..., N, N)`` complex128, ``Q`` and ``P`` ``(..., Lx, Ly)``, leading axes an
        ensemble.
    model : HolsteinModel
        Lattice and parameters.
    dt : float
        Time step (> 0), in the model's time units.
    n_steps : int
        Steps to run (>= 0).
    path : path-like
        The finished HDF5 trajectory; if it exists it is returned as is.
    pulse : LaserPulse, optional
        The laser field; None (default): no field.
    identity : str
        Text that names the run; a saved state or file with another identity is refused.
    record_every : int
        Steps between frames (frame 0 is the initial state; default 1).
    checkpoint_every : int
        Steps between checkpoints; a multiple of ``record_every`` (default 100).
    progress : bool
        Show a progress bar over steps (default False).
    description : str
        The progress bar's label.
    on_checkpoint : callable, optional
        Called with the step number after each checkpoint, the one at step 0 included.

    Returns
    -------
    StoredTrajectory
        The finished run; ``extra`` holds ``P``, ``n_nad`` and ``n_ad``.

    Raises
    ------
    ValueError
        As for :func:`run_dynamics`.
    """

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
