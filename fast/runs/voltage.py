r"""The voltage workflow of paper 001 from one file: ``[experiment] kind = "voltage"``.

A Holstein lattice, open along x and periodic along y, sits between two wide-band
electrodes (``x = 0``: :math:`\mu_L = -V`; ``x = L_x - 1``: :math:`\mu_R = 0`), every site
also touching a weak bath. It starts in the equilibrium checkerboard CDW and follows
overdamped Brownian dynamics (paper 001, eq. 3) driven by the nonequilibrium
steady-state force (eq. 4). The metal nucleates at the left electrode and a CDW-metal
domain wall advances into the bulk. The stages:

``dataset``
    ``n_runs`` exact NEGF-Brownian runs (:class:`fast.negf.NEGFForceField`, exact energy
    integral), snapshots every ``snapshot_every`` steps -> ``dataset.h5``
    (:func:`generate_voltage_dataset`; resumable);
``train``
    the network of ``[train]`` (default: paper 001's Cs-descriptor MLP) on the forces of
    the central columns only, ``exclude_columns`` away from either electrode (paper 001,
    sec. III) -> ``model.pt``, ``training.json``, ``predictions.h5``;
``simulate``
    ``[compare] ensemble`` new exact NEGF-Brownian runs (held out: other seeds) and, from
    the same initial states with the same noise, ML-Brownian runs whose
    ``frozen_columns`` outermost columns per side follow the exact run (paper 001,
    sec. IV: nucleation at the electrode is outside the model's scope) ->
    ``compare_exact.h5``, ``compare_ml.h5``, ``simulate_timings.json``;
``analyse``
    the metallic fraction :math:`\xi(t)` (paper 001, Fig. 4) of both, with standard errors
    over runs and z-scores of their difference, and the ML force error along the held-out
    exact trajectories -> ``analysis.h5``, ``analysis.json``;
``report``
    figures (parity, error histogram, training curve, density maps exact vs ML,
    :math:`\xi(t)`), ``report.md``, ``metrics.json``.

Time is in units of :math:`1/\gamma` (the Brownian damping), energy in units of ``t_nn``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from fast import dynamics
from fast.ml.datasets import (
    Dataset,
    append_chunk,
    dataset_finished,
    dynamics_checkpoint,
    finish_dataset,
    load_dataset,
    open_partial,
    resume_dynamics,
)
from fast.ml.models import load_model, physics_json
from fast.ml.training import ErrorStats
from fast.negf import NEGFForceField
from fast.runs import voltage_report
from fast.runs.analysis import compare_ensembles, write_arrays
from fast.runs.report import CampaignEntry
from fast.runs.runner import Stage
from fast.runs.settings import torch_dtype
from fast.runs.trained import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    TRAIN_OUTPUTS,
    simulation_run,
    train_stage,
)
from fast.runs.trajectories import load_trajectory, trajectory_files
from fast.runs.voltage_settings import (
    BrownianSettings,
    VoltageDatasetConfig,
    VoltageSettings,
)
from reference import ed, observables, runio
from reference.lattice import SquareLattice
from reference.model import HolsteinModel
from reference.sections import VoltagePhysics

__all__ = [
    "VoltageDatasetConfig",
    "VoltageExperiment",
    "cdw_initial_states",
    "generate_voltage_dataset",
    "lattice_json",
]

log = logging.getLogger("fast.runs")


# ============================================================================ dataset


def lattice_json(lattice: SquareLattice) -> str:
    """The lattice geometry as JSON text (``Lx``, ``Ly``, ``periodic_x``, ``periodic_y``).

    Parameters
    ----------
    lattice : SquareLattice
        The lattice to describe.

    Returns
    -------
    str
        Sorted-key JSON of the lattice's fields.
    """
    return json.dumps(attrs.asdict(lattice), sort_keys=True)


def cdw_initial_states(
    model: HolsteinModel, count: int, noise: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``count`` copies of the equilibrium CDW plus Gaussian noise, ``(count, Lx, Ly)``.

    The CDW is :func:`reference.ed.ground_state` of the lattice without reservoirs at half
    filling and temperature of ``model`` (paper 001: the system starts in the CDW insulator).

    Parameters
    ----------
    model : HolsteinModel
        The lattice (open along x) and its parameters (:func:`driven_model`).
    count : int
        Copies (runs).
    noise : float
        Standard deviation of the Gaussian noise added to every ``Q_i`` (>= 0).
    rng : numpy.random.Generator
        Draws the noise.

    Returns
    -------
    (count, Lx, Ly) float64
        The initial distortions of every run.
    """
    cdw = ed.ground_state(model).Q
    return np.asarray(cdw + rng.normal(scale=noise, size=(count, *cdw.shape)), dtype=np.float64)


def _brownian(physics: VoltagePhysics, brownian: BrownianSettings, force_field: Any,
              **kwargs: Any) -> dynamics.Integrator:  # fmt: skip
    return dynamics.brownian(
        force_field, gamma=brownian.damping, temperature=physics.temperature, dt=brownian.dt,
        **kwargs,
    )  # fmt: skip


def _labels(model: HolsteinModel, state: dynamics.DynamicsState) -> dict[str, NDArray[Any]]:
    q = state.Q.cpu().numpy()
    f = state.forces.cpu().numpy()
    return {"Q": q, "F": f, "n": ed.densities_from_forces(q, f, model)}


def generate_voltage_dataset(
    config: VoltageDatasetConfig,
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_chunk: Callable[[int], Any] | None = None,
) -> Dataset:
    """Generate (or resume, or just load) the training set of ``config`` at ``path``.

    The runs are one batch; after every ``snapshot_every`` steps their configurations,
    exact NEGF forces and densities are appended to ``<path>.partial`` together with the
    dynamics state, so a killed generation resumes where it stopped and produces the same
    file. The finished file records the configuration, the Holstein parameters
    (``physics``), the lattice geometry (``lattice``) and a content hash.

    Parameters
    ----------
    config : VoltageDatasetConfig
        Physics, electrodes, Brownian dynamics, run count, snapshot spacing and seed; stored
        as JSON in the file.
    path : str or Path
        The finished HDF5 file; work in progress lives in the folder ``<path>.partial``.
    device : str or torch.device
        Where the NEGF forces are computed (default ``"cpu"``).
    progress : bool
        Show a progress bar (default True).
    on_chunk : callable, optional
        Called with the number of samples written after every snapshot (tests use it to
        interrupt a run).

    Returns
    -------
    Dataset
        ``n_runs * (steps // snapshot_every)`` snapshots ``(n, Lx, Ly)`` of ``Q``, the exact
        forces ``F`` and densities ``n``.

    Raises
    ------
    ValueError
        If ``path`` holds a dataset of another configuration.
    """
    final = Path(path)
    settings = runio.to_jsonable(attrs.asdict(config))
    if dataset_finished(final):
        data = load_dataset(final)
        if data.attributes.get("config") != json.dumps(settings, sort_keys=True):
            raise ValueError(
                f"{str(final)!r} was generated with another configuration; use another path"
            )
        return data
    dev = torch.device(device)
    physics, model = config.physics, config.model()
    extra = {"physics": physics_json(physics.params()), "lattice": lattice_json(model.lattice)}
    done = open_partial(final, model.lattice.shape, settings, "voltage", extra)
    integ = _brownian(physics, config.brownian, NEGFForceField(model, config.reservoirs()))
    resumed = resume_dynamics(final, integ, dev) if done else None
    if resumed is None:
        rng = np.random.default_rng([config.seed, 2**32 - 2])  # the dataset stream
        q0 = cdw_initial_states(model, config.n_runs, config.brownian.initial_noise, rng)
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(rng.integers(2**62)))
        state, step = integ.init(torch.as_tensor(q0, device=dev), rng=gen), 0
    else:
        state, step = resumed
    total = config.n_samples
    bar = tqdm(total=total, initial=done, desc="NEGF labels", disable=not progress,
               unit="config")  # fmt: skip
    while done < total:
        for _ in range(config.snapshot_every):
            state = integ.step(state)
            step += 1
        done = append_chunk(final, _labels(model, state), dynamics_checkpoint(state, step))
        bar.update(config.n_runs)
        if on_chunk is not None:
            on_chunk(done)
    bar.close()
    return finish_dataset(final)


# ============================================================================ stages


def _stage_dataset(
    experiment: VoltageSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    data = generate_voltage_dataset(
        experiment.dataset_config(), folder / "dataset.h5", device=device, progress=progress
    )
    log.info("dataset: %d NEGF snapshots of %dx%d", len(data), *data.Q.shape[1:])


def _stage_train_voltage(
    experiment: VoltageSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    train_stage(
        experiment, folder, device, progress,
        lattice=experiment.brownian.lattice, sites=experiment.train_sites(),
    )  # fmt: skip


def _run(
    experiment: VoltageSettings,
    folder: Path,
    name: str,
    integrator: dynamics.Integrator,
    q0: NDArray[np.float64],
    device: torch.device,
    progress: bool,
    model_hash: str = "",
) -> float:
    """One Brownian run with the compare noise (:func:`fast.runs.trained.simulation_run`);
    returns its wall seconds per step."""
    b = experiment.brownian
    stored = simulation_run(
        experiment, folder, name, integrator, torch.as_tensor(q0, device=device), steps=b.steps,
        stream=101, record_every=b.record_every, checkpoint_every=b.checkpoint_every,
        device=device, progress=progress, model_hash=model_hash,
    )  # fmt: skip
    return float(stored.attributes["seconds"]) / b.steps


def _stage_simulate(
    experiment: VoltageSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    physics, b, cmp = experiment.physics, experiment.brownian, experiment.compare
    model = load_model(folder / MODEL_FILE, **experiment.model_checks())
    rng = np.random.default_rng([experiment.seed, 101])
    q0 = cdw_initial_states(experiment.model(), cmp.ensemble, b.initial_noise, rng)
    exact_ff = NEGFForceField(experiment.model(), experiment.reservoirs())
    timings: dict[str, Any] = {
        "exact_seconds_per_step": _run(
            experiment, folder, "compare_exact", _brownian(physics, b, exact_ff), q0, device,
            progress,
        )
    }  # fmt: skip
    exact_q = torch.as_tensor(load_trajectory(folder / "compare_exact.h5").Q, device=device)

    def prescribed(t: float) -> torch.Tensor:
        """The exact run's configuration at the last recorded step not after ``t``."""
        frame = round(t / b.dt) // b.record_every
        return exact_q[min(frame, len(exact_q) - 1)]

    dtype = torch_dtype(cmp.precision)
    ml_ff = model.force_field(b.lattice, dtype=dtype, device=device)
    integ = _brownian(physics, b, ml_ff, frozen=torch.as_tensor(experiment.boundary()),
                      prescribed=prescribed)  # fmt: skip
    timings["ml_seconds_per_step"] = _run(
        experiment, folder, "compare_ml", integ, q0, device, progress,
        model.content_hash(),
    )  # fmt: skip
    timings |= {"device": str(device), "threads": torch.get_num_threads(),
                "ensemble": cmp.ensemble}  # fmt: skip
    runio.write_json(folder / "simulate_timings.json", timings)


def _stage_analyse(
    experiment: VoltageSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    settings = experiment.analyse
    holstein, lattice = experiment.model(), experiment.brownian.lattice
    exact = load_trajectory(folder / "compare_exact.h5")
    ml = load_trajectory(folder / "compare_ml.h5")
    boundary = experiment.boundary()
    n_exact = ed.densities_from_forces(exact.Q, exact.forces, holstein)  # (frames, runs, Lx, Ly)
    n_ml = ed.densities_from_forces(ml.Q, ml.forces, holstein)
    # the ML forces of the boundary columns are not used (those sites follow the exact
    # run) and their neighbourhoods leave the lattice: take the exact densities there
    n_ml = np.where(boundary, n_exact, n_ml)
    everywhere = np.ones(boundary.shape, dtype=bool)
    arrays: dict[str, NDArray[Any]] = {"t": exact.t, "boundary": boundary}
    summary: dict[str, Any] = {"ensemble": int(exact.Q.shape[1]), "t_end": float(exact.t[-1])}
    for region, columns in (("lattice", everywhere), ("free", ~boundary)):
        xi_e = observables.metallic_fraction(n_exact, lattice, settings.metal_threshold, columns)
        xi_m = observables.metallic_fraction(n_ml, lattice, settings.metal_threshold, columns)
        arrays |= {f"xi_{region}_exact": xi_e, f"xi_{region}_ml": xi_m}
        summary[f"xi_{region}"] = compare_ensembles(xi_e, xi_m)[0]
    # ML forces on the held-out exact trajectories, on the sites the ML run moves
    model = load_model(folder / MODEL_FILE, **experiment.model_checks())
    ml_ff = model.force_field(lattice, dtype=torch.float64, device=device)
    frames = np.unique(np.linspace(1, len(exact.t) - 1, settings.force_frames).astype(int))
    q = torch.as_tensor(exact.Q[frames], device=device)
    predicted = ml_ff.forces(q).cpu().numpy()[..., ~boundary]
    stats = ErrorStats.of(predicted, exact.forces[frames][..., ~boundary])
    summary["force_error_on_held_out_runs"] = attrs.asdict(stats) | {
        "frames": len(frames), "sites": "the ML-driven (free) sites",
    }  # fmt: skip
    arrays |= {"force_frames": frames, "n_exact_run0": n_exact[:, 0], "n_ml_run0": n_ml[:, 0]}
    write_arrays(folder / "analysis.h5", arrays)
    runio.write_json(folder / "analysis.json", summary)
    free = summary["xi_free"]
    log.info("analyse: xi(t_end) exact %.3f, ML %.3f; force error std on held-out runs %.3g",
             free["exact_final"], free["ml_final"], stats.std)  # fmt: skip


def _stage_report(
    experiment: VoltageSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    voltage_report.write_voltage_report(experiment, folder)


_SECTIONS = ("kind", "seed", "physics", "electrodes", "brownian", "dataset")

_STAGES = (
    Stage("dataset", _SECTIONS, ("dataset.h5", "dataset.h5.partial"), _stage_dataset),
    Stage("train", (*_SECTIONS, "train"), TRAIN_OUTPUTS, _stage_train_voltage, (CHECKPOINT_FILE,)),
    Stage(
        "simulate",
        (*_SECTIONS, "train", "compare"),
        (*trajectory_files("compare_exact", "compare_ml"), "simulate_timings.json"),
        _stage_simulate,
    ),
    Stage(
        "analyse",
        (*_SECTIONS, "train", "compare", "analyse"),
        ("analysis.h5", "analysis.json"),
        _stage_analyse,
    ),
    Stage(
        "report",
        (*_SECTIONS, "train", "compare", "analyse", "name"),
        ("report.md", "metrics.json", "figures/*.png"),
        _stage_report,
    ),
)


@attrs.frozen(kw_only=True)
class VoltageExperiment(VoltageSettings):
    """The voltage workflow (paper 001): its settings
    (:class:`VoltageSettings`) and its stages."""

    STAGES: ClassVar[tuple[Stage, ...]] = _STAGES

    def campaign_summary(self, entries: Sequence[CampaignEntry], folder: Path) -> str:
        """The campaign report's section on this workflow's points, side by side
        (:func:`fast.runs.voltage_report.campaign_summary`).

        Parameters
        ----------
        entries : sequence of CampaignEntry
            One per voltage point of the campaign.
        folder : Path
            The campaign folder; figures go to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown.
        """
        return voltage_report.campaign_summary(entries, folder)
