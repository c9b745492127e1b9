"""Settings of the quench workflow (papers 002, 003, 004): the sections of its experiment
file with the papers' defaults and their checks, and the quantities its stages derive."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from fast.ml.datasets import QuenchDatasetConfig
from fast.ml.models import Architecture, physics_json
from fast.ml.training import TrainConfig
from fast.nn import receptive_radius
from fast.runs.settings import (
    check_precision,
    check_receptive_radius,
    check_recording,
    check_square_size,
)
from fast.runs.trained import (
    TrainedWorkflow,
)
from reference.lattice import SquareLattice
from reference.model import ElectronEnsemble, HolsteinModel, HolsteinParams
from reference.nn import GNNArchitecture
from reference.runio import non_negative_int, positive, positive_int

__all__ = [
    "AnalyseSettings",
    "CompareSettings",
    "DatasetSettings",
    "Langevin",
    "Physics",
    "QuenchSettings",
    "SimulateSettings",
]


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
        check_square_size(self.size)
        check_recording(self.steps, self.record_every, self.checkpoint_every)
        check_precision(self.precision)


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
        check_square_size(self.size)
        check_recording(max(self.times), self.record_every, self.checkpoint_every)

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


@attrs.frozen(kw_only=True)
class QuenchSettings(TrainedWorkflow):
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
        self.check_kind("quench")
        self.check_seeds()
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
        check_receptive_radius(receptive_radius(arch), sizes)

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
        """The :class:`fast.ml.datasets.QuenchDatasetConfig` of the ``dataset`` stage."""
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

    def headline(self, metrics: Mapping[str, Any]) -> str:
        """The growth exponent of the large ML quench."""
        growth = metrics["growth"]["growth_exponent"]
        return f"alpha = {'n/a' if growth is None else format(growth['alpha'], '.3f')}"

    def derived(self) -> dict[str, Any]:
        """Derived quantities recorded in ``experiment.json`` next to the settings."""
        return {
            "dt": self.dt, "gamma": self.gamma, "omega": self.omega,
            "physics_params": json.loads(physics_json(self.physics.params())),
        }  # fmt: skip
