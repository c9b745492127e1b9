r"""The laser workflow of paper 000 from one file: ``[experiment] kind = "laser"``.

A half-filled periodic Holstein lattice starts in its checkerboard CDW with weak lattice
noise; a Gaussian laser pulse (eq. 10, Peierls coupling eq. 11) melts the order, and the
lattice and the single-particle density matrix evolve together (Ehrenfest, eqs. 6-9).
Paper 000 splits the lattice force into the quasi-adiabatic force
:math:`F^{\rm ad}_i = g\,n^{\rm ad}_i` (eq. 22: the density in the instantaneous eigenbasis
with the evolving band populations) and a bath-like remainder (eq. 21), learns the first
with a time-conditioned GNN (eqs. 23-26) and replaces the second by a Langevin bath whose
friction decays (eqs. 27-31) for the recovery stage from :math:`t_1 = 80\tau_0` on. The stages:

``dataset``
    ``n_runs`` exact Ehrenfest runs (:func:`fast.runs.trajectories.run_ehrenfest`) ->
    ``exact_runs.h5`` (frames ``Q``, ``P``, ``n_nad``, ``n_ad`` and the adiabatic force); resumable;
``train``
    the time-conditioned GNN of ``[train]`` on the adiabatic forces of the frames with
    ``t >= from_tau0`` (time input ``1/t``) -> ``model.pt``, ``training.json``,
    ``predictions.h5``;
``simulate``
    ``[compare] ensemble`` held-out exact Ehrenfest runs -> ``compare_exact.h5``; from each
    one's state at :math:`t_1`, ML Langevin with the decaying bath to the end ->
    ``compare_ml.h5``; the bath temperature is measured from the training runs by
    equipartition (eq. 30) unless given;
``analyse``
    :math:`O(t)` (eq. 13) and :math:`\sigma(t)` of both, with standard errors and z-scores
    over the recovery stage, and the ML force error along the held-out exact runs ->
    ``analysis.h5``, ``analysis.json``;
``report``
    parity, error histogram, training curve, :math:`O(t)` and :math:`\sigma(t)`,
    :math:`\zeta_i` maps; ``report.md``, ``metrics.json``.

Energy in units of :math:`|t_{nn}|`, time in :math:`\tau_{\rm el} = 1/|t_{nn}|` (code units);
settings and figures also use :math:`\tau_0 = 1/\Omega`, paper 000's unit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from numpy.typing import NDArray

from fast import dynamics
from fast.ml.datasets import Dataset
from fast.ml.models import load_model, physics_json
from fast.ml.storage import content_hash
from fast.ml.training import ErrorStats
from fast.runs import laser_report
from fast.runs.analysis import compare_ensembles, write_arrays
from fast.runs.laser_settings import LaserSettings
from fast.runs.report import CampaignEntry
from fast.runs.runner import Stage, fingerprint
from fast.runs.settings import (
    torch_dtype,
)
from fast.runs.trained import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    TRAIN_OUTPUTS,
    simulation_run,
    train_stage,
)
from fast.runs.trajectories import (
    StoredTrajectory,
    load_trajectory,
    run_ehrenfest,
    trajectory_files,
)
from reference import ed, ehrenfest, observables, runio
from reference.dynamics import kinetic_temperature_since
from reference.ehrenfest import EhrenfestState
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import HolsteinModel
from reference.sections import LaserPhysics

__all__ = [
    "LaserExperiment",
    "cdw_ehrenfest_states",
    "training_frames",
]

log = logging.getLogger("fast.runs")


# ============================================================================ helpers


def cdw_ehrenfest_states(
    model: HolsteinModel,
    count: int,
    rng: np.random.Generator,
    device: torch.device,
    *,
    initial_temperature: float,
) -> EhrenfestState:
    """``count`` CDW ground states with independent lattice noise, as one batched state.

    :func:`reference.ehrenfest.initial_state` per member (paper 000, sec. II): the relaxed
    CDW plus Gaussian noise of ``initial_temperature``, electrons in equilibrium with the
    noiseless lattice.

    Parameters
    ----------
    model : HolsteinModel
        The periodic lattice and its parameters.
    count : int
        Members of the batch.
    rng : numpy.random.Generator
        Draws one seed per member (for its noise).
    device : torch.device
        Where the state's tensors go.
    initial_temperature : float
        The temperature of the lattice noise (code energy units, ``|t_nn| = 1``; paper 000:
        about 1e-5).

    Returns
    -------
    EhrenfestState
        ``rho`` ``(count, N, N)`` complex128, ``Q`` and ``P`` ``(count, Lx, Ly)`` float64,
        ``t = 0`` and ``work`` zeros ``(count,)``, as tensors on ``device``.
    """
    cdw = ed.ground_state(model).Q
    members = [
        ehrenfest.initial_state(model, noise_temperature=initial_temperature,
                                rng=np.random.default_rng(rng.integers(2**62)), Q=cdw)
        for _ in range(count)
    ]  # fmt: skip
    # EhrenfestState is annotated with NumPy types; fast keeps tensors in it
    fields: list[Any] = [
        torch.as_tensor(np.stack([m.rho for m in members]), device=device),
        torch.as_tensor(np.stack([m.Q for m in members]), device=device),
        torch.as_tensor(np.stack([m.P for m in members]), device=device),
        0.0,
        torch.zeros(count, dtype=torch.float64, device=device),
    ]
    return EhrenfestState(*fields)


def _exact_runs(
    experiment: LaserSettings, folder: Path, name: str, count: int, stream: int,
    device: torch.device, progress: bool,
) -> StoredTrajectory:  # fmt: skip
    p, e = experiment.physics, experiment.ehrenfest
    rng = np.random.default_rng([experiment.seed, stream])
    state = cdw_ehrenfest_states(
        experiment.model(), count, rng, device, initial_temperature=e.initial_temperature
    )
    identity = json.dumps({"fingerprint": fingerprint(experiment, "dataset"), "run": name,
                           "stream": stream, "count": count})  # fmt: skip
    return run_ehrenfest(
        state, experiment.model(), e.dt, e.steps(p.tau0), folder / f"{name}.h5",
        pulse=experiment.pulse.pulse(), identity=identity, record_every=e.record_every,
        checkpoint_every=e.checkpoint_every, progress=progress, description=name,
    )  # fmt: skip


# ============================================================================ stages


def _stage_dataset(
    experiment: LaserSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    runs = _exact_runs(experiment, folder, "exact_runs", experiment.dataset.n_runs, 2**32 - 3,
                       device, progress)  # fmt: skip
    log.info("dataset: %d frames of %d Ehrenfest runs", len(runs.t), runs.Q.shape[1])


def training_frames(
    stored: StoredTrajectory, physics: LaserPhysics, from_tau0: float, every: int
) -> tuple[Dataset, NDArray[np.float64]]:
    """The training set of paper 000 from exact runs: configurations, adiabatic forces and
    densities of the frames with ``t >= from_tau0`` (every ``every``-th), and their times.

    Parameters
    ----------
    stored : StoredTrajectory
        The exact Ehrenfest runs (:func:`fast.runs.trajectories.run_ehrenfest`): frames
        ``(frames, runs, Lx, Ly)`` with ``extra["n_ad"]``.
    physics : LaserPhysics
        The ``[physics]`` section (``tau0`` and the Holstein parameters).
    from_tau0 : float
        The first time used, in units of ``tau0``.
    every : int
        Take every ``every``-th frame from there on (>= 1).

    Returns
    -------
    dataset : Dataset
        ``Q``, ``F`` (the adiabatic force) and ``n`` (``n_ad``), ``(frames * runs, Lx, Ly)``,
        frame by frame; its attributes hold the physics and a content hash over the arrays
        and the times.
    times : (frames * runs,) float64
        The time of every configuration (code units).
    """
    frames = np.flatnonzero(stored.t >= from_tau0 * physics.tau0 - 1e-9)[::every]
    runs = stored.Q.shape[1]
    shape = stored.Q.shape[2:]
    q = stored.Q[frames].reshape(-1, *shape)
    f = stored.forces[frames].reshape(-1, *shape)
    n = stored.extra["n_ad"][frames].reshape(-1, *shape)
    times = np.repeat(stored.t[frames], runs)
    arrays = {"Q": q, "F": f, "n": n}
    attributes = {
        "physics": physics_json(physics.params()),
        "content_hash": content_hash(arrays | {"t": times}),
        "kind": "laser",
    }
    return Dataset(q, f, n, attributes), times


def _stage_train_laser(
    experiment: LaserSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    stored = load_trajectory(folder / "exact_runs.h5")
    d = experiment.dataset
    data, times = training_frames(stored, experiment.physics, d.from_tau0, d.snapshot_every)
    train_stage(experiment, folder, device, progress, data=data, times=times)


def _stage_simulate(
    experiment: LaserSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    p, r, cmp = experiment.physics, experiment.recovery, experiment.compare
    exact = _exact_runs(experiment, folder, "compare_exact", cmp.ensemble, 101, device, progress)
    training = load_trajectory(folder / "exact_runs.h5")
    first = experiment.t1_frame
    t1 = float(exact.t[first])
    temperature = r.temperature
    if temperature is None:
        temperature = kinetic_temperature_since(training.t, training.extra["P"], p.mass, t1)
    model = load_model(folder / MODEL_FILE, **experiment.model_checks())
    dtype = torch_dtype(cmp.precision)
    lattice = experiment.model().lattice
    ml_ff = model.force_field(lattice, dtype=dtype, device=device, time=t1)
    integ = dynamics.langevin_time_dependent_bath(
        ml_ff, mass=p.mass, schedule=r.schedule(p.tau0), temperature=temperature, dt=r.dt
    )
    per_frame = round(experiment.frame_time / r.dt)
    steps = (len(exact.t) - 1 - first) * per_frame
    q1 = torch.as_tensor(exact.Q[first], device=device)
    p1 = torch.as_tensor(exact.extra["P"][first], device=device)
    e = experiment.ehrenfest
    ml = simulation_run(
        experiment, folder, "compare_ml", integ, q1, p1, steps=steps, stream=101,
        record_every=per_frame,
        checkpoint_every=per_frame * max(1, e.checkpoint_every // e.record_every),
        device=device, progress=progress, model_hash=model.content_hash(), t0=t1,
    )  # fmt: skip
    exact_steps = experiment.ehrenfest.steps(p.tau0)
    timings = {
        "exact_seconds_per_step": float(exact.attributes["seconds"]) / exact_steps,
        "exact_dt": experiment.ehrenfest.dt,
        "ml_seconds_per_step": float(ml.attributes["seconds"]) / max(steps, 1),
        "ml_dt": r.dt,
        "bath_temperature": temperature,
        "bath_temperature_measured": r.temperature is None,
        "t1": t1,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "ensemble": cmp.ensemble,
    }
    runio.write_json(folder / "simulate_timings.json", timings)


def _stage_analyse(
    experiment: LaserSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    p = experiment.physics
    lattice = experiment.model().lattice
    exact = load_trajectory(folder / "compare_exact.h5")
    ml = load_trajectory(folder / "compare_ml.h5")
    first = experiment.t1_frame
    arrays: dict[str, NDArray[Any]] = {"t": exact.t, "t_ml": ml.t}
    summary: dict[str, Any] = {"ensemble": int(exact.Q.shape[1]), "t1": float(exact.t[first]),
                               "tau0": p.tau0}  # fmt: skip
    for name in ("O", "sigma"):
        o_exact, o_ml = (_observable(name, q, p.q0, lattice) for q in (exact.Q, ml.Q))
        arrays |= {f"{name}_exact": o_exact, f"{name}_ml": o_ml}
        compared, m_e, s_e = compare_ensembles(o_exact[first:], o_ml)
        summary[name] = compared | {"exact_at_t1": float(m_e[0]),
                                    "exact_final_spread": float(s_e[-1])}  # fmt: skip
    # the ML adiabatic force along the held-out exact runs (training window onwards)
    model = load_model(folder / MODEL_FILE, **experiment.model_checks())
    frames = np.flatnonzero(exact.t >= experiment.dataset.from_tau0 * p.tau0 - 1e-9)
    frames = frames[np.unique(np.linspace(0, len(frames) - 1, 40).astype(int))]
    predicted = np.stack([
        model.force_field(lattice, dtype=torch.float64, device=device, time=float(exact.t[f]))
        .forces(torch.as_tensor(exact.Q[f], device=device)).cpu().numpy()
        for f in frames
    ])  # fmt: skip
    stats = ErrorStats.of(predicted, exact.forces[frames])
    summary["force_error_on_held_out_runs"] = attrs.asdict(stats) | {"frames": len(frames)}
    # zeta_i = (Q_i - Q0) e^{iK.r_i} (eq. 32) of run 0 at the start, middle and end of recovery
    sign = sublattice_sign(lattice)
    shown = [first, (first + len(exact.t) - 1) // 2, len(exact.t) - 1]
    arrays |= {"zeta_frames": np.array(shown),
               "zeta_exact": (exact.Q[shown, 0] - p.q0) * sign,
               "zeta_ml": (ml.Q[[s - first for s in shown], 0] - p.q0) * sign}  # fmt: skip
    write_arrays(folder / "analysis.h5", arrays)
    runio.write_json(folder / "analysis.json", summary)
    log.info("analyse: O(t_end) exact %.3f, ML %.3f; force error std on held-out runs %.3g",
             summary["O"]["exact_final"], summary["O"]["ml_final"], stats.std)  # fmt: skip


def _observable(
    name: str, q: NDArray[np.float64], q0: float, lattice: SquareLattice
) -> NDArray[np.float64]:
    r"""Per frame and run, ``(frames, runs)``: ``"O"``, :math:`|Q_{\pi,\pi}|` (the summand of
    eq. 13); ``"sigma"``, the spatial spread of :math:`\zeta_i` (the summand of
    :func:`reference.observables.spatial_fluctuation`)."""
    if name == "O":
        return np.abs(observables.staggered_order(q, lattice))
    return np.stack([observables.spatial_fluctuation(frame[:, None], q0, lattice)
                     for frame in q])  # fmt: skip


def _stage_report(
    experiment: LaserSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    laser_report.write_laser_report(experiment, folder)


_SECTIONS = ("kind", "seed", "physics", "pulse", "ehrenfest", "dataset")
_SIMULATE = (*_SECTIONS, "train", "recovery", "compare")

_STAGES = (
    Stage("dataset", _SECTIONS, trajectory_files("exact_runs"), _stage_dataset),
    Stage("train", (*_SECTIONS, "train"), TRAIN_OUTPUTS, _stage_train_laser, (CHECKPOINT_FILE,)),
    Stage(
        "simulate",
        _SIMULATE,
        (*trajectory_files("compare_exact", "compare_ml"), "simulate_timings.json"),
        _stage_simulate,
    ),
    Stage("analyse", _SIMULATE, ("analysis.h5", "analysis.json"), _stage_analyse),
    Stage(
        "report",
        (*_SIMULATE, "name"),
        ("report.md", "metrics.json", "figures/*.png"),
        _stage_report,
    ),
)


@attrs.frozen(kw_only=True)
class LaserExperiment(LaserSettings):
    """The laser workflow (paper 000): its settings
    (:class:`LaserSettings`) and its stages."""

    STAGES: ClassVar[tuple[Stage, ...]] = _STAGES

    def campaign_summary(self, entries: Sequence[CampaignEntry], folder: Path) -> str:
        """The campaign report's section on this workflow's points, side by side
        (:func:`fast.runs.laser_report.campaign_summary`).

        Parameters
        ----------
        entries : sequence of CampaignEntry
            One per laser point of the campaign.
        folder : Path
            The campaign folder; figures go to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown.
        """
        return laser_report.campaign_summary(entries, folder)
