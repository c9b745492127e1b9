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
    ``n_runs`` exact Ehrenfest runs (:func:`fast.simulation.run_ehrenfest`) -> ``exact_runs.h5``
    (frames ``Q``, ``P``, ``n_nad``, ``n_ad`` and the adiabatic force); resumable;
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
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from numpy.typing import NDArray

from fast import dynamics, io
from fast.experiment import (
    StagedExperiment,
    _stage_train,
    _write_arrays,
    compare_ensembles,
    run_files,
)
from fast.io import content_hash
from fast.simulation import StoredTrajectory, load_trajectory, run_dynamics, run_ehrenfest
from fast.train import ErrorStats, TrainConfig, load_model, physics_json
from reference import _runio, ed, ehrenfest, observables
from reference._runio import finite, non_negative, positive, positive_int
from reference.dynamics import BathSchedule
from reference.ehrenfest import EhrenfestState
from reference.lattice import SquareLattice, sublattice_sign
from reference.model import (
    PULSE_QUANTITIES,
    ElectronEnsemble,
    HolsteinModel,
    HolsteinParams,
    LaserPulse,
)

__all__ = [
    "EhrenfestSettings",
    "LaserExperiment",
    "LaserPhysics",
    "PulseSettings",
    "RecoverySettings",
    "cdw_ehrenfest_states",
    "kinetic_temperature_after",
]

log = logging.getLogger("fast.laser")


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class LaserPhysics:
    r"""``[physics]``: paper 000, sec. II. ``g = sqrt(lambda W k)`` with :math:`\lambda = 0.375`,
    ``W = 8``, ``k = 1``; :math:`\Omega = 0.2` (our reading of "r = 0.2": the phonons five
    times slower than the electrons), so :math:`\tau_0 = 5` and ``m = k / Omega^2 = 25``;
    coupling ``-g n_i Q_i``; the lattice starts in the CDW with noise of temperature 1e-5."""

    size: int = attrs.field(default=20, validator=positive_int)
    hopping: float = -1.0
    g: float = math.sqrt(3.0)
    k: float = attrs.field(default=1.0, validator=positive)
    kappa: float = 0.0
    phonon_frequency: float = attrs.field(default=0.2, validator=positive)
    coupling: str = "n"
    filling: float = 0.5
    electron_temperature: float = attrs.field(default=0.0, validator=non_negative)
    noise_temperature: float = attrs.field(default=1e-5, validator=non_negative)

    def __attrs_post_init__(self) -> None:
        if self.size < 4 or self.size % 2:
            raise ValueError(f"size must be an even integer >= 4, got {self.size!r}")
        self.model()

    @property
    def tau0(self) -> float:
        """:math:`\\tau_0 = 1/\\Omega`, paper 000's time unit."""
        return 1.0 / self.phonon_frequency

    @property
    def mass(self) -> float:
        """``k / Omega^2``."""
        return self.k * self.tau0**2

    @property
    def q0(self) -> float:
        """The uniform distortion :math:`Q_0 = g(\\bar n - c)/(k + 4\\kappa)`."""
        return self.g * (self.filling - self.params().coupling.offset) / (self.k + 4 * self.kappa)

    def params(self) -> HolsteinParams:
        """The Hamiltonian parameters."""
        return HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling)

    def model(self) -> HolsteinModel:
        """The model on the periodic ``size x size`` lattice."""
        return HolsteinModel(
            SquareLattice(self.size, self.size),
            self.params(),
            ElectronEnsemble(self.electron_temperature, filling=self.filling),
        )


@attrs.frozen(kw_only=True)
class PulseSettings:
    """``[pulse]``: eq. 10 (paper 000: amplitude 0.6, frequency 1.5, width tau0/10,
    polarisation (1, 1)); ``centre`` is our choice (six widths after t = 0)."""

    amplitude: float = attrs.field(default=0.6, validator=finite)
    frequency: float = attrs.field(default=1.5, validator=positive)
    width: float = attrs.field(default=0.5, validator=positive)
    centre: float = attrs.field(default=3.0, validator=finite)
    polarisation: tuple[float, float] = attrs.field(default=(1.0, 1.0), converter=_runio.float_pair)
    quantity: str = attrs.field(default="field")
    """``"field"``: eq. 10 is E(t), as written; ``"potential"``: eq. 10 is A(t) (E = -dA/dt)."""

    @quantity.validator
    def _check_quantity(self, _: Any, value: str) -> None:
        if value not in PULSE_QUANTITIES:
            raise ValueError(f"quantity must be one of {PULSE_QUANTITIES}, got {value!r}")

    def pulse(self) -> LaserPulse:
        """The :class:`reference.model.LaserPulse`."""
        return LaserPulse(self.amplitude, self.frequency, self.width, self.centre,
                          self.polarisation, self.quantity)  # fmt: skip


@attrs.frozen(kw_only=True)
class EhrenfestSettings:
    """``[ehrenfest]``: the exact runs, ``dt`` in code units, to ``end_tau0``; frames every
    ``record_every`` steps."""

    dt: float = attrs.field(default=0.05, validator=positive)
    end_tau0: float = attrs.field(default=400.0, validator=positive)
    record_every: int = attrs.field(default=20, validator=positive_int)
    checkpoint_every: int = attrs.field(default=1000, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if self.checkpoint_every % self.record_every:
            raise ValueError(
                f"checkpoint_every must be a multiple of record_every ({self.record_every}), "
                f"got {self.checkpoint_every!r}"
            )

    def steps(self, tau0: float) -> int:
        """Steps to ``end_tau0``."""
        return max(1, round(self.end_tau0 * tau0 / self.dt))


@attrs.frozen(kw_only=True)
class LaserDatasetSettings:
    """``[dataset]``: paper 000 trains on snapshots of 30 runs between steps 2500 and 20000;
    here ``n_runs`` runs, frames with ``t >= from_tau0`` every ``snapshot_every`` frames."""

    n_runs: int = attrs.field(default=28, validator=positive_int)
    from_tau0: float = attrs.field(default=20.0, validator=positive)
    snapshot_every: int = attrs.field(default=5, validator=positive_int)


@attrs.frozen(kw_only=True)
class RecoverySettings:
    r"""``[recovery]``: the ML stage (eqs. 27-31). Friction
    :math:`\gamma(t) = \gamma_0 + \Delta\gamma e^{-(t - t_1)/\tau_\gamma}` from ``t1_tau0`` on;
    ``temperature`` of the noise (eq. 29) or, if not given, measured from the training runs'
    momenta at ``t >= t1`` by equipartition (eq. 30); ``dt`` of the ML Langevin step."""

    t1_tau0: float = attrs.field(default=80.0, validator=positive)
    gamma0: float = attrs.field(default=0.003, validator=non_negative)
    delta_gamma: float = attrs.field(default=0.017, validator=non_negative)
    tau_tau0: float = attrs.field(default=25.0, validator=positive)
    temperature: float | None = None
    dt: float = attrs.field(default=0.05, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.temperature is not None and not self.temperature > 0:
            raise ValueError(f"temperature must be > 0 (or left out), got {self.temperature!r}")

    def schedule(self, tau0: float) -> BathSchedule:
        """The :class:`reference.dynamics.BathSchedule` in code units."""
        return BathSchedule(gamma0=self.gamma0, delta_gamma=self.delta_gamma,
                            t1=self.t1_tau0 * tau0, tau=self.tau_tau0 * tau0)  # fmt: skip


@attrs.frozen(kw_only=True)
class LaserCompareSettings:
    """``[compare]``: held-out exact runs and the ML recovery from their states at t1."""

    ensemble: int = attrs.field(default=30, validator=positive_int)
    precision: str = "float64"

    def __attrs_post_init__(self) -> None:
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {self.precision!r}")


@attrs.frozen(kw_only=True)
class LaserTrainConfig(TrainConfig):
    """``[train]`` of the laser workflow: paper 000's time-conditioned GNN (Table I)."""

    network: str = "paper000_gnn"


_DEPENDS = {
    "dataset": ("kind", "seed", "physics", "pulse", "ehrenfest", "dataset"),
    "train": ("kind", "seed", "physics", "pulse", "ehrenfest", "dataset", "train"),
    "simulate": ("kind", "seed", "physics", "pulse", "ehrenfest", "dataset", "train",
                 "recovery", "compare"),
}  # fmt: skip
_DEPENDS["analyse"] = _DEPENDS["simulate"]
_DEPENDS["report"] = (*_DEPENDS["analyse"], "name")
_OUTPUTS = {
    "dataset": run_files("exact_runs"),
    "train": ("model.pt", "training.json", "predictions.h5", "train_checkpoint.pt"),
    "simulate": (*run_files("compare_exact", "compare_ml"), "simulate_timings.json"),
    "analyse": ("analysis.h5", "analysis.json"),
    "report": ("report.md", "metrics.json"),
}


@attrs.frozen(kw_only=True)
class LaserExperiment(StagedExperiment):
    """A laser experiment file. Sections: ``[experiment]`` (``name``, ``kind = "laser"``,
    ``seed``), ``[physics]``, ``[pulse]``, ``[ehrenfest]``, ``[dataset]``, ``[train]``,
    ``[recovery]``, ``[compare]``; every key has a paper default."""

    name: str = "laser"
    kind: str = "laser"
    seed: int = 0
    physics: LaserPhysics = attrs.field(factory=LaserPhysics)
    pulse: PulseSettings = attrs.field(factory=PulseSettings)
    ehrenfest: EhrenfestSettings = attrs.field(factory=EhrenfestSettings)
    dataset: LaserDatasetSettings = attrs.field(factory=LaserDatasetSettings)
    train: LaserTrainConfig = attrs.field(factory=LaserTrainConfig)
    recovery: RecoverySettings = attrs.field(factory=RecoverySettings)
    compare: LaserCompareSettings = attrs.field(factory=LaserCompareSettings)

    def __attrs_post_init__(self) -> None:
        if self.kind != "laser":
            raise ValueError(f"kind must be 'laser' for this class, got {self.kind!r}")
        self._check_seeds()
        from fast.nn import receptive_radius
        from reference.nn import GNNArchitecture

        arch = self.architecture()
        if not (isinstance(arch, GNNArchitecture) and arch.time_channel):
            raise ValueError(
                f"train.network must take a time input (paper000_gnn), got {self.train.network!r}"
            )
        radius = receptive_radius(arch)
        if self.physics.size < 2 * radius + 1:
            raise ValueError(
                f"physics.size ({self.physics.size}) must exceed twice the network's receptive "
                f"radius ({radius}) so that no neighbourhood wraps onto itself"
            )
        e, r = self.ehrenfest, self.recovery
        frame_time = e.dt * e.record_every
        if not self.dataset.from_tau0 < r.t1_tau0 < e.end_tau0:
            raise ValueError(
                f"need dataset.from_tau0 < recovery.t1_tau0 < ehrenfest.end_tau0, got "
                f"{self.dataset.from_tau0}, {r.t1_tau0}, {e.end_tau0}"
            )
        ratio = frame_time / r.dt
        if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
            raise ValueError(
                f"recovery.dt ({r.dt}) must divide the frame interval ehrenfest.dt * "
                f"record_every = {frame_time}"
            )

    # ------------------------------------------------------------------ derived
    @property
    def frame_time(self) -> float:
        """Time between recorded frames."""
        return self.ehrenfest.dt * self.ehrenfest.record_every

    @property
    def t1_frame(self) -> int:
        """The recorded frame where the recovery stage starts (nearest to ``t1``)."""
        return round(self.recovery.t1_tau0 * self.physics.tau0 / self.frame_time)

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json``."""
        p = self.physics
        return {
            "physics_params": json.loads(physics_json(p.params())),
            "tau0": p.tau0, "mass": p.mass, "Q0": p.q0,
            "steps": self.ehrenfest.steps(p.tau0), "t1": self.t1_frame * self.frame_time,
            "time_unit": "1/|t_nn| (tau_el); tau0 = 1/Omega",
        }  # fmt: skip


# ============================================================================ helpers


def cdw_ehrenfest_states(
    physics: LaserPhysics, count: int, rng: np.random.Generator, device: torch.device
) -> EhrenfestState:
    """``count`` CDW ground states with independent lattice noise, as one batched state.

    :func:`reference.ehrenfest.initial_state` per member (paper 000, sec. II): the relaxed
    CDW plus Gaussian noise of ``noise_temperature``, electrons in equilibrium with the
    noiseless lattice.
    """
    model = physics.model()
    cdw = ed.ground_state(model).Q
    members = [
        ehrenfest.initial_state(model, noise_temperature=physics.noise_temperature,
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


def kinetic_temperature_after(stored: StoredTrajectory, mass: float, t1: float) -> float:
    r"""The effective bath temperature :math:`T = \langle m\dot Q^2\rangle = \langle P^2\rangle/m`
    over the frames with ``t >= t1``, all runs and sites (paper 000, eq. 30)."""
    late = stored.t >= t1 - 1e-9
    if not late.any():
        raise ValueError(f"no recorded frame at t >= {t1}")
    p = stored.extra["P"][late]
    return float(np.mean(p**2) / mass)


def _exact_runs(
    experiment: LaserExperiment, folder: Path, name: str, count: int, stream: int,
    device: torch.device, progress: bool,
) -> StoredTrajectory:  # fmt: skip
    p, e = experiment.physics, experiment.ehrenfest
    rng = np.random.default_rng([experiment.seed, stream])
    state = cdw_ehrenfest_states(p, count, rng, device)
    identity = json.dumps({"fingerprint": experiment.fingerprint("dataset"), "run": name,
                           "stream": stream, "count": count})  # fmt: skip
    return run_ehrenfest(
        state, p.model(), e.dt, e.steps(p.tau0), folder / f"{name}.h5",
        pulse=experiment.pulse.pulse(), identity=identity, record_every=e.record_every,
        checkpoint_every=e.checkpoint_every, progress=progress, description=name,
    )  # fmt: skip


# ============================================================================ stages


def _stage_dataset(
    experiment: LaserExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    runs = _exact_runs(experiment, folder, "exact_runs", experiment.dataset.n_runs, 2**32 - 3,
                       device, progress)  # fmt: skip
    log.info("dataset: %d frames of %d Ehrenfest runs", len(runs.t), runs.Q.shape[1])


def training_frames(
    stored: StoredTrajectory, physics: LaserPhysics, from_tau0: float, every: int
) -> tuple[io.Dataset, NDArray[np.float64]]:
    """The training set of paper 000 from exact runs: configurations, adiabatic forces and
    densities of the frames with ``t >= from_tau0`` (every ``every``-th), and their times."""
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
    return io.Dataset(q, f, n, attributes), times


def _stage_train_laser(
    experiment: LaserExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    stored = load_trajectory(folder / "exact_runs.h5")
    d = experiment.dataset
    data, times = training_frames(stored, experiment.physics, d.from_tau0, d.snapshot_every)
    _stage_train(experiment, folder, device, progress, data=data, times=times)  # type: ignore[arg-type]


def _stage_simulate(
    experiment: LaserExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    p, r, cmp = experiment.physics, experiment.recovery, experiment.compare
    exact = _exact_runs(experiment, folder, "compare_exact", cmp.ensemble, 101, device, progress)
    training = load_trajectory(folder / "exact_runs.h5")
    first = experiment.t1_frame
    t1 = float(exact.t[first])
    temperature = r.temperature
    if temperature is None:
        temperature = kinetic_temperature_after(training, p.mass, t1)
    model = load_model(folder / "model.pt", **experiment.model_checks())
    dtype = torch.float32 if cmp.precision == "float32" else torch.float64
    lattice = p.model().lattice
    ml_ff = model.force_field(lattice, dtype=dtype, device=device, time=t1)
    integ = dynamics.langevin_time_dependent_bath(
        ml_ff, mass=p.mass, schedule=r.schedule(p.tau0), temperature=temperature, dt=r.dt
    )
    per_frame = round(experiment.frame_time / r.dt)
    steps = (len(exact.t) - 1 - first) * per_frame
    gen = torch.Generator(device=device)
    gen.manual_seed(int(np.random.default_rng([experiment.seed, 101, 1]).integers(2**62)))
    q1 = torch.as_tensor(exact.Q[first], device=device)
    p1 = torch.as_tensor(exact.extra["P"][first], device=device)
    identity = json.dumps({"fingerprint": experiment.fingerprint("simulate"), "run": "ml",
                           "model": content_hash(dict(model.weights.arrays))})  # fmt: skip
    ml = run_dynamics(
        integ, integ.init(q1, p1, rng=gen, t0=t1), steps, folder / "compare_ml.h5",
        identity=identity, record_every=per_frame,
        checkpoint_every=per_frame * max(1, experiment.ehrenfest.checkpoint_every
                                         // experiment.ehrenfest.record_every),
        progress=progress, description="ML recovery", frame_dtype="float64",
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
    _runio.write_json(folder / "simulate_timings.json", timings)


def _stage_analyse(
    experiment: LaserExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    p = experiment.physics
    lattice = p.model().lattice
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
    model = load_model(folder / "model.pt", **experiment.model_checks())
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
    _runio.atomic_write(folder / "analysis.h5", lambda path: _write_arrays(path, arrays))
    _runio.write_json(folder / "analysis.json", summary)
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
    experiment: LaserExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    from fast import _report

    _report.write_laser_report(experiment, folder)


LaserExperiment.DEPENDS = _DEPENDS
LaserExperiment.OUTPUTS = _OUTPUTS
LaserExperiment.STAGE_FUNCTIONS = {
    "dataset": _stage_dataset,
    "train": _stage_train_laser,
    "simulate": _stage_simulate,
    "analyse": _stage_analyse,
    "report": _stage_report,
}
