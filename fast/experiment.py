"""Experiments from one file: ``python -m fast run <experiment>.toml --out <dir>``.

A quench experiment (papers 002, 003, 004) runs five stages, each skipped when its
results are already in the run folder:

``dataset``
    exact-diagonalisation labels of random and quenched configurations
    (:func:`fast.train.generate_quench_dataset`) -> ``dataset.h5``;
``train``
    the network named in ``[train]`` (:func:`fast.train.train_network`) -> ``model.pt``,
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

Every stage records in ``stages.json`` a fingerprint of the settings it used; running
again with changed settings that a finished stage depends on is refused before any work
(use a new ``--out``). Long stages checkpoint and resume after a kill.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import attrs
import cattrs
import h5py
import numpy as np
import torch
from numpy.typing import NDArray

import fast
from fast import dynamics, ed
from fast.io import Architecture, Dataset, architecture_to_json, content_hash
from fast.simulation import StoredTrajectory, load_trajectory, run_dynamics
from fast.train import (
    QuenchDatasetConfig,
    TrainConfig,
    generate_quench_dataset,
    hot_start_spread,
    load_model,
    physics_json,
    save_model,
    train_network,
)
from reference import _runio, observables
from reference._runio import non_negative_int, positive, positive_int
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.nn import GNNArchitecture

__all__ = [
    "STAGES",
    "Experiment",
    "Workflow",
    "densities_from_forces",
    "load_experiment",
    "preflight",
    "run_experiment",
]

log = logging.getLogger("fast.experiment")

STAGES = ("dataset", "train", "simulate", "analyse", "report")
# the settings sections each stage depends on (its own and those of earlier stages)
_DEPENDS = {
    "dataset": ("kind", "seed", "physics", "langevin", "dataset"),
    "train": ("kind", "seed", "physics", "langevin", "dataset", "train"),
    "simulate": (
        "kind", "seed", "physics", "langevin", "dataset", "train", "simulate", "compare",
    ),
    "analyse": (
        "kind", "seed", "physics", "langevin", "dataset", "train", "simulate", "compare",
        "analyse",
    ),
}  # fmt: skip
_DEPENDS["report"] = (*_DEPENDS["analyse"], "name")


# ============================================================================ settings


@attrs.frozen(kw_only=True)
class Physics:
    """``[physics]``: the Holstein model (defaults: paper 003 at half filling).

    Give ``mu`` to hold the electrons at a fixed chemical potential instead of a fixed
    filling (``mu = 0`` is half filling on average for the ``n-1/2`` coupling, by
    particle-hole symmetry). Fixed-filling labels depend on the whole lattice through the
    chemical potential, a non-locality no local model can learn (specs/equations/training.md).
    """

    hopping: float = 1.0
    g: float = 3.5
    k: float = 1.0
    kappa: float = 0.18
    mass: float = 5.0
    coupling: str = "n-1/2"
    filling: float = 0.5
    mu: float | None = None
    temperature: float = attrs.field(default=0.1, validator=positive)

    def __attrs_post_init__(self) -> None:
        self.model(4)

    def params(self) -> HolsteinParams:
        """The Hamiltonian parameters."""
        return HolsteinParams(self.hopping, self.g, self.k, self.kappa, self.mass, self.coupling)

    def model(self, size: int) -> HolsteinModel:
        """The model on a periodic ``size x size`` lattice."""
        return HolsteinModel(
            SquareLattice(size, size),
            self.params(),
            self.ensemble(),
        )

    def ensemble(self) -> ElectronEnsemble:
        """Fixed ``filling``, or the fixed chemical potential ``mu`` when it is given."""
        if self.mu is not None:
            return ElectronEnsemble(self.temperature, filling=None, mu=self.mu)
        return ElectronEnsemble(self.temperature, filling=self.filling)


@attrs.frozen(kw_only=True)
class Langevin:
    """``[langevin]``: the thermal quench, shared by the dataset, compare and simulate runs.

    ``omega_tau = omega gamma / k`` and ``dt_omega = omega dt`` with ``omega = sqrt(k/m)``
    (paper 003: 0.09 and 0.022). ``integrator`` is ``"baoab"`` or ``"vv_ou"`` (velocity
    Verlet plus an exact Ornstein-Uhlenbeck update, the authors' script). The initial state
    is a hot start at ``initial_temperature``: ``Q ~ N(0, T0/kappa)``, ``P ~ N(0, T0 m)``.
    """

    omega_tau: float = attrs.field(default=0.09, validator=positive)
    dt_omega: float = attrs.field(default=0.022, validator=positive)
    integrator: str = "baoab"
    initial_temperature: float = attrs.field(default=5.0, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.integrator not in ("baoab", "vv_ou"):
            raise ValueError(f"integrator must be 'baoab' or 'vv_ou', got {self.integrator!r}")


@attrs.frozen(kw_only=True)
class DatasetSettings:
    """``[dataset]``: the exact training set (paper 003 App. B: 40x40, 200 + 400); ``start``
    is where the snapshot runs begin, ``"hot"`` (quench) or ``"cdw"`` (equilibrium at T)."""

    size: int = attrs.field(default=40, validator=positive_int)
    n_random: int = attrs.field(default=200, validator=non_negative_int)
    n_runs: int = attrs.field(default=4, validator=non_negative_int)
    snapshots_per_run: int = attrs.field(default=100, validator=non_negative_int)
    burn_in: int = attrs.field(default=0, validator=non_negative_int)
    snapshot_every: int = attrs.field(default=50, validator=positive_int)
    chunk: int = attrs.field(default=8, validator=positive_int)
    start: str = "hot"

    def __attrs_post_init__(self) -> None:
        if self.start not in ("hot", "cdw"):
            raise ValueError(f"start must be 'hot' or 'cdw', got {self.start!r}")


@attrs.frozen(kw_only=True)
class SimulateSettings:
    """``[simulate]``: the large ML quench (paper 003: 200x200; authors: 25,000 steps)."""

    size: int = attrs.field(default=200, validator=positive_int)
    ensemble: int = attrs.field(default=4, validator=positive_int)
    steps: int = attrs.field(default=25000, validator=positive_int)
    record_every: int = attrs.field(default=100, validator=positive_int)
    checkpoint_every: int = attrs.field(default=1000, validator=positive_int)
    precision: str = "float32"

    def __attrs_post_init__(self) -> None:
        _check_run(self.size, self.steps, self.record_every, self.checkpoint_every)
        if self.precision not in ("float32", "float64"):
            raise ValueError(f"precision must be 'float32' or 'float64', got {self.precision!r}")


@attrs.frozen(kw_only=True)
class CompareSettings:
    """``[compare]``: exact and ML Langevin from the same states and noise (paper 003 Fig. 3:
    40x40, 30 runs, ``C_ij`` at steps 200, 1000, 9000). ``ensemble = 0`` skips it.

    ``cluster_radius > 0`` adds a third arm with the same states and noise, driven by the
    local-cluster force of that radius (:class:`fast.ed.ClusterForceField`; needs a fixed
    ``mu``): the no-training baseline the network should beat (beyond the papers)."""

    size: int = attrs.field(default=40, validator=positive_int)
    ensemble: int = attrs.field(default=30, validator=non_negative_int)
    times: tuple[int, ...] = (200, 1000, 9000)
    checkpoint_every: int = attrs.field(default=200, validator=positive_int)
    cluster_radius: float = attrs.field(default=0.0, converter=float)

    def __attrs_post_init__(self) -> None:
        if not math.isfinite(self.cluster_radius) or self.cluster_radius < 0:
            raise ValueError(f"cluster_radius must be >= 0 (0: off), got {self.cluster_radius!r}")
        if not self.times or any(
            isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in self.times
        ):
            raise ValueError(f"times must be a non-empty list of integers >= 1, got {self.times!r}")
        if list(self.times) != sorted(set(self.times)):
            raise ValueError(f"times must be strictly increasing, got {self.times!r}")
        _check_run(self.size, max(self.times), self.record_every, self.checkpoint_every)

    @property
    def record_every(self) -> int:
        """Frames are recorded at the greatest common divisor of the comparison times."""
        return math.gcd(*self.times)


@attrs.frozen(kw_only=True)
class AnalyseSettings:
    """``[analyse]``: the growth-law fit window and the bootstrap of its uncertainty."""

    fit_from_fraction: float = attrs.field(default=0.1, validator=positive)
    fit_max_length_fraction: float = attrs.field(default=0.25, validator=positive)
    bootstrap: int = attrs.field(default=200, validator=non_negative_int)
    collapse_frames: int = attrs.field(default=4, validator=positive_int)

    def __attrs_post_init__(self) -> None:
        for name in ("fit_from_fraction", "fit_max_length_fraction"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in (0, 1], got {getattr(self, name)!r}")


def _check_run(size: int, steps: int, record_every: int, checkpoint_every: int) -> None:
    if size < 4 or size % 2:
        raise ValueError(f"size must be an even integer >= 4, got {size!r}")
    if record_every > steps:
        raise ValueError(f"record_every must be <= steps ({steps}), got {record_every!r}")
    if checkpoint_every % record_every:
        raise ValueError(
            f"checkpoint_every must be a multiple of record_every ({record_every}), "
            f"got {checkpoint_every!r}"
        )


StageFunction = Callable[[Any, Path, torch.device, bool], None]


class StagedExperiment:
    """What the quench, voltage and laser experiments share: stage bookkeeping by class tables.

    A subclass sets ``DEPENDS`` (the settings sections each stage depends on: its own and
    those of earlier stages), ``OUTPUTS`` (the files each stage writes, work in progress
    included) and ``STAGE_FUNCTIONS``.
    """

    DEPENDS: ClassVar[Mapping[str, tuple[str, ...]]]
    OUTPUTS: ClassVar[Mapping[str, tuple[str, ...]]]
    STAGE_FUNCTIONS: ClassVar[Mapping[str, StageFunction]]
    seed: int
    train: TrainConfig
    physics: Any  # each workflow's [physics] settings, with ``params()``

    def _check_seeds(self) -> None:
        if self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.train.seed != 0:
            raise ValueError("set the seed in [experiment] (it seeds every stage), not in [train]")

    def fingerprint(self, stage: str) -> str:
        """SHA-256 of the settings ``stage`` depends on."""
        return settings_fingerprint(self, self.depends(stage))

    def depends(self, stage: str) -> tuple[str, ...]:
        """The settings sections ``stage`` depends on (its own and those of earlier stages)."""
        return self.DEPENDS[stage]

    def outputs(self) -> Mapping[str, tuple[str, ...]]:
        """The files each stage writes, work in progress included."""
        return self.OUTPUTS

    def stage_functions(self) -> Mapping[str, StageFunction]:
        """The function that runs each stage."""
        return self.STAGE_FUNCTIONS

    def train_config(self) -> TrainConfig:
        """``[train]`` with the experiment's seed."""
        return attrs.evolve(self.train, seed=self.seed)

    def architecture(self) -> Architecture:
        """The network ``[train]`` describes. The ``"levels"`` head needs equilibrium labels at
        a fixed chemical potential, which only the quench workflow (which overrides this) has.
        """
        if self.train.head != "force":
            raise ValueError(
                f"[train] head = {self.train.head!r} needs equilibrium labels at a fixed "
                "chemical potential: it applies to quench experiments only"
            )
        return self.train.architecture()

    def model_checks(self) -> dict[str, Any]:
        """What a model file in the run folder must hold (:func:`fast.train.load_model`)."""
        return {"architecture": self.architecture(), "physics": self.physics.params()}


@attrs.frozen(kw_only=True)
class Experiment(StagedExperiment):
    """A whole experiment file. Sections: ``[experiment]`` (``name``, ``kind``, ``seed``),
    ``[physics]``, ``[langevin]``, ``[dataset]``, ``[train]``, ``[simulate]``, ``[compare]``,
    ``[analyse]``; every key has a paper default."""

    name: str = "quench"
    kind: str = "quench"
    seed: int = 0
    physics: Physics = attrs.field(factory=Physics)
    langevin: Langevin = attrs.field(factory=Langevin)
    dataset: DatasetSettings = attrs.field(factory=DatasetSettings)
    train: TrainConfig = attrs.field(factory=TrainConfig)
    simulate: SimulateSettings = attrs.field(factory=SimulateSettings)
    compare: CompareSettings = attrs.field(factory=CompareSettings)
    analyse: AnalyseSettings = attrs.field(factory=AnalyseSettings)

    def architecture(self) -> Architecture:
        """The network ``[train]`` describes, for the labels of ``[physics]``."""
        return self.train.architecture(self.physics.params(), self.physics.ensemble())

    def __attrs_post_init__(self) -> None:
        if self.kind != "quench":
            raise ValueError(f"kind must be 'quench' for this class, got {self.kind!r}")
        self._check_seeds()
        arch = self.architecture()
        if isinstance(arch, GNNArchitecture) and arch.time_channel:
            raise ValueError(
                f"network {self.train.network!r} takes a time input; the quench workflow has none"
            )
        if self.compare.cluster_radius and self.physics.ensemble().mu is None:
            raise ValueError(
                "[compare] cluster_radius needs a fixed chemical potential: give [physics] mu"
            )
        sizes = {"dataset.size": self.dataset.size, "simulate.size": self.simulate.size}
        if self.compare.ensemble:
            sizes["compare.size"] = self.compare.size
        for name, size in sizes.items():
            if size < 2 * _receptive(self) + 1:
                raise ValueError(
                    f"{name} ({size}) must exceed twice the network's receptive radius "
                    f"({_receptive(self)}) so that no neighbourhood wraps onto itself"
                )

    @property
    def omega(self) -> float:
        """``sqrt(k/m)``, the inverse time unit of paper 003."""
        return math.sqrt(self.physics.k / self.physics.mass)

    @property
    def dt(self) -> float:
        """The time step ``dt_omega / omega``."""
        return self.langevin.dt_omega / self.omega

    @property
    def gamma(self) -> float:
        """The friction ``omega_tau k / omega``."""
        return self.langevin.omega_tau * self.physics.k / self.omega

    def dataset_config(self) -> QuenchDatasetConfig:
        """The :class:`fast.train.QuenchDatasetConfig` of the ``dataset`` stage."""
        p, d, lv = self.physics, self.dataset, self.langevin
        return QuenchDatasetConfig(
            size=d.size, hopping=p.hopping, g=p.g, k=p.k, kappa=p.kappa, mass=p.mass,
            coupling=p.coupling, filling=p.filling, mu=p.mu, temperature=p.temperature,
            n_random=d.n_random, hot_temperature=lv.initial_temperature, n_runs=d.n_runs,
            snapshots_per_run=d.snapshots_per_run, burn_in=d.burn_in,
            snapshot_every=d.snapshot_every, omega_tau=lv.omega_tau, dt_omega=lv.dt_omega,
            chunk=d.chunk, seed=self.seed, start=d.start,
        )  # fmt: skip

    def model_checks(self) -> dict[str, Any]:
        """What a model file must hold: also the electrons' temperature and filling or mu."""
        return super().model_checks() | {"ensemble": self.physics.ensemble()}

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` next to the settings."""
        return {
            "dt": self.dt, "gamma": self.gamma, "omega": self.omega,
            "physics_params": json.loads(physics_json(self.physics.params())),
        }  # fmt: skip


class Workflow(Protocol):
    """What :func:`run_experiment` needs of an experiment (:class:`Experiment`,
    :class:`fast.voltage.VoltageExperiment`)."""

    name: str
    kind: str
    seed: int

    @property
    def train(self) -> TrainConfig: ...

    def fingerprint(self, stage: str) -> str: ...

    def depends(self, stage: str) -> tuple[str, ...]: ...

    def outputs(self) -> Mapping[str, tuple[str, ...]]: ...

    def stage_functions(self) -> Mapping[str, StageFunction]: ...

    def model_checks(self) -> dict[str, Any]: ...

    def architecture(self) -> Architecture: ...

    def derived(self) -> dict[str, Any]: ...


def compare_ensembles(
    exact: NDArray[np.float64], ml: NDArray[np.float64]
) -> tuple[dict[str, Any], NDArray[Any], NDArray[Any]]:
    """Exact vs ML per frame for values ``(frames, runs)``: the summary (final means with
    standard errors, the largest difference of the means, the largest
    ``z = |mean_ML - mean_exact| / sqrt(se_ML^2 + se_exact^2)`` and the share of frames with
    ``z <= 2``), and the exact mean and the spread of its runs per frame."""

    def stats(values: NDArray[np.float64]) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
        runs = values.shape[1]
        spread = values.std(axis=1, ddof=1) if runs > 1 else np.full(values.shape[0], np.nan)
        return values.mean(axis=1), spread / math.sqrt(runs), spread

    (m_e, e_e, s_e), (m_m, e_m, _) = stats(exact), stats(ml)
    sigma = np.sqrt(e_e**2 + e_m**2)
    z = np.abs(m_m - m_e) / np.where(sigma > 0, sigma, np.nan)
    any_z = bool(np.isfinite(z).any())
    summary = {
        "exact_final": float(m_e[-1]), "exact_final_stderr": float(e_e[-1]),
        "ml_final": float(m_m[-1]), "ml_final_stderr": float(e_m[-1]),
        "max_abs_difference_of_means": float(np.max(np.abs(m_m - m_e))),
        "max_z": float(np.nanmax(z)) if any_z else None,
        "fraction_of_frames_within_2_sigma": float(np.nanmean(z <= 2)) if any_z else None,
    }  # fmt: skip
    return summary, m_e, s_e


def settings_fingerprint(experiment: object, sections: Sequence[str]) -> str:
    """SHA-256 of the named settings sections of an attrs ``experiment``."""
    values = _runio.to_jsonable(attrs.asdict(experiment))  # type: ignore[arg-type]
    text = json.dumps({k: values[k] for k in sections}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _receptive(experiment: Experiment) -> int:
    from fast.nn import receptive_radius

    return receptive_radius(experiment.architecture())


def load_experiment(
    path: str | os.PathLike[str], overrides: Mapping[str, Any] | None = None
) -> Workflow:
    """Read an experiment file; ``overrides`` replace ``[experiment]`` keys (e.g. ``seed``).

    ``[experiment] kind`` picks the workflow: ``"quench"`` (default; papers 002-004,
    :class:`Experiment`), ``"voltage"`` (paper 001, :class:`fast.voltage.VoltageExperiment`)
    or ``"laser"`` (paper 000, :class:`fast.laser.LaserExperiment`).

    Raises
    ------
    ValueError
        One line naming every unknown section or key and every invalid value.
    """
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ValueError(f"experiment file {os.fspath(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{os.fspath(path)!r} is not valid TOML: {exc}") from None
    head = data.pop("experiment", {})
    if not isinstance(head, dict):
        raise ValueError("[experiment] must be a table")
    values = {**data, **head, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    from fast.laser import LaserExperiment
    from fast.voltage import VoltageExperiment

    kinds: dict[str, type[Any]] = {
        "quench": Experiment, "voltage": VoltageExperiment, "laser": LaserExperiment,
    }  # fmt: skip
    kind = values.get("kind", "quench")
    if kind not in kinds:
        raise ValueError(
            f"kind must be one of {sorted(kinds)} in {os.fspath(path)!r}, got {kind!r}"
        )
    cls = kinds[kind]
    sections = {a.name for a in attrs.fields(cls)}
    unknown = sorted(set(values) - sections)
    if unknown:
        raise ValueError(f"unknown settings {unknown} in {os.fspath(path)!r}; allowed: "
                         f"{sorted(sections)}")  # fmt: skip
    try:
        return _runio._converter().structure(values, cls)  # type: ignore[no-any-return]
    except cattrs.errors.BaseValidationError as exc:
        raise ValueError(
            f"invalid experiment {os.fspath(path)!r}: " + "; ".join(_runio._messages(exc))
        ) from None


# ============================================================================ run folder


def _read_stages(folder: Path) -> dict[str, str]:
    path = folder / "stages.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): str(v) for k, v in data.items()}


def run_files(*names: str) -> tuple[str, ...]:
    """The outputs of resumable runs ``<name>.h5``: finished and in progress (a folder)."""
    return tuple(f"{n}.h5{suffix}" for n in names for suffix in ("", ".partial"))


# what each stage writes (work in progress included); ``--stage X`` on a finished X deletes
# these for X and every later stage before it starts
_OUTPUTS = {
    "dataset": ("dataset.h5", "dataset.h5.partial"),
    "train": ("model.pt", "training.json", "predictions.h5", "train_checkpoint.pt"),
    "simulate": (
        *run_files("trajectory", "compare_exact", "compare_ml", "compare_cluster"),
        "simulate_timings.json",
    ),
    "analyse": ("analysis.h5", "analysis.json"),
    "report": ("report.md", "metrics.json"),
}


def _forget(folder: Path, stage: str, outputs: Mapping[str, tuple[str, ...]]) -> None:
    """Delete the outputs of ``stage`` and of every later stage, and their records."""
    later = STAGES[STAGES.index(stage) :]
    for name in later:
        for file in outputs[name]:
            path = folder / file
            if path.is_dir():  # a run or dataset in progress
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    if "report" in later:
        for figure in (folder / "figures").glob("*.png"):
            figure.unlink()
    done = {k: v for k, v in _read_stages(folder).items() if k not in later}
    _runio.write_json(folder / "stages.json", done)


def _mark_done(folder: Path, stage: str, fingerprint: str) -> None:
    """Record ``stage`` as finished and forget the later stages, which it made stale."""
    later = STAGES[STAGES.index(stage) + 1 :]
    done = {k: v for k, v in _read_stages(folder).items() if k not in later}
    _runio.write_json(folder / "stages.json", done | {stage: fingerprint})


def preflight(experiment: Workflow, folder: Path, stage: str | None) -> list[str]:
    """Check everything that can be checked before work starts; return the stages to run.

    Raises ``ValueError`` if a finished stage (other than ``stage``, which is redone, and
    the later ones it makes stale) was made with other settings, if ``stage``
    needs an unfinished earlier stage, or if a checkpoint or model in the folder belongs to
    another network or physics.
    """
    done = _read_stages(folder)
    redone = STAGES[STAGES.index(stage) :] if stage in STAGES else ()
    for name, fingerprint in done.items():
        if name in redone:
            continue  # redone on request, or made stale by the redo
        if name in STAGES and experiment.fingerprint(name) != fingerprint:
            raise ValueError(
                f"{str(folder)!r} holds a '{name}' stage made with other settings "
                f"(sections {', '.join(experiment.depends(name))}); use a new --out"
            )
    model_file = folder / "model.pt"
    if model_file.exists() and stage != "train":
        load_model(model_file, **experiment.model_checks())
    checkpoint = folder / "train_checkpoint.pt"
    if checkpoint.exists() and "train" not in done:
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
            architecture = json.loads(saved["identity"])["architecture"]
        except Exception as exc:
            raise ValueError(f"{str(checkpoint)!r} is not a training checkpoint: {exc}") from None
        if architecture != architecture_to_json(experiment.architecture()):
            raise ValueError(
                f"{str(checkpoint)!r} is a checkpoint of another network; use a new --out"
            )
    if stage is None:
        return [s for s in STAGES if s not in done]
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)}, got {stage!r}")
    missing = [s for s in STAGES[: STAGES.index(stage)] if s not in done]
    if missing:
        raise ValueError(f"stage '{stage}' needs {missing} first (run without --stage)")
    return [stage]


# ============================================================================ stages


def _stage_dataset(
    experiment: Experiment, folder: Path, device: torch.device, progress: bool
) -> None:
    data = generate_quench_dataset(
        experiment.dataset_config(), folder / "dataset.h5", device=device, progress=progress
    )
    log.info("dataset: %d configurations of %dx%d", len(data), *data.Q.shape[1:])


def _stage_train(
    experiment: Experiment,
    folder: Path,
    device: torch.device,
    progress: bool,
    *,
    lattice: SquareLattice | None = None,
    sites: NDArray[np.bool_] | None = None,
    data: Dataset | None = None,
    times: NDArray[np.float64] | None = None,
) -> None:
    """Train on ``data`` (default: ``dataset.h5``); ``lattice``, ``sites`` and ``times`` as
    in :func:`fast.train.train_network`."""
    from fast.io import load_dataset

    data = load_dataset(folder / "dataset.h5") if data is None else data
    config = experiment.train_config()
    result = train_network(
        config, data, folder / "train_checkpoint.pt", device=device, progress=progress,
        lattice=lattice, sites=sites, times=times,
    )  # fmt: skip
    checks = experiment.model_checks()
    summary = {
        "network": config.network,
        "architecture": repr(result.weights.architecture),
        "parameters": sum(v.size for v in result.weights.arrays.values()),
        "target": config.target,
        "device": str(device),
        **result.summary(),
    }
    _runio.write_hdf5(folder / "predictions.h5", result.predictions, config)
    _runio.write_json(folder / "training.json", summary)
    save_model(
        folder / "model.pt",
        result.weights,
        checks["physics"],
        config.target,
        {"experiment": experiment.name, "validation_std": result.validation.std,
         "dataset_hash": data.attributes.get("content_hash"), "trained_sites": int(
             result.predictions["val_exact"][0].size)},
        ensemble=checks.get("ensemble"),
    )  # fmt: skip
    log.info(
        "train: %s, held-out force error std %.4g (RMSE %.4g) after %d epochs, %.0f s",
        config.network, result.validation.std, result.validation.rmse, len(result.history),
        result.seconds,
    )  # fmt: skip


def _integrator(experiment: Experiment, force_field: Any) -> dynamics.Integrator:
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
    experiment: Experiment, size: int, ensemble: int, stream: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    t0, p = experiment.langevin.initial_temperature, experiment.physics
    rng = np.random.default_rng([experiment.seed, stream])
    shape = (ensemble, size, size)
    q0 = rng.normal(scale=hot_start_spread(t0, p.kappa, p.k), size=shape)
    p0 = rng.normal(scale=math.sqrt(t0 * p.mass), size=shape)
    return torch.as_tensor(q0, device=device), torch.as_tensor(p0, device=device)


def _run(
    experiment: Experiment,
    folder: Path,
    name: str,
    force_field: Any,
    size: int,
    ensemble: int,
    steps: int,
    record_every: int,
    checkpoint_every: int,
    stream: int,
    device: torch.device,
    progress: bool,
    model_hash: str = "",
) -> float:
    """One Langevin run into ``<name>.h5``; returns its wall seconds per step.

    The run's identity holds the settings fingerprint and, for ML runs, the content hash of
    the model, so a trajectory of another model is never taken for this one.
    """
    q0, p0 = _hot_start(experiment, size, ensemble, stream, device)
    integ = _integrator(experiment, force_field)
    gen = torch.Generator(device=device)
    gen.manual_seed(int(np.random.default_rng([experiment.seed, stream, 1]).integers(2**62)))
    identity = json.dumps({"fingerprint": experiment.fingerprint("simulate"), "run": name,
                           "stream": stream, "model": model_hash})  # fmt: skip
    stored = run_dynamics(
        integ, integ.init(q0, p0, rng=gen), steps, folder / f"{name}.h5", identity=identity,
        record_every=record_every, checkpoint_every=checkpoint_every, progress=progress,
        description=name, frame_dtype="float32" if size > 64 else "float64",
    )  # fmt: skip
    return float(stored.attributes["seconds"]) / steps


def _stage_simulate(
    experiment: Experiment, folder: Path, device: torch.device, progress: bool
) -> None:
    model = load_model(
        folder / "model.pt",
        architecture=experiment.architecture(),
        physics=experiment.physics.params(),
        ensemble=experiment.physics.ensemble(),
    )
    sim = experiment.simulate
    dtype = torch.float32 if sim.precision == "float32" else torch.float64
    model_hash = content_hash(dict(model.weights.arrays))
    timings: dict[str, Any] = {}
    cmp = experiment.compare
    if cmp.ensemble:
        small = experiment.physics.model(cmp.size)
        common: dict[str, Any] = dict(
            size=cmp.size, ensemble=cmp.ensemble, steps=max(cmp.times),
            record_every=cmp.record_every, checkpoint_every=cmp.checkpoint_every,
            stream=101, device=device, progress=progress,
        )  # fmt: skip
        timings["compare_exact_seconds_per_step"] = _run(
            experiment, folder, "compare_exact", ed.ExactForceField(small), **common
        )
        timings["compare_ml_seconds_per_step"] = _run(
            experiment, folder, "compare_ml",
            model.force_field(small.lattice, dtype=dtype, device=device), **common,
            model_hash=model_hash,
        )  # fmt: skip
        if cmp.cluster_radius:
            timings["compare_cluster_seconds_per_step"] = _run(
                experiment, folder, "compare_cluster",
                ed.ClusterForceField(small, cmp.cluster_radius), **common,
            )  # fmt: skip
    lattice = SquareLattice(sim.size, sim.size)
    timings["ml_seconds_per_step"] = _run(
        experiment, folder, "trajectory", model.force_field(lattice, dtype=dtype, device=device),
        sim.size, sim.ensemble, sim.steps, sim.record_every, sim.checkpoint_every, 202, device,
        progress, model_hash,
    )  # fmt: skip
    timings |= {"device": str(device), "threads": torch.get_num_threads()}
    _runio.write_json(folder / "simulate_timings.json", timings)


def densities_from_forces(
    Q: NDArray[Any], forces: NDArray[Any], model: HolsteinModel
) -> NDArray[np.float64]:
    """Site densities recovered from total forces, ``n = (F - F_elastic) / g + c``.

    Exact for exact forces (the Hellmann-Feynman force is ``g (n_i - c) + F_elastic``);
    for a trained model it is the density the model implies (the authors' script does the
    same). ``Q``, ``forces`` : (..., Lx, Ly).
    """
    from reference.model import elastic_force

    q = np.asarray(Q, dtype=np.float64)
    f = np.asarray(forces, dtype=np.float64)
    p = model.params
    if p.g == 0:
        raise ValueError("g must be non-zero to recover densities from forces")
    return (f - elastic_force(q, model)) / p.g + p.coupling.offset


def _domain_growth(
    stored: StoredTrajectory, model: HolsteinModel, settings: AnalyseSettings, seed: int
) -> dict[str, Any]:
    lattice = model.lattice
    n = densities_from_forces(stored.Q, stored.forces, model)  # (frames, ensemble, L, L)
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
    experiment: Experiment, folder: Path, device: torch.device, progress: bool
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
            **_agreement(c_ml, e_ml, c_ed, e_ed),
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
                **_agreement(c_cl, e_cl, c_ed, e_ed),
            }
    _runio.atomic_write(folder / "analysis.h5", lambda p: _write_arrays(p, arrays))
    _runio.write_json(folder / "analysis.json", summary)
    if fit is not None:
        log.info("analyse: alpha = %.3f +- %.3f", fit.alpha, fit.alpha_stderr)


def _agreement(
    c: NDArray[np.float64],
    err: NDArray[np.float64],
    c_ed: NDArray[np.float64],
    e_ed: NDArray[np.float64],
) -> dict[str, list[float]]:
    """Largest difference, largest z and fraction within 2 sigma of ``C`` against the exact
    ``C``, per comparison time (rows)."""
    sigma = np.sqrt(e_ed**2 + err**2)
    z = np.abs(c - c_ed) / np.where(sigma > 0, sigma, np.nan)
    return {
        "max_abs_difference": [float(np.max(np.abs(a - b))) for a, b in zip(c, c_ed, strict=True)],
        "max_z": [float(np.nanmax(zz)) for zz in z],
        "fraction_within_2_sigma": [float(np.nanmean(zz <= 2)) for zz in z],
    }


def _write_arrays(path: Path, arrays: Mapping[str, NDArray[Any]]) -> None:
    with h5py.File(path, "w") as fh:
        fh.attrs["code_version"] = fast.__version__
        for k, v in arrays.items():
            fh.create_dataset(k, data=v)


def _read_arrays(path: Path) -> dict[str, NDArray[Any]]:
    with h5py.File(path, "r") as fh:
        return {k: fh[k][...] for k in fh}


def _stage_report(
    experiment: Experiment, folder: Path, device: torch.device, progress: bool
) -> None:
    from fast import _report

    _report.write_report(experiment, folder)


Experiment.DEPENDS = _DEPENDS
Experiment.OUTPUTS = _OUTPUTS
Experiment.STAGE_FUNCTIONS = {
    "dataset": _stage_dataset,
    "train": _stage_train,
    "simulate": _stage_simulate,
    "analyse": _stage_analyse,
    "report": _stage_report,
}


def run_experiment(
    experiment: Workflow,
    out: str | os.PathLike[str],
    *,
    device: str | torch.device = "cpu",
    stage: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the unfinished stages of ``experiment`` (or only ``stage``) in the folder ``out``.

    ``stage`` on a finished stage redoes it: its outputs and those of every later stage are
    deleted first. On an unfinished stage it runs (or resumes) it.

    Returns the contents of ``metrics.json`` when the report is current (made by this call,
    or nothing was left to do), else ``{}``.
    """
    try:
        dev = torch.device(device)
        torch.empty(1, device=dev)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device {str(device)!r} is not available: {exc}") from None
    folder = _runio.prepare_run_folder(out)
    todo = preflight(experiment, folder, stage)
    _runio.write_json(
        folder / "experiment.json",
        attrs.asdict(experiment) | experiment.derived(),  # type: ignore[arg-type]
    )
    if stage is not None and stage in _read_stages(folder):
        log.info("redoing stage %s: deleting its outputs and those of the later stages", stage)
        _forget(folder, stage, experiment.outputs())
    for name in todo:
        log.info("stage %s", name)
        start = time.perf_counter()
        experiment.stage_functions()[name](experiment, folder, dev, progress)
        _mark_done(folder, name, experiment.fingerprint(name))
        if name == "train":  # only now: a kill before the mark must not lose the training
            (folder / "train_checkpoint.pt").unlink(missing_ok=True)
        log.info("stage %s done in %.1f s", name, time.perf_counter() - start)
    metrics = folder / "metrics.json"
    if "report" not in todo and todo:
        return {}  # the report on disk (if any) predates what this call did
    return dict(json.loads(metrics.read_text())) if metrics.exists() else {}
