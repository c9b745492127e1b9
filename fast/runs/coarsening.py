"""The coarsening workflow (issue 19): ``[experiment] kind = "coarsening"``.

Is CDW coarsening after a thermal quench really slower than Allen-Cahn? Three stages, each
skipped when its results are in the run folder (:mod:`fast.runs.runner`):

``simulate``
    a hot start (``Q ~ N(0, T0/kappa)``, Maxwell momenta at ``[langevin]
    initial_temperature``; TDGL: ``phi ~ N(0, initial_spread^2)``) quenched by the provider
    of ``[forces]``: an ensemble of Langevin runs (Brownian model A for ``"tdgl"``) into
    ``trajectory.h5``, resumable, as units of members a cluster can spread
    (:func:`fast.runs.trained.ensemble_run`);
``analyse``
    per recorded frame the densities ``n_i`` (from the forces,
    :func:`reference.ed.densities_from_forces`; TDGL: paper 002 eq. 3 of its field), the
    local order ``phi_i`` (paper 003 eq. 12; TDGL: the field) and ``S(k)``; the domain length
    of every estimator of :data:`fast.runs.coarsening_settings.ESTIMATORS`, per member and of
    the ensemble; the effective exponent with bootstrap bands over the members; the plain and
    the offset-corrected growth fits over ``[analyse] window`` with bootstrap errors; the
    Porod exponent and the scaling collapse at late times; the wall mobility per frame and
    over the window, and the verdict "walls frozen" (:func:`wall_verdict`) ->
    ``analysis.h5``, ``analysis.json``;
``report``
    ``report.md``, ``metrics.json`` and figures (:mod:`fast.runs.coarsening_report`).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import attrs
import h5py
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from fast import dynamics, ed
from fast.ml.datasets import hot_start_spread
from fast.ml.models import load_model
from fast.runs import coarsening_report
from fast.runs.analysis import write_arrays
from fast.runs.coarsening_settings import DEGENERATE_ALPHA, ESTIMATORS, CoarseningSettings
from fast.runs.report import CampaignEntry
from fast.runs.runner import Stage, TimeNeed
from fast.runs.settings import torch_dtype
from fast.runs.trained import TrainedWorkflow, ensemble_run
from fast.runs.trajectories import trajectory_files
from fast.runs.units import UNITS_FOLDER
from reference import ed as reference_ed
from reference import observables, runio
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import HolsteinModel

__all__ = ["CoarseningExperiment", "make_integrator", "wall_verdict"]

log = logging.getLogger("fast.runs")

TRAJECTORY = "trajectory"
"""The name of the ensemble's trajectory file (``trajectory.h5``)."""

_STREAM = 202
"""The noise stream of the quench ensemble (:func:`fast.runs.trained.simulation_run`)."""

_BAND = (0.16, 0.84)
"""Quantiles of the bootstrap bands of the effective exponent: one standard error."""


# ============================================================================ simulate


def make_integrator(
    experiment: CoarseningSettings, model_file: str, device: torch.device
) -> dynamics.Integrator:
    """The integrator of the ``simulate`` stage on the ``[coarsening]`` lattice: Langevin
    (``[langevin] integrator``) driven by the ``[forces]`` provider, or model A for
    ``"tdgl"``. Module-level, so that a unit on another machine builds its own
    (:func:`fast.runs.trained.ensemble_run`).

    Parameters
    ----------
    experiment : CoarseningSettings
        The experiment (its ``[forces]``, ``[physics]``, ``[langevin]``, ``[tdgl]`` and
        ``[coarsening]`` sections).
    model_file : str
        The ``"mlp"`` provider's model, as an absolute path; unused (may be empty) for the
        other providers.
    device : torch.device
        Where the network runs (``"mlp"``).

    Returns
    -------
    dynamics.Integrator
        Its ``init`` and ``step`` act on fields ``(members, size, size)``.
    """
    size, forces = experiment.coarsening.size, experiment.forces
    if forces.provider == "tdgl":
        g = experiment.tdgl
        return dynamics.tdgl(
            SquareLattice(size, size), K=g.K, A=g.A, phi0=g.phi0, Gamma=g.Gamma,
            temperature=experiment.temperature, dt=g.dt,
        )  # fmt: skip
    model = experiment.physics.model(size)
    force_field: Any
    if forces.provider == "exact":
        force_field = ed.ExactForceField(model)
    elif forces.provider == "cluster":
        force_field = ed.ClusterForceField(model, forces.r_c)
    else:
        network = load_model(
            model_file,
            physics=experiment.physics.params(),
            ensemble=experiment.physics.ensemble() if forces.match_electrons else None,
        )
        dtype = torch_dtype(experiment.coarsening.precision)
        force_field = network.force_field(model.lattice, dtype=dtype, device=device)
    make = (
        dynamics.langevin_baoab if experiment.langevin.integrator == "baoab"
        else dynamics.langevin_vv_ou
    )  # fmt: skip
    return make(force_field, mass=experiment.physics.mass, gamma=experiment.gamma,
                temperature=experiment.temperature, dt=experiment.dt)  # fmt: skip


def _hot_start(
    experiment: CoarseningSettings, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ensemble's initial fields and momenta, from the seed alone."""
    run, p = experiment.coarsening, experiment.physics
    rng = np.random.default_rng([experiment.seed, _STREAM])
    shape = (run.ensemble, run.size, run.size)
    if not experiment.holstein:
        q0 = rng.normal(scale=experiment.tdgl.initial_spread, size=shape)
        return torch.as_tensor(q0, device=device), torch.zeros(shape, dtype=torch.float64,
                                                                device=device)  # fmt: skip
    t0 = experiment.langevin.initial_temperature
    q0 = rng.normal(scale=hot_start_spread(t0, p.kappa, p.k), size=shape)
    p0 = rng.normal(scale=math.sqrt(t0 * p.mass), size=shape)
    return torch.as_tensor(q0, device=device), torch.as_tensor(p0, device=device)


def _stage_simulate(
    experiment: CoarseningSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    run = experiment.coarsening
    model_file, model_hash = "", ""
    if experiment.forces.provider == "mlp":
        model_file, model_hash = (
            str(experiment.model_path()),
            experiment.load_network().content_hash(),
        )
    q0, p0 = _hot_start(experiment, device)
    # ensemble_run reads only the seed and the fingerprint of the "simulate" stage
    stored = ensemble_run(
        cast(TrainedWorkflow, experiment), folder, TRAJECTORY,
        functools.partial(make_integrator, experiment, model_file), q0, p0,
        members_per_unit=run.members_per_unit, steps=run.steps, stream=_STREAM,
        record_every=run.record_every, checkpoint_every=run.checkpoint_every, device=device,
        progress=progress, model_hash=model_hash, frame_dtype=run.precision,
    )  # fmt: skip
    seconds = float(stored.attributes["seconds"])
    runio.write_json(folder / "simulate_timings.json", {
        "provider": experiment.forces.provider, "seconds": seconds,
        "seconds_per_step": seconds / run.steps,
        "seconds_per_step_and_member": seconds / run.steps / run.ensemble,
        "model_hash": model_hash or None, "device": str(device),
        "threads": torch.get_num_threads(),
    })  # fmt: skip
    log.info("simulate: %s, %.3g s per step of %d members", experiment.forces.provider,
             seconds / run.steps, run.ensemble)  # fmt: skip


# ============================================================================ analyse


def _frames(path: Path) -> Iterator[tuple[int, float, NDArray[np.float64], NDArray[np.float64]]]:
    """``(index, t, Q, forces)`` of every recorded frame, one at a time (a 200 x 200 ensemble
    of 25,000 steps does not fit in memory at once)."""
    with runio.reading(path, "trajectory", "redo the simulate stage"), h5py.File(path, "r") as fh:
        t = fh["t"][...]
        for f in range(t.size):
            q = np.asarray(fh["Q"][f], dtype=np.float64)
            forces = np.asarray(fh["forces"][f], dtype=np.float64)
            yield f, float(t[f]), q, forces


def _densities_and_order(
    experiment: CoarseningSettings, model: HolsteinModel, q: NDArray[np.float64],
    forces: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:  # fmt: skip
    """``(n_i, phi_i)`` of a frame's members: the densities behind the forces and their local
    CDW order (paper 003 eq. 12); for TDGL the field is ``phi`` and ``n_i`` the density of
    paper 002 eq. (3) whose CDW amplitude is ``phi / phi0``."""
    lattice = model.lattice
    if not experiment.holstein:
        sign = sublattice_sign(lattice)
        return 0.5 + 0.5 * q * sign / experiment.tdgl.phi0, q
    n = reference_ed.densities_from_forces(q, forces, model)
    return n, observables.local_cdw_order(n, lattice)


def _peak_lengths(
    s: NDArray[np.float64], lattice: SquareLattice, q_cut: float
) -> dict[str, NDArray[np.float64]]:
    """The lengths read from the CDW peak of structure factors ``s`` ``(B, Lx, Ly)``."""
    return {
        "eq15": observables.domain_length_from_structure_factor(s, lattice),
        "first_moment": observables.domain_length_first_moment(s, lattice, q_cut, window=2.0),
        "second_moment": observables.domain_length_second_moment(s, lattice, q_cut, window=2.0),
        "peak_width": observables.domain_length_from_peak_width(s, lattice, q_cut),
    }


def _correlation_maps(phi: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    """``C(r)`` of each member's ``phi`` (paper 002 eq. 26); a uniform member (one domain
    over the whole lattice) is correlated everywhere, ``C = 1``."""
    try:
        return observables.correlation_map(phi, lattice)
    except ValueError:
        maps = []
        for field in phi:
            try:
                maps.append(observables.correlation_map(field, lattice))
            except ValueError:
                maps.append(np.ones(lattice.shape))
        return np.array(maps)


def _correlation_lengths(c: NDArray[np.float64], lattice: SquareLattice) -> NDArray[np.float64]:
    """``C(L) = 1/2`` of each map ``(B, Lx, Ly)``; NaN where ``C`` stays above 1/2 (domains as
    large as the lattice)."""
    r, radial = observables.radial_average(c, lattice)
    out = np.full(radial.shape[:-1], np.nan)
    ok = (radial[..., 0] > 0.5) & (radial <= 0.5).any(axis=-1)
    if ok.any():
        out[ok] = observables.domain_length_from_correlation(r, radial[ok])
    return out


def _with_resamples(
    members: NDArray[np.float64], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """``members`` ``(M, ...)`` stacked as ``[ensemble mean, each member, each bootstrap
    mean]``: ``(1 + M + B, ...)``, the resamples' means through ``weights`` ``(B, M)``."""
    flat = members.reshape(members.shape[0], -1)
    stacked = np.concatenate([flat.mean(axis=0, keepdims=True), flat, weights @ flat])
    return stacked.reshape(-1, *members.shape[1:])


def _lengths_of_frame(
    n: NDArray[np.float64], phi: NDArray[np.float64], lattice: SquareLattice, q_cut: float,
    weights: NDArray[np.float64],
) -> dict[str, NDArray[np.float64]]:  # fmt: skip
    """Every estimator's length of one frame: ``(1 + M + B,)`` for the ensemble, each member
    and each bootstrap resample (:func:`_with_resamples`). The ensemble's length comes from
    the ensemble mean of what it is read from: ``S(k)`` (paper 003: the average of ``S``
    before eq. 15), ``C(r)`` (paper 002) or the wall count."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lengths = _peak_lengths(
            _with_resamples(observables.structure_factor(n, lattice), weights), lattice, q_cut
        )
        lengths["correlation"] = _correlation_lengths(
            _with_resamples(_correlation_maps(phi, lattice), weights), lattice
        )
        walls = 2.0 * lattice.n_sites / observables.domain_length_from_walls(phi, lattice)
        lengths["walls"] = 2.0 * lattice.n_sites / _with_resamples(walls, weights)
    return lengths


def _log_frames(t: NDArray[np.float64], spacing: float) -> NDArray[np.int64]:
    """Indices of frames at least ``spacing`` apart in time, from the first with ``t > 0``:
    a log grid through linearly recorded frames."""
    keep: list[int] = []
    for i, when in enumerate(t):
        if when > 0 and (not keep or when >= spacing * t[keep[-1]]):
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def _fit(kind: str, t: NDArray[np.float64], length: NDArray[np.float64]) -> Any:
    if kind == "plain":
        return observables.fit_growth_exponent(t, length)
    return observables.fit_growth_with_offset(t, length)


def _fits(
    t: NDArray[np.float64], window: NDArray[np.bool_], ensemble: NDArray[np.float64],
    members: NDArray[np.float64], resamples: NDArray[np.float64],
) -> dict[str, Any]:  # fmt: skip
    """The plain and the offset fits of one estimator over the window frames: of the ensemble
    length, with the bootstrap error of the exponent (half the width of the :data:`_BAND`
    quantiles over the resamples: the standard deviation for a normal spread, and robust to
    the few resamples whose offset fit runs to its exponential limit) and the exponents of
    the members' own lengths; an ``error`` where a fit fails."""
    out: dict[str, Any] = {}
    for kind in ("plain", "offset"):
        name = "fit" if kind == "plain" else "offset_fit"
        use = window & np.isfinite(ensemble) & (ensemble > 0)
        try:
            fit = _fit(kind, t[use], ensemble[use])
        except ValueError as exc:
            out[name], out[f"{name}_error"] = None, str(exc)
            continue
        alphas, failed = [], 0
        for row in resamples:
            ok = window & np.isfinite(row) & (row > 0)
            try:
                alphas.append(_fit(kind, t[ok], row[ok]).alpha)
            except ValueError:
                failed += 1
        own = []
        for row in members.T:
            ok = window & np.isfinite(row) & (row > 0)
            try:
                own.append(_fit(kind, t[ok], row[ok]).alpha)
            except ValueError:
                own.append(math.nan)
        spread = None
        if len(alphas) > 1:
            lower, upper = np.quantile(alphas, _BAND)
            spread = float(0.5 * (upper - lower))
        entry = {
            "alpha": fit.alpha, "alpha_stderr": fit.alpha_stderr, "n_points": fit.n_points,
            "alpha_bootstrap_error": spread, "bootstrap_failures": failed, "alpha_members": own,
        }  # fmt: skip
        if kind == "plain":
            entry["prefactor"] = fit.prefactor
        else:
            entry |= {"a": fit.a, "b": fit.b, "degenerate": abs(fit.alpha) > DEGENERATE_ALPHA}
        out[name] = entry
    return out


_Band = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]


def _effective_exponents(
    t: NDArray[np.float64], frames: NDArray[np.int64], ensemble: NDArray[np.float64],
    resamples: NDArray[np.float64],
) -> _Band:  # fmt: skip
    """``d ln L / d ln t`` of the ensemble length on the log grid ``frames`` and its bootstrap
    band (the :data:`_BAND` quantiles over the resamples); NaN where a length is missing."""
    n = max(frames.size - 2, 0)
    mid, alpha = np.full(n, np.nan), np.full(n, np.nan)
    lower, upper = np.full(n, np.nan), np.full(n, np.nan)
    if frames.size < 3:
        return mid, alpha, lower, upper
    times = t[frames]
    mid = np.sqrt(times[2:] * times[:-2])
    values = ensemble[frames]
    if np.all(np.isfinite(values) & (values > 0)):
        _, alpha = observables.effective_exponent(times, values)
    rows = resamples[:, frames]
    rows = rows[np.all(np.isfinite(rows) & (rows > 0), axis=1)]
    if rows.shape[0] > 1:
        _, alphas = observables.effective_exponent(times, rows)
        lower, upper = np.quantile(alphas, _BAND, axis=0)
    return mid, alpha, lower, upper


def _finite_mean(values: NDArray[np.float64], axis: int) -> NDArray[np.float64]:
    """The mean of the finite entries along ``axis``; NaN where there are none."""
    finite = np.isfinite(values)
    count = finite.sum(axis=axis)
    total = np.where(finite, values, 0.0).sum(axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(count > 0, total / np.maximum(count, 1), np.nan))


def wall_verdict(turnover: float, threshold: float) -> bool:
    """Whether the walls count as frozen over a fit window: fewer than ``threshold`` of the
    wall bonds of the window's first and last frames changed between them
    (:func:`reference.observables.wall_mobility` with ``dt = 1`` over the whole window).

    Why a share over the whole window: a fitted exponent over a window where the walls do
    not move is not a growth law. Curvature-driven growth from ``L`` to ``L + dL`` moves the
    walls by about ``dL`` spacings, and a wall that moved by a spacing or more shares no bond
    with its old position (share 1); walls that kept more than half of their bonds in place
    over the whole window (the default threshold 1/2) moved by less than a spacing on
    average. Thermal flicker of single sites adds turnover, so a frozen verdict is
    conservative (a pinned wall with flicker can still pass).

    Parameters
    ----------
    turnover : float
        The share of the wall bonds that changed over the window, in [0, 1] (NaN where there
        are no walls).
    threshold : float
        ``[analyse] frozen_share``, in (0, 1).

    Returns
    -------
    bool
        True if ``turnover`` is finite and below ``threshold``.
    """
    return bool(math.isfinite(turnover) and turnover < threshold)


def _stage_analyse(
    experiment: CoarseningSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    run, settings = experiment.coarsening, experiment.analyse
    model = experiment.physics.model(run.size)
    lattice = model.lattice
    unit = experiment.time_unit
    times = np.arange(run.frames, dtype=np.float64) * (run.record_every * experiment.dt * unit)
    lo, hi = settings.window
    window = (times >= lo - 1e-9 * hi) & (times <= hi * (1 + 1e-9))
    first, last = int(np.argmax(window)), int(len(window) - 1 - np.argmax(window[::-1]))
    rng = np.random.default_rng([experiment.seed, 303])
    members = run.ensemble
    picks = rng.integers(members, size=(settings.bootstrap, members))
    weights = np.zeros((settings.bootstrap, members))
    np.add.at(weights, (np.arange(settings.bootstrap)[:, None], picks), 1.0 / members)
    snapshots = np.unique(
        np.searchsorted(times, times[-1] * np.geomspace(1.0 / 27.0, 1.0, 4) * (1 - 1e-9))
    )
    collapse = np.unique(np.linspace(first, run.frames - 1, settings.collapse_frames).astype(int))

    lengths = {k: np.full((run.frames, 1 + members + settings.bootstrap), np.nan)
               for k in ESTIMATORS}  # fmt: skip
    mobility = np.full((run.frames - 1, members), np.nan)
    snap_phi, snap_n, collapse_s = [], [], []
    previous: NDArray[np.float64] | None = None
    start: NDArray[np.float64] | None = None
    turnover = np.full(members, np.nan)
    t_stored = np.zeros(run.frames)
    frame_time = run.record_every * experiment.dt * unit
    frames = _frames(folder / f"{TRAJECTORY}.h5")
    for f, t, q, forces in tqdm(frames, total=run.frames, desc="analyse", disable=not progress):
        t_stored[f] = t * unit
        n, phi = _densities_and_order(experiment, model, q, forces)
        for name, values in _lengths_of_frame(n, phi, lattice, settings.q_cut, weights).items():
            lengths[name][f] = values
        if previous is not None:
            mobility[f - 1] = observables.wall_mobility(previous, phi, lattice, frame_time)
        if f == first:
            start = phi
        if f == last and start is not None:
            turnover = observables.wall_mobility(start, phi, lattice, 1.0)
        if f in snapshots:
            snap_phi.append(phi[0])
            snap_n.append(n[0])
        if f in collapse:
            collapse_s.append(observables.structure_factor(n, lattice).mean(axis=0))
        previous = phi
    if not np.allclose(t_stored, times, rtol=1e-9, atol=1e-12):
        raise ValueError(
            f"{str(folder / TRAJECTORY)!r}.h5 has other frame times than [coarsening] gives; "
            "redo the simulate stage"
        )

    arrays: dict[str, NDArray[Any]] = {
        "t": times, "fit_window": window, "snapshot_frames": snapshots,
        "snapshot_phi": np.array(snap_phi), "snapshot_n": np.array(snap_n),
        "mobility_t": 0.5 * (times[1:] + times[:-1]), "mobility_members": mobility,
        "mobility": _finite_mean(mobility, axis=1),
        "window_turnover_members": turnover,
    }  # fmt: skip
    estimators: dict[str, Any] = {}
    grid = _log_frames(times, settings.exponent_spacing)
    for name in ESTIMATORS:
        ens, own, boot = (lengths[name][:, 0], lengths[name][:, 1 : 1 + members],
                          lengths[name][:, 1 + members :].T)  # fmt: skip
        mid, alpha, lower, upper = _effective_exponents(times, grid, ens, boot)
        arrays |= {f"L_{name}": ens, f"L_{name}_members": own, f"alpha_eff_{name}": alpha,
                   f"alpha_eff_{name}_lower": lower, f"alpha_eff_{name}_upper": upper}  # fmt: skip
        arrays["alpha_eff_t"] = mid
        estimators[name] = {
            "L_final": float(ens[-1]), "L_window_start": float(ens[first]),
            **_fits(times, window, ens, own, boot),
        }  # fmt: skip

    head = lengths[settings.headline][collapse, 0]
    porod: list[float] = []
    q, s_q = observables.radial_structure_factor(np.array(collapse_s), lattice)
    for s, width in zip(collapse_s, lengths["peak_width"][collapse, 0], strict=True):
        try:
            porod.append(float(observables.porod_exponent(s, lattice, 3.0 / width,
                                                          settings.q_cut)))  # fmt: skip
        except ValueError:
            porod.append(math.nan)
    usable = np.isfinite(head) & (head > 0)
    x, y = observables.scaling_collapse(q, s_q[usable], head[usable])
    arrays |= {"collapse_frames": collapse[usable], "collapse_x": x, "collapse_y": y,
               "collapse_q": q, "collapse_S": s_q, "porod": np.array(porod),
               "S_final": collapse_s[-1]}  # fmt: skip

    window_mobility = float(_finite_mean(arrays["mobility"][first:last], axis=0))
    mobility_exponent = math.nan
    moving = (arrays["mobility_t"] >= times[first]) & (arrays["mobility_t"] <= times[last])
    moving &= np.isfinite(arrays["mobility"]) & (arrays["mobility"] > 0)
    if np.count_nonzero(moving) >= 2:
        mobility_exponent = observables.fit_growth_exponent(
            arrays["mobility_t"][moving], arrays["mobility"][moving]
        ).alpha
    share = float(_finite_mean(turnover, axis=0))
    walls_end = float(lengths["walls"][last, 0])
    summary: dict[str, Any] = {
        "provider": experiment.forces.provider,
        "time_label": experiment.time_label,
        "t_end": float(times[-1]),
        "window": [float(times[first]), float(times[last])],
        "window_frames": int(window.sum()),
        "bootstrap": settings.bootstrap,
        "headline": settings.headline,
        "estimators": estimators,
        "walls": {
            "mobility_window_mean": float(window_mobility),
            "mobility_exponent": mobility_exponent,
            "window_turnover": share,
            "window_turnover_members": [float(v) for v in turnover],
            "frozen_share": settings.frozen_share,
            "frozen": wall_verdict(share, settings.frozen_share),
            "rule": "frozen when fewer than frozen_share of the wall bonds of the window's first "
            "and last frames changed between them (fast.runs.coarsening.wall_verdict)",
        },
        "porod": {
            "late": porod[-1] if porod else None,
            "frames": [float(p) for p in porod],
            "q_window": "[3 q_1/2, q_cut]",
        },
        "finite_size": {"L_walls_at_window_end_over_size": walls_end / run.size},
        "physics": {
            "temperature": experiment.temperature,
            "filling": experiment.physics.filling,
            "mu": experiment.physics.mu,
        },
    }
    write_arrays(folder / "analysis.h5", arrays)
    runio.write_json(folder / "analysis.json", summary)
    head_fit = estimators[settings.headline].get("offset_fit")
    if head_fit is not None:
        log.info("analyse: alpha(%s, offset fit) = %.3f", settings.headline, head_fit["alpha"])


def _stage_report(
    experiment: CoarseningSettings, folder: Path, device: torch.device, progress: bool
) -> None:
    coarsening_report.write_report(experiment, folder)


_SIMULATE = ("kind", "seed", "physics", "langevin", "forces", "tdgl", "coarsening")

_STAGES = (
    Stage(
        "simulate",
        _SIMULATE,
        (*trajectory_files(TRAJECTORY), "simulate_timings.json", UNITS_FOLDER),
        _stage_simulate,
    ),
    Stage("analyse", (*_SIMULATE, "analyse"), ("analysis.h5", "analysis.json"), _stage_analyse),
    Stage(
        "report",
        (*_SIMULATE, "analyse", "name"),
        ("report.md", "metrics.json", "figures/*.png"),
        _stage_report,
    ),
)


@attrs.frozen(kw_only=True)
class CoarseningExperiment(CoarseningSettings):
    """The coarsening workflow: its settings (:class:`CoarseningSettings`) and its stages."""

    STAGES: ClassVar[tuple[Stage, ...]] = _STAGES

    def check_folder(self, folder: Path, redone: Sequence[str]) -> None:
        """The ``"mlp"`` provider's model file must exist and belong to ``[physics]``
        (checked before any work); a run folder holds no other file of its own to check (the
        trajectory's identity is checked when it is read).

        Parameters
        ----------
        folder : Path
            The run folder.
        redone : sequence of str
            Names of the stages about to be redone (the model is checked when
            ``simulate`` is among them, or has no trajectory yet).

        Raises
        ------
        ValueError
            If the model file is missing, not a model, of other physics or too wide for the
            lattice (:meth:`load_network`).
        """
        unsimulated = "simulate" in redone or not (folder / f"{TRAJECTORY}.h5").exists()
        if self.forces.provider == "mlp" and unsimulated:
            self.load_network()

    def summary(self, metrics: Mapping[str, Any]) -> str:
        """One line about the finished run, from its ``metrics.json``.

        Parameters
        ----------
        metrics : mapping
            The run's ``metrics.json`` (its ``growth`` entry).

        Returns
        -------
        str
            The provider and :meth:`headline`.
        """
        return f"report.md written: {metrics['growth']['provider']}, {self.headline(metrics)}"

    def time_estimate(self, device: torch.device) -> dict[str, TimeNeed]:
        """The ``simulate`` stage's time: a probe of the integrator on one unit's batch of
        members (after a first, untimed step) for about a second, scaled to every step of
        every unit run one after the other.

        Parameters
        ----------
        device : torch.device
            Where the probe runs (and the run would).

        Returns
        -------
        dict of str to TimeNeed
            ``{"simulate": TimeNeed}``.
        """
        run = self.coarsening
        batch = run.ensemble if run.members_per_unit == 0 else min(run.members_per_unit,
                                                                   run.ensemble)  # fmt: skip
        model_file = str(self.model_path()) if self.forces.provider == "mlp" else ""
        integrator = make_integrator(self, model_file, device)
        q0, p0 = _hot_start(self, device)
        generator = torch.Generator(device=device).manual_seed(0)
        state = integrator.step(integrator.init(q0[:batch], p0[:batch], rng=generator, t0=0.0))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        steps, start = 0, time.perf_counter()
        while steps < 2 or (time.perf_counter() - start < 1.0 and steps < 50):
            state = integrator.step(state)
            steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        per_member = (time.perf_counter() - start) / steps / batch
        total = per_member * run.steps * run.ensemble
        return {"simulate": TimeNeed(total, (
            f"{run.steps} steps of {run.ensemble} members at {per_member * 1e3:.3g} ms per step "
            f"and member ({self.forces.provider} forces, {run.size}x{run.size}; probe of "
            f"{steps} steps of {batch}), one unit after another"
        ))}  # fmt: skip

    def campaign_summary(self, entries: Sequence[CampaignEntry], folder: Path) -> str:
        """The campaign report's section on this workflow's points, side by side
        (:func:`fast.runs.coarsening_report.campaign_summary`).

        Parameters
        ----------
        entries : sequence of CampaignEntry
            One per coarsening point of the campaign.
        folder : Path
            The campaign folder; figures go to ``folder / "figures"``.

        Returns
        -------
        str
            Markdown.
        """
        return coarsening_report.campaign_summary(entries, folder)
