"""The quench workflow (papers 002, 003, 004): ``[experiment] kind = "quench"``.

Five stages, each skipped when its results are already in the run folder
(:mod:`fast.runs.runner`):

``dataset``
    exact-diagonalisation labels of random and quenched configurations
    (:func:`fast.ml.datasets.generate_quench_dataset`) -> ``dataset.h5``;
``train``
    the network named in ``[train]`` (:func:`fast.ml.training.train_network`) -> ``model.pt``,
    ``training.json``, ``predictions.h5``;
``simulate``
    ML Langevin quench on the large lattice of ``[simulate]`` -> ``trajectory.h5``, and
    the exact-vs-ML pair on the small lattice of ``[compare]`` from the same initial states
    and the same noise -> ``compare_exact.h5``, ``compare_ml.h5``;
``analyse``
    domain length ``L(t)`` from ``S(k)``, the growth exponent with its uncertainty, the
    scaling collapse, ``C(r) = <Q_i Q_j>`` of both compare runs -> ``analysis.h5``,
    ``analysis.json``;
``report``
    figures and ``report.md``, ``metrics.json``.

Long stages checkpoint and resume after a kill.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch
from numpy.typing import NDArray

from fast import dynamics, ed
from fast.ml.datasets import generate_quench_dataset, hot_start_spread
from fast.ml.models import load_model
from fast.runs import quench_report
from fast.runs.analysis import agreement, write_arrays
from fast.runs.quench_settings import (
    AnalyseSettings,
    QuenchSettings,
)
from fast.runs.report import CampaignEntry
from fast.runs.runner import Stage
from fast.runs.settings import (
    torch_dtype,
)
from fast.runs.trained import (
    CHECKPOINT_FILE,
    MODEL_FILE,
    TRAIN_OUTPUTS,
    ensemble_run,
    train_stage,
)
from fast.runs.trajectories import StoredTrajectory, load_trajectory, trajectory_files
from fast.runs.units import UNITS_FOLDER
from reference import ed as reference_ed
from reference import observables, runio
from reference.lattice import SquareLattice
from reference.model import HolsteinModel

__all__ = [
    "QuenchExperiment",
    "make_integrator",
]

log = logging.getLogger("fast.runs")


# ============================================================================ stages


def _stage_dataset(
    experiment: QuenchSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    data = generate_quench_dataset(
        experiment.dataset_config(), folder / "dataset.h5", device=device, progress=progress
    )
    log.info("dataset: %d configurations of %dx%d", len(data), *data.Q.shape[1:])


def _integrator(experiment: QuenchSettings, force_field: Any) -> dynamics.Integrator:
    p = experiment.physics
    make = (
        dynamics.langevin_baoab if experiment.langevin.integrator == "baoab"
        else dynamics.langevin_vv_ou
    )  # fmt: skip
    return make(
        force_field, mass=p.mass, gamma=experiment.gamma, temperature=p.temperature,
        dt=experiment.dt,
    )  # fmt: skip


def _hot_start(
    experiment: QuenchSettings, size: int, ensemble: int, stream: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    t0, p = experiment.langevin.initial_temperature, experiment.physics
    rng = np.random.default_rng([experiment.seed, stream])
    shape = (ensemble, size, size)
    q0 = rng.normal(scale=hot_start_spread(t0, p.kappa, p.k), size=shape)
    p0 = rng.normal(scale=math.sqrt(t0 * p.mass), size=shape)
    return torch.as_tensor(q0, device=device), torch.as_tensor(p0, device=device)


def make_integrator(
    experiment: QuenchSettings, folder: str, arm: str, size: int, device: torch.device
) -> dynamics.Integrator:
    """The Langevin integrator of one arm of the ``simulate`` stage on a ``size`` lattice:
    ``"exact"`` (:class:`fast.ed.ExactForceField`), ``"cluster"``
    (:class:`fast.ed.ClusterForceField` of ``[compare] cluster_radius``) or ``"ml"`` (the
    model file in ``folder``). Module-level, so that a unit on another machine builds its
    own (:func:`fast.runs.trained.ensemble_run`).

    Parameters
    ----------
    experiment : QuenchSettings
        The experiment (physics, Langevin and network settings).
    folder : str
        The run folder (holding ``model.pt`` for the ``"ml"`` arm).
    arm : {"exact", "cluster", "ml"}
        The force provider (any other value is taken as ``"ml"``).
    size : int
        The side of the periodic ``size x size`` lattice.
    device : torch.device
        Where the ML network runs (the exact arms follow the tensors they are given).

    Returns
    -------
    dynamics.Integrator
        BAOAB or velocity-Verlet/Ornstein-Uhlenbeck Langevin, as ``[langevin] integrator``
        says.
    """
    model = experiment.physics.model(size)
    if arm == "exact":
        return _integrator(experiment, ed.ExactForceField(model))
    if arm == "cluster":
        return _integrator(
            experiment, ed.ClusterForceField(model, experiment.compare.cluster_radius)
        )
    network = load_model(
        Path(folder) / MODEL_FILE,
        architecture=experiment.architecture(),
        physics=experiment.physics.params(),
        ensemble=experiment.physics.ensemble(),
    )
    dtype = torch_dtype(experiment.simulate.precision)
    return _integrator(experiment, network.force_field(model.lattice, dtype=dtype, device=device))


def _run(
    experiment: QuenchSettings,
    folder: Path,
    name: str,
    arm: str,
    size: int,
    ensemble: int,
    steps: int,
    record_every: int,
    checkpoint_every: int,
    stream: int,
    device: torch.device,
    progress: bool,
    members_per_unit: int,
    model_hash: str = "",
) -> float:
    """One Langevin ensemble from a hot start (:func:`fast.runs.trained.ensemble_run`);
    returns its wall seconds per step (summed over units)."""
    q0, p0 = _hot_start(experiment, size, ensemble, stream, device)
    factory = functools.partial(make_integrator, experiment, str(folder), arm, size)
    stored = ensemble_run(
        experiment, folder, name, factory, q0, p0, members_per_unit=members_per_unit,
        steps=steps, stream=stream, record_every=record_every, checkpoint_every=checkpoint_every,
        device=device, progress=progress, model_hash=model_hash,
        frame_dtype="float32" if size > 64 else "float64",
    )  # fmt: skip
    return float(stored.attributes["seconds"]) / steps


def _stage_simulate(
    experiment: QuenchSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    model_hash = load_model(
        folder / MODEL_FILE,
        architecture=experiment.architecture(),
        physics=experiment.physics.params(),
        ensemble=experiment.physics.ensemble(),
    ).content_hash()
    sim = experiment.simulate
    timings: dict[str, Any] = {}
    cmp = experiment.compare
    if cmp.ensemble:
        common: dict[str, Any] = dict(
            size=cmp.size, ensemble=cmp.ensemble, steps=max(cmp.times),
            record_every=cmp.record_every, checkpoint_every=cmp.checkpoint_every,
            stream=101, device=device, progress=progress, members_per_unit=cmp.members_per_unit,
        )  # fmt: skip
        timings["compare_exact_seconds_per_step"] = _run(
            experiment, folder, "compare_exact", "exact", **common
        )
        timings["compare_ml_seconds_per_step"] = _run(
            experiment, folder, "compare_ml", "ml", **common, model_hash=model_hash
        )
        if cmp.cluster_radius:
            timings["compare_cluster_seconds_per_step"] = _run(
                experiment, folder, "compare_cluster", "cluster", **common
            )
    timings["ml_seconds_per_step"] = _run(
        experiment, folder, "trajectory", "ml", sim.size, sim.ensemble, sim.steps,
        sim.record_every, sim.checkpoint_every, 202, device, progress, sim.members_per_unit,
        model_hash,
    )  # fmt: skip
    timings |= {"device": str(device), "threads": torch.get_num_threads()}
    runio.write_json(folder / "simulate_timings.json", timings)


def _domain_growth(
    stored: StoredTrajectory, model: HolsteinModel, settings: AnalyseSettings, seed: int
) -> dict[str, Any]:
    lattice = model.lattice
    n = reference_ed.densities_from_forces(
        stored.Q, stored.forces, model
    )  # (frames, ensemble, L, L)
    s_runs = observables.structure_factor(n, lattice)  # (frames, ensemble, L, L)
    s_avg = s_runs.mean(axis=1)
    length = np.array([observables.domain_length_from_structure_factor(s, lattice) for s in s_avg])
    t = stored.t
    size = lattice.shape[0]
    window = (t >= settings.fit_from_fraction * t[-1]) & (t > 0)
    window &= length < settings.fit_max_length_fraction * size
    result: dict[str, Any] = {"t": t, "L": length, "fit_window": window, "S_avg_final": s_avg[-1]}
    try:
        fit = observables.fit_growth_exponent(t[window], length[window])
    except ValueError as exc:
        result["fit"] = None
        result["fit_error"] = str(exc)
    else:
        result["fit"] = fit
        # bootstrap over ensemble members: resample runs, recompute <S>, L and the fit
        rng = np.random.default_rng([seed, 303])
        n_runs = s_runs.shape[1]
        alphas = []
        for _ in range(settings.bootstrap if n_runs > 1 else 0):
            pick = rng.integers(n_runs, size=n_runs)
            s_b = s_runs[window][:, pick].mean(axis=1)
            l_b = np.array([observables.domain_length_from_structure_factor(s, lattice)
                            for s in s_b])  # fmt: skip
            alphas.append(observables.fit_growth_exponent(t[window], l_b).alpha)
        result["alpha_bootstrap_std"] = float(np.std(alphas)) if alphas else math.nan
    # scaling collapse of the radially averaged S(q) at late frames
    late = np.unique(np.linspace(len(t) // 2, len(t) - 1, settings.collapse_frames).astype(int))
    late = late[late > 0]
    q, s_q = observables.radial_structure_factor(s_avg[late], lattice)
    x, y = observables.scaling_collapse(q, s_q, length[late])
    result |= {"collapse_frames": late, "collapse_x": x, "collapse_y": y}
    return result


def _correlations(
    stored: StoredTrajectory, lattice: SquareLattice, frames: Sequence[int]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """``C(r) = <Q_i Q_j>`` at ``frames``: distances, ensemble mean and its standard error."""
    means, errors = [], []
    r = np.zeros(0)
    for f in frames:
        r, c = observables.equal_time_correlation(np.asarray(stored.Q[f], np.float64), lattice)
        means.append(c.mean(axis=0))
        errors.append(c.std(axis=0, ddof=1) / math.sqrt(c.shape[0]) if c.shape[0] > 1
                      else np.full(c.shape[1], np.nan))  # fmt: skip
    return r, np.array(means), np.array(errors)


def _stage_analyse(
    experiment: QuenchSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    sim = experiment.simulate
    big = experiment.physics.model(sim.size)
    growth = _domain_growth(
        load_trajectory(folder / "trajectory.h5"), big, experiment.analyse, experiment.seed
    )
    arrays: dict[str, NDArray[Any]] = {
        k: np.asarray(growth[k])
        for k in ("t", "L", "fit_window", "S_avg_final", "collapse_frames", "collapse_x",
                  "collapse_y")
    }  # fmt: skip
    fit = growth["fit"]
    summary: dict[str, Any] = {
        "t_omega_end": float(growth["t"][-1] * experiment.omega),
        "L_final": float(growth["L"][-1]),
        "growth_exponent": None if fit is None else {
            "alpha": fit.alpha,
            "alpha_stderr_regression": fit.alpha_stderr,
            "alpha_std_bootstrap": growth["alpha_bootstrap_std"],
            "n_points": fit.n_points,
            "prefactor": fit.prefactor,
            "window_t_omega": [float(growth["t"][growth["fit_window"]][0] * experiment.omega),
                               float(growth["t"][growth["fit_window"]][-1] * experiment.omega)],
        },
        "fit_error": growth.get("fit_error"),
    }  # fmt: skip
    cmp = experiment.compare
    if cmp.ensemble:
        lattice = SquareLattice(cmp.size, cmp.size)
        frames = [t // cmp.record_every for t in cmp.times]
        exact = load_trajectory(folder / "compare_exact.h5")
        ml = load_trajectory(folder / "compare_ml.h5")
        r, c_ed, e_ed = _correlations(exact, lattice, frames)
        _, c_ml, e_ml = _correlations(ml, lattice, frames)
        arrays |= {"r": r, "C_exact": c_ed, "C_exact_err": e_ed, "C_ml": c_ml, "C_ml_err": e_ml}
        summary["correlation_comparison"] = {
            "steps": list(cmp.times),
            "ensemble": cmp.ensemble,
            **agreement(c_ml, e_ml, c_ed, e_ed),
            "note": "z = |C_ML - C_exact| / sqrt(se_ML^2 + se_exact^2) per distance; "
            "runs share initial states and noise, so this ignores their positive correlation "
            "and overstates the error bar of the difference",
        }  # fmt: skip
        if cmp.cluster_radius:
            _, c_cl, e_cl = _correlations(
                load_trajectory(folder / "compare_cluster.h5"), lattice, frames
            )
            arrays |= {"C_cluster": c_cl, "C_cluster_err": e_cl}
            summary["cluster_comparison"] = {
                "r_c": cmp.cluster_radius,
                **agreement(c_cl, e_cl, c_ed, e_ed),
            }
    write_arrays(folder / "analysis.h5", arrays)
    runio.write_json(folder / "analysis.json", summary)
    if fit is not None:
        log.info("analyse: alpha = %.3f +- %.3f", fit.alpha, fit.alpha_stderr)


def _stage_report(
    experiment: QuenchSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    quench_report.write_report(experiment, folder)


_SECTIONS = ("kind", "seed", "physics", "langevin", "dataset")

_STAGES = (
    Stage("dataset", _SECTIONS, ("dataset.h5", "dataset.h5.partial"), _stage_dataset),
    Stage("train", (*_SECTIONS, "train"), TRAIN_OUTPUTS, train_stage, (CHECKPOINT_FILE,)),
    Stage(
        "simulate",
        (*_SECTIONS, "train", "simulate", "compare"),
        (
            *trajectory_files("trajectory", "compare_exact", "compare_ml", "compare_cluster"),
            "simulate_timings.json",
            UNITS_FOLDER,
        ),
        _stage_simulate,
    ),
    Stage(
        "analyse",
        (*_SECTIONS, "train", "simulate", "compare", "analyse"),
        ("analysis.h5", "analysis.json"),
        _stage_analyse,
    ),
    Stage(
        "report",
        (*_SECTIONS, "train", "simulate", "compare", "analyse", "name"),
        ("report.md", "metrics.json", "figures/*.png"),
        _stage_report,
    ),
)


@attrs.frozen(kw_only=True)
class QuenchExperiment(QuenchSettings):
    """The quench workflow (papers 002, 003, 004): its settings
    (:class:`QuenchSettings`) and its stages."""

    STAGES: ClassVar[tuple[Stage, ...]] = _STAGES

    def campaign_summary(self, entries: Sequence[CampaignEntry], folder: Path) -> str:
        """The campaign report's section on this workflow's points, side by side
        (:func:`fast.runs.quench_report.campaign_summary`).

        Parameters
        ----------
        entries : sequence of CampaignEntry
            One per quench point of the campaign.
        folder : Path
            The campaign folder; figures go to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown.
        """
        return quench_report.campaign_summary(entries, folder)
