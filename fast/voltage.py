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
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from numpy.typing import NDArray
from tqdm.auto import tqdm

from fast import dynamics, io
from fast.experiment import (
    StagedExperiment,
    _stage_train,
    _write_arrays,
    compare_ensembles,
    densities_from_forces,
    run_files,
)
from fast.io import content_hash
from fast.negf import NEGFForceField
from fast.simulation import load_trajectory, run_dynamics
from fast.train import (
    ErrorStats,
    TrainConfig,
    _finish_dataset,
    _load_state,
    _state_record,
    load_model,
    physics_json,
)
from reference import _runio, ed, observables
from reference._runio import finite, non_negative, non_negative_int, positive, positive_int
from reference.lattice import SquareLattice
from reference.model import Electrodes, ElectronEnsemble, HolsteinModel, HolsteinParams

__all__ = [
    "BrownianSettings",
    "VoltageDatasetConfig",
    "VoltageExperiment",
    "VoltagePhysics",
    "cdw_initial_states",
    "generate_voltage_dataset",
    "lattice_json",
]

log = logging.getLogger("fast.voltage")


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class VoltagePhysics:
    r"""``[physics]``: the driven Holstein lattice (defaults: paper 001, sec. IV and App. A).

    ``g = sqrt(lambda W k)`` with :math:`\lambda = 0.28`, ``W = 8``, ``k = 1``;
    :math:`\kappa/k = 0.18`; :math:`\Gamma_{\rm lead} = 1`, :math:`\Gamma_{\rm bath} = 0.001`,
    ``k_B T = 0.1``; lattice 40 x 30. The paper does not state ``V``; ``V = 3`` is our
    choice (``specs/experiments/voltage.toml``). ``temperature`` is that of every reservoir,
    of the Brownian noise and of the initial CDW. The coupling ``n-1/2`` centres the CDW
    gap at :math:`\epsilon_F = 0`, as the paper's setup requires.
    """

    Lx: int = attrs.field(default=40, validator=positive_int)
    Ly: int = attrs.field(default=30, validator=positive_int)
    hopping: float = 1.0
    g: float = math.sqrt(0.28 * 8.0)
    k: float = 1.0
    kappa: float = 0.18
    coupling: str = "n-1/2"
    gamma_lead: float = attrs.field(default=1.0, validator=positive)
    gamma_bath: float = attrs.field(default=0.001, validator=positive)
    voltage: float = attrs.field(default=3.0, validator=finite)
    temperature: float = attrs.field(default=0.1, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.Lx < 4:
            raise ValueError(f"Lx must be an integer >= 4, got {self.Lx!r}")
        if self.Ly < 2 or self.Ly % 2:
            raise ValueError(f"Ly must be an even integer >= 2 (periodic y), got {self.Ly!r}")
        self.model()
        self.electrodes()

    @property
    def lattice(self) -> SquareLattice:
        """``Lx x Ly``, open along x (the electrodes), periodic along y."""
        return SquareLattice(self.Lx, self.Ly, periodic_x=False, periodic_y=True)

    def params(self) -> HolsteinParams:
        """The Hamiltonian parameters (mass 1: overdamped dynamics does not use it)."""
        return HolsteinParams(self.hopping, self.g, self.k, self.kappa, 1.0, self.coupling)

    def model(self) -> HolsteinModel:
        """The model; its ensemble (half filling at ``temperature``) defines the initial CDW."""
        return HolsteinModel(
            self.lattice, self.params(), ElectronEnsemble(self.temperature, filling=0.5)
        )

    def electrodes(self) -> Electrodes:
        """The leads and baths."""
        return Electrodes(self.gamma_lead, self.gamma_bath, self.voltage, self.temperature)


@attrs.frozen(kw_only=True)
class BrownianSettings:
    r"""``[brownian]``: the overdamped dynamics of every run (paper 001: :math:`\gamma = 1`,
    ``dt = 0.1``). Runs start from the equilibrium CDW plus Gaussian noise of standard
    deviation ``initial_noise`` and last ``steps`` steps, recorded every ``record_every``."""

    damping: float = attrs.field(default=1.0, validator=positive)
    dt: float = attrs.field(default=0.1, validator=positive)
    initial_noise: float = attrs.field(default=0.01, validator=non_negative)
    steps: int = attrs.field(default=1000, validator=positive_int)
    record_every: int = attrs.field(default=1, validator=positive_int)
    checkpoint_every: int = attrs.field(default=50, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if self.record_every > self.steps:
            raise ValueError(
                f"record_every must be <= steps ({self.steps}), got {self.record_every!r}"
            )
        if self.checkpoint_every % self.record_every:
            raise ValueError(
                f"checkpoint_every must be a multiple of record_every ({self.record_every}), "
                f"got {self.checkpoint_every!r}"
            )


@attrs.frozen(kw_only=True)
class VoltageDatasetSettings:
    """``[dataset]``: exact runs for training (paper 001: 1096 configurations from NEGF
    runs, sites within about 10 lattice constants of either electrode left out)."""

    n_runs: int = attrs.field(default=8, validator=positive_int)
    snapshot_every: int = attrs.field(default=10, validator=positive_int)
    exclude_columns: int = attrs.field(default=10, validator=non_negative_int)


@attrs.frozen(kw_only=True)
class VoltageCompareSettings:
    """``[compare]``: held-out exact runs and the ML runs driven like them.

    ``frozen_columns`` outermost columns per side follow the exact run in the ML run
    (paper 001 and the authors' script: six). ``precision`` is that of the network.
    """

    ensemble: int = attrs.field(default=8, validator=positive_int)
    frozen_columns: int = attrs.field(default=6, validator=positive_int)
    precision: str = "float64"

    def __attrs_post_init__(self) -> None:
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {self.precision!r}")


@attrs.frozen(kw_only=True)
class VoltageAnalyseSettings:
    r"""``[analyse]``: a site is metallic when :math:`|\phi_i|` < ``metal_threshold``."""

    metal_threshold: float = attrs.field(default=0.25, validator=positive)
    force_frames: int = attrs.field(default=40, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        if not 0.0 < self.metal_threshold < 1.0:
            raise ValueError(f"metal_threshold must lie in (0, 1), got {self.metal_threshold!r}")


@attrs.frozen(kw_only=True)
class VoltageTrainConfig(TrainConfig):
    """``[train]`` of the voltage workflow: paper 001's network and learning rate (1e-4)."""

    network: str = "paper001_mlp"
    learning_rate: float = attrs.field(default=1e-4, validator=positive)


# the settings sections each stage depends on
_DEPENDS = {
    "dataset": ("kind", "seed", "physics", "brownian", "dataset"),
    "train": ("kind", "seed", "physics", "brownian", "dataset", "train"),
    "simulate": ("kind", "seed", "physics", "brownian", "dataset", "train", "compare"),
    "analyse": ("kind", "seed", "physics", "brownian", "dataset", "train", "compare", "analyse"),
}
_DEPENDS["report"] = (*_DEPENDS["analyse"], "name")
_OUTPUTS = {
    "dataset": ("dataset.h5", "dataset.h5.partial"),
    "train": ("model.pt", "training.json", "predictions.h5", "train_checkpoint.pt"),
    "simulate": (*run_files("compare_exact", "compare_ml"), "simulate_timings.json"),
    "analyse": ("analysis.h5", "analysis.json"),
    "report": ("report.md", "metrics.json"),
}


@attrs.frozen(kw_only=True)
class VoltageExperiment(StagedExperiment):
    """A voltage experiment file. Sections: ``[experiment]`` (``name``, ``kind = "voltage"``,
    ``seed``), ``[physics]``, ``[brownian]``, ``[dataset]``, ``[train]``, ``[compare]``,
    ``[analyse]``; every key has a paper default."""

    name: str = "voltage"
    kind: str = "voltage"
    seed: int = 0
    physics: VoltagePhysics = attrs.field(factory=VoltagePhysics)
    brownian: BrownianSettings = attrs.field(factory=BrownianSettings)
    dataset: VoltageDatasetSettings = attrs.field(factory=VoltageDatasetSettings)
    train: VoltageTrainConfig = attrs.field(factory=VoltageTrainConfig)
    compare: VoltageCompareSettings = attrs.field(factory=VoltageCompareSettings)
    analyse: VoltageAnalyseSettings = attrs.field(factory=VoltageAnalyseSettings)

    def __attrs_post_init__(self) -> None:
        if self.kind != "voltage":
            raise ValueError(f"kind must be 'voltage' for this class, got {self.kind!r}")
        self._check_seeds()
        from fast.nn import receptive_radius

        radius = receptive_radius(self.architecture())
        p, d, c = self.physics, self.dataset, self.compare
        if p.Ly < 2 * radius + 1:
            raise ValueError(
                f"physics.Ly ({p.Ly}) must exceed twice the network's receptive radius "
                f"({radius}) so that no neighbourhood wraps onto itself"
            )
        for name, columns in (("dataset.exclude_columns", d.exclude_columns),
                              ("compare.frozen_columns", c.frozen_columns)):  # fmt: skip
            if columns < radius:
                raise ValueError(
                    f"{name} ({columns}) must be at least the network's receptive radius "
                    f"({radius}): the model must see whole neighbourhoods, inside the lattice"
                )
            if 2 * columns >= p.Lx:
                raise ValueError(
                    f"{name} ({columns}) must leave columns in between: 2 * {columns} < Lx = {p.Lx}"
                )
        if d.snapshot_every > self.brownian.steps:
            raise ValueError(
                f"dataset.snapshot_every must be <= brownian.steps ({self.brownian.steps}), "
                f"got {d.snapshot_every!r}"
            )

    def dataset_config(self) -> VoltageDatasetConfig:
        """The :class:`VoltageDatasetConfig` of the ``dataset`` stage."""
        return VoltageDatasetConfig(
            physics=self.physics,
            brownian=self.brownian,
            n_runs=self.dataset.n_runs,
            snapshot_every=self.dataset.snapshot_every,
            seed=self.seed,
        )

    def train_sites(self) -> NDArray[np.bool_]:
        """The learned sites: columns at least ``exclude_columns`` from either edge."""
        return _columns(self.physics, self.dataset.exclude_columns, inside=True)

    def boundary(self) -> NDArray[np.bool_]:
        """The ``frozen_columns`` outermost columns per side, which follow the exact run."""
        return _columns(self.physics, self.compare.frozen_columns, inside=False)

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json``."""
        return {
            "physics_params": json.loads(physics_json(self.physics.params())),
            "time_unit": "1/gamma (Brownian damping)",
        }


def _columns(physics: VoltagePhysics, count: int, *, inside: bool) -> NDArray[np.bool_]:
    edge = np.zeros((physics.Lx, physics.Ly), dtype=bool)
    edge[:count] = True
    edge[physics.Lx - count :] = True
    return ~edge if inside else edge


# ============================================================================ dataset


@attrs.frozen(kw_only=True)
class VoltageDatasetConfig:
    """Settings of paper 001's training set: snapshots of exact NEGF-Brownian runs.

    ``n_runs`` runs of ``brownian.steps`` steps start from the equilibrium CDW plus noise
    (:func:`cdw_initial_states`) and are sampled every ``snapshot_every`` steps; every
    snapshot holds the exact forces and densities of all sites.
    """

    physics: VoltagePhysics = attrs.field(factory=VoltagePhysics)
    brownian: BrownianSettings = attrs.field(factory=BrownianSettings)
    n_runs: int = attrs.field(default=8, validator=positive_int)
    snapshot_every: int = attrs.field(default=10, validator=positive_int)
    seed: int = 0

    @property
    def n_samples(self) -> int:
        """Snapshots in all: ``n_runs * (steps // snapshot_every)``."""
        return self.n_runs * (self.brownian.steps // self.snapshot_every)


def lattice_json(lattice: SquareLattice) -> str:
    """The lattice geometry as JSON text (``Lx``, ``Ly``, ``periodic_x``, ``periodic_y``)."""
    return json.dumps(attrs.asdict(lattice), sort_keys=True)


def cdw_initial_states(
    physics: VoltagePhysics, count: int, noise: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """``count`` copies of the equilibrium CDW plus Gaussian noise, ``(count, Lx, Ly)``.

    The CDW is :func:`reference.ed.ground_state` of the lattice without reservoirs at half
    filling and ``physics.temperature`` (paper 001: the system starts in the CDW insulator).
    """
    cdw = ed.ground_state(physics.model()).Q
    return np.asarray(cdw + rng.normal(scale=noise, size=(count, *cdw.shape)), dtype=np.float64)


def _brownian(physics: VoltagePhysics, brownian: BrownianSettings, force_field: Any,
              **kwargs: Any) -> dynamics.Integrator:  # fmt: skip
    return dynamics.brownian(
        force_field, gamma=brownian.damping, temperature=physics.temperature, dt=brownian.dt,
        **kwargs,
    )  # fmt: skip


def _labels(physics: VoltagePhysics, state: dynamics.DynamicsState) -> dict[str, NDArray[Any]]:
    q = state.Q.cpu().numpy()
    f = state.forces.cpu().numpy()
    return {"Q": q, "F": f, "n": densities_from_forces(q, f, physics.model())}


def generate_voltage_dataset(
    config: VoltageDatasetConfig,
    path: str | Path,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    on_chunk: Callable[[int], Any] | None = None,
) -> io.Dataset:
    """Generate (or resume, or just load) the training set of ``config`` at ``path``.

    The runs are one batch; after every ``snapshot_every`` steps their configurations,
    exact NEGF forces and densities are appended to ``<path>.partial`` together with the
    dynamics state, so a killed generation resumes where it stopped and produces the same
    file. The finished file records the configuration, the Holstein parameters
    (``physics``), the lattice geometry (``lattice``) and a content hash.

    Raises
    ------
    ValueError
        If ``path`` holds a dataset of another configuration.
    """
    final = Path(path)
    settings = _runio.to_jsonable(attrs.asdict(config))
    if final.exists():
        data = io.load_dataset(final)
        if data.attributes.get("config") != json.dumps(settings, sort_keys=True):
            raise ValueError(
                f"{str(final)!r} was generated with another configuration; use another path"
            )
        return data
    dev = torch.device(device)
    physics = config.physics
    lattice = physics.lattice
    extra = {"physics": physics_json(physics.params()), "lattice": lattice_json(lattice)}
    done = io.open_partial(final, lattice.shape, settings, "voltage", extra)
    integ = _brownian(physics, config.brownian, NEGFForceField(physics.model(),
                                                               physics.electrodes()))  # fmt: skip
    resumed = _load_state(final, integ, dev) if done else None
    if resumed is None:
        rng = np.random.default_rng([config.seed, 2**32 - 2])  # the dataset stream
        q0 = cdw_initial_states(physics, config.n_runs, config.brownian.initial_noise, rng)
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
        done = io.append_chunk(final, _labels(physics, state), _state_record(state, step))
        bar.update(config.n_runs)
        if on_chunk is not None:
            on_chunk(done)
    bar.close()
    return _finish_dataset(final)


# ============================================================================ stages


def _stage_dataset(
    experiment: VoltageExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    data = generate_voltage_dataset(
        experiment.dataset_config(), folder / "dataset.h5", device=device, progress=progress
    )
    log.info("dataset: %d NEGF snapshots of %dx%d", len(data), *data.Q.shape[1:])


def _stage_train_voltage(
    experiment: VoltageExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    _stage_train(
        experiment, folder, device, progress,  # type: ignore[arg-type]
        lattice=experiment.physics.lattice, sites=experiment.train_sites(),
    )  # fmt: skip


def _run(
    experiment: VoltageExperiment,
    folder: Path,
    name: str,
    integrator: dynamics.Integrator,
    q0: NDArray[np.float64],
    device: torch.device,
    progress: bool,
    model_hash: str = "",
) -> float:
    """One Brownian run into ``<name>.h5`` with the compare noise; returns seconds per step."""
    b = experiment.brownian
    gen = torch.Generator(device=device)
    gen.manual_seed(int(np.random.default_rng([experiment.seed, 101, 1]).integers(2**62)))
    identity = json.dumps({"fingerprint": experiment.fingerprint("simulate"), "run": name,
                           "model": model_hash})  # fmt: skip
    stored = run_dynamics(
        integrator, integrator.init(torch.as_tensor(q0, device=device), rng=gen), b.steps,
        folder / f"{name}.h5", identity=identity, record_every=b.record_every,
        checkpoint_every=b.checkpoint_every, progress=progress, description=name,
        frame_dtype="float64",
    )  # fmt: skip
    return float(stored.attributes["seconds"]) / b.steps


def _stage_simulate(
    experiment: VoltageExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    physics, b, cmp = experiment.physics, experiment.brownian, experiment.compare
    model = load_model(folder / "model.pt", **experiment.model_checks())
    rng = np.random.default_rng([experiment.seed, 101])
    q0 = cdw_initial_states(physics, cmp.ensemble, b.initial_noise, rng)
    exact_ff = NEGFForceField(physics.model(), physics.electrodes())
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

    dtype = torch.float32 if cmp.precision == "float32" else torch.float64
    ml_ff = model.force_field(physics.lattice, dtype=dtype, device=device)
    integ = _brownian(physics, b, ml_ff, frozen=torch.as_tensor(experiment.boundary()),
                      prescribed=prescribed)  # fmt: skip
    timings["ml_seconds_per_step"] = _run(
        experiment, folder, "compare_ml", integ, q0, device, progress,
        content_hash(dict(model.weights.arrays)),
    )  # fmt: skip
    timings |= {"device": str(device), "threads": torch.get_num_threads(),
                "ensemble": cmp.ensemble}  # fmt: skip
    _runio.write_json(folder / "simulate_timings.json", timings)


def metallic_fraction(
    n: NDArray[np.float64], lattice: SquareLattice, threshold: float, columns: NDArray[np.bool_]
) -> NDArray[np.float64]:
    r"""The share of metallic sites (:math:`|\phi_i| <` ``threshold``) among the ``columns``
    mask, ``(...)``; with every site selected it is paper 001's :math:`\xi`
    (:func:`reference.observables.domain_wall_position`)."""
    phi = observables.local_cdw_order(n, lattice)
    metal = np.abs(phi) < threshold
    return np.asarray(metal[..., columns].mean(axis=-1), dtype=np.float64)


def _stage_analyse(
    experiment: VoltageExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    physics, settings = experiment.physics, experiment.analyse
    holstein, lattice = physics.model(), physics.lattice
    exact = load_trajectory(folder / "compare_exact.h5")
    ml = load_trajectory(folder / "compare_ml.h5")
    boundary = experiment.boundary()
    n_exact = densities_from_forces(exact.Q, exact.forces, holstein)  # (frames, runs, Lx, Ly)
    n_ml = densities_from_forces(ml.Q, ml.forces, holstein)
    # the ML forces of the boundary columns are not used (those sites follow the exact
    # run) and their neighbourhoods leave the lattice: take the exact densities there
    n_ml = np.where(boundary, n_exact, n_ml)
    everywhere = np.ones(boundary.shape, dtype=bool)
    arrays: dict[str, NDArray[Any]] = {"t": exact.t, "boundary": boundary}
    summary: dict[str, Any] = {"ensemble": int(exact.Q.shape[1]), "t_end": float(exact.t[-1])}
    for region, columns in (("lattice", everywhere), ("free", ~boundary)):
        xi_e = metallic_fraction(n_exact, lattice, settings.metal_threshold, columns)
        xi_m = metallic_fraction(n_ml, lattice, settings.metal_threshold, columns)
        arrays |= {f"xi_{region}_exact": xi_e, f"xi_{region}_ml": xi_m}
        summary[f"xi_{region}"] = compare_ensembles(xi_e, xi_m)[0]
    # ML forces on the held-out exact trajectories, on the sites the ML run moves
    model = load_model(folder / "model.pt", **experiment.model_checks())
    ml_ff = model.force_field(lattice, dtype=torch.float64, device=device)
    frames = np.unique(np.linspace(1, len(exact.t) - 1, settings.force_frames).astype(int))
    q = torch.as_tensor(exact.Q[frames], device=device)
    predicted = ml_ff.forces(q).cpu().numpy()[..., ~boundary]
    stats = ErrorStats.of(predicted, exact.forces[frames][..., ~boundary])
    summary["force_error_on_held_out_runs"] = attrs.asdict(stats) | {
        "frames": len(frames), "sites": "the ML-driven (free) sites",
    }  # fmt: skip
    arrays |= {"force_frames": frames, "n_exact_run0": n_exact[:, 0], "n_ml_run0": n_ml[:, 0]}
    _runio.atomic_write(folder / "analysis.h5", lambda p: _write_arrays(p, arrays))
    _runio.write_json(folder / "analysis.json", summary)
    free = summary["xi_free"]
    log.info("analyse: xi(t_end) exact %.3f, ML %.3f; force error std on held-out runs %.3g",
             free["exact_final"], free["ml_final"], stats.std)  # fmt: skip


def _stage_report(
    experiment: VoltageExperiment, folder: Path, device: torch.device, progress: bool
) -> None:
    from fast import _report

    _report.write_voltage_report(experiment, folder)


VoltageExperiment.DEPENDS = _DEPENDS
VoltageExperiment.OUTPUTS = _OUTPUTS
VoltageExperiment.STAGE_FUNCTIONS = {
    "dataset": _stage_dataset,
    "train": _stage_train_voltage,
    "simulate": _stage_simulate,
    "analyse": _stage_analyse,
    "report": _stage_report,
}
